"""``tfckpt convert SRC OUTDIR --to transformers --model FAMILY`` and its reverse ``--to tf1 --model FAMILY``.

The rules are the family tables of :mod:`tfckpt.transformers`; this module turns the
command line into a call of :func:`tfckpt.transformers.export` or
:func:`tfckpt.transformers.to_tf1` and prints the report.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from ..errors import InvalidArgumentError
from ._common import EXIT_OK, CliError

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("--to transformers (and --to tf1 from a transformers directory)")
    g.add_argument("--model", choices=["bert", "albert", "electra", "t5"], default=None,
                   help="the model family (with --to tf1: SRC is a transformers directory to convert back)")
    g.add_argument("--part", default=None, metavar="PART", help="ELECTRA: discriminator (default) or generator; BERT: pretraining (default), classifier or squad")
    g.add_argument("--config", default=None, metavar="FILE",
                   help="Google's config file (default: bert_config.json / albert_config.json beside SRC, else shapes)")
    g.add_argument("--num-heads", type=int, default=None, metavar="N", help="attention heads, when no config tells")
    g.add_argument("--set", action="append", default=[], metavar="FIELD=JSON", dest="set_fields",
                   help="set a transformers config field, e.g. --set num_hidden_layers=12 (repeatable)")
    g.add_argument("--keep-dtype", action="store_true", help="keep bfloat16/float16 weights (default: float32, as transformers 4.x)")
    g.add_argument("--skip-unmatched", action="store_true", help="leave out tensors no rule maps instead of failing")


def _fields(values: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for v in values:
        key, sep, text = v.partition("=")
        if not sep or not key:
            raise CliError(f"--set {v!r}: expected FIELD=VALUE", "e.g. --set num_hidden_layers=12")
        try:
            out[key] = json.loads(text)
        except json.JSONDecodeError:
            out[key] = text  # a bare word: a string (--set hidden_act=gelu_new)
    return out


def run(args: argparse.Namespace) -> int:
    from .. import transformers as tt

    if args.model is None:
        raise CliError("--to transformers needs --model", "e.g. --model bert (bert, albert, electra, t5)")
    try:
        if args.to == "transformers":
            if os.path.isfile(args.dst):
                raise CliError(f"OUTDIR {args.dst!r} is a file; --to transformers writes a directory")
            report = tt.export(args.src, args.dst, model=args.model, part=args.part, config=args.config,
                               num_heads=args.num_heads, overrides=_fields(args.set_fields), keep_dtype=args.keep_dtype,
                               skip_unmatched=args.skip_unmatched,
                               **({"max_shard_size": args.max_shard_size} if args.max_shard_size else {}))
        else:
            if not os.path.isdir(args.src):
                raise CliError(f"SRC {args.src!r} is not a directory; --to tf1 --model reads a transformers directory",
                               "it holds config.json and model.safetensors")
            report = tt.to_tf1(args.src, args.dst, model=args.model, part=args.part, max_shard_size=args.max_shard_size,
                               skip_unmatched=args.skip_unmatched)
    except InvalidArgumentError as e:
        raise CliError(str(e)) from None
    print(report)
    return EXIT_OK
