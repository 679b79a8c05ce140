"""transformers 5 loads what ``tfckpt.transformers.export`` wrote, as transformers 4.x's converters made it.

For each fixture (tests/fixtures/transformers/generate.py): export the Google TF checkpoint
with tfckpt, load the directory with the Auto class the report names (the default
``from_pretrained``, no TensorFlow anywhere), and check: no unexpected keys; missing keys
exactly the report's (none for these complete pretraining checkpoints); every weight equal to
the state dict transformers 4.57's ``load_tf_weights_in_*`` produced; the logits on the fixed
inputs equal to 4.57's within float32 rounding. The reverse direction's TF1 checkpoint goes
to the hand-off directory, where tests/interop has TensorFlow read it back.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
safetensors_numpy = pytest.importorskip("safetensors.numpy")

import tfckpt.transformers as tt  # noqa: E402

FIXTURES = Path(__file__).parent.parent / "fixtures" / "transformers"

# (case, model, part, expectation directory, outputs compared)
CASES = [
    ("bert", "bert", None, "expected", ("prediction_logits", "seq_relationship_logits")),
    ("bert_classifier", "bert", "classifier", "expected", ("logits",)),
    ("bert_squad", "bert", "squad", "expected", ("start_logits", "end_logits")),
    ("albert", "albert", None, "expected", ("prediction_logits", "sop_logits")),
    ("electra", "electra", "discriminator", "expected_discriminator", ("logits",)),
    ("electra", "electra", "generator", "expected_generator", ("logits",)),
    ("t5_v1_0", "t5", None, "expected", ("logits",)),
    ("t5_v1_1", "t5", None, "expected", ("logits",)),
]
IDS = [f"{c}-{p}" if p else c for c, _, p, _, _ in CASES]


@pytest.mark.parametrize("case,model,part,expected,outputs", CASES, ids=IDS)
def test_transformers_5_loads_the_export(
    tmp_path: Path, handoff_dir: Callable[[str], Path], case: str, model: str, part: str | None, expected: str,
    outputs: tuple[str, ...],
) -> None:
    out = tmp_path / "hf"
    report = tt.export(FIXTURES / case / "tf", out, model=model, part=part)
    auto = getattr(transformers, report.auto_class)
    loaded, info = auto.from_pretrained(str(out), output_loading_info=True)
    loaded.eval()
    assert not info["unexpected_keys"] and not info["mismatched_keys"] and not info["error_msgs"]
    assert sorted(info["missing_keys"]) == report.missing
    assert type(loaded).__name__ == tt.family(model).parts[part or tt.family(model).default_part].architecture

    theirs = safetensors_numpy.load_file(str(FIXTURES / case / expected / "model.safetensors"))
    state = loaded.state_dict()
    for name, value in theirs.items():
        assert np.array_equal(state[name].numpy(), value), name
    # the tied copies (MLM decoders, T5's embed_tokens, a v1.0 lm_head) share the loaded embeddings' storage
    exported = {t.data_ptr() for k, t in state.items() if k in theirs}
    for name, flag in tt.family(model).tied:
        if name in state and name.endswith(".weight") and (flag is None or getattr(loaded.config, flag, True)):
            assert state[name].data_ptr() in exported, name

    logits = np.load(FIXTURES / case / expected / "logits.npz")
    inputs = {k: torch.from_numpy(logits[k]) for k in ("input_ids", "token_type_ids", "decoder_input_ids") if k in logits}
    with torch.no_grad():
        result = loaded(**inputs)
    for o in outputs:
        ours = getattr(result, o).numpy()
        diff = float(np.max(np.abs(ours - logits[o])))
        print(f"{case} {part or ''} {o}: {ours.size} values, max |transformers 5 - transformers 4.57| = {diff:.3g}")
        np.testing.assert_allclose(ours, logits[o], rtol=1e-5, atol=1e-5)

    back = handoff_dir("transformers") / (f"{case}-{part}" if part else case)
    tt.to_tf1(out, back / "model.ckpt", model=model)


def test_missing_keys_are_the_reports(tmp_path: Path) -> None:
    """A checkpoint without the next-sentence head: transformers 5 misses exactly what the report lists."""
    report = tt.export(Path(__file__).parent.parent.parent / "examples" / "bert_tiny", tmp_path, model="bert")
    _, info = transformers.AutoModelForPreTraining.from_pretrained(str(tmp_path), output_loading_info=True)
    assert report.missing == ["cls.seq_relationship.bias", "cls.seq_relationship.weight"]
    assert sorted(info["missing_keys"]) == report.missing and not info["unexpected_keys"]


def test_sharded_export_loads(tmp_path: Path) -> None:
    report = tt.export(FIXTURES / "t5_v1_0" / "tf", tmp_path, model="t5", max_shard_size=10_000)
    assert (tmp_path / "model.safetensors.index.json").exists() and not (tmp_path / "model.safetensors").exists()
    loaded, info = transformers.AutoModelForSeq2SeqLM.from_pretrained(str(tmp_path), output_loading_info=True)
    assert not info["unexpected_keys"] and not info["missing_keys"] and report.missing == []
    theirs = safetensors_numpy.load_file(str(FIXTURES / "t5_v1_0" / "expected" / "model.safetensors"))
    state = loaded.state_dict()
    assert all(np.array_equal(state[n].numpy(), v) for n, v in theirs.items())
