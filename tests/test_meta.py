"""tfckpt.read_meta against TensorFlow's own readings of TF-written graphs
(tests/fixtures/meta/generate.py wrote both)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import tfckpt
from tfckpt.tools.meta import MetaGraph, SavedModelInfo

META = Path(__file__).parent / "fixtures" / "meta"
COLLECTIONS = {"global": "variables", "trainable": "trainable_variables", "local": "local_variables",
               "moving_average": "moving_average_variables"}


def _readings(case: str) -> dict[str, Any]:
    return json.loads((META / case / "tf_readings.json").read_text())  # type: ignore[no-any-return]


def _shape(shape: Any) -> Any:
    return None if shape is None else list(shape)


@pytest.mark.parametrize("path", ["model.ckpt-1.meta", "model.ckpt-1", "model.ckpt-1.index", "."])
def test_tf1_meta_graph_matches_import_meta_graph(path: str) -> None:
    tf_says = _readings("tf1_graph")
    meta = tfckpt.read_meta(META / "tf1_graph" / path)
    assert isinstance(meta, MetaGraph)
    for label, collection in COLLECTIONS.items():
        got = [
            {"name": v.name, "dtype": v.dtype, "shape": _shape(v.shape), "initializer": v.initializer,
             "initial_value": v.initial_value, "initial_value_op": v.initial_value_op, "trainable": v.trainable,
             "slice": None if v.slice is None else {"full_name": v.slice.full_name, "full_shape": list(v.slice.full_shape),
                                                   "var_offset": list(v.slice.var_offset), "var_shape": list(v.slice.var_shape)}}
            for v in meta.collection(collection)
        ]
        assert got == tf_says["variables"][label], label
    saver = meta.saver
    assert saver is not None and saver.__dict__ == tf_says["saver"]
    assert meta.op_counts == tf_says["op_counts"]
    assert (meta.tensorflow_version, meta.tensorflow_git_version, meta.graph_producer) == (
        tf_says["tensorflow_version"], tf_says["tensorflow_git_version"], tf_says["graph_producer"])
    assert meta.signatures == {} and meta.tags == ()


def test_tf1_checkpoint_keys_of_trainable_variables_are_in_the_checkpoint() -> None:
    meta = tfckpt.read_meta(META / "tf1_graph" / "model.ckpt-1.meta")
    assert isinstance(meta, MetaGraph)
    keys = meta.trainable_checkpoint_keys()
    assert keys == {"dense/kernel", "dense/bias", "emb", "metrics/total"}
    with tfckpt.open(META / "tf1_graph" / "model.ckpt-1") as ckpt:
        assert {"dense/kernel", "dense/bias", "emb"} <= set(ckpt)  # metrics/total is local: the Saver skips it
        assert ckpt.shape("emb") == (7, 2)


@pytest.mark.parametrize("case", ["keras_savedmodel", "module_savedmodel"])
def test_saved_model_signatures_match_tf_saved_model_load(case: str) -> None:
    tf_says = _readings(case)
    for path in (META / case, META / case / "saved_model.pb"):
        info = tfckpt.read_meta(path)
        assert isinstance(info, SavedModelInfo)
        assert info.schema_version == tf_says["schema_version"]
        assert [list(mg.tags) for mg in info.meta_graphs] == tf_says["tags"]
        graph = info.meta_graphs[0]
        assert graph.tensorflow_version == tf_says["tensorflow_version"]
        for key, want in tf_says["signatures"].items():
            sig = graph.signatures[key]
            assert sig.method_name == want["method_name"]
            assert {k: {"dtype": s.dtype, "shape": _shape(s.shape)} for k, s in sig.inputs.items()} == want["inputs"]
            assert {k: {"dtype": s.dtype, "shape": _shape(s.shape)} for k, s in sig.outputs.items()} == want["outputs"]
            assert {k: s.name for k, s in sig.inputs.items()} == want["input_tensors"]
        assert set(tf_says["signatures"]) <= set(graph.signatures)  # plus __saved_model_init_op, as saved_model_cli shows


def test_not_a_graph(tmp_path: Path) -> None:
    with pytest.raises(tfckpt.InvalidArgumentError, match="not a graph"):
        tfckpt.read_meta(META / "tf1_graph" / "model.ckpt-1.data-00000-of-00001")
    bad = tmp_path / "model.ckpt.meta"
    bad.write_bytes(b"\xff\xff\xff\xff")
    with pytest.raises(tfckpt.CorruptionError, match="MetaGraphDef"):
        tfckpt.read_meta(bad)
    with pytest.raises(FileNotFoundError):
        tfckpt.read_meta(tmp_path / "nothing")
    bad.unlink()
    with pytest.raises(FileNotFoundError, match="no saved_model.pb or .meta"):
        tfckpt.read_meta(tmp_path)


def test_truncated_graph_files_raise_only_corruption_errors() -> None:
    data = (META / "module_savedmodel" / "saved_model.pb").read_bytes()
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        for cut in range(0, len(data), max(1, len(data) // 200)):
            p = Path(d) / "saved_model.pb"
            p.write_bytes(data[:cut])
            try:
                tfckpt.read_meta(p)
            except tfckpt.CorruptionError:
                pass


def test_import_tfckpt_does_not_import_the_tools_or_the_graph_protos() -> None:
    import subprocess
    import sys

    code = "import sys, tfckpt; print(sorted(m for m in sys.modules if m.startswith(('tfckpt.tools', 'tfckpt.proto.meta_graph'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
