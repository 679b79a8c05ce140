"""The object graph of TF2 (object-based) checkpoints, and which tensors are model weights.

A checkpoint written by ``tf.train.Checkpoint`` names each tensor by the path of *escaped local
names* from the root object to the object that owns it, followed by the attribute::

    <escaped name>/<escaped name>/.../.ATTRIBUTES/<attribute>      e.g. net/table/scoped.Sc/.ATTRIBUTES/VARIABLE_VALUE
    <variable path>/.OPTIMIZER_SLOT/<optimizer path>/<slot name>/.ATTRIBUTES/VARIABLE_VALUE

and stores the graph itself as the scalar string tensor ``_CHECKPOINTABLE_OBJECT_GRAPH``: one
serialized ``TrackableObjectGraph`` protocol buffer (``protos/trackable_object_graph.proto``)::

    TrackableObjectGraph { repeated TrackableObject nodes = 1; }      node 0 is the root
    TrackableObject {
      repeated ObjectReference  children       = 1;  {node_id, local_name (unescaped)}
      repeated SerializedTensor attributes     = 2;  {name, full_name, checkpoint_key}
      repeated SlotVariableReference slot_variables = 3;
                                 {original_variable_node_id, slot_name, slot_variable_node_id}
      RegisteredSaver registered_saver = 4;  BoolValue has_checkpoint_values = 5;
    }

Escaping (TF's ``trackable_utils.escape_local_name``): ``.`` becomes ``..`` first, then ``/``
becomes ``.S``; so ``"scoped/c"`` is keyed ``scoped.Sc`` and ``"a.b"`` is ``a..b``. Reserved path
components (``.ATTRIBUTES``, ``.OPTIMIZER_SLOT``) start with one ``.`` followed by a letter other
than ``S``, which no escaped name can produce. Local names inside the proto are unescaped.

TensorFlow keys each object by the first path its breadth-first traversal from the root finds
(children in stored order); slot variables are usually not children of anything and are only
reachable through their optimizer's ``slot_variables`` list.

Model variables (:meth:`ObjectGraph.variables`) are ``VARIABLE_VALUE`` attributes of nodes
reachable from the root without passing through *bookkeeping* (the root's ``save_counter``) or
*optimizer state*: slot variables, and any object reached by an edge named ``optimizer`` or that
owns slot variables. For name-based (TF1) checkpoints, :func:`name_based_model_variables` applies
the equivalent rules to variable names.
"""

from __future__ import annotations

import heapq
import re
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal, TypeAlias

from google.protobuf.message import DecodeError

from .errors import CorruptionError, InvalidArgumentError
from .proto.trackable_object_graph_pb2 import TrackableObjectGraph  # type: ignore[attr-defined, unused-ignore]

__all__ = [
    "ATTRIBUTES",
    "NAME_BASED_SLOT_NAMES",
    "OBJECT_GRAPH_KEY",
    "OPTIMIZER_SLOT",
    "SAVE_COUNTER",
    "VARIABLE_VALUE",
    "Attribute",
    "Node",
    "ObjectGraph",
    "SlotVariable",
    "checkpoint_key",
    "escape_local_name",
    "name_based_model_variables",
    "unescape_local_name",
]

OBJECT_GRAPH_KEY: Final = "_CHECKPOINTABLE_OBJECT_GRAPH"  # python/trackable/constants.py
ATTRIBUTES: Final = ".ATTRIBUTES"  # trackable_utils._OBJECT_ATTRIBUTES_NAME
OPTIMIZER_SLOT: Final = ".OPTIMIZER_SLOT"  # trackable_utils._OPTIMIZER_SLOTS_NAME
VARIABLE_VALUE: Final = "VARIABLE_VALUE"  # constants.VARIABLE_VALUE_KEY
SAVE_COUNTER: Final = "save_counter"  # tf.train.Checkpoint's counter, a child of the root
OPTIMIZER_EDGE: Final = "optimizer"  # the edge name Keras and tf.train.Checkpoint users give optimizers
SUFFIX: Final = f"/{ATTRIBUTES}/{VARIABLE_VALUE}"

# Slot variable names of TF1 optimizers (``<var>/<optimizer name>[_N]``, slot_creator.py), of
# BERT's AdamWeightDecayOptimizer (``<var>/adam_m``, ``<var>/adam_v``) and of ALBERT's LAMB.
NAME_BASED_SLOT_NAMES: Final = (
    "Adam", "Adadelta", "Adagrad", "AdagradDA", "Ftrl", "LazyAdam", "Momentum", "ProximalAdagrad",
    "ProximalGradientDescent", "RMSProp", "AdamW", "AdamWeightDecayOptimizer", "LAMB",
    "adam_m", "adam_v", "lamb_m", "lamb_v",
)  # fmt: skip
_SLOT_RE: Final = re.compile("(?:" + "|".join(map(re.escape, NAME_BASED_SLOT_NAMES)) + r")(?:_\d+)?")
# Non-slot optimizer variables and training bookkeeping of TF1 graphs (Adam's beta powers, the
# global step that Saver numbers checkpoints with; Hugging Face's BERT converter skips the same).
_NAME_BASED_STATE_RE: Final = re.compile(r"(?:.*/)?(?:beta[12]_power(?:_\d+)?|global_step)")

#: Paths :meth:`ObjectGraph.object_paths` returns by default (TF's own path is the first).
DEFAULT_PATH_LIMIT: Final = 10
#: Steps (partial paths extended, cycle checks) one :meth:`ObjectGraph.paths_to` call may take
#: beyond the first path: a tiny graph can have exponentially many paths (a ladder of 20
#: levels has 2**20), so enumeration is bounded by work as well as by ``limit``.
MAX_PATH_WORK: Final = 200_000

#: A partial path of :meth:`ObjectGraph.paths_to`, as a linked list: (node id, the partial
#: path it extends, the local name of the edge taken); the root's has no parent.
_Link: TypeAlias = "tuple[int, _Link | None, str]"


def escape_local_name(name: str) -> str:
    """Escape one local name for use in a checkpoint key, exactly as TensorFlow does.

    ``.`` becomes ``..`` first, then ``/`` becomes ``.S``.

    Examples
    --------
    >>> escape_local_name("scoped/c"), escape_local_name("a.b")
    ('scoped.Sc', 'a..b')
    """
    return name.replace(".", "..").replace("/", ".S")


_ESCAPE_RE: Final = re.compile(r"\.(.?)", re.DOTALL)


def unescape_local_name(escaped: str) -> str:
    """Invert :func:`escape_local_name`.

    Raises
    ------
    InvalidArgumentError
        ``escaped`` contains a ``.`` that is not part of ``..`` or ``.S`` (for example the
        reserved ``.ATTRIBUTES``), so it is not an escaped local name.

    Examples
    --------
    >>> unescape_local_name("x.Sy..z")
    'x/y.z'
    """

    def repl(m: re.Match[str]) -> str:
        if m.group(1) == ".":
            return "."
        if m.group(1) == "S":
            return "/"
        raise InvalidArgumentError(f"{escaped!r} is not an escaped local name (bad escape at offset {m.start()})")

    return _ESCAPE_RE.sub(repl, escaped)


def checkpoint_key(path: Sequence[str], attribute: str = VARIABLE_VALUE) -> str:
    """The key TensorFlow gives ``attribute`` of the object at ``path`` (unescaped local names).

    Examples
    --------
    >>> checkpoint_key(["vars", "scoped/c"])
    'vars/scoped.Sc/.ATTRIBUTES/VARIABLE_VALUE'
    """
    return "/".join([*(escape_local_name(p) for p in path), ATTRIBUTES, escape_local_name(attribute)])


@dataclass(frozen=True)
class Attribute:
    """One saved tensor of an object: ``name`` (``"VARIABLE_VALUE"`` for variables), the
    object's ``full_name`` (a variable's own name, e.g. ``"dense/kernel"``; may be empty) and
    the ``checkpoint_key`` of the tensor."""

    name: str
    full_name: str
    checkpoint_key: str


@dataclass(eq=False)
class Node:
    """One object of the graph.

    Attributes
    ----------
    node_id : int
        Index in :attr:`ObjectGraph.nodes` (0 is the root).
    children : dict[str, Node]
        Unescaped local name -> child, in stored order.
    attributes : list[Attribute]
        The tensors this object saved.
    slot_variables : list[SlotVariable]
        For an optimizer: which slot of which variable is which node.
    has_checkpoint_values : bool or None
        TF's flag that this object or a descendant saved values (None when not stored).
    """

    node_id: int
    children: dict[str, Node] = field(default_factory=dict)
    attributes: list[Attribute] = field(default_factory=list)
    slot_variables: list[SlotVariable] = field(default_factory=list)
    has_checkpoint_values: bool | None = None

    def __repr__(self) -> str:
        keys = [a.checkpoint_key for a in self.attributes]
        return f"<Node {self.node_id} children={list(self.children)} attributes={keys}>"


@dataclass(frozen=True)
class SlotVariable:
    """Slot ``slot_name`` (``"m"``, ``"v"``, ``"momentum"``) of ``original_variable``, held by
    ``slot_variable``; listed on the optimizer node ``optimizer``."""

    optimizer: Node
    original_variable: Node
    slot_name: str
    slot_variable: Node

    def __repr__(self) -> str:
        return (
            f"<SlotVariable {self.slot_name!r} of node {self.original_variable.node_id} in node "
            f"{self.slot_variable.node_id} (optimizer node {self.optimizer.node_id})>"
        )


class ObjectGraph:
    """A parsed ``TrackableObjectGraph``: :attr:`root`, :attr:`nodes` and path queries.

    Get one from :attr:`tfckpt.Checkpoint.object_graph`.

    Examples
    --------
    >>> with tfckpt.open("tests/fixtures/tf2_nested/ckpt-2") as ckpt:       # doctest: +SKIP
    ...     g = ckpt.object_graph
    ...     g.root.children["net"].children["table"].children["scoped/c"].attributes[0].checkpoint_key
    'net/table/scoped.Sc/.ATTRIBUTES/VARIABLE_VALUE'
    """

    def __init__(self, nodes: list[Node]) -> None:
        if not nodes:
            raise InvalidArgumentError("an object graph needs at least the root node")
        self.nodes = nodes
        self.root = nodes[0]
        self._owners: dict[str, Node] = {}
        for node in nodes:
            for attr in node.attributes:
                self._owners.setdefault(attr.checkpoint_key, node)
        self._slots: dict[int, SlotVariable] = {s.slot_variable.node_id: s for n in nodes for s in n.slot_variables}
        self._parents: dict[int, list[tuple[Node, str]]] | None = None

    # -- construction ------------------------------------------------------------------

    @classmethod
    def parse(cls, data: bytes, *, path: str | None = None) -> ObjectGraph:
        """Parse a serialized ``TrackableObjectGraph``.

        Raises
        ------
        CorruptionError
            The bytes are not a valid graph (undecodable, no nodes, a reference to a node that
            does not exist, a repeated child name), naming ``path`` and the graph tensor.
        """

        def bad(msg: str) -> CorruptionError:
            return CorruptionError(msg, path=path, tensor=OBJECT_GRAPH_KEY)

        proto = TrackableObjectGraph()
        try:
            proto.ParseFromString(data)
        except (DecodeError, RuntimeError, ValueError) as e:  # RuntimeError: recursion limit in upb
            raise bad(f"cannot parse the TrackableObjectGraph ({len(data)} bytes): {e}") from e
        count = len(proto.nodes)
        if count == 0:
            raise bad("the object graph has no nodes (expected at least the root)")
        nodes = [Node(i) for i in range(count)]

        def ref(node_id: int, what: str) -> Node:
            if not 0 <= node_id < count:
                raise bad(f"{what} refers to node {node_id}, but the graph has {count} nodes")
            return nodes[node_id]

        for i, obj in enumerate(proto.nodes):
            node = nodes[i]
            for child in obj.children:
                if child.local_name in node.children:
                    raise bad(f"node {i} has two children named {child.local_name!r}")
                node.children[child.local_name] = ref(child.node_id, f"child {child.local_name!r} of node {i}")
            node.attributes = [Attribute(a.name, a.full_name, a.checkpoint_key) for a in obj.attributes]
            node.slot_variables = [
                SlotVariable(
                    node,
                    ref(s.original_variable_node_id, f"slot {s.slot_name!r} of node {i}"),
                    s.slot_name,
                    ref(s.slot_variable_node_id, f"slot {s.slot_name!r} of node {i}"),
                )
                for s in obj.slot_variables
            ]
            if obj.HasField("has_checkpoint_values"):
                node.has_checkpoint_values = obj.has_checkpoint_values.value
        return cls(nodes)

    # -- queries -----------------------------------------------------------------------

    def owner(self, key: str) -> Node | None:
        """The node with an attribute stored under ``key``, or None."""
        return self._owners.get(key)

    @property
    def checkpoint_keys(self) -> dict[str, Node]:
        """Every checkpoint key the graph names -> the node that owns it."""
        return dict(self._owners)

    def slot_of(self, node: Node) -> SlotVariable | None:
        """The slot reference if ``node`` is an optimizer slot variable, else None."""
        return self._slots.get(node.node_id)

    def _parent_map(self) -> dict[int, list[tuple[Node, str]]]:
        if self._parents is None:
            parents: dict[int, list[tuple[Node, str]]] = {}
            for node in self.nodes:
                for name, child in node.children.items():
                    parents.setdefault(child.node_id, []).append((node, name))
            self._parents = parents
        return self._parents

    def _bfs_tree(self, blocked: set[int]) -> dict[int, tuple[int, str]]:
        """TF's breadth-first walk from the root: node id -> (parent id, local name), in the
        order nodes are found (the root maps to ``(-1, "")``); nodes in ``blocked`` are
        neither entered nor reported. Linear in nodes plus edges."""
        tree: dict[int, tuple[int, str]] = {}
        if self.root.node_id in blocked:
            return tree
        tree[self.root.node_id] = (-1, "")
        queue = deque([self.root])
        while queue:
            node = queue.popleft()
            for name, child in node.children.items():
                if child.node_id not in tree and child.node_id not in blocked:
                    tree[child.node_id] = (node.node_id, name)
                    queue.append(child)
        return tree

    @staticmethod
    def _tree_path(tree: dict[int, tuple[int, str]], node_id: int) -> tuple[str, ...]:
        names: list[str] = []
        while True:
            parent, name = tree[node_id]
            if parent < 0:
                return tuple(reversed(names))
            names.append(name)
            node_id = parent

    def bfs_paths(self, *, avoid: Iterable[Node] = ()) -> dict[int, tuple[str, ...]]:
        """Node id -> the first path (unescaped local names) a breadth-first walk from the root
        finds, in TF's order; nodes in ``avoid`` are neither entered nor reported.

        The result holds every node's whole path, so it grows with nodes times depth; the
        queries below keep parent links instead and spell only the paths they return.
        """
        tree = self._bfs_tree({n.node_id for n in avoid})
        return {node_id: self._tree_path(tree, node_id) for node_id in tree}

    def paths_to(self, target: Node, *, limit: int = DEFAULT_PATH_LIMIT) -> list[tuple[str, ...]]:
        """Paths of child edges from the root to ``target`` that visit no node twice, at most
        ``limit`` of them, shortest first; ``[]`` if the root does not reach it.

        The first is the path TF keys the object by (its breadth-first path). The rest come
        from a best-first search over partial paths ordered by their length plus the
        distance still to go (exact, from a backward walk from ``target``), deeper partial
        paths first among equals, then in stored child order. In a graph without cycles
        every partial path it extends leads to a new path, so the work is about ``limit``
        times the path length times the out-degree; cycles can make it extend partial paths
        that lead nowhere, so it stops after :data:`MAX_PATH_WORK` steps, returning the
        paths found so far (always at least the first).
        """
        if limit < 1:
            return []
        tree = self._bfs_tree(set())
        if target.node_id not in tree:
            return []
        first = self._tree_path(tree, target.node_id)
        if limit == 1:
            return [first]
        to_go = self._distances_to(target)
        acyclic = self._is_acyclic(set(to_go))
        found = [first]
        heap: list[tuple[int, int, int, _Link]] = [(to_go[self.root.node_id], 0, 0, (self.root.node_id, None, ""))]
        counter = 0
        work = 0
        while heap and len(found) < limit and work < MAX_PATH_WORK:
            _, neg_depth, _, link = heapq.heappop(heap)
            node_id = link[0]
            if node_id == target.node_id:
                path = self._link_path(link)
                if path != first:
                    found.append(path)
                continue
            depth = 1 - neg_depth
            for name, child in self.nodes[node_id].children.items():
                work += 1
                remaining = to_go.get(child.node_id)
                if remaining is None:
                    continue
                if not acyclic:
                    on_path, steps = self._on_path(link, child.node_id)
                    work += steps
                    if on_path:
                        continue
                counter += 1
                heapq.heappush(heap, (depth + remaining, -depth, counter, (child.node_id, link, name)))
        return found

    def _distances_to(self, target: Node) -> dict[int, int]:
        """Node id -> fewest child edges from it to ``target``, for every node that reaches it."""
        parents = self._parent_map()
        distance = {target.node_id: 0}
        queue = deque([target.node_id])
        while queue:
            node_id = queue.popleft()
            for parent, _ in parents.get(node_id, ()):
                if parent.node_id not in distance:
                    distance[parent.node_id] = distance[node_id] + 1
                    queue.append(parent.node_id)
        return distance

    def _is_acyclic(self, among: set[int]) -> bool:
        """True if the child edges between the nodes ``among`` form no cycle (Kahn's algorithm)."""
        indegree = dict.fromkeys(among, 0)
        for node_id in among:
            for child in self.nodes[node_id].children.values():
                if child.node_id in indegree:
                    indegree[child.node_id] += 1
        ready = [n for n, d in indegree.items() if d == 0]
        seen = 0
        while ready:
            node_id = ready.pop()
            seen += 1
            for child in self.nodes[node_id].children.values():
                if child.node_id in indegree:
                    indegree[child.node_id] -= 1
                    if indegree[child.node_id] == 0:
                        ready.append(child.node_id)
        return seen == len(among)

    @staticmethod
    def _on_path(link: _Link | None, node_id: int) -> tuple[bool, int]:
        """Whether ``node_id`` is on the partial path ``link``, and the steps it took to tell."""
        steps = 0
        while link is not None:
            steps += 1
            if link[0] == node_id:
                return True, steps
            link = link[1]
        return False, steps

    @staticmethod
    def _link_path(link: _Link) -> tuple[str, ...]:
        names: list[str] = []
        node: _Link | None = link
        while node is not None and node[1] is not None:
            names.append(node[2])
            node = node[1]
        return tuple(reversed(names))

    def object_paths(self, key: str, *, limit: int = DEFAULT_PATH_LIMIT) -> list[str]:
        """Paths from the root to the object that owns ``key``, as ``/``-joined unescaped
        local names, shortest first, at most ``limit`` (see :meth:`paths_to`); ``[]`` when
        no node owns ``key``. The first is the path TF keys the object by.

        A slot variable that is only reachable through its optimizer is reported as TF keys
        it: ``<variable path>/.OPTIMIZER_SLOT/<optimizer path>/<slot name>``.
        """
        node = self.owner(key)
        if node is None:
            return []
        paths = self.paths_to(node, limit=limit)
        slot = self.slot_of(node)
        if slot is not None and len(paths) < limit:
            var_paths = self.paths_to(slot.original_variable, limit=limit)
            opt_paths = self.paths_to(slot.optimizer, limit=limit)
            # The ``limit`` shortest (variable path, optimizer path) pairs, without forming all
            # len(a) * len(b): both lists are shortest first, so walk them with a heap.
            pairs: list[tuple[str, ...]] = []
            heap = [(len(var_paths[0]) + len(opt_paths[0]), 0, 0)] if var_paths and opt_paths else []
            queued = {(0, 0)}
            while heap and len(pairs) < limit:
                _, i, j = heapq.heappop(heap)
                pairs.append((*var_paths[i], OPTIMIZER_SLOT, *opt_paths[j], slot.slot_name))
                for a, b in ((i + 1, j), (i, j + 1)):
                    if a < len(var_paths) and b < len(opt_paths) and (a, b) not in queued:
                        queued.add((a, b))
                        heapq.heappush(heap, (len(var_paths[a]) + len(opt_paths[b]), a, b))
            paths = sorted(dict.fromkeys(paths + pairs), key=len)[:limit]  # stable: ties keep traversal order
        return ["/".join(p) for p in paths]

    def optimizer_nodes(self) -> list[Node]:
        """Objects treated as optimizers: reached by an edge named ``optimizer``, or owning slots."""
        found: dict[int, Node] = {}
        for node in self.nodes:
            child = node.children.get(OPTIMIZER_EDGE)
            if child is not None:
                found[child.node_id] = child
            if node.slot_variables:
                found[node.node_id] = node
        return list(found.values())

    def variables(self, names: Literal["path", "full"] = "path") -> dict[str, str]:
        """Clean name -> checkpoint key for the model's own variables (see the module docs).

        With ``names="path"`` the name is the shortest path that avoids optimizers, unescaped,
        without the ``.ATTRIBUTES/VARIABLE_VALUE`` suffix; with ``names="full"`` it is the
        variable's ``full_name`` where that is present and unique among the model variables,
        else the path. Entries are in TF's traversal order. Linear in the nodes and edges
        (plus the length of the names returned).

        Names never collide and no variable is dropped: when two variables would get the
        same name, both move on to their next choice (full name, then unescaped path, then
        escaped path, e.g. ``a.Sb`` for the local name ``a/b``, which escaping keeps apart
        from the path ``a/b``); see :func:`_unique_names`.

        Raises
        ------
        InvalidArgumentError
            ``names`` is neither ``"path"`` nor ``"full"``.
        CorruptionError
            One object holds two ``VARIABLE_VALUE`` attributes, so two variables have the
            same path; the message names both keys.
        """
        if names not in ("path", "full"):
            raise InvalidArgumentError(f"names must be 'path' or 'full', got {names!r}")
        avoid = self.optimizer_nodes() + [s.slot_variable for s in self._slots.values()]
        counter = self.root.children.get(SAVE_COUNTER)
        if counter is not None and counter.attributes:
            avoid.append(counter)
        tree = self._bfs_tree({n.node_id for n in avoid})
        found: list[tuple[tuple[str, ...], Attribute]] = []
        for node_id in tree:
            attrs = [a for a in self.nodes[node_id].attributes if a.name == VARIABLE_VALUE]
            if attrs:
                path = self._tree_path(tree, node_id)  # spelled only for nodes that hold variables
                found.extend((path, attr) for attr in attrs)
        full_counts: dict[str, int] = {}
        if names == "full":
            for _, attr in found:
                full_counts[attr.full_name] = full_counts.get(attr.full_name, 0) + 1
        # Each variable's names, most preferred first: its full name (mode "full", when present
        # and unique), its unescaped path, its escaped path (distinct for distinct objects).
        candidates = []
        for path, attr in found:
            ladder = [attr.full_name] if attr.full_name and full_counts.get(attr.full_name) == 1 else []
            ladder += ["/".join(path), "/".join(map(escape_local_name, path))]
            candidates.append(list(dict.fromkeys(ladder)))
        chosen = _unique_names(candidates, [attr.checkpoint_key for _, attr in found])
        return {name: attr.checkpoint_key for name, (_, attr) in zip(chosen, found)}

    def __repr__(self) -> str:
        return f"<tfckpt.ObjectGraph {len(self.nodes)} nodes, {len(self._owners)} keys>"


def _unique_names(candidates: list[list[str]], keys: list[str]) -> list[str]:
    """One name per entry, each the first of its ``candidates`` that no other entry shares.

    Every entry starts at its first candidate; all entries of a name that more than one
    holds move on to their next candidate (an entry already at its last keeps it), until
    the names are distinct. Linear: each entry moves at most ``len(candidates[i]) - 1``
    times. Deterministic: the outcome depends only on the candidates, not on any order.

    Raises
    ------
    CorruptionError
        Two entries end at the same last candidate (one object holding two
        ``VARIABLE_VALUE`` attributes), naming both checkpoint keys.
    """
    level = [0] * len(candidates)
    holders: dict[str, set[int]] = {}
    for i, c in enumerate(candidates):
        holders.setdefault(c[0], set()).add(i)
    pending = [name for name, who in holders.items() if len(who) > 1]
    while pending:
        name = pending.pop()
        who = holders[name]
        if len(who) < 2:
            continue
        movable = [i for i in who if level[i] + 1 < len(candidates[i])]
        stuck = sorted(i for i in who if level[i] + 1 >= len(candidates[i]))
        if len(stuck) > 1:
            a, b = (keys[i] for i in stuck[:2])
            raise CorruptionError(
                f"the variables {a!r} and {b!r} both have the clean name {name!r} "
                "(one object holds two VARIABLE_VALUE attributes)",
                tensor=OBJECT_GRAPH_KEY,
            )
        for i in movable:
            who.discard(i)
            level[i] += 1
            new = candidates[i][level[i]]
            others = holders.setdefault(new, set())
            others.add(i)
            if len(others) > 1:
                pending.append(new)
        if len(who) > 1:
            pending.append(name)
    return [c[level[i]] for i, c in enumerate(candidates)]


def name_based_model_variables(names: Iterable[str]) -> list[str]:
    """The names of a name-based (TF1) checkpoint that are model weights, in the given order.

    Left out: the object graph tensor; optimizer slots, i.e. names ``<var>/<slot>`` whose
    ``<var>`` is also in ``names`` and whose ``<slot>`` is one of :data:`NAME_BASED_SLOT_NAMES`
    optionally followed by ``_N`` (``dense/kernel/Adam_1``, ``bert/.../adam_m``); and
    ``beta1_power``/``beta2_power`` (Adam's non-slot state) and ``global_step`` (the training
    step counter), at any scope.

    Examples
    --------
    >>> name_based_model_variables(["w", "w/Adam", "w/Adam_1", "beta1_power", "global_step"])
    ['w']
    """
    all_names = list(names)
    present = set(all_names)
    kept = []
    for name in all_names:
        if name == OBJECT_GRAPH_KEY or _NAME_BASED_STATE_RE.fullmatch(name):
            continue
        parent, _, last = name.rpartition("/")
        if parent in present and _SLOT_RE.fullmatch(last):
            continue
        kept.append(name)
    return kept
