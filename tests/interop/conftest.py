"""Fixtures for the TensorFlow interop suite (run it with the venv that has tensorflow-cpu).

Every test module here starts with ``tf = pytest.importorskip("tensorflow")`` so the suite
skips cleanly where TensorFlow is absent; this file imports neither TensorFlow nor helpers
by module name (the main suite's ``conftest`` module must stay the one ``import conftest``
finds).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "interop" in item.nodeid.split("/"):
            item.add_marker(pytest.mark.interop)


@pytest.fixture(scope="session")
def tf() -> Any:
    return pytest.importorskip("tensorflow")


@pytest.fixture(scope="session")
def savev2(tf: Any) -> Callable[..., None]:
    """``savev2(prefix, [(name, value, dtype name)], slices=None)``: one ``tf.raw_ops.SaveV2`` call."""

    def run(prefix: str | Path, items: Sequence[tuple[str, Any, str]], slices: Sequence[str] | None = None) -> None:
        tensors = [tf.constant(value, dtype=tf.as_dtype(dtype)) for _, value, dtype in items]
        tf.raw_ops.SaveV2(
            prefix=str(prefix),
            tensor_names=[name for name, _, _ in items],
            shape_and_slices=list(slices) if slices is not None else [""] * len(items),
            tensors=tensors,
        )

    return run


@pytest.fixture(scope="session")
def read_with_tf(tf: Any) -> Callable[[str | Path], dict[str, tuple[str, list[int], Any]]]:
    """``tf.train.load_checkpoint``'s view: name -> (dtype name, shape, value)."""

    def run(prefix: str | Path) -> dict[str, tuple[str, list[int], Any]]:
        reader = tf.train.load_checkpoint(str(prefix))
        dtypes = reader.get_variable_to_dtype_map()
        shapes = reader.get_variable_to_shape_map()
        return {name: (dtypes[name].name, shapes[name], reader.get_tensor(name)) for name in shapes}

    return run


def _as_array(x: Any) -> np.ndarray:
    if isinstance(x, bytes):  # TF returns scalar strings as bytes; np.asarray would drop trailing NULs
        out = np.empty((), dtype=object)
        out[()] = x
        return out
    return np.asarray(x)


def same_bytes(a: Any, b: Any) -> bool:
    """Element bytes equal (NaNs and -0.0 included); strings compared element by element."""
    a, b = _as_array(a), _as_array(b)
    if a.dtype == object or b.dtype == object:
        return a.shape == b.shape and a.astype(object).tolist() == b.astype(object).tolist()
    return a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.fixture(scope="session")
def bytes_equal() -> Callable[[Any, Any], bool]:
    return same_bytes


@pytest.fixture
def handoff_input() -> Callable[[str], Path]:
    """``handoff_input(topic)``: what tests/frameworks wrote under ``$TFCKPT_HANDOFF/<topic>``
    (CI runs that suite first); skips the test where it is absent."""

    def find(topic: str) -> Path:
        root = os.environ.get("TFCKPT_HANDOFF")
        path = Path(root) / topic if root else None
        if path is None or not path.is_dir() or not any(path.iterdir()):
            pytest.skip(f"no hand-off from tests/frameworks for {topic!r} (set TFCKPT_HANDOFF and run that suite first)")
        return path

    return find
