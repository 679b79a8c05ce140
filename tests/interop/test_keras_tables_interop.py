"""Keras 2 (tf_keras) as the oracle for the Keras 2 side of tfckpt.keras's tables.

The framework suite checks the Keras 3 side (tests/frameworks/test_keras.py) and loads the
fixtures of tests/fixtures/keras2; here every table row's Keras 2 name is checked against
what tf_keras itself saves, including the optimizers and layers no fixture uses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tfckpt
from tfckpt.keras._tables import (
    LEGACY_HYPERPARAMETERS,
    LEGACY_OPTIMIZER_SLOTS,
    OPTIMIZER_SCALARS,
    OPTIMIZER_SLOT_LISTS,
    SUBLAYER_EDGES,
    VARIABLE_RENAMES,
)

tf = pytest.importorskip("tensorflow")
tf_keras = pytest.importorskip("tf_keras")

# Options under which each optimizer creates every slot kind it has.
OPTIONS: dict[str, dict[str, Any]] = {"Adam": {"amsgrad": True}, "AdamW": {"amsgrad": True},
                                      "SGD": {"momentum": 0.9}, "RMSprop": {"momentum": 0.9, "centered": True}}


def _saved_optimizer(opt: Any, tmp_path: Path) -> tuple[dict[str, Any], Any]:
    """Train one step with ``opt`` and save it; return the optimizer node's children and the graph."""
    var = tf.Variable(np.ones((2, 3), np.float32), name="w")
    opt.apply_gradients([(tf.ones((2, 3)), var)])
    path = tf.train.Checkpoint(v=var, optimizer=opt).write(str(tmp_path / "opt"))
    with tfckpt.open(path) as ckpt:
        graph = ckpt.object_graph
    assert graph is not None
    return graph.root.children["optimizer"].children, graph


@pytest.mark.parametrize("name", sorted(OPTIMIZER_SLOT_LISTS))
def test_keras2_optimizer_slot_lists(name: str, tmp_path: Path) -> None:
    if not hasattr(tf_keras.optimizers, name):
        pytest.skip(f"tf_keras {tf_keras.__version__} has no {name}")
    children, _ = _saved_optimizer(getattr(tf_keras.optimizers, name)(**OPTIONS.get(name, {})), tmp_path)
    per_variable = {local for local, node in children.items()
                    if "0" in node.children and local != "_variables" and node.children["0"].attributes}
    assert per_variable == set(OPTIMIZER_SLOT_LISTS[name]), name
    scalars = {local for local, node in children.items() if node.attributes}
    assert scalars <= set(OPTIMIZER_SCALARS), (name, scalars)
    for local in per_variable:  # the full name names the variable: <optimizer>/<slot>/<variable>
        full = children[local].children["0"].attributes[0].full_name
        assert full.split("/", 2)[2] == "w", full


@pytest.mark.parametrize("name", sorted(LEGACY_OPTIMIZER_SLOTS))
def test_keras2_legacy_optimizer_slots(name: str, tmp_path: Path) -> None:
    opt = getattr(tf_keras.optimizers.legacy, name)(**OPTIONS.get(name, {}))
    children, graph = _saved_optimizer(opt, tmp_path)
    slots = {s.slot_name for n in graph.nodes for s in n.slot_variables}
    assert slots == set(LEGACY_OPTIMIZER_SLOTS[name]), name
    saved = {local for local, node in children.items() if node.attributes}
    assert saved <= set(OPTIMIZER_SCALARS) | LEGACY_HYPERPARAMETERS, (name, saved)


def test_keras2_sublayer_and_variable_names(tmp_path: Path) -> None:
    L = tf_keras.layers
    layers = {"RNN": L.RNN(L.SimpleRNNCell(2)), "Bidirectional": L.Bidirectional(L.LSTM(2)),
              "TimeDistributed": L.TimeDistributed(L.Dense(2)), "MultiHeadAttention": L.MultiHeadAttention(2, 2),
              "DepthwiseConv2D": L.DepthwiseConv2D(2), "DepthwiseConv1D": L.DepthwiseConv1D(2)}
    for name, layer in layers.items():
        shape = (4, 4, 3) if name == "DepthwiseConv2D" else (3, 4)
        t = tf_keras.Input(shape)
        layer(t, t) if name == "MultiHeadAttention" else layer(t)
        path = tf.train.Checkpoint(layer=layer).write(str(tmp_path / name))
        with tfckpt.open(path) as ckpt:
            graph = ckpt.object_graph
            assert graph is not None
            node = graph.root.children["layer"]
        for local, _ in SUBLAYER_EDGES.get(name, ()):
            assert local in node.children, (name, local, list(node.children))
        for (cls, _), local in VARIABLE_RENAMES.items():
            if cls == name:
                assert local in node.children, (name, local, list(node.children))
