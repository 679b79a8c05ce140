"""TensorFlow reads what tfckpt writes: values through ``tf.train.load_checkpoint``, graph
variables through ``tf.compat.v1.train.Saver``, and bytes against ``tf.raw_ops.SaveV2``."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np
import pytest

import tfckpt

tf = pytest.importorskip("tensorflow")

QUANTIZED = {"qint8": np.int8, "quint8": np.uint8, "qint16": np.int16, "quint16": np.uint16, "qint32": np.int32}
ML = ["bfloat16", "float8_e5m2", "float8_e4m3fn", "float8_e4m3fnuz", "float8_e4m3b11fnuz", "float8_e5m2fnuz"]
ML += ["int4", "uint4", "int2", "uint2", "float4_e2m1fn"]
PLAIN = ["float16", "float32", "float64", "complex64", "complex128", "bool"]
PLAIN += ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]
ALL_DTYPES = PLAIN + ML + list(QUANTIZED) + ["string"]


def sample(dtype: str, shape: tuple[int, ...], seed: int = 0) -> Any:
    """A tfckpt-ready value: numpy/ml_dtypes array, plain ints for quantized, bytes list for strings."""
    n = int(np.prod(shape))
    rng = np.random.default_rng(seed + len(dtype))
    if dtype == "string":
        pool = [b"", b"\x00", b"a\x00b", b"\xff\xfe", "\u00e9t\u00e9".encode(), b"x" * 200]
        out = np.empty(n, dtype=object)
        for i in range(n):
            out[i] = pool[(i + seed) % len(pool)]
        return out.reshape(shape)
    if dtype in QUANTIZED:
        info = np.iinfo(QUANTIZED[dtype])
        return rng.integers(info.min, info.max, size=shape, endpoint=True).astype(QUANTIZED[dtype])
    if dtype == "bool":
        return rng.integers(0, 2, size=shape).astype(bool)
    if dtype.startswith(("int", "uint")) and dtype not in ML:
        info = np.iinfo(np.dtype(dtype))
        return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=np.dtype(dtype))
    if dtype in ("int4", "uint4", "int2", "uint2"):
        info = ml_dtypes.iinfo(getattr(ml_dtypes, dtype))
        return rng.integers(int(info.min), int(info.max), size=shape, endpoint=True).astype(getattr(ml_dtypes, dtype))
    values = rng.normal(0, 3, size=shape).astype(np.float32)
    if dtype.startswith("complex"):
        return (values + 1j * values[::-1] if values.ndim else values + 1j).astype(dtype)
    return values.astype(getattr(ml_dtypes, dtype) if dtype in ML else np.dtype(dtype))


def add_all(w: tfckpt.Writer, shape: tuple[int, ...]) -> dict[str, Any]:
    values = {}
    for dtype in ALL_DTYPES:
        values[dtype] = sample(dtype, shape)
        w.add(dtype, values[dtype], dtype=dtype if dtype in QUANTIZED else None)
    return values


def tf_value(dtype: str, value: Any) -> Any:
    """The same value as tf.constant takes it (quantized types need TF's structured numpy dtypes)."""
    if dtype in QUANTIZED:
        return np.asarray(value).astype(getattr(tf, dtype).as_numpy_dtype)
    return value


# -- values: dtypes x shapes x shard counts -----------------------------------------------------


@pytest.mark.parametrize("shards", ["one", "several", "each"])
@pytest.mark.parametrize("shape", [(), (0,), (7,), (3, 4), (2, 0, 3)], ids=str)
def test_tensorflow_reads_identical_values(
    tmp_path: Path, shape: tuple[int, ...], shards: str, read_with_tf: Callable[..., Any], bytes_equal: Callable[..., bool]
) -> None:
    with tfckpt.Writer(tmp_path / "probe") as w:
        add_all(w, shape)
    total = (tmp_path / "probe.data-00000-of-00001").stat().st_size
    max_shard_size = {"one": None, "several": max(1, total // 3), "each": 1}[shards]
    with tfckpt.Writer(tmp_path / "m", max_shard_size=max_shard_size) as w:
        values = add_all(w, shape)
    count = len(list(tmp_path.glob("m.data-*")))
    if not np.prod(shape):  # only the last tensor (string) has bytes: a shard closes only when non-empty
        assert count == 1
    else:
        assert count == {"one": 1, "several": max(count, 3), "each": len(ALL_DTYPES)}[shards]
    got = read_with_tf(tmp_path / "m")
    assert sorted(got) == sorted(ALL_DTYPES)
    for dtype, value in values.items():
        tf_dtype, tf_shape, tf_data = got[dtype]
        assert (tf_dtype, tuple(tf_shape)) == (dtype, shape), dtype
        assert bytes_equal(tf_data, value), dtype


# -- tf.compat.v1.train.Saver --------------------------------------------------------------------


def test_v1_saver_restores_graph_variables(tmp_path: Path) -> None:
    kernel = np.arange(12, dtype=np.float32).reshape(3, 4) / 7
    emb = np.arange(40, dtype=np.float32).reshape(10, 4)
    words = np.array([b"a\x00b", b"", b"\xff"], dtype=object)
    with tfckpt.Writer(tmp_path / "model.ckpt-5") as w:
        w.add("dense/kernel", kernel)
        w.add("global_step", np.int64(5))
        w.add("vocab", words)
        w.add("half", np.array([1.5, -2], np.float16))
        # Three uneven slices; the graph below partitions the variable in two halves.
        w.add_slice("emb", emb[4:], full_shape=(10, 4), start=(4, 0))
        w.add_slice("emb", emb[:3], full_shape=(10, 4), start=(0, 0))
        w.add_slice("emb", emb[3:4], full_shape=(10, 4), start=(3, 0))
    with tf.Graph().as_default():
        v_kernel = tf.compat.v1.get_variable("dense/kernel", shape=(3, 4), dtype=tf.float32)
        v_step = tf.compat.v1.get_variable("global_step", shape=(), dtype=tf.int64)
        v_vocab = tf.compat.v1.Variable([b"", b"", b""], name="vocab")
        v_half = tf.compat.v1.get_variable("half", shape=(2,), dtype=tf.float16)
        v_emb = tf.compat.v1.get_variable(
            "emb", shape=(10, 4), dtype=tf.float32, partitioner=tf.compat.v1.fixed_size_partitioner(2)
        )
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session() as sess:
            saver.restore(sess, str(tmp_path / "model.ckpt-5"))
            got = sess.run([v_kernel, v_step, v_vocab, v_half, v_emb.as_tensor()])
    assert np.array_equal(got[0], kernel) and got[1] == 5
    assert got[2].tolist() == words.tolist()
    assert got[3].tolist() == [1.5, -2]
    assert np.array_equal(got[4], emb)
    reader = tf.train.load_checkpoint(str(tmp_path / "model.ckpt-5"))
    assert np.array_equal(reader.get_tensor("emb"), emb)
    assert reader.get_variable_to_shape_map()["emb"] == [10, 4]


# -- bytes: identical to SaveV2 ------------------------------------------------------------------


def _assert_same_files(ours: Path, theirs: Path, prefix: str) -> None:
    for suffix in (".index", ".data-00000-of-00001"):
        a, b = (ours / (prefix + suffix)).read_bytes(), (theirs / (prefix + suffix)).read_bytes()
        assert len(a) == len(b) and a == b, suffix


def test_bytes_match_savev2_for_mixed_dtypes(tmp_path: Path, savev2: Callable[..., None]) -> None:
    items = []
    for shape in [(), (0,), (5,), (2, 3)]:
        for dtype in ALL_DTYPES:
            items.append((f"{dtype}/{len(shape)}d_{'x'.join(map(str, shape))}", dtype, sample(dtype, shape, seed=len(items))))
    random.Random(3).shuffle(items)  # SaveV2 order, deliberately not key order
    savev2(tmp_path / "tf" / "m", [(name, tf_value(dtype, v), dtype) for name, dtype, v in items])
    with tfckpt.Writer(tmp_path / "ours" / "m") as w:
        for name, dtype, value in items:
            w.add(name, value, dtype=dtype if dtype in QUANTIZED else None)
    _assert_same_files(tmp_path / "ours", tmp_path / "tf", "m")


def test_bytes_match_savev2_for_20000_tensors(tmp_path: Path, savev2: Callable[..., None]) -> None:
    names = [f"model/block_{i // 40:04d}/layer_{i % 40:02d}/kernel/optimizer_slot_m" for i in range(20_000)]
    random.Random(1).shuffle(names)
    values = [np.full((2,), i, np.float32) for i in range(len(names))]
    savev2(tmp_path / "tf" / "m", [(n, v, "float32") for n, v in zip(names, values)])
    tfckpt.save(tmp_path / "ours" / "m", zip(names, values))
    assert (tmp_path / "tf" / "m.index").stat().st_size > 3 * 256 * 1024  # several index blocks
    _assert_same_files(tmp_path / "ours", tmp_path / "tf", "m")


def test_bytes_match_savev2_for_a_name_over_512_kib(tmp_path: Path, savev2: Callable[..., None]) -> None:
    long_name = "huge/" + "abcdefghij" * 60_000  # 600,005 bytes
    items = [("a", np.float32(1), "float32"), (long_name, np.arange(3, dtype=np.int64), "int64"), ("zz", b"end", "string")]
    savev2(tmp_path / "tf" / "m", items)
    tfckpt.save(tmp_path / "ours" / "m", [(n, v) for n, v, _ in items])
    _assert_same_files(tmp_path / "ours", tmp_path / "tf", "m")
    assert tf.train.load_checkpoint(str(tmp_path / "ours" / "m")).get_tensor(long_name).tolist() == [0, 1, 2]


def test_partitioned_bytes_match_savev2_with_python_slice_specs(tmp_path: Path, savev2: Callable[..., None]) -> None:
    full = np.arange(40, dtype=np.float32).reshape(10, 4)
    cube = np.arange(24, dtype=np.int32).reshape(2, 3, 4)
    # (name, value, spec as tf.Variable's SaveSliceInfo.spec writes it, start)
    parts = [
        ("emb", full[0:4], "10 4 0,4:0,4", (0, 0)),
        ("step", np.int64(9), "", None),
        ("emb", full[4:10], "10 4 4,6:0,4", (4, 0)),
        ("cube", cube[:, 1:, 2:], "2 3 4 0,2:1,2:2,2", (0, 1, 2)),
        ("cube", cube[:, :1, :], "2 3 4 0,2:0,1:0,4", (0, 0, 0)),
        ("cube", cube[:, 1:, :2], "2 3 4 0,2:1,2:0,2", (0, 1, 0)),
    ]
    dtypes = {"emb": "float32", "step": "int64", "cube": "int32"}
    savev2(tmp_path / "tf" / "m", [(n, v, dtypes[n]) for n, v, _, _ in parts], slices=[s for _, _, s, _ in parts])
    with tfckpt.Writer(tmp_path / "ours" / "m") as w:
        for name, value, _, start in parts:
            if start is None:
                w.add(name, value)
            else:
                w.add_slice(name, value, full_shape=value.shape[:0] + {"emb": (10, 4), "cube": (2, 3, 4)}[name], start=start)
    _assert_same_files(tmp_path / "ours", tmp_path / "tf", "m")
    reader = tf.train.load_checkpoint(str(tmp_path / "ours" / "m"))
    assert np.array_equal(reader.get_tensor("emb"), full) and np.array_equal(reader.get_tensor("cube"), cube)


def test_bytes_match_savev2_for_thousands_of_mixed_tensors_around_partitioned_ones(
    tmp_path: Path, savev2: Callable[..., None]
) -> None:
    # Thousands of entries take the bulk index path; the partitioned variables' full entries
    # sort in between runs of them; the dtypes mix writer.add's fast and general paths.
    rng = random.Random(7)
    items: list[tuple[str, Any, str, str, Any]] = []  # (name, value, dtype, slice spec, start)
    for i in range(3000):
        dtype = ["float32", "int64", "bfloat16", "string", "float16", "bool"][i % 6]
        shape = [(), (3,), (2, i % 4)][i % 3]
        items.append((f"net/block_{i % 97:02d}/unit_{i:04d}", sample(dtype, shape, seed=i), dtype, "", None))
    full = np.arange(60, dtype=np.float32).reshape(12, 5)
    for name in ("net/block_05/unit_0500/emb", "aaa/emb", "zzz/emb"):
        items.append((name, full[:7], "float32", "12 5 0,7:0,5", (0, 0)))
        items.append((name, full[7:], "float32", "12 5 7,5:0,5", (7, 0)))
    rng.shuffle(items)
    savev2(tmp_path / "tf" / "m", [(n, tf_value(d, v), d) for n, v, d, _, _ in items], slices=[s for *_, s, _ in items])
    with tfckpt.Writer(tmp_path / "ours" / "m") as w:
        for name, value, _, _, start in items:
            if start is None:
                w.add(name, value)
            else:
                w.add_slice(name, value, full_shape=(12, 5), start=start)
    _assert_same_files(tmp_path / "ours", tmp_path / "tf", "m")


def test_multi_shard_checkpoint_restores_through_restorev2(tmp_path: Path) -> None:
    values = {f"v{i}": np.full((i + 1,), i, np.float64) for i in range(5)}
    tfckpt.save(tmp_path / "m", values, max_shard_size=24)
    # 8 + 16 bytes fill the first shard; 24, 32 and 40 bytes each need one of their own.
    assert sorted(p.stat().st_size for p in tmp_path.glob("m.data-*-of-00004")) == [24, 24, 32, 40]
    names = list(values)
    got = tf.raw_ops.RestoreV2(prefix=str(tmp_path / "m"), tensor_names=names, shape_and_slices=[""] * 5, dtypes=[tf.float64] * 5)
    for name, t in zip(names, got):
        assert np.array_equal(t.numpy(), values[name])


def test_tensorflow_detects_the_overwrite_crash_window(tmp_path: Path) -> None:
    # The files a crash between the data renames and the index rename of an overwrite leaves:
    # the old index next to new data of the same name (see tfckpt.writer's docstring).
    tfckpt.save(tmp_path / "m", {"w": np.zeros(64, np.float32)})
    tfckpt.save(tmp_path / "new" / "m", {"w": np.ones(64, np.float32)})
    (tmp_path / "new" / "m.data-00000-of-00001").replace(tmp_path / "m.data-00000-of-00001")
    reader = tf.train.load_checkpoint(str(tmp_path / "m"))
    with pytest.raises((tf.errors.OpError, RuntimeError), match="Checksum does not match"):
        reader.get_tensor("w")
