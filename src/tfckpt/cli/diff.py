"""``tfckpt diff A B``: names added and removed, dtype and shape changes, value differences.

Values are compared exactly (bit patterns, so NaN equals the same NaN and ``-0.0`` differs
from ``0.0``) unless ``--rtol``/``--atol`` are given, in which case numbers are compared as
``numpy.isclose`` does (NaN equal to NaN). Large tensors are compared in chunks, so memory
stays small. Exit 0 when the checkpoints hold the same tensors, 1 when they differ.
"""

from __future__ import annotations

import argparse
import json
from typing import Any, Final

import numpy as np

from ..checkpoint import Checkpoint
from ..errors import UnsupportedError
from ._common import EXIT_FOUND, EXIT_OK, compile_filters, open_ckpt, shape_str
from ._output import Style, progress

#: Elements per chunk of a value comparison.
_CHUNK: Final = 1 << 20

EXAMPLES = """\
examples:
  tfckpt diff run1/ run2/                          # exit 0 same, 1 different
  tfckpt diff old/model.ckpt-1 new/model.ckpt-9 --atol 1e-6
  tfckpt diff a/ b/ --exclude '/Adam' --json
"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "diff", help="compare two checkpoints: names, dtypes, shapes, values",
        description="Compare two checkpoints: names only in one of them, dtype and shape changes, "
        "and value differences (max abs diff). Exit 0 when equal, 1 when different.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("a", metavar="A", help="first checkpoint")
    p.add_argument("b", metavar="B", help="second checkpoint")
    p.add_argument("--rtol", type=float, default=None, help="relative tolerance for values (numpy.isclose)")
    p.add_argument("--atol", type=float, default=None, help="absolute tolerance for values (numpy.isclose)")
    p.add_argument("--include", action="append", metavar="REGEX", help="compare only names matching REGEX")
    p.add_argument("--exclude", action="append", metavar="REGEX", help="leave out names matching REGEX")
    p.add_argument("--names-only", action="store_true", help="compare names, dtypes and shapes, not values")
    p.add_argument("--json", action="store_true", help="print the differences as a JSON object")
    p.set_defaults(func=run)


def _compare_values(a: np.ndarray, b: np.ndarray, rtol: float | None, atol: float | None) -> dict[str, Any] | None:
    """None if equal, else ``{"max_abs_diff": float | None, "count": int differing elements}``."""
    if a.dtype == object:  # strings: element by element
        fa, fb = a.reshape(-1), b.reshape(-1)
        count = sum(1 for x, y in zip(fa, fb) if x != y)
        return {"max_abs_diff": None, "count": count} if count else None
    tolerant = rtol is not None or atol is not None
    fa, fb = a.reshape(-1), b.reshape(-1)
    count = 0
    worst = 0.0
    numeric = a.dtype.kind in "biufc" or np.can_cast(a.dtype, np.float64)
    for start in range(0, fa.size, _CHUNK):
        ca, cb = fa[start : start + _CHUNK], fb[start : start + _CHUNK]
        if not tolerant and ca.tobytes() == cb.tobytes():
            continue
        if not numeric:
            count += int((ca.view(np.uint8).reshape(ca.size, -1) != cb.view(np.uint8).reshape(cb.size, -1)).any(axis=1).sum())
            continue
        wide = np.complex128 if a.dtype.kind == "c" else np.float64
        xa, xb = ca.astype(wide), cb.astype(wide)
        with np.errstate(invalid="ignore", over="ignore"):
            if tolerant:
                differ = ~np.isclose(xa, xb, rtol=rtol or 0.0, atol=atol or 0.0, equal_nan=True)
            else:  # bit patterns: -0.0 != 0.0, NaN == same NaN
                width = ca.dtype.itemsize
                differ = (ca.view(np.uint8).reshape(-1, width) != cb.view(np.uint8).reshape(-1, width)).any(axis=1)
            n = int(differ.sum())
            if n:
                count += n
                diff = np.abs(xa[differ] - xb[differ])
                finite = diff[np.isfinite(diff)]
                worst = max(worst, float(finite.max()) if finite.size else float("nan") if np.isnan(diff).all() else float("inf"))
    if not count:
        return None
    return {"max_abs_diff": worst if numeric else None, "count": count}


def _value(ckpt: Checkpoint, name: str) -> np.ndarray:
    try:
        return ckpt.get_tensor(name)
    except UnsupportedError:  # variant: compare the stored bytes
        return np.frombuffer(ckpt.raw_bytes(name), dtype=np.uint8)


def run(args: argparse.Namespace) -> int:
    keep = compile_filters(args.include, args.exclude)
    style = Style()
    with open_ckpt(args.a) as a, open_ckpt(args.b) as b:
        names_a = {n for n in a if keep(n)}
        names_b = {n for n in b if keep(n)}
        removed = sorted(names_a - names_b)
        added = sorted(names_b - names_a)
        common = sorted(names_a & names_b)
        changed: list[dict[str, Any]] = []
        same = 0
        for name in progress(common, total=len(common), desc="diff", unit="tensor"):
            da, db = a.dtype(name), b.dtype(name)
            sa, sb = a.shape(name), b.shape(name)
            if da != db or sa != sb:
                item: dict[str, Any] = {"name": name}
                if da != db:
                    item["dtype"] = [da, db]
                if sa != sb:
                    item["shape"] = [list(sa), list(sb)]
                changed.append(item)
                continue
            if args.names_only:
                same += 1
                continue
            result = _compare_values(_value(a, name), _value(b, name), args.rtol, args.atol)
            if result is None:
                same += 1
            else:
                numel = int(np.prod(sa, dtype=np.int64))
                changed.append({"name": name, "values": {**result, "of": numel}})
        prefixes = (a.prefix, b.prefix)
        kinds = {n: (a.dtype(n), shape_str(a.shape(n))) for n in removed}
        kinds.update({n: (b.dtype(n), shape_str(b.shape(n))) for n in added})
    differ = bool(removed or added or changed)
    if args.json:
        out = {"a": prefixes[0], "b": prefixes[1], "equal": not differ, "removed": removed, "added": added,
               "changed": changed, "same": same}
        print(json.dumps(out, indent=1))
        return EXIT_FOUND if differ else EXIT_OK
    print(f"--- {prefixes[0]}")
    print(f"+++ {prefixes[1]}")
    for name in removed:
        print(style(f"- {name}  {kinds[name][0]} {kinds[name][1]}", "red"))
    for name in added:
        print(style(f"+ {name}  {kinds[name][0]} {kinds[name][1]}", "green"))
    for item in changed:
        parts = []
        if "dtype" in item:
            parts.append(f"dtype {item['dtype'][0]} -> {item['dtype'][1]}")
        if "shape" in item:
            parts.append(f"shape {shape_str(item['shape'][0])} -> {shape_str(item['shape'][1])}")
        if "values" in item:
            v = item["values"]
            mad = f"max abs diff {v['max_abs_diff']:.6g}, " if v["max_abs_diff"] is not None else ""
            parts.append(f"values differ: {mad}{v['count']} of {v['of']} elements")
        print(style(f"~ {item['name']}: {'; '.join(parts)}", "yellow"))
    tol = f" (rtol={args.rtol or 0}, atol={args.atol or 0})" if args.rtol is not None or args.atol is not None else ""
    what = "compared by name, dtype and shape" if args.names_only else f"equal{tol}"
    print(f"{len(removed)} removed, {len(added)} added, {len(changed)} changed, {same} {what}")
    return EXIT_FOUND if differ else EXIT_OK
