"""``tfckpt tree``: a TF2 checkpoint's object graph as an indented tree with dtypes and shapes.

Each object is drawn once, at its *home* path: for a model variable the shortest path that
avoids optimizers (the name :meth:`tfckpt.Checkpoint.variables` gives it), for anything else
the breadth-first path TensorFlow keyed it by. Every other edge to it is one line ``name ->
home/path``. Objects that hold no values anywhere below them (Keras bookkeeping lists) are
hidden unless ``--all``. Optimizer slots that are not children of anything are listed under
their optimizer as ``[slot m of model/dense/kernel]``. A name-based (TF1) checkpoint has no
object graph; its names are drawn as a tree of ``/``-separated scopes instead.
"""

from __future__ import annotations

import argparse
import sys
from collections import deque
from typing import Final

from ..checkpoint import Checkpoint
from ..objects import OBJECT_GRAPH_KEY, SAVE_COUNTER, VARIABLE_VALUE, Node, ObjectGraph
from ._common import EXIT_OK, open_ckpt, shape_str
from ._output import Style
from .meta import trainable_beside

EXAMPLES = """\
examples:
  tfckpt tree run/ckpt-5
  tfckpt tree run/ckpt-5 --keys          # also print each variable's checkpoint key
  tfckpt tree run/ckpt-5 --depth 2 --all
"""

_UNICODE: Final = ("├── ", "└── ", "│   ", "    ")
_ASCII: Final = ("|-- ", "`-- ", "|   ", "    ")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "tree", help="the object graph of a TF2 checkpoint as a tree, with dtypes and shapes",
        description="Draw a TF2 checkpoint's object graph (or a TF1 checkpoint's name scopes) as an indented "
        "tree with each variable's dtype and shape.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("path", help="checkpoint prefix, .index or .data file, state file or directory")
    p.add_argument("--keys", action="store_true", help="show each variable's checkpoint key")
    p.add_argument("--all", action="store_true", help="also show objects that hold no values")
    p.add_argument("--depth", type=int, default=None, metavar="N", help="draw at most N levels")
    p.set_defaults(func=run)


def _glyphs() -> tuple[str, str, str, str]:
    encoding = (getattr(sys.stdout, "encoding", None) or "").lower().replace("-", "")
    return _UNICODE if encoding.startswith("utf") else _ASCII


#: Levels drawn without ``--depth``: a hostile graph can be thousands of levels deep, and the
#: indentation alone would make the output grow with the square of the depth.
MAX_DEPTH: Final = 64

Home = dict[int, tuple[int, str]]  # node id -> (parent id, name) of the path it is drawn at; root -> (-1, "")


def _homes(graph: ObjectGraph) -> Home:
    """Node id -> where it is drawn: breadth-first avoiding optimizers, slots and the counter
    first (model variables get their model path), then breadth-first onward from every node
    reached so far. Each home extends its parent's home, so every home is drawn. Kept as
    parent links (linear in nodes and edges); :func:`_spell` writes a path out."""
    avoid = {n.node_id for n in graph.optimizer_nodes()}
    avoid.update(s.slot_variable.node_id for n in graph.nodes for s in n.slot_variables)
    counter = graph.root.children.get(SAVE_COUNTER)
    if counter is not None:
        avoid.add(counter.node_id)
    home: Home = {graph.root.node_id: (-1, "")}
    order = [graph.root]
    queue = deque([graph.root])
    while queue:
        node = queue.popleft()
        for name, child in node.children.items():
            if child.node_id not in home and child.node_id not in avoid:
                home[child.node_id] = (node.node_id, name)
                order.append(child)
                queue.append(child)
    queue = deque(order)
    while queue:
        node = queue.popleft()
        for name, child in node.children.items():
            if child.node_id not in home:
                home[child.node_id] = (node.node_id, name)
                queue.append(child)
    return home


def _spell(home: Home, node_id: int) -> str:
    names = []
    while home[node_id][0] >= 0:
        node_id, name = home[node_id]
        names.append(name)
    return "/".join(reversed(names))


class _Drawer:
    def __init__(self, ckpt: Checkpoint, graph: ObjectGraph, args: argparse.Namespace) -> None:
        self.ckpt = ckpt
        self.graph = graph
        self.args = args
        self.style = Style()
        self.glyphs = _glyphs()
        self.lines: list[str] = []
        self.home = _homes(graph)
        self._valued = self._valued_nodes()

    def _valued_nodes(self) -> set[int]:
        """Nodes with a value (or slots) at or below them: a backward walk over the child edges."""
        parents: dict[int, list[int]] = {}
        for n in self.graph.nodes:
            for c in n.children.values():
                parents.setdefault(c.node_id, []).append(n.node_id)
        valued = {n.node_id for n in self.graph.nodes if n.attributes or n.slot_variables}
        stack = list(valued)
        while stack:
            for parent in parents.get(stack.pop(), ()):
                if parent not in valued:
                    valued.add(parent)
                    stack.append(parent)
        return valued

    def _label(self, name: str, node: Node) -> str:
        parts = [self.style(name, "bold") if node.attributes else name]
        for attr in node.attributes:
            key = attr.checkpoint_key
            if key in self.ckpt:
                what = f"{self.ckpt.dtype(key)} {shape_str(self.ckpt.shape(key))}"
            else:
                what = "(missing from the checkpoint)"
            prefix = "" if attr.name == VARIABLE_VALUE else f"{attr.name}: "
            full = attr.full_name
            own = f"  ({full})" if full and full != name and full.rsplit("/", 1)[-1] != name else ""
            parts.append(f"{prefix}{what}{self.style(own, 'dim')}" + (f"  {self.style(key, 'dim')}" if self.args.keys else ""))
        return "  ".join(parts)

    def _entries(self, node: Node) -> list[tuple[str, Node, str]]:
        entries: list[tuple[str, Node, str]] = []
        for name, child in node.children.items():
            if not self.args.all and child.node_id not in self._valued:
                continue
            entries.append((name, child, ""))
        for slot in node.slot_variables:
            if slot.slot_variable.node_id not in self.home:  # not reachable as a child: list it here
                var = slot.original_variable.node_id
                var_home = _spell(self.home, var) if var in self.home else "?"
                entries.append((f"[slot {slot.slot_name} of {var_home}]", slot.slot_variable, "slot"))
        return entries

    def draw(self, root: Node) -> None:
        """Depth first from ``root``, with an explicit stack (graphs can be deeper than Python's recursion)."""
        limit = self.args.depth if self.args.depth is not None else MAX_DEPTH
        tee, elbow, pipe, blank = self.glyphs
        # One frame per level being drawn: (node id, its entries, how many are drawn, indent).
        stack = [(root.node_id, self._entries(root), [0], "")] if limit > 0 else []
        while stack:
            node_id, entries, done, indent = stack[-1]
            if done[0] == len(entries):
                stack.pop()
                continue
            name, child, kind = entries[done[0]]
            done[0] += 1
            last = done[0] == len(entries)
            branch = elbow if last else tee
            home = self.home.get(child.node_id)
            if kind != "slot" and home is not None and home != (node_id, name):
                self.lines.append(f"{indent}{branch}{name} -> {_spell(self.home, child.node_id)}")
                continue
            self.lines.append(f"{indent}{branch}{self._label(name, child)}")
            below = self._entries(child)
            child_indent = indent + (blank if last else pipe)
            if not below:
                continue
            if len(stack) >= limit:
                if self.args.depth is None:
                    self.lines.append(f"{child_indent}... deeper than {MAX_DEPTH} levels; pass --depth N to draw more")
                continue
            stack.append((child.node_id, below, [0], child_indent))


def _draw_names(ckpt: Checkpoint, args: argparse.Namespace) -> list[str]:
    """A name-based checkpoint: ``/``-separated scopes as a tree (drawn with an explicit stack)."""
    tree: dict[str, dict] = {}  # type: ignore[type-arg]
    leaves: dict[int, str] = {}  # id() of a scope's dict -> the tensor named by that scope
    for name in ckpt:
        node = tree
        for p in name.split("/"):
            node = node.setdefault(p, {})
        leaves[id(node)] = name
    tee, elbow, pipe, blank = _glyphs()
    style = Style()
    lines: list[str] = []
    trainable = trainable_beside(ckpt.prefix) or set()  # from the .meta graph beside, when there is one
    limit = args.depth if args.depth is not None else MAX_DEPTH
    stack = [(iter(list(tree.items())), "", 0, len(tree), [0])] if limit > 0 else []
    while stack:
        items, indent, depth, count, position = stack[-1]
        item = next(items, None)
        if item is None:
            stack.pop()
            continue
        part, sub = item
        position[0] += 1
        last = position[0] == count
        label = part
        key = leaves.get(id(sub))
        if key is not None:
            label = f"{style(part, 'bold')}  {ckpt.dtype(key)} {shape_str(ckpt.shape(key))}"
            label += "  (trainable)" if key in trainable else ""
        lines.append(f"{indent}{elbow if last else tee}{label}")
        child_indent = indent + (blank if last else pipe)
        if not sub:
            continue
        if depth + 1 >= limit:
            if args.depth is None:
                lines.append(f"{child_indent}... deeper than {MAX_DEPTH} levels; pass --depth N to draw more")
            continue
        stack.append((iter(list(sub.items())), child_indent, depth + 1, len(sub), [0]))
    return lines


def run(args: argparse.Namespace) -> int:
    with open_ckpt(args.path) as ckpt:
        graph = ckpt.object_graph
        if graph is None:
            print(f"{ckpt.prefix}: name-based (TF1) checkpoint, no object graph; name scopes:")
            for line in _draw_names(ckpt, args):
                print(line)
            return EXIT_OK
        drawer = _Drawer(ckpt, graph, args)
        drawer.draw(graph.root)
        unowned = [k for k in ckpt if k != OBJECT_GRAPH_KEY and graph.owner(k) is None]
        print(f"{ckpt.prefix}: object graph of {len(graph.nodes)} objects, {len(graph.checkpoint_keys)} saved tensors")
        print("(root)")
        for line in drawer.lines:
            print(line)
        if unowned:
            print(f"tensors no object owns: {', '.join(unowned)}")
    return EXIT_OK
