"""Keras 3 on the TensorFlow backend loads the .weights.h5 files that ``tfckpt keras`` wrote
on JAX and PyTorch in the framework suite (hand-off topic ``keras``), and predicts what Keras 2
predicted from the original TF-format weights."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "keras2"


def test_keras3_on_tensorflow_loads_what_the_cli_wrote(handoff_input: Callable[[str], Path]) -> None:
    files = sorted(handoff_input("keras").glob("attention-*.weights.h5"))
    assert files, "the framework suite hands off attention-<backend>.weights.h5"
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "tensorflow" or int(keras.__version__.split(".")[0]) < 3:
        pytest.skip(f"needs Keras 3 on the TensorFlow backend, not keras {keras.__version__} on {keras.backend.backend()}")
    sys.path.insert(0, str(FIXTURES))
    try:
        import keras_models as models
    finally:
        sys.path.remove(str(FIXTURES))
    exp = np.load(FIXTURES / "attention" / "expected.npz")
    model = models.keras3("attention")
    for path in files:
        for v in model.weights:
            v.assign(np.zeros(tuple(v.shape), v.dtype))
        model.load_weights(str(path))
        diff = np.abs(np.asarray(model.predict_on_batch(exp["x"])) - exp["predict"]).max()
        assert diff <= 1e-5, f"{path.name} on TensorFlow: max |Keras 3 - Keras 2| = {diff:.3g}"
