"""TensorFlow restores what tfckpt.average wrote: a TF1 graph through ``Saver`` (partitioned
variable included), a Keras model with its optimizer through ``tf.train.Checkpoint``, and
the same model without optimizer state (``skip_optimizer``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tfckpt

tf = pytest.importorskip("tensorflow")


def _tf1_checkpoints(root: Path, n: int) -> list[str]:
    paths = []
    with tf.Graph().as_default():
        w = tf.compat.v1.get_variable("dense/kernel", shape=(4, 3))
        emb = tf.compat.v1.get_variable("emb", shape=(6, 2), partitioner=tf.compat.v1.fixed_size_partitioner(2))
        step = tf.compat.v1.train.get_or_create_global_step()
        loss = tf.reduce_sum(w) + tf.reduce_sum(emb)
        train = tf.compat.v1.train.AdamOptimizer(0.1).minimize(loss, global_step=step)
        saver = tf.compat.v1.train.Saver(max_to_keep=n)
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            for _ in range(n):
                sess.run(train)
                paths.append(saver.save(sess, str(root / "model.ckpt"), global_step=step))
    return paths


def test_tf1_average_restores_through_saver(tmp_path: Path) -> None:
    paths = _tf1_checkpoints(tmp_path / "run", 3)
    out = tfckpt.average(tmp_path / "run", tmp_path / "avg" / "model.ckpt")
    readers = [tf.train.load_checkpoint(p) for p in paths]
    with tf.Graph().as_default():
        w = tf.compat.v1.get_variable("dense/kernel", shape=(4, 3))
        emb = tf.compat.v1.get_variable("emb", shape=(6, 2), partitioner=tf.compat.v1.fixed_size_partitioner(2))
        step = tf.compat.v1.train.get_or_create_global_step()
        with tf.compat.v1.Session() as sess:
            tf.compat.v1.train.Saver([w, *list(emb), step]).restore(sess, out)
            got_w, got_emb, got_step = sess.run([w, tf.convert_to_tensor(emb), step])
    want_w = (sum(r.get_tensor("dense/kernel").astype(np.float64) for r in readers) / 3).astype(np.float32)
    want_emb = (sum(r.get_tensor("emb").astype(np.float64) for r in readers) / 3).astype(np.float32)
    assert got_w.tobytes() == want_w.tobytes() and got_emb.tobytes() == want_emb.tobytes()
    assert got_step == 3


def _keras_checkpoints(root: Path, n: int) -> tuple[list[str], Any]:
    import tf_keras as keras

    model = keras.Sequential([keras.layers.Dense(3, input_shape=(4,)), keras.layers.Dense(1)])
    opt = keras.optimizers.Adam(0.1)
    ckpt = tf.train.Checkpoint(model=model, optimizer=opt)
    manager = tf.train.CheckpointManager(ckpt, str(root), max_to_keep=n)
    x = np.random.default_rng(0).normal(size=(8, 4)).astype(np.float32)
    paths = []
    for _ in range(n):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(model(x) ** 2)
        opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        paths.append(manager.save())
    return paths, model


@pytest.mark.parametrize("skip_optimizer", [False, True])
def test_keras_average_restores_with_tf_train_checkpoint(tmp_path: Path, skip_optimizer: bool) -> None:
    import tf_keras as keras

    paths, model = _keras_checkpoints(tmp_path / "run", 3)
    out = tfckpt.average(tmp_path / "run", tmp_path / "avg" / "ckpt-3", skip_optimizer=skip_optimizer)
    fresh = keras.Sequential([keras.layers.Dense(3, input_shape=(4,)), keras.layers.Dense(1)])
    opt = keras.optimizers.Adam(0.1)
    status = tf.train.Checkpoint(model=fresh, optimizer=opt).restore(out)
    if skip_optimizer:
        status.assert_existing_objects_matched()
        with tfckpt.open(out) as avg:
            assert not [k for k in avg if "optimizer" in k or "OPTIMIZER_SLOT" in k]
    else:
        status.assert_existing_objects_matched()
    readers = [tf.train.load_checkpoint(p) for p in paths]
    for i, var in enumerate(fresh.weights):
        key = f"model/layer_with_weights-{i // 2}/{'kernel' if i % 2 == 0 else 'bias'}/.ATTRIBUTES/VARIABLE_VALUE"
        want = (sum(r.get_tensor(key).astype(np.float64) for r in readers) / 3).astype(np.float32)
        assert var.numpy().tobytes() == want.tobytes(), key
