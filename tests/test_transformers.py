"""tfckpt.transformers: Google TF checkpoints <-> transformers directories, without either library.

The expectations under tests/fixtures/transformers/<case>/expected*/ are what transformers
4.57's own ``load_tf_weights_in_{bert,albert,electra,t5}`` made of the TF checkpoints beside
them, saved with ``save_pretrained`` (tests/fixtures/transformers/generate.py); the converters
ran on Google's pretraining names (the ELECTRA one skips the Adam slots only by catching the
AttributeError they raise). On the fine-tuned BERT checkpoints (run_classifier.py's
``output_weights``, run_squad.py's ``cls/squad/``) ``load_tf_weights_in_bert`` fails, so
their expectations are its conversion of the shared body plus the heads placed by the mapping
Google's code implies (``logits = x @ W.T + b``: torch's ``Linear`` layout, no transpose).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tfckpt
import tfckpt.transformers as tt
from tfckpt.errors import CorruptionError, InvalidArgumentError, NotFoundError
from tfckpt.safetensors_io import SafetensorsFile
from tfckpt.transformers._rules import CompiledRules, Rule, Template

safetensors_numpy = pytest.importorskip("safetensors.numpy")

FIXTURES = Path(__file__).parent / "fixtures" / "transformers"

# (case, model, part, expectation directory)
CASES = [
    ("bert", "bert", None, "expected"),
    ("bert_classifier", "bert", "classifier", "expected"),  # the 4.x converter fails: expectation by mapping
    ("bert_squad", "bert", "squad", "expected"),  # likewise (generate.py checks it still fails)
    ("albert", "albert", None, "expected"),
    ("electra", "electra", "discriminator", "expected_discriminator"),
    ("electra", "electra", "generator", "expected_generator"),
    ("t5_v1_0", "t5", None, "expected"),
    ("t5_v1_1", "t5", None, "expected"),
]
IDS = [f"{c}-{p}" if p else c for c, _, p, _ in CASES]


def _ckpt(case: str) -> Path:
    return FIXTURES / case / "tf"


def _model_variables(case: str) -> dict[str, np.ndarray]:
    """The fixture's non-optimizer variables (what the reverse direction must give back)."""
    with tfckpt.open(_ckpt(case)) as ckpt:
        return {n: ckpt.get_tensor(n, copy=True) for n in ckpt if not ("adam_" in n or "_slot_" in n or n == "global_step")}


# -- the engine ------------------------------------------------------------------------------


def test_template_placeholders_match_whole_names_and_pad() -> None:
    t = Template("encoder/block_{b:03}/layer_{l}/q")
    assert t.match("encoder/block_007/layer_11/q") == {"b": 7, "l": 11}
    assert t.match("encoder/block_1234/layer_0/q") == {"b": 1234, "l": 0}
    assert t.match("encoder/block_07/layer_1/q") is None  # fewer digits than the width
    assert t.match("encoder/block_007/layer_01/q") is None  # a leading zero is another name
    assert t.match("encoder/block_007/layer_1/q/extra") is None
    assert t.format({"b": 7, "l": 11}) == "encoder/block_007/layer_11/q"
    with pytest.raises(InvalidArgumentError, match="twice"):
        Template("a_{x}/b_{x}")


def test_rules_refuse_unknown_transforms_and_unequal_placeholders() -> None:
    with pytest.raises(InvalidArgumentError, match="unknown transform"):
        Rule("a", "b", "rotate")
    with pytest.raises(InvalidArgumentError, match="same placeholders"):
        Rule("a_{n}", "b")


def test_two_names_mapping_to_one_target_is_an_error() -> None:
    rules = CompiledRules([Rule("a/{n}", "x.{n}"), Rule("b/{n}", "x.{n}")])
    with pytest.raises(InvalidArgumentError, match="both map to 'x.3'"):
        rules.map_all(["a/3", "b/3"])


def _samples(template: Template) -> list[dict[str, int]]:
    return [{p: v for p in template.placeholders} for v in (0, 11)]


@pytest.mark.parametrize("model,part", [(f.name, p) for f in tt.FAMILIES.values() for p in f.parts])
def test_every_row_runs_forward_and_back(model: str, part: str) -> None:
    """Each row maps its own TF name to its transformers name and back, with inverse transforms,
    and no other row of the table captures either name first."""
    rules = tt.family(model).parts[part].rules
    compiled = CompiledRules(rules)
    for rule in rules:
        tf_t, hf_t = Template(rule.tf), Template(rule.hf)
        for values in _samples(tf_t):
            tf_name, hf_name = tf_t.format(values), hf_t.format(values)
            fwd, rev = compiled.forward(tf_name), compiled.reverse(hf_name)
            assert fwd is not None and fwd.rule is rule and fwd.target == hf_name, (tf_name, fwd)
            assert rev is not None and rev.rule is rule and rev.target == tf_name, (hf_name, rev)
            assert tt.TRANSFORMS[fwd.transform].inverse == rev.transform
            a = np.arange(6, dtype=np.float32).reshape(2, 3)
            back = tt.TRANSFORMS[rev.transform].array(tt.TRANSFORMS[fwd.transform].array(a))
            assert np.array_equal(back, a)
            assert tt.TRANSFORMS[fwd.transform].shape((2, 3)) == tt.TRANSFORMS[fwd.transform].array(a).shape


def test_kernels_are_transposed_embeddings_and_norms_are_not() -> None:
    rules = CompiledRules(tt.family("bert").parts["pretraining"].rules)
    assert rules.forward("bert/encoder/layer_3/attention/self/query/kernel").transform == "transpose"  # type: ignore[union-attr]
    assert rules.forward("bert/embeddings/word_embeddings").transform == "copy"  # type: ignore[union-attr]
    assert rules.forward("cls/seq_relationship/output_weights").transform == "copy"  # type: ignore[union-attr]
    t5 = CompiledRules(tt.family("t5").parts["conditional-generation"].rules)
    m = t5.forward("decoder/block_000/layer_000/SelfAttention/relative_attention_bias")
    assert m is not None and m.transform == "transpose" and m.target.endswith("relative_attention_bias.weight")
    assert t5.forward("decoder/block_001/layer_000/SelfAttention/relative_attention_bias") is None  # only block 0 has one


# -- export: the 4.x converters' state dicts -------------------------------------------------


@pytest.mark.parametrize("case,model,part,expected", CASES, ids=IDS)
def test_export_equals_transformers_4x_converter(tmp_path: Path, case: str, model: str, part: str | None, expected: str) -> None:
    report = tt.export(_ckpt(case), tmp_path, model=model, part=part)
    ours = safetensors_numpy.load_file(str(tmp_path / "model.safetensors"))
    theirs = safetensors_numpy.load_file(str(FIXTURES / case / expected / "model.safetensors"))
    assert sorted(ours) == sorted(theirs)
    for name in theirs:
        assert ours[name].dtype == theirs[name].dtype == np.float32, name
        assert np.array_equal(ours[name], theirs[name]), name
    assert report.missing == [] and report.unmatched == []
    assert len(report.matched) == len(theirs)
    # the config transformers 4.x's model was built with: every field that shapes the model agrees
    ours_config = json.loads((tmp_path / "config.json").read_text())
    theirs_config = json.loads((FIXTURES / case / expected / "config.json").read_text())
    for key in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                "embedding_size", "hidden_act", "num_hidden_groups", "inner_group_num", "d_model", "d_kv", "d_ff",
                "num_heads", "num_layers", "num_decoder_layers", "feed_forward_proj", "tie_word_embeddings",
                "relative_attention_num_buckets", "relative_attention_max_distance", "max_position_embeddings",
                "type_vocab_size", "model_type", "architectures", "is_encoder_decoder", "layer_norm_epsilon"):
        if key in theirs_config:
            assert ours_config.get(key) == theirs_config[key], key
    theirs_meta = SafetensorsFile(tmp_path / "model.safetensors").metadata
    assert theirs_meta == {"format": "pt"}


def test_report_counts_what_was_skipped(tmp_path: Path) -> None:
    with tfckpt.open(_ckpt("electra")) as ckpt:
        names = list(ckpt)
    report = tt.export(_ckpt("electra"), tmp_path, model="electra")
    slots = [n for n in names if n.endswith(("/adam_m", "/adam_v"))]
    assert sorted(report.optimizer) == sorted(slots + ["global_step"])
    generator = [n for n in names if n.startswith(("generator/", "generator_predictions/")) and n not in slots]
    assert sorted(report.ignored) == sorted(generator)
    assert len(report.matched) + len(report.ignored) + len(report.optimizer) == len(names)
    text = str(report)
    assert f"skipped {len(slots) + 1} optimizer slots and counters" in text
    assert "missing: none" in text and "AutoModelForPreTraining" in text
    t5 = tt.export(_ckpt("t5_v1_1"), tmp_path / "t5", model="t5")
    assert all(n.endswith(("_slot_vc", "_slot_vr", "_slot_v")) or n == "global_step" for n in t5.optimizer)
    assert len(t5.optimizer) == 1 + sum(2 if len(s) == 2 else 1 for n, s in _shapes("t5_v1_1").items() if "_slot_" not in n and n != "global_step")
    assert t5.auto_class == "AutoModelForSeq2SeqLM"
    gen = tt.export(_ckpt("electra"), tmp_path / "gen", model="electra", part="generator")
    assert gen.auto_class == "AutoModelForMaskedLM"


def _shapes(case: str) -> dict[str, tuple[int, ...]]:
    with tfckpt.open(_ckpt(case)) as ckpt:
        return {n: ckpt.shape(n) for n in ckpt}


def test_missing_keys_are_those_truly_absent(tmp_path: Path) -> None:
    """A checkpoint without the next-sentence head (the bundled example) reports exactly it missing."""
    report = tt.export("examples/bert_tiny", tmp_path, model="bert")
    assert report.missing == ["cls.seq_relationship.bias", "cls.seq_relationship.weight"]
    assert "missing: cls.seq_relationship.bias, cls.seq_relationship.weight" in str(report)


# -- config ----------------------------------------------------------------------------------


def test_google_config_is_copied_verbatim(tmp_path: Path) -> None:
    google = json.loads((_ckpt("bert") / "bert_config.json").read_text())
    google.update(hidden_act="gelu_new", initializer_range=0.5, my_note="kept")
    report = tt.export(_ckpt("bert"), tmp_path, model="bert", config=google)
    config = json.loads((tmp_path / "config.json").read_text())
    for key, value in google.items():
        assert config[key] == value
    assert config["architectures"] == ["BertForPreTraining"] and config["model_type"] == "bert"
    assert report.config == config


def test_config_file_beside_the_checkpoint_is_found(tmp_path: Path) -> None:
    report = tt.export(_ckpt("albert"), tmp_path, model="albert")
    assert report.config["num_hidden_layers"] == 3  # only albert_config.json knows it (shared layers)


def test_missing_config_fields_are_named(tmp_path: Path) -> None:
    (tmp_path / "ckpt").mkdir()
    for f in _ckpt("bert").glob("bert_model.ckpt.*"):
        (tmp_path / "ckpt" / f.name).write_bytes(f.read_bytes())
    with pytest.raises(InvalidArgumentError, match=r"num_attention_heads missing; the checkpoint's shapes .* --num-heads"):
        tt.export(tmp_path / "ckpt", tmp_path / "out", model="bert")
    assert not (tmp_path / "out").exists()
    report = tt.export(tmp_path / "ckpt", tmp_path / "out", model="bert", num_heads=2)
    assert report.config["num_attention_heads"] == 2 and report.config["hidden_act"] == "gelu"  # Google's default
    with pytest.raises(InvalidArgumentError, match=r"albert config: num_attention_heads, num_hidden_layers missing"):
        tt.export(_ckpt("albert"), tmp_path / "a", model="albert", config={})
    report = tt.export(_ckpt("albert"), tmp_path / "a", model="albert", config={}, num_heads=2, overrides={"num_hidden_layers": 3})
    assert report.config["num_hidden_layers"] == 3


def test_config_contradicting_the_shapes_is_an_error(tmp_path: Path) -> None:
    google = json.loads((_ckpt("bert") / "bert_config.json").read_text())
    google["hidden_size"] = 768
    with pytest.raises(InvalidArgumentError, match="hidden_size=768 but the checkpoint's shapes give 16"):
        tt.export(_ckpt("bert"), tmp_path, model="bert", config=google)


def test_electra_heads_follow_electras_rule_and_t5_config_tells_v1_1(tmp_path: Path) -> None:
    disc = tt.export(_ckpt("electra"), tmp_path / "d", model="electra")
    assert disc.config["num_attention_heads"] == max(1, 16 // 64) == 1
    assert disc.config["embedding_size"] == 12 and disc.config["hidden_size"] == 16
    gen = tt.export(_ckpt("electra"), tmp_path / "g", model="electra", part="generator", num_heads=2)
    assert gen.config["num_attention_heads"] == 2 and gen.config["hidden_size"] == 8
    v10 = tt.export(_ckpt("t5_v1_0"), tmp_path / "t0", model="t5").config
    v11 = tt.export(_ckpt("t5_v1_1"), tmp_path / "t1", model="t5").config
    assert (v10["feed_forward_proj"], v10["tie_word_embeddings"]) == ("relu", True)
    assert (v11["feed_forward_proj"], v11["tie_word_embeddings"]) == ("gated-gelu", False)
    assert v11["num_heads"] == 2 and v11["d_kv"] == 4 and v11["relative_attention_num_buckets"] == 8


def test_float32_by_default_and_the_stored_dtype_on_request(tmp_path: Path) -> None:
    assert _ckpt_dtype("t5_v1_1", "shared/embedding") == "bfloat16"
    tt.export(_ckpt("t5_v1_1"), tmp_path / "f32", model="t5")
    tt.export(_ckpt("t5_v1_1"), tmp_path / "bf16", model="t5", keep_dtype=True)
    f32, bf16 = SafetensorsFile(tmp_path / "f32" / "model.safetensors"), SafetensorsFile(tmp_path / "bf16" / "model.safetensors")
    assert {f32.spec(n).dtype for n in f32.names} == {"float32"}
    assert {bf16.spec(n).dtype for n in bf16.names} == {"bfloat16"}
    for n in f32.names:
        assert np.array_equal(f32.get(n), bf16.get(n).astype(np.float32))


def _ckpt_dtype(case: str, name: str) -> str:
    with tfckpt.open(_ckpt(case)) as ckpt:
        return ckpt.dtype(name)


# -- errors ----------------------------------------------------------------------------------


def test_unknown_tensors_are_all_named(tmp_path: Path) -> None:
    values = _model_variables("bert")
    values["cls/ner/output_weights"] = np.zeros((2, 16), np.float32)
    values["bert/extra"] = np.zeros(3, np.float32)
    tfckpt.save(tmp_path / "ckpt" / "bert_model.ckpt", values)
    with pytest.raises(InvalidArgumentError, match=r"2 tensors no transformers rule maps: bert/extra, cls/ner/output_weights"):
        tt.export(tmp_path / "ckpt", tmp_path / "out", model="bert", num_heads=2)
    report = tt.export(tmp_path / "ckpt", tmp_path / "out", model="bert", num_heads=2, skip_unmatched=True)
    assert report.unmatched == ["bert/extra", "cls/ner/output_weights"]


def test_wrong_family_or_part(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="unknown model family 'gpt2'"):
        tt.export(_ckpt("bert"), tmp_path, model="gpt2")
    with pytest.raises(InvalidArgumentError, match="electra has no part 'critic'"):
        tt.export(_ckpt("electra"), tmp_path, model="electra", part="critic")
    with pytest.raises(InvalidArgumentError, match="no transformers rule maps"):
        tt.export(_ckpt("t5_v1_0"), tmp_path, model="bert")


# -- sharding and the reverse direction ------------------------------------------------------


def test_sharded_output_has_transformers_index(tmp_path: Path) -> None:
    tt.export(_ckpt("bert"), tmp_path, model="bert", max_shard_size=8000)
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    shards = sorted(p.name for p in tmp_path.glob("model-*.safetensors"))
    assert len(shards) > 2 and shards[0] == f"model-00001-of-{len(shards):05d}.safetensors"
    assert sorted(set(index["weight_map"].values())) == shards
    assert not (tmp_path / "model.safetensors").exists()
    sizes = {}
    for s in shards:
        f = SafetensorsFile(tmp_path / s)
        sizes[s] = sum(f.spec(n).nbytes for n in f.names)
        assert all(index["weight_map"][n] == s for n in f.names)
        assert sizes[s] <= 8000 or len(f.names) == 1
    assert index["metadata"]["total_size"] == sum(sizes.values())
    expected = safetensors_numpy.load_file(str(FIXTURES / "bert" / "expected" / "model.safetensors"))
    assert sorted(index["weight_map"]) == sorted(expected)
    # a new single-file export into the same directory leaves no stale shard behind
    tt.export(_ckpt("bert"), tmp_path, model="bert")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]


@pytest.mark.parametrize("case,model,part,expected", CASES, ids=IDS)
def test_round_trip_gives_back_googles_variables(tmp_path: Path, case: str, model: str, part: str | None, expected: str) -> None:
    tt.export(_ckpt(case), tmp_path / "hf", model=model, part=part, keep_dtype=True, max_shard_size=20000)
    report = tt.to_tf1(tmp_path / "hf", tmp_path / "tf" / "model.ckpt", model=model)
    assert report.part == (part or tt.family(model).default_part)  # guessed from config.json's architectures
    original = _model_variables(case)
    with tfckpt.open(tmp_path / "tf" / "model.ckpt") as back:
        names = set(back)
        if part == "generator":
            assert names == {n for n in original if n.startswith(("generator", "electra/embeddings/"))}
        elif part == "discriminator":
            assert names == {n for n in original if not n.startswith("generator")}
        elif part == "squad":
            assert names == {n for n in original if not n.startswith("bert/pooler/")}
        else:
            assert names == set(original)
        for n in names:
            assert back.dtype(n) == _ckpt_dtype(case, n)
            assert np.array_equal(back[n], original[n]), n
    google = json.loads((tmp_path / "tf" / tt.family(model).google_config).read_text())
    if model in ("bert", "albert"):
        assert google == json.loads(next(_ckpt(case).glob("*_config.json")).read_text())


def test_fine_tuned_heads_are_parts(tmp_path: Path) -> None:
    report = tt.export(_ckpt("bert_classifier"), tmp_path / "c", model="bert", part="classifier")
    assert report.config["num_labels"] == 3 and report.auto_class == "AutoModelForSequenceClassification"
    squad = tt.export(_ckpt("bert_squad"), tmp_path / "s", model="bert", part="squad")
    assert set(squad.ignored.values()) == {"the pooler (BertForQuestionAnswering has none)"}
    assert squad.auto_class == "AutoModelForQuestionAnswering"
    default = tt.export(_ckpt("bert_classifier"), tmp_path / "p", model="bert")  # the pretraining part
    assert default.ignored == {"output_weights": "a fine-tuning head (part='classifier' or 'squad' exports it)",
                               "output_bias": "a fine-tuning head (part='classifier' or 'squad' exports it)"}
    full = tt.export(_ckpt("bert"), tmp_path / "b", model="bert")
    assert default.missing == sorted(hf for tf, hf in full.matched if tf.startswith("cls/"))


def test_reverse_from_a_transformers_directory_with_tied_copies(tmp_path: Path) -> None:
    """A directory as transformers 4.57 saved it (the committed expectation) converts back too."""
    report = tt.to_tf1(FIXTURES / "t5_v1_0" / "expected", tmp_path / "model.ckpt", model="t5")
    assert sorted(report.tied) in ([], ["decoder.embed_tokens.weight", "encoder.embed_tokens.weight"])
    with tfckpt.open(tmp_path / "model.ckpt") as back:
        assert set(back) == set(_model_variables("t5_v1_0"))


def test_reverse_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        tt.to_tf1(tmp_path, tmp_path / "x", model="bert")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(NotFoundError, match="neither model.safetensors nor model.safetensors.index.json"):
        tt.to_tf1(tmp_path, tmp_path / "x", model="bert")
    (tmp_path / "model.safetensors").write_bytes(b"\xff" * 8 + b"{}")
    with pytest.raises(CorruptionError, match="header length"):
        tt.to_tf1(tmp_path, tmp_path / "x", model="bert")


def test_safetensors_reader_checks_offsets(tmp_path: Path) -> None:
    header = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 8]}}).encode()
    (tmp_path / "bad.safetensors").write_bytes(len(header).to_bytes(8, "little") + header + b"\0" * 8)
    with pytest.raises(CorruptionError, match=r"'w': data_offsets \[0, 8\) do not hold float32\[4\]"):
        SafetensorsFile(tmp_path / "bad.safetensors")


# -- command line and imports ----------------------------------------------------------------


def test_cli_both_directions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tfckpt.cli import main

    assert main(["convert", str(_ckpt("t5_v1_1")), str(tmp_path / "hf"), "--to", "transformers", "--model", "t5"]) == 0
    out = capsys.readouterr().out
    assert "skipped" in out and "missing: none" in out and "AutoModelForSeq2SeqLM" in out
    assert main(["convert", str(tmp_path / "hf"), str(tmp_path / "tf" / "model.ckpt"), "--to", "tf1", "--model", "t5"]) == 0
    assert (tmp_path / "tf" / "t5_config.json").exists()
    assert main(["convert", str(_ckpt("bert")), str(tmp_path / "x"), "--to", "transformers"]) == 2
    assert "needs --model" in capsys.readouterr().err
    assert main(["convert", str(_ckpt("bert")), str(tmp_path / "y"), "--to", "transformers", "--model", "albert"]) == 2
    assert "no transformers rule maps" in capsys.readouterr().err


def test_cli_user_rules_transpose(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tfckpt.cli import main

    out = tmp_path / "x.safetensors"
    assert main(["convert", str(_ckpt("bert")), str(out), "--to", "safetensors", "--skip-optimizer",
                 "--rename-re", r"/kernel$=/weight", "--transpose", r"/kernel$"]) == 0
    got = safetensors_numpy.load_file(str(out))
    original = _model_variables("bert")
    k = "bert/encoder/layer_0/intermediate/dense/kernel"
    assert np.array_equal(got[k.replace("/kernel", "/weight")], original[k].T)
    assert np.array_equal(got["bert/embeddings/word_embeddings"], original["bert/embeddings/word_embeddings"])
    assert main(["convert", str(_ckpt("bert")), str(out), "--to", "safetensors", "--transpose", "nothing-like-this"]) == 2


def test_importing_does_not_load_frameworks() -> None:
    code = ("import sys, tfckpt.transformers, tfckpt.cli.convert_transformers; "
            "print([m for m in ('torch', 'transformers', 'tensorflow', 'jax') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"




def test_reverse_skips_buffers_older_transformers_saved(tmp_path: Path) -> None:
    """transformers 4.x before 4.31 saved ``bert.embeddings.position_ids`` with the weights."""
    from tfckpt.safetensors_io import SafetensorsSpec, write_safetensors

    src = FIXTURES / "bert" / "expected"
    weights = safetensors_numpy.load_file(str(src / "model.safetensors"))
    weights["bert.embeddings.position_ids"] = np.arange(24, dtype=np.int64)[None]
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "config.json").write_text((src / "config.json").read_text())
    specs = [SafetensorsSpec(n, "int64" if a.dtype == np.int64 else "float32", a.shape) for n, a in weights.items()]
    write_safetensors(tmp_path / "hf" / "model.safetensors", specs, weights.__getitem__, metadata={"format": "pt"})
    report = tt.to_tf1(tmp_path / "hf", tmp_path / "tf" / "model.ckpt", model="bert")
    assert report.ignored == {"bert.embeddings.position_ids": "a buffer, not a weight"}
    assert len(report.matched) == len(weights) - 1


def test_layer_counts_must_be_integers(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="num_hidden_groups must be a non-negative integer, got .three."):
        tt.export(_ckpt("albert"), tmp_path, model="albert", overrides={"num_hidden_groups": "three"}, num_heads=2)
