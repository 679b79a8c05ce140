"""``tfckpt average``: average the last N checkpoints of a run, or the ones given
(:func:`tfckpt.average`)."""

from __future__ import annotations

import argparse
import os

from ._common import EXIT_OK, CliError
from ._output import human_bytes

EXAMPLES = """\
examples:
  tfckpt average run/ run/avg/model.ckpt --last 5                # the state file's last 5
  tfckpt average run/model.ckpt-800 run/model.ckpt-900 run/model.ckpt-1000 avg/model.ckpt-1000
  tfckpt average run/ avg/ckpt-20 --last 2 --weights 1,3 --skip-optimizer
  tfckpt average s3://bucket/run s3://bucket/avg/ckpt-20 --last 5      # URLs (--storage-option KEY=VALUE)
"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "average", help="average checkpoints (float64 accumulation), keeping their kind (TF1 or TF2)",
        description="Average the floating-point tensors of several checkpoints of one model (float64 "
        "accumulation, cast back); integers, strings and step counters come from the newest. The output is a "
        "checkpoint of the same kind (TF1 names, or the TF2 object graph) that TensorFlow restores as the inputs.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("sources", nargs="+", metavar="SRC",
                   help="a run directory (its state file's checkpoints, oldest first) or checkpoints, oldest first")
    p.add_argument("dst", metavar="DST", help="prefix to write")
    p.add_argument("--last", type=int, metavar="N", help="only the newest N checkpoints")
    p.add_argument("--weights", metavar="W,W,...", help="one weight per checkpoint, comma-separated (default: equal)")
    p.add_argument("--skip-optimizer", action="store_true", help="leave out optimizer state (step counters stay)")
    p.add_argument("--max-shard-size", type=int, metavar="BYTES", help="start a new data shard beyond this size")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..checkpoint import open as open_checkpoint
    from ..tools.average import average, is_directory, resolve_sources

    weights = None
    if args.weights is not None:
        try:
            weights = [float(w) for w in args.weights.split(",")]
        except ValueError:
            raise CliError(f"--weights {args.weights!r}: expected numbers separated by commas", "e.g. --weights 1,1,2") from None
    if os.path.isdir(args.dst) or args.dst.endswith(os.sep):
        raise CliError(f"DST {args.dst!r} is a directory; average writes a checkpoint prefix",
                       f"e.g. {os.path.join(args.dst.rstrip(os.sep), 'model.ckpt')}")
    sources = args.sources[0] if len(args.sources) == 1 and is_directory(args.sources[0]) else args.sources
    paths = resolve_sources(sources, args.last)
    written = average(paths, args.dst, weights=weights, skip_optimizer=args.skip_optimizer, max_shard_size=args.max_shard_size)
    with open_checkpoint(written) as out:
        total = sum(len(out.raw_bytes(k)) if out.dtype(k) == "string" else out[k].nbytes for k in out)
        print(f"wrote {written}: {len(out)} tensors, {human_bytes(total)}, the average of {len(paths)} checkpoint"
              f"{'s' if len(paths) != 1 else ''}:")
    for p in paths:
        print(f"  {p}")
    return EXIT_OK
