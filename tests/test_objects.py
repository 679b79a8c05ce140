"""The object graph, object_paths, variables(), save_objects and save_like, without TensorFlow."""

from __future__ import annotations

import filecmp
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tfckpt
from tfckpt.errors import CorruptionError, InvalidArgumentError, NotFoundError
from tfckpt.objects import (
    OBJECT_GRAPH_KEY,
    ObjectGraph,
    checkpoint_key,
    escape_local_name,
    name_based_model_variables,
    unescape_local_name,
)
from tfckpt.proto import trackable_object_graph_pb2 as pb

FIXTURES = Path(__file__).parent / "fixtures"
NESTED = FIXTURES / "tf2_nested" / "ckpt-2"
KERAS = FIXTURES / "keras_model" / "ckpt-1"
KERAS_MODEL_ONLY = FIXTURES / "keras_model" / "model_only"
TF1 = FIXTURES / "tf1_saver" / "model.ckpt-7"
SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"

# -- escaping ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "escaped"),
    [("scoped/c", "scoped.Sc"), ("a.b", "a..b"), ("x/y.z", "x.Sy..z"), (".S", "..S"), ("./", "...S"), ("", "")],
)
def test_escape_matches_tf(name: str, escaped: str) -> None:
    assert escape_local_name(name) == escaped
    assert unescape_local_name(escaped) == name


@given(st.text(alphabet="ab./S", max_size=12))
def test_escape_round_trip(name: str) -> None:
    escaped = escape_local_name(name)
    assert "/" not in escaped
    assert unescape_local_name(escaped) == name


@pytest.mark.parametrize("bad", [".ATTRIBUTES", "a.", ".OPTIMIZER_SLOT", "x.y"])
def test_unescape_rejects_reserved_and_dangling(bad: str) -> None:
    with pytest.raises(InvalidArgumentError, match="not an escaped local name"):
        unescape_local_name(bad)


def test_checkpoint_key() -> None:
    assert checkpoint_key(["vars", "scoped/c"]) == "vars/scoped.Sc/.ATTRIBUTES/VARIABLE_VALUE"
    assert checkpoint_key(["a.b"], "x/y") == "a..b/.ATTRIBUTES/x.Sy"


# -- reading the graphs TF wrote --------------------------------------------------------------


def test_name_based_checkpoint_has_no_graph() -> None:
    with tfckpt.open(TF1) as ckpt:
        assert ckpt.object_graph is None
        assert ckpt.object_paths("dense1/kernel") == []
        with pytest.raises(NotFoundError):
            ckpt.object_paths("nope")


def test_nested_graph_structure() -> None:
    with tfckpt.open(NESTED) as ckpt:
        graph = ckpt.object_graph
        assert graph is not None and graph is ckpt.object_graph  # cached
        assert len(graph.nodes) == 25
        assert list(graph.root.children) == ["extra", "net", "save_counter"]
        net = graph.root.children["net"]
        assert list(net.children) == ["inner", "blocks", "table", "step", "label", "alias"]
        table = net.children["table"]
        assert list(table.children) == ["scoped/c", "a.b", "nested"]
        (attr,) = table.children["scoped/c"].attributes
        assert (attr.name, attr.full_name, attr.checkpoint_key) == (
            "VARIABLE_VALUE", "scoped_c", "net/table/scoped.Sc/.ATTRIBUTES/VARIABLE_VALUE",
        )  # fmt: skip
        # The shared variable is one node with two parents.
        assert net.children["alias"] is net.children["inner"].children["w"]
        assert all(n.has_checkpoint_values for n in graph.nodes)
        assert graph.owner("net/alias" + SUFFIX) is net.children["alias"]
        assert graph.owner(OBJECT_GRAPH_KEY) is None
        assert set(graph.checkpoint_keys) == set(ckpt.keys()) - {OBJECT_GRAPH_KEY}


def test_nested_object_paths() -> None:
    with tfckpt.open(NESTED) as ckpt:
        assert ckpt.object_paths("net/alias" + SUFFIX) == ["net/alias", "net/inner/w"]
        assert ckpt.object_paths("net/table/nested/x.Sy..z" + SUFFIX) == ["net/table/nested/x/y.z"]
        assert ckpt.object_paths("save_counter" + SUFFIX) == ["save_counter"]
        assert ckpt.object_paths(OBJECT_GRAPH_KEY) == []


def test_nested_variables() -> None:
    with tfckpt.open(NESTED) as ckpt:
        assert ckpt.variables() == {
            "extra/lr": "extra/lr" + SUFFIX,
            "net/step": "net/step" + SUFFIX,
            "net/label": "net/label" + SUFFIX,
            "net/alias": "net/alias" + SUFFIX,
            "extra/sub/k": "extra/sub/k" + SUFFIX,
            "net/inner/b": "net/inner/b" + SUFFIX,
            "net/table/scoped/c": "net/table/scoped.Sc" + SUFFIX,
            "net/table/a.b": "net/table/a..b" + SUFFIX,
            "net/blocks/0/w": "net/blocks/0/w" + SUFFIX,
            "net/blocks/0/b": "net/blocks/0/b" + SUFFIX,
            "net/blocks/1/w": "net/blocks/1/w" + SUFFIX,
            "net/blocks/1/b": "net/blocks/1/b" + SUFFIX,
            "net/table/nested/deep": "net/table/nested/deep" + SUFFIX,
            "net/table/nested/x/y.z": "net/table/nested/x.Sy..z" + SUFFIX,
        }
        full = ckpt.variables("full")
        # Unique full names are used; the repeated "w" and "b" fall back to paths.
        assert full["scoped_c"] == "net/table/scoped.Sc" + SUFFIX
        assert full["xyz"] == "net/table/nested/x.Sy..z" + SUFFIX
        assert full["net/alias"] == "net/alias" + SUFFIX
        assert full["net/blocks/1/b"] == "net/blocks/1/b" + SUFFIX
        assert sorted(full.values()) == sorted(ckpt.variables().values())
        with pytest.raises(InvalidArgumentError, match="'path' or 'full'"):
            ckpt.variables("short")  # type: ignore[arg-type]


def test_keras_variables_skip_optimizer_and_counter() -> None:
    with tfckpt.open(KERAS) as ckpt:
        assert ckpt.variables() == {
            "model/_operations/1/_kernel": "optimizer/_trainable_variables/0" + SUFFIX,
            "model/_operations/1/bias": "optimizer/_trainable_variables/1" + SUFFIX,
            "model/_operations/2/_kernel": "optimizer/_trainable_variables/2" + SUFFIX,
            "model/_operations/2/bias": "optimizer/_trainable_variables/3" + SUFFIX,
        }
        assert ckpt.variables("full") == {
            "hidden/kernel": "optimizer/_trainable_variables/0" + SUFFIX,
            "hidden/bias": "optimizer/_trainable_variables/1" + SUFFIX,
            "out/kernel": "optimizer/_trainable_variables/2" + SUFFIX,
            "out/bias": "optimizer/_trainable_variables/3" + SUFFIX,
        }
        assert ckpt.shape(ckpt.variables("full")["hidden/kernel"]) == (3, 4)
        assert ckpt.object_paths("optimizer/_trainable_variables/0" + SUFFIX) == [
            "optimizer/_trainable_variables/0",
            "model/_operations/1/_kernel",
            "model/optimizer/_trainable_variables/0",
        ]
        assert ckpt.object_paths("optimizer/_variables/2" + SUFFIX) == [
            "optimizer/_variables/2",
            "optimizer/_momentums/0",
            "model/optimizer/_variables/2",
            "model/optimizer/_momentums/0",
        ]
    with tfckpt.open(KERAS_MODEL_ONLY) as ckpt:
        # The model's own optimizer edge hides the Adam state here too.
        assert ckpt.variables("full") == {
            "hidden/kernel": "model/_operations/1/_kernel" + SUFFIX,
            "hidden/bias": "model/_operations/1/bias" + SUFFIX,
            "out/kernel": "model/_operations/2/_kernel" + SUFFIX,
            "out/bias": "model/_operations/2/bias" + SUFFIX,
        }


def test_name_based_variables() -> None:
    with tfckpt.open(TF1) as ckpt:
        names = ["dense1/bias", "dense1/kernel", "dense2/bias", "dense2/kernel"]
        assert ckpt.variables() == {n: n for n in names}
        assert ckpt.variables("full") == {n: n for n in names}


def test_name_based_rules() -> None:
    names = [
        "bert/w", "bert/w/adam_m", "bert/w/adam_v",
        "v", "v/Momentum", "v/RMSProp", "v/RMSProp_1", "v/Adam_2", "v/Adam_3",
        "opt/beta1_power", "beta2_power_1", "global_step",
        "layer/Adam",  # no variable "layer": a model variable that happens to be named Adam
        "v/kernel",
    ]  # fmt: skip
    assert name_based_model_variables(names) == ["bert/w", "v", "layer/Adam", "v/kernel"]


# -- hostile graphs ---------------------------------------------------------------------------


def _graph_ckpt(tmp_path: Path, value: object, dtype: str | None = "string") -> str:
    with tfckpt.Writer(tmp_path / "g") as w:
        w.add(OBJECT_GRAPH_KEY, value, dtype=dtype)
        w.add("x" + SUFFIX, np.float32(1))
    return str(tmp_path / "g")


def _proto(*nodes: dict[str, object]) -> bytes:
    g = pb.TrackableObjectGraph()
    for spec in nodes:
        node = g.nodes.add()
        for nid, name in spec.get("children", []):  # type: ignore[attr-defined]
            node.children.add(node_id=nid, local_name=name)
        for key in spec.get("keys", []):  # type: ignore[attr-defined]
            node.attributes.add(name="VARIABLE_VALUE", checkpoint_key=key)
    return g.SerializeToString()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xff\xff\xff", "cannot parse the TrackableObjectGraph"),
        (b"", "no nodes"),
        (_proto({"children": [(5, "x")]}), "child 'x' of node 0 refers to node 5, but the graph has 1 nodes"),
        (_proto({"children": [(1, "x"), (1, "x")]}, {}), "two children named 'x'"),
    ],
)
def test_corrupt_graph(tmp_path: Path, data: bytes, message: str) -> None:
    with tfckpt.open(_graph_ckpt(tmp_path, np.array(data, dtype=object))) as ckpt:
        with pytest.raises(CorruptionError, match=message) as info:
            _ = ckpt.object_graph
        assert info.value.tensor == OBJECT_GRAPH_KEY
        assert info.value.path == ckpt.prefix
        with pytest.raises(CorruptionError):
            ckpt.variables()


def test_graph_tensor_of_wrong_type(tmp_path: Path) -> None:
    with (
        tfckpt.open(_graph_ckpt(tmp_path, np.zeros(3, np.int32), None)) as ckpt,
        pytest.raises(CorruptionError, match=r"expected a scalar string, found int32\[3\]"),
    ):
        _ = ckpt.object_graph


def test_every_byte_flip_of_a_real_graph_parses_or_raises_corruption() -> None:
    with tfckpt.open(NESTED) as ckpt:
        data = bytes(ckpt[OBJECT_GRAPH_KEY][()])
    for i in range(len(data)):
        for mutated in (data[:i], data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1 :]):
            try:
                graph = ObjectGraph.parse(mutated, path="p")
            except CorruptionError:
                continue
            graph.variables()
            for key in graph.checkpoint_keys:
                graph.object_paths(key)


def test_paths_through_cycles_terminate_and_are_simple() -> None:
    # 0 -> a(1) -> b(2) -> a(1) (cycle), 0 -> b(2), b -> leaf(3); 1 and 2 both reach 3.
    data = _proto(
        {"children": [(1, "a"), (2, "b")]},
        {"children": [(2, "b")]},
        {"children": [(1, "back"), (3, "leaf")]},
        {"keys": ["b/leaf" + SUFFIX]},
    )
    graph = ObjectGraph.parse(data)
    assert graph.object_paths("b/leaf" + SUFFIX) == ["b/leaf", "a/b/leaf"]
    assert graph.object_paths("b/leaf" + SUFFIX, limit=1) == ["b/leaf"]
    assert graph.variables() == {"b/leaf": "b/leaf" + SUFFIX}


def test_variables_skip_optimizer_edge_and_slot_owners() -> None:
    g = pb.TrackableObjectGraph()
    root, model, w, opt, it, slot, other, counter = (g.nodes.add() for _ in range(8))
    root.children.add(node_id=1, local_name="model")
    root.children.add(node_id=6, local_name="opt")  # not named "optimizer" but owns slots
    root.children.add(node_id=7, local_name="save_counter")
    model.children.add(node_id=2, local_name="w")
    model.children.add(node_id=3, local_name="optimizer")
    opt.children.add(node_id=4, local_name="iter")
    other.slot_variables.add(original_variable_node_id=2, slot_name="m", slot_variable_node_id=5)
    other.children.add(node_id=4, local_name="iter")
    for node, key in (
        (w, "model/w"),
        (it, "model/optimizer/iter"),
        (slot, "model/w/.OPTIMIZER_SLOT/opt/m"),
        (counter, "save_counter"),
    ):
        node.attributes.add(name="VARIABLE_VALUE", full_name=key, checkpoint_key=key + SUFFIX)
    graph = ObjectGraph.parse(g.SerializeToString())
    assert graph.variables() == {"model/w": "model/w" + SUFFIX}
    assert {n.node_id for n in graph.optimizer_nodes()} == {3, 6}
    assert graph.object_paths("model/w/.OPTIMIZER_SLOT/opt/m" + SUFFIX) == ["model/w/.OPTIMIZER_SLOT/opt/m"]
    (s,) = graph.nodes[6].slot_variables
    n = graph.nodes
    assert (s.original_variable, s.slot_name, s.slot_variable, s.optimizer) == (n[2], "m", n[5], n[6])
    assert graph.slot_of(n[5]) is s


# -- save_objects -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "prefix", "counter"),
    [("big_tensor", "ckpt-1", 1), ("no_state_file", "ckpt-1", 1), ("manager_rotation", "ckpt-4", 4)],
)
def test_save_objects_is_byte_identical_to_tf(tmp_path: Path, case: str, prefix: str, counter: int) -> None:
    src = FIXTURES / case / prefix
    with tfckpt.open(src) as ckpt:
        tree = {
            k.split("/")[0]: ckpt.get_tensor(k, copy=True)
            for k in ckpt
            if k.endswith(SUFFIX) and not k.startswith("save_counter")
        }
    out = tfckpt.save_objects(tmp_path / prefix, tree, save_counter=counter)
    for suffix in (".index", ".data-00000-of-00001"):
        assert filecmp.cmp(f"{src}{suffix}", f"{out}{suffix}", shallow=False), suffix


def test_save_objects_layout(tmp_path: Path) -> None:
    tree = {
        "table": {"scoped/c": np.arange(3), "a.b": 2.5, "empty": {}},
        "model": {"w": np.ones((2, 2), np.float32)},
    }
    prefix = tfckpt.save_objects(tmp_path / "ckpt-1", tree)
    with tfckpt.open(prefix) as ckpt:
        assert ckpt.keys() == [
            OBJECT_GRAPH_KEY,
            "model/w" + SUFFIX,
            "save_counter" + SUFFIX,
            "table/a..b" + SUFFIX,
            "table/scoped.Sc" + SUFFIX,
        ]
        assert ckpt["save_counter" + SUFFIX].dtype == np.int64
        graph = ckpt.object_graph
        assert graph is not None
        # Root children sorted (as tf.train.Checkpoint sorts kwargs), save_counter last;
        # nested mappings keep their order; nodes are numbered breadth-first.
        assert list(graph.root.children) == ["model", "table", "save_counter"]
        assert [n.node_id for n in graph.root.children.values()] == [1, 2, 3]
        table = graph.root.children["table"]
        assert list(table.children) == ["scoped/c", "a.b", "empty"]
        assert table.children["empty"].has_checkpoint_values is False
        assert table.has_checkpoint_values is True
        assert table.children["a.b"].attributes[0].full_name == "table/a.b"
        assert ckpt.variables() == {
            "model/w": "model/w" + SUFFIX,
            "table/scoped/c": "table/scoped.Sc" + SUFFIX,
            "table/a.b": "table/a..b" + SUFFIX,
        }
        assert ckpt["table/a..b" + SUFFIX] == 2.5


def test_save_objects_without_counter(tmp_path: Path) -> None:
    prefix = tfckpt.save_objects(tmp_path / "w", {"save_counter": np.int64(3)}, save_counter=False)
    with tfckpt.open(prefix) as ckpt:
        assert ckpt.keys() == [OBJECT_GRAPH_KEY, "save_counter" + SUFFIX]


@pytest.mark.parametrize(
    ("tree", "message"),
    [
        ({"save_counter": 1}, "collides with the checkpoint's own counter"),
        ({"a": {"": 1}}, "non-empty strings, found '' under a"),
        ({1: 2}, "non-empty strings, found 1 under the root"),
        ({"a": {"b": object()}}, "a/b"),
    ],
)
def test_save_objects_rejects(tmp_path: Path, tree: dict[object, object], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        tfckpt.save_objects(tmp_path / "x", tree)  # type: ignore[arg-type]
    assert not list(tmp_path.iterdir())


def test_save_objects_rejects_cycles(tmp_path: Path) -> None:
    loop: dict[str, object] = {}
    loop["self"] = loop
    with pytest.raises(InvalidArgumentError, match="contains itself"):
        tfckpt.save_objects(tmp_path / "x", {"a": loop})


# -- save_like --------------------------------------------------------------------------------


def test_save_like_replaces_by_name_and_copies_the_rest(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    kernel = rng.standard_normal((3, 4)).astype(np.float32)
    bias = rng.standard_normal(2).astype(np.float32)
    key0 = "optimizer/_trainable_variables/0" + SUFFIX
    out = tfckpt.save_like(KERAS, tmp_path / "ckpt-1", {"hidden/kernel": kernel, "model/_operations/2/bias": bias})
    with tfckpt.open(KERAS) as old, tfckpt.open(out) as new:
        assert new.keys() == old.keys()
        assert new.raw_bytes(OBJECT_GRAPH_KEY) == old.raw_bytes(OBJECT_GRAPH_KEY)
        np.testing.assert_array_equal(new[key0], kernel)
        np.testing.assert_array_equal(new["optimizer/_trainable_variables/3" + SUFFIX], bias)
        for key in old:
            if key not in (key0, "optimizer/_trainable_variables/3" + SUFFIX):
                assert new.raw_bytes(key) == old.raw_bytes(key), key
                assert new.dtype(key) == old.dtype(key)


def test_save_like_by_key_and_python_values(tmp_path: Path) -> None:
    out = tfckpt.save_like(NESTED, tmp_path / "c", {"net/step" + SUFFIX: 99, "net/label": ["a", "b", "c"]})
    with tfckpt.open(out) as ckpt:
        assert ckpt["net/step" + SUFFIX] == 99
        assert ckpt.dtype("net/step" + SUFFIX) == "int64"
        assert list(ckpt["net/label" + SUFFIX]) == [b"a", b"b", b"c"]


@pytest.mark.parametrize(
    ("values", "error", "message"),
    [
        ({"hidden/kernel": np.zeros((4, 3), np.float32)}, InvalidArgumentError, r"expected shape \(3, 4\), got \(4, 3\)"),
        ({"hidden/kernel": np.zeros((3, 4))}, InvalidArgumentError, "expected dtype float32, got float64"),
        ({"hidden/kernal": 0}, NotFoundError, "did you mean 'hidden/kernel'"),
        ({OBJECT_GRAPH_KEY: b""}, InvalidArgumentError, "kept from the template"),
        (
            {"hidden/kernel": np.zeros((3, 4), np.float32), "model/_operations/1/_kernel": np.zeros((3, 4), np.float32)},
            InvalidArgumentError,
            "both name the tensor",
        ),
    ],
)
def test_save_like_errors(tmp_path: Path, values: dict[str, object], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        tfckpt.save_like(KERAS, tmp_path / "x", values)
    assert not list(tmp_path.iterdir())


def test_manager_save_objects(tmp_path: Path) -> None:
    manager = tfckpt.CheckpointManager(tmp_path, max_to_keep=1)
    manager.save_objects({"v": np.float32(1)})
    path = manager.save_objects({"v": np.float32(2)}, checkpoint_number=10)
    assert path.endswith("ckpt-10")
    assert manager.checkpoints == [path]
    with tfckpt.open(tmp_path) as ckpt:
        assert ckpt.prefix == path
        assert ckpt["save_counter" + SUFFIX] == 2
        assert ckpt.variables() == {"v": "v" + SUFFIX}


def test_slot_paths_combine_variable_and_optimizer_paths_shortest_first() -> None:
    g = pb.TrackableObjectGraph()
    root, model, _w, opt, deep, slot = (g.nodes.add() for _ in range(6))
    root.children.add(node_id=1, local_name="model")
    root.children.add(node_id=3, local_name="opt")
    model.children.add(node_id=2, local_name="w")
    model.children.add(node_id=4, local_name="deep")
    deep.children.add(node_id=2, local_name="alias")  # w again, one level deeper
    deep.children.add(node_id=3, local_name="o")  # the optimizer again
    opt.slot_variables.add(original_variable_node_id=2, slot_name="m", slot_variable_node_id=5)
    slot.attributes.add(name="VARIABLE_VALUE", checkpoint_key="k")
    graph = ObjectGraph.parse(g.SerializeToString())
    assert graph.object_paths("k") == [
        "model/w/.OPTIMIZER_SLOT/opt/m",
        "model/deep/alias/.OPTIMIZER_SLOT/opt/m",
        "model/w/.OPTIMIZER_SLOT/model/deep/o/m",
        "model/deep/alias/.OPTIMIZER_SLOT/model/deep/o/m",
    ]
    assert graph.object_paths("k", limit=2) == graph.object_paths("k")[:2]


def test_variables_name_collisions() -> None:
    g = pb.TrackableObjectGraph()
    root, slash, a, ab, m, mx, x = (g.nodes.add() for _ in range(7))
    root.children.add(node_id=1, local_name="a/b")  # joins to "a/b" ...
    root.children.add(node_id=2, local_name="a")
    a.children.add(node_id=3, local_name="b")  # ... and so does a -> b
    root.children.add(node_id=4, local_name="m")
    m.children.add(node_id=5, local_name="x")
    root.children.add(node_id=6, local_name="x")
    for node, key, full in ((slash, "a.Sb", "s"), (ab, "a/b", "t"), (mx, "m/x", "x"), (x, "x", "")):
        node.attributes.add(name="VARIABLE_VALUE", full_name=full, checkpoint_key=key)
    graph = ObjectGraph.parse(g.SerializeToString())
    # Colliding unescaped paths keep their escaped (always distinct) spelling.
    assert graph.variables() == {"a.Sb": "a.Sb", "a/b": "a/b", "x": "x", "m/x": "m/x"}
    # "x" is m/x's unique full name, but also the path name the unnamed root.x falls back to:
    # the full name gives way to the path.
    assert graph.variables("full") == {"s": "a.Sb", "x": "x", "t": "a/b", "m/x": "m/x"}


_names = st.text(alphabet="ab./S", min_size=1, max_size=4).filter(lambda n: n != "save_counter")
_trees = st.recursive(
    st.integers(-5, 5).map(np.int32),
    lambda children: st.dictionaries(_names, children, min_size=1, max_size=3),
    max_leaves=8,
).filter(lambda t: isinstance(t, dict))


def _leaves(tree: dict[str, object], path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], object]]:
    out: list[tuple[tuple[str, ...], object]] = []
    for k, v in tree.items():
        out.extend(_leaves(v, (*path, k)) if isinstance(v, dict) else [((*path, k), v)])  # type: ignore[arg-type]
    return out


@given(_trees)
def test_save_objects_round_trips_any_names(tree: dict[str, object]) -> None:
    with tempfile.TemporaryDirectory() as d:
        prefix = tfckpt.save_objects(Path(d) / "ckpt-1", tree)
        with tfckpt.open(prefix) as ckpt:
            graph = ckpt.object_graph
            assert graph is not None
            leaves = _leaves(tree)
            assert len(ckpt) == len(leaves) + 2  # + save_counter + graph
            for path, value in leaves:
                key = checkpoint_key(path)
                assert ckpt[key] == value
                owner = graph.owner(key)
                assert owner is not None
                assert graph.paths_to(owner) == [path]
                assert ckpt.object_paths(key) == ["/".join(path)]
            assert sorted(ckpt.variables().values()) == sorted(checkpoint_key(p) for p, _ in leaves)
