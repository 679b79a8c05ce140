"""Matching a Keras 2 checkpoint's object graph to a Keras 3 model's variables.

By topology (the default, as Keras 2's TF-format ``load_weights``): a breadth-first walk from
the checkpoint's root node and the model together; a checkpoint child is followed when the
model's :class:`~._view.Keras2View` has a child of the same local name, and a checkpoint
variable (a node with a ``VARIABLE_VALUE`` attribute) is matched to the model variable of the
same local name. Every checkpoint object is matched at most once (its first path wins, as in
TensorFlow's restore).

By layer name (``by_name=True``): a checkpoint object is named by the variables beneath it,
whose ``full_name`` (``"dense_3/kernel"``, ``"lstm/lstm_cell/bias"``) starts with the names
of the layers that made them. Each layer of the model (``model.layers``, recursing into
sub-models that match no name themselves) is matched to the shallowest checkpoint object
whose variables all share a name prefix containing the layer's name, then walked by topology
below it. Checkpoint layers the model lacks are ignored.

Either way the result is a :class:`Plan`: the assignments, and every problem found (each
unmatched or mis-shaped variable), so a caller reports them all at once.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ..checkpoint import Checkpoint
from ..errors import CorruptionError
from ..objects import OPTIMIZER_EDGE, VARIABLE_VALUE, Node, ObjectGraph
from ._tables import BOOKKEEPING_CHILDREN, MISMATCH_HINTS
from ._view import Container, Keras2View, class_names, is_layer

__all__ = ["Assignment", "Plan", "match_by_name", "match_by_topology", "model_variable_nodes", "shape_of", "stored_shape",
           "variable_key"]


@dataclass(frozen=True)
class Assignment:
    """Load checkpoint tensor ``key`` into the Keras 3 ``variable``."""

    key: str
    variable: Any


@dataclass
class Plan:
    """What to load, and what does not fit (human-readable, one line each)."""

    assignments: list[Assignment] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def shape_of(var: Any) -> tuple[int, ...]:
    return tuple(int(d) for d in var.shape)


def stored_shape(ckpt: Checkpoint, key: str) -> tuple[int, ...]:
    """The shape of tensor ``key``, which the object graph names.

    Raises
    ------
    CorruptionError
        The graph names a tensor the bundle does not hold.
    """
    if key not in ckpt:
        raise CorruptionError("the object graph names this tensor, but the checkpoint does not hold it",
                              path=ckpt.prefix, tensor=key)
    return ckpt.shape(key)


def variable_key(node: Node) -> str | None:
    for attr in node.attributes:
        if attr.name == VARIABLE_VALUE:
            return attr.checkpoint_key
    return None


def _describe(obj: Any) -> str:
    if isinstance(obj, Container):
        return obj.path
    return f"{type(obj).__name__} {getattr(obj, 'name', '?')!r}"


class _Walker:
    """One side-by-side walk; collects assignments and shape problems into ``plan``."""

    def __init__(self, ckpt: Checkpoint, graph: ObjectGraph, plan: Plan) -> None:
        self.ckpt, self.graph, self.plan = ckpt, graph, plan
        self.view = Keras2View()
        self.visited: set[int] = set()
        self.found_keys: set[str] = set()  # checkpoint variables matched (loadable or mis-shaped)
        self.found_ids: set[int] = set()  # model variables matched (loadable or mis-shaped)

    def walk(self, node: Node, obj: Any, path: str) -> None:
        queue: deque[tuple[Node, Any, str]] = deque([(node, obj, path)])
        self.visited.add(node.node_id)
        while queue:
            node, obj, path = queue.popleft()
            variables = self.view.variables(obj)
            children = self.view.children(obj)
            for name, child in node.children.items():
                if name == OPTIMIZER_EDGE or child.node_id in self.visited:
                    continue
                where = f"{path}/{name}" if path else name
                key = variable_key(child)
                if key is not None and name in variables:
                    self.visited.add(child.node_id)
                    self._assign(key, variables[name], obj, name, where)
                elif key is None and name in children:
                    self.visited.add(child.node_id)
                    queue.append((child, children[name], where))

    def _assign(self, key: str, var: Any, owner: Any, name: str, where: str) -> None:
        self.found_keys.add(key)
        self.found_ids.add(id(var))
        stored, wanted = stored_shape(self.ckpt, key), shape_of(var)
        if stored == wanted:
            self.plan.assignments.append(Assignment(key, var))
            return
        message = (f"{_describe(owner)} variable {name!r} ({var.path}): checkpoint {where} has shape "
                   f"{list(stored)}, the model {list(wanted)}")
        hint = next((MISMATCH_HINTS[(cls, name, len(stored), len(wanted))] for cls in class_names(owner)
                     if (cls, name, len(stored), len(wanted)) in MISMATCH_HINTS), None)
        self.plan.problems.append(f"{message} ({hint})" if hint else message)


def model_variable_nodes(graph: ObjectGraph) -> dict[str, tuple[str, ...]]:
    """Checkpoint key -> object path (local names) of every model variable (no optimizer state)."""
    avoid = graph.optimizer_nodes() + [n for n in graph.nodes if graph.slot_of(n) is not None]
    found: dict[str, tuple[str, ...]] = {}
    for node_id, path in graph.bfs_paths(avoid=avoid).items():
        key = variable_key(graph.nodes[node_id])
        if key is not None:
            found[key] = path
    return found


def _report_unmatched(walker: _Walker, model: Any, *, checkpoint_side: bool) -> None:
    plan, ckpt, graph = walker.plan, walker.ckpt, walker.graph
    for var in model.weights:
        if id(var) not in walker.found_ids:
            plan.problems.append(f"model variable {var.path} {list(shape_of(var))} has no match in the checkpoint")
    if checkpoint_side:
        for key, path in model_variable_nodes(graph).items():
            if key not in walker.found_keys and not BOOKKEEPING_CHILDREN.intersection(path):
                owner = graph.owner(key)
                full = next((a.full_name for a in owner.attributes if a.full_name), "") if owner else ""
                named = f" ({full})" if full else ""
                plan.problems.append(f"checkpoint variable {'/'.join(path)}{named} {list(stored_shape(ckpt, key))} "
                                     "matches nothing in the model")


def match_by_topology(model: Any, ckpt: Checkpoint, graph: ObjectGraph) -> Plan:
    """Match as Keras 2's TF-format loader: the object graph from the root, by local names."""
    plan = Plan()
    walker = _Walker(ckpt, graph, plan)
    walker.walk(graph.root, model, "")
    _report_unmatched(walker, model, checkpoint_side=True)
    return plan


def _layer_names(graph: ObjectGraph) -> dict[str, list[Node]]:
    """Layer name -> the checkpoint objects whose variables' full names all start with a common
    prefix containing that name, shallowest first (see the module docs)."""
    prefixes: dict[tuple[str, ...], list[str]] = {}
    for key, path in model_variable_nodes(graph).items():
        owner = graph.owner(key)
        full = next((a.full_name for a in owner.attributes if a.name == VARIABLE_VALUE), "") if owner else ""
        segments = full.split(":")[0].split("/")[:-1]
        for depth in range(1, len(path)):
            common = prefixes.setdefault(path[:depth], segments)
            n = 0
            while n < min(len(common), len(segments)) and common[n] == segments[n]:
                n += 1
            prefixes[path[:depth]] = common[:n]
    index: dict[str, list[Node]] = {}
    for ancestor in sorted(prefixes, key=len):  # stable: ties keep traversal order
        node = graph.root
        for name in ancestor:
            node = node.children[name]
        for segment in dict.fromkeys(prefixes[ancestor]):
            index.setdefault(segment, []).append(node)
    return index


def match_by_name(model: Any, ckpt: Checkpoint, graph: ObjectGraph) -> Plan:
    """Match each model layer to the checkpoint object named after it (see the module docs)."""
    plan = Plan()
    walker = _Walker(ckpt, graph, plan)
    index = _layer_names(graph)
    paths = graph.bfs_paths()

    def fits(node: Node, layer: Any) -> bool:
        # A one-layer sub-model shares its layer's name prefix: take the object whose children
        # are what the layer has (its variables, or its sub-layers), not the wrapping model.
        names = walker.view.variables(layer).keys() | walker.view.children(layer).keys()
        return node.node_id not in walker.visited and any(name in names for name in node.children)

    def visit(layers: list[Any]) -> None:
        for layer in layers:
            if not is_layer(layer) or not layer.weights:
                continue
            node = next((n for n in index.get(layer.name, []) if fits(n, layer)), None)
            if node is not None:
                walker.walk(node, layer, "/".join(paths.get(node.node_id, ())))
            elif hasattr(layer, "layers"):
                visit(list(layer.layers))

    visit(list(model.layers))
    _report_unmatched(walker, model, checkpoint_side=False)
    return plan
