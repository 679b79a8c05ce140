"""The reader's array paths agree with its one-entry-at-a-time paths.

* :func:`tfckpt.format._index.read_index_columns` (lanes decoded in lock-step, or small
  tables walked) against :func:`iter_table`, on valid tables and on damaged ones (same
  entries, or the same error);
* :func:`tfckpt.format._rows_crc.crc32c_rows` against the ``crc32c`` package;
* ``read_batch`` (``items()``, ``read_many``) against ``read`` (``ckpt[name]``): same
  arrays, flags and errors, with the fast columns and with them forced off.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path

import crc32c as crc32c_package
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tfckpt
import tfckpt.format._index as index_mod
import tfckpt.format._index_lanes as lanes_mod
import tfckpt.format._v2 as v2_mod
from tfckpt.format._block import iter_block
from tfckpt.format._coding import crc32c
from tfckpt.format._index import read_index_columns
from tfckpt.format._rows_crc import crc32c_rows
from tfckpt.format._table import TableBuilder, block_with_trailer, iter_table
from tfckpt.format._table_format import BLOCK_TRAILER_SIZE, BlockHandle, Footer, read_block

# -- the index columns ---------------------------------------------------------------------

# keys: mostly path-like ASCII with shared prefixes, some with newlines, non-UTF-8 bytes,
# or over 127 bytes (a two-byte varint: the general path)
_segment = st.sampled_from([b"layer_", b"kernel", b"bias", b"/", b"\n", b"\xc3\xa9", b"\xff", b"\x00", b"a" * 70])
_key = st.lists(_segment, min_size=1, max_size=4).map(b"".join)
_value = st.binary(max_size=40) | st.binary(min_size=120, max_size=200)


def _table(items: list[tuple[bytes, bytes]], block_size: int) -> bytes:
    out = io.BytesIO()
    builder = TableBuilder(out, block_size=block_size)
    for key, value in items:
        builder.add(key, value)
    builder.finish()
    return out.getvalue()


def _as_pairs(columns: index_mod.IndexColumns) -> list[tuple[str, bytes]]:
    return [(name, columns.value(i)) for i, name in enumerate(columns.names)]


def _expected(buf: bytes) -> list[tuple[str, bytes]]:
    return [(key.decode("utf-8", "surrogateescape"), value) for key, value in iter_table(buf, "t.index")]


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_key, _value, max_size=80), st.sampled_from([64, 256, 4096, 1 << 18]))
def test_columns_equal_iter_table(entries: dict[bytes, bytes], block_size: int) -> None:
    buf = _table(sorted(entries.items()), block_size)
    with _array_path("lanes"):
        columns = read_index_columns(buf, "t.index")
        assert _as_pairs(columns) == _expected(buf)
        lanes_mod.LANES_AT_ONCE = 2  # groups of lanes joined (and their keys' order checked across)
        assert _as_pairs(read_index_columns(buf, "t.index")) == _as_pairs(columns)
    with _array_path("walk"):
        assert _as_pairs(read_index_columns(buf, "t.index")) == _as_pairs(columns)
    # and the general path gives the same columns
    assert _as_pairs(index_mod._columns_by_iteration(buf, "t.index")) == _as_pairs(columns)


@contextlib.contextmanager
def _array_path(path: str) -> Iterator[None]:
    """Every table through one array path: the lanes in lock-step (normally for large
    tables only) or the walk (normally for small ones)."""
    saved = index_mod.MIN_LANES, lanes_mod.LANES_AT_ONCE
    index_mod.MIN_LANES = 0 if path == "lanes" else 1 << 62
    try:
        yield
    finally:
        index_mod.MIN_LANES, lanes_mod.LANES_AT_ONCE = saved


def test_array_paths_taken_for_tf_layout() -> None:
    items = [(f"layer_{i:04d}/kernel".encode(), bytes(20)) for i in range(1000)]
    buf = _table(items, 4096)
    lanes = index_mod._lanes(buf)
    assert lanes is not None and len(lanes[0]) < index_mod.MIN_LANES  # a small table: the walk
    walked = index_mod._columns_by_walk(buf, *lanes)
    assert walked is not None and walked.names == [k.decode() for k, _ in items]
    with _array_path("lanes"):
        columns = index_mod._columns_by_lanes(buf)
    assert columns is not None and _as_pairs(columns) == _as_pairs(walked)
    assert _as_pairs(read_index_columns(buf, "t")) == _as_pairs(walked)


@pytest.mark.parametrize("path", ["lanes", "walk"])
def test_array_paths_decline_what_they_do_not_take(path: str) -> None:
    long_key = [(b"k" * 200, b"v")]  # non_shared of 200: a two-byte varint
    with _array_path(path):
        assert index_mod._columns_by_lanes(_table(long_key, 4096)) is None
    assert _as_pairs(read_index_columns(_table(long_key, 4096), "t")) == [("k" * 200, b"v")]


def _reframe(buf: bytearray, start: int, size: int) -> None:
    """Recompute the checksum of the block at ``[start, start + size)`` after an edit."""
    framed = block_with_trailer(bytes(buf[start : start + size]))
    buf[start : start + size + BLOCK_TRAILER_SIZE] = framed


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_key, min_size=1, max_size=40, unique=True), st.data())
def test_damaged_blocks_raise_what_iter_table_raises(keys: list[bytes], data: st.DataObject) -> None:
    buf = bytearray(_table([(k, b"v" * 5) for k in sorted(keys)], data.draw(st.sampled_from([64, 4096]))))
    footer = Footer.decode(bytes(buf), len(buf))
    # a data block is everything before the metaindex block; edit one byte in the first
    # block and make its checksum valid again, so the damage reaches the entry parser
    end = footer.metaindex.offset
    index = bytes(read_block(bytes(buf), footer.index, len(buf), max_uncompressed=1 << 20))
    handles = [BlockHandle.decode(v, 0, len(v))[0] for _, v in iter_block(index)]
    handle = data.draw(st.sampled_from(handles))
    assert handle.offset + handle.size <= end
    for _ in range(data.draw(st.integers(1, 3))):
        at = handle.offset + data.draw(st.integers(0, handle.size - 1))
        buf[at] = data.draw(st.integers(0, 255))
    _reframe(buf, handle.offset, handle.size)
    damaged = bytes(buf)
    for path in ("lanes", "walk"):
        with _array_path(path):
            try:
                expected = _expected(damaged)
            except tfckpt.CorruptionError as e:
                with pytest.raises(tfckpt.CorruptionError) as info:
                    read_index_columns(damaged, "t.index")
                assert (str(info.value), info.value.offset) == (str(e), e.offset)
                continue
            assert _as_pairs(read_index_columns(damaged, "t.index")) == expected


# -- CRC32C of many rows ---------------------------------------------------------------------


@settings(max_examples=200)
@given(st.integers(0, 70), st.integers(0, 20), st.data())
def test_crc32c_rows_equals_the_package(width: int, rows: int, data: st.DataObject) -> None:
    raw = data.draw(st.binary(min_size=width * rows, max_size=width * rows))
    matrix = np.frombuffer(raw, np.uint8).reshape(rows, width)
    assert crc32c_rows(matrix).tolist() == [crc32c_package.crc32c(bytes(row)) for row in matrix] == [
        crc32c(bytes(row)) for row in matrix
    ]


# -- read_batch against read -------------------------------------------------------------------

_DTYPES = [np.float32, np.int8, np.float64, np.bool_, np.complex64, np.uint16]


@st.composite
def _tensors(draw: st.DrawFn) -> dict[str, np.ndarray]:
    count = draw(st.integers(64, 140))  # from read_batch's array threshold up
    shape_pool = draw(st.lists(st.lists(st.integers(0, 3), max_size=3).map(tuple), min_size=1, max_size=3))
    dtype_pool = draw(st.lists(st.sampled_from(_DTYPES), min_size=1, max_size=2))
    out: dict[str, np.ndarray] = {}
    for i in range(count):
        shape = draw(st.sampled_from(shape_pool))
        dtype = draw(st.sampled_from(dtype_pool))
        out[f"t{i:04d}"] = (np.arange(int(np.prod(shape)), dtype=np.int64) + i).astype(dtype).reshape(shape)
    if draw(st.booleans()):
        out["s"] = np.array([b"x", b"yz"], dtype=object)  # a string: the general path
    return out


def _same(a: np.ndarray, b: np.ndarray) -> None:
    assert (a.dtype, a.shape, a.flags.writeable) == (b.dtype, b.shape, b.flags.writeable)
    assert a.tolist() == b.tolist() if a.dtype == object else a.tobytes() == b.tobytes()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(_tensors(), st.randoms(use_true_random=False), st.booleans(), st.booleans())
def test_read_batch_equals_read(tmp_path: Path, tensors: dict[str, np.ndarray], rnd: object, copy: bool, writable: bool) -> None:
    prefix = str(tmp_path / "m")
    tfckpt.save(prefix, tensors)
    with tfckpt.open(prefix, writable=writable) as ckpt:
        names = list(ckpt)
        rnd.shuffle(names)  # type: ignore[attr-defined]
        batch = ckpt._source.read_batch(names, copy=copy)  # type: ignore[attr-defined]
        for name, value in zip(names, batch):
            _same(value, ckpt.get_tensor(name, copy=copy))
            np.testing.assert_array_equal(value, tensors[name])
        for name, value in ckpt.items():
            _same(value, value)


def test_forced_fallback_reads_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # enough tensors for the index's array path (index_mod.MIN_LANES), and a scalar
    tensors = {f"t{i:04d}": np.full((2, 2), i, np.float32) for i in range(3000)}
    tensors["scalar"] = np.float64(3.5)
    prefix = str(tmp_path / "m")
    tfckpt.save(prefix, tensors)
    assert index_mod._columns_by_lanes(Path(prefix + ".index").read_bytes()) is not None
    with tfckpt.open(prefix) as ckpt:
        fast = {name: ckpt[name] for name in ckpt}
        many = ckpt.read_many(list(ckpt))
    # the index read entry by entry, and no row marked for the fast path
    monkeypatch.setattr(index_mod, "_columns_by_lanes", lambda buf: None)
    build = v2_mod._FastColumns.build
    monkeypatch.setattr(v2_mod._FastColumns, "build", lambda columns, shards, enabled: build(columns, shards, False))
    with tfckpt.open(prefix) as ckpt:
        assert not ckpt._source._specs  # type: ignore[attr-defined]
        for name in ckpt:
            _same(ckpt[name], fast[name])
            _same(many[name], fast[name])
        for name, value in ckpt.items():
            _same(value, fast[name])


def test_a_bad_checksum_in_a_batch_raises_the_read_error(tmp_path: Path) -> None:
    tensors = {f"t{i:03d}": np.full(4, i, np.float32) for i in range(100)}
    prefix = str(tmp_path / "m")
    tfckpt.save(prefix, tensors)
    shard = Path(prefix + ".data-00000-of-00001")
    raw = bytearray(shard.read_bytes())
    raw[57 * 16 + 3] ^= 1  # a bit of t057
    shard.write_bytes(bytes(raw))
    with tfckpt.open(prefix) as ckpt:
        with pytest.raises(tfckpt.CorruptionError) as single:
            ckpt["t057"]
        with pytest.raises(tfckpt.CorruptionError) as batch:
            ckpt.read_many(list(ckpt))
        with pytest.raises(tfckpt.CorruptionError) as items:
            dict(ckpt.items())
    assert str(single.value) == str(batch.value) == str(items.value)
    assert single.value.tensor == "t057" and "checksum mismatch" in str(single.value)


def test_names_that_are_not_keys(tmp_path: Path) -> None:
    prefix = str(tmp_path / "m")
    tfckpt.save(prefix, {"é": np.zeros(2, np.float32), "a": np.ones(2, np.float32)})
    with tfckpt.open(prefix) as ckpt:
        assert list(ckpt) == ["a", "é"]
        for bad in ["", "\udcc3\udca9", "\udc41", "b"]:  # the header, a different spelling, unencodable, absent
            assert bad not in ckpt
            with pytest.raises(tfckpt.NotFoundError):
                ckpt[bad]


def test_entries_rebuilt_from_columns_equal_the_decoded_bytes() -> None:
    from tfckpt.format._bundle import BundleEntry

    fixtures = Path(__file__).parent / "fixtures"
    for index in sorted(fixtures.rglob("*.index")):
        prefix = str(index)[: -len(".index")]
        try:
            ckpt = tfckpt.open(prefix)
        except tfckpt.CheckpointError:
            continue  # a deliberately damaged fixture
        with ckpt:
            source = ckpt._source
            stored = list(iter_table(index.read_bytes(), str(index)))[1:]
            assert [key for key, _ in stored] == list(source._raw)  # type: ignore[attr-defined]
            for key, value in stored:
                name = key.decode("utf-8", "surrogateescape")
                assert source.entry_by_key(key) == BundleEntry.decode(value, str(index), name)  # type: ignore[attr-defined]
                assert BundleEntry.decode(source._raw[key], "x", name) == BundleEntry.decode(value, "x", name)  # type: ignore[attr-defined]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(_tensors(), st.booleans())
def test_index_paths_read_the_same_checkpoint(tmp_path: Path, tensors: dict[str, np.ndarray], writable: bool) -> None:
    # a small index is walked; the lanes in lock-step and iter_table must open it the same
    prefix = str(tmp_path / "m")
    tfckpt.save(prefix, tensors)
    opened: dict[str, tuple[list[str], dict[str, np.ndarray], dict[str, bytes]]] = {}
    for path in ("walk", "lanes", "iteration"):
        with _array_path("walk" if path == "iteration" else path), contextlib.ExitStack() as stack:
            if path == "iteration":
                stack.enter_context(pytest.MonkeyPatch.context()).setattr(index_mod, "_columns_by_lanes", lambda buf: None)
            with tfckpt.open(prefix, writable=writable) as ckpt:
                source = ckpt._source  # type: ignore[attr-defined]
                opened[path] = (
                    list(ckpt),
                    {name: ckpt.get_tensor(name, copy=True) for name in ckpt},
                    {key.decode(): source._raw[key] for key in source._raw},
                )
    names, arrays, entries = opened["iteration"]
    assert names == sorted(tensors)
    for path in ("walk", "lanes"):
        assert opened[path][0] == names and opened[path][2] == entries
        for name in names:
            _same(opened[path][1][name], arrays[name])
