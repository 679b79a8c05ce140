"""The trimmed graph protos vendored under protos/tfckpt/proto keep TensorFlow's wire format:
every field tfckpt declares has TensorFlow's number, type and label, and every enum value its
number; and tfckpt reads a graph TensorFlow builds here the way TensorFlow does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import tfckpt

tf = pytest.importorskip("tensorflow")

from tensorflow.core.framework import attr_value_pb2, graph_pb2, node_def_pb2, op_def_pb2, variable_pb2  # noqa: E402
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2, saver_pb2  # noqa: E402

from tfckpt.proto import attr_value_pb2 as our_attr  # noqa: E402
from tfckpt.proto import graph_pb2 as our_graph  # noqa: E402
from tfckpt.proto import meta_graph_pb2 as our_meta  # noqa: E402
from tfckpt.proto import node_def_pb2 as our_node  # noqa: E402
from tfckpt.proto import op_def_pb2 as our_op  # noqa: E402
from tfckpt.proto import saved_model_pb2 as our_sm  # noqa: E402
from tfckpt.proto import saver_pb2 as our_saver  # noqa: E402
from tfckpt.proto import variable_pb2 as our_var  # noqa: E402

PAIRS = [(our_attr, attr_value_pb2), (our_graph, graph_pb2), (our_meta, meta_graph_pb2), (our_node, node_def_pb2),
         (our_op, op_def_pb2), (our_sm, saved_model_pb2), (our_saver, saver_pb2), (our_var, variable_pb2)]


def _repeated(field: Any) -> bool:
    return bool(field.is_repeated) if hasattr(field, "is_repeated") else bool(field.label == field.LABEL_REPEATED)


def _check_message(ours: Any, theirs: Any) -> int:
    checked = 0
    for field in ours.fields:
        other = theirs.fields_by_name[field.name]
        assert (field.number, field.type, _repeated(field)) == (other.number, other.type, _repeated(other)), f"{ours.full_name}.{field.name}"
        checked += 1
    for nested in ours.nested_types:
        checked += _check_message(nested, theirs.nested_types_by_name[nested.name])
    for enum in ours.enum_types:
        their_enum = theirs.enum_types_by_name[enum.name]
        assert {v.name: v.number for v in enum.values} == {v.name: v.number for v in their_enum.values}
    return checked


@pytest.mark.parametrize(("ours", "theirs"), PAIRS, ids=[p[0].__name__.rsplit(".", 1)[1] for p in PAIRS])
def test_vendored_fields_have_tensorflows_numbers(ours: Any, theirs: Any) -> None:
    checked = 0
    for name, message in ours.DESCRIPTOR.message_types_by_name.items():
        checked += _check_message(message, theirs.DESCRIPTOR.message_types_by_name[name])
    for name, enum in ours.DESCRIPTOR.enum_types_by_name.items():
        their_enum = theirs.DESCRIPTOR.enum_types_by_name[name]
        assert {v.name: v.number for v in enum.values} == {v.name: v.number for v in their_enum.values}
    assert checked or ours.DESCRIPTOR.enum_types_by_name


def test_resource_and_ref_variables_of_a_fresh_graph(tmp_path: Path) -> None:
    """A graph built here, with ref (VariableV2) and resource variables, a custom collection."""
    g = tf.Graph()
    with g.as_default():
        a = tf.compat.v1.Variable(tf.zeros((2, 3), tf.float16), name="ref_var", use_resource=False)
        b = tf.compat.v1.get_variable("res/var", shape=(5,), dtype=tf.float64, trainable=False, use_resource=True)
        tf.compat.v1.add_to_collection(tf.compat.v1.GraphKeys.MODEL_VARIABLES, a)
        tf.compat.v1.train.export_meta_graph(str(tmp_path / "g.meta"))
    meta = tfckpt.read_meta(tmp_path / "g.meta")
    assert isinstance(meta, tfckpt.MetaGraph)
    ref, res = meta.variables["ref_var:0"], meta.variables["res/var:0"]
    assert (ref.dtype, ref.shape, ref.trainable, ref.is_resource) == ("float16", (2, 3), True, False)
    assert (res.dtype, res.shape, res.trainable, res.is_resource) == ("float64", (5,), False, True)
    assert ref.initializer == a.initializer.name and res.initializer == b.initializer.name
    assert meta.collections["model_variables"] == ["ref_var:0"]
    assert ref.collections == ("variables", "trainable_variables", "model_variables")
