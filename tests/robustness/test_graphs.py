"""Object graphs whose few bytes describe huge work: ladders, long chains, dense DAGs, and
variables whose clean names collide.

A ladder of ``n`` levels (two parallel edges between consecutive nodes) has ``2**n`` paths
to its bottom in about 45 bytes a level; a chain is as deep as it has nodes; a dense DAG of
``n`` nodes has ``n * (n - 1) / 2`` edges. Queries stay linear (``variables``) or bounded by
their ``limit`` (``object_paths``), shortest path first.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from robust_harness import bounded, expect_error, expect_value

import tfckpt
from tfckpt.objects import OBJECT_GRAPH_KEY, SUFFIX, ObjectGraph
from tfckpt.proto import trackable_object_graph_pb2 as pb


def _ladder(levels: int) -> bytes:
    g = pb.TrackableObjectGraph()
    nodes = [g.nodes.add() for _ in range(levels + 1)]
    for i in range(levels):
        nodes[i].children.add(node_id=i + 1, local_name="a")
        nodes[i].children.add(node_id=i + 1, local_name="b")
    nodes[-1].attributes.add(name="VARIABLE_VALUE", checkpoint_key="bottom" + SUFFIX)
    return g.SerializeToString()  # type: ignore[no-any-return]


def _chain(length: int, every: bool = False) -> bytes:
    g = pb.TrackableObjectGraph()
    nodes = [g.nodes.add() for _ in range(length)]
    for i in range(length - 1):
        nodes[i].children.add(node_id=i + 1, local_name="c")
        if every:
            nodes[i + 1].attributes.add(name="VARIABLE_VALUE", checkpoint_key=f"k{i}")
    nodes[-1].attributes.add(name="VARIABLE_VALUE", checkpoint_key="end" + SUFFIX)
    return g.SerializeToString()  # type: ignore[no-any-return]


def _dense(n: int) -> bytes:
    g = pb.TrackableObjectGraph()
    nodes = [g.nodes.add() for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            nodes[i].children.add(node_id=j, local_name=f"n{j}")
    nodes[-1].attributes.add(name="VARIABLE_VALUE", checkpoint_key="last" + SUFFIX)
    return g.SerializeToString()  # type: ignore[no-any-return]


def _checkpoint(tmp_path: Path, graph: bytes, keys: list[str]) -> str:
    with tfckpt.Writer(tmp_path / "g") as w:
        w.add(OBJECT_GRAPH_KEY, np.array(graph, dtype=object))
        for k in keys:
            w.add(k, np.float32(1))
    return str(tmp_path / "g")


def _queries(prefix: str, key: str) -> tuple[list[str], dict[str, str]]:
    with tfckpt.open(prefix) as ckpt:
        return ckpt.object_paths(key), ckpt.variables()


def test_ladder(tmp_path: Path) -> None:
    data = _ladder(20)
    assert len(data) < 1000
    prefix = _checkpoint(tmp_path, data, ["bottom" + SUFFIX])
    paths, variables = expect_value(bounded(lambda: _queries(prefix, "bottom" + SUFFIX)))
    assert paths[0] == "/".join(["a"] * 20)  # TF's breadth-first path comes first
    assert 1 < len(paths) <= 10 and all(len(p.split("/")) == 20 for p in paths)
    assert len(set(paths)) == len(paths)
    assert variables == {"/".join(["a"] * 20): "bottom" + SUFFIX}
    more = expect_value(bounded(lambda: ObjectGraph.parse(data).object_paths("bottom" + SUFFIX, limit=100)))
    assert len(more) == 100 and more[:len(paths)] == paths


@pytest.mark.parametrize("length", [2_000, 10_000])
def test_long_chain(tmp_path: Path, length: int) -> None:
    prefix = _checkpoint(tmp_path, _chain(length), ["end" + SUFFIX])
    paths, variables = expect_value(bounded(lambda: _queries(prefix, "end" + SUFFIX)))
    assert paths == ["/".join(["c"] * (length - 1))]
    assert variables == {paths[0]: "end" + SUFFIX}


def test_dense_dag(tmp_path: Path) -> None:
    prefix = _checkpoint(tmp_path, _dense(300), ["last" + SUFFIX])
    paths, variables = expect_value(bounded(lambda: _queries(prefix, "last" + SUFFIX)))
    assert paths[0] == "n299"
    assert [len(p.split("/")) for p in paths] == sorted(len(p.split("/")) for p in paths)
    assert variables == {"n299": "last" + SUFFIX}


def test_graph_queries_on_every_node(tmp_path: Path) -> None:
    """``checkpoint_keys`` of a long chain each with a variable: bounded work per query."""
    graph = ObjectGraph.parse(_chain(300, every=True))

    def run() -> int:
        return sum(len(graph.object_paths(k)) for k in graph.checkpoint_keys)

    assert expect_value(bounded(run)) == 300


def test_three_colliding_clean_names() -> None:
    """``a/b`` (one local name), ``a`` -> ``b``, and ``a.Sb``: unescaped, the first two are
    the same path; escaped, the first collides with the third's unescaped spelling. All three
    stay, under distinct names, deterministically."""
    g = pb.TrackableObjectGraph()
    root, slash, a, ab, dotted = (g.nodes.add() for _ in range(5))
    root.children.add(node_id=1, local_name="a/b")
    root.children.add(node_id=2, local_name="a")
    a.children.add(node_id=3, local_name="b")
    root.children.add(node_id=4, local_name="a.Sb")
    for node, key in ((slash, "k1"), (ab, "k2"), (dotted, "k3")):
        node.attributes.add(name="VARIABLE_VALUE", checkpoint_key=key)
    graph = ObjectGraph.parse(g.SerializeToString())
    for mode in ("path", "full"):
        got = graph.variables(mode)  # type: ignore[arg-type]
        assert sorted(got.values()) == ["k1", "k2", "k3"], got
        assert got == {"a.Sb": "k1", "a/b": "k2", "a..Sb": "k3"}


def test_one_object_with_two_variable_values_is_an_error_naming_both() -> None:
    g = pb.TrackableObjectGraph()
    root, v = g.nodes.add(), g.nodes.add()
    root.children.add(node_id=1, local_name="v")
    v.attributes.add(name="VARIABLE_VALUE", checkpoint_key="k1")
    v.attributes.add(name="VARIABLE_VALUE", checkpoint_key="k2")
    graph = ObjectGraph.parse(g.SerializeToString())
    outcome = bounded(graph.variables)
    expect_error(outcome, tfckpt.CorruptionError, "'k1'")
    assert "'k2'" in outcome.message


@pytest.mark.parametrize("length", [2_000, 10_000])
def test_cli_tree_of_a_long_chain(tmp_path: Path, length: int) -> None:
    from tfckpt.cli import main as cli

    prefix = _checkpoint(tmp_path, _chain(length), ["end" + SUFFIX])
    assert expect_value(bounded(lambda: _quiet(cli, ["tree", prefix]))) == 0


def test_cli_tree_of_deep_names(tmp_path: Path) -> None:
    from tfckpt.cli import main as cli

    tfckpt.save(tmp_path / "n", {"/".join(["s"] * 5000): np.float32(1)})
    assert expect_value(bounded(lambda: _quiet(cli, ["tree", str(tmp_path / "n")]))) == 0


def _quiet(fn: object, args: list[str]) -> int:
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()) as out:
        code = fn(args)  # type: ignore[operator]
    assert len(out.getvalue()) < 10 << 20
    return code  # type: ignore[no-any-return]
