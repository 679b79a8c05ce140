"""What the commands share: opening a checkpoint with a helpful error, filters, tensor records.

Every user-facing failure is a :class:`CliError` (message, optional hint, exit code), which
:func:`tfckpt.cli.main` prints as one or two lines, never as a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from ..checkpoint import Checkpoint
from ..checkpoint import open as open_checkpoint
from ..errors import CheckpointError, InvalidArgumentError, NotFoundError
from ..format._bundle import match_data_file
from ..format._dtypes import DTYPE_BY_NAME, STRING

__all__ = [
    "EXIT_FOUND",
    "EXIT_OK",
    "EXIT_USAGE",
    "CliError",
    "Record",
    "compile_filters",
    "is_optimizer_state",
    "open_ckpt",
    "records",
]

EXIT_OK: Final = 0
#: Differences or corruption found.
EXIT_FOUND: Final = 1
#: Usage error or unreadable input.
EXIT_USAGE: Final = 2

#: The TF2 object graph's key (``python/trackable/constants.py``).
OBJECT_GRAPH_KEY: Final = "_CHECKPOINTABLE_OBJECT_GRAPH"

#: Slot-variable suffixes of TF1's and BERT's optimizers, and the Adam power accumulators.
_OPTIMIZER_NAME_RE: Final = re.compile(
    r"(^|/)(beta[12]_power(_\d+)?$)"
    r"|/(Adam|Adam_1|Momentum|RMSProp|RMSProp_1|Adagrad|AdagradDA|AdagradDA_1|Adadelta|Adadelta_1|Ftrl|Ftrl_1"
    r"|ProximalAdagrad|adam_m|adam_v|lamb_m|lamb_v|LAMB|LAMB_1)(_\d+)?$"
)

#: Set by :func:`tfckpt.cli.main` so errors can show the corrected command line.
ARGV: list[str] = []


class CliError(Exception):
    """A failure to report as ``tfckpt CMD: error: MESSAGE`` plus an optional ``hint:`` line."""

    def __init__(self, message: str, hint: str | None = None, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code


def corrected_command(bad: str, good: str) -> str:
    """The command line the user typed, with ``bad`` replaced by ``good``, shell-quoted."""
    args = [good if a == bad else a.replace(bad, good) if a.startswith("--") and bad in a else a for a in ARGV]
    return "tfckpt " + " ".join(shlex.quote(a) for a in args)


def _strip_suffix(path: str) -> str | None:
    """The prefix a checkpoint-looking file name belongs to, if it has a known suffix."""
    m = match_data_file(path)
    if m:
        return m.group("prefix")
    for suffix in (".index", ".meta"):
        if path.endswith(suffix):
            return path[: -len(suffix)]
    m2 = re.match(r"^(.*?)(\.index|\.data-\d{5}-of-\d{5})?\.tempstate\d+$", path)
    if m2:
        return m2.group(1)
    return None


def _nearby_prefixes(path: str) -> list[str]:
    """Bundles next to ``path`` whose name starts with its base name (``model.ckpt`` -> ``model.ckpt-7``)."""
    directory = os.path.dirname(path) or "."
    base = os.path.basename(path)
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    found = sorted(n[: -len(".index")] for n in names if n.endswith(".index") and n.startswith(base))
    return [os.path.join(os.path.dirname(path), n) for n in found]


def open_ckpt(path: str, *, verify: bool = True) -> Checkpoint:
    """Open ``path`` or raise a :class:`CliError` that says what to pass instead."""
    try:
        return open_checkpoint(path, verify=verify)
    except (NotFoundError, InvalidArgumentError) as e:
        raise _open_error(path, e) from None
    except CheckpointError as e:
        prefix = _strip_suffix(path)
        if prefix is not None and prefix != path and os.path.isfile(prefix + ".index"):
            raise CliError(f"{e}", f"pass the checkpoint prefix instead: {corrected_command(path, prefix)}") from None
        raise
    except IsADirectoryError:
        raise CliError(f"{path} is a directory without a checkpoint") from None


def describe(ckpt: Checkpoint) -> str:
    """``prefix (V2)``, saying when the bundle is a SavedModel's variables."""
    if ckpt.saved_model is not None:
        return f"{ckpt.prefix} ({ckpt.format}, the variables of the SavedModel {ckpt.saved_model})"
    return f"{ckpt.prefix} ({ckpt.format})"


#: Bytes of remote tensors fetched ahead together by :func:`prefetched` (bounds memory).
PREFETCH_BYTES: Final = 256 << 20


def prefetched(ckpt: Checkpoint, rows: Sequence[Record]) -> Iterator[Record]:
    """``rows`` in order; before each group of about :data:`PREFETCH_BYTES`, their tensors are
    fetched concurrently when the checkpoint is remote (locally this is just the rows)."""
    group: list[Record] = []
    size = 0
    for i, row in enumerate(rows):
        if not group:
            for ahead in rows[i:]:
                group.append(ahead)
                size += ahead.bytes
                if size >= PREFETCH_BYTES:
                    break
            ckpt._prefetch([r.name for r in group])
        group.pop(0)
        if not group:
            size = 0
        yield row


def storage_option(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` of ``--storage-option``; VALUE is JSON when it parses (``true``, ``{...}``), else a string."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def apply_storage_options(args: argparse.Namespace) -> None:
    """Hand ``--storage-option`` pairs to fsspec's configuration for every URL protocol among the arguments.

    fsspec merges ``fsspec.config.conf[protocol]`` into the options of each file system it
    creates, so the library's reads, writes and conversions all see them.
    """
    pairs = getattr(args, "storage_option", None)
    if not pairs:
        return
    from ..storage import is_url

    values = [v for value in vars(args).values() for v in (value if isinstance(value, list) else [value])]
    urls = [v for v in values if isinstance(v, str) and is_url(v)]
    if not urls:
        raise CliError("--storage-option applies to URLs (s3://, gs://, https://, ...); no argument is a URL")
    from fsspec.config import conf  # type: ignore[import-untyped, import-not-found, unused-ignore]
    from fsspec.core import split_protocol  # type: ignore[import-untyped, import-not-found, unused-ignore]

    for url in urls:
        protocol = split_protocol(url.split("::")[-1])[0]
        conf.setdefault(protocol, {}).update(dict(pairs))


def _open_error(path: str, e: CheckpointError) -> CliError:
    message = str(e).split("; pass the prefix instead")[0]
    prefix = _strip_suffix(path)
    if prefix is not None and prefix != path and (os.path.isfile(prefix + ".index") or os.path.isfile(prefix)):
        return CliError(message, f"pass the checkpoint prefix: {corrected_command(path, prefix)}")
    nearby = _nearby_prefixes(path)
    if nearby:
        return CliError(message, f"did you mean: {corrected_command(path, nearby[-1])}"
                        + (f"  (also here: {', '.join(os.path.basename(p) for p in nearby[:-1])})" if len(nearby) > 1 else ""))
    if match_data_file(path):
        return CliError(message, "a checkpoint is its .index file plus its .data-* shards; copy the .index file too")
    if "pass the checkpoint prefix" in message:
        return CliError(message)
    return CliError(message, "pass a checkpoint prefix (model.ckpt-1000, without .index/.data-*), its .index file, or its directory")


def compile_filters(include: Sequence[str] | None, exclude: Sequence[str] | None) -> Callable[[str], bool]:
    """A predicate: the name matches some ``--include`` (if any) and no ``--exclude`` regex (``re.search``)."""

    def compile_all(patterns: Sequence[str] | None, flag: str) -> list[re.Pattern[str]]:
        out = []
        for p in patterns or ():
            try:
                out.append(re.compile(p))
            except re.error as e:
                raise CliError(f"{flag} {p!r} is not a valid regular expression: {e}") from None
        return out

    inc = compile_all(include, "--include")
    exc = compile_all(exclude, "--exclude")

    def keep(name: str) -> bool:
        if inc and not any(r.search(name) for r in inc):
            return False
        return not any(r.search(name) for r in exc)

    return keep


def is_optimizer_state(name: str) -> bool:
    """True for name-based optimizer slots (``w/Adam``, ``w/adam_m``, ``beta1_power``, ...) and TF2 slot keys."""
    return "/.OPTIMIZER_SLOT/" in name or bool(_OPTIMIZER_NAME_RE.search(name))


def model_variable_keys(ckpt: Checkpoint) -> set[str]:
    """Keys of the model's own variables (:meth:`Checkpoint.variables`): no optimizer state, no bookkeeping."""
    variables = getattr(ckpt, "variables", None)
    if variables is not None:
        return set(variables().values())
    return {n for n in ckpt if n != OBJECT_GRAPH_KEY and not is_optimizer_state(n) and not n.endswith("global_step")}


def optimizer_predicate(ckpt: Checkpoint) -> Callable[[str], bool]:
    """``name -> True`` for what is not a model variable: optimizer state and bookkeeping.

    Object-based checkpoints decide with the object graph (slot variables, everything only
    reachable through an optimizer, ``save_counter``, the graph); name-based ones with the
    slot-name suffixes (``/Adam``, ``/adam_m``, ...), ``beta1_power`` and ``global_step``.
    """
    keys = model_variable_keys(ckpt)
    return lambda name: name not in keys


@dataclass
class Record:
    """One row of ``tfckpt ls``."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    bytes: int
    shard: int | None
    slices: list[dict[str, Any]] = field(default_factory=list)

    @property
    def numel(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def numeric(self) -> bool:
        return self.dtype not in ("string", "variant")


def records(ckpt: Checkpoint) -> list[Record]:
    """Name, dtype, shape, stored bytes and shard of every tensor, without reading data."""
    from ..format._ordered_code import FULL_EXTENT, encode_slice_key
    from ..format._v2 import BundleReader, encode_name

    source = ckpt._source
    out = []
    for name in ckpt:
        dtype = ckpt.dtype(name)
        shape = ckpt.shape(name)
        if isinstance(source, BundleReader):
            entry = source.entry(name)
            if entry.slices:
                slices = []
                total = 0
                for starts, lengths in entry.slices:
                    real = tuple(d if n == FULL_EXTENT else n for d, n in zip(shape, lengths))
                    key = encode_slice_key(encode_name(name), starts, lengths)
                    sub = source.entry_by_key(key) if key in source._raw else None
                    size = sub.size if sub is not None else 0
                    total += size
                    slices.append({"start": list(starts), "shape": list(real), "bytes": size,
                                   "shard": sub.shard_id if sub is not None else None})
                out.append(Record(name, dtype, shape, total, None, slices))
            else:
                out.append(Record(name, dtype, shape, entry.size, entry.shard_id))
        else:
            info = DTYPE_BY_NAME[dtype]
            numel = int(np.prod(shape, dtype=np.int64)) if shape else 1
            if info.numpy is not None:
                size = numel * info.numpy.itemsize
            elif info.enum == STRING:
                size = sum(len(x) for x in ckpt[name].reshape(-1))
            else:
                size = len(ckpt.raw_bytes(name))
            out.append(Record(name, dtype, shape, size, None))
    return out


def shape_str(shape: Iterable[int]) -> str:
    """``(3, 5)`` -> ``"[3, 5]"``; a scalar is ``"[]"``."""
    return "[" + ", ".join(str(d) for d in shape) + "]"


def parse_printoption(kv: str) -> tuple[str, Any]:
    """``"threshold=10"`` -> ``("threshold", 10)``, typed like numpy's current value (TF's parser)."""
    key, sep, value = kv.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{kv!r} is not in the form k=v")
    options: dict[str, Any] = dict(np.get_printoptions())
    if key not in options or key == "formatter":
        raise argparse.ArgumentTypeError(f"{key!r} is not a valid printoption (one of: {', '.join(sorted(k for k in options if k != 'formatter'))})")
    current = options[key]
    try:
        if isinstance(current, bool):
            low = value.lower()
            if low not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(f"expected true or false, got {value!r}")
            return key, low in ("true", "1", "yes")
        if current is None:
            raise argparse.ArgumentTypeError(f"setting {key!r} from the command line is not supported")
        return key, type(current)(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"{key}={value}: {e}") from None


def add_printoptions(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--printoptions", nargs="*", type=parse_printoption, default=[], metavar="K=V",
        help="numpy print options, e.g. threshold=10 precision=3 (numpy.set_printoptions)",
    )


def printoptions(pairs: Sequence[tuple[str, Any]]) -> Any:
    """A ``numpy.printoptions`` context for the parsed ``--printoptions`` pairs."""
    options: dict[str, Any] = dict(pairs)
    return np.printoptions(**options)


def stdout_write(text: str) -> None:
    sys.stdout.write(text)
