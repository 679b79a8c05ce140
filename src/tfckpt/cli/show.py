"""``tfckpt show`` (values and statistics) and ``tfckpt inspect`` (TF's ``inspect_checkpoint`` flags).

``inspect`` prints what ``python -m tensorflow.python.tools.inspect_checkpoint`` prints, line
for line, for the same flags: the ``name (DT_FLOAT) [3,5]`` listing, ``tensor: name (float32)
[3, 5]`` headers followed by the value, and ``# Total number of params: N``. One deliberate
difference: a partitioned variable is listed once under its full name (TF's listing shows
one unnamed line per slice). Failures follow tfckpt's exit codes instead of TF's exit 0.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Final

import numpy as np

from ..checkpoint import Checkpoint
from ..errors import NotFoundError, UnsupportedError
from ._common import EXIT_OK, EXIT_USAGE, CliError, add_printoptions, open_ckpt, printoptions, shape_str
from ._output import Style, table

#: Elements per chunk when computing statistics, so memory stays small for huge tensors.
_STATS_CHUNK: Final = 1 << 20

#: TensorFlow's ``DataType`` enum names where they differ from ``"DT_" + name.upper()``.
_DT_NAMES: Final = {"float32": "DT_FLOAT", "float64": "DT_DOUBLE", "float16": "DT_HALF"}

SHOW_EXAMPLES = """\
examples:
  tfckpt show run/ dense/kernel global_step
  tfckpt show run/ dense/kernel --printoptions threshold=10 precision=3
  tfckpt show run/ --all --stats                 # min, max, mean, std, NaN and Inf counts
"""

INSPECT_EXAMPLES = """\
examples (TensorFlow's inspect_checkpoint flags; only the program name changes):
  tfckpt inspect --file_name=run/model.ckpt-1000
  tfckpt inspect --file_name=run/model.ckpt-1000 --tensor_name=dense/kernel --printoptions precision=3
  tfckpt inspect --file_name=run/model.ckpt-1000 --all_tensor_names
  tfckpt inspect --file_name=run/model.ckpt-1000 --all_tensors --count_exclude_pattern=Adam
"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "show", help="print tensor values (numpy formatting) or statistics",
        description="Print the values of the named tensors (or --all), or their statistics with --stats.",
        epilog=SHOW_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("path", help="checkpoint prefix, .index or .data file, state file or directory")
    p.add_argument("names", nargs="*", metavar="NAME", help="tensor names (see 'tfckpt ls')")
    p.add_argument("--all", action="store_true", help="every tensor")
    p.add_argument("--stats", action="store_true", help="min, max, mean, std and NaN/Inf counts instead of values")
    add_printoptions(p)
    p.set_defaults(func=run_show)


def _bool_flag(value: str) -> bool:
    """TF's ``type="bool"``: ``--all_tensors`` alone is true, ``--all_tensors=False`` is false."""
    return value.lower() in ("true", "1", "yes")


def add_inspect_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "inspect", help="TensorFlow's inspect_checkpoint, same flags and output",
        description="A drop-in for 'python -m tensorflow.python.tools.inspect_checkpoint': same flags, same output.",
        epilog=INSPECT_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--file_name", default="", help="checkpoint prefix (or .index/.data file, or directory)")
    p.add_argument("--tensor_name", default="", help="name of the tensor to print")
    p.add_argument("--all_tensors", nargs="?", const=True, type=_bool_flag, default=False, help="print every tensor's name and value")
    p.add_argument("--all_tensor_names", nargs="?", const=True, type=_bool_flag, default=False, help="print every tensor's name")
    p.add_argument("--count_exclude_pattern", default="", help="regex of tensors to leave out of the parameter count")
    add_printoptions(p)
    p.set_defaults(func=run_inspect)


# -- show ------------------------------------------------------------------------------


def run_show(args: argparse.Namespace) -> int:
    if not args.names and not args.all:
        raise CliError("name the tensors to show, or pass --all", f"'tfckpt ls {args.path}' lists the names")
    with open_ckpt(args.path) as ckpt:
        names = list(ckpt) if args.all else args.names
        for name in names:
            if name not in ckpt:
                try:
                    ckpt.shape(name)
                except NotFoundError as e:  # its message suggests close names
                    raise CliError(str(e), f"'tfckpt ls {args.path}' lists every name") from None
        if args.stats:
            _print_stats(ckpt, names)
            return EXIT_OK
        style = Style()
        with printoptions(args.printoptions):
            for i, name in enumerate(names):
                if i:
                    print()
                print(style(f"{name}  {ckpt.dtype(name)} {shape_str(ckpt.shape(name))}", "bold"))
                print(_value_text(ckpt, name))
    return EXIT_OK


def _value_text(ckpt: Checkpoint, name: str) -> str:
    try:
        return str(ckpt.get_tensor(name))
    except UnsupportedError:
        return f"<{ckpt.dtype(name)}: {len(ckpt.raw_bytes(name))} bytes, no numpy form>"


def tensor_stats(arr: np.ndarray) -> dict[str, float | int] | None:
    """min/max (over finite values), mean/std (finite values), NaN and Inf counts; None for non-numeric.

    Works through the flattened array in chunks (Chan et al.'s parallel variance), so a
    multi-GB tensor needs only a chunk of float64 scratch memory.
    """
    if arr.dtype == object or arr.dtype.kind in "cUS" or (arr.dtype.kind == "V" and not np.can_cast(arr.dtype, np.float64)):
        return None
    flat = arr.reshape(-1)
    count = nan = inf = 0
    mean = m2 = 0.0
    lo, hi = np.inf, -np.inf
    for start in range(0, flat.size, _STATS_CHUNK):
        chunk = flat[start : start + _STATS_CHUNK].astype(np.float64)
        finite_mask = np.isfinite(chunk)
        nan += int(np.isnan(chunk).sum())
        inf += int(np.isinf(chunk).sum())
        values = chunk[finite_mask]
        n = values.size
        if not n:
            continue
        c_mean = float(values.mean())
        with np.errstate(over="ignore", invalid="ignore"):  # float64 extremes: std is inf, not an error
            c_m2 = float(((values - c_mean) ** 2).sum())
        delta = c_mean - mean
        total = count + n
        mean += delta * n / total
        m2 += c_m2 + delta * delta * count * n / total
        count = total
        lo = min(lo, float(values.min()))
        hi = max(hi, float(values.max()))
    if not count:
        return {"count": 0, "min": float("nan"), "max": float("nan"), "mean": float("nan"), "std": float("nan"), "nan": nan, "inf": inf}
    return {"count": count, "min": lo, "max": hi, "mean": mean, "std": (m2 / count) ** 0.5, "nan": nan, "inf": inf}


def _print_stats(ckpt: Checkpoint, names: list[str]) -> None:
    rows = []
    for name in names:
        try:
            stats = tensor_stats(ckpt.get_tensor(name))
        except UnsupportedError:
            stats = None
        head = [name, ckpt.dtype(name), shape_str(ckpt.shape(name))]
        if stats is None:
            rows.append(head + ["-"] * 6)
        else:
            rows.append(head + [f"{stats[k]:.6g}" for k in ("min", "max", "mean", "std")] + [str(stats["nan"]), str(stats["inf"])])
    print(table(rows, ["name", "dtype", "shape", "min", "max", "mean", "std", "nan", "inf"], right=range(3, 9), style=Style()))


# -- inspect ---------------------------------------------------------------------------


def _dt_name(dtype: str) -> str:
    return _DT_NAMES.get(dtype, "DT_" + dtype.upper())


def run_inspect(args: argparse.Namespace) -> int:
    if not args.file_name:
        print("Usage: tfckpt inspect --file_name=checkpoint_file_name [--tensor_name=tensor_to_print] [--all_tensors] "
              "[--all_tensor_names] [--count_exclude_pattern] [--printoptions]", file=sys.stderr)
        return EXIT_USAGE
    with open_ckpt(args.file_name) as ckpt, printoptions(args.printoptions):
        if args.all_tensors or args.all_tensor_names:
            for name in ckpt:
                print(f"tensor: {name} ({ckpt.dtype(name)}) {list(ckpt.shape(name))}")
                if args.all_tensors:
                    try:
                        print(str(ckpt.get_tensor(name)))
                    except UnsupportedError:
                        print("<not convertible to a numpy dtype>")
        elif not args.tensor_name:
            for name in ckpt:
                print(f"{name} ({_dt_name(ckpt.dtype(name))}) [{','.join(str(d) for d in ckpt.shape(name))}]")
            print()
        else:
            if args.tensor_name not in ckpt:
                print(f"Tensor {args.tensor_name} not found in checkpoint")
                return EXIT_USAGE
            name = args.tensor_name
            print(f"tensor: {name} ({ckpt.dtype(name)}) {list(ckpt.shape(name))}")
            print(str(ckpt.get_tensor(name)))
        print(f"# Total number of params: {_count_params(ckpt, args.count_exclude_pattern)}")
    return EXIT_OK


def _count_params(ckpt: Checkpoint, exclude: str) -> int:
    """TF's ``_count_total_params``: the product of every shape (a scalar counts 1), strings included."""
    pattern = None
    if exclude:
        try:
            pattern = re.compile(exclude)
        except re.error as e:
            raise CliError(f"--count_exclude_pattern {exclude!r} is not a valid regular expression: {e}") from None
    total = excluded_tensors = excluded_params = 0
    for name in ckpt:
        n = int(np.prod(ckpt.shape(name), dtype=np.int64))
        if pattern is not None and pattern.search(name):
            excluded_tensors += 1
            excluded_params += n
        else:
            total += n
    if pattern is not None:
        print(f"# Excluding {excluded_tensors} tensors ({excluded_params} params) that match {exclude} when counting.")
    return total
