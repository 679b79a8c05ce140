"""TensorFlow as the oracle for the object graph, save_objects, save_like and the conversions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tfckpt
from tfckpt.objects import escape_local_name

tf = pytest.importorskip("tensorflow")

FIXTURES = Path(__file__).parent.parent / "fixtures"


def _tree(seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    return {
        "model": {
            "w": rng.standard_normal((2, 3)).astype(np.float32),
            "inner": {"b": rng.standard_normal(2).astype(np.float64)},
        },
        "table": {
            "scoped/c": rng.integers(0, 100, 3).astype(np.int64),
            "a.b": np.int32(7),
            "nested": {"x/y.z": np.array([b"hi", b"\x00there"], dtype=object)},
        },
        "v": np.float32(2.5),
    }


def _live(tree: dict[str, Any]) -> dict[str, Any]:
    """The same structure as tf.Modules (for 'model'), dicts and zero-valued tf.Variables."""

    def var(a: Any) -> Any:
        a = np.asarray(a)
        if a.dtype == object:
            return tf.Variable(np.full(a.shape, b"", dtype=object), dtype=tf.string)
        return tf.Variable(np.zeros_like(a))

    def build(node: dict[str, Any], as_module: bool) -> Any:
        if as_module:
            m = tf.Module()
            for k, v in node.items():
                setattr(m, k, build(v, True) if isinstance(v, dict) else var(v))
            return m
        return {k: build(v, False) if isinstance(v, dict) else var(v) for k, v in node.items()}

    return {
        "model": build(tree["model"], True),
        "table": build(tree["table"], False),
        "v": var(tree["v"]),
    }


def test_save_objects_restores_with_assert_consumed(tmp_path: Path) -> None:
    tree = _tree()
    prefix = tfckpt.save_objects(tmp_path / "ckpt-1", tree)
    live = _live(tree)
    ckpt = tf.train.Checkpoint(**live)
    ckpt.restore(prefix).assert_consumed()
    np.testing.assert_array_equal(live["model"].w.numpy(), tree["model"]["w"])
    np.testing.assert_array_equal(live["model"].inner.b.numpy(), tree["model"]["inner"]["b"])
    np.testing.assert_array_equal(live["table"]["scoped/c"].numpy(), tree["table"]["scoped/c"])
    assert live["table"]["a.b"].numpy() == 7
    assert list(live["table"]["nested"]["x/y.z"].numpy()) == [b"hi", b"\x00there"]
    assert live["v"].numpy() == np.float32(2.5)
    assert int(ckpt.save_counter.numpy()) == 1
    # TF escapes the names the same way: its own save of the same objects has the same keys.
    tf_prefix = tf.train.Checkpoint(**live).save(str(tmp_path / "tf" / "ckpt"))
    assert sorted(tf.train.load_checkpoint(tf_prefix).get_variable_to_shape_map()) == tfckpt.open(prefix).keys()


def test_save_objects_without_counter_reads_with_assert_consumed(tmp_path: Path) -> None:
    tree = _tree(1)
    prefix = tfckpt.save_objects(tmp_path / "weights", tree, save_counter=False)
    live = _live(tree)
    tf.train.Checkpoint(**live).read(prefix).assert_consumed()
    np.testing.assert_array_equal(live["model"].w.numpy(), tree["model"]["w"])


def test_save_objects_counter_value(tmp_path: Path) -> None:
    prefix = tfckpt.save_objects(tmp_path / "ckpt-5", {"x": np.ones(2, np.float32)}, save_counter=5)
    ckpt = tf.train.Checkpoint(x=tf.Variable(np.zeros(2, np.float32)))
    ckpt.restore(prefix).assert_consumed()
    assert int(ckpt.save_counter.numpy()) == 5


def _keras_model(seed: int) -> Any:
    import keras

    keras.utils.set_random_seed(seed)
    inp = keras.Input((3,), name="features")
    hidden = keras.layers.Dense(4, activation="relu", name="hidden")(inp)
    out = keras.layers.Dense(2, name="out")(hidden)
    model = keras.Model(inp, out, name="tiny")
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    model.optimizer.build(model.trainable_variables)
    return model


def test_save_like_keras_model_round_trip(tmp_path: Path) -> None:
    template = FIXTURES / "keras_model" / "ckpt-1"
    with tfckpt.open(template) as t:
        names = t.variables("full")
        assert sorted(names) == ["hidden/bias", "hidden/kernel", "out/bias", "out/kernel"]
        rng = np.random.default_rng(42)
        new = {name: rng.standard_normal(t.shape(key)).astype(np.float32) for name, key in names.items()}
        old_optimizer = {k: t.get_tensor(k, copy=True) for k in t if k.startswith("optimizer/_variables/")}
    prefix = tfckpt.save_like(template, tmp_path / "ckpt-1", new)

    model = _keras_model(seed=123)
    status = tf.train.Checkpoint(model=model, optimizer=model.optimizer).restore(prefix)
    status.assert_existing_objects_matched()
    for layer in ("hidden", "out"):
        np.testing.assert_array_equal(model.get_layer(layer).kernel.numpy(), new[f"{layer}/kernel"])
        np.testing.assert_array_equal(model.get_layer(layer).bias.numpy(), new[f"{layer}/bias"])
    # The optimizer state was copied from the template.
    reader = tf.train.load_checkpoint(prefix)
    for key, value in old_optimizer.items():
        np.testing.assert_array_equal(reader.get_tensor(key), value)
    assert int(model.optimizer.iterations.numpy()) == 1


def _tf1_recipe_tf1_to_tf2(src: str, out: str) -> str:
    # The TF2 migration guide's convert_tf1_to_tf2 recipe, verbatim apart from names.
    variables = {}
    reader = tf.train.load_checkpoint(src)
    for key in reader.get_variable_to_dtype_map():
        variables[key] = tf.Variable(reader.get_tensor(key))
    return tf.train.Checkpoint(vars=variables).save(out)


def test_convert_tf1_to_tf2_matches_migration_recipe(tmp_path: Path) -> None:
    src = str(FIXTURES / "tf1_saver" / "model.ckpt-7")
    ours = tfckpt.convert_tf1_to_tf2(src, tmp_path / "ours" / "ckpt-1")
    theirs = _tf1_recipe_tf1_to_tf2(src, str(tmp_path / "theirs" / "ckpt"))
    r_ours, r_theirs = tf.train.load_checkpoint(ours), tf.train.load_checkpoint(theirs)
    shapes = r_theirs.get_variable_to_shape_map()
    assert sorted(r_ours.get_variable_to_shape_map()) == sorted(shapes)
    for key in shapes:
        if key != "_CHECKPOINTABLE_OBJECT_GRAPH":
            np.testing.assert_array_equal(r_ours.get_tensor(key), r_theirs.get_tensor(key))
    # And TF restores it into the recipe's structure with every value consumed.
    reader = tf.train.load_checkpoint(src)
    live = {k: tf.Variable(tf.zeros_like(reader.get_tensor(k))) for k in reader.get_variable_to_dtype_map()}
    tf.train.Checkpoint(vars=live).restore(ours).assert_consumed()
    for k, v in live.items():
        np.testing.assert_array_equal(v.numpy(), reader.get_tensor(k))


def test_convert_tf1_to_tf2_with_slash_names(tmp_path: Path) -> None:
    src = tfckpt.save(tmp_path / "tf1", {"scoped/c": np.arange(3, dtype=np.float32), "a.b/c.d": np.int64(4)})
    dst = tfckpt.convert_tf1_to_tf2(src, tmp_path / "tf2")
    assert "vars/scoped.Sc/.ATTRIBUTES/VARIABLE_VALUE" in tfckpt.open(dst)
    live = {"scoped/c": tf.Variable(np.zeros(3, np.float32)), "a.b/c.d": tf.Variable(np.int64(0))}
    tf.train.Checkpoint(vars=live).restore(dst).assert_consumed()
    assert int(live["a.b/c.d"].numpy()) == 4


def _saver_restore(prefix: str, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Restore ``prefix`` with tf.compat.v1.train.Saver into variables named like ``arrays``."""
    with tf.Graph().as_default():
        variables = {
            name: tf.compat.v1.get_variable(f"v{i}", initializer=np.zeros_like(a)) for i, (name, a) in enumerate(arrays.items())
        }
        saver = tf.compat.v1.train.Saver(var_list=variables)
        with tf.compat.v1.Session() as sess:
            saver.restore(sess, prefix)
            return {name: sess.run(v) for name, v in variables.items()}


def test_convert_tf2_to_tf1_matches_migration_recipe(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    values = {"scoped/c": rng.standard_normal(3).astype(np.float32), "x": rng.standard_normal((2, 2))}
    live = {k: tf.Variable(v) for k, v in values.items()}
    src = tf.train.Checkpoint(var_list=live).save(str(tmp_path / "tf2" / "ckpt"))

    # The migration guide's convert_tf2_to_tf1 recipe.
    recipe_vars = {}
    reader = tf.train.load_checkpoint(src)
    for key in reader.get_variable_to_dtype_map():
        if key.startswith("var_list/"):
            var_name = key.split("/")[1].replace(".S", "/")
            recipe_vars[var_name] = reader.get_tensor(key)

    ours = tfckpt.convert_tf2_to_tf1(src, tmp_path / "tf1" / "model.ckpt", root="var_list")
    with tfckpt.open(ours) as ckpt:
        assert ckpt.keys() == sorted(recipe_vars)
        for name, value in recipe_vars.items():
            np.testing.assert_array_equal(ckpt[name], value)
    restored = _saver_restore(ours, values)
    for name, value in values.items():
        np.testing.assert_array_equal(restored[name], value)


def test_convert_tf2_to_tf1_whole_nested_checkpoint(tmp_path: Path) -> None:
    src = FIXTURES / "tf2_nested" / "ckpt-2"
    ours = tfckpt.convert_tf2_to_tf1(src, tmp_path / "model.ckpt")
    with tfckpt.open(ours) as ckpt:
        arrays = {name: ckpt.get_tensor(name, copy=True) for name in ckpt if ckpt.dtype(name) != "string"}
    restored = _saver_restore(ours, arrays)
    for name, value in arrays.items():
        np.testing.assert_array_equal(restored[name], value)


def _walk(root: Any, path: str | tuple[str, ...]) -> Any:
    """Follow unescaped local names through TF's own tracked children."""
    obj = root
    for name in path.split("/") if isinstance(path, str) else path:
        children = obj._trackable_children(save_type="checkpoint")
        obj = children[name]
    return obj


def _path_oracle(root: Any, prefix: str) -> None:
    """Every path object_paths reports leads, in the live objects, to the variable whose value is
    stored under the key; and the first path is the one TF's key spells."""
    with tfckpt.open(prefix) as ckpt:
        graph = ckpt.object_graph
        assert graph is not None
        for key in ckpt:
            paths = ckpt.object_paths(key)
            if key == "_CHECKPOINTABLE_OBJECT_GRAPH":
                assert paths == []
                continue
            assert paths, key
            assert [len(p.split("/")) for p in paths] == sorted(len(p.split("/")) for p in paths)
            if "/.OPTIMIZER_SLOT/" in key:
                # Slots are reached through their optimizer; TF spells the first path in the key.
                owner = graph.owner(key)
                assert owner is not None
                slot = graph.slot_of(owner)
                assert slot is not None
                bfs = graph.bfs_paths()
                var = bfs[slot.original_variable.node_id]
                opt = bfs[slot.optimizer.node_id]
                spell = lambda t: "/".join(escape_local_name(p) for p in t)
                assert key == f"{spell(var)}/.OPTIMIZER_SLOT/{spell(opt)}/{slot.slot_name}/.ATTRIBUTES/VARIABLE_VALUE"
                assert paths[0] == "/".join((*var, ".OPTIMIZER_SLOT", *opt, slot.slot_name))
                continue
            owner = graph.owner(key)
            assert owner is not None
            first_path = graph.bfs_paths()[owner.node_id]
            assert key == "/".join(escape_local_name(p) for p in first_path) + "/.ATTRIBUTES/VARIABLE_VALUE"
            tuples = graph.paths_to(owner)
            assert tuples[0] == first_path
            assert paths == ["/".join(t) for t in tuples]
            first = _walk(root, first_path)
            for t in tuples:
                assert _walk(root, t) is first, (key, t)
            np.testing.assert_array_equal(np.asarray(first.numpy()), ckpt[key])


def _keras_bn_dropout_model() -> Any:
    import keras

    keras.utils.set_random_seed(1)
    inp = keras.Input((3,))
    x = keras.layers.Dense(4, name="d1")(inp)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Dropout(0.5, name="drop")(x)
    out = keras.layers.Dense(2, name="d2")(x)
    model = keras.Model(inp, out)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="mse", metrics=["mae"])
    model.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0)
    return model


@pytest.mark.parametrize("build", ["adam_dense", "bn_dropout_sgd"])
def test_object_paths_and_variables_keras(tmp_path: Path, build: str) -> None:
    # Non-trainable weights (BatchNorm statistics) are model variables; momentum buffers,
    # iterations and the learning rate are optimizer state.
    model = _keras_model(seed=5) if build == "adam_dense" else _keras_bn_dropout_model()
    root = tf.train.Checkpoint(model=model, optimizer=model.optimizer)
    prefix = root.save(str(tmp_path / "ckpt"))
    _path_oracle(root, prefix)
    with tfckpt.open(prefix) as ckpt:
        by_full = ckpt.variables("full")
        assert sorted(by_full) == sorted(v.path for v in model.weights)
        for v in model.weights:
            np.testing.assert_array_equal(ckpt[by_full[v.path]], v.numpy())
        by_path = ckpt.variables()
        assert sorted(by_path.values()) == sorted(by_full.values())
        for name in by_path:
            assert _walk(root, name).path in by_full


def test_object_paths_and_variables_modules_with_slots(tmp_path: Path) -> None:
    m = tf.Module()
    m.w = tf.Variable([[1.0, 2.0]], name="w")
    m.sub = tf.Module()
    m.sub.b = tf.Variable([0.5], name="b")
    m.sub.alias = m.w
    m.table = {"scoped/c": tf.Variable(3.0, name="c"), "a.b": tf.Variable(4, name="ab")}
    opt = tf.compat.v1.train.AdamOptimizer(0.1)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(m.w) + tf.reduce_sum(m.sub.b) + m.table["scoped/c"]
    params = [m.w, m.sub.b, m.table["scoped/c"]]
    opt.apply_gradients(zip(tape.gradient(loss, params), params))
    root = tf.train.Checkpoint(model=m, optimizer=opt)
    prefix = root.save(str(tmp_path / "ckpt"))
    _path_oracle(root, prefix)
    with tfckpt.open(prefix) as ckpt:
        assert ckpt.variables() == {
            "model/w": "model/w/.ATTRIBUTES/VARIABLE_VALUE",
            "model/sub/b": "model/sub/b/.ATTRIBUTES/VARIABLE_VALUE",
            "model/table/scoped/c": "model/table/scoped.Sc/.ATTRIBUTES/VARIABLE_VALUE",
            "model/table/a.b": "model/table/a..b/.ATTRIBUTES/VARIABLE_VALUE",
        }
        assert sorted(ckpt.variables("full")) == ["ab", "b", "c", "w"]
        assert ckpt.object_paths("model/w/.ATTRIBUTES/VARIABLE_VALUE") == ["model/w", "model/sub/alias"]
        assert ckpt.object_paths("model/w/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE") == [
            "model/w/.OPTIMIZER_SLOT/optimizer/m",
            "model/sub/alias/.OPTIMIZER_SLOT/optimizer/m",
        ]
        slots = [s for n in ckpt.object_graph.nodes for s in n.slot_variables]  # type: ignore[union-attr]
        assert sorted((s.slot_name, s.original_variable.attributes[0].full_name) for s in slots) == [
            ("m", "b"), ("m", "c"), ("m", "w"), ("v", "b"), ("v", "c"), ("v", "w"),
        ]  # fmt: skip


def test_fixture_graphs_match_tf_paths() -> None:
    # keras_model: TF keyed the weights by the optimizer path; variables() sees the model path.
    with tfckpt.open(FIXTURES / "keras_model" / "ckpt-1") as ckpt:
        key = "optimizer/_trainable_variables/0/.ATTRIBUTES/VARIABLE_VALUE"
        assert ckpt.object_paths(key) == [
            "optimizer/_trainable_variables/0",
            "model/_operations/1/_kernel",
            "model/optimizer/_trainable_variables/0",
        ]
        np.testing.assert_array_equal(ckpt[ckpt.variables()["model/_operations/1/_kernel"]], ckpt[key])


RENAME_SRC = {
    "old/a": np.arange(3, dtype=np.float32),
    "old/sub/b": np.arange(4, dtype=np.float64).reshape(2, 2),
    "other/c": np.array([5, 6], dtype=np.int32),
    "d": np.float32(1.5),
}


@pytest.mark.parametrize(
    "assignment_map",
    [
        {"old/": "new/"},
        {"/": "scope/"},
        {"old/": "/"},
        {"old/sub/b": "renamed/b", "d": "e"},
        {"old/": "new/", "old/sub/": "deep/"},
    ],
)
def test_rename_matches_init_from_checkpoint(tmp_path: Path, assignment_map: dict[str, str]) -> None:
    src = tfckpt.save(tmp_path / "src", RENAME_SRC)
    plan = tfckpt.rename_plan(RENAME_SRC, assignment_map)
    dst = tfckpt.rename(src, tmp_path / "dst", assignment_map)

    # Oracle: TF initialises graph variables named like our new names from the source checkpoint.
    def covered(old: str) -> bool:
        return old in assignment_map or any(k == "/" or (k.endswith("/") and old.startswith(k)) for k in assignment_map)

    moved = {old: new for old, new in plan.items() if covered(old)}
    assert moved
    with tf.Graph().as_default():
        variables = {
            new: tf.compat.v1.get_variable(new, initializer=np.zeros_like(RENAME_SRC[old])) for old, new in moved.items()
        }
        tf.compat.v1.train.init_from_checkpoint(src, assignment_map)
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            tf_values = {new: sess.run(v) for new, v in variables.items()}
    with tfckpt.open(dst) as out:
        assert sorted(out.keys()) == sorted(plan.values())
        for new, value in tf_values.items():
            np.testing.assert_array_equal(out[new], value)
        for old, new in plan.items():
            np.testing.assert_array_equal(out[new], RENAME_SRC[old])


def test_manager_save_objects_restores_in_tf(tmp_path: Path) -> None:
    manager = tfckpt.CheckpointManager(tmp_path, max_to_keep=2)
    for step in range(3):
        manager.save_objects({"model": {"w": np.full((2,), step, np.float32)}})
    live = {"w": tf.Variable(np.zeros(2, np.float32))}
    ckpt = tf.train.Checkpoint(model=live)
    ckpt.restore(tf.train.latest_checkpoint(str(tmp_path))).assert_consumed()
    np.testing.assert_array_equal(live["w"].numpy(), [2.0, 2.0])
    assert int(ckpt.save_counter.numpy()) == 3
    # TF's manager continues the numbering and the rotation.
    tf_manager = tf.train.CheckpointManager(ckpt, str(tmp_path), max_to_keep=2)
    assert tf_manager.save().endswith("ckpt-4")
    assert [Path(p).name for p in tf_manager.checkpoints] == ["ckpt-3", "ckpt-4"]


def test_migration_guide_tf1_checkpoint_saved_in_eager(tmp_path: Path) -> None:
    # "Save a TF1 checkpoint in TF2", then "Convert TF1 checkpoint to TF2" and its loading cell.
    a = tf.Variable(1.0, name="a")
    b = tf.Variable(2.0, name="b")
    with tf.name_scope("scoped"):
        c = tf.Variable(3.0, name="c")
    path = tf.compat.v1.train.Saver(var_list=[a, b, c]).save(sess=None, save_path=str(tmp_path / "tf1-ckpt-saved-in-eager"))
    converted = tfckpt.convert_tf1_to_tf2(path, tmp_path / "converted-tf1-to-tf2")
    recipe = _tf1_recipe_tf1_to_tf2(path, str(tmp_path / "recipe"))
    assert tfckpt.open(converted).keys() == tfckpt.open(recipe).keys()
    a, b, c = tf.Variable(0.0), tf.Variable(0.0), tf.Variable(0.0)
    tf.train.Checkpoint(vars={"a": a, "b": b, "scoped/c": c}).restore(converted).assert_consumed()
    assert [a.numpy(), b.numpy(), c.numpy()] == [1.0, 2.0, 3.0]


def test_migration_guide_tf2_checkpoint_saved_in_session(tmp_path: Path) -> None:
    # "Save a TF2 checkpoint in TF1", then "Convert TF2 checkpoint to TF1" and its loading cell.
    tf1 = tf.compat.v1
    with tf.Graph().as_default():
        a = tf1.get_variable("a", shape=[], dtype=tf.float32, initializer=tf1.constant_initializer(1))
        b = tf1.get_variable("b", shape=[], dtype=tf.float32, initializer=tf1.constant_initializer(2))
        with tf1.variable_scope("scoped"):
            c = tf1.get_variable("c", shape=[], dtype=tf.float32, initializer=tf1.constant_initializer(3))
        with tf1.Session() as sess:
            sess.run(tf1.global_variables_initializer())
            ckpt = tf.train.Checkpoint(var_list={v.name.split(":")[0]: v for v in tf1.global_variables()})
            src = ckpt.save(str(tmp_path / "tf2-ckpt-saved-in-session"))
    converted = tfckpt.convert_tf2_to_tf1(src, tmp_path / "converted-tf2-to-tf1", root="var_list")
    with tf.Graph().as_default():
        a = tf1.get_variable("a", shape=[], dtype=tf.float32, initializer=tf1.constant_initializer(0))
        b = tf1.get_variable("b", shape=[], dtype=tf.float32, initializer=tf1.constant_initializer(0))
        with tf1.variable_scope("scoped"):
            c = tf1.get_variable("c", shape=[], dtype=tf.float32, initializer=tf1.constant_initializer(0))
        with tf1.Session() as sess:
            sess.run(tf1.global_variables_initializer())
            tf1.train.Saver([a, b, c]).restore(sess, converted)
            assert sess.run([a, b, c]) == [1.0, 2.0, 3.0]


def test_saver_restores_partitioned_variables_from_whole_tensors(tmp_path: Path) -> None:
    # rename (like every conversion) writes a partitioned variable as one whole tensor.
    src = FIXTURES / "partitioned" / "model.ckpt-3"
    out = tfckpt.rename(src, tmp_path / "model.ckpt", {"scope/": "moved/"})
    with tfckpt.open(src) as ckpt:
        full = ckpt.get_tensor("scope/part_3d", copy=True)
        rows = ckpt.get_tensor("part_rows", copy=True)
    tf1 = tf.compat.v1
    with tf.Graph().as_default():
        a = tf1.get_variable("part_rows", shape=(10, 4), partitioner=tf1.fixed_size_partitioner(3, axis=0))
        with tf1.variable_scope("moved"):
            c = tf1.get_variable("part_3d", shape=(2, 3, 7), dtype=tf.float64, partitioner=tf1.fixed_size_partitioner(3, axis=2))
        with tf1.Session() as sess:
            tf1.train.Saver([a, c]).restore(sess, out)
            np.testing.assert_array_equal(sess.run(a.as_tensor()), rows)
            np.testing.assert_array_equal(sess.run(c.as_tensor()), full)


def test_variables_of_a_sequential_model_written_alone(tmp_path: Path) -> None:
    import keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    prefix = tf.train.Checkpoint(model).write(str(tmp_path / "weights"))  # what model.save_weights did in TF 2.x
    _path_oracle(model, prefix)  # Checkpoint(model): the model is the root
    with tfckpt.open(prefix) as ckpt:
        assert ckpt.variables("full") == {
            "sequential/dense/kernel": "_functional/_operations/1/_kernel/.ATTRIBUTES/VARIABLE_VALUE",
            "sequential/dense/bias": "_functional/_operations/1/bias/.ATTRIBUTES/VARIABLE_VALUE",
        }
        np.testing.assert_array_equal(ckpt[ckpt.variables("full")["sequential/dense/kernel"]], model.layers[0].kernel.numpy())
