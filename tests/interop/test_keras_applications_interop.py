"""Whole published architectures: Keras 2 (tf_keras) saves TF-format weights of a
keras.applications model, and Keras 3's own implementation of it (here on the TensorFlow
backend; the matching is the same on every backend) loads them with tfckpt.keras and predicts
the same. Random weights, small input: no download."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tfckpt.keras

tf = pytest.importorskip("tensorflow")
tf_keras = pytest.importorskip("tf_keras")


@pytest.mark.parametrize(("name", "options"), [
    ("MobileNetV2", {"alpha": 0.35}),   # DepthwiseConv2D, BatchNormalization, ZeroPadding2D, ReLU
    ("EfficientNetB0", {}),             # Normalization (mean, variance, count), squeeze-excite blocks
])
def test_keras3_application_loads_keras2_weights(name: str, options: dict[str, float], tmp_path: Path) -> None:
    keras = pytest.importorskip("keras")
    if int(keras.__version__.split(".")[0]) < 3:
        pytest.skip(f"needs Keras 3, not {keras.__version__}")
    x = np.random.default_rng(0).standard_normal((2, 64, 64, 3)).astype(np.float32)
    tf_keras.utils.set_random_seed(0)
    old = getattr(tf_keras.applications, name)(weights=None, input_shape=(64, 64, 3), classes=5, **options)
    old.save_weights(str(tmp_path / "ckpt"))
    new = getattr(keras.applications, name)(weights=None, input_shape=(64, 64, 3), classes=5, **options)
    result = tfckpt.keras.load_weights(new, tmp_path / "ckpt")
    assert len(result.loaded) == len(new.weights) and not result.skipped
    diff = np.abs(np.asarray(new.predict_on_batch(x)) - old.predict_on_batch(x)).max()
    assert diff <= 1e-5, f"{name}: max |Keras 3 - Keras 2| = {diff:.3g}"
