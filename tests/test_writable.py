"""``tfckpt.open(..., writable=True)``: writable copy-on-write arrays; array lifetimes past
``close()``; other libraries' arrays on the write side without importing their frameworks."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

import tfckpt

SRC = Path(tfckpt.__file__).resolve().parents[1]


def digests(prefix: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(prefix.parent.glob(prefix.name + ".*"))}


@pytest.fixture
def prefix(tmp_path: Path) -> Path:
    tfckpt.save(
        tmp_path / "m",
        {
            "step": np.int64(7),
            "a": np.arange(10, dtype=np.float32),
            "b": np.arange(6, dtype=np.int16).reshape(2, 3),  # at an odd offset: unaligned
            "h": np.ones(4, ml_dtypes.bfloat16),
            "s": [b"x", b"y"],
        },
    )
    return tmp_path / "m"


def test_default_arrays_are_read_only(prefix: Path) -> None:
    with tfckpt.open(prefix) as ckpt:
        for name in ("a", "b", "h", "step"):
            arr = ckpt[name]
            assert not arr.flags.writeable
            with pytest.raises(ValueError, match="read-only"):
                arr[...] = 0


def test_writable_arrays_are_copy_on_write(prefix: Path) -> None:
    before = digests(prefix)
    with tfckpt.open(prefix, writable=True) as ckpt:
        arrays = {name: ckpt[name] for name in ("a", "b", "h", "step")}  # a second read takes the fast path
        arrays["a2"] = ckpt["a"]
        for arr in arrays.values():
            assert arr.flags.writeable and not arr.flags.owndata
            arr[...] = 3
        assert ckpt["a"].tolist() == [3] * 10  # the same memory for the life of this Checkpoint
        strings = ckpt["s"]
        strings[0] = b"z"  # strings are copies anyway
    assert digests(prefix) == before
    with tfckpt.open(prefix) as ckpt:
        assert ckpt["a"].tolist() == list(range(10)) and ckpt["b"].tolist() == [[0, 1, 2], [3, 4, 5]]
        assert ckpt["s"].tolist() == [b"x", b"y"]


def test_writable_checkpoint_of_a_read_only_file(prefix: Path) -> None:
    for path in prefix.parent.glob(prefix.name + ".*"):
        path.chmod(0o444)
    with tfckpt.open(prefix, writable=True) as ckpt:
        a = ckpt["a"]
        a += 1
        assert a[0] == 1


def test_copies_stay_owned_and_writable(prefix: Path) -> None:
    with tfckpt.open(prefix, writable=True) as ckpt:
        a = ckpt.get_tensor("a", copy=True)
    assert a.flags.owndata and a.flags.writeable


@pytest.mark.parametrize("writable", [False, True])
def test_arrays_outlive_close(prefix: Path, writable: bool) -> None:
    """Arrays of the fast path (second and later reads) hold no buffer export of the mapping;
    close() used to unmap it under them (a SIGSEGV), so this runs in a subprocess."""
    script = textwrap.dedent(
        f"""
        import sys, tfckpt
        with tfckpt.open(sys.argv[1], writable={writable}) as ckpt:
            ckpt["step"]
            a = ckpt["a"]
            b = ckpt["b"]
        print(float(a.sum()), int(b.sum()))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(prefix)], capture_output=True, text=True, timeout=120,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["45.0", "15"]


class DLPackOnly:
    """A DLPack producer that is not array-like to numpy (no ``__array__``), as some array
    libraries' arrays are: only the two protocol methods, delegating to a numpy array."""

    def __init__(self, arr: np.ndarray) -> None:
        self._arr = arr

    def __dlpack__(self, **kwargs: object) -> object:
        return self._arr.__dlpack__(**kwargs)

    def __dlpack_device__(self) -> tuple[int, int]:
        return self._arr.__dlpack_device__()  # type: ignore[no-any-return]


def test_dlpack_producers_are_written(tmp_path: Path) -> None:
    value = np.arange(6, dtype=np.int32).reshape(2, 3)
    assert not hasattr(DLPackOnly(value), "__array__")
    tfckpt.save(tmp_path / "m", {"x": DLPackOnly(value)})
    with tfckpt.open(tmp_path / "m") as ckpt:
        assert ckpt.dtype("x") == "int32" and ckpt["x"].tolist() == value.tolist()


def test_a_failing_dlpack_producer_is_named(tmp_path: Path) -> None:
    objects = np.array([b"a", b"b"], dtype=object)  # DLPack has no object dtype
    with pytest.raises(tfckpt.InvalidArgumentError, match="'x': cannot read DLPackOnly through DLPack"):
        tfckpt.save(tmp_path / "m", {"x": DLPackOnly(objects)})
    assert not list(tmp_path.iterdir())


def test_import_tfckpt_imports_no_framework() -> None:
    code = (
        "import sys, tfckpt, tfckpt.writer, tfckpt.format._tensors;"
        "print([m for m in ('torch', 'jax', 'keras', 'transformers', 'tensorflow') if m in sys.modules])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
