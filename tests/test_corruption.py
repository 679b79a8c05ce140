"""Hostile input: flip and truncate every byte of small checkpoints.

Each damaged checkpoint is opened and every tensor read through the public API. Accepted
outcomes are the exact original values or a :class:`tfckpt.CheckpointError` subclass;
anything else (``struct.error``, ``IndexError``, ``UnicodeDecodeError``, protobuf's
``DecodeError``, ``MemoryError``, numpy errors, a hang) fails the test, as does a read whose
Python heap peak exceeds :data:`HEAP_LIMIT` (the fixtures are about a kilobyte, so a larger
peak means a lying size or shape was believed).

Three sweeps:

* *raw*: bytes of the ``.index`` and the data shards flipped (``xor 0xff`` and ``xor 0x01``)
  and the ``.index`` truncated at every length, verifying checksums: checksums catch it all,
  so only the original values or a corruption error may come out;
* *re-framed*: every byte of every index key and entry flipped and the table rebuilt with
  valid block checksums, so the bundle layer itself (protobuf entries, shapes, offsets,
  slice keys) sees the damage; any clean result is acceptable there (a renamed key is a
  valid checkpoint), a foreign exception is not;
* *lying fields*: each entry's size, offset, shard, shape and dtype replaced by extreme values.

Fixtures: a bundle written by :class:`tfckpt.Writer` (several shards, strings, a partitioned
variable, an empty tensor), TF's ``no_state_file`` bundle, and TF's V1 ``tf1_v1_format`` file.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import signal
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_table import snappy_rewrite

import tfckpt
from tfckpt.format._block import iter_block
from tfckpt.format._bundle import BundleHeader
from tfckpt.format._coding import crc32c, encode_fixed32, mask_crc
from tfckpt.format._ordered_code import encode_slice_key
from tfckpt.format._table import TableBuilder, iter_table
from tfckpt.format._table_format import BlockHandle, Footer, read_block
from tfckpt.proto.tensor_bundle_pb2 import BundleEntryProto  # type: ignore[attr-defined]

FIXTURES = Path(__file__).parent / "fixtures"

#: Largest Python heap peak a read of a ~1 KB checkpoint may reach.
HEAP_LIMIT = 1 << 20
#: Wall-clock guard against hangs for one whole sweep (not a timing assertion).
SWEEP_ALARM_SECONDS = 120

Snapshot = dict[str, tuple[str, tuple[int, ...], Any]]


def _write_fixture(prefix: Path) -> None:
    with tfckpt.Writer(prefix, max_shard_size=96) as w:
        w.add("dense/kernel", np.arange(6, dtype=np.float32).reshape(3, 2) - 2.5)
        w.add("global_step", np.int64(1234567))
        w.add("names", np.array([b"", b"a", b"x" * 130, b"\xff\x00"], dtype=object))
        w.add("scalar_string", b"hello")
        w.add("flags", np.array([True, False, True]))
        w.add("empty", np.zeros((0, 2), np.float32))
        w.add("bf", np.array([1.0, -2.0], dtype="float32"), dtype="bfloat16")
        full = np.arange(12, dtype=np.int32).reshape(4, 3)
        w.add_slice("part", full[:1], full_shape=(4, 3), start=(0, 0))
        w.add_slice("part", full[1:], full_shape=(4, 3), start=(1, 0))


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("written")
    _write_fixture(d / "ckpt")
    assert len(list(d.glob("ckpt.data-*"))) >= 3  # several shards
    return d / "ckpt"


def _copy_of(source: Path, tmp: Path) -> Path:
    """Copy a checkpoint's files (prefix ``source``) to ``tmp``; return the new prefix."""
    for f in source.parent.glob(source.name + ".*"):
        shutil.copy(f, tmp / f.name)
    if source.is_file():  # a V1 checkpoint is a single file named like the prefix
        shutil.copy(source, tmp / source.name)
    return tmp / source.name


def snapshot(prefix: Path, *, verify: bool = True) -> Snapshot:
    """Open and read everything through the public API."""
    out: Snapshot = {}
    with tfckpt.open(prefix, verify=verify) as ckpt:
        for name in ckpt:
            assert name in ckpt
            dtype, shape = ckpt.dtype(name), ckpt.shape(name)
            if dtype == "variant":
                value: Any = tuple(ckpt.variant_elements(name))
            else:
                arr = ckpt[name]
                assert arr.shape == shape
                value = tuple(arr.reshape(-1).tolist()) if arr.dtype == object else (str(arr.dtype), arr.tobytes())
            out[name] = (dtype, shape, value)
        assert len(ckpt) == len(out)
    return out


@contextlib.contextmanager
def _alarm(seconds: int) -> Iterator[None]:
    def fire(signum: int, frame: object) -> None:
        raise TimeoutError(f"sweep still running after {seconds} s: a read hangs")

    old = signal.signal(signal.SIGALRM, fire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


class Sweep:
    """Runs variants, classifies outcomes, and collects failures with their description."""

    def __init__(self, prefix: Path, original: Snapshot, *, exact: bool, verify: bool = True) -> None:
        self.prefix = prefix
        self.original = original
        self.exact = exact
        self.verify = verify
        self.failures: list[str] = []
        self.counts = {"same": 0, "error": 0, "other": 0}
        self.peak = 0

    def run(self, what: str, path: Path, content: bytes) -> None:
        """Write ``content`` to ``path``, then open and read the checkpoint."""
        path.write_bytes(content)
        tracemalloc.reset_peak()
        baseline = tracemalloc.get_traced_memory()[0]
        try:
            got = snapshot(self.prefix, verify=self.verify)
        except tfckpt.CheckpointError as e:
            self.counts["error"] += 1
            self._check_error(what, e)
        except Exception as e:  # noqa: BLE001 - the point is to catch whatever escapes
            self.failures.append(f"{what}: {type(e).__module__}.{type(e).__name__}: {e}")
        else:
            if got == self.original:
                self.counts["same"] += 1
            elif self.exact:
                self.failures.append(f"{what}: read different values without an error")
            else:
                self.counts["other"] += 1
        peak = tracemalloc.get_traced_memory()[1] - baseline
        if peak > HEAP_LIMIT:
            # The first read of a dtype or codec imports its module (ml_dtypes alone is ~1 MB of
            # heap). That happens once per process; an allocation sized by a lying length
            # happens on every read, so only a repeat that still peaks high is a failure.
            peak = self._repeat_peak()
        self.peak = max(self.peak, peak)
        if peak > HEAP_LIMIT:
            self.failures.append(f"{what}: heap peak {peak} bytes")

    def _repeat_peak(self) -> int:
        tracemalloc.reset_peak()
        baseline = tracemalloc.get_traced_memory()[0]
        with contextlib.suppress(Exception):
            snapshot(self.prefix, verify=self.verify)
        return tracemalloc.get_traced_memory()[1] - baseline

    def _check_error(self, what: str, e: tfckpt.CheckpointError) -> None:
        if isinstance(e, tfckpt.CorruptionError):
            if not e.path or str(self.prefix.name) not in e.path:
                self.failures.append(f"{what}: corruption error does not name the file: {e}")
        elif isinstance(e, tfckpt.NotFoundError):
            # only a damaged name can make a tensor go missing: open() itself must not say so
            self.failures.append(f"{what}: NotFoundError from an existing checkpoint: {e}")

    def __enter__(self) -> Sweep:  # noqa: PYI034
        tracemalloc.start()
        return self

    def __exit__(self, *exc: object) -> None:
        tracemalloc.stop()

    def check(self) -> None:
        assert not self.failures, f"{len(self.failures)} bad outcomes, e.g.:\n" + "\n".join(self.failures[:15])


def _sources(request: pytest.FixtureRequest, which: str) -> Path:
    return request.getfixturevalue("written") if which == "written" else FIXTURES / "no_state_file" / "ckpt-1"


# -- raw sweep: checksums catch everything --------------------------------------------


@pytest.mark.parametrize("which", ["written", "tf"])
@pytest.mark.parametrize("target", ["index", "data"])
def test_flip_every_byte(which: str, target: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    prefix = _copy_of(_sources(request, which), tmp_path)
    original = snapshot(prefix)
    files = [Path(f"{prefix}.index")] if target == "index" else sorted(tmp_path.glob(prefix.name + ".data-*"))
    with _alarm(SWEEP_ALARM_SECONDS), Sweep(prefix, original, exact=True) as sweep:
        for path in files:
            clean = path.read_bytes()
            for i in range(len(clean)):
                for pattern in (0xFF, 0x01):
                    bad = bytearray(clean)
                    bad[i] ^= pattern
                    sweep.run(f"{path.name}[{i}] ^= {pattern:#04x}", path, bytes(bad))
            path.write_bytes(clean)
    sweep.check()
    assert sweep.counts["error"] > 0
    if target == "data":
        assert sweep.counts["same"] == 0  # every data byte is covered by a checksum


@pytest.mark.parametrize("which", ["written", "tf"])
def test_truncate_index_at_every_length(which: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    prefix = _copy_of(_sources(request, which), tmp_path)
    original = snapshot(prefix)
    index = Path(f"{prefix}.index")
    clean = index.read_bytes()
    with _alarm(SWEEP_ALARM_SECONDS), Sweep(prefix, original, exact=True) as sweep:
        for n in range(len(clean)):
            sweep.run(f"index[:{n}]", index, clean[:n])
    sweep.check()
    assert sweep.counts == {"same": 0, "error": len(clean), "other": 0}


@pytest.mark.parametrize("which", ["written", "tf"])
def test_truncate_data_at_every_length(which: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    prefix = _copy_of(_sources(request, which), tmp_path)
    original = snapshot(prefix)
    with _alarm(SWEEP_ALARM_SECONDS), Sweep(prefix, original, exact=True) as sweep:
        for path in sorted(tmp_path.glob(prefix.name + ".data-*")):
            clean = path.read_bytes()
            for n in range(len(clean)):
                sweep.run(f"{path.name}[:{n}]", path, clean[:n])
            path.write_bytes(clean)
    sweep.check()


@pytest.mark.parametrize("which", ["written", "tf"])
def test_flip_data_without_verification(which: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    # verify=False: string lengths and their own checksum are still parsed from damaged bytes
    prefix = _copy_of(_sources(request, which), tmp_path)
    original = snapshot(prefix)
    with _alarm(SWEEP_ALARM_SECONDS), Sweep(prefix, original, exact=False, verify=False) as sweep:
        for path in sorted(tmp_path.glob(prefix.name + ".data-*")):
            clean = path.read_bytes()
            for i in range(len(clean)):
                bad = bytearray(clean)
                bad[i] ^= 0xFF
                sweep.run(f"{path.name}[{i}] ^= 0xff", path, bytes(bad))
            path.write_bytes(clean)
    sweep.check()


V1 = FIXTURES / "tf1_v1_format" / "model.ckpt-3"


def test_flip_and_truncate_every_byte_of_a_v1_checkpoint(tmp_path: Path) -> None:
    # V1 (TensorSliceWriter) files reach tfckpt.open too; their blocks are checksummed.
    prefix = _copy_of(V1, tmp_path)
    original = snapshot(prefix)
    clean = prefix.read_bytes()
    with _alarm(SWEEP_ALARM_SECONDS), Sweep(prefix, original, exact=True) as sweep:
        for i in range(len(clean)):
            for pattern in (0xFF, 0x01):
                bad = bytearray(clean)
                bad[i] ^= pattern
                sweep.run(f"[{i}] ^= {pattern:#04x}", prefix, bytes(bad))
        for n in range(len(clean)):
            sweep.run(f"[:{n}]", prefix, clean[:n])
    sweep.check()
    assert sweep.counts["error"] > len(clean)


# -- re-framed sweep: the bundle layer sees the damage -------------------------------


def _table_bytes(items: list[tuple[bytes, bytes]]) -> bytes:
    merged = dict(items)  # a flipped key may collide with another one
    f = io.BytesIO()
    t = TableBuilder(f)
    for k in sorted(merged):
        t.add(k, merged[k])
    t.finish()
    return f.getvalue()


@pytest.mark.parametrize("which", ["written", "tf", "tf_v1"])
def test_flip_every_entry_byte_under_valid_checksums(which: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    prefix = _copy_of(V1 if which == "tf_v1" else _sources(request, which), tmp_path)
    original = snapshot(prefix)
    index = prefix if which == "tf_v1" else Path(f"{prefix}.index")
    items = list(iter_table(index.read_bytes(), str(index)))
    patterns = (0xFF,) if which == "tf_v1" else (0xFF, 0x01, 0x80)  # V1's protos are long: keep the sweep short
    with _alarm(SWEEP_ALARM_SECONDS), Sweep(prefix, original, exact=False) as sweep:
        for n, (key, value) in enumerate(items):
            for part in ("key", "value"):
                raw = key if part == "key" else value
                for i in range(len(raw)):
                    for pattern in patterns:
                        bad = bytearray(raw)
                        bad[i] ^= pattern
                        new = (bytes(bad), value) if part == "key" else (key, bytes(bad))
                        variant = items[:n] + [new] + items[n + 1 :]
                        sweep.run(f"{part} of {key!r}[{i}] ^= {pattern:#04x}", index, _table_bytes(variant))
            # and the entry dropped altogether
            sweep.run(f"without {key!r}", index, _table_bytes(items[:n] + items[n + 1 :]))
    sweep.check()
    assert sweep.counts["error"] > 0 and sweep.counts["other"] > 0


def _blocks(data: bytes) -> list[BlockHandle]:
    footer = Footer.decode(data, len(data))
    index = read_block(data, footer.index, len(data), max_uncompressed=1 << 30)
    return [BlockHandle.decode(v, 0, len(v))[0] for _, v in iter_block(bytes(index))] + [footer.index]


@pytest.mark.parametrize("which", ["written", "tf"])
def test_flip_snappy_block_bytes_under_valid_checksums(which: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    # Hostile compressed streams reach the Snappy decoder (checksums recomputed over them).
    prefix = _copy_of(_sources(request, which), tmp_path)
    original = snapshot(prefix)
    index = Path(f"{prefix}.index")
    packed = snappy_rewrite(index.read_bytes())
    index.write_bytes(packed)
    assert snapshot(prefix) == original
    with _alarm(SWEEP_ALARM_SECONDS), Sweep(prefix, original, exact=False) as sweep:
        for handle in _blocks(packed):
            end = handle.offset + handle.size
            for i in range(handle.offset, end):
                for pattern in (0xFF, 0x01):
                    bad = bytearray(packed)
                    bad[i] ^= pattern
                    bad[end + 1 : end + 5] = encode_fixed32(mask_crc(crc32c(bytes(bad[handle.offset : end + 1]))))
                    sweep.run(f"snappy block @{handle.offset}[{i}] ^= {pattern:#04x}", index, bytes(bad))
    sweep.check()
    assert sweep.counts["error"] > 0


# -- lying fields ---------------------------------------------------------------------

BIG = 2**62
LIES: list[tuple[str, dict[str, Any]]] = [
    ("huge size", {"size": BIG}),
    ("huge offset", {"offset": BIG}),
    ("offset at end", {"offset": 10**6}),
    ("shard beyond header", {"shard_id": 2**31 - 1}),
    ("huge shape", {"shape": [2**31, 2**31, 2**31]}),
    ("huge shape, zero dim", {"shape": [2**62, 0, 2**62]}),
    ("shape of 10^8 elements", {"shape": [10**8]}),
    ("dtype variant", {"dtype": 21}),
    ("dtype resource", {"dtype": 20}),
    ("dtype invalid", {"dtype": 0}),
    ("dtype ref", {"dtype": 101}),
    ("dtype string", {"dtype": 7}),
    ("dtype float64", {"dtype": 2}),
    ("no crc", {"crc32c": 0}),
    ("slices on a plain tensor", {"slices": [{"extent": [{}]}]}),
    ("huge slice", {"shape": [2**40], "slices": [{"extent": [{"start": 0, "length": 2**40}]}]}),
    ("slices lost", {"slices": []}),
]


def _lie(value: bytes, fields: dict[str, Any]) -> bytes:
    proto = BundleEntryProto.FromString(value)
    for field, v in fields.items():
        if field == "shape":
            proto.shape.Clear()
            proto.shape.SetInParent()
            for d in v:
                proto.shape.dim.add(size=d)
        elif field == "slices":
            del proto.slices[:]
            for s in v:
                sp = proto.slices.add()
                for ext in s["extent"]:
                    e = sp.extent.add()
                    if ext:
                        e.start, e.length = ext["start"], ext["length"]
        else:
            setattr(proto, field, v)
    return bytes(proto.SerializeToString())


@pytest.mark.parametrize("which", ["written", "tf"])
def test_lying_entry_fields(which: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    prefix = _copy_of(_sources(request, which), tmp_path)
    original = snapshot(prefix)
    index = Path(f"{prefix}.index")
    items = list(iter_table(index.read_bytes(), str(index)))
    with _alarm(SWEEP_ALARM_SECONDS), Sweep(prefix, original, exact=False) as sweep:
        for n, (key, value) in enumerate(items):
            if not key:
                continue
            for what, fields in LIES:
                variant = items[:n] + [(key, _lie(value, fields))] + items[n + 1 :]
                sweep.run(f"{key!r}: {what}", index, _table_bytes(variant))
    sweep.check()
    assert sweep.peak < HEAP_LIMIT


def test_lying_shape_fails_before_allocating(tmp_path: Path) -> None:
    # A string tensor claiming 10^8 elements in a file of a few bytes: refused from the
    # sizes alone, so the peak stays tiny (10^8 object pointers would be 800 MB).
    tfckpt.save(tmp_path / "c", {"s": np.array([b"ab", b"c"], dtype=object), "f": np.zeros(2, np.float32)})
    index = tmp_path / "c.index"
    items = list(iter_table(index.read_bytes(), str(index)))
    lies = {b"s": {"shape": [10**8], "size": 10**8 + 4}, b"f": {"shape": [10**8], "size": 4 * 10**8}}
    items = [(k, _lie(v, lies[k]) if k else v) for k, v in items]
    index.write_bytes(_table_bytes(items))
    tracemalloc.start()
    try:
        with tfckpt.open(tmp_path / "c") as ckpt:
            for name in ("s", "f"):
                with pytest.raises(tfckpt.CorruptionError, match=r"run past the end of the shard \(\d+ bytes\)"):
                    ckpt[name]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024


# -- messages -------------------------------------------------------------------------


def test_data_checksum_mismatch_message(tmp_path: Path) -> None:
    tfckpt.save(tmp_path / "m", {"a": np.zeros(3, np.float32), "w": np.arange(4, dtype=np.float32)})
    shard = tmp_path / "m.data-00000-of-00001"
    raw = bytearray(shard.read_bytes())
    raw[12] ^= 0x01  # first byte of "w" (after a's 12 bytes)
    shard.write_bytes(bytes(raw))
    with tfckpt.open(tmp_path / "m") as ckpt:
        assert ckpt["a"].tolist() == [0, 0, 0]
        with pytest.raises(tfckpt.CorruptionError) as info:
            ckpt["w"]
    e = info.value
    assert e.path == str(shard) and e.offset == 12 and e.tensor == "w"
    message = str(e)
    assert message.startswith(f"{shard} @ 0xc (tensor 'w'): checksum mismatch (stored 0x")
    stored, computed = message.split("stored ")[1].split(", computed ")
    assert int(stored, 16) != int(computed.rstrip(")"), 16)


def test_index_block_checksum_mismatch_message(tmp_path: Path) -> None:
    tfckpt.save(tmp_path / "m", {"w": np.arange(4, dtype=np.float32)})
    index = tmp_path / "m.index"
    raw = bytearray(index.read_bytes())
    raw[3] ^= 0x10
    index.write_bytes(bytes(raw))
    with pytest.raises(
        tfckpt.CorruptionError, match=r"m\.index @ 0x0: block checksum mismatch \(stored 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}\)"
    ) as info:
        tfckpt.open(tmp_path / "m")
    assert info.value.path == str(index) and info.value.offset == 0


def test_missing_shard_message(tmp_path: Path) -> None:
    tfckpt.save(tmp_path / "m", {"a": np.zeros(30, np.float32), "b": np.ones(30, np.float32)}, max_shard_size=150)
    (tmp_path / "m.data-00001-of-00002").unlink()
    with tfckpt.open(tmp_path / "m") as ckpt:
        assert ckpt["a"].sum() == 0
        with pytest.raises(tfckpt.CorruptionError, match=r"data shard m\.data-00001-of-00002 is missing") as info:
            ckpt["b"]
    assert info.value.tensor == "b"


def test_sweep_harness_reports_foreign_exceptions(written: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The sweep is only as good as its classification: a bare IndexError must be a failure.
    original = snapshot(written)
    sweep = Sweep(written, original, exact=True)

    def broken(*args: object, **kwargs: object) -> None:
        raise IndexError("index out of range")

    with sweep:
        index = Path(f"{written}.index")
        sweep.run("unchanged", index, index.read_bytes())
        monkeypatch.setattr(tfckpt, "open", broken)
        sweep.run("broken reader", index, index.read_bytes())
    assert sweep.counts["same"] == 1
    assert sweep.failures == ["broken reader: builtins.IndexError: index out of range"]


# -- random bundles: arbitrary, well-framed index entries over random data ---------------

_EXTREMES = st.sampled_from([0, 1, 2, 3, 7, 8, 255, 2**31 - 1, 2**32, 2**62, 2**63 - 1])
_SMALL_OR_EXTREME = st.one_of(st.integers(0, 40), _EXTREMES)


@st.composite
def _random_entry(draw: st.DrawFn, names: list[bytes]) -> bytes:
    proto = BundleEntryProto(
        dtype=draw(st.sampled_from([1, 2, 3, 4, 7, 9, 10, 14, 21, 20, 0, 29, 18, 101])),
        shard_id=draw(st.one_of(st.integers(0, 2), st.just(2**31 - 1))),
        offset=draw(_SMALL_OR_EXTREME),
        size=draw(_SMALL_OR_EXTREME),
        crc32c=draw(st.integers(0, 2**32 - 1)),
    )
    proto.shape.SetInParent()
    dims = draw(st.lists(st.one_of(st.integers(0, 5), _EXTREMES), max_size=3))
    for d in dims:
        proto.shape.dim.add(size=d)
    for _ in range(draw(st.integers(0, 2))):
        sp = proto.slices.add()
        for d in dims:
            ext = sp.extent.add()
            if draw(st.booleans()):
                ext.start = draw(st.integers(0, max(0, min(d, 5))))
                ext.length = draw(st.integers(0, 5))
    return bytes(proto.SerializeToString())


@st.composite
def _random_bundle(draw: st.DrawFn) -> tuple[list[tuple[bytes, bytes]], bytes]:
    names = draw(st.lists(st.sampled_from([b"a", b"b", b"p", b"\x00"]), min_size=1, max_size=3, unique=True))
    items = [(b"", BundleHeader(num_shards=draw(st.integers(1, 2)), endianness=draw(st.sampled_from([0, 1]))).encode())]
    for name in names:
        items.append((name, draw(_random_entry(names))))
        if draw(st.booleans()):  # a slice entry that some owner may list
            starts = tuple(draw(st.lists(st.integers(0, 3), min_size=1, max_size=2)))
            lengths = tuple(draw(st.sampled_from([-1, 1, 2, 3])) for _ in starts)
            items.append((encode_slice_key(name, starts, lengths), draw(_random_entry(names))))
    return items, draw(st.binary(max_size=64))


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(_random_bundle(), st.booleans())
def test_random_bundles(bundle: tuple[list[tuple[bytes, bytes]], bytes], verify: bool) -> None:
    import tempfile

    items, data = bundle
    with tempfile.TemporaryDirectory() as d:
        prefix = Path(d) / "r"
        Path(f"{prefix}.data-00000-of-00001").write_bytes(data)
        Path(f"{prefix}.data-00000-of-00002").write_bytes(data)
        Path(f"{prefix}.data-00001-of-00002").write_bytes(data[::-1])
        sweep = Sweep(prefix, {}, exact=False, verify=verify)
        with sweep:
            sweep.run("random bundle", Path(f"{prefix}.index"), _table_bytes(items))
        sweep.check()
