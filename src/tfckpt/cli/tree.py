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


def _homes(graph: ObjectGraph) -> dict[int, tuple[str, ...]]:
    """Node id -> the path it is drawn at: breadth-first avoiding optimizers, slots and the
    counter first (model variables get their model path), then breadth-first onward from
    every node reached so far. Each home extends its parent's home, so every home is drawn."""
    avoid = {n.node_id for n in graph.optimizer_nodes()}
    avoid.update(s.slot_variable.node_id for n in graph.nodes for s in n.slot_variables)
    counter = graph.root.children.get(SAVE_COUNTER)
    if counter is not None:
        avoid.add(counter.node_id)
    home: dict[int, tuple[str, ...]] = {graph.root.node_id: ()}
    order = [graph.root]
    queue = deque([graph.root])
    while queue:
        node = queue.popleft()
        for name, child in node.children.items():
            if child.node_id not in home and child.node_id not in avoid:
                home[child.node_id] = (*home[node.node_id], name)
                order.append(child)
                queue.append(child)
    queue = deque(order)
    while queue:
        node = queue.popleft()
        for name, child in node.children.items():
            if child.node_id not in home:
                home[child.node_id] = (*home[node.node_id], name)
                queue.append(child)
    return home


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
        """Nodes with a value at or below them (fixpoint over the child edges)."""
        valued = {n.node_id for n in self.graph.nodes if n.attributes}
        changed = True
        while changed:
            changed = False
            for n in self.graph.nodes:
                if n.node_id not in valued and (any(c.node_id in valued for c in n.children.values()) or n.slot_variables):
                    valued.add(n.node_id)
                    changed = True
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

    def draw(self, node: Node, path: tuple[str, ...], indent: str, depth: int) -> None:
        if self.args.depth is not None and depth >= self.args.depth:
            return
        entries: list[tuple[str, Node, str]] = []
        for name, child in node.children.items():
            if not self.args.all and child.node_id not in self._valued:
                continue
            entries.append((name, child, ""))
        for slot in node.slot_variables:
            if slot.slot_variable.node_id not in self.home:  # not reachable as a child: list it here
                var_home = "/".join(self.home.get(slot.original_variable.node_id, ("?",)))
                entries.append((f"[slot {slot.slot_name} of {var_home}]", slot.slot_variable, "slot"))
        tee, elbow, pipe, blank = self.glyphs
        for i, (name, child, kind) in enumerate(entries):
            last = i == len(entries) - 1
            branch = elbow if last else tee
            child_path = (*path, name)
            home = self.home.get(child.node_id)
            if kind != "slot" and home is not None and home != child_path:
                self.lines.append(f"{indent}{branch}{name} -> {'/'.join(home)}")
                continue
            self.lines.append(f"{indent}{branch}{self._label(name, child)}")
            self.draw(child, child_path, indent + (blank if last else pipe), depth + 1)


def _draw_names(ckpt: Checkpoint, args: argparse.Namespace) -> list[str]:
    """A name-based checkpoint: ``/``-separated scopes as a tree."""
    tree: dict[str, dict] = {}  # type: ignore[type-arg]
    leaves: dict[tuple[str, ...], str] = {}
    for name in ckpt:
        parts = tuple(name.split("/"))
        node = tree
        for p in parts:
            node = node.setdefault(p, {})
        leaves[parts] = name
    tee, elbow, pipe, blank = _glyphs()
    style = Style()
    lines: list[str] = []
    trainable = trainable_beside(ckpt.prefix) or set()  # from the .meta graph beside, when there is one

    def walk(node: dict, path: tuple[str, ...], indent: str, depth: int) -> None:  # type: ignore[type-arg]
        if args.depth is not None and depth >= args.depth:
            return
        items = list(node.items())
        for i, (part, sub) in enumerate(items):
            last = i == len(items) - 1
            p = (*path, part)
            label = part
            if p in leaves:
                key = leaves[p]
                label = f"{style(part, 'bold')}  {ckpt.dtype(key)} {shape_str(ckpt.shape(key))}"
                label += "  (trainable)" if key in trainable else ""
            lines.append(f"{indent}{elbow if last else tee}{label}")
            walk(sub, p, indent + (blank if last else pipe), depth + 1)

    walk(tree, (), "", 0)
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
        drawer.draw(graph.root, (), "", 0)
        unowned = [k for k in ckpt if k != OBJECT_GRAPH_KEY and graph.owner(k) is None]
        print(f"{ckpt.prefix}: object graph of {len(graph.nodes)} objects, {len(graph.checkpoint_keys)} saved tensors")
        print("(root)")
        for line in drawer.lines:
            print(line)
        if unowned:
            print(f"tensors no object owns: {', '.join(unowned)}")
    return EXIT_OK
