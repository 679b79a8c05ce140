"""PyTorch in and out: every dtype both ways, every writer path, copy-on-write safety.

The checkpoint written from torch (every dtype) is handed off to tests/interop, where
TensorFlow reads it back.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import tfckpt  # noqa: E402
import tfckpt.torch  # noqa: E402
from tfckpt.format._dtypes import TORCH_DTYPES, TORCH_WIDENED  # noqa: E402

SRC = Path(tfckpt.__file__).resolve().parents[1]


def sample(name: str, shape: tuple[int, ...] = (2, 3)) -> torch.Tensor:
    """Distinct small values of torch dtype ``name`` (negative where the type allows)."""
    values = torch.arange(int(np.prod(shape)), dtype=torch.float32).reshape(shape) - 2
    if name == "bool":
        return values.remainder(2) == 0
    return values.to(getattr(torch, name))


def byte_string(t: torch.Tensor) -> bytes:
    """A tensor's element bytes, read through a uint8 view (not the writer's integer view)."""
    if t.numel() == 0:  # torch refuses to view an empty float tensor (stride 0) as bytes
        return b""
    return t.detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def file_digests(prefix: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(prefix.parent.glob(prefix.name + ".*"))}


def tensor_span(t: torch.Tensor) -> tuple[int, int]:
    return t.data_ptr(), t.data_ptr() + t.numel() * t.element_size()


# -- writing from torch ---------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(TORCH_DTYPES))
def test_every_torch_dtype_round_trips_bit_for_bit(tmp_path: Path, name: str) -> None:
    t = sample(name)
    tensors = {"plain": t, "transposed": t.t(), "scalar": t[1, 2], "empty": t[:0]}
    tfckpt.save(tmp_path / "m", tensors)
    with tfckpt.open(tmp_path / "m") as ckpt:
        assert {k: ckpt.dtype(k) for k in ckpt} == dict.fromkeys(tensors, name)
        assert ckpt.shape("transposed") == (3, 2) and ckpt.shape("scalar") == () and ckpt.shape("empty") == (0, 3)
    back = tfckpt.torch.load(tmp_path / "m")
    for key, original in tensors.items():
        assert back[key].dtype == original.dtype and back[key].shape == original.shape
        assert byte_string(back[key]) == byte_string(original)


def test_parameters_that_require_grad_are_detached(tmp_path: Path) -> None:
    model = torch.nn.Linear(3, 2)
    tfckpt.save(tmp_path / "m", dict(model.named_parameters()))
    back = tfckpt.torch.load(tmp_path / "m")
    assert torch.equal(back["weight"], model.weight.detach()) and torch.equal(back["bias"], model.bias.detach())


def test_strided_conjugated_and_negated_views_store_their_values(tmp_path: Path) -> None:
    z = torch.tensor([1 + 2j, 3 - 4j, 5 + 0j], dtype=torch.complex64)
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    tensors = {"conj": z.conj(), "neg": z.conj().imag, "every_other": base[::2, 1::3], "expanded": torch.ones(3).expand(2, 3)}
    assert tensors["conj"].is_conj() and tensors["neg"].is_neg()
    tfckpt.save(tmp_path / "m", tensors)
    with tfckpt.open(tmp_path / "m") as ckpt:
        np.testing.assert_array_equal(ckpt["conj"], np.array([1 - 2j, 3 + 4j, 5 - 0j], np.complex64))
        np.testing.assert_array_equal(ckpt["neg"], np.array([-2, 4, -0.0], np.float32))
        np.testing.assert_array_equal(ckpt["every_other"], base.numpy()[::2, 1::3])
        np.testing.assert_array_equal(ckpt["expanded"], np.ones((2, 3), np.float32))


def test_a_sparse_tensor_is_stored_dense(tmp_path: Path) -> None:
    dense = torch.tensor([[0.0, 2.0], [3.0, 0.0]])
    tfckpt.save(tmp_path / "m", {"s": dense.to_sparse()})
    with tfckpt.open(tmp_path / "m") as ckpt:
        np.testing.assert_array_equal(ckpt["s"], dense.numpy())


@pytest.mark.parametrize(
    "make, dtype_name",
    [
        (lambda: torch.zeros(2, dtype=torch.complex32), "complex32"),
        (lambda: torch.quantize_per_tensor(torch.ones(2), 0.1, 0, torch.qint8), "qint8"),
        (lambda: torch.zeros(2, dtype=torch.float8_e8m0fnu), "float8_e8m0fnu"),
        (lambda: torch.zeros(2, dtype=torch.uint8).view(torch.float4_e2m1fn_x2), "float4_e2m1fn_x2"),
    ],
)
def test_a_dtype_without_a_tensorflow_counterpart_is_named(tmp_path: Path, make, dtype_name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # complex32 is "experimental"
        value = make()
    with pytest.raises(tfckpt.InvalidArgumentError, match=rf"'odd'.*{dtype_name} has no TensorFlow counterpart"):
        tfckpt.save(tmp_path / "m", {"fine": torch.ones(1), "odd": value})
    assert not list(tmp_path.glob("m.*"))


def test_a_meta_tensor_has_no_data_to_write(tmp_path: Path) -> None:
    with pytest.raises(tfckpt.InvalidArgumentError, match=r"'w'.*torch\.Tensor.*meta"):
        tfckpt.save(tmp_path / "m", {"w": torch.zeros(2, device="meta")})


def test_every_writer_path_takes_torch_tensors(tmp_path: Path) -> None:
    bf = torch.tensor([1.5, -2.0, 3.25], dtype=torch.bfloat16)
    expected = np.array([1.5, -2.0, 3.25], ml_dtypes.bfloat16)

    with tfckpt.Writer(tmp_path / "w") as w:
        w.add("whole", bf)
        w.add("forced", torch.tensor([1, 2], dtype=torch.int32), dtype="qint32")
        w.add_slice("part", bf[:2], full_shape=(5,), start=(0,))
        w.add_slice("part", torch.tensor([4, 5, 6], dtype=torch.bfloat16), full_shape=(5,), start=(2,))
    tfckpt.save_objects(tmp_path / "o", {"model": {"w": bf}})
    tfckpt.save_like(tmp_path / "o", tmp_path / "like", {"model/w": bf * 2})
    manager = tfckpt.CheckpointManager(tmp_path / "run", max_to_keep=2)
    manager.save({"w": bf})
    manager.save_objects({"model": {"w": bf}})

    with tfckpt.open(tmp_path / "w") as ckpt:
        assert ckpt.dtype("forced") == "qint32" and ckpt["forced"].tolist() == [1, 2]
        np.testing.assert_array_equal(ckpt["whole"], expected)
        np.testing.assert_array_equal(ckpt["part"], np.array([1.5, -2.0, 4, 5, 6], ml_dtypes.bfloat16))
    with tfckpt.open(tmp_path / "like") as ckpt:
        np.testing.assert_array_equal(ckpt[ckpt.variables()["model/w"]], expected * 2)
    for number in (1, 2):
        with tfckpt.open(tmp_path / "run" / f"ckpt-{number}") as ckpt:
            key = "w" if number == 1 else ckpt.variables()["model/w"]
            assert ckpt.dtype(key) == "bfloat16"
            np.testing.assert_array_equal(ckpt[key], expected)


def test_save_like_checks_a_torch_tensors_dtype(tmp_path: Path) -> None:
    tfckpt.save_objects(tmp_path / "o", {"w": np.zeros(2, np.float32)})
    with pytest.raises(tfckpt.InvalidArgumentError, match="expected dtype float32, got bfloat16"):
        tfckpt.save_like(tmp_path / "o", tmp_path / "like", {"w": torch.zeros(2, dtype=torch.bfloat16)})


def test_a_bfloat16_model_saves_and_loads_into_a_fresh_model(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.LayerNorm(8), torch.nn.Linear(8, 2)).to(torch.bfloat16)
    assert tfckpt.torch.save(tmp_path / "m", model.state_dict()) == str(tmp_path / "m")
    with tfckpt.open(tmp_path / "m") as ckpt:
        assert ckpt.keys() == sorted(model.state_dict()) and {ckpt.dtype(k) for k in ckpt} == {"bfloat16"}
    fresh = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.LayerNorm(8), torch.nn.Linear(8, 2)).to(torch.bfloat16)
    fresh.load_state_dict(tfckpt.torch.load(tmp_path / "m"))
    for key, value in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value)


# -- reading into torch ---------------------------------------------------------------


def every_tensorflow_dtype() -> dict[str, np.ndarray]:
    """One small array per fixed-width TensorFlow dtype, keyed by the dtype's name."""
    from tfckpt.format._dtypes import DTYPES

    signed, unsigned = np.array([[-2, -1, 0], [1, 0, 1]]), np.array([[0, 1, 2], [3, 0, 1]])  # int2 / uint2 hold these
    return {
        row.name: (unsigned if row.name.startswith(("u", "qu", "bool")) else signed).astype(row.numpy)
        for row in DTYPES.values()
        if row.numpy is not None
    }


def test_every_tensorflow_dtype_loads_keeping_its_type_or_widened_exactly(tmp_path: Path) -> None:
    arrays = every_tensorflow_dtype()
    with tfckpt.Writer(tmp_path / "m") as w:
        for name, arr in arrays.items():
            w.add(name, arr, dtype=name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = tfckpt.torch.load(tmp_path / "m")
    assert sorted(loaded) == sorted(arrays)
    for name, arr in arrays.items():
        t = loaded[name]
        wanted = TORCH_WIDENED.get(name, name if name in TORCH_DTYPES else None)
        if wanted is None:  # quantized types: their integer type, as in numpy
            assert t.dtype == torch.from_numpy(arr).dtype
        else:
            assert t.dtype == getattr(torch, wanted), name
        # the same values: compared as float64/complex128, which hold all of these exactly
        wide = (torch.complex128, np.complex128) if t.is_complex() else (torch.float64, np.float64)
        np.testing.assert_array_equal(t.to(wide[0]).numpy(), arr.astype(wide[1]), err_msg=name)


def test_load_is_zero_copy_from_a_private_mapping_of_the_shard(tmp_path: Path, mapped_ranges) -> None:
    tfckpt.save(tmp_path / "m", {"a": np.arange(4096, dtype=np.float32), "b": np.ones(3, ml_dtypes.bfloat16)})
    shard = (tmp_path / "m.data-00000-of-00001").resolve()
    loaded = tfckpt.torch.load(tmp_path / "m")
    ranges = mapped_ranges(shard)
    assert ranges, "the data shard is not mapped"
    for t in loaded.values():
        start, end = tensor_span(t)
        assert any(lo <= start and end <= hi for lo, hi in ranges)
    permissions = {
        line.split()[1] for line in Path("/proc/self/maps").read_text().splitlines() if line.endswith(str(shard))
    }
    assert permissions == {"rw-p"}  # writable, private: copy-on-write


def test_copy_true_owns_its_memory(tmp_path: Path, mapped_ranges) -> None:
    tfckpt.save(tmp_path / "m", {"a": np.arange(4096, dtype=np.float32)})
    t = tfckpt.torch.load(tmp_path / "m", copy=True)["a"]
    assert not any(lo <= t.data_ptr() < hi for lo, hi in mapped_ranges(tmp_path / "m.data-00000-of-00001"))


def test_in_place_writes_never_reach_the_file_and_raise_no_warning(tmp_path: Path) -> None:
    tfckpt.save(tmp_path / "m", {"w": np.arange(6, dtype=np.float32), "h": np.ones(2, ml_dtypes.bfloat16)})
    before = file_digests(tmp_path / "m")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = tfckpt.torch.load(tmp_path / "m")
        loaded["w"].mul_(10).add_(1)
        loaded["h"].zero_()
        again = tfckpt.torch.load(tmp_path / "m")
        shared = torch.from_numpy(tfckpt.open(tmp_path / "m", writable=True)["w"])
    assert loaded["w"].tolist() == [1, 11, 21, 31, 41, 51]
    assert again["w"].tolist() == [0, 1, 2, 3, 4, 5] and again["h"].tolist() == [1, 1]
    assert shared.tolist() == [0, 1, 2, 3, 4, 5]
    assert file_digests(tmp_path / "m") == before


def test_optimizer_steps_after_assign_do_not_crash_or_touch_the_file(tmp_path: Path) -> None:
    """The issue's SIGSEGV: load_state_dict(..., assign=True) then optimizer steps wrote into
    the read-only mapping. Run in a subprocess so a crash fails the test instead of pytest."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))
    tfckpt.torch.save(tmp_path / "m", model.state_dict())
    before = file_digests(tmp_path / "m")
    script = textwrap.dedent(
        """
        import sys, warnings
        warnings.simplefilter("error")
        import torch, tfckpt.torch

        torch.manual_seed(1)
        model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))
        state = tfckpt.torch.load(sys.argv[1])
        model.load_state_dict(state, assign=True)
        assert all(p.data_ptr() == state[k].data_ptr() for k, p in model.named_parameters())  # the mapping itself
        start = {k: v.clone() for k, v in model.state_dict().items()}
        for optimizer in (torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9), torch.optim.Adam(model.parameters(), lr=0.01)):
            for _ in range(5):
                optimizer.zero_grad()
                model(torch.randn(8, 16)).square().mean().backward()
                optimizer.step()
        with torch.no_grad():
            for p in model.parameters():
                p.add_(1.0)
        moved = [k for k, v in model.state_dict().items() if not torch.equal(v, start[k])]
        print("moved", len(moved), "of", len(start))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "m")],
        capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(SRC)},
    )
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert result.stdout.strip() == "moved 4 of 4"
    assert file_digests(tmp_path / "m") == before
    for key, value in tfckpt.torch.load(tmp_path / "m").items():
        assert torch.equal(value, model.state_dict()[key])


def test_strings_and_variants_are_skipped_with_one_warning_or_refused_by_name(tmp_path: Path) -> None:
    tfckpt.save(tmp_path / "m", {"w": np.ones(2, np.float32), "vocab": [b"a", b"b"]})
    with pytest.warns(UserWarning, match=r"skipped 1 string/variant tensor\(s\) torch cannot hold: 'vocab'"):
        loaded = tfckpt.torch.load(tmp_path / "m")
    assert list(loaded) == ["w"]
    with pytest.raises(tfckpt.UnsupportedError, match=r"'vocab' .* is a string tensor, which torch cannot hold"):
        tfckpt.torch.load(tmp_path / "m", names=["w", "vocab"])


def test_an_object_based_checkpoint_loads_without_a_warning(tmp_path: Path) -> None:
    tfckpt.save_objects(tmp_path / "o", {"dense": {"kernel": np.ones((2, 2), np.float32)}})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = tfckpt.torch.load(tmp_path / "o")
    assert sorted(loaded) == ["dense/kernel/.ATTRIBUTES/VARIABLE_VALUE", "save_counter/.ATTRIBUTES/VARIABLE_VALUE"]


def test_names_select_and_a_mapping_renames(tmp_path: Path) -> None:
    tfckpt.save_objects(tmp_path / "o", {"dense": {"kernel": np.ones((2, 2), np.float32), "bias": np.zeros(2, np.float32)}})
    with tfckpt.open(tmp_path / "o") as ckpt:
        variables = ckpt.variables()
    loaded = tfckpt.torch.load(tmp_path / "o", names=variables)
    assert sorted(loaded) == ["dense/bias", "dense/kernel"]
    assert list(tfckpt.torch.load(tmp_path / "o", names=[variables["dense/bias"]])) == [variables["dense/bias"]]
    with pytest.raises(tfckpt.NotFoundError, match="dense/kernl"):
        tfckpt.torch.load(tmp_path / "o", names=["dense/kernl"])
    with pytest.raises(tfckpt.InvalidArgumentError, match="not the single name"):
        tfckpt.torch.load(tmp_path / "o", names="dense/bias")


def test_tensorflow_reads_what_torch_wrote(tmp_path: Path, handoff_dir) -> None:
    """Hand-off: tests/interop/test_frameworks_interop.py reads this with TensorFlow."""
    out = handoff_dir("frameworks") / "torch"
    out.mkdir(exist_ok=True)
    tensors = {f"dtypes/{name}": sample(name) for name in sorted(TORCH_DTYPES)}
    tensors["strided/transposed"] = sample("float32").t()
    tensors["scalar/bfloat16"] = sample("bfloat16")[1, 1]
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2)).to(torch.bfloat16)
    tensors.update({f"model/{k}": v for k, v in model.named_parameters()})  # requires grad
    tfckpt.torch.save(out / "model.ckpt-1", tensors)
    expected = {
        name: {"dtype": str(t.dtype).removeprefix("torch."), "shape": list(t.shape), "hex": byte_string(t).hex()}
        for name, t in tensors.items()
    }
    (out / "expected.json").write_text(json.dumps({"prefix": "model.ckpt-1", "tensors": expected}, indent=1))


def test_a_checkpoint_tensorflow_wrote_loads_as_tfckpt_reads_it(fixtures_dir: Path) -> None:
    """Every dtype TF stores (tests/fixtures/all_dtypes, written by TensorFlow): kept dtypes
    bit for bit, widened ones value for value, strings and the variant skipped."""
    with pytest.warns(UserWarning, match=r"skipped 6 string/variant tensor\(s\).*'string'.*and 1 more"):
        loaded = tfckpt.torch.load(fixtures_dir / "all_dtypes")
    with tfckpt.open(fixtures_dir / "all_dtypes") as ckpt:
        assert sorted(loaded) == [k for k in ckpt if ckpt.dtype(k) not in ("string", "variant")]
        for name, t in loaded.items():
            arr = ckpt[name]
            widened = TORCH_WIDENED.get(ckpt.dtype(name))
            want = arr.astype(widened) if widened else arr
            assert t.shape == want.shape and byte_string(t) == want.tobytes(), name
    with pytest.raises(tfckpt.UnsupportedError, match="'variant_tensor_list' .* variant tensor"):
        tfckpt.torch.load(fixtures_dir / "all_dtypes", names=["variant_tensor_list"])


@pytest.mark.parametrize("case", ["multi_shard", "partitioned", "tf2_nested", "tf1_v1_format"])
def test_tensorflow_written_layouts_load_as_tfckpt_reads_them(fixtures_dir: Path, case: str) -> None:
    """Several data shards, partitioned variables (reassembled copies), a TF2 object graph, V1."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # string tensors some of these hold
        loaded = tfckpt.torch.load(fixtures_dir / case)
    with tfckpt.open(fixtures_dir / case) as ckpt:
        assert loaded and sorted(loaded) == [k for k in ckpt if ckpt.dtype(k) not in ("string", "variant")]
        for name, t in loaded.items():
            assert byte_string(t) == np.ascontiguousarray(ckpt[name]).tobytes(), name
            t.zero_()  # every one writable, without a warning or a crash
