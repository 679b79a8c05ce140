"""ELECTRA (google-research/electra ``run_pretraining.py``) <-> ``ElectraForPreTraining`` / ``ElectraForMaskedLM``.

One pretraining checkpoint holds both models. The discriminator lives under ``electra/``
with its head ``discriminator_predictions/`` (``dense``, and ``dense_1``, which transformers
calls ``dense_prediction``). The generator lives under ``generator/`` with its head
``generator_predictions/`` (``dense``, ``LayerNorm``, ``output_bias``, which is
``generator_lm_head.bias``), and shares the discriminator's ``electra/embeddings/`` (ELECTRA's
default, ``untied_generator_embeddings=False``); its own ``generator/embeddings_project``
maps the embeddings to its smaller hidden size. This is transformers 4.x's
``load_tf_weights_in_electra`` (its ``discriminator_or_generator`` switch) as rows.

Without a config, the head count follows ELECTRA's own rule (``get_generator_config`` and
every released size): ``max(1, hidden_size // 64)``.
"""

from __future__ import annotations

from dataclasses import replace

from ._family import Family, Part
from ._rules import Rule
from .bert import GOOGLE_DEFAULTS, dense_rules, embedding_rules, encoder_rules, norm_rules

__all__ = ["ELECTRA"]

_EMBEDDINGS = embedding_rules("electra/embeddings", "electra.embeddings")


def _project(tf: str) -> tuple[Rule, ...]:
    # Present only when the embeddings are narrower than the hidden size.
    return tuple(replace(r, when="projected") for r in dense_rules(f"{tf}/embeddings_project", "electra.embeddings_project"))


DISCRIMINATOR = Part(
    "discriminator",
    (
        *_EMBEDDINGS,
        *_project("electra"),
        *encoder_rules("electra", "electra"),
        *dense_rules("discriminator_predictions/dense", "discriminator_predictions.dense"),
        *dense_rules("discriminator_predictions/dense_1", "discriminator_predictions.dense_prediction"),
    ),
    "ElectraForPreTraining",
    "AutoModelForPreTraining",
    ignore=((r"generator(_predictions)?/.*", "the generator (part='generator' exports it)"),),
    config_files=("electra_config.json",),
)

GENERATOR = Part(
    "generator",
    (
        *_EMBEDDINGS,
        *_project("generator"),
        *encoder_rules("generator", "electra"),
        *dense_rules("generator_predictions/dense", "generator_predictions.dense"),
        *norm_rules("generator_predictions/LayerNorm", "generator_predictions.LayerNorm"),
        Rule("generator_predictions/output_bias", "generator_lm_head.bias"),
    ),
    "ElectraForMaskedLM",
    "AutoModelForMaskedLM",
    ignore=(
        (r"electra/(encoder|embeddings_project)/.*|discriminator_predictions/.*", "the discriminator (part='discriminator' exports it)"),
    ),
)

#: ``BertConfig`` fields of ELECTRA's ``modeling.py`` plus ``embedding_size``.
GOOGLE_FIELDS = (
    "attention_probs_dropout_prob", "embedding_size", "hidden_act", "hidden_dropout_prob", "hidden_size",
    "initializer_range", "intermediate_size", "max_position_embeddings", "num_attention_heads", "num_hidden_layers",
    "type_vocab_size", "vocab_size",
)  # fmt: skip

ELECTRA = Family(
    name="electra",
    model_type="electra",
    parts={"discriminator": DISCRIMINATOR, "generator": GENERATOR},
    default_part="discriminator",
    ranges={"layer": "num_hidden_layers"},
    shapes={
        "vocab_size": ("electra.embeddings.word_embeddings.weight", 0),
        "embedding_size": ("electra.embeddings.word_embeddings.weight", 1),
        "hidden_size": ("electra.encoder.layer.0.attention.self.query.weight", 0),
        "max_position_embeddings": ("electra.embeddings.position_embeddings.weight", 0),
        "type_vocab_size": ("electra.embeddings.token_type_embeddings.weight", 0),
        "intermediate_size": ("electra.encoder.layer.0.intermediate.dense.weight", 0),
    },
    required=GOOGLE_FIELDS,
    heads_field="num_attention_heads",
    google_config="electra_config.json",
    google_fields=GOOGLE_FIELDS,
    derived={"num_attention_heads": lambda config, shapes: max(1, int(config["hidden_size"]) // 64) if "hidden_size" in config else None},
    defaults=GOOGLE_DEFAULTS,
    predicates={"projected": lambda c: c.get("embedding_size") != c.get("hidden_size")},
    tied=(("generator_lm_head.weight", "tie_word_embeddings"),),
    buffers=(r"electra\.embeddings\.(position_ids|token_type_ids)",),
)
