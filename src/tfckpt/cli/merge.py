"""``tfckpt merge``: TensorFlow's ``MergeV2Checkpoints`` (:func:`tfckpt.merge`)."""

from __future__ import annotations

import argparse

from ._common import EXIT_OK, CliError
from ._output import human_count

EXAMPLES = """\
examples:
  tfckpt merge run/model.ckpt-100_temp/part-0000{0,1,2,3}-of-00004 run/model.ckpt-100
  tfckpt merge w0/part w1/part out/model.ckpt --delete-inputs   # move the data, remove the parts
  tfckpt merge s3://b/run/part-0 s3://b/run/part-1 s3://b/run/model.ckpt   # server-side copies, index last
"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "merge", help="merge bundles written by several workers into one checkpoint (MergeV2Checkpoints)",
        description="Merge the bundles several workers wrote into one checkpoint, as TensorFlow's "
        "MergeV2Checkpoints does (the same index bytes). Only indexes are read and written: data files are "
        "hard-linked (copied where links are unavailable), renamed with --delete-inputs.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", metavar="PART", help="the parts' prefixes, in order (shards are numbered by it)")
    p.add_argument("dst", metavar="DST", help="prefix of the merged checkpoint")
    p.add_argument("--delete-inputs", action="store_true",
                   help="afterwards delete the parts (and their directories, if left empty), as delete_old_dirs")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import os

    from ..tools.merge import commit_merge, plan_merge

    if os.path.isdir(args.dst) or args.dst.endswith(os.sep):
        raise CliError(f"DST {args.dst!r} is a directory; merge writes a checkpoint prefix",
                       f"e.g. {os.path.join(args.dst.rstrip(os.sep), 'model.ckpt')}")
    if any(p == args.dst or os.path.abspath(p) == os.path.abspath(args.dst) for p in args.inputs):
        raise CliError(f"DST {args.dst!r} is also one of the parts")
    plan = plan_merge(args.inputs)
    written = commit_merge(plan, list(args.inputs), args.dst, delete_inputs=args.delete_inputs)
    print(f"wrote {written}: {human_count(plan.entry_count)} index entries, {len(plan.data_files)} data shards "
          f"from {len(args.inputs)} parts")
    return EXIT_OK
