"""T5 (Mesh TensorFlow checkpoints of gs://t5-data: T5 v1.0, T5 v1.1, mT5) <-> ``T5ForConditionalGeneration``.

Mesh TensorFlow names blocks with three digits and stores every matrix as ``[in, out]``::

    shared/embedding                                             [vocab, d_model]
    encoder/block_007/layer_000/SelfAttention/{q,k,v,o}          [d_model, heads * d_kv] (o: the reverse)
    encoder/block_000/layer_000/SelfAttention/relative_attention_bias   [heads, buckets] (first block only)
    encoder/block_007/layer_000/rms_norm/scale                   [d_model]
    encoder/block_007/layer_001/DenseReluDense/wi/kernel         v1.0: [d_model, d_ff]
    encoder/block_007/layer_001/DenseReluDense/wi_{0,1}/kernel   v1.1/mT5: gated GELU
    encoder/block_007/layer_001/DenseReluDense/wo/kernel         [d_ff, d_model]
    encoder/rms_norm/scale                                       the final layer norm
    decoder/...            the same, with layer_001/EncDecAttention and the FFN in layer_002
    decoder/logits/kernel  v1.1/mT5 only: the untied LM head [d_model, vocab]

Adafactor's slots sit beside each variable (``q_slot_vc``, ``q_slot_vr``, ``scale_slot_v``).
Everything but the embedding is transposed, as transformers 4.x's ``load_tf_weights_in_t5``
does, and cast to float32 (released checkpoints store bfloat16).

The config comes from the shapes alone (the releases ship a gin file, not JSON): the
relative attention bias gives the head count and bucket count, ``wi_0`` tells v1.1
(``feed_forward_proj="gated-gelu"``), ``decoder/logits`` an untied head
(``tie_word_embeddings=false``, which transformers reads as "do not rescale the decoder
output by d_model ** -0.5").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._family import Family, Part
from ._rules import Rule

__all__ = ["T5"]


def _attention(tf: str, hf: str) -> tuple[Rule, ...]:
    return tuple(Rule(f"{tf}/{x}", f"{hf}.{x}.weight", "transpose") for x in "qkvo")


def _ffn(tf: str, hf: str) -> tuple[Rule, ...]:
    return (
        Rule(f"{tf}/DenseReluDense/wi/kernel", f"{hf}.DenseReluDense.wi.weight", "transpose", when="dense"),
        Rule(f"{tf}/DenseReluDense/wi_0/kernel", f"{hf}.DenseReluDense.wi_0.weight", "transpose", when="gated"),
        Rule(f"{tf}/DenseReluDense/wi_1/kernel", f"{hf}.DenseReluDense.wi_1.weight", "transpose", when="gated"),
        Rule(f"{tf}/DenseReluDense/wo/kernel", f"{hf}.DenseReluDense.wo.weight", "transpose"),
        Rule(f"{tf}/rms_norm/scale", f"{hf}.layer_norm.weight"),
    )


def _stack(side: str, block: str, layers: tuple[str, ...]) -> tuple[Rule, ...]:
    """The rows of the encoder or decoder: ``layers`` are its sub-layer kinds in order."""
    tf_block, hf_block = f"{side}/block_{{{block}:03}}", f"{side}.block.{{{block}}}"
    rows: list[Rule] = [
        Rule(f"{side}/block_000/layer_000/SelfAttention/relative_attention_bias",
             f"{side}.block.0.layer.0.SelfAttention.relative_attention_bias.weight", "transpose"),
    ]
    for i, kind in enumerate(layers):
        tf_layer, hf_layer = f"{tf_block}/layer_{i:03d}", f"{hf_block}.layer.{i}"
        if kind == "ffn":
            rows.extend(_ffn(tf_layer, hf_layer))
        else:
            rows.extend(_attention(f"{tf_layer}/{kind}", f"{hf_layer}.{kind}"))
            rows.append(Rule(f"{tf_layer}/rms_norm/scale", f"{hf_layer}.layer_norm.weight"))
    rows.append(Rule(f"{side}/rms_norm/scale", f"{side}.final_layer_norm.weight"))
    return tuple(rows)


RULES: tuple[Rule, ...] = (
    Rule("shared/embedding", "shared.weight"),
    *_stack("encoder", "eblock", ("SelfAttention", "ffn")),
    *_stack("decoder", "dblock", ("SelfAttention", "EncDecAttention", "ffn")),
    Rule("decoder/logits/kernel", "lm_head.weight", "transpose", when="untied"),
)

_Q = "encoder.block.0.layer.0.SelfAttention.q.weight"
_BIAS = "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"
_WI = ("encoder.block.0.layer.1.DenseReluDense.wi.weight", "encoder.block.0.layer.1.DenseReluDense.wi_0.weight")


def _d_kv(config: Mapping[str, Any], shapes: Mapping[str, tuple[int, ...]]) -> int | None:
    if _Q in shapes and config.get("num_heads"):
        return shapes[_Q][0] // int(config["num_heads"])
    return None


def _d_ff(config: Mapping[str, Any], shapes: Mapping[str, tuple[int, ...]]) -> int | None:
    return next((shapes[n][0] for n in _WI if n in shapes), None)


#: The fields transformers' ``T5Config`` needs to build the model.
FIELDS = (
    "d_ff", "d_kv", "d_model", "dropout_rate", "feed_forward_proj", "initializer_factor", "is_encoder_decoder",
    "layer_norm_epsilon", "num_decoder_layers", "num_heads", "num_layers", "relative_attention_max_distance",
    "relative_attention_num_buckets", "tie_word_embeddings", "vocab_size",
)  # fmt: skip

T5 = Family(
    name="t5",
    model_type="t5",
    parts={"conditional-generation": Part("conditional-generation", RULES, "T5ForConditionalGeneration", "AutoModelForSeq2SeqLM")},
    default_part="conditional-generation",
    ranges={"eblock": "num_layers", "dblock": "num_decoder_layers"},
    shapes={
        "vocab_size": ("shared.weight", 0),
        "d_model": ("shared.weight", 1),
        "num_heads": (_BIAS, 1),
        "relative_attention_num_buckets": (_BIAS, 0),
    },
    required=FIELDS,
    heads_field="num_heads",
    google_config="t5_config.json",
    google_fields=FIELDS,
    derived={
        "d_kv": _d_kv,
        "d_ff": _d_ff,
        "feed_forward_proj": lambda c, s: "gated-gelu" if _WI[1] in s else "relu",
        "tie_word_embeddings": lambda c, s: "lm_head.weight" not in s,
    },
    # Mesh TensorFlow's and T5's defaults (transformers' T5Config has the same, and leaves
    # them out of a saved config.json).
    defaults={
        "feed_forward_proj": "relu",
        "tie_word_embeddings": True,
        "dropout_rate": 0.1,
        "layer_norm_epsilon": 1e-6,
        "initializer_factor": 1.0,
        "relative_attention_max_distance": 128,
        "is_encoder_decoder": True,
        "decoder_start_token_id": 0,
        "pad_token_id": 0,
        "eos_token_id": 1,
    },
    predicates={
        "gated": lambda c: str(c.get("feed_forward_proj", "relu")).startswith("gated-"),
        "dense": lambda c: not str(c.get("feed_forward_proj", "relu")).startswith("gated-"),
        "untied": lambda c: not c.get("tie_word_embeddings", True),
    },
    tied=(("encoder.embed_tokens.weight", None), ("decoder.embed_tokens.weight", None), ("lm_head.weight", "tie_word_embeddings")),
)
