"""``tfckpt meta``: the graph beside the weights (:func:`tfckpt.read_meta`): a TF1 ``.meta``
file's variables by collection, Saver and op counts; a SavedModel's tags and signatures."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Any

from ._common import EXIT_OK, CliError, shape_str
from ._output import Style, table

EXAMPLES = """\
examples:
  tfckpt meta run/model.ckpt-1000.meta       # or the prefix run/model.ckpt-1000 (its .meta beside)
  tfckpt meta export/1/                       # a SavedModel directory: tags and signatures
  tfckpt meta run/model.ckpt-1000 --ops       # every op type with its count
  tfckpt meta export/1/saved_model.pb --json | jq '.meta_graphs[0].signatures'
"""

_SHORT = {"variables": "global", "trainable_variables": "trainable", "local_variables": "local",
          "moving_average_variables": "moving average", "model_variables": "model"}


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "meta", help="show a .meta graph's variables and Saver, or a SavedModel's signatures",
        description="Read a TF1 MetaGraphDef (model.ckpt.meta) or a SavedModel (saved_model.pb): variables by "
        "collection (trainable, local, moving averages) with dtype, shape, initializer and partitioning; the "
        "Saver; op counts; the TensorFlow version; a SavedModel's tags and signatures' inputs and outputs.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("path", help=".meta file, checkpoint prefix with a .meta beside it, saved_model.pb or SavedModel directory")
    p.add_argument("--ops", action="store_true", help="list every op type with its count (default: the 10 most frequent)")
    p.add_argument("--json", action="store_true", help="print everything as JSON")
    p.set_defaults(func=run)


def _spec(shape: Any) -> str:
    return "<unknown rank>" if shape is None else "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def _print_graph(graph: Any, args: argparse.Namespace, style: Style, indent: str = "") -> None:
    if graph.tags:
        print(f"{indent}tags: {', '.join(graph.tags)}")
    print(f"{indent}written by TensorFlow {graph.tensorflow_version or '?'}"
          + (f" ({graph.tensorflow_git_version})" if graph.tensorflow_git_version else "")
          + f", graph producer {graph.graph_producer}")
    if graph.variables:
        counts = ", ".join(f"{len(m)} {_SHORT.get(c, c)}" for c, m in graph.collections.items())
        print(f"\n{indent}variables ({counts}):")
        rows = []
        for v in graph.variables.values():
            where = ", ".join(_SHORT.get(c, c) for c in v.collections)
            part = "" if v.slice is None else f"{v.slice.full_name}{shape_str(v.slice.full_shape)} @ {shape_str(v.slice.var_offset)}"
            rows.append([indent + v.name, v.dtype or "?", _spec(v.shape), where, v.initializer, part])
        print(table(rows, ["name", "dtype", "shape", "collections", "initializer", "slice of"], style=style))
    if graph.saver is not None:
        s = graph.saver
        print(f"\n{indent}saver: {s.version}{', sharded' if s.sharded else ''}, max_to_keep {s.max_to_keep}, "
              f"restore op {s.restore_op_name}, filename tensor {s.filename_tensor_name}")
    for key, sig in graph.signatures.items():
        print(f"\n{indent}signature {key!r}" + (f" ({sig.method_name})" if sig.method_name else ""))
        for label, specs in (("inputs", sig.inputs), ("outputs", sig.outputs)):
            print(f"{indent}  {label}:" + ("" if specs else " none"))
            for name, t in specs.items():
                print(f"{indent}    {name}: {t.dtype} {_spec(t.shape)}  ({t.name})")
    total = sum(graph.op_counts.values())
    if total:
        shown = list(graph.op_counts.items()) if args.ops else list(graph.op_counts.items())[:10]
        more = "" if len(shown) == len(graph.op_counts) else f", {len(graph.op_counts) - len(shown)} more types (--ops)"
        print(f"\n{indent}ops: {total} nodes of {len(graph.op_counts)} types: "
              + ", ".join(f"{op} {n}" for op, n in shown) + more)


def run(args: argparse.Namespace) -> int:
    from ..tools.meta import SavedModelInfo, _graph_file, read_meta

    try:
        info = read_meta(args.path)
    except FileNotFoundError as e:
        hint = "a TF2 checkpoint keeps its object graph inside: 'tfckpt tree PATH' shows it" if ".meta" in str(e.filename) else None
        raise CliError(f"{e.filename}: {e.strerror}", hint) from None
    if args.json:
        json.dump(dataclasses.asdict(info), sys.stdout, indent=1)
        sys.stdout.write("\n")
        return EXIT_OK
    style = Style()
    file = _graph_file(args.path)
    if isinstance(info, SavedModelInfo):
        print(f"{file}: SavedModel (schema version {info.schema_version}), {len(info.meta_graphs)} MetaGraph"
              f"{'s' if len(info.meta_graphs) != 1 else ''}")
        for i, graph in enumerate(info.meta_graphs):
            print(f"\nMetaGraph {i}:")
            _print_graph(graph, args, style, "  ")
    else:
        print(f"{file}: MetaGraphDef")
        _print_graph(info, args, style)
    return EXIT_OK


def trainable_beside(prefix: str) -> set[str] | None:
    """Checkpoint keys of the trainable variables, from the ``.meta`` graph beside a TF1
    checkpoint; None when there is none (or it does not parse: listing must not fail on it)."""
    import os

    from ..errors import CheckpointError
    from ..tools.meta import MetaGraph, read_meta

    if not os.path.isfile(prefix + ".meta"):
        return None
    try:
        meta = read_meta(prefix + ".meta")
    except (CheckpointError, OSError):
        return None
    return meta.trainable_checkpoint_keys() if isinstance(meta, MetaGraph) else None
