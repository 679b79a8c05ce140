"""tfckpt.save / tfckpt.Writer without TensorFlow: round trips through tfckpt.open, exact bytes
against a TF-written bundle, sharding, partitioned slices, input errors and atomicity under
injected failures. (TensorFlow's own readings of these files: tests/interop/.)"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np
import pytest
from conftest import FIXTURES, expected
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tfckpt
import tfckpt.format._rows as rows_mod
import tfckpt.format._table as table_mod
import tfckpt.storage._shards as shards_mod
import tfckpt.writer as writer_mod
from tfckpt.errors import InvalidArgumentError
from tfckpt.format._dtypes import DTYPES

NUMERIC = [r for r in DTYPES.values() if r.numpy is not None]


def _files(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


def _read_all(prefix: str | Path) -> dict[str, Any]:
    with tfckpt.open(prefix) as ckpt:
        return {name: (ckpt.dtype(name), ckpt.shape(name), ckpt.get_tensor(name, copy=True)) for name in ckpt}


def _sample(row: Any, shape: tuple[int, ...]) -> np.ndarray:
    n = int(np.prod(shape))
    if row.numpy == np.bool_:
        return (np.arange(n) % 3 == 0).reshape(shape)
    if row.numpy.kind == "c":
        return (np.arange(n) - 1.5j * np.arange(n)).astype(row.numpy).reshape(shape)
    lo = -2 if row.name in ("int4", "int2", "float4_e2m1fn") or row.numpy.kind in "fV" else 0
    values = (np.arange(n) % 4 + lo).astype(np.float32)
    return values.astype(row.numpy).reshape(shape)


# -- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(), (0,), (5,), (2, 3), (2, 0, 3)], ids=str)
def test_every_numeric_dtype_round_trips(tmp_path: Path, shape: tuple[int, ...]) -> None:
    with tfckpt.Writer(tmp_path / "m") as w:
        for row in NUMERIC:
            # Quantized rows share numpy types with plain ints: ask for them by name.
            w.add(row.name, _sample(row, shape), dtype=row.name if row.name.startswith("q") else None)
    got = _read_all(tmp_path / "m")
    assert sorted(got) == sorted(r.name for r in NUMERIC)
    for row in NUMERIC:
        dtype, got_shape, value = got[row.name]
        assert (dtype, got_shape) == (row.name, shape)
        assert value.tobytes() == _sample(row, shape).tobytes()


def test_strings_keep_arbitrary_bytes(tmp_path: Path) -> None:
    tricky = [b"", b"\x00", b"a\x00\x00", b"\xff\xfe\x00", "h\u00e9llo", b"x" * 300]
    tfckpt.save(
        tmp_path / "s",
        {
            "list": tricky,
            "scalar_bytes": b"trailing nul\x00",
            "scalar_str": "\u00fcber",
            "nested": [[b"a", "b"], [b"\x00", b"cd\x00"]],
            "numpy_unicode": np.array(["x", "\u0436\u0436"]),
            "object_array": np.array([b"p\x00", "q"], dtype=object),
            "empty": np.zeros((2, 0), dtype=object),
        },
    )
    got = _read_all(tmp_path / "s")
    assert got["list"][2].tolist() == [b"", b"\x00", b"a\x00\x00", b"\xff\xfe\x00", "h\u00e9llo".encode(), b"x" * 300]
    assert got["scalar_bytes"][1:] == ((), np.array(b"trailing nul\x00", dtype=object))
    assert got["scalar_bytes"][2].item() == b"trailing nul\x00"
    assert got["scalar_str"][2].item() == "\u00fcber".encode()
    assert got["nested"][2].tolist() == [[b"a", b"b"], [b"\x00", b"cd\x00"]]
    assert got["numpy_unicode"][2].tolist() == [b"x", "\u0436\u0436".encode()]
    assert got["object_array"][2].tolist() == [b"p\x00", b"q"]
    assert got["empty"][:2] == ("string", (2, 0))
    assert {v[0] for v in got.values()} == {"string"}


def test_python_and_numpy_scalars(tmp_path: Path) -> None:
    tfckpt.save(tmp_path / "p", {"i": 7, "f": 0.5, "b": True, "c": 1 + 2j, "n32": np.float32(2.5), "u8": np.uint8(200)})
    got = _read_all(tmp_path / "p")
    assert {k: (v[0], v[1], v[2].item()) for k, v in got.items()} == {
        "i": ("int64", (), 7),
        "f": ("float64", (), 0.5),
        "b": ("bool", (), True),
        "c": ("complex128", (), 1 + 2j),
        "n32": ("float32", (), 2.5),
        "u8": ("uint8", (), 200),
    }


def test_memory_order_and_byte_order_do_not_change_the_bytes(tmp_path: Path) -> None:
    base = np.arange(24, dtype=np.float64).reshape(4, 6)
    variants = {
        "c": base,
        "fortran": np.asfortranarray(base),
        "strided": np.arange(48, dtype=np.float64).reshape(4, 12)[:, ::2] / 2 * 0 + base,
        "big_endian": base.astype(">f8"),
        "transposed_view": np.ascontiguousarray(base.T).T,
    }
    assert not variants["fortran"].flags.c_contiguous and not variants["transposed_view"].flags.c_contiguous
    strided = np.zeros((4, 12))
    strided[:, ::2] = base
    variants["strided"] = strided[:, ::2]
    assert not variants["strided"].flags.c_contiguous
    for name, arr in variants.items():
        tfckpt.save(tmp_path / name / "m", {"x": arr})
    want = _files(tmp_path / "c")
    for name in variants:
        assert _files(tmp_path / name) == want, name
    assert np.array_equal(_read_all(tmp_path / "fortran" / "m")["x"][2], base)


def test_ml_dtypes_and_forced_dtypes(tmp_path: Path) -> None:
    with tfckpt.Writer(tmp_path / "m") as w:
        w.add("bf16", np.array([1.5, -2], ml_dtypes.bfloat16))
        w.add("q", [[-3, 4]], dtype="qint8")
        w.add("as_half", [0.5, 1.0], dtype="half")
        w.add("as_string", ["a", b"b"], dtype="string")
    got = _read_all(tmp_path / "m")
    assert got["bf16"][0] == "bfloat16" and got["bf16"][2].astype(np.float32).tolist() == [1.5, -2]
    assert got["q"][:2] == ("qint8", (1, 2)) and got["q"][2].tolist() == [[-3, 4]]
    assert got["as_half"][0] == "float16"
    assert got["as_string"][2].tolist() == [b"a", b"b"]


def test_same_input_same_bytes(tmp_path: Path) -> None:
    tensors = {"b": np.arange(10, dtype=np.int32), "a": [b"x", b"y"], "c": np.float16(1)}
    tfckpt.save(tmp_path / "1" / "m", tensors)
    tfckpt.save(tmp_path / "2" / "m", tensors)
    assert _files(tmp_path / "1") == _files(tmp_path / "2")


def test_byte_identical_to_tensorflow_savev2_many_index_blocks(tmp_path: Path) -> None:
    # multi_block_index: 640 scalars with ~1000-byte names written by one tf.raw_ops.SaveV2 call;
    # each value is the tensor's position in the SaveV2 call, so the call can be replayed.
    case = FIXTURES / "multi_block_index"
    prefix = expected("multi_block_index")["prefix"]
    with tfckpt.open(case / prefix) as ckpt:
        order = sorted(ckpt, key=lambda name: float(ckpt[name]))
        tensors = [(name, ckpt.get_tensor(name, copy=True)) for name in order]
    tfckpt.save(tmp_path / prefix, tensors)
    for suffix in (".index", ".data-00000-of-00001"):
        assert (tmp_path / (prefix + suffix)).read_bytes() == (case / (prefix + suffix)).read_bytes(), suffix


# -- sharding ----------------------------------------------------------------------------------


def test_max_shard_size_splits_before_a_tensor_that_would_overflow(tmp_path: Path) -> None:
    tensors = [("a", np.zeros(10, np.float32)), ("b", np.ones(10, np.float32)), ("big", np.arange(30, dtype=np.float32))]
    tfckpt.save(tmp_path / "m", tensors, max_shard_size=80)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["m.data-00000-of-00002", "m.data-00001-of-00002", "m.index"]
    assert os.path.getsize(tmp_path / "m.data-00000-of-00002") == 80  # a and b
    assert os.path.getsize(tmp_path / "m.data-00001-of-00002") == 120  # big, alone
    got = _read_all(tmp_path / "m")
    for name, value in tensors:
        assert np.array_equal(got[name][2], value)


def test_every_tensor_its_own_shard(tmp_path: Path) -> None:
    tensors = {f"t{i}": np.full((3,), i, np.int64) for i in range(4)} | {"s": [b"abc", b""]}
    tfckpt.save(tmp_path / "m", tensors, max_shard_size=1)
    assert len(list(tmp_path.glob("m.data-*-of-00005"))) == 5
    got = _read_all(tmp_path / "m")
    assert got["t3"][2].tolist() == [3, 3, 3] and got["s"][2].tolist() == [b"abc", b""]


def test_rewriting_with_fewer_shards_removes_the_old_ones(tmp_path: Path) -> None:
    tfckpt.save(tmp_path / "m", {f"t{i}": np.zeros(4) for i in range(3)}, max_shard_size=1)
    tfckpt.save(tmp_path / "m", {"x": np.ones(2)})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.data-00000-of-00001", "m.index"]
    assert list(_read_all(tmp_path / "m")) == ["x"]


# -- partitioned variables -------------------------------------------------------------------


def test_slices_reassemble(tmp_path: Path) -> None:
    full = np.arange(40, dtype=np.float32).reshape(10, 4)
    with tfckpt.Writer(tmp_path / "m") as w:
        w.add_slice("v", full[4:], full_shape=(10, 4), start=(4, 0))
        w.add_slice("v", full[:4], full_shape=[10, 4], start=[0, 0])
        w.add("other", np.int64(1))
    with tfckpt.open(tmp_path / "m") as ckpt:
        assert sorted(ckpt) == ["other", "v"]
        assert ckpt.shape("v") == (10, 4)
        assert np.array_equal(ckpt["v"], full)


def test_single_whole_slice_is_a_plain_entry(tmp_path: Path) -> None:
    value = np.arange(6, dtype=np.int32).reshape(2, 3)
    with tfckpt.Writer(tmp_path / "sliced" / "m") as w:
        w.add_slice("v", value, full_shape=(2, 3), start=(0, 0))
    tfckpt.save(tmp_path / "plain" / "m", {"v": value})
    assert _files(tmp_path / "sliced") == _files(tmp_path / "plain")


@pytest.mark.parametrize(
    ("slices", "message"),
    [
        ([((0, 0), (4, 2))], "outside"),
        ([((-1, 0), (1, 2))], "outside"),
        ([((0, 0), (2, 2)), ((1, 0), (2, 2))], "overlaps"),
        ([((0,), (2,))], "rank"),
    ],
)
def test_bad_slices_are_rejected_when_added(tmp_path: Path, slices: list[Any], message: str) -> None:
    w = tfckpt.Writer(tmp_path / "m")
    with pytest.raises(InvalidArgumentError, match=message):
        for start, shape in slices:
            w.add_slice("v", np.zeros(shape), full_shape=(3, 2), start=start)
    w.abandon()
    assert list(tmp_path.iterdir()) == []


def test_incomplete_slices_fail_at_finish_and_nothing_is_renamed(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="slices cover 4 of 6 elements"), tfckpt.Writer(tmp_path / "m") as w:
        w.add_slice("v", np.zeros((2, 2)), full_shape=(3, 2), start=(0, 0))
    assert list(tmp_path.iterdir()) == []


def test_slice_dtype_and_name_conflicts(tmp_path: Path) -> None:
    with tfckpt.Writer(tmp_path / "m") as w:
        w.add_slice("v", np.zeros((1, 2), np.float32), full_shape=(2, 2), start=(0, 0))
        with pytest.raises(InvalidArgumentError, match="earlier slices were float32"):
            w.add_slice("v", np.zeros((1, 2), np.float64), full_shape=(2, 2), start=(1, 0))
        with pytest.raises(InvalidArgumentError, match="duplicate tensor name 'v'"):
            w.add("v", 1.0)
        w.add("whole", 1.0)
        with pytest.raises(InvalidArgumentError, match="already added as a whole tensor"):
            w.add_slice("whole", np.zeros(1), full_shape=(1,), start=(0,))
        w.add_slice("v", np.zeros((1, 2), np.float32), full_shape=(2, 2), start=(1, 0))
    assert sorted(_read_all(tmp_path / "m")) == ["v", "whole"]


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "kwargs", "message"),
    [
        ("x", np.array([b"a", 3], dtype=object), {}, r"'x': an object array .* found int at flat index 1"),
        ("x", [b"a", "b", None], {}, "found NoneType at flat index 2"),
        ("x", np.array(["2020-01-01"], dtype="datetime64[D]"), {}, "datetime64.* has no TensorFlow equivalent"),
        ("x", np.array([1 + 2j]).astype(np.clongdouble), {}, "has no TensorFlow equivalent"),
        ("x", [1, 2], {"dtype": "variant"}, "cannot write dtype 'variant'"),
        ("x", [1, 2], {"dtype": "resource"}, "cannot write dtype 'resource'"),
        ("x", [1, 2], {"dtype": "float31"}, "cannot write dtype 'float31'"),
        ("x", ["a"], {"dtype": "int32"}, "cannot write <U1 data as int32"),
        ("x", [[1, 2], [3]], {}, "cannot convert list to a tensor"),
        ("x", "\ud800", {}, "not encodable as UTF-8"),
        ("", 1, {}, "non-empty strings"),
        (b"x", 1, {}, "non-empty strings"),
        ("\ud800", 1, {}, "not encodable as UTF-8"),
    ],
)
def test_bad_input_raises_before_anything_is_renamed(
    tmp_path: Path, name: Any, value: Any, kwargs: dict[str, Any], message: str
) -> None:
    tfckpt.save(tmp_path / "m", {"old": 1})
    before = _files(tmp_path)
    with pytest.raises(InvalidArgumentError, match=message), tfckpt.Writer(tmp_path / "m") as w:
        w.add("first", np.zeros(3))
        w.add(name, value, **kwargs)
    assert _files(tmp_path) == before


def test_duplicate_names_from_an_iterable(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="duplicate tensor name 'a'"):
        tfckpt.save(tmp_path / "m", [("a", 1), ("b", 2), ("a", 3)])
    assert list(tmp_path.iterdir()) == []


def test_rejected_add_leaves_the_writer_usable(tmp_path: Path) -> None:
    with tfckpt.Writer(tmp_path / "m") as w:
        w.add("a", 1)
        with pytest.raises(InvalidArgumentError):
            w.add("b", [object()])
        w.add("b", 2)
    assert {k: v[2].item() for k, v in _read_all(tmp_path / "m").items()} == {"a": 1, "b": 2}


# -- many tensors: add_many and the bulk-encoded index ------------------------------------------


def _varied(count: int) -> list[tuple[str, Any]]:
    """Tensors for every path of the writer: fast (small native arrays) and general (scalars,
    strings, bfloat16, strided, big-endian, empty), in an order that is not key order."""
    items: list[tuple[str, Any]] = []
    for i in range(count):
        kind = i % 7
        name = f"model/layer_{(i * 7919) % count:05d}/w{kind}"
        if kind == 0:
            items.append((name, np.full((3, i % 5 + 1), i, np.float32)))
        elif kind == 1:
            items.append((name, np.int64(i)))
        elif kind == 2:
            items.append((name, [b"x" * (i % 3), "\u00e9"]))
        elif kind == 3:
            items.append((name, np.arange(i % 4, dtype=ml_dtypes.bfloat16)))
        elif kind == 4:
            items.append((name, np.arange(12, dtype=np.int16).reshape(3, 4)[:, ::2]))
        elif kind == 5:
            items.append((name, np.arange(i % 9, dtype=">f8")))
        else:
            items.append((name, np.zeros((i % 3, 2), np.uint8)))
    return items


def _write_with_slices(prefix: Path, items: list[tuple[str, Any]], *, max_shard_size: int | None = None) -> None:
    full = np.arange(40, dtype=np.float32).reshape(10, 4)
    with tfckpt.Writer(prefix, max_shard_size=max_shard_size) as w:
        w.add_many(items[: len(items) // 2])
        # Partitioned variables whose full entries sort among the plain ones (and first, last).
        for name in ("model/layer_00003/part", "a_first/part", "zz_last/part"):
            w.add_slice(name, full[:4], full_shape=(10, 4), start=(0, 0))
            w.add_slice(name, full[4:], full_shape=(10, 4), start=(4, 0))
        for name, value in items[len(items) // 2 :]:
            w.add(name, value)


@pytest.mark.parametrize("max_shard_size", [None, 3000])
def test_bulk_index_matches_the_entry_by_entry_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, max_shard_size: int | None
) -> None:
    items = _varied(700)
    _write_with_slices(tmp_path / "bulk" / "m", items, max_shard_size=max_shard_size)
    # Small chunks, so runs of plain entries between the full entries go in several bulk steps.
    monkeypatch.setattr(writer_mod, "INDEX_CHUNK", 50)
    monkeypatch.setattr(writer_mod, "BULK_MIN_ENTRIES", 1)
    monkeypatch.setattr(table_mod, "BULK_MIN_ENTRIES", 1)
    _write_with_slices(tmp_path / "chunked" / "m", items, max_shard_size=max_shard_size)
    monkeypatch.setattr(writer_mod, "BULK_MIN_ENTRIES", 10**9)  # every entry through TableBuilder.add
    monkeypatch.setattr(table_mod, "BULK_MIN_ENTRIES", 10**9)
    _write_with_slices(tmp_path / "scalar" / "m", items, max_shard_size=max_shard_size)
    assert _files(tmp_path / "bulk") == _files(tmp_path / "chunked") == _files(tmp_path / "scalar")
    shards = [n for n in _files(tmp_path / "bulk") if ".data-" in n]
    assert len(shards) == 1 if max_shard_size is None else len(shards) > 2
    got = _read_all(tmp_path / "bulk" / "m")
    for name, value in items:
        assert np.array_equal(got[name][2], writer_mod.to_tensor(value)[1]), name
    assert np.array_equal(got["zz_last/part"][2], np.arange(40, dtype=np.float32).reshape(10, 4))


def test_padding_bound_falls_back_to_entry_by_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # One rank-8 tensor among many scalars: its long shape field would widen every padded row.
    items = [*_varied(400), ("deep", np.zeros((2,) * 8, np.float32))]
    tfckpt.save(tmp_path / "a" / "m", items)
    monkeypatch.setattr(rows_mod, "MAX_MATRIX_BYTES", 0)
    monkeypatch.setattr(rows_mod, "MAX_PADDING_FACTOR", 0)
    tfckpt.save(tmp_path / "b" / "m", items)
    assert _files(tmp_path / "a") == _files(tmp_path / "b")


def test_add_many_is_add_in_a_loop(tmp_path: Path) -> None:
    items = _varied(300)
    tfckpt.save(tmp_path / "save" / "m", dict(items))
    with tfckpt.Writer(tmp_path / "many" / "m") as w:
        w.add_many(iter(items))
    with tfckpt.Writer(tmp_path / "one" / "m") as w:
        for name, value in items:
            w.add(name, value)
    assert _files(tmp_path / "save") == _files(tmp_path / "many") == _files(tmp_path / "one")


def test_add_many_stops_at_the_first_bad_item(tmp_path: Path) -> None:
    with tfckpt.Writer(tmp_path / "m") as w:
        with pytest.raises(InvalidArgumentError, match="duplicate tensor name 'a'"):
            w.add_many([("a", np.ones(2, np.float32)), ("b", np.zeros(3)), ("a", np.ones(1))])
        with pytest.raises(InvalidArgumentError, match="non-empty strings"):
            w.add_many({"c": np.ones(2, np.float32), "": np.ones(2, np.float32)})
        w.add("d", np.ones(1, np.float32))
    assert sorted(_read_all(tmp_path / "m")) == ["a", "b", "c", "d"]


def test_lifecycle(tmp_path: Path) -> None:
    w = tfckpt.Writer(tmp_path / "m")
    w.add("a", 1)
    assert w.finish() == str(tmp_path / "m")
    with pytest.raises(InvalidArgumentError, match="already finished"):
        w.add("b", 2)
    w.abandon()  # no effect after finish
    assert list(_read_all(tmp_path / "m")) == ["a"]
    w2 = tfckpt.Writer(tmp_path / "n")
    w2.add("a", 1)
    w2.abandon()
    w2.abandon()
    with pytest.raises(InvalidArgumentError, match="already abandoned"):
        w2.finish()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.data-00000-of-00001", "m.index"]
    with pytest.raises(InvalidArgumentError, match="must name a file prefix"):
        tfckpt.Writer(str(tmp_path) + os.sep)
    with pytest.raises(InvalidArgumentError, match="max_shard_size must be positive"):
        tfckpt.Writer(tmp_path / "x", max_shard_size=0)


def test_empty_checkpoint(tmp_path: Path) -> None:
    tfckpt.save(tmp_path / "m", {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.data-00000-of-00001", "m.index"]
    assert _read_all(tmp_path / "m") == {}


# -- atomicity under injected failures --------------------------------------------------------

NEW = [("a", np.arange(100, dtype=np.float32)), ("b", [b"new"]), ("c", np.ones((3, 3)))]


@pytest.fixture
def old_checkpoint(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    """A 3-shard checkpoint at tmp_path/m that every failed write must leave untouched."""
    tfckpt.save(tmp_path / "m", [("a", np.zeros(100, np.float32)), ("b", [b"old"]), ("c", np.zeros((3, 3)))], max_shard_size=1)
    return tmp_path / "m", _files(tmp_path)


def _assert_untouched(prefix: Path, before: dict[str, bytes]) -> None:
    assert _files(prefix.parent) == before
    assert _read_all(prefix)["b"][2].tolist() == [b"old"]


class Boom(Exception):
    pass


@pytest.mark.parametrize("failing_call", range(4))  # 3 shard renames, then the index rename
def test_failed_rename_restores_the_previous_checkpoint(
    old_checkpoint: tuple[Path, dict[str, bytes]], monkeypatch: pytest.MonkeyPatch, failing_call: int
) -> None:
    prefix, before = old_checkpoint
    calls = []
    real_replace = os.replace

    def replace(src: Any, dst: Any) -> None:
        calls.append(dst)
        if len(calls) == failing_call + 1:
            raise Boom(f"rename #{failing_call}")
        real_replace(src, dst)

    monkeypatch.setattr(writer_mod.os, "replace", replace)
    with pytest.raises(Boom):
        tfckpt.save(prefix, NEW, max_shard_size=1)
    monkeypatch.undo()
    assert len(calls) >= failing_call + 1
    _assert_untouched(prefix, before)


@pytest.mark.parametrize("failing_call", range(5))  # fsync of 3 shards, the index, the directory
def test_failed_fsync_leaves_everything_as_it_was(
    old_checkpoint: tuple[Path, dict[str, bytes]], monkeypatch: pytest.MonkeyPatch, failing_call: int
) -> None:
    prefix, before = old_checkpoint
    calls = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        calls.append(fd)
        if len(calls) == failing_call + 1:
            raise OSError(5, "injected EIO")
        real_fsync(fd)

    monkeypatch.setattr(writer_mod.os, "fsync", fsync)
    if failing_call < 4:
        with pytest.raises(OSError, match="injected EIO"):
            tfckpt.save(prefix, NEW, max_shard_size=1)
        monkeypatch.undo()
        _assert_untouched(prefix, before)
    else:
        # The directory fsync is best effort: its failure does not undo a completed write.
        tfckpt.save(prefix, NEW, max_shard_size=1)
        monkeypatch.undo()
        assert _read_all(prefix)["b"][2].tolist() == [b"new"]


@pytest.mark.parametrize("failing_write", range(4))  # data a, b, c, then the index
def test_failed_file_write_leaves_everything_as_it_was(
    old_checkpoint: tuple[Path, dict[str, bytes]], monkeypatch: pytest.MonkeyPatch, failing_write: int
) -> None:
    prefix, before = old_checkpoint
    opened = []
    real_open = open

    class FailingFile:
        def __init__(self, f: Any, fail: bool) -> None:
            self._f, self._fail = f, fail

        def write(self, data: Any) -> int:
            if self._fail:
                raise OSError(28, "injected ENOSPC")
            return int(self._f.write(data))

        def __getattr__(self, name: str) -> Any:
            return getattr(self._f, name)

        def __enter__(self) -> FailingFile:  # noqa: PYI034
            return self

        def __exit__(self, *exc: object) -> None:
            self._f.close()

    def fake_open(path: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        f = real_open(path, mode, *args, **kwargs)
        opened.append(path)
        return FailingFile(f, len(opened) == failing_write + 1)

    monkeypatch.setattr(writer_mod, "open", fake_open, raising=False)  # the index
    monkeypatch.setattr(shards_mod, "open", fake_open, raising=False)  # the data shards
    with pytest.raises(OSError, match="injected ENOSPC"):
        tfckpt.save(prefix, NEW, max_shard_size=1)
    monkeypatch.undo()
    _assert_untouched(prefix, before)


def test_failed_index_build_leaves_everything_as_it_was(
    old_checkpoint: tuple[Path, dict[str, bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix, before = old_checkpoint

    def finish(self: Any) -> None:
        raise Boom("index")

    monkeypatch.setattr(writer_mod.TableBuilder, "finish", finish)
    with pytest.raises(Boom):
        tfckpt.save(prefix, NEW)
    monkeypatch.undo()
    _assert_untouched(prefix, before)


def test_conversion_failure_midway_leaves_everything_as_it_was(old_checkpoint: tuple[Path, dict[str, bytes]]) -> None:
    prefix, before = old_checkpoint

    class Unconvertible:
        def __array__(self, *args: Any, **kwargs: Any) -> np.ndarray:
            raise Boom("conversion")

    def tensors() -> Any:
        yield "a", np.ones(5)
        yield "b", np.ones(5)
        yield "c", Unconvertible()

    with pytest.raises(Boom):
        tfckpt.save(prefix, tensors())
    _assert_untouched(prefix, before)


def test_keyboard_interrupt_in_a_with_block(old_checkpoint: tuple[Path, dict[str, bytes]]) -> None:
    prefix, before = old_checkpoint
    with pytest.raises(KeyboardInterrupt), tfckpt.Writer(prefix) as w:
        w.add("a", np.ones(3))
        raise KeyboardInterrupt
    _assert_untouched(prefix, before)


def test_overwrite_in_place_with_same_shard_names(old_checkpoint: tuple[Path, dict[str, bytes]]) -> None:
    prefix, _ = old_checkpoint
    tfckpt.save(prefix, NEW, max_shard_size=1)
    assert sorted(p.name for p in prefix.parent.iterdir()) == [
        "m.data-00000-of-00003",
        "m.data-00001-of-00003",
        "m.data-00002-of-00003",
        "m.index",
    ]
    assert _read_all(prefix)["b"][2].tolist() == [b"new"]


def test_temporaries_live_beside_the_prefix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # renames must not cross from the cwd
    with tfckpt.Writer(tmp_path / "out" / "m", max_shard_size=1) as w:
        w.add("a", 1)
        w.add("b", 2)
        temps = sorted(p.name.split(".tempstate")[0] for p in (tmp_path / "out").iterdir())
        assert temps == ["m.data-00000", "m.data-00001"]
    assert list((tmp_path / "elsewhere").iterdir()) == []
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["m.data-00000-of-00002", "m.data-00001-of-00002", "m.index"]


def _simulate_crash_after_data_renames(tmp_path: Path, new_shard_size: int | None) -> Path:
    """The files a crash between the data renames and the index rename leaves behind."""
    old = tmp_path / "m"
    tfckpt.save(old, {"w": np.zeros(64, np.float32), "s": [b"old"]})
    tfckpt.save(tmp_path / "new" / "m", {"w": np.ones(64, np.float32), "s": [b"new"]}, max_shard_size=new_shard_size)
    for data in (tmp_path / "new").glob("m.data-*"):
        os.replace(data, tmp_path / data.name)
    return old


def test_crash_window_when_overwriting_is_detected_by_checksums(tmp_path: Path) -> None:
    prefix = _simulate_crash_after_data_renames(tmp_path, None)  # same shard name as the old one
    with pytest.raises(tfckpt.CorruptionError, match="'w'"), tfckpt.open(prefix) as ckpt:
        ckpt.get_tensor("w", copy=True)


def test_crash_window_with_another_shard_count_keeps_the_old_checkpoint(tmp_path: Path) -> None:
    prefix = _simulate_crash_after_data_renames(tmp_path, 1)  # new data is .data-0000i-of-00002
    got = _read_all(prefix)
    assert got["w"][2].tolist() == [0.0] * 64 and got["s"][2].tolist() == [b"old"]


_HYP_DTYPES = ["float32", "float64", "int8", "uint16", "int64", "bool", "complex64", "bfloat16", "int4", "qint8", "string"]


@st.composite
def _tensor_dicts(draw: st.DrawFn) -> list[tuple[str, str, Any]]:
    names = draw(st.lists(st.text(min_size=1, max_size=12), min_size=0, max_size=8, unique=True))
    out = []
    for name in names:
        dtype = draw(st.sampled_from(_HYP_DTYPES))
        shape = tuple(draw(st.lists(st.integers(0, 4), max_size=3)))
        n = int(np.prod(shape))
        if dtype == "string":
            items = draw(st.lists(st.binary(max_size=20), min_size=n, max_size=n))
            value: Any = np.empty(n, dtype=object)
            value[:] = items
            value = value.reshape(shape)
        else:
            ints = draw(st.lists(st.integers(-8, 7), min_size=n, max_size=n))
            numpy_type = np.int8 if dtype == "qint8" else getattr(ml_dtypes, dtype, None) or np.dtype(dtype)
            value = np.array(ints, dtype=np.float64).reshape(shape).astype(numpy_type)
        out.append((name, dtype, value))
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tensors=_tensor_dicts(), max_shard_size=st.one_of(st.none(), st.integers(1, 64)))
def test_random_tensor_dicts_round_trip(tmp_path: Path, tensors: list[tuple[str, str, Any]], max_shard_size: int | None) -> None:
    prefix = Path(tempfile.mkdtemp(dir=tmp_path)) / "m"  # tmp_path is shared by all examples
    with tfckpt.Writer(prefix, max_shard_size=max_shard_size) as w:
        for name, dtype, value in tensors:
            w.add(name, value, dtype="qint8" if dtype == "qint8" else None)
    got = _read_all(prefix)
    assert sorted(got) == sorted(name for name, _, _ in tensors)
    for name, dtype, value in tensors:
        assert got[name][:2] == (dtype, value.shape)
        if dtype == "string":
            assert got[name][2].tolist() == value.tolist()
        else:
            assert got[name][2].tobytes() == value.tobytes()


# -- add_many's batches: the same bytes as one add() per tensor ------------------------------

_SMALL_DTYPES = [np.float32, np.float64, np.int8, np.uint16, np.int64, np.bool_, np.complex64, ml_dtypes.bfloat16, ">f4"]


@st.composite
def _small_items(draw: st.DrawFn) -> list[tuple[str, Any]]:
    """Mostly small native arrays (the batch path), with some of everything that must leave
    it: non-contiguous, big-endian, ml_dtypes, empty, strings, scalars, lists."""
    count = draw(st.integers(1, 60))
    names = draw(
        st.lists(
            st.text(st.sampled_from("ab/_\u00e9\U0001f600"), min_size=1, max_size=6), min_size=count, max_size=count, unique=True
        )
    )
    if draw(st.booleans()):
        names.sort()  # key order: the index takes its no-lookup path
    items: list[tuple[str, Any]] = []
    for i, name in enumerate(names):
        kind = draw(st.sampled_from(["plain"] * 6 + ["strided", "fortran", "dtype", "empty", "string", "scalar", "list"]))
        shape = tuple(draw(st.lists(st.integers(1, 3), max_size=3)))
        value: Any = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape) + i
        if kind == "strided":
            value = np.arange(12, dtype=np.int16).reshape(3, 4)[:, ::2] + i
        elif kind == "fortran":
            value = np.asfortranarray(np.arange(6, dtype=np.float64).reshape(2, 3) * i)
        elif kind == "dtype":
            value = value.astype(draw(st.sampled_from(_SMALL_DTYPES)))
        elif kind == "empty":
            value = np.zeros((0, 2), np.float32)
        elif kind == "string":
            value = [b"x" * (i % 3), "\u00e9"]
        elif kind == "scalar":
            value = np.int64(i)
        elif kind == "list":
            value = [float(i), 2.0]
        items.append((name, value))
    return items


def _one_by_one(prefix: Path, items: list[tuple[str, Any]], max_shard_size: int | None = None) -> None:
    with tfckpt.Writer(prefix, max_shard_size=max_shard_size) as w:
        for name, value in items:
            w.add(name, value)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    items=_small_items(),
    batch=st.sampled_from([1, 3, 7, 2048]),
    behind=st.sampled_from([1, 100, 1 << 24]),
    staged_max=st.sampled_from([0, 64, 1 << 24]),
    shard=st.sampled_from([None, 200]),
)
def test_batches_write_what_add_writes(
    monkeypatch: pytest.MonkeyPatch, items: list[tuple[str, Any]], batch: int, behind: int, staged_max: int, shard: int | None
) -> None:
    # Small batches and write-behind buffers, so every mix of batch, fallback, staged and
    # unstaged batches, helper-thread writes and new shards occurs; a dict, a list and a
    # tuple of pairs go the batch way.
    monkeypatch.setattr(writer_mod, "ADD_BATCH", batch)
    monkeypatch.setattr(writer_mod, "WRITE_BEHIND_CHUNK", behind)
    monkeypatch.setattr(writer_mod, "STAGED_BATCH_MAX", staged_max)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _one_by_one(root / "one" / "m", items, shard)
        tfckpt.save(root / "dict" / "m", dict(items), max_shard_size=shard)
        tfckpt.save(root / "list" / "m", items, max_shard_size=shard)
        with tfckpt.Writer(root / "mixed" / "m", max_shard_size=shard) as w:
            w.add_many(tuple(items[: len(items) // 2]))
            for name, value in items[len(items) // 2 :]:
                w.add(name, value)
        expected_files = _files(root / "one")
        for kind in ("dict", "list", "mixed"):
            assert _files(root / kind) == expected_files, kind


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=_small_items(), chunk=st.sampled_from([1, 2, 5, 16384]), slices=st.booleans())
def test_bulk_index_writes_what_the_entry_by_entry_index_writes(
    monkeypatch: pytest.MonkeyPatch, items: list[tuple[str, Any]], chunk: int, slices: bool
) -> None:
    # The numpy index encoder (every run of plain entries in bulk, in chunks of any size)
    # against TableBuilder.add one entry at a time: mixed dtypes (bfloat16, complex, bool,
    # big-endian), strings, empty tensors, scalars, non-ASCII names, partitioned variables.
    def write(prefix: Path) -> None:
        if slices:
            _write_with_slices(prefix, items)
        else:
            tfckpt.save(prefix, dict(items))

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        monkeypatch.setattr(writer_mod, "INDEX_CHUNK", chunk)
        monkeypatch.setattr(writer_mod, "BULK_MIN_ENTRIES", 1)
        monkeypatch.setattr(table_mod, "BULK_MIN_ENTRIES", 1)
        write(root / "bulk" / "m")
        monkeypatch.setattr(writer_mod, "BULK_MIN_ENTRIES", 10**9)
        monkeypatch.setattr(table_mod, "BULK_MIN_ENTRIES", 10**9)
        write(root / "scalar" / "m")
        assert _files(root / "bulk") == _files(root / "scalar")


def test_batches_at_scale_with_every_writeback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # 20,000 tensors of a few kinds through 8 KiB write-behind buffers and a flush every 64 KiB.
    monkeypatch.setattr(writer_mod, "WRITE_BEHIND_CHUNK", 8192)
    monkeypatch.setattr(shards_mod, "WRITEBACK_CHUNK", 65536)
    shapes = [(4,), (2, 3), (16,), ()]
    items = [
        (f"layer_{(i * 7919) % 20000:05d}/w", np.full(shapes[i % 4], i, (np.float32, np.int32)[i % 2])) for i in range(20_000)
    ]
    tfckpt.save(tmp_path / "batch" / "m", dict(items))
    _one_by_one(tmp_path / "one" / "m", items)
    assert _files(tmp_path / "batch") == _files(tmp_path / "one")
    got = _read_all(tmp_path / "batch" / "m")
    assert all(np.array_equal(got[name][2], value) for name, value in items[:500])


def test_batch_values_are_copied_before_add_many_returns(tmp_path: Path) -> None:
    values = {f"t{i}": np.full(8, i, np.float32) for i in range(300)}
    with tfckpt.Writer(tmp_path / "m") as w:
        w.add_many(values)
        for v in values.values():
            v[:] = -1  # the caller reuses its arrays: what was added is what was written
    got = _read_all(tmp_path / "m")
    assert all(np.array_equal(got[f"t{i}"][2], np.full(8, i, np.float32)) for i in range(300))


@pytest.mark.parametrize("kind", ["dict", "list"])
def test_batch_errors_name_the_first_bad_item(tmp_path: Path, kind: str) -> None:
    good = [(f"a{i}", np.ones(4, np.float32)) for i in range(10)]
    cases: list[tuple[list[tuple[Any, Any]], str]] = [
        ([*good, ("", np.ones(2, np.float32)), ("z", np.ones(2, np.float32))], "non-empty strings"),
        ([*good, (3, np.ones(2, np.float32))], "non-empty strings"),
        ([*good, ("bad", np.array([object()]))], "bad"),
    ]
    if kind == "list":  # a dict cannot repeat a name
        cases.append(([*good, ("a3", np.ones(2, np.float32)), ("z", np.ones(2, np.float32))], "duplicate tensor name 'a3'"))
    for i, (items, message) in enumerate(cases):
        prefix = tmp_path / str(i) / "m"
        with tfckpt.Writer(prefix) as w, pytest.raises(InvalidArgumentError, match=message):
            w.add_many(dict(items) if kind == "dict" else items)
        # The items before the bad one are written, nothing after it.
        assert sorted(_read_all(prefix)) == sorted(f"a{i}" for i in range(10))


def test_batch_refuses_a_name_added_before(tmp_path: Path) -> None:
    with tfckpt.Writer(tmp_path / "m") as w:
        w.add("a5", np.zeros(2, np.float32))
        w.add_slice("p", np.zeros((1, 2), np.float32), full_shape=(2, 2), start=(0, 0))
        w.add_slice("p", np.ones((1, 2), np.float32), full_shape=(2, 2), start=(1, 0))
        for clash in ("a5", "p"):
            with pytest.raises(InvalidArgumentError, match=f"duplicate tensor name '{clash}'"):
                w.add_many({**{f"{clash}_{i}": np.ones(4, np.float32) for i in range(5)}, clash: np.ones(1, np.float32)})
    got = _read_all(tmp_path / "m")
    assert sorted(got) == ["a5", *(f"a5_{i}" for i in range(5)), "p", *(f"p_{i}" for i in range(5))]
    assert np.array_equal(got["a5"][2], np.zeros(2, np.float32))


def test_write_behind_failure_leaves_the_prefix_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tfckpt.save(tmp_path / "m", {"old": np.ones(3, np.float32)})
    before = _files(tmp_path)

    monkeypatch.setattr(shards_mod, "write_chunk", _failing_write_chunk)
    with pytest.raises(OSError, match="No space left"):
        tfckpt.save(tmp_path / "m", {f"t{i}": np.full(4, i, np.float32) for i in range(100)})
    assert _files(tmp_path) == before
    with pytest.raises(OSError, match="No space left"), tfckpt.Writer(tmp_path / "m") as w:
        w.add_many({f"t{i}": np.full(4, i, np.float32) for i in range(100)})
        w.add("next", np.ones(2, np.float32))  # waits for the write in flight, which failed
    assert _files(tmp_path) == before


def _stage(shard: shards_mod.Shard, values: list[bytes]) -> int:
    """:meth:`.Shard.stage` as the writer calls it: the bytes staged counted in its size next."""
    mark = shard.stage(values, sum(map(len, values)))
    shard.size += sum(map(len, values))
    return mark


def test_staged_bytes_land_at_their_offsets_from_reused_buffers(tmp_path: Path) -> None:
    shard = shards_mod.Shard(str(tmp_path / "s"))
    try:
        shard.write(b"head")  # buffered in the file object, not yet written
        _stage(shard, [b"ab", np.frombuffer(b"cd", np.uint8)])  # where in its buffer depends on the buffer (reused or not)
        mark = shard.stage([b"xyz"])
        shard.unstage(mark)  # a batch declined after staging leaves no trace
        assert shard.staged == 4
        for chunk in (b"ef", b"g" * 10, b"h", b"ij"):
            shard.write_staged()  # in flight while the next buffers fill; the oldest lands first when all are used
            _stage(shard, [chunk])
        shard.write_staged()
        shard.write_staged()  # nothing staged: nothing to do
        shard.settle()
        shard.write(b"tail")  # appends after every chunk
        shard.sync()
        assert Path(shard.temp_path).read_bytes() == b"headabcdefgggggggggghijtail"
    finally:
        shard.join()
        shard.file.close()


def test_staged_chunks_go_directly_to_the_disk_where_memory_and_file_line_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Chunks of a few pages at odd offsets: each starts where its buffer's memory lines up
    # with the file, so its whole pages are written directly (where the file system allows
    # O_DIRECT) and only the partial pages at its ends through the page cache.
    monkeypatch.setattr(shards_mod, "DIRECT_STAGE_MIN", 1)
    monkeypatch.setattr(shards_mod, "DIRECT_MIN", 4096)
    monkeypatch.setattr(shards_mod, "WRITE_BEHIND_CHUNK", 1 << 16)
    written: list[tuple[int, int]] = []
    real = shards_mod.write_chunk

    def recording(fd: int, direct_fd: int, data: memoryview, offset: int, address: int) -> int:
        cached = real(fd, direct_fd, data, offset, address)
        written.append((data.nbytes, cached))
        return cached

    monkeypatch.setattr(shards_mod, "write_chunk", recording)
    rng = np.random.default_rng(0)
    chunks = [rng.integers(0, 256, n, np.uint8).tobytes() for n in (5000, 3 * 4096 + 7, 40000, 1, 65536 * 3)]
    shard = shards_mod.Shard(str(tmp_path / "s"))
    try:
        shard.write(b"x" * 123)
        for chunk in chunks:
            _stage(shard, [chunk[: len(chunk) // 2], chunk[len(chunk) // 2 :]])
            shard.write_staged()
        shard.sync()
        assert Path(shard.temp_path).read_bytes() == b"x" * 123 + b"".join(chunks)
        direct = shards_mod.open_direct(shard.temp_path)
        if direct >= 0:  # else no O_DIRECT here: every chunk went through the page cache
            os.close(direct)
            assert all(n - cached >= 4096 for n, cached in written if n >= 3 * 4096), written
    finally:
        shard.join()
        shard.file.close()


def test_a_staged_buffer_is_not_reused_while_its_write_is_in_flight(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    gate, real = threading.Event(), shards_mod.write_chunk
    writing: list[bytes] = []

    def gated(fd: int, direct_fd: int, data: memoryview, offset: int, address: int) -> int:
        writing.append(bytes(data))
        assert gate.wait(10)  # the first write waits here, holding its buffer
        return real(fd, direct_fd, data, offset, address)

    monkeypatch.setattr(shards_mod, "write_chunk", gated)
    shard = shards_mod.Shard(str(tmp_path / "s"))
    try:
        threading.Timer(0.05, gate.set).start()
        for digit in b"123":  # the third waits for the first write: its buffer is staged into next
            _stage(shard, [bytes([digit]) * 100])
            shard.write_staged()
        _stage(shard, [b"4" * 100])  # the first buffer again, its write landed
        shard.write_staged()
        shard.sync()
        assert Path(shard.temp_path).read_bytes() == b"1" * 100 + b"2" * 100 + b"3" * 100 + b"4" * 100
        assert sorted(writing) == [d * 100 for d in (b"1", b"2", b"3", b"4")]  # no buffer overwritten in flight
    finally:
        gate.set()
        shard.join()
        shard.file.close()


def test_dict_names_equal_only_when_encoded_are_duplicates(tmp_path: Path) -> None:
    # A str subclass hashed by identity: two dict keys that encode to the same name.
    class Named(str):
        __hash__ = object.__hash__

        def __eq__(self, other: object) -> bool:
            return self is other

    items = {Named("a"): np.ones(2, np.float32), "b": np.ones(2, np.float32), Named("a"): np.zeros(2, np.float32)}
    with pytest.raises(InvalidArgumentError, match="duplicate tensor name 'a'"), tfckpt.Writer(tmp_path / "m") as w:
        w.add_many(items)


@pytest.mark.parametrize("batch", [1, 2, 2048])
@pytest.mark.parametrize("subclass_first", [False, True])
def test_a_str_subclass_name_in_another_batch_is_still_a_duplicate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch: int, subclass_first: bool
) -> None:
    # add_many checks each batch's names as it comes: batches before the first name that is
    # not a plain str skip the duplicate lookup, every batch from it on is checked.
    class Named(str):
        __hash__ = object.__hash__

        def __eq__(self, other: object) -> bool:
            return self is other

    plain: list[tuple[str, Any]] = [("a", np.ones(2, np.float32)), ("b", np.ones(2, np.float32))]
    odd: list[tuple[str, Any]] = [(Named("a"), np.zeros(2, np.float32))]
    monkeypatch.setattr(writer_mod, "ADD_BATCH", batch)
    with pytest.raises(InvalidArgumentError, match="duplicate tensor name 'a'"), tfckpt.Writer(tmp_path / "m") as w:
        w.add_many(dict(odd + plain if subclass_first else plain + odd))
    assert not list(tmp_path.iterdir())  # nothing written at the prefix


@pytest.mark.parametrize("batch", [1, 3, 2048])
def test_a_str_subclass_name_in_a_later_batch_writes_what_add_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch: int
) -> None:
    class Named(str):
        pass

    items: list[tuple[str, Any]] = [(f"t{i}", np.full(3, i, np.float32)) for i in range(8)]
    items.insert(5, (Named("u"), np.arange(4, dtype=np.int64)))
    monkeypatch.setattr(writer_mod, "ADD_BATCH", batch)
    _one_by_one(tmp_path / "one" / "m", items)
    tfckpt.save(tmp_path / "many" / "m", dict(items))
    assert _files(tmp_path / "many") == _files(tmp_path / "one")


# -- a dict into an empty writer: keys kept in a list until a lookup needs them ------------


@settings(max_examples=40, deadline=None)
@given(items=_small_items(), cut=st.integers(0, 60), between=st.integers(0, 3), batch=st.sampled_from([2, 2048]))
def test_fresh_dict_then_every_other_path_writes_what_add_writes(
    items: list[tuple[str, Any]], cut: int, between: int, batch: int
) -> None:
    # The first dict's keys go to Writer._unindexed; add(), a second dict (not fresh: the
    # writer holds entries) and finish() must see them as if each had been add()ed.
    first, middle, rest = items[:cut], items[cut : cut + between], items[cut + between :]
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        mp.setattr(writer_mod, "ADD_BATCH", batch)
        root = Path(tmp)
        _one_by_one(root / "one" / "m", items)
        with tfckpt.Writer(root / "fresh" / "m") as w:
            w.add_many(dict(first))
            for name, value in middle:
                w.add(name, value)
            w.add_many(dict(rest))
        assert _files(root / "fresh") == _files(root / "one")


def test_fresh_dict_names_are_seen_by_later_adds(tmp_path: Path) -> None:
    with tfckpt.Writer(tmp_path / "m") as w:
        w.add_many({f"t{i}": np.full(4, i, np.float32) for i in range(10)})
        with pytest.raises(InvalidArgumentError, match="duplicate tensor name 't3'"):
            w.add("t3", np.ones(2, np.float32))
        with pytest.raises(InvalidArgumentError, match="duplicate tensor name 't4'"):
            w.add_many({"u": np.ones(2, np.float32), "t4": np.ones(2, np.float32)})
        with pytest.raises(InvalidArgumentError, match="'t5' was already added as a whole tensor"):
            w.add_slice("t5", np.ones((1, 2), np.float32), full_shape=(2, 2), start=(0, 0))
        w.add_slice("whole", np.ones((2, 2), np.float32), full_shape=(2, 2), start=(0, 0))  # becomes a plain entry
    got = _read_all(tmp_path / "m")
    assert sorted(got) == sorted([*(f"t{i}" for i in range(10)), "u", "whole"])
    assert np.array_equal(got["t3"][2], np.full(4, 3, np.float32))
    assert np.array_equal(got["whole"][2], np.ones((2, 2), np.float32))


def test_empty_name_in_a_dict_is_refused_at_its_place(tmp_path: Path) -> None:
    with tfckpt.Writer(tmp_path / "m") as w, pytest.raises(InvalidArgumentError, match="non-empty strings"):
        w.add_many({"a": np.ones(2, np.float32), "": np.ones(2, np.float32), "z": np.ones(2, np.float32)})
    assert sorted(_read_all(tmp_path / "m")) == ["a"]


@pytest.mark.parametrize("failure", ["bad item", "write", "flush"])
def test_a_failed_batch_save_leaves_no_target_and_no_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    import threading

    tfckpt.save(tmp_path / "m", {"old": np.ones(3, np.float32)})
    before, threads = _files(tmp_path), set(threading.enumerate())
    tensors: dict[str, Any] = {f"t{i:05d}": np.full(256, i, np.float32) for i in range(5000)}
    monkeypatch.setattr(writer_mod, "ADD_BATCH", 256)  # 256 KiB batches,
    monkeypatch.setattr(writer_mod, "WRITE_BEHIND_CHUNK", 1 << 20)  # written by a helper thread a MiB at a time,
    monkeypatch.setattr(shards_mod, "WRITEBACK_CHUNK", 1 << 20)  # flushed in the background every MiB
    expected: type[Exception] = OSError
    message = "Input/output error"
    if failure == "bad item":
        tensors["t02500"] = np.array([object()])
        expected, message = InvalidArgumentError, "t02500"
    elif failure == "write":
        message = "No space left"
        monkeypatch.setattr(shards_mod, "write_chunk", _failing_write_chunk)
    else:

        def fdatasync(fd: int) -> None:
            raise OSError(5, "Input/output error")

        monkeypatch.setattr(os, "fdatasync", fdatasync)
        monkeypatch.setattr(shards_mod, "_HAS_DIRECT", False)  # through the page cache, flushed in the background
    with pytest.raises(expected, match=message):
        tfckpt.save(tmp_path / "m", tensors)
    assert _files(tmp_path) == before
    assert set(threading.enumerate()) - threads == set()  # no helper thread left behind (others may end)


def test_a_failed_staging_copy_leaves_no_target_and_no_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    tfckpt.save(tmp_path / "m", {"old": np.ones(3, np.float32)})
    before, threads = _files(tmp_path), set(threading.enumerate())
    monkeypatch.setattr(writer_mod, "ADD_BATCH", 256)
    monkeypatch.setattr(writer_mod, "WRITE_BEHIND_CHUNK", 1 << 18)  # helper-thread writes in flight when it fails
    real_stage, calls = shards_mod.Shard.stage, []

    def failing_stage(self: shards_mod.Shard, values: Any, nbytes: int = 0) -> int:
        calls.append(len(values))
        if len(calls) == 7:
            raise MemoryError("staging buffer")
        return real_stage(self, values, nbytes)

    monkeypatch.setattr(shards_mod.Shard, "stage", failing_stage)
    with pytest.raises(MemoryError, match="staging buffer"):
        tfckpt.save(tmp_path / "m", {f"t{i:05d}": np.full(256, i, np.float32) for i in range(5000)})
    assert len(calls) == 7
    assert _files(tmp_path) == before
    assert set(threading.enumerate()) - threads == set()


def _failing_write_chunk(fd: int, direct_fd: int, data: memoryview, offset: int, address: int) -> int:
    raise OSError(28, "No space left on device")  # in the helper thread


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    items=_small_items(),
    batch=st.sampled_from([1, 2, 5, 64]),
    chunk=st.sampled_from([1, 3, 16384]),
    then_add=st.booleans(),
    table_bulk=st.booleans(),
)
def test_early_index_writes_what_the_whole_index_writes(
    monkeypatch: pytest.MonkeyPatch, items: list[tuple[str, Any]], batch: int, chunk: int, then_add: bool, table_bulk: bool
) -> None:
    # The index encoded while add_many waits for the disk (forced at every chunk here), in
    # pieces of any size, against add() one by one: keys in order or not (the early index
    # is dropped at the first one out of order), batches that fall back, a later add().
    # The fresh keys (JoinedKeys: non-ASCII names, several lengths) go through the table's
    # bulk path or its entry-by-entry one.
    monkeypatch.setattr(writer_mod, "ADD_BATCH", batch)
    monkeypatch.setattr(writer_mod, "WRITE_BEHIND_CHUNK", 1)
    monkeypatch.setattr(writer_mod, "INDEX_CHUNK", chunk)
    monkeypatch.setattr(writer_mod, "BULK_MIN_ENTRIES", 1)
    if table_bulk:
        monkeypatch.setattr(table_mod, "BULK_MIN_ENTRIES", 1)
    monkeypatch.setattr(shards_mod.Shard, "would_wait", property(lambda self: True))
    later = [("\U0001f600later", np.ones(2, np.float32))] if then_add else []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _one_by_one(root / "one" / "m", items + later)
        with tfckpt.Writer(root / "early" / "m") as w:
            w.add_many(dict(items))
            for name, value in later:
                w.add(name, value)
        assert _files(root / "early") == _files(root / "one")


def test_sorted_fresh_batches_take_the_early_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    whole: list[int] = []
    real = writer_mod.write_index_rows

    def spy(*args: Any) -> None:
        whole.append(len(args[1]))
        real(*args)

    monkeypatch.setattr(writer_mod, "write_index_rows", spy)
    monkeypatch.setattr(writer_mod, "WRITE_BEHIND_CHUNK", 1 << 14)
    monkeypatch.setattr(shards_mod.Shard, "would_wait", property(lambda self: True))
    tensors = {f"t{i:05d}": np.full(4, i, np.float32) for i in range(5000)}
    tfckpt.save(tmp_path / "sorted" / "m", tensors)
    assert whole == []  # encoded during add_many and completed by finish()
    tfckpt.save(tmp_path / "reversed" / "m", dict(reversed(tensors.items())))
    assert whole == [5000]  # the first key out of order: the index built whole, sorted
    tfckpt.save(tmp_path / "sharded" / "m", tensors, max_shard_size=1 << 20)
    assert whole == [5000, 5000]  # more than one shard: no early index
    for kind in ("sorted", "reversed", "sharded"):
        got = _read_all(tmp_path / kind / "m")
        assert sorted(got) == sorted(tensors)
        assert all(np.array_equal(got[name][2], value) for name, value in tensors.items())


def test_direct_staged_writes_write_what_add_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # 1 KiB tensors in chunks of a few MiB, at offsets that are not page multiples: whole
    # pages written directly where O_DIRECT is available, the bytes the same as add()'s.
    cached: list[tuple[int, int]] = []
    real = shards_mod.write_chunk

    def recording(fd: int, direct_fd: int, data: memoryview, offset: int, address: int) -> int:
        cached.append((data.nbytes, real(fd, direct_fd, data, offset, address)))
        return cached[-1][1]

    monkeypatch.setattr(shards_mod, "write_chunk", recording)
    items = [("first", np.arange(3, dtype=np.int8))] + [(f"t{i:05d}", np.full(256, i, np.float32)) for i in range(6000)]
    _one_by_one(tmp_path / "one" / "m", items)
    tfckpt.save(tmp_path / "dict" / "m", dict(items))
    assert _files(tmp_path / "dict") == _files(tmp_path / "one")
    direct = shards_mod.open_direct(str(tmp_path / "one" / "m.index"))
    if direct >= 0:  # a file system with O_DIRECT: all but the partial pages at the chunks' ends
        os.close(direct)
        big = [(n, c) for n, c in cached if n >= shards_mod.DIRECT_STAGE_MIN]
        assert big and all(c <= 2 * shards_mod.DIRECT_ALIGN for n, c in big), cached


def test_staging_buffers_go_to_the_next_shard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shards_mod, "_SPARE", [])
    tensors: dict[str, Any] = {f"t{i:05d}": np.full(256, i, np.float32) for i in range(3000)}
    tfckpt.save(tmp_path / "a" / "m", tensors)
    spare = {id(buffer) for buffer in shards_mod._SPARE}
    assert 0 < len(spare) <= shards_mod.STAGING_BUFFERS
    tfckpt.save(tmp_path / "b" / "m", tensors)  # takes them, and gives them back when done
    assert {id(buffer) for buffer in shards_mod._SPARE} == spare
    assert _files(tmp_path / "b") == _files(tmp_path / "a")
    with pytest.raises(InvalidArgumentError, match="t02999"):  # abandoned: the buffers go back too
        tfckpt.save(tmp_path / "c" / "m", {**tensors, "t02999": np.array([object()])})
    assert {id(buffer) for buffer in shards_mod._SPARE} == spare
    assert not (tmp_path / "c").exists() or not any((tmp_path / "c").iterdir())


@given(st.lists(st.lists(st.binary(max_size=5), max_size=6), max_size=5), st.data())
def test_fresh_keys_hold_what_a_list_of_keys_holds(batches: list[list[bytes]], data: st.DataObject) -> None:
    # Writer._unindexed keeps a fresh dict's keys joined; its slices (JoinedKeys) must index,
    # slice and iterate as the list of the same keys does.
    fresh, keys = writer_mod._FreshKeys(), []
    for batch in batches:
        fresh.extend(b"".join(batch), np.fromiter(map(len, batch), np.int64, len(batch)))
        keys += batch
    assert len(fresh) == len(keys)
    assert fresh.tolist() == keys
    first = data.draw(st.integers(0, len(keys)))
    stop = data.draw(st.integers(0, len(keys)))
    run = fresh[first:stop]
    assert list(run) == keys[first:stop]
    assert len(run) == len(keys[first:stop])
    assert run.data == b"".join(keys[first:stop])
    if len(run):
        i = data.draw(st.integers(-len(run), len(run) - 1))
        assert run[i] == keys[first:stop][i]
        a, b = data.draw(st.integers(0, len(run))), data.draw(st.integers(0, len(run)))
        assert list(run[a:b]) == keys[first:stop][a:b]
