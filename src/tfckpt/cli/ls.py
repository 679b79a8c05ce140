"""``tfckpt ls``: a table of every tensor (name, dtype, shape, size, shard) and totals."""

from __future__ import annotations

import argparse
import json
import sys

from ._common import EXIT_OK, compile_filters, describe, open_ckpt, optimizer_predicate, records, shape_str
from ._output import Style, human_bytes, human_count, table
from .meta import trainable_beside

EXAMPLES = """\
examples:
  tfckpt ls run/model.ckpt-1000            # prefix, .index, a .data-* shard, or the directory
  tfckpt ls run/ --include 'encoder/' --exclude 'Adam'
  tfckpt ls run/ --json | jq '.[] | select(.dtype == "bfloat16") | .name'
"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "ls", help="list tensors: name, dtype, shape, size, shard, and totals",
        description="List every tensor of a checkpoint, sorted by name, with totals "
        "(tensors, bytes, parameters with and without optimizer state).",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("path", help="checkpoint prefix, .index or .data file, state file or directory")
    p.add_argument("--include", action="append", metavar="REGEX", help="only names matching REGEX (re.search; repeatable)")
    p.add_argument("--exclude", action="append", metavar="REGEX", help="leave out names matching REGEX (repeatable)")
    p.add_argument("--json", action="store_true",
                   help="print a JSON array of {name, dtype, shape, bytes, shard, optimizer} (and trainable, from a .meta beside)")
    p.add_argument("--bytes", action="store_true", help="exact byte counts instead of KiB/MiB")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    keep = compile_filters(args.include, args.exclude)
    with open_ckpt(args.path) as ckpt:
        is_opt = optimizer_predicate(ckpt)
        rows = [r for r in records(ckpt) if keep(r.name)]
        prefix, title = ckpt.prefix, describe(ckpt)
    trainable = trainable_beside(prefix)  # from a TF1 checkpoint's .meta graph, when there is one
    if args.json:
        out = []
        for r in rows:
            item: dict[str, object] = {"name": r.name, "dtype": r.dtype, "shape": list(r.shape), "bytes": r.bytes,
                                       "shard": r.shard, "optimizer": is_opt(r.name)}
            if r.slices:
                item["slices"] = r.slices
            if trainable is not None:
                item["trainable"] = r.name in trainable
            out.append(item)
        sys.stdout.write("[\n" + ",\n".join(" " + json.dumps(item) for item in out) + ("\n]\n" if out else "]\n"))
        return EXIT_OK
    style = Style()
    size = (lambda n: str(n)) if args.bytes else human_bytes
    cells = []
    for r in rows:
        shard = str(r.shard) if r.shard is not None else (f"{len(r.slices)} slices" if r.slices else "-")
        cells.append([r.name, r.dtype, shape_str(r.shape), size(r.bytes), shard]
                     + ([] if trainable is None else ["yes" if r.name in trainable else ""]))
    print(table(cells, ["name", "dtype", "shape", "size", "shard"] + ([] if trainable is None else ["trainable"]),
                right=[3], style=style))
    params = sum(r.numel for r in rows if r.numeric)
    model = sum(r.numel for r in rows if r.numeric and not is_opt(r.name))
    total = sum(r.bytes for r in rows)
    print()
    print(f"{title}: {len(rows)} tensor{'s' if len(rows) != 1 else ''}, {size(total)}"
          + (f" ({human_count(total)} bytes)" if not args.bytes and total >= 1024 else ""))
    print(f"parameters: {human_count(params)} in all, {human_count(model)} in model variables (without optimizer state and counters)")
    return EXIT_OK
