"""tfckpt.average without TensorFlow: tensor2tensor's arithmetic, weights, kinds, errors.
(tests/interop/test_average_interop.py has TensorFlow restore the outputs.)"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tfckpt


def _run(root: Path, n: int = 3) -> list[str]:
    rng = np.random.default_rng(1)
    paths = []
    for i in range(n):
        p = str(root / f"model.ckpt-{(i + 1) * 100}")
        tfckpt.save(p, {
            "dense/kernel": rng.normal(size=(4, 3)).astype(np.float32),
            "dense/kernel/Adam": rng.normal(size=(4, 3)).astype(np.float32),
            "emb": rng.normal(size=(5,)).astype(ml_dtypes.bfloat16),
            "half": rng.normal(size=(2,)).astype(np.float16),
            "beta1_power": np.float32(0.9 ** (i + 1)),
            "global_step": np.int64((i + 1) * 100),
            "vocab_size": np.int32(5 + i),
            "labels": [f"v{i}"],
        })
        paths.append(p)
    tfckpt.update_checkpoint_state(str(root), paths[-1], all_model_checkpoint_paths=paths)
    return paths


def _t2t(paths: list[str], name: str) -> np.ndarray:
    """tensor2tensor's avg_checkpoints: a float64 np.zeros accumulator, +=, /= count, cast."""
    with tfckpt.open(paths[0]) as c:
        acc = np.zeros(c.shape(name))
        dtype = c[name].dtype
    for p in paths:
        with tfckpt.open(p) as c:
            acc += c[name]
    acc /= len(paths)
    return acc.astype(dtype)


def test_mean_of_floats_newest_for_the_rest(tmp_path: Path) -> None:
    paths = _run(tmp_path / "run")
    tfckpt.average(paths, tmp_path / "avg" / "model.ckpt-300")
    with tfckpt.open(tmp_path / "avg" / "model.ckpt-300") as out:
        assert sorted(out) == ["beta1_power", "dense/kernel", "dense/kernel/Adam", "emb", "global_step", "half", "labels", "vocab_size"]
        for name in ("dense/kernel", "dense/kernel/Adam", "emb", "half", "beta1_power"):
            want = _t2t(paths, name)
            assert out[name].dtype == want.dtype and out[name].tobytes() == want.tobytes(), name
        assert out["global_step"] == 300 and out["vocab_size"] == 7 and out["labels"].tolist() == [b"v2"]


def test_directory_last_n_and_skip_optimizer(tmp_path: Path) -> None:
    paths = _run(tmp_path / "run", 4)
    tfckpt.average(tmp_path / "run", tmp_path / "avg", last=2, skip_optimizer=True)
    with tfckpt.open(tmp_path / "avg") as out:
        assert sorted(out) == ["dense/kernel", "emb", "global_step", "half", "labels", "vocab_size"]
        assert out["dense/kernel"].tobytes() == _t2t(paths[-2:], "dense/kernel").tobytes()
        assert out["global_step"] == 400


def test_weights(tmp_path: Path) -> None:
    paths = _run(tmp_path / "run", 2)
    tfckpt.average(paths, tmp_path / "avg", weights=[1, 3])
    with tfckpt.open(paths[0]) as a, tfckpt.open(paths[1]) as b, tfckpt.open(tmp_path / "avg") as out:
        want = ((a["dense/kernel"].astype(np.float64) * 1 + b["dense/kernel"].astype(np.float64) * 3) / 4).astype(np.float32)
        assert np.array_equal(out["dense/kernel"], want)
    with pytest.raises(tfckpt.InvalidArgumentError, match="2 weights for 1"):
        tfckpt.average(paths[:1], tmp_path / "x", weights=[1, 2])
    with pytest.raises(tfckpt.InvalidArgumentError, match="non-negative"):
        tfckpt.average(paths, tmp_path / "x", weights=[1, -2])


def test_object_based_keeps_the_graph_and_prunes_it_without_optimizer(tmp_path: Path) -> None:
    paths = []
    for i in range(2):
        p = str(tmp_path / f"ckpt-{i + 1}")
        tfckpt.save_objects(p, {"model": {"dense": {"kernel": np.full((2, 2), i, np.float32)}}}, save_counter=i + 1)
        paths.append(p)
    tfckpt.average(paths, tmp_path / "avg" / "ckpt-2")
    with tfckpt.open(tmp_path / "avg" / "ckpt-2") as out, tfckpt.open(paths[1]) as newest:
        assert out["_CHECKPOINTABLE_OBJECT_GRAPH"][()] == newest["_CHECKPOINTABLE_OBJECT_GRAPH"][()]
        assert out.variables() == newest.variables()
        assert float(out["model/dense/kernel/.ATTRIBUTES/VARIABLE_VALUE"][0, 0]) == 0.5
        assert out["save_counter/.ATTRIBUTES/VARIABLE_VALUE"] == 2


def test_disagreements_name_the_tensor_and_both_checkpoints(tmp_path: Path) -> None:
    tfckpt.save(tmp_path / "a", {"w": np.ones((2, 3), np.float32)})
    tfckpt.save(tmp_path / "b", {"w": np.ones((3, 2), np.float32)})
    tfckpt.save(tmp_path / "c", {"w": np.ones((2, 3), np.float64)})
    tfckpt.save(tmp_path / "d", {"v": np.ones((2, 3), np.float32)})
    with pytest.raises(tfckpt.InvalidArgumentError, match=r"'w' is float32\[3, 2\] in .*/b but float32\[2, 3\] in .*/a"):
        tfckpt.average([tmp_path / "b", tmp_path / "a"], tmp_path / "out")
    with pytest.raises(tfckpt.InvalidArgumentError, match=r"'w' is float64\[2, 3\] in .*/c but float32"):
        tfckpt.average([tmp_path / "c", tmp_path / "a"], tmp_path / "out")
    with pytest.raises(tfckpt.InvalidArgumentError, match=r"'w' of .*/a is missing from .*/d"):
        tfckpt.average([tmp_path / "d", tmp_path / "a"], tmp_path / "out")
    tfckpt.save_objects(tmp_path / "e", {"w": np.ones((2, 3), np.float32)})
    with pytest.raises(tfckpt.InvalidArgumentError, match="object-based"):
        tfckpt.average([tmp_path / "e", tmp_path / "a"], tmp_path / "out")
    with pytest.raises(tfckpt.NotFoundError, match="state file"):
        tfckpt.average(tmp_path, tmp_path / "out")
    assert not (tmp_path / "out.index").exists()


def test_signed_zeros_nans_and_complex_as_tensor2tensor(tmp_path: Path) -> None:
    values = [np.array([-0.0, -0.0, 1.0, np.nan, np.inf], np.float32), np.array([-0.0, 0.0, -1.0, 2.0, 1.0], np.float32)]
    cplx = [np.array([1 + 2j, -0.0 - 0.0j], np.complex64), np.array([3 - 1j, -0.0 - 0.0j], np.complex64)]
    paths = []
    for i in range(2):
        paths.append(str(tmp_path / f"c{i}"))
        tfckpt.save(paths[-1], {"v": values[i], "c": cplx[i]})
    tfckpt.average(paths, tmp_path / "avg")
    with tfckpt.open(tmp_path / "avg") as out:
        assert out["v"].tobytes() == _t2t(paths, "v").tobytes()  # -0.0 and -0.0 average to +0.0
        want = ((np.zeros(2, np.complex128) + cplx[0] + cplx[1]) / 2).astype(np.complex64)
        assert out["c"].tobytes() == want.tobytes()


@pytest.mark.parametrize("weights", [None, [1.0, 2.0, 0.5]])
def test_tensors_of_many_blocks_split_across_threads_match_tensor2tensor(tmp_path: Path, weights: list[float] | None) -> None:
    from tfckpt.tools.average import BLOCK_ELEMENTS

    rng = np.random.default_rng(7)
    size = 5 * BLOCK_ELEMENTS + 17  # several blocks per thread, a short last block
    paths = []
    for i in range(3):
        paths.append(str(tmp_path / f"c{i}"))
        tfckpt.save(paths[-1], {
            "f32": rng.normal(size=(size,)).astype(np.float32) * 10.0 ** i,
            "bf16": rng.normal(size=(size // 7, 7)).astype(ml_dtypes.bfloat16),
            "c64": (rng.normal(size=size) + 1j * rng.normal(size=size)).astype(np.complex64),
        })
    tfckpt.average(paths, tmp_path / "avg", weights=weights)
    w = [1.0] * 3 if weights is None else weights
    with tfckpt.open(tmp_path / "avg") as out:
        for name in ("f32", "bf16", "c64"):
            if weights is None and name != "c64":  # _t2t's float64 zeros take no complex
                want = _t2t(paths, name)
            else:
                arrays = []
                for p in paths:
                    with tfckpt.open(p) as c:
                        arrays.append(c[name].astype(np.complex128 if name == "c64" else np.float64))
                acc = np.zeros_like(arrays[0]) + sum(a * f for a, f in zip(arrays, w))
                want = (acc / sum(w)).astype(out[name].dtype)
            assert out[name].dtype == want.dtype and out[name].tobytes() == want.tobytes(), name


# -- the pipeline: chunks on threads, checksums in the same pass -------------------------

_DTYPES = {
    "float32": np.float32, "float64": np.float64, "float16": np.float16, "bfloat16": ml_dtypes.bfloat16,
    "float8_e4m3fn": ml_dtypes.float8_e4m3fn, "float8_e5m2": ml_dtypes.float8_e5m2, "complex64": np.complex64,
}  # fmt: skip


def _expected(arrays: list[np.ndarray], weights: list[float] | None) -> np.ndarray:
    """tensor2tensor's arithmetic (weighted: acc = 0 + w0*x0 + w1*x1 ..., / sum(w)), whole tensors."""
    acc_dtype = np.complex128 if arrays[0].dtype.kind == "c" else np.float64
    w = [1.0] * len(arrays) if weights is None else weights
    acc = np.zeros(arrays[0].shape, acc_dtype)
    for a, f in zip(arrays, w):
        acc += a.astype(acc_dtype) if weights is None else a.astype(acc_dtype) * f
    return (acc / (len(arrays) if weights is None else sum(w))).astype(arrays[0].dtype)


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of 16 elements, chunks of 3 blocks: every path through the loops on small data."""
    from tfckpt.tools import average as module

    monkeypatch.setattr(module, "BLOCK_ELEMENTS", 16)
    monkeypatch.setattr(module, "CHUNK_ELEMENTS", 48)


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize("dtype", list(_DTYPES))
@pytest.mark.parametrize("weights", [None, [0.5, 2.0, 1.0, 0.25]])
def test_chunks_and_blocks_of_every_size_match_tensor2tensor(tmp_path: Path, dtype: str, weights: list[float] | None) -> None:
    rng = np.random.default_rng(3)
    sizes = [(0,), (1,), (15,), (16,), (17,), (47,), (48,), (49,), (7, 14), (5, 48), (200,)]  # around block and chunk edges
    arrays: list[dict[str, np.ndarray]] = []
    for i in range(4):
        tensors = {}
        for shape in sizes:
            values = rng.normal(size=shape) * 4.0 ** i
            if dtype == "complex64":
                values = values + 1j * rng.normal(size=shape)
            tensors[f"t{'x'.join(map(str, shape))}"] = values.astype(_DTYPES[dtype])
        arrays.append(tensors)
        tfckpt.save(tmp_path / f"c{i}", tensors)
    tfckpt.average([tmp_path / f"c{i}" for i in range(4)], tmp_path / "avg", weights=weights)
    with tfckpt.open(tmp_path / "avg") as out:
        for name in arrays[0]:
            want = _expected([a[name] for a in arrays], weights)
            assert out.dtype(name) == dtype and out[name].shape == want.shape
            assert out[name].tobytes() == want.tobytes(), name


@given(
    n=st.integers(1, 5),
    size=st.integers(0, 300),
    block=st.integers(1, 40),
    blocks_per_chunk=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_block_and_chunk_size_gives_tensor2tensors_bytes(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, n: int, size: int, block: int,
    blocks_per_chunk: int, seed: int,
) -> None:  # fmt: skip
    from tfckpt.tools import average as module

    monkeypatch.setattr(module, "BLOCK_ELEMENTS", block)
    monkeypatch.setattr(module, "CHUNK_ELEMENTS", block * blocks_per_chunk)
    root = tmp_path_factory.mktemp("run")
    rng = np.random.default_rng(seed)
    # wide exponents, signed zeros, infinities and NaNs: where a change of order would show
    pool = np.array([0.0, -0.0, 1e-45, -3e38, 3e38, np.inf, np.nan, 1.0, -1.0, 1e-8, 7.0], np.float32)
    arrays = [np.where(rng.random(size) < 0.3, rng.choice(pool, size), rng.normal(size=size) * 10.0 ** rng.integers(-30, 30, size)).astype(np.float32)
              for _ in range(n)]  # fmt: skip
    for i, a in enumerate(arrays):
        tfckpt.save(root / f"c{i}", {"v": a})
    with np.errstate(all="ignore"):
        tfckpt.average([root / f"c{i}" for i in range(n)], root / "avg")
        want = _expected(arrays, None)
    with tfckpt.open(root / "avg") as out:
        assert out["v"].tobytes() == want.tobytes()


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def _fails_cleanly(paths: list[Path] | list[str], out: Path, error: type[BaseException], match: str | None = None) -> Any:
    """average(paths, out / "avg") raises ``error``, leaves no thread running and nothing in ``out``."""
    import threading

    before = set(threading.enumerate())
    out.mkdir()
    with pytest.raises(error, match=match) as info:
        tfckpt.average(paths, out / "avg")
    assert set(threading.enumerate()) <= before
    assert _leftovers(out) == []
    return info


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize("chunk", [0, 1, 4])  # the first, a middle and the last chunk of the tensor
def test_a_damaged_input_found_in_the_averaging_pass_raises_and_writes_nothing(tmp_path: Path, chunk: int) -> None:
    rng = np.random.default_rng(5)
    for i in range(3):
        tfckpt.save(tmp_path / f"c{i}", {"a": np.ones(3, np.float32), "w": rng.normal(size=200).astype(np.float32)})
    with tfckpt.open(tmp_path / "c1") as c:
        offset = c._source.entry("w").offset  # type: ignore[attr-defined]
    data = tmp_path / "c1.data-00000-of-00001"
    raw = bytearray(data.read_bytes())
    raw[offset + chunk * 48 * 4 + 5] ^= 0x10
    data.write_bytes(bytes(raw))
    (tmp_path / "out").mkdir()
    with pytest.raises(tfckpt.CorruptionError, match="checksum mismatch") as info:
        tfckpt.average([tmp_path / f"c{i}" for i in range(3)], tmp_path / "out" / "avg")
    assert info.value.tensor == "w" and info.value.path is not None and info.value.path.endswith("c1.data-00000-of-00001")
    assert info.value.offset == offset
    assert _leftovers(tmp_path / "out") == []


@pytest.mark.usefixtures("small_chunks")
def test_an_error_in_a_compute_thread_reaches_the_caller_and_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tfckpt.tools import average as module

    for i in range(2):
        tfckpt.save(tmp_path / f"c{i}", {"a": np.full(100, i, np.float32), "b": np.full(300, i, np.float32)})
    real = module._chunk
    calls = []

    def failing(*args: object) -> object:
        calls.append(args[2])
        if args[2] == 96:  # the third chunk of "b"
            raise tfckpt.CorruptionError("simulated", path="x", tensor="b")
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(module, "_chunk", failing)
    _fails_cleanly([tmp_path / "c0", tmp_path / "c1"], tmp_path / "out", tfckpt.CorruptionError, "simulated")
    assert 96 in calls


@pytest.mark.usefixtures("small_chunks")
def test_partitioned_and_mapped_inputs_mix(tmp_path: Path) -> None:
    """An input stored in slices is read (and checked) by the reader, the others are mapped
    and checked in the averaging pass: the same bytes either way."""
    rng = np.random.default_rng(9)
    arrays = [rng.normal(size=(10, 30)).astype(np.float32) for _ in range(3)]
    for i, a in enumerate(arrays):
        with tfckpt.Writer(tmp_path / f"c{i}") as w:
            if i == 1:
                w.add_slice("v", a[:4], full_shape=a.shape, start=(0, 0))
                w.add_slice("v", a[4:], full_shape=a.shape, start=(4, 0))
            else:
                w.add("v", a)
    tfckpt.average([tmp_path / f"c{i}" for i in range(3)], tmp_path / "avg")
    with tfckpt.open(tmp_path / "avg") as out:
        assert out["v"].tobytes() == _expected(arrays, None).tobytes()


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16", "float8_e4m3fn", "float8_e5m2"])
def test_bitwise_equal_inputs_take_the_shortcut_with_tensor2tensors_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dtype: str
) -> None:
    """Frozen weights: inputs stored with one checksum and equal bytes skip the sum (the
    full path is made to fail to prove it), and give tensor2tensor's bytes: -0.0 becomes
    0.0, infinities, NaNs, subnormals and the largest values stay."""
    from tfckpt.tools import average as module

    info = ml_dtypes.finfo(_DTYPES[dtype])
    specials = [-0.0, 0.0, float(info.max), -float(info.max), float(info.smallest_subnormal), np.nan, 1.0, -3.5]
    if dtype != "float8_e4m3fn":  # no infinities in e4m3fn
        specials += [np.inf, -np.inf]
    rng = np.random.default_rng(11)
    with np.errstate(over="ignore"):
        frozen = np.concatenate([np.array(specials), rng.normal(size=150)]).astype(_DTYPES[dtype])
    paths = []
    for i in range(5):
        paths.append(tmp_path / f"c{i}")
        tfckpt.save(paths[-1], {"frozen": frozen})

    def unused(*args: object) -> list[int]:
        raise AssertionError("the full sum ran for equal inputs")

    monkeypatch.setattr(module, "_mean_range", unused)
    tfckpt.average(paths, tmp_path / "avg")
    with np.errstate(all="ignore"):
        want = _expected([frozen] * 5, None)
    with tfckpt.open(tmp_path / "avg") as out:
        assert out["frozen"].tobytes() == want.tobytes()
        assert np.signbit(out["frozen"][0].astype(np.float32)) == np.False_  # -0.0 became 0.0


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize("differ_at", [None, 0, 37, 47])  # equal throughout, in the first, a middle, the last block
def test_the_shortcut_falls_back_to_the_sum_from_the_first_block_that_differs(
    monkeypatch: pytest.MonkeyPatch, differ_at: int | None
) -> None:
    from tfckpt.format._coding import crc32c
    from tfckpt.tools import average as module

    rng = np.random.default_rng(12)
    base = rng.normal(size=48).astype(np.float32)
    other = base.copy()
    if differ_at is not None:
        other[differ_at] = 7.0
    arrays = [base, other, base]
    starts: list[int] = []
    real = module._mean_range

    def spy(*args: object) -> list[int]:
        starts.append(args[2])  # type: ignore[arg-type]
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(module, "_mean_range", spy)
    flat = np.empty(48, np.float32)
    crcs = module._alike_range([module._Input(a, 0) for a in arrays], flat, 0, 48, np.float64, None, 3.0)
    assert flat.tobytes() == _expected(arrays, None).tobytes()
    assert crcs == [crc32c(a.tobytes()) for a in arrays]  # each input's own checksum, the ranges combined
    assert starts == ([] if differ_at is None else [differ_at // 16 * 16])  # summed from that block on only


def test_the_readers_unverified_view_is_read_without_its_check(tmp_path: Path) -> None:
    """BundleReader.unverified: the array read() maps and the checksum its bytes must have;
    None wherever read() takes another path (then average reads through it)."""
    from tfckpt.format._coding import crc32c

    values = {"w": np.arange(12, dtype=np.float32).reshape(3, 4), "empty": np.zeros((0, 2), np.float32), "s": ["a"]}
    with tfckpt.Writer(tmp_path / "c") as w:
        for name, value in values.items():
            w.add(name, value)
        w.add_slice("part", np.ones((2, 2), np.float32), full_shape=(4, 2), start=(0, 0))
        w.add_slice("part", np.ones((2, 2), np.float32), full_shape=(4, 2), start=(2, 0))
    with tfckpt.open(tmp_path / "c") as c:
        reader = c._source
        got = reader.unverified("w")  # type: ignore[attr-defined]
        assert got is not None
        array, crc = got
        assert np.array_equal(array, values["w"]) and crc == crc32c(values["w"].tobytes())
        assert [reader.unverified(n) for n in ("empty", "s", "part", "missing")] == [None] * 4  # type: ignore[attr-defined]
    with tfckpt.open(tmp_path / "c", verify=False) as c:
        assert c._source.unverified("w") is None  # type: ignore[attr-defined]  # nothing to check against


def _large_then_small(root: Path) -> tuple[list[str], list[dict[str, np.ndarray]]]:
    """Three checkpoints of one 2,000-element tensor, twelve of 10, a step and a string (in
    key order: copied tensors between averaged ones)."""
    rng = np.random.default_rng(11)
    arrays = []
    for i in range(3):
        tensors: dict[str, np.ndarray] = {"a_large": rng.normal(size=2000).astype(np.float32)}
        tensors.update({f"b{j:02d}": rng.normal(size=10).astype(np.float32) for j in range(12)})
        tensors.update({"b05_step": np.int64(i), "b09_name": np.array([f"v{i}".encode()], object)})
        tfckpt.save(root / f"c{i}", tensors)
        arrays.append(tensors)
    return [str(root / f"c{i}") for i in range(3)], arrays


def _check_means(out_prefix: Path, arrays: list[dict[str, np.ndarray]]) -> None:
    with tfckpt.open(out_prefix) as out:
        assert sorted(out) == sorted(arrays[0])
        for name in arrays[0]:
            if out.dtype(name) == "float32":
                assert out[name].tobytes() == _expected([a[name] for a in arrays], None).tobytes(), name
            else:
                assert out[name].tolist() == np.asarray(arrays[-1][name]).tolist(), name


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize("failing", ["a_large", "b03", "b11"])  # the first, a middle, the last averaged tensor
def test_a_failed_chunk_write_raises_leaves_no_thread_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    """A compute thread's write into the reserved bytes fails (a full disk): the error
    reaches the caller once the chunks queued are done or dropped, and nothing is left."""
    from tfckpt.writer import Reserved

    paths, _ = _large_then_small(tmp_path)
    with tfckpt.open(paths[0]) as c:
        names = list(c)
    real = Reserved.write
    failing_row = names.index(failing)  # averaged and copied tensors take rows in key order

    def write(self: Reserved, data: memoryview, at: int) -> None:
        if self.row == failing_row:
            raise OSError(28, "No space left on device (simulated)")
        real(self, data, at)

    monkeypatch.setattr(Reserved, "write", write)
    _fails_cleanly(paths, tmp_path / "out", OSError, "simulated")


@pytest.mark.usefixtures("small_chunks")
def test_a_failed_copy_with_chunks_queued_raises_leaves_no_thread_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tfckpt.writer import Writer

    paths, _ = _large_then_small(tmp_path)
    real_add = Writer.add

    def add(self: Writer, name: str, value: np.ndarray, **kwargs: object) -> None:
        if name == "b05_step":  # copied while the chunks of the tensors before it are queued
            raise OSError(28, "No space left on device (simulated)")
        real_add(self, name, value, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Writer, "add", add)
    _fails_cleanly(paths, tmp_path / "out", OSError, "simulated")


@pytest.mark.usefixtures("small_chunks")
def test_a_damaged_small_tensor_behind_queued_chunks_raises_and_leaves_no_thread(tmp_path: Path) -> None:
    paths, _ = _large_then_small(tmp_path)
    with tfckpt.open(paths[2]) as c:
        offset = c._source.entry("b07").offset  # type: ignore[attr-defined]
    data = Path(paths[2] + ".data-00000-of-00001")
    raw = bytearray(data.read_bytes())
    raw[offset + 9] ^= 0x01
    data.write_bytes(bytes(raw))
    info = _fails_cleanly(paths, tmp_path / "out", tfckpt.CorruptionError)
    assert info.value.tensor == "b07" and info.value.path is not None and info.value.path.endswith("c2.data-00000-of-00001")
    assert info.value.offset == offset


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize("lookahead", [0, 1, 2, 7])
@pytest.mark.parametrize("workers", [1, 2, 4])
def test_any_lookahead_and_thread_count_give_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lookahead: int, workers: int
) -> None:
    """Tensors started ahead (none: each one computed and recorded before the next starts)
    and the threads computing the chunks change the order of the work, never the bytes."""
    from tfckpt.tools import average as module

    paths, arrays = _large_then_small(tmp_path)
    monkeypatch.setattr(module, "LOOKAHEAD", lookahead)
    monkeypatch.setattr(module.os, "cpu_count", lambda: workers)
    tfckpt.average(paths, tmp_path / "avg")
    _check_means(tmp_path / "avg", arrays)


def _whole_tensor_reference(paths: list[Path], dst: Path, weights: list[float] | None, skip_optimizer: bool,
                            max_shard_size: int | None) -> None:  # fmt: skip
    """What average wrote before its outputs went straight into the shard: each key of the
    newest checkpoint in its order, a whole array through Writer.add (the mean with
    tensor2tensor's arithmetic, the newest value, or the object graph pruned the same way)."""
    from tfckpt.objects import OBJECT_GRAPH_KEY
    from tfckpt.tools import average as module

    ckpts = [tfckpt.open(p) for p in paths]
    try:
        newest = ckpts[-1]
        with tfckpt.Writer(dst, max_shard_size=max_shard_size) as w:
            keys = module._keys(newest, skip_optimizer)
            for key in keys:
                dtype = newest.dtype(key)
                if key == OBJECT_GRAPH_KEY:
                    graph = bytes(newest[key][()])
                    value = np.array(module._prune_graph(graph, set(keys)) if skip_optimizer else graph, dtype=object)
                elif dtype in module.AVERAGED_DTYPES and not module._is_counter(key):
                    value = _expected([c[key] for c in ckpts], weights)
                else:
                    value = newest[key]
                w.add(key, value, dtype=dtype)
    finally:
        for c in ckpts:
            c.close()


def _files(prefix: Path) -> dict[str, bytes]:
    return {p.name[len(prefix.name) :]: p.read_bytes() for p in sorted(prefix.parent.iterdir()) if p.name.startswith(prefix.name + ".")}


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize("kind", ["names", "objects"])
@pytest.mark.parametrize(("weights", "skip_optimizer", "max_shard_size"), [
    (None, False, None), ([1.0, 3.0, 0.5], False, None), (None, True, None), (None, False, 300), ([2.0, 0.0, 1.0], True, 1),
])  # fmt: skip
def test_every_option_writes_the_files_a_whole_tensor_writer_writes(
    tmp_path: Path, kind: str, weights: list[float] | None, skip_optimizer: bool, max_shard_size: int | None
) -> None:
    """Index and data files byte for byte as Writer.add of whole tensors in the same order
    would write them (what average did before): dtypes, weights, optimizer state dropped,
    several shards (a limit of 1 byte: a shard per tensor), empty tensors, TF1 and TF2."""
    rng = np.random.default_rng(21)
    paths = []
    for i in range(3):
        model = {
            "dense": {"kernel": rng.normal(size=(40, 3)).astype(np.float32), "bias": np.zeros((0,), np.float32)},
            "emb": rng.normal(size=(9, 5)).astype(ml_dtypes.bfloat16),
            "half": rng.normal(size=(70,)).astype(np.float16),
            "c": (rng.normal(size=33) + 1j).astype(np.complex64),
            "ids": np.arange(5, dtype=np.int32) + i,
        }
        paths.append(tmp_path / f"c{i}")
        if kind == "objects":
            tfckpt.save_objects(paths[-1], {"model": model}, save_counter=i + 1)
        else:
            flat = {f"model/{k}/{kk}": vv for k, v in model.items() if isinstance(v, dict) for kk, vv in v.items()}
            flat.update({f"model/{k}": v for k, v in model.items() if not isinstance(v, dict)})
            flat.update({"model/dense/kernel/Adam": rng.normal(size=(40, 3)).astype(np.float32), "global_step": np.int64(i)})
            tfckpt.save(paths[-1], flat)
    tfckpt.average(paths, tmp_path / "out" / "avg", weights=weights, skip_optimizer=skip_optimizer, max_shard_size=max_shard_size)
    _whole_tensor_reference(paths, tmp_path / "ref" / "avg", weights, skip_optimizer, max_shard_size)
    got, want = _files(tmp_path / "out" / "avg"), _files(tmp_path / "ref" / "avg")
    assert list(got) == list(want) and (max_shard_size != 1 or len(want) > 5)
    assert got == want


def test_memory_stays_at_a_few_chunks_for_a_large_tensor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No output the size of the tensor: each thread computes a chunk into its own buffer
    and writes it into the shard (numpy's allocations are traced by tracemalloc)."""
    import tracemalloc

    from tfckpt.tools import average as module

    monkeypatch.setattr(module, "BLOCK_ELEMENTS", 1 << 12)
    monkeypatch.setattr(module, "CHUNK_ELEMENTS", 1 << 14)
    rng = np.random.default_rng(4)
    arrays = [rng.normal(size=1 << 22).astype(np.float32) for _ in range(3)]  # 16 MiB each
    for i, a in enumerate(arrays):
        tfckpt.save(tmp_path / f"c{i}", {"w": a})
    tracemalloc.start()
    try:
        tfckpt.average([tmp_path / f"c{i}" for i in range(3)], tmp_path / "avg")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, peak  # threads x (a 64 KiB chunk + 2 x 32 KiB blocks), the writer's buffer, the index
    with tfckpt.open(tmp_path / "avg") as out:
        assert out["w"].tobytes() == _expected(arrays, None).tobytes()


def test_reserved_bytes_written_in_any_order_from_threads_are_the_bytes_add_writes(tmp_path: Path) -> None:
    """Writer._reserve / Reserved.write / Writer._fill, the path average writes through:
    the same files as add(), with copies added between reservations; finish refuses while
    a reservation is unfilled (and leaves nothing); strings cannot be reserved."""
    from concurrent.futures import ThreadPoolExecutor

    from tfckpt.format._coding import crc32c
    from tfckpt.format._dtypes import dtype_for_array

    rng = np.random.default_rng(8)
    values = {"a": rng.normal(size=(64, 4)).astype(np.float32), "b": np.arange(3, dtype=np.int64),
              "c": rng.normal(size=100).astype(ml_dtypes.bfloat16), "d": np.zeros((0, 3), np.float64)}  # fmt: skip
    with tfckpt.Writer(tmp_path / "ref" / "x") as ref:
        for name, value in values.items():
            ref.add(name, value)
    with tfckpt.Writer(tmp_path / "got" / "x") as w, ThreadPoolExecutor(3) as pool:
        for name, value in values.items():
            if name == "b":
                w.add(name, value)
                continue
            info = dtype_for_array(value.dtype)
            assert info is not None
            reserved = w._reserve(name, info.name, value.shape)
            raw = value.reshape(-1).view(np.uint8)
            parts = [(a, min(a + 40, raw.size)) for a in range(0, raw.size, 40)][::-1]  # last piece first
            list(pool.map(lambda p, r=reserved, b=raw: r.write(b[p[0] : p[1]].data, p[0]), parts))  # type: ignore[misc]
            w._fill(reserved, crc32c(raw.data))
    assert _files(tmp_path / "got" / "x") == _files(tmp_path / "ref" / "x")
    (tmp_path / "bad").mkdir()
    with pytest.raises(tfckpt.InvalidArgumentError, match="never written, e.g. 'w'"), tfckpt.Writer(tmp_path / "bad" / "x") as w:
        w._reserve("w", "float32", (4,))
    assert _leftovers(tmp_path / "bad") == []
    with tfckpt.Writer(tmp_path / "str" / "x") as w:
        with pytest.raises(tfckpt.InvalidArgumentError, match="no fixed-width bytes"):
            w._reserve("s", "string", (1,))
        reserved = w._reserve("v", "int8", (2,))
        with pytest.raises(ValueError, match="do not fit"):
            reserved.write(memoryview(b"abc"), 0)
        reserved.write(memoryview(b"ab"), 0)
        w._fill(reserved, crc32c(b"ab"))
        with pytest.raises(tfckpt.InvalidArgumentError, match="duplicate"):
            w._reserve("v", "int8", (2,))


@pytest.mark.usefixtures("small_chunks")
def test_a_writer_abandoned_while_chunks_are_written_leaves_other_files_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A copied tensor's write fails and the writer abandons its files (as Writer does on
    an OSError) while compute threads still write chunks: they write through descriptors
    of their own, never into a file opened after (which may get a closed descriptor's
    number), and every descriptor is closed in the end."""
    import threading
    import time

    from tfckpt.tools import average as module
    from tfckpt.writer import Reserved, Writer

    paths, _ = _large_then_small(tmp_path)
    monkeypatch.setattr(module, "LOOKAHEAD", 100)  # the copy comes while a_large's chunks are written
    real_write = Reserved.write
    writing = threading.Event()
    others = []

    def slow_write(self: Reserved, data: memoryview, at: int) -> None:
        writing.set()
        time.sleep(0.002)
        real_write(self, data, at)

    def failing_add(self: Writer, name: str, value: object, dtype: str | None) -> None:
        assert writing.wait(10)
        self.abandon()  # what Writer._write_payload does when the write fails
        others.append(open(tmp_path / "other", "wb"))  # noqa: SIM115 - closed below
        raise OSError(28, "No space left on device (simulated)")

    monkeypatch.setattr(Reserved, "write", slow_write)
    monkeypatch.setattr(Writer, "_add_general", failing_add)
    import gc

    gc.collect()  # earlier tests' garbage may hold descriptors (mappings)
    fds = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    _fails_cleanly(paths, tmp_path / "out", OSError, "simulated")
    others[0].close()
    assert (tmp_path / "other").read_bytes() == b""
    if fds is not None:
        gc.collect()  # the traceback's frames hold the inputs' mappings (each maps through a descriptor)
        assert len(os.listdir("/proc/self/fd")) == fds


# -- output written directly to the disk (O_DIRECT) ---------------------------------------


@given(
    offset=st.integers(0, 3 * 4096),
    nbytes=st.integers(0, 5 * 4096),
    misalign=st.sampled_from([0, 0, 4, 6, 100]),
    direct=st.sampled_from(["open", "none", "refused"]),
)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_write_at_direct_writes_every_byte_where_it_belongs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, offset: int, nbytes: int, misalign: int,
    direct: str,
) -> None:  # fmt: skip
    """Whole pages directly, the partial pages at both ends through the page cache, and
    everything through the page cache where memory and file pages do not line up, the file
    system has no O_DIRECT or refuses a direct write (EINVAL): the same bytes, nothing else
    touched."""
    import errno
    from unittest import mock

    from tfckpt.storage import _shards

    monkeypatch.setattr(_shards, "DIRECT_MIN", 4096)  # small data reaches the direct path
    path = tmp_path_factory.mktemp("direct") / "f"
    background = np.frombuffer(os.urandom(offset + nbytes + 4096), np.uint8)
    path.write_bytes(background.tobytes())
    raw = np.empty(nbytes + 3 * 4096, np.uint8)
    start = -raw.ctypes.data % 4096 + offset % 4096 + misalign  # the file's place in a page, shifted by misalign
    data = raw[start : start + nbytes]
    data[:] = np.frombuffer(os.urandom(nbytes), np.uint8)
    fd = os.open(path, os.O_WRONLY)
    direct_fd = _shards.open_direct(str(path)) if direct != "none" else -1
    real_pwrite, direct_writes = os.pwrite, []

    def pwrite(target: int, buffer: memoryview, at: int) -> int:
        if target == direct_fd >= 0:
            direct_writes.append((at, len(buffer)))
            if direct == "refused":
                raise OSError(errno.EINVAL, "Invalid argument (simulated)")
        return real_pwrite(target, buffer, at)

    try:
        with mock.patch.object(os, "pwrite", pwrite):  # undone before the next example (a monkeypatch would stack)
            written = _shards.write_at_direct(fd, direct_fd, data.data, offset, data.ctypes.data)
    finally:
        os.close(fd)
        if direct_fd >= 0:
            os.close(direct_fd)
    want = background.copy()
    want[offset : offset + nbytes] = data
    assert path.read_bytes() == want.tobytes()
    for at, size in direct_writes:
        assert at % 4096 == 0 and size % 4096 == 0 and offset <= at and at + size <= offset + nbytes
    assert written == (0 if direct == "refused" else sum(size for _, size in direct_writes))  # what went directly
    if direct == "open" and direct_fd >= 0 and misalign == 0 and nbytes - (-offset % 4096) >= 4096:
        assert direct_writes  # whole pages that line up went the direct way


def _direct_run(root: Path) -> list[Path]:
    """Three checkpoints whose large tensors start at every kind of offset in the data file:
    odd-sized small tensors of several dtypes between them."""
    rng = np.random.default_rng(31)
    paths = []
    for i in range(3):
        tensors: dict[str, np.ndarray] = {
            "a": rng.normal(size=3).astype(np.float16),  # 6 bytes: the next tensor starts off a 4-byte boundary
            "b_large": rng.normal(size=70_000).astype(np.float32),
            "c_step": np.int8(i),
            "d_large": rng.normal(size=(300, 130)).astype(ml_dtypes.bfloat16),
            "e": rng.normal(size=5).astype(np.float32),
            "f_large": (rng.normal(size=9000) + 1j).astype(np.complex64),
            "g_large": rng.normal(size=20_001).astype(np.float64),
        }
        tfckpt.save(root / f"c{i}", tensors)
        paths.append(root / f"c{i}")
    return paths


@pytest.mark.parametrize("direct", [True, False])
@pytest.mark.parametrize("weights", [None, [1.0, 2.0, 0.5]])
def test_outputs_written_directly_or_not_are_the_files_a_whole_tensor_writer_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, direct: bool, weights: list[float] | None
) -> None:
    """Chunks of large tensors at aligned and unaligned offsets go to the disk directly
    (checked: direct writes happened) or, without O_DIRECT, through the page cache: the files
    are byte for byte those of Writer.add of whole tensors."""
    from tfckpt import writer as writer_module
    from tfckpt.storage import _shards
    from tfckpt.tools import average as module

    monkeypatch.setattr(module, "BLOCK_ELEMENTS", 1 << 12)
    monkeypatch.setattr(module, "CHUNK_ELEMENTS", 1 << 14)
    monkeypatch.setattr(writer_module, "DIRECT_MIN", 16 << 10)
    monkeypatch.setattr(_shards, "DIRECT_MIN", 16 << 10)
    opened: list[int] = []
    real_open = _shards.open_direct

    def open_direct(path: str) -> int:
        fd = real_open(path) if direct else -1
        opened.append(fd)
        return fd

    monkeypatch.setattr(writer_module, "open_direct", open_direct)
    direct_writes = []
    real_write_at = _shards.write_at

    def write_at(fd: int, data: memoryview, offset: int) -> None:
        if fd in opened:
            direct_writes.append(offset)
        real_write_at(fd, data, offset)

    monkeypatch.setattr(_shards, "write_at", write_at)
    paths = _direct_run(tmp_path)
    tfckpt.average(paths, tmp_path / "out" / "avg", weights=weights)
    _whole_tensor_reference(paths, tmp_path / "ref" / "avg", weights, False, None)
    assert _files(tmp_path / "out" / "avg") == _files(tmp_path / "ref" / "avg")
    if direct and any(fd >= 0 for fd in opened):  # a file system with O_DIRECT
        assert direct_writes and all(offset % 4096 == 0 for offset in direct_writes)
    else:
        assert not direct_writes
