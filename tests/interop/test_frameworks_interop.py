"""TensorFlow reads what tfckpt wrote from PyTorch and JAX tensors.

tests/frameworks/test_torch.py and test_jax.py (run first, in the framework environment,
with the same ``$TFCKPT_HANDOFF``) write ``frameworks/<torch|jax>/model.ckpt-1`` holding every
dtype they can write, beside ``expected.json``: each tensor's dtype name, shape and element
bytes as the framework held them. Here ``tf.train.load_checkpoint`` must agree on all three.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")


@pytest.mark.parametrize("framework", ["torch", "jax"])
def test_tensorflow_reads_every_dtype_a_framework_wrote(
    framework: str, handoff_input: Callable[[str], Path], read_with_tf: Callable[[str | Path], dict[str, Any]]
) -> None:
    directory = handoff_input("frameworks") / framework
    if not (directory / "expected.json").is_file():
        pytest.skip(f"tests/frameworks wrote nothing for {framework}")
    manifest = json.loads((directory / "expected.json").read_text())
    seen = read_with_tf(directory / manifest["prefix"])
    expected = manifest["tensors"]
    assert sorted(seen) == sorted(expected)
    for name, want in expected.items():
        dtype, shape, value = seen[name]
        assert (dtype, shape) == (want["dtype"], want["shape"]), name
        assert np.ascontiguousarray(value).tobytes().hex() == want["hex"], name
    assert {want["dtype"] for want in expected.values()} >= {"bfloat16", "float8_e4m3fn", "float8_e5m2", "float32"}
