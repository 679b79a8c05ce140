"""JAX in and out: every dtype both ways, pytrees, sharded arrays, zero-copy reads.

The checkpoint written from JAX (every dtype) is handed off to tests/interop, where
TensorFlow reads it back.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest

# Two CPU devices for the sharding test; only read when JAX starts its backend.
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")

import tfckpt  # noqa: E402
import tfckpt.jax  # noqa: E402

#: JAX dtypes that are TensorFlow dtypes of the same name (64-bit ones need x64).
JAX_DTYPES = [
    "bool", "int8", "int16", "int32", "uint8", "uint16", "uint32", "float16", "float32", "complex64",
    "bfloat16", "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e4m3b11fnuz",
    "int4", "uint4", "int2", "uint2", "float4_e2m1fn",
]  # fmt: skip
JAX_DTYPES_X64 = ["int64", "uint64", "float64", "complex128"]


def sample(name: str, shape: tuple[int, ...] = (2, 3)) -> jax.Array:
    """Small values every type holds (int2: -2..1, uint2: 0..3)."""
    n = int(np.prod(shape))
    values = np.arange(n).reshape(shape) % 4
    if not name.startswith("u") and name != "bool":
        values = values - 2
    return jnp.asarray(values).astype(name)


def bytes_of(x: object) -> bytes:
    return np.ascontiguousarray(np.asarray(x)).tobytes()


@pytest.mark.parametrize("name", JAX_DTYPES + JAX_DTYPES_X64)
def test_every_jax_dtype_round_trips_bit_for_bit(tmp_path: Path, name: str) -> None:
    with jax.enable_x64(name in JAX_DTYPES_X64):
        x = sample(name)
        tensors = {"plain": x, "transposed": x.T, "scalar": x[1, 2], "empty": x[:0]}
        tfckpt.save(tmp_path / "m", tensors)
        with tfckpt.open(tmp_path / "m") as ckpt:
            assert {k: ckpt.dtype(k) for k in ckpt} == dict.fromkeys(tensors, name)
        back = tfckpt.jax.load(tmp_path / "m")
        for key, original in tensors.items():
            assert back[key].dtype == original.dtype and back[key].shape == original.shape
            assert bytes_of(back[key]) == bytes_of(original)


@pytest.mark.parametrize("name", ["float8_e3m4", "float8_e4m3", "float8_e8m0fnu"])
def test_a_jax_dtype_without_a_tensorflow_counterpart_is_named(tmp_path: Path, name: str) -> None:
    with pytest.raises(tfckpt.InvalidArgumentError, match=rf"'odd'.*{name} has no TensorFlow equivalent"):
        tfckpt.save(tmp_path / "m", {"odd": jnp.zeros(2, name)})


def test_a_sharded_array_is_assembled(tmp_path: Path) -> None:
    if len(jax.devices()) < 2:
        pytest.skip("JAX started with one device (XLA_FLAGS was set too late)")
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    mesh = Mesh(np.array(jax.devices()[:2]), ("d",))
    x = jax.device_put(jnp.arange(12.0).reshape(4, 3), NamedSharding(mesh, PartitionSpec("d", None)))
    assert len(x.addressable_shards) == 2 and x.is_fully_addressable
    tfckpt.save(tmp_path / "m", {"x": x})
    with tfckpt.open(tmp_path / "m") as ckpt:
        np.testing.assert_array_equal(ckpt["x"], np.arange(12.0, dtype=np.float32).reshape(4, 3))


def test_a_traced_value_is_refused_by_name(tmp_path: Path) -> None:
    @jax.jit
    def step(x: jax.Array) -> jax.Array:
        tfckpt.save(tmp_path / "m", {"inside_jit": x})
        return x

    with pytest.raises(tfckpt.InvalidArgumentError, match=r"'inside_jit': cannot convert a jax\.Array"):
        step(jnp.ones(2))


def test_a_deleted_array_is_refused_by_name(tmp_path: Path) -> None:
    x = jnp.ones(2)
    x.delete()
    with pytest.raises(tfckpt.InvalidArgumentError, match=r"'gone': cannot convert a jax\.Array.*deleted"):
        tfckpt.save(tmp_path / "m", {"gone": x})


def test_save_names_leaves_by_their_tree_paths(tmp_path: Path) -> None:
    tree = {"dense": {"kernel": jnp.ones((2, 3)), "bias": jnp.zeros(3)}, "layers": [{"w": jnp.ones(1)}, (jnp.full(2, 2.0),)]}
    assert tfckpt.jax.save(tmp_path / "m", tree) == str(tmp_path / "m")
    with tfckpt.open(tmp_path / "m") as ckpt:
        assert ckpt.keys() == ["dense/bias", "dense/kernel", "layers/0/w", "layers/1/0"]
    back = tfckpt.jax.load(tmp_path / "m", nested=True)
    assert jax.tree_util.tree_structure(back) == jax.tree_util.tree_structure(
        {"dense": {"bias": 0, "kernel": 0}, "layers": {"0": {"w": 0}, "1": {"0": 0}}}
    )
    np.testing.assert_array_equal(back["dense"]["kernel"], np.ones((2, 3), np.float32))


def test_save_refuses_two_leaves_with_one_name(tmp_path: Path) -> None:
    with pytest.raises(tfckpt.InvalidArgumentError, match="duplicate tensor name 'a/b'"):
        tfckpt.jax.save(tmp_path / "m", {"a/b": jnp.ones(1), "a": {"b": jnp.ones(1)}})


def test_nested_load_names_a_tensor_that_is_also_a_prefix(tmp_path: Path) -> None:
    tfckpt.save(tmp_path / "m", {"w": np.ones(2, np.float32), "w/adam_m": np.zeros(2, np.float32)})
    with pytest.raises(tfckpt.InvalidArgumentError, match="cannot nest 'w/adam_m': 'w' is a tensor itself"):
        tfckpt.jax.load(tmp_path / "m", nested=True)
    assert list(tfckpt.jax.load(tmp_path / "m", names=["w"], nested=True)) == ["w"]


def test_64_bit_tensors_without_x64_warn_only_when_a_value_changes(tmp_path: Path) -> None:
    tfckpt.save(tmp_path / "m", {"global_step": np.int64(1000), "big": np.array([2**40], np.int64), "f": np.float64(0.1)})
    with jax.enable_x64(False):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            step = tfckpt.jax.load(tmp_path / "m", names=["global_step"])["global_step"]
        assert step.dtype == np.int32 and int(step) == 1000
        with pytest.warns(UserWarning, match=r"'big' \(int64\), 'f' \(float64\); set jax.config.update\('jax_enable_x64', True\)"):
            tfckpt.jax.load(tmp_path / "m")
    with jax.enable_x64(True), warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = tfckpt.jax.load(tmp_path / "m")
        assert loaded["big"].dtype == np.int64 and int(loaded["big"][0]) == 2**40


def test_aligned_tensors_load_zero_copy_from_the_mapping(tmp_path: Path, mapped_ranges) -> None:
    # 4096 float32 (16 KiB) at offset 0, then another at 16 KiB: both 64-byte aligned.
    tfckpt.save(tmp_path / "m", {"a": np.arange(4096, dtype=np.float32), "b": np.ones(4096, np.float32)})
    shard = (tmp_path / "m.data-00000-of-00001").resolve()
    loaded = tfckpt.jax.load(tmp_path / "m")
    ranges = mapped_ranges(shard)
    for x in loaded.values():
        pointer = x.unsafe_buffer_pointer()
        assert any(lo <= pointer < hi for lo, hi in ranges)
    np.testing.assert_array_equal(loaded["a"], np.arange(4096, dtype=np.float32))


def test_dlpack_takes_the_writable_numpy_arrays(tmp_path: Path) -> None:
    tfckpt.save(tmp_path / "m", {"a": np.arange(16, dtype=np.float32)})
    with tfckpt.open(tmp_path / "m", writable=True) as ckpt:
        x = jax.dlpack.from_dlpack(ckpt["a"])
    np.testing.assert_array_equal(x, np.arange(16, dtype=np.float32))


def test_strings_are_skipped_with_a_warning_or_refused_by_name(tmp_path: Path) -> None:
    tfckpt.save(tmp_path / "m", {"w": np.ones(2, np.float32), "vocab": [b"a"]})
    with pytest.warns(UserWarning, match="jax cannot hold: 'vocab'"):
        assert list(tfckpt.jax.load(tmp_path / "m")) == ["w"]
    with pytest.raises(tfckpt.UnsupportedError, match="'vocab' .* string tensor, which jax cannot hold"):
        tfckpt.jax.load(tmp_path / "m", names=["vocab"])


def test_tensorflow_reads_what_jax_wrote(handoff_dir) -> None:
    """Hand-off: tests/interop/test_frameworks_interop.py reads this with TensorFlow."""
    out = handoff_dir("frameworks") / "jax"
    out.mkdir(exist_ok=True)
    with jax.enable_x64(True):
        tree = {"dtypes": {name: sample(name) for name in JAX_DTYPES + JAX_DTYPES_X64}}
        tree["layers"] = [{"kernel": sample("float32").T}, {"kernel": sample("bfloat16", (3, 1))}]
        tree["scalar"] = jnp.asarray(7, jnp.int64)
        tfckpt.jax.save(out / "model.ckpt-1", tree)
        leaves, _ = jax.tree_util.tree_flatten_with_path(tree)
        expected = {
            jax.tree_util.keystr(path, simple=True, separator="/"): {
                "dtype": str(leaf.dtype), "shape": list(leaf.shape), "hex": bytes_of(leaf).hex()
            }
            for path, leaf in leaves
        }
    (out / "expected.json").write_text(json.dumps({"prefix": "model.ckpt-1", "tensors": expected}, indent=1))


def test_a_checkpoint_tensorflow_wrote_loads_as_tfckpt_reads_it(fixtures_dir: Path) -> None:
    """Every dtype TF stores (tests/fixtures/all_dtypes, written by TensorFlow), bit for bit."""
    with jax.enable_x64(True):
        with pytest.warns(UserWarning, match=r"skipped 6 string/variant tensor\(s\)"):
            loaded = tfckpt.jax.load(fixtures_dir / "all_dtypes")
        with tfckpt.open(fixtures_dir / "all_dtypes") as ckpt:
            assert sorted(loaded) == [k for k in ckpt if ckpt.dtype(k) not in ("string", "variant")]
            for name, x in loaded.items():
                assert x.dtype == ckpt[name].dtype and bytes_of(x) == bytes_of(ckpt[name]), name


def test_a_tf1_bert_checkpoint_nests_once_its_optimizer_slots_are_left_out() -> None:
    """examples/bert_tiny (written by TensorFlow) holds ``<var>/adam_m`` beside ``<var>``."""
    example = Path(__file__).resolve().parents[2] / "examples" / "bert_tiny"
    with pytest.raises(tfckpt.InvalidArgumentError, match="is a tensor itself"):
        tfckpt.jax.load(example, nested=True)
    with tfckpt.open(example) as ckpt:
        variables = ckpt.variables()
        tree = tfckpt.jax.load(example, names=variables, nested=True)
        kernel = ckpt["bert/encoder/layer_0/attention/self/query/kernel"]
    assert tree["bert"]["encoder"]["layer_0"]["attention"]["self"]["query"]["kernel"].shape == kernel.shape
    assert len(jax.tree_util.tree_leaves(tree)) == len(variables)
