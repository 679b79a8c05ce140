"""Write examples/bert_tiny: a tiny BERT-shaped TF1 checkpoint, saved by real TensorFlow.

It has the layout of Google's published BERT checkpoints (``bert_model.ckpt.index`` and
``.data-00000-of-00001``, ``bert_config.json``, ``vocab.txt``, no ``checkpoint`` state file)
with BERT's variable names, its AdamWeightDecay slots (``adam_m``/``adam_v``) and
``global_step``, at toy sizes so it can live in the repository.

Run with an environment that has TensorFlow: ``python examples/make_bert_tiny.py``.
"""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import tensorflow as tf

CONFIG = {
    "attention_probs_dropout_prob": 0.1, "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": 32,
    "initializer_range": 0.02, "intermediate_size": 64, "max_position_embeddings": 64, "num_attention_heads": 2,
    "num_hidden_layers": 2, "type_vocab_size": 2, "vocab_size": 128,
}


def variables() -> dict[str, tuple[int, ...]]:
    h, i, v = CONFIG["hidden_size"], CONFIG["intermediate_size"], CONFIG["vocab_size"]
    out: dict[str, tuple[int, ...]] = {
        "bert/embeddings/word_embeddings": (v, h),
        "bert/embeddings/token_type_embeddings": (CONFIG["type_vocab_size"], h),
        "bert/embeddings/position_embeddings": (CONFIG["max_position_embeddings"], h),
        "bert/embeddings/LayerNorm/beta": (h,),
        "bert/embeddings/LayerNorm/gamma": (h,),
    }
    for layer in range(CONFIG["num_hidden_layers"]):
        p = f"bert/encoder/layer_{layer}"
        for part in ("query", "key", "value"):
            out[f"{p}/attention/self/{part}/kernel"] = (h, h)
            out[f"{p}/attention/self/{part}/bias"] = (h,)
        out[f"{p}/attention/output/dense/kernel"] = (h, h)
        out[f"{p}/attention/output/dense/bias"] = (h,)
        out[f"{p}/attention/output/LayerNorm/beta"] = (h,)
        out[f"{p}/attention/output/LayerNorm/gamma"] = (h,)
        out[f"{p}/intermediate/dense/kernel"] = (h, i)
        out[f"{p}/intermediate/dense/bias"] = (i,)
        out[f"{p}/output/dense/kernel"] = (i, h)
        out[f"{p}/output/dense/bias"] = (h,)
        out[f"{p}/output/LayerNorm/beta"] = (h,)
        out[f"{p}/output/LayerNorm/gamma"] = (h,)
    out["bert/pooler/dense/kernel"] = (h, h)
    out["bert/pooler/dense/bias"] = (h,)
    out["cls/predictions/output_bias"] = (v,)
    out["cls/predictions/transform/dense/kernel"] = (h, h)
    out["cls/predictions/transform/dense/bias"] = (h,)
    out["cls/predictions/transform/LayerNorm/beta"] = (h,)
    out["cls/predictions/transform/LayerNorm/gamma"] = (h,)
    return out


def main() -> None:
    out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bert_tiny")
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)
    rng = np.random.default_rng(2018)
    with tf.Graph().as_default():
        for name, shape in variables().items():
            if name.endswith("gamma"):
                init = np.ones(shape, np.float32)
            elif name.endswith(("beta", "bias")):
                init = np.zeros(shape, np.float32)
            else:
                init = (rng.standard_normal(shape) * CONFIG["initializer_range"]).astype(np.float32)
            tf.compat.v1.get_variable(name, initializer=init)
            # BERT's AdamWeightDecayOptimizer slots
            tf.compat.v1.get_variable(name + "/adam_m", initializer=(rng.standard_normal(shape) * 1e-3).astype(np.float32))
            tf.compat.v1.get_variable(name + "/adam_v", initializer=np.abs(rng.standard_normal(shape) * 1e-6).astype(np.float32))
        tf.compat.v1.train.get_or_create_global_step()
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            sess.run(tf.compat.v1.assign(tf.compat.v1.train.get_global_step(), 1000))
            saver.save(sess, os.path.join(out_dir, "bert_model.ckpt"), write_meta_graph=False, write_state=False)
    with open(os.path.join(out_dir, "bert_config.json"), "w") as f:
        json.dump(CONFIG, f, indent=2, sort_keys=True)
        f.write("\n")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"tok{i}" for i in range(CONFIG["vocab_size"] - 5)]
    with open(os.path.join(out_dir, "vocab.txt"), "w") as f:
        f.write("\n".join(vocab) + "\n")
    print("wrote", sorted(os.listdir(out_dir)))


if __name__ == "__main__":
    main()
