"""The export's fast path: tensors transposed or cast in pieces by helper threads, ahead of the
writer (tfckpt.transformers._prefetch), and the safetensors writer's pieces and early writeback.

Every fast path is checked against the plain one: ``np.transpose(a)`` / ``astype`` for the
piecewise fill, a whole-array write for pieces, and the default export for one forced to cut
every tensor into tiny pieces; errors raised in a helper thread reach the caller as the
project's exceptions and leave no output and no thread behind.
"""

from __future__ import annotations

import json
import os
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tfckpt
import tfckpt.safetensors_io as sio
import tfckpt.storage._shards as shards_mod
import tfckpt.transformers as tt
from tfckpt.errors import CorruptionError, InvalidArgumentError
from tfckpt.safetensors_io import SafetensorsSpec, TensorPieces, write_safetensors
from tfckpt.transformers import _prefetch
from tfckpt.transformers._prefetch import Job, Prefetcher
from tfckpt.transformers._rules import TRANSFORMS

# random bytes cast to float32 overflow, as they would through astype: not what is tested here
pytestmark = pytest.mark.filterwarnings("ignore:.*encountered in cast:RuntimeWarning")

FIXTURES = Path(__file__).parent / "fixtures" / "transformers"
CASES = [("bert", "bert"), ("albert", "albert"), ("electra", "electra"), ("t5_v1_0", "t5"), ("t5_v1_1", "t5")]

#: Every numpy dtype a safetensors export can hold (the float8 ones through ml_dtypes).
DTYPES = [np.dtype(t) for t in (np.float64, np.float32, np.float16, ml_dtypes.bfloat16, np.int64, np.uint64, np.int32,
                                np.uint32, np.int16, np.uint16, np.int8, np.uint8, np.bool_, np.complex64,
                                ml_dtypes.float8_e5m2, ml_dtypes.float8_e4m3fn, ml_dtypes.float8_e4m3fnuz,
                                ml_dtypes.float8_e5m2fnuz)]
_FLOATS = {np.dtype(t) for t in (np.float64, np.float32, np.float16, ml_dtypes.bfloat16)}


def _random(dtype: np.dtype, shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Arbitrary bytes (NaNs, infinities, subnormals included) for the float types, values for the rest."""
    rng = np.random.default_rng(seed)
    if dtype == np.bool_:
        return rng.integers(0, 2, shape).astype(np.bool_)
    raw = rng.integers(0, 256, int(np.prod(shape)) * dtype.itemsize, dtype=np.uint8)
    return raw.view(dtype).reshape(shape)


def _same_bytes(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()


# -- the piecewise fill against numpy -----------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    dtype=st.sampled_from(DTYPES),
    shape=st.lists(st.integers(0, 150), min_size=0, max_size=3).map(tuple),
    layout=st.sampled_from(["c", "fortran", "strided"]),
    transform=st.sampled_from(["copy", "transpose"]),
    cast=st.booleans(),
    cut=st.tuples(st.integers(0, 200), st.integers(0, 200)),
    seed=st.integers(0, 2**16),
)
def test_rows_equal_numpys_transpose_and_astype(dtype: np.dtype, shape: tuple[int, ...], layout: str, transform: str,
                                                cast: bool, cut: tuple[int, int], seed: int) -> None:
    a = _random(dtype, shape, seed)
    if layout == "fortran":
        a = np.asfortranarray(a)
    elif layout == "strided" and a.ndim:  # every other row of a larger array
        a = np.repeat(a, 2, axis=0)[::2]
    out_dtype = np.dtype(np.float32) if cast and dtype in _FLOATS else dtype
    whole = TRANSFORMS[transform].array(a)
    expected = whole.astype(out_dtype)
    rows = expected.shape[0] if expected.ndim else 1
    begin, end = sorted((min(cut[0], rows), min(cut[1], rows)))
    if not expected.ndim:
        begin, end = 0, 1
    out = np.empty((end - begin, *expected.shape[1:]), out_dtype)
    TRANSFORMS[transform].rows(a, out, begin, end)
    assert _same_bytes(out, (expected[begin:end] if expected.ndim else expected.reshape(1)))


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_banded_transpose_of_large_matrices(dtype: np.dtype) -> None:
    """Matrices past the band size (64 rows), with odd sides, in C, Fortran and strided layouts."""
    a = _random(dtype, (301, 517), 1)
    for source in (a, np.asfortranarray(a), a[:, ::2], a[::3]):
        assert _same_bytes(TRANSFORMS["transpose"].array(source), np.ascontiguousarray(source.T))
        out = np.empty(source.shape[::-1], dtype)
        TRANSFORMS["transpose"].rows(source, out[100:], 100, source.shape[1])
        TRANSFORMS["transpose"].rows(source, out[:100], 0, 100)
        assert _same_bytes(out, np.ascontiguousarray(source.T))


# -- the prefetcher ----------------------------------------------------------------------------


def _jobs(specs: list[tuple[str, tuple[int, ...], str, bool]], seed: int = 0) -> tuple[dict[str, Job], dict[str, np.ndarray]]:
    """Jobs over random float32 sources, and what each must produce."""
    jobs: dict[str, Job] = {}
    expected: dict[str, np.ndarray] = {}
    for i, (name, shape, transform, cast) in enumerate(specs):
        source = _random(np.dtype(np.float64 if cast else np.float32), shape, seed + i)
        out = TRANSFORMS[transform].array(source).astype(np.float32)
        fill = None if transform == "copy" and not cast else TRANSFORMS[transform].rows
        jobs[name] = Job(name, lambda s=source: s, np.dtype(np.float32), out.shape, fill)  # type: ignore[misc]
        expected[name] = out
    return jobs, expected


def _collect(value: np.ndarray | TensorPieces) -> bytes:
    if isinstance(value, TensorPieces):
        return b"".join(np.ascontiguousarray(p).tobytes() for p in value.pieces)
    return np.ascontiguousarray(value).tobytes()


@settings(max_examples=60, deadline=None)
@given(
    specs=st.lists(
        st.tuples(st.lists(st.integers(0, 40), min_size=0, max_size=3).map(tuple), st.sampled_from(["copy", "transpose"]),
                  st.booleans()),
        min_size=1, max_size=12,
    ),
    piece_bytes=st.integers(1, 2000),
    buffers=st.integers(1, 4),
    workers=st.integers(1, 3),
)
def test_pieces_concatenate_to_the_whole_tensor(specs: list[tuple[tuple[int, ...], str, bool]], piece_bytes: int,
                                                buffers: int, workers: int) -> None:
    """Any piece size (rows larger than a piece included), any number of buffers and workers."""
    jobs, expected = _jobs([(f"t{i}", *spec) for i, spec in enumerate(specs)])
    order = list(jobs)
    with Prefetcher(jobs, workers=workers, piece_bytes=piece_bytes, buffers=buffers) as get:
        get.plan(order)
        for name in order:
            assert _collect(get(name)) == expected[name].tobytes(), name


def test_buffers_are_reused_only_after_the_writer_moves_on() -> None:
    """Every piece still holds its values when the next is requested (a buffer is not refilled
    while the writer may still be writing it)."""
    jobs, expected = _jobs([("a", (300, 70), "transpose", False), ("b", (5,), "copy", False), ("c", (90, 300), "transpose", True)])
    with Prefetcher(jobs, workers=3, piece_bytes=4096, buffers=2) as get:
        get.plan(list(jobs))
        for name in jobs:
            value = get(name)
            if not isinstance(value, TensorPieces):
                continue
            got = []
            for piece in value.pieces:
                snapshot = piece.tobytes()
                got.append(snapshot)
                threading.Event().wait(0.001)  # give the workers time to (wrongly) overwrite it
                assert piece.tobytes() == snapshot
            assert b"".join(got) == expected[name].tobytes()


def test_asking_out_of_the_planned_order_is_refused() -> None:
    jobs, _ = _jobs([("a", (3, 4), "transpose", False), ("b", (2,), "copy", False)])
    with Prefetcher(jobs) as get:
        get.plan(["a", "b"])
        with pytest.raises(RuntimeError, match="'b' requested out of the planned order"):
            get("b")


def _prefetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("tfckpt-prefetch")]


def test_an_error_in_a_helper_thread_reaches_the_writer_as_is() -> None:
    def corrupt() -> np.ndarray:
        raise CorruptionError("checksum mismatch", path="x.data-00000-of-00001", offset=16, tensor="k")

    jobs, _ = _jobs([("a", (40, 30), "transpose", False)])
    jobs["k"] = Job("k", corrupt, np.dtype(np.float32), (30, 40), TRANSFORMS["transpose"].rows)
    with pytest.raises(CorruptionError, match="checksum mismatch") as e, Prefetcher(jobs, piece_bytes=512) as get:
        get.plan(["a", "k"])
        _collect(get("a"))
        _collect(get("k"))
    assert e.value.tensor == "k"
    assert not _prefetch_threads()


def test_leaving_early_cancels_the_pieces_and_leaves_no_thread() -> None:
    jobs, _ = _jobs([(f"t{i}", (200, 100), "transpose", False) for i in range(20)])
    with pytest.raises(KeyboardInterrupt), Prefetcher(jobs, piece_bytes=1024, buffers=3) as get:
        get.plan(list(jobs))
        pieces = get("t0")
        assert isinstance(pieces, TensorPieces)
        next(iter(pieces.pieces))
        raise KeyboardInterrupt
    assert not _prefetch_threads()


# -- the export end to end ---------------------------------------------------------------------


@pytest.mark.parametrize("case,model", CASES)
@pytest.mark.parametrize("keep_dtype", [False, True])
def test_tiny_pieces_give_the_same_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str, model: str,
                                         keep_dtype: bool) -> None:
    """Forced to cut every tensor into pieces of 40 bytes with two buffers, the export writes
    the same bytes as with the defaults (and sharded output as well)."""
    ckpt = FIXTURES / case / "tf"
    tt.export(ckpt, tmp_path / "default", model=model, keep_dtype=keep_dtype)
    monkeypatch.setattr(_prefetch, "PIECE_BYTES", 40)
    monkeypatch.setattr(_prefetch, "BUFFERS", 2)
    monkeypatch.setattr(_prefetch, "AHEAD", 3)
    tt.export(ckpt, tmp_path / "tiny", model=model, keep_dtype=keep_dtype)
    for name in ("model.safetensors", "config.json"):
        assert (tmp_path / "tiny" / name).read_bytes() == (tmp_path / "default" / name).read_bytes()
    tt.export(ckpt, tmp_path / "sharded", model=model, keep_dtype=keep_dtype, max_shard_size=5000)
    whole = sio.SafetensorsFile(tmp_path / "default" / "model.safetensors")
    for shard in (tmp_path / "sharded").glob("model-*.safetensors"):
        part = sio.SafetensorsFile(shard)
        for name in part.names:
            assert _same_bytes(part.get(name), whole.get(name)), name


def _flip_byte_of(path: Path, value: np.ndarray) -> None:
    data = bytearray(path.read_bytes())
    at = data.find(value.tobytes())
    assert at >= 0
    data[at + 5] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("tensor", ["bert/encoder/layer_0/intermediate/dense/kernel", "bert/embeddings/word_embeddings"])
def test_a_corrupted_tensor_fails_the_export_naming_it_and_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                         tensor: str) -> None:
    """A checksum mismatch found in a helper thread (a transposed kernel, or a tensor passed as
    it is) is the reader's CorruptionError; no weights file, temporary file or thread remains."""
    with tfckpt.open(FIXTURES / "bert" / "tf") as src:
        values = {n: src.get_tensor(n, copy=True) for n in src}
    prefix = tmp_path / "ckpt" / "bert_model.ckpt"
    tfckpt.save(prefix, values)
    (tmp_path / "ckpt" / "bert_config.json").write_bytes((FIXTURES / "bert" / "tf" / "bert_config.json").read_bytes())
    _flip_byte_of(next((tmp_path / "ckpt").glob("*.data-*")), values[tensor])
    monkeypatch.setattr(_prefetch, "PIECE_BYTES", 256)  # the kernel in several pieces
    out = tmp_path / "out"
    with pytest.raises(CorruptionError, match="checksum mismatch") as e:
        tt.export(tmp_path / "ckpt", out, model="bert")
    assert e.value.tensor == tensor and e.value.path is not None and e.value.path.endswith(".data-00000-of-00001")
    assert not any(p.name.endswith(".safetensors") or ".tmp" in p.name for p in out.iterdir())
    assert not _prefetch_threads()


def test_memory_stays_at_the_piece_buffers_whatever_the_kernel_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A BERT whose kernels are 2 MiB each, exported with 64 KiB pieces: Python and numpy
    allocate less than one kernel at the peak (the one-tensor lookahead held two)."""
    hidden, intermediate = 256, 2048
    resize = {16: hidden, 32: intermediate}
    rng = np.random.default_rng(0)
    values: dict[str, np.ndarray] = {}
    with tfckpt.open(FIXTURES / "bert" / "tf") as src:
        for name in src:
            shape = tuple(resize.get(d, d) for d in src.shape(name))
            values[name] = rng.standard_normal(shape, dtype=np.float32) if src.dtype(name) == "float32" else src.get_tensor(name)
    config = json.loads((FIXTURES / "bert" / "tf" / "bert_config.json").read_text())
    config.update(hidden_size=hidden, intermediate_size=intermediate)
    tfckpt.save(tmp_path / "ckpt" / "bert_model.ckpt", values)
    (tmp_path / "ckpt" / "bert_config.json").write_text(json.dumps(config))
    kernel = "bert/encoder/layer_0/intermediate/dense/kernel"
    assert values[kernel].nbytes == 2 << 20
    monkeypatch.setattr(_prefetch, "PIECE_BYTES", 64 << 10)
    tracemalloc.start()
    try:
        tt.export(tmp_path / "ckpt", tmp_path / "out", model="bert")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < values[kernel].nbytes, peak
    out = sio.SafetensorsFile(tmp_path / "out" / "model.safetensors")
    assert _same_bytes(out.get("bert.encoder.layer.0.intermediate.dense.weight"), np.ascontiguousarray(values[kernel].T))


# -- the safetensors writer: pieces and early writeback ----------------------------------------


def _pieces(a: np.ndarray, rows: int) -> Iterator[np.ndarray]:
    for i in range(0, a.shape[0], rows):
        yield a[i : i + rows]


def test_pieces_write_the_same_bytes_as_whole_arrays(tmp_path: Path) -> None:
    arrays = {"w": _random(np.dtype(np.float32), (37, 11), 3), "b": _random(np.dtype(ml_dtypes.bfloat16), (5,), 4),
              "e": np.zeros((0, 3), np.int64)}
    specs = [SafetensorsSpec("w", "float32", (37, 11)), SafetensorsSpec("b", "bfloat16", (5,)), SafetensorsSpec("e", "int64", (0, 3))]
    write_safetensors(tmp_path / "whole.safetensors", specs, arrays.__getitem__)
    write_safetensors(tmp_path / "pieces.safetensors", specs,
                      lambda n: TensorPieces(arrays[n].dtype, arrays[n].shape, _pieces(arrays[n], 4)))
    assert (tmp_path / "pieces.safetensors").read_bytes() == (tmp_path / "whole.safetensors").read_bytes()


@pytest.mark.parametrize("pieces,message", [
    (lambda a: list(_pieces(a, 4))[:-1], r"expected 1628 bytes of float32\[37, 11\], the pieces held 1584"),
    (lambda a: [a, a[:1]], r"expected 1628 bytes of float32\[37, 11\], the pieces held 1672"),
])
def test_pieces_that_do_not_add_up_are_refused(tmp_path: Path, pieces: object, message: str) -> None:
    a = _random(np.dtype(np.float32), (37, 11), 3)
    path = tmp_path / "x.safetensors"
    with pytest.raises(InvalidArgumentError, match=message):
        write_safetensors(path, [SafetensorsSpec("w", "float32", (37, 11))],
                          lambda n: TensorPieces(a.dtype, a.shape, pieces(a)))  # type: ignore[operator]
    with pytest.raises(InvalidArgumentError, match=r"'w': expected float32\[37, 11\], got float64\[37, 11\]"):
        write_safetensors(path, [SafetensorsSpec("w", "float32", (37, 11))],
                          lambda n: TensorPieces(np.dtype(np.float64), a.shape, []))
    assert list(tmp_path.iterdir()) == []


def test_background_flushes_write_the_same_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a flush every 100 bytes, fdatasync runs in a helper thread while the file is
    written, and the bytes are the same."""
    arrays = {f"t{i}": _random(np.dtype(np.float32), (50,), i) for i in range(20)}
    specs = [SafetensorsSpec(n, "float32", (50,)) for n in arrays]
    write_safetensors(tmp_path / "plain.safetensors", specs, arrays.__getitem__)
    calls: list[str] = []
    real = os.fdatasync

    def fdatasync(fd: int) -> None:
        calls.append(threading.current_thread().name)
        real(fd)

    monkeypatch.setattr(shards_mod, "WRITEBACK_CHUNK", 100)  # the flusher shared with the writer
    monkeypatch.setattr(os, "fdatasync", fdatasync)
    write_safetensors(tmp_path / "flushed.safetensors", specs, arrays.__getitem__)
    assert (tmp_path / "flushed.safetensors").read_bytes() == (tmp_path / "plain.safetensors").read_bytes()
    assert calls and threading.main_thread().name not in calls


def test_a_failed_background_flush_fails_the_write_and_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fdatasync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(shards_mod, "WRITEBACK_CHUNK", 100)  # the flusher shared with the writer
    monkeypatch.setattr(os, "fdatasync", fdatasync)
    arrays = {f"t{i}": np.zeros(50, np.float32) for i in range(5)}
    with pytest.raises(OSError, match="Input/output error"):
        write_safetensors(tmp_path / "x.safetensors", [SafetensorsSpec(n, "float32", (50,)) for n in arrays], arrays.__getitem__)
    assert list(tmp_path.iterdir()) == []
