"""The ``tfckpt`` command line: look into, check, compare, repair and convert checkpoints.

One module per command (``ls``, ``show``/``inspect``, ``verify``, ``diff``, ``state``/``latest``,
``tree``, ``convert``, ``average``, ``merge``, ``meta``), each with ``add_parser(subparsers)`` and ``run(args) -> int``.

Exit codes: 0 success, 1 differences or corruption found, 2 usage error or unreadable
input. Errors are one or two lines (``tfckpt CMD: error: ...`` and ``hint: ...``), never a
traceback; set ``TFCKPT_DEBUG=1`` to see the traceback of an unexpected error.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from .. import __version__
from ..errors import CheckpointError, CorruptionError, NotFoundError
from . import _common
from ._common import EXIT_FOUND, EXIT_USAGE, CliError

__all__ = ["build_parser", "main"]

_EPILOG = """\
commands take a checkpoint prefix (run/model.ckpt-1000), its .index or .data-* file,
its directory, or its 'checkpoint' state file. Run 'tfckpt COMMAND --help' for examples.
Each may be a URL (gs://, s3://, https://; see docs/remote.md), a path through a .zip or
.tar(.gz) archive, or a SavedModel directory.

exit codes: 0 ok, 1 differences or corruption found, 2 usage error or unreadable input
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    from . import convert, diff, ls, show, state, tree, verify
    from . import keras as keras_command

    parser = argparse.ArgumentParser(
        prog="tfckpt", description="Read, check, compare, repair and convert TensorFlow checkpoints, without TensorFlow.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"tfckpt {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    ls.add_parser(sub)
    show.add_parser(sub)
    show.add_inspect_parser(sub)
    verify.add_parser(sub)
    diff.add_parser(sub)
    state.add_parser(sub)
    state.add_latest_parser(sub)
    tree.add_parser(sub)
    convert.add_parser(sub)
    from . import average, merge, meta

    average.add_parser(sub)
    merge.add_parser(sub)
    meta.add_parser(sub)
    keras_command.add_parser(sub)
    for command in sub.choices.values():  # every command reads (or writes) URLs through fsspec
        command.add_argument(
            "--storage-option", metavar="KEY=VALUE", action="append", type=_common.storage_option,
            help="fsspec option for the URLs' file system (repeatable; VALUE may be JSON), "
            "e.g. anon=true or endpoint_url=http://127.0.0.1:9000",
        )
    return parser


def _print_error(command: str, message: str, hint: str | None) -> None:
    lines = message.strip().splitlines() or [""]
    print(f"tfckpt {command}: error: {lines[0]}", file=sys.stderr)
    for extra in lines[1:2]:
        print(f"  {extra}", file=sys.stderr)
    if hint:
        print(f"  hint: {hint}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit code.

    Examples
    --------
    >>> from tfckpt.cli import main
    >>> main(["ls", "examples/bert_tiny"])          # doctest: +SKIP
    0
    """
    args_list = list(sys.argv[1:] if argv is None else argv)
    # The library logs TF's own warnings (a stale state file, ...); the commands report those themselves.
    logging.getLogger("tfckpt").addHandler(logging.NullHandler())
    logging.getLogger("tfckpt").propagate = False
    _common.ARGV[:] = args_list
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
    except SystemExit as e:  # argparse: --help/--version (0) or a usage error (2)
        return int(e.code) if isinstance(e.code, int) else EXIT_USAGE
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    command = args.command
    try:
        _common.apply_storage_options(args)
        return int(args.func(args))
    except CliError as e:
        _print_error(command, e.message, e.hint)
        return e.code
    except CorruptionError as e:
        _print_error(command, str(e), "the checkpoint is damaged; 'tfckpt verify PATH' lists every bad tensor")
        return EXIT_FOUND
    except NotFoundError as e:
        _print_error(command, str(e), "'tfckpt ls PATH' lists the names" if e.name and not os.path.exists(e.name) else None)
        return EXIT_USAGE
    except CheckpointError as e:
        _print_error(command, str(e), None)
        return EXIT_USAGE
    except FileNotFoundError as e:
        _print_error(command, f"{e.filename}: no such file or directory", None)
        return EXIT_USAGE
    except OSError as e:
        if isinstance(e, BrokenPipeError):  # `tfckpt ls big | head`: not an error
            try:
                sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
            except OSError:
                pass
            return 0
        where = f"{e.filename}: " if e.filename else ""
        _print_error(command, f"{where}{e.strerror or e}", None)
        return EXIT_USAGE
    except ImportError as e:  # a URL without fsspec, s3fs, gcsfs, ...
        _print_error(command, str(e), None)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"tfckpt {command}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        if os.environ.get("TFCKPT_DEBUG"):
            raise
        _print_error(command, f"unexpected {type(e).__name__}: {e}",
                     "this is a bug in tfckpt; rerun with TFCKPT_DEBUG=1 for the traceback and report it")
        return EXIT_USAGE
