"""``tfckpt.merge`` against ``tf.raw_ops.MergeV2Checkpoints`` on the same inputs: the same
index bytes and the same data files, and TensorFlow restores the result; plus the merged
checkpoint the torch.distributed recipe wrote in tests/frameworks."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tfckpt

tf = pytest.importorskip("tensorflow")


def _files(prefix: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(prefix.parent.iterdir()) if p.name.startswith(prefix.name + ".")}


def _merge_both(tmp_path: Path, parts: Path, names: list[str]) -> tuple[Path, Path]:
    """Copy ``parts`` twice; merge one copy with TensorFlow, the other with tfckpt."""
    outs = []
    for who in ("tf", "tfckpt"):
        work = tmp_path / who
        shutil.copytree(parts, work / "model.ckpt_temp")
        prefixes = [str(work / "model.ckpt_temp" / n) for n in names]
        dst = work / "model.ckpt-7"
        if who == "tf":
            tf.raw_ops.MergeV2Checkpoints(checkpoint_prefixes=prefixes, destination_prefix=str(dst), delete_old_dirs=False)
        else:
            tfckpt.merge(prefixes, dst)
        outs.append(dst)
    return outs[0], outs[1]


def _tf_parts(savev2: Callable[..., None], parts: Path) -> dict[str, Any]:
    """Three workers' parts as TensorFlow's sharded save writes them: whole tensors, and
    slices of two partitioned variables spread over the workers."""
    rng = np.random.default_rng(3)
    emb = rng.normal(size=(10, 4)).astype(np.float32)
    table = rng.integers(0, 100, size=(3, 6)).astype(np.int64)
    savev2(parts / "part-00000-of-00003", [
        ("global_step", np.int64(7), "int64"),
        ("emb", emb[0:4], "float32"),
        ("words", np.array([b"a", b"", b"\x00z"], dtype=object), "string"),
    ], slices=["", "10 4 0,4:-", "", ])
    savev2(parts / "part-00001-of-00003", [
        ("emb", emb[4:7], "float32"),
        ("dense/kernel", rng.normal(size=(4, 2)).astype(np.float32), "float32"),
        ("table", table[:, 0:2], "int64"),
    ], slices=["10 4 4,3:-", "", "3 6 -:0,2"])
    savev2(parts / "part-00002-of-00003", [
        ("emb", emb[7:10], "float32"),
        ("table", table[:, 2:6], "int64"),
        ("bias", np.zeros(2, np.float16), "float16"),
    ], slices=["10 4 7,3:-", "3 6 -:2,4", ""])
    return {"emb": emb, "table": table}


def test_parts_written_by_tensorflow_merge_to_the_same_bytes(
    tmp_path: Path, savev2: Callable[..., None], read_with_tf: Callable[..., Any], bytes_equal: Callable[..., bool]
) -> None:
    parts = tmp_path / "parts"
    full = _tf_parts(savev2, parts)
    names = [f"part-0000{i}-of-00003" for i in range(3)]
    by_tf, by_us = _merge_both(tmp_path, parts, names)
    assert _files(by_us) == _files(by_tf)
    got = read_with_tf(by_us)
    assert bytes_equal(got["emb"][2], full["emb"]) and bytes_equal(got["table"][2], full["table"])
    with tfckpt.open(by_us) as ckpt:
        assert bytes_equal(ckpt["emb"], full["emb"])


def test_parts_written_by_tfckpt_with_several_shards_merge_to_the_same_bytes(
    tmp_path: Path, read_with_tf: Callable[..., Any], bytes_equal: Callable[..., bool]
) -> None:
    """Workers' tfckpt Writers (partial=True), one of them with three data shards and a
    partitioned variable whose slices sit in its second shard; inputs given out of order."""
    parts = tmp_path / "parts"
    rng = np.random.default_rng(0)
    part = rng.normal(size=(9, 5)).astype(np.float32)
    with tfckpt.Writer(parts / "w0", max_shard_size=64, partial=True) as w:
        w.add("z/big", rng.normal(size=(20,)).astype(np.float32))
        w.add_slice("part", part[0:3], full_shape=(9, 5), start=(0, 0))
        w.add("a/small", np.arange(3, dtype=np.int32))
        w.add("names", ["x", "yy"])
    with tfckpt.Writer(parts / "w1", partial=True) as w:
        w.add_slice("part", part[3:9], full_shape=(9, 5), start=(3, 0))
        w.add("m/scale", np.float64(0.5))
    with tfckpt.Writer(parts / "w2") as w:
        w.add("global_step", np.int64(42))
    by_tf, by_us = _merge_both(tmp_path, parts, ["w2", "w0", "w1"])
    assert _files(by_us) == _files(by_tf)
    got = read_with_tf(by_us)
    assert bytes_equal(got["part"][2], part) and got["global_step"][2] == 42


def test_merge_of_one_bundle_and_of_many_tensors_same_bytes(tmp_path: Path) -> None:
    """Enough entries for a multi-block index; a single input."""
    parts = tmp_path / "parts"
    for r in range(2):
        with tfckpt.Writer(parts / f"p{r}") as w:
            for i in range(3000):
                w.add(f"layer_{i:05d}/rank{r}/w", np.full((2,), i, np.float32))
    by_tf, by_us = _merge_both(tmp_path, parts, ["p0", "p1"])
    assert _files(by_us) == _files(by_tf)
    single_tf, single_us = _merge_both(tmp_path / "single", parts, ["p1"])
    assert _files(single_us) == _files(single_tf)


def test_duplicate_tensor_is_an_error_in_both(tmp_path: Path) -> None:
    parts = tmp_path / "parts"
    for r in range(2):
        tfckpt.save(parts / f"p{r}", {"w": np.ones(2, np.float32)})
    prefixes = [str(parts / "p0"), str(parts / "p1")]
    with pytest.raises(tfckpt.InvalidArgumentError, match="'w' is in both"):
        tfckpt.merge(prefixes, tmp_path / "out" / "m")
    assert not (tmp_path / "out" / "m.index").exists()
    with pytest.raises(tf.errors.InvalidArgumentError, match="Duplicate tensor"):
        tf.raw_ops.MergeV2Checkpoints(checkpoint_prefixes=prefixes, destination_prefix=str(tmp_path / "tfout" / "m"))


def test_delete_inputs_leaves_what_tensorflow_leaves(tmp_path: Path) -> None:
    parts = tmp_path / "parts"
    for r in range(2):
        tfckpt.save(parts / f"p{r}", {f"w{r}": np.ones(2, np.float32)})
    outs = {}
    for who in ("tf", "tfckpt"):
        work = tmp_path / who
        shutil.copytree(parts, work / "tmp")
        prefixes = [str(work / "tmp" / "p0"), str(work / "tmp" / "p1")]
        if who == "tf":
            tf.raw_ops.MergeV2Checkpoints(checkpoint_prefixes=prefixes, destination_prefix=str(work / "m"), delete_old_dirs=True)
        else:
            tfckpt.merge(prefixes, work / "m", delete_inputs=True)
        outs[who] = sorted(os.path.relpath(os.path.join(d, f), work) for d, _, fs in os.walk(work) for f in fs)
    assert outs["tfckpt"] == outs["tf"]


def test_torch_distributed_recipe_output_restores_in_tensorflow(
    handoff_input: Callable[[str], Path], read_with_tf: Callable[..., Any], bytes_equal: Callable[..., bool]
) -> None:
    """tests/frameworks/test_merge_distributed.py: 4 gloo ranks wrote parts, rank 0 merged;
    the expected values are saved beside as .npz."""
    root = handoff_input("merge")
    expected = dict(np.load(root / "expected.npz"))
    got = read_with_tf(root / "model.ckpt-1")
    assert sorted(got) == sorted(expected)
    for name, value in expected.items():
        assert bytes_equal(got[name][2], value), name
    # and a graph restores it as its variables
    with tf.Graph().as_default():
        emb = tf.compat.v1.get_variable("encoder/embedding", shape=expected["encoder/embedding"].shape, dtype=tf.float32)
        saver = tf.compat.v1.train.Saver([emb])
        with tf.compat.v1.Session() as sess:
            saver.restore(sess, str(root / "model.ckpt-1"))
            assert bytes_equal(sess.run(emb), expected["encoder/embedding"])
