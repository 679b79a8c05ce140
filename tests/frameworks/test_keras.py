"""tfckpt.keras: Keras 2 TF-format weights (written by tf_keras, tests/fixtures/keras2) into Keras 3.

Keras 3 fixes its backend when first imported, so this module runs on the backend the process
has (``KERAS_BACKEND``, jax when unset) and :func:`test_other_backends` runs it again in a
subprocess for each other backend installed (jax, torch): one ``pytest tests/frameworks``
covers both. No TensorFlow is involved: the oracle is what Keras 2 predicted, recorded by
``tests/fixtures/keras2/generate.py`` beside the checkpoints.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")
pytest.importorskip(os.environ["KERAS_BACKEND"])
keras = pytest.importorskip("keras")

import tfckpt  # noqa: E402
import tfckpt.keras as tk  # noqa: E402
from tfckpt.cli import main  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "keras2"
sys.path.insert(0, str(FIXTURES))
import keras_models as models  # noqa: E402

sys.path.remove(str(FIXTURES))

BACKEND = keras.backend.backend()
CASES = {case: arch for case, (arch, _) in models.CASES.items()}  # fixture case -> architecture
PREDICT_TOL = 1e-5  # the bound, for predictions from loaded weights
# One more training step runs the backend's own gradients through Adam, whose m / sqrt(v)
# magnifies float32 rounding of small gradients: measured at most 2e-5 on jax, 3e-6 on torch.
TRAIN_STEP_TOL = 1e-4


def ckpt(case: str) -> str:
    """What to pass to load_weights: the save_weights prefix, or a SavedModel's directory."""
    case_dir = FIXTURES / case
    return str(case_dir if (case_dir / "variables").is_dir() else case_dir / "ckpt")


def expected(case: str) -> tuple[Any, dict[str, np.ndarray]]:
    exp = dict(np.load(FIXTURES / case / "expected.npz"))
    x = [exp["x0"], exp["x1"]] if "x0" in exp else exp["x"]
    return x, exp


def predict(model: Any, x: Any) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(model.predict_on_batch(x)))


_MODELS: dict[str, Any] = {}


def compiled(arch: str) -> Any:
    """The Keras 3 model ``arch``, compiled with its optimizer and that optimizer built; one
    per architecture for the module (building and compiling are slow on JAX): every load
    assigns all its weights and optimizer state, so no test sees another's values."""
    if arch not in _MODELS:
        model = models.keras3(arch)
        model.compile(optimizer=models.optimizer(keras, arch), loss="mse")
        model.optimizer.build(model.trainable_variables)
        _MODELS[arch] = model
    return _MODELS[arch]


@pytest.mark.parametrize("case", CASES)
def test_predictions_match_keras2(case: str) -> None:
    model = compiled(CASES[case])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # neither weights nor optimizer state may be skipped
        result = tk.load_weights(model, ckpt(case))
    assert len(result.loaded) == len(model.weights) and not result.skipped and result.optimizer_loaded
    x, exp = expected(case)
    diff = np.abs(predict(model, x) - exp["predict"]).max()
    assert diff <= PREDICT_TOL, f"{case} on {BACKEND}: max |Keras 3 - Keras 2| = {diff:.3g}"


@pytest.mark.parametrize("case", CASES)
def test_optimizer_state_resumes_training(case: str) -> None:
    model = compiled(CASES[case])
    result = tk.load_weights(model, ckpt(case))
    assert result.optimizer_loaded and result.optimizer_message is None
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 1  # one step before saving
    x, exp = expected(case)
    model.train_on_batch(x, exp["y"])
    diff = np.abs(predict(model, x) - exp["predict_after_step"]).max()
    assert diff <= TRAIN_STEP_TOL, f"{case} on {BACKEND}: after a step, max |Keras 3 - Keras 2| = {diff:.3g}"


def test_optimizer_state_needs_a_built_optimizer() -> None:
    model = models.keras3("nested")
    with pytest.warns(UserWarning, match="optimizer state not loaded: the model has no built optimizer"):
        result = tk.load_weights(model, ckpt("nested"))
    assert len(result.loaded) == len(model.weights) and not result.optimizer_loaded
    x, exp = expected("nested")
    assert np.abs(predict(model, x) - exp["predict"]).max() <= PREDICT_TOL


def test_the_training_check_needs_the_optimizer_state() -> None:
    # The same step from a fresh optimizer lands elsewhere: the check above is sensitive to it.
    model = compiled("nested")
    tk.load_weights(model, ckpt("nested"))
    for v in [model.optimizer.iterations, *model.optimizer.momentums]:
        v.assign(np.zeros(tuple(v.shape), v.dtype))  # as a fresh SGD would start
    x, exp = expected("nested")
    model.train_on_batch(x, exp["y"])
    assert np.abs(predict(model, x) - exp["predict_after_step"]).max() > 100 * TRAIN_STEP_TOL


def test_optimizer_of_another_kind_is_skipped_with_a_message() -> None:
    model = models.keras3("cnn")
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="mse")
    model.optimizer.build(model.trainable_variables)
    before = [keras.ops.convert_to_numpy(v).copy() for v in model.optimizer.variables]
    skipped = r"does not match the Keras 3 SGD \(3 problem\(s\)\):\n  - optimizer/_momentums \(11 slots\): no counterpart"
    with pytest.warns(UserWarning, match=skipped):
        result = tk.load_weights(model, ckpt("cnn"))
    assert not result.optimizer_loaded and "SGD" in (result.optimizer_message or "")
    after = [keras.ops.convert_to_numpy(v) for v in model.optimizer.variables]
    assert all(np.array_equal(a, b) for a, b in zip(before, after))  # nothing of it assigned
    x, exp = expected("cnn")
    assert np.abs(predict(model, x) - exp["predict"]).max() <= PREDICT_TOL  # the weights did load


@pytest.mark.parametrize("case", ["cnn", "rnn", "bidirectional", "attention", "nested", "subclassed"])
def test_by_name(case: str) -> None:
    model = compiled(CASES[case])
    result = tk.load_weights(model, ckpt(case), by_name=True)
    assert len(result.loaded) == len(model.weights) and result.optimizer_loaded
    x, exp = expected(case)
    assert np.abs(predict(model, x) - exp["predict"]).max() <= PREDICT_TOL


def test_by_name_loads_layers_in_another_order_and_ignores_extra_ones() -> None:
    # Only the first two layers of the CNN, in a model whose layer_with_weights numbering
    # differs (a new Dense first): by position they would not match, by name they do.
    L = keras.layers
    inp = keras.Input((8, 8, 3))
    new = L.Dense(3, name="new_first")(inp)
    x = L.BatchNormalization(name="bn")(L.Conv2D(4, 3, padding="same", name="conv")(inp))
    model = keras.Model(inp, [new, x])
    with pytest.warns(UserWarning, match="skipped 2 mismatch"):
        result = tk.load_weights(model, ckpt("cnn"), by_name=True, skip_mismatch=True)
    assert result.skipped == [
        "model variable new_first/kernel [3, 3] has no match in the checkpoint",
        "model variable new_first/bias [3] has no match in the checkpoint",
    ]
    with tfckpt.open(ckpt("cnn")) as c:
        for var, key in [(model.get_layer("conv").kernel, "layer_with_weights-0/kernel"),
                         (model.get_layer("bn").moving_variance, "layer_with_weights-1/moving_variance")]:
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(var), c[key + "/.ATTRIBUTES/VARIABLE_VALUE"])
    with pytest.raises(tk.WeightsMismatchError, match="new_first"):
        tk.load_weights(model, ckpt("cnn"), by_name=True)


def _wider_head_rnn() -> Any:
    # The rnn fixture's architecture with two changes: GRU reset_after flipped, head 3 wide.
    L = keras.layers
    return keras.Sequential([
        keras.Input((models.SEQ,), dtype="int32"),
        L.Embedding(models.VOCAB, 8, name="embed"),
        L.LSTM(6, return_sequences=True, name="lstm"),
        L.GRU(5, return_sequences=True, reset_after=False, name="gru_after"),
        L.GRU(4, reset_after=False, name="gru_before"),
        L.Dense(3, name="head"),
    ], name="rnn")


def test_mismatch_lists_every_problem_with_layer_variable_and_shapes() -> None:
    model = _wider_head_rnn()
    with pytest.raises(tk.WeightsMismatchError) as info:
        tk.load_weights(model, ckpt("rnn"))
    err = info.value
    assert isinstance(err, tfckpt.InvalidArgumentError) and isinstance(err, ValueError)
    assert sorted(err.problems) == [
        "Dense 'head' variable 'bias' (rnn/head/bias): checkpoint layer_with_weights-4/bias has shape [2], the model [3]",
        "Dense 'head' variable 'kernel' (rnn/head/kernel): checkpoint layer_with_weights-4/kernel has shape [4, 2], "
        "the model [4, 3]",
        "GRUCell 'gru_cell' variable 'bias' (rnn/gru_after/gru_cell/bias): checkpoint layer_with_weights-2/cell/bias "
        "has shape [2, 15], the model [15] (the checkpoint's GRU was built with reset_after=True (the default): "
        "build the Keras 3 GRU so too)",
    ]
    assert str(err).startswith(f"{ckpt('rnn')}: 3 mismatch(es) between the checkpoint and the model")


def test_count_mismatch_names_both_sides() -> None:
    # A flat Sequential where the checkpoint has a Sequential and a functional sub-model.
    L = keras.layers
    model = keras.Sequential([keras.Input((5,)), L.Dense(6, name="a"), L.Dense(2, name="b"), L.Dense(2, name="c")],
                             name="flat")
    with pytest.raises(tk.WeightsMismatchError) as info:
        tk.load_weights(model, ckpt("nested"))
    problems = info.value.problems
    assert len(problems) == 13
    assert problems[0] == ("Dense 'c' variable 'kernel' (flat/c/kernel): checkpoint layer_with_weights-2/kernel has "
                           "shape [4, 2], the model [2, 2]")
    assert [p for p in problems if p.startswith("model variable")] == [
        f"model variable flat/{v} has no match in the checkpoint"
        for v in ("a/kernel [5, 6]", "a/bias [6]", "b/kernel [6, 2]", "b/bias [2]")]
    assert ("checkpoint variable layer_with_weights-0/layer_with_weights-1/moving_mean (inner_bn/moving_mean) [6] "
            "matches nothing in the model") in problems
    assert sum(p.startswith("checkpoint variable") for p in problems) == 8


def test_skip_mismatch_warns_and_loads_the_rest() -> None:
    model = _wider_head_rnn()
    with pytest.warns(UserWarning, match=r"skipped 3 mismatch\(es\):\n  - Dense 'head' variable 'kernel'"):
        result = tk.load_weights(model, ckpt("rnn"), skip_mismatch=True)
    assert len(result.skipped) == 3 and len(result.loaded) == len(model.weights) - 3
    with tfckpt.open(ckpt("rnn")) as c:
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(model.layers[1].cell.recurrent_kernel),
                                      c["layer_with_weights-1/cell/recurrent_kernel/.ATTRIBUTES/VARIABLE_VALUE"])


def test_unbuilt_model_is_refused() -> None:
    model = keras.Sequential([keras.layers.Dense(2)])
    with pytest.raises(tfckpt.InvalidArgumentError, match="has no weights yet: build it first"):
        tk.load_weights(model, ckpt("cnn"))


def test_name_based_checkpoint_is_refused(tmp_path: Path) -> None:
    tfckpt.save(str(tmp_path / "tf1"), {"dense/kernel": np.ones((8, 3), np.float32)})
    with pytest.raises(tfckpt.InvalidArgumentError, match="no object graph, so not a Keras TF-format checkpoint"):
        tk.load_weights(compiled("cnn"), str(tmp_path / "tf1"))


def test_keras3_native_file_after_loading(tmp_path: Path) -> None:
    model = compiled("bidirectional")
    tk.load_weights(model, FIXTURES / "bidirectional")  # the directory: its state file names ckpt
    model.save_weights(str(tmp_path / "bi.weights.h5"))
    assert_loads_natively(model, tmp_path / "bi.weights.h5", "bidirectional")


def assert_loads_natively(model: Any, path: Path, case: str) -> None:
    """Keras 3's own loader reads ``path`` into ``model`` (weights zeroed first) and the model
    predicts what Keras 2 did."""
    for v in model.weights:
        v.assign(np.zeros(tuple(v.shape), v.dtype))
    model.load_weights(str(path))
    x, exp = expected(case)
    assert np.abs(predict(model, x) - exp["predict"]).max() <= PREDICT_TOL


def test_cli_writes_the_keras3_file(handoff_dir: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    # Handed off: tests/interop loads the file into Keras 3 on the TensorFlow backend.
    out_dir = handoff_dir("keras")
    out = out_dir / f"attention-{BACKEND}.weights.h5"
    monkeypatch.chdir(FIXTURES)  # MODULE is imported from the current directory, as python -m does
    assert main(["keras", "attention/ckpt", str(out), "--model", "keras_models:build_attention", "--backend", BACKEND]) == 0
    assert capsys.readouterr().out == f"wrote {out}: 19 variables from attention/ckpt\n"
    assert not [p for p in out_dir.iterdir() if ".tmp" in p.name]  # no temporary file left
    assert_loads_natively(compiled("attention"), out, "attention")


def test_cli_mismatch_lists_everything_and_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(FIXTURES)
    out = tmp_path / "x.weights.h5"
    assert main(["keras", "rnn/ckpt", str(out), "--model", "keras_models:build_cnn"]) == 1
    err = capsys.readouterr().err
    assert sum(line.startswith("  - ") for line in err.splitlines()) == 23
    assert "tfckpt keras: error: rnn/ckpt: 23 mismatch(es)" in err
    assert "hint: --skip-mismatch" in err and not out.exists()


@pytest.mark.parametrize(("argv", "message"), [
    (["cnn/ckpt", "x.h5", "--model", "keras_models:build_cnn"], "ending in .weights.h5"),
    (["cnn/ckpt", "x.weights.h5", "--model", "keras_models"], "expected MODULE:FUNCTION"),
    (["cnn/ckpt", "x.weights.h5", "--model", "no_such_module_here:f"], "cannot import no_such_module_here"),
    (["cnn/ckpt", "x.weights.h5", "--model", "keras_models:nope"], "keras_models has no attribute 'nope'"),
])
def test_cli_usage_errors(argv: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(FIXTURES)
    argv = [a if not a.endswith(".h5") else str(tmp_path / a) for a in argv]
    assert main(["keras", *argv]) == 2
    assert message in capsys.readouterr().err


def test_cli_refuses_a_second_backend(capsys: pytest.CaptureFixture[str]) -> None:
    other = "torch" if BACKEND == "jax" else "jax"
    assert main(["keras", "x", "x.weights.h5", "--model", "m:f", "--backend", other]) == 2
    assert f"Keras is already running on {BACKEND}, not {other}" in capsys.readouterr().err


def test_tables_name_what_keras3_has() -> None:
    # The Keras 3 side of every optimizer row: each named list exists once built with every
    # option that creates slots; each sub-layer attribute exists on a built layer.
    from tfckpt.keras._tables import LEGACY_OPTIMIZER_SLOTS, OPTIMIZER_SCALARS, OPTIMIZER_SLOT_LISTS, SUBLAYER_EDGES

    options = {"Adam": {"amsgrad": True}, "AdamW": {"amsgrad": True}, "SGD": {"momentum": 0.9},
               "RMSprop": {"momentum": 0.9, "centered": True}}
    var = keras.Variable(np.zeros((2, 3), np.float32))
    for name in OPTIMIZER_SLOT_LISTS.keys() | LEGACY_OPTIMIZER_SLOTS.keys():
        opt = getattr(keras.optimizers, name)(**options.get(name, {}))
        opt.build([var])
        for attr in {*OPTIMIZER_SLOT_LISTS.get(name, {}).values(), *LEGACY_OPTIMIZER_SLOTS.get(name, {}).values()}:
            slots = getattr(opt, attr)
            assert isinstance(slots, list) and len(slots) == 1 and tuple(slots[0].shape) == (2, 3), (name, attr)
        assert {"_iterations", "_learning_rate"} <= {a for a in OPTIMIZER_SCALARS.values() if hasattr(opt, a)}
    L = keras.layers
    layers = {"RNN": L.RNN(L.SimpleRNNCell(2)), "Bidirectional": L.Bidirectional(L.LSTM(2)),
              "TimeDistributed": L.TimeDistributed(L.Dense(2)), "MultiHeadAttention": L.MultiHeadAttention(2, 2)}
    for name, layer in layers.items():
        t = keras.Input((3, 4))
        layer(t, t) if name == "MultiHeadAttention" else layer(t)
        for _, attr in SUBLAYER_EDGES[name]:
            assert getattr(layer, attr).weights, (name, attr)


def test_import_tfckpt_and_its_cli_import_no_framework() -> None:
    code = "import sys, tfckpt, tfckpt.cli; print(sorted(m for m in ('keras', 'jax', 'torch') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert out.stdout.strip() == "[]"


@pytest.mark.skipif(bool(os.environ.get("TFCKPT_KERAS_CHILD")), reason="already the run for another backend")
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_other_backends(backend: str) -> None:
    """This module again in a fresh process on ``backend`` (Keras' backend is per process)."""
    if backend == BACKEND:
        pytest.skip(f"this process runs on {backend}")
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    env = {**os.environ, "KERAS_BACKEND": backend, "TFCKPT_KERAS_CHILD": "1",
           "PYTHONPATH": os.pathsep.join([str(Path(tfckpt.__file__).parents[1]), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          __file__], capture_output=True, text=True, env=env, cwd=Path(__file__).parents[2])
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else ""
    assert run.returncode == 0, f"the {backend} run failed ({summary}):\n{run.stdout[-6000:]}\n{run.stderr[-2000:]}"
    assert " passed" in summary and " failed" not in summary, summary


def test_graph_naming_a_missing_tensor_is_corruption(tmp_path: Path) -> None:
    # The object graph of the cnn fixture with only the head's tensors beside it.
    with tfckpt.open(ckpt("cnn")) as c:
        kept = {k: c.get_tensor(k, copy=True) for k in c if k.startswith(("_CHECKPOINTABLE", "layer_with_weights-4/"))}
    tfckpt.save(str(tmp_path / "partial"), kept)
    with pytest.raises(tfckpt.CorruptionError, match="layer_with_weights-0/kernel.*the object graph names this tensor"):
        tk.load_weights(compiled("cnn"), str(tmp_path / "partial"))
