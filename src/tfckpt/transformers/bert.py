"""BERT (google-research/bert ``modeling.py`` and ``run_pretraining.py``) <-> ``BertForPreTraining``.

Parts: ``pretraining`` (the default; ``BertForPreTraining``), and for fine-tuned checkpoints
``classifier`` (run_classifier.py: ``BertForSequenceClassification``) and ``squad``
(run_squad.py: ``BertForQuestionAnswering``). transformers 4.x's converter fails on these two
heads (``output_weights`` at the top level has no module to point at); their rows follow
Google's code, which multiplies by the transposed weights, i.e. torch's ``Linear`` layout.

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

__all__ = ["BERT", "dense_rules", "embedding_rules", "encoder_rules", "norm_rules"]


def dense_rules(tf: str, hf: str) -> tuple[Rule, Rule]:
    """A TF dense layer (``kernel`` [in, out], ``bias``) <-> a torch ``Linear`` (``weight`` [out, in], ``bias``)."""
    return Rule(f"{tf}/kernel", f"{hf}.weight", "transpose"), Rule(f"{tf}/bias", f"{hf}.bias")


def norm_rules(tf: str, hf: str) -> tuple[Rule, Rule]:
    """A TF layer norm (``gamma``, ``beta``) <-> a torch ``LayerNorm`` (``weight``, ``bias``)."""
    return Rule(f"{tf}/gamma", f"{hf}.weight"), Rule(f"{tf}/beta", f"{hf}.bias")


def encoder_rules(tf: str, hf: str) -> tuple[Rule, ...]:
    """The rows of one BERT encoder under the TF scope ``tf`` and the module path ``hf``
    (shared with ELECTRA, whose encoder is BERT's)."""
    layer_tf, layer_hf = f"{tf}/encoder/layer_{{layer}}", f"{hf}.encoder.layer.{{layer}}"
    return (
        *dense_rules(f"{layer_tf}/attention/self/query", f"{layer_hf}.attention.self.query"),
        *dense_rules(f"{layer_tf}/attention/self/key", f"{layer_hf}.attention.self.key"),
        *dense_rules(f"{layer_tf}/attention/self/value", f"{layer_hf}.attention.self.value"),
        *dense_rules(f"{layer_tf}/attention/output/dense", f"{layer_hf}.attention.output.dense"),
        *norm_rules(f"{layer_tf}/attention/output/LayerNorm", f"{layer_hf}.attention.output.LayerNorm"),
        *dense_rules(f"{layer_tf}/intermediate/dense", f"{layer_hf}.intermediate.dense"),
        *dense_rules(f"{layer_tf}/output/dense", f"{layer_hf}.output.dense"),
        *norm_rules(f"{layer_tf}/output/LayerNorm", f"{layer_hf}.output.LayerNorm"),
    )


def embedding_rules(tf: str, hf: str) -> tuple[Rule, ...]:
    """Word, position and token-type embeddings and their layer norm."""
    return (
        Rule(f"{tf}/word_embeddings", f"{hf}.word_embeddings.weight"),
        Rule(f"{tf}/position_embeddings", f"{hf}.position_embeddings.weight"),
        Rule(f"{tf}/token_type_embeddings", f"{hf}.token_type_embeddings.weight"),
        *norm_rules(f"{tf}/LayerNorm", f"{hf}.LayerNorm"),
    )


_BODY: tuple[Rule, ...] = (*embedding_rules("bert/embeddings", "bert.embeddings"), *encoder_rules("bert", "bert"))
_POOLER = dense_rules("bert/pooler/dense", "bert.pooler.dense")

RULES: tuple[Rule, ...] = (
    *_BODY,
    *_POOLER,
    *dense_rules("cls/predictions/transform/dense", "cls.predictions.transform.dense"),
    *norm_rules("cls/predictions/transform/LayerNorm", "cls.predictions.transform.LayerNorm"),
    Rule("cls/predictions/output_bias", "cls.predictions.bias"),
    Rule("cls/seq_relationship/output_weights", "cls.seq_relationship.weight"),
    Rule("cls/seq_relationship/output_bias", "cls.seq_relationship.bias"),
)

#: run_classifier.py's head: ``output_weights`` [num_labels, hidden] is already torch's layout.
CLASSIFIER_RULES: tuple[Rule, ...] = (
    *_BODY,
    *_POOLER,
    Rule("output_weights", "classifier.weight"),
    Rule("output_bias", "classifier.bias"),
)

#: run_squad.py's head: ``cls/squad/output_weights`` [2, hidden] (start, end) is torch's layout.
SQUAD_RULES: tuple[Rule, ...] = (
    *_BODY,
    Rule("cls/squad/output_weights", "qa_outputs.weight"),
    Rule("cls/squad/output_bias", "qa_outputs.bias"),
)

_FINE_TUNED = r"output_weights|output_bias|cls/squad/.*"

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
    parts={
        "pretraining": Part("pretraining", RULES, "BertForPreTraining", "AutoModelForPreTraining",
                            ignore=((_FINE_TUNED, "a fine-tuning head (part='classifier' or 'squad' exports it)"),),
                            config_files=("bert_config.json",)),
        "classifier": Part("classifier", CLASSIFIER_RULES, "BertForSequenceClassification", "AutoModelForSequenceClassification",
                           ignore=((r"cls/.*", "a pretraining head (part='pretraining' exports it)"),),
                           config_files=("bert_config.json",),
                           derived={"num_labels": lambda c, s: s["classifier.weight"][0] if "classifier.weight" in s else None}),
        "squad": Part("squad", SQUAD_RULES, "BertForQuestionAnswering", "AutoModelForQuestionAnswering",
                      ignore=((r"bert/pooler/.*", "the pooler (BertForQuestionAnswering has none)"),
                              (r"cls/(predictions|seq_relationship)/.*", "a pretraining head (part='pretraining' exports it)")),
                      config_files=("bert_config.json",)),
    },
    default_part="pretraining",
    ranges={"layer": "num_hidden_layers"},
    shapes=SHAPES,
    required=GOOGLE_FIELDS,
    heads_field="num_attention_heads",
    google_config="bert_config.json",
    google_fields=GOOGLE_FIELDS,
    defaults=GOOGLE_DEFAULTS,
    tied=(("cls.predictions.decoder.weight", "tie_word_embeddings"), ("cls.predictions.decoder.bias", None)),
    buffers=(r"bert\.embeddings\.(position_ids|token_type_ids)",),
)
