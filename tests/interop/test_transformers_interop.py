"""TensorFlow reads back the reverse direction, and transformers 4.x's converters still give the expectations.

* ``tfckpt.transformers.to_tf1`` of an export gives a TF1 checkpoint whose variables, as
  ``tf.train.load_checkpoint`` reads them, are the original checkpoint's non-optimizer
  variables (names, dtypes, shapes, bytes). Checked on what tests/frameworks wrote after
  transformers 5 loaded the export (the hand-off), and on a round trip made here.
* A graph with Google's variable names restores the checkpoint with ``tf.compat.v1.train.Saver``.
* transformers 4.57's ``load_tf_weights_in_*`` re-run on the fixtures give the committed
  state dicts (tests/fixtures/transformers/generate.py made them).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfckpt.transformers as tt  # noqa: E402

FIXTURES = Path(__file__).parent.parent / "fixtures" / "transformers"
CASES = [("bert", "bert", None), ("albert", "albert", None), ("electra", "electra", "discriminator"),
         ("electra", "electra", "generator"), ("t5_v1_0", "t5", None), ("t5_v1_1", "t5", None)]
IDS = [f"{c}-{p}" if p else c for c, _, p in CASES]
# Fine-tuned BERT: the 4.x converter fails on their heads, so only the round trips run on them.
ROUND_TRIPS = [*CASES, ("bert_classifier", "bert", "classifier"), ("bert_squad", "bert", "squad")]
ROUND_TRIP_IDS = [f"{c}-{p}" if p else c for c, _, p in ROUND_TRIPS]


def _prefix(case: str) -> str:
    """The fixture's checkpoint prefix (Google's releases ship no 'checkpoint' state file)."""
    (index,) = (FIXTURES / case / "tf").glob("*.index")
    return str(index)[: -len(".index")]


def _tf_model_variables(case: str, part: str | None) -> dict[str, Any]:
    """TensorFlow's reading of the fixture, without optimizer state (and of one ELECTRA part)."""
    reader = tf.train.load_checkpoint(_prefix(case))
    names = [n for n in reader.get_variable_to_shape_map() if not ("adam_" in n or "_slot_" in n or n == "global_step")]
    if part == "generator":
        names = [n for n in names if n.startswith(("generator", "electra/embeddings/"))]
    elif part == "discriminator":
        names = [n for n in names if not n.startswith("generator")]
    elif part == "squad":
        names = [n for n in names if not n.startswith("bert/pooler/")]
    return {n: reader.get_tensor(n) for n in names}


def _check(prefix: Path, case: str, part: str | None, read_with_tf: Callable[..., Any], exact_dtype: bool) -> None:
    back = read_with_tf(prefix)
    original = _tf_model_variables(case, part)
    dtypes = tf.train.load_checkpoint(_prefix(case)).get_variable_to_dtype_map()
    assert set(back) == set(original)
    for name, (dtype, shape, value) in back.items():
        assert list(shape) == list(original[name].shape), name
        if exact_dtype:
            assert dtype == dtypes[name].name and np.asarray(value).tobytes() == np.asarray(original[name]).tobytes(), name
        else:  # exported as float32 (the default), then written back as float32
            assert dtype == "float32" and np.array_equal(value, np.asarray(original[name]).astype(np.float32)), name


@pytest.mark.parametrize("case,model,part", ROUND_TRIPS, ids=ROUND_TRIP_IDS)
def test_tensorflow_reads_the_hand_off_back(handoff_input: Callable[[str], Path], read_with_tf: Callable[..., Any],
                                            case: str, model: str, part: str | None) -> None:
    directory = handoff_input("transformers") / (f"{case}-{part}" if part else case)
    if not directory.is_dir():
        pytest.skip(f"tests/frameworks wrote no {directory.name}")
    _check(directory / "model.ckpt", case, part, read_with_tf, exact_dtype=case != "t5_v1_1")


@pytest.mark.parametrize("case,model,part", ROUND_TRIPS, ids=ROUND_TRIP_IDS)
def test_round_trip_read_by_tensorflow(tmp_path: Path, read_with_tf: Callable[..., Any], case: str, model: str,
                                       part: str | None) -> None:
    tt.export(FIXTURES / case / "tf", tmp_path / "hf", model=model, part=part, keep_dtype=True)
    tt.to_tf1(tmp_path / "hf", tmp_path / "tf" / "model.ckpt", model=model)
    _check(tmp_path / "tf" / "model.ckpt", case, part, read_with_tf, exact_dtype=True)


def test_googles_graph_restores_the_reverse(tmp_path: Path) -> None:
    """Variables created as google-research/bert creates them restore from the reverse checkpoint."""
    tt.export(FIXTURES / "bert" / "tf", tmp_path / "hf", model="bert")
    tt.to_tf1(tmp_path / "hf", tmp_path / "tf" / "bert_model.ckpt", model="bert")
    original = _tf_model_variables("bert", None)
    graph = tf.Graph()
    with graph.as_default():
        variables = {n: tf.compat.v1.get_variable(n, shape=v.shape, dtype=tf.float32, use_resource=False)
                     for n, v in original.items()}
        saver = tf.compat.v1.train.Saver(var_list=variables)
        with tf.compat.v1.Session(graph=graph) as sess:
            saver.restore(sess, str(tmp_path / "tf" / "bert_model.ckpt"))
            values = sess.run(variables)
    for n, v in original.items():
        assert np.array_equal(values[n], v), n


@pytest.mark.parametrize("case,model,part", CASES, ids=IDS)
def test_transformers_4x_converters_still_give_the_expectations(tmp_path: Path, case: str, model: str, part: str | None) -> None:
    transformers = pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    if not transformers.__version__.startswith("4."):
        pytest.skip("needs transformers 4.x (its TensorFlow converters)")
    expected = FIXTURES / case / (f"expected_{part}" if part else "expected")
    config = transformers.AutoConfig.from_pretrained(str(expected))
    cls = getattr(transformers, config.architectures[0])
    torch.manual_seed(0)
    model_ = cls(config)
    loader = getattr(transformers, f"load_tf_weights_in_{model}")
    args = (part,) if model == "electra" else ()
    loader(model_, config, _prefix(case), *args)
    model_.save_pretrained(str(tmp_path), safe_serialization=True)
    ours = safetensors_numpy.load_file(str(tmp_path / "model.safetensors"))
    theirs = safetensors_numpy.load_file(str(expected / "model.safetensors"))
    assert sorted(ours) == sorted(theirs)
    for n in theirs:
        assert np.array_equal(ours[n], theirs[n]), n
