"""ALBERT (google-research/albert ``modeling.py``) <-> ``AlbertForPreTraining``.

ALBERT shares one set of layer weights across its ``num_hidden_layers`` layers, stored once
per group and inner group: ``bert/encoder/transformer/group_{g}/inner_group_{i}/...``. Its
embeddings (``embedding_size``) are projected to the hidden size by
``bert/encoder/embedding_hidden_mapping_in``. The sentence-order head is stored as BERT's
``cls/seq_relationship``. These are the renames of transformers 4.x's
``load_tf_weights_in_albert`` (``attention_1`` -> ``attention``, ``ffn_1/intermediate/dense``
-> ``ffn``, ``LayerNorm_1`` -> ``full_layer_layer_norm``, ...) as rows.

The layer count is not in the shapes (shared layers): it comes from ``albert_config.json``
(or ``overrides={"num_hidden_layers": N}``).
"""

from __future__ import annotations

from ._family import Family, Part
from ._rules import Rule
from .bert import dense_rules, embedding_rules, norm_rules

__all__ = ["ALBERT"]

_TF = "bert/encoder/transformer/group_{group}/inner_group_{inner}"
_HF = "albert.encoder.albert_layer_groups.{group}.albert_layers.{inner}"


LAYER_RULES: tuple[Rule, ...] = (
    *dense_rules(f"{_TF}/attention_1/self/query", f"{_HF}.attention.query"),
    *dense_rules(f"{_TF}/attention_1/self/key", f"{_HF}.attention.key"),
    *dense_rules(f"{_TF}/attention_1/self/value", f"{_HF}.attention.value"),
    *dense_rules(f"{_TF}/attention_1/output/dense", f"{_HF}.attention.dense"),
    *norm_rules(f"{_TF}/LayerNorm", f"{_HF}.attention.LayerNorm"),
    *dense_rules(f"{_TF}/ffn_1/intermediate/dense", f"{_HF}.ffn"),
    *dense_rules(f"{_TF}/ffn_1/intermediate/output/dense", f"{_HF}.ffn_output"),
    *norm_rules(f"{_TF}/LayerNorm_1", f"{_HF}.full_layer_layer_norm"),
)

RULES: tuple[Rule, ...] = (
    *embedding_rules("bert/embeddings", "albert.embeddings"),
    *dense_rules("bert/encoder/embedding_hidden_mapping_in", "albert.encoder.embedding_hidden_mapping_in"),
    *LAYER_RULES,
    *dense_rules("bert/pooler/dense", "albert.pooler"),
    *dense_rules("cls/predictions/transform/dense", "predictions.dense"),
    *norm_rules("cls/predictions/transform/LayerNorm", "predictions.LayerNorm"),
    Rule("cls/predictions/output_bias", "predictions.bias"),
    Rule("cls/seq_relationship/output_weights", "sop_classifier.classifier.weight"),
    Rule("cls/seq_relationship/output_bias", "sop_classifier.classifier.bias"),
)

#: ``AlbertConfig``'s fields in google-research/albert ``modeling.py`` (``albert_config.json``).
GOOGLE_FIELDS = (
    "attention_probs_dropout_prob", "down_scale_factor", "embedding_size", "gap_size", "hidden_act",
    "hidden_dropout_prob", "hidden_size", "initializer_range", "inner_group_num", "intermediate_size",
    "max_position_embeddings", "net_structure_type", "num_attention_heads", "num_hidden_groups", "num_hidden_layers",
    "num_memory_blocks", "type_vocab_size", "vocab_size",
)  # fmt: skip

#: Defaults of google-research/albert's ``AlbertConfig.__init__`` for what shapes cannot tell.
GOOGLE_DEFAULTS = {
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.0,
    "attention_probs_dropout_prob": 0.0,
    "initializer_range": 0.02,
    "net_structure_type": 0,
    "gap_size": 0,
    "num_memory_blocks": 0,
    "down_scale_factor": 1,
}

ALBERT = Family(
    name="albert",
    model_type="albert",
    parts={"pretraining": Part("pretraining", RULES, "AlbertForPreTraining", "AutoModelForPreTraining",
                               config_files=("albert_config.json",))},
    default_part="pretraining",
    ranges={"group": "num_hidden_groups", "inner": "inner_group_num"},
    shapes={
        "vocab_size": ("albert.embeddings.word_embeddings.weight", 0),
        "embedding_size": ("albert.embeddings.word_embeddings.weight", 1),
        "hidden_size": ("albert.encoder.embedding_hidden_mapping_in.weight", 0),
        "max_position_embeddings": ("albert.embeddings.position_embeddings.weight", 0),
        "type_vocab_size": ("albert.embeddings.token_type_embeddings.weight", 0),
        "intermediate_size": ("albert.encoder.albert_layer_groups.0.albert_layers.0.ffn.weight", 0),
    },
    required=GOOGLE_FIELDS,
    heads_field="num_attention_heads",
    google_config="albert_config.json",
    google_fields=GOOGLE_FIELDS,
    defaults=GOOGLE_DEFAULTS,
    tied=(("predictions.decoder.weight", "tie_word_embeddings"), ("predictions.decoder.bias", None)),
    buffers=(r"albert\.embeddings\.(position_ids|token_type_ids)",),
)
