"""BERT (google-research/bert ``modeling.py`` and ``run_pretraining.py``) <-> ``BertForPreTraining``.

The knowledge of transformers 4.x's ``load_tf_weights_in_bert``, as rows: ``kernel`` ->
``weight`` transposed, ``gamma``/``beta`` -> ``weight``/``bias``, ``*_embeddings`` ->
``.weight``, ``cls/predictions/output_bias`` -> ``cls.predictions.bias``,
``cls/seq_relationship/output_weights`` -> ``cls.seq_relationship.weight`` (already
``[2, hidden]``, not transposed). The decoder of the masked-LM head is tied to the word
embeddings.
"""

from __future__ import annotations

from ._family import Family, Part
from ._rules import Rule

__all__ = ["BERT", "encoder_rules"]


def encoder_rules(tf: str, hf: str) -> tuple[Rule, ...]:
    """The rows of one BERT encoder under the TF scope ``tf`` and the module path ``hf``
    (shared with ELECTRA, whose encoder is BERT's)."""
    layer_tf, layer_hf = f"{tf}/encoder/layer_{{layer}}", f"{hf}.encoder.layer.{{layer}}"
    rows = []
    for tf_part, hf_part in (
        ("attention/self/query", "attention.self.query"),
        ("attention/self/key", "attention.self.key"),
        ("attention/self/value", "attention.self.value"),
        ("attention/output/dense", "attention.output.dense"),
        ("intermediate/dense", "intermediate.dense"),
        ("output/dense", "output.dense"),
    ):
        rows.append(Rule(f"{layer_tf}/{tf_part}/kernel", f"{layer_hf}.{hf_part}.weight", "transpose"))
        rows.append(Rule(f"{layer_tf}/{tf_part}/bias", f"{layer_hf}.{hf_part}.bias"))
    for tf_part, hf_part in (("attention/output/LayerNorm", "attention.output.LayerNorm"), ("output/LayerNorm", "output.LayerNorm")):
        rows.append(Rule(f"{layer_tf}/{tf_part}/gamma", f"{layer_hf}.{hf_part}.weight"))
        rows.append(Rule(f"{layer_tf}/{tf_part}/beta", f"{layer_hf}.{hf_part}.bias"))
    return tuple(rows)


def embedding_rules(tf: str, hf: str) -> tuple[Rule, ...]:
    """Word, position and token-type embeddings and their layer norm."""
    return (
        Rule(f"{tf}/word_embeddings", f"{hf}.word_embeddings.weight"),
        Rule(f"{tf}/position_embeddings", f"{hf}.position_embeddings.weight"),
        Rule(f"{tf}/token_type_embeddings", f"{hf}.token_type_embeddings.weight"),
        Rule(f"{tf}/LayerNorm/gamma", f"{hf}.LayerNorm.weight"),
        Rule(f"{tf}/LayerNorm/beta", f"{hf}.LayerNorm.bias"),
    )


RULES: tuple[Rule, ...] = (
    *embedding_rules("bert/embeddings", "bert.embeddings"),
    *encoder_rules("bert", "bert"),
    Rule("bert/pooler/dense/kernel", "bert.pooler.dense.weight", "transpose"),
    Rule("bert/pooler/dense/bias", "bert.pooler.dense.bias"),
    Rule("cls/predictions/transform/dense/kernel", "cls.predictions.transform.dense.weight", "transpose"),
    Rule("cls/predictions/transform/dense/bias", "cls.predictions.transform.dense.bias"),
    Rule("cls/predictions/transform/LayerNorm/gamma", "cls.predictions.transform.LayerNorm.weight"),
    Rule("cls/predictions/transform/LayerNorm/beta", "cls.predictions.transform.LayerNorm.bias"),
    Rule("cls/predictions/output_bias", "cls.predictions.bias"),
    Rule("cls/seq_relationship/output_weights", "cls.seq_relationship.weight"),
    Rule("cls/seq_relationship/output_bias", "cls.seq_relationship.bias"),
)

#: ``BertConfig``'s fields in google-research/bert ``modeling.py`` (what ``bert_config.json`` holds).
GOOGLE_FIELDS = (
    "attention_probs_dropout_prob", "hidden_act", "hidden_dropout_prob", "hidden_size", "initializer_range",
    "intermediate_size", "max_position_embeddings", "num_attention_heads", "num_hidden_layers", "type_vocab_size",
    "vocab_size",
)  # fmt: skip

#: Defaults of google-research/bert's ``BertConfig.__init__`` for what shapes cannot tell.
GOOGLE_DEFAULTS = {
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
    "initializer_range": 0.02,
}

#: Shapes that give config fields (transformers name, axis), shared by BERT-like families.
SHAPES = {
    "vocab_size": ("bert.embeddings.word_embeddings.weight", 0),
    "hidden_size": ("bert.embeddings.word_embeddings.weight", 1),
    "max_position_embeddings": ("bert.embeddings.position_embeddings.weight", 0),
    "type_vocab_size": ("bert.embeddings.token_type_embeddings.weight", 0),
    "intermediate_size": ("bert.encoder.layer.0.intermediate.dense.weight", 0),
}

BERT = Family(
    name="bert",
    model_type="bert",
    parts={"pretraining": Part("pretraining", RULES, "BertForPreTraining", "AutoModelForPreTraining", config_files=("bert_config.json",))},
    default_part="pretraining",
    ranges={"layer": "num_hidden_layers"},
    shapes=SHAPES,
    required=GOOGLE_FIELDS,
    heads_field="num_attention_heads",
    google_config="bert_config.json",
    google_fields=GOOGLE_FIELDS,
    defaults=GOOGLE_DEFAULTS,
    tied=(("cls.predictions.decoder.weight", "tie_word_embeddings"), ("cls.predictions.decoder.bias", None)),
)
