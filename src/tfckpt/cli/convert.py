"""``tfckpt convert SRC DST --to {tf1,tf2,npz,safetensors}``: streaming conversion with filters and renames.

The pipeline, tensor names at each step:

1. source names: a name-based checkpoint's keys; for an object-based one, its keys, or with
   ``--to tf1`` / ``--clean-names`` the clean paths of its model variables
   (:meth:`tfckpt.Checkpoint.variables`, no optimizer state, no counters);
2. ``--skip-optimizer`` drops optimizer state and counters (the object graph decides for TF2
   checkpoints, slot-name suffixes for TF1 ones);
3. ``--include``/``--exclude`` regexes, ``--rename OLD=NEW`` (``init_from_checkpoint``
   assignment-map semantics) and ``--rename-re PATTERN=REPL``, via :func:`tfckpt.rename_plan`
   (an entry that matches nothing is an error);
4. the writer: :class:`tfckpt.Writer` (tf1), :func:`tfckpt.object_writer.write_object_checkpoint`
   (tf2, the migration guide's ``Checkpoint(vars={name: variable})`` layout),
   :func:`tfckpt.npz_io.write_npz` or :func:`tfckpt.safetensors_io.write_safetensors`.

One tensor is read, written and released at a time. Tensors the target cannot hold are
skipped with a warning naming each (``--strict``: an error, nothing written).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any, cast

import numpy as np

from ..checkpoint import Checkpoint
from ..convert import rename_plan
from ..errors import InvalidArgumentError
from ..storage import is_url
from ._common import EXIT_OK, OBJECT_GRAPH_KEY, CliError, model_variable_keys, open_ckpt, records
from ._output import human_bytes, progress, warn

EXAMPLES = """\
examples:
  tfckpt convert bert/ bert.safetensors --to safetensors --skip-optimizer
  tfckpt convert tf2/ckpt-5 weights.npz --to npz --clean-names      # model variables by object path
  tfckpt convert bert/ out/model.ckpt --to tf1 --rename bert/=encoder/ --exclude '^global_step$'
  tfckpt convert tf1/model.ckpt-7 tf2/ckpt-1 --to tf2                # restore with tf.train.Checkpoint(vars={...})
  tfckpt convert tf2/ckpt-5 tf1/model.ckpt --to tf1 --root model     # tf.compat.v1.train.Saver reads it
  tfckpt convert uncased_L-12_H-768_A-12/ bert-hf/ --to transformers --model bert
  tfckpt convert bert-hf/ bert-tf/bert_model.ckpt --to tf1 --model bert   # back to Google's names
  tfckpt convert mine/ mine.safetensors --to safetensors --rename-re '/kernel$=.weight' --transpose '/kernel$'
"""

_FLOAT8 = ("float8_e5m2", "float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2fnuz")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "convert", help="convert to a TF1 or TF2 checkpoint, .npz, .safetensors, or a transformers directory",
        description="Convert a checkpoint, streaming one tensor at a time, optionally filtered and renamed. "
        "Tensors the target format cannot hold are skipped with a warning naming them (--strict: an error).",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("src", metavar="SRC", help="checkpoint to read (prefix, .index/.data file, directory)")
    p.add_argument("dst", metavar="DST", help="prefix to write (tf1, tf2), file (npz, safetensors) or directory (transformers); a URL too")
    p.add_argument("--to", required=True, choices=["tf1", "tf2", "npz", "safetensors", "transformers"], help="output format")
    p.add_argument("--include", action="append", metavar="REGEX", help="only names matching REGEX (re.search; repeatable)")
    p.add_argument("--exclude", action="append", metavar="REGEX", help="leave out names matching REGEX (repeatable)")
    p.add_argument("--rename", action="append", default=[], metavar="OLD=NEW",
                   help="assignment-map rule: 'old/name=new/name', 'old_scope/=new_scope/', '/=scope/' (repeatable)")
    p.add_argument("--rename-re", action="append", default=[], metavar="PATTERN=REPL", help="regex rename applied after --rename")
    p.add_argument("--skip-optimizer", action="store_true", help="leave out optimizer state and step counters")
    p.add_argument("--clean-names", action="store_true",
                   help="object-based SRC: name tensors by object path (model/dense/kernel), model variables only")
    p.add_argument("--root", default=None, metavar="NAME",
                   help="--to tf2: the tf.train.Checkpoint keyword holding the variables (default 'vars'); "
                   "object-based SRC: take only variables under this object path, with it removed")
    p.add_argument("--strict", action="store_true", help="fail instead of skipping tensors the target cannot hold")
    p.add_argument("--compress", action="store_true", help="--to npz: deflate the archive (numpy.savez_compressed)")
    p.add_argument("--max-shard-size", type=int, default=None, metavar="BYTES", help="--to tf1/tf2: start a new data shard past this size")
    p.add_argument("--transpose", action="append", default=[], metavar="REGEX",
                   help="reverse the axes of tensors whose source name matches REGEX (a TF kernel [in, out] becomes a "
                   "torch Linear weight [out, in]; repeatable)")
    from .convert_transformers import add_arguments

    add_arguments(p)
    p.set_defaults(func=run)


def _pairs(values: list[str], flag: str) -> list[tuple[str, str]]:
    out = []
    for v in values:
        old, sep, new = v.partition("=")
        if not sep or not old:
            raise CliError(f"{flag} {v!r}: expected OLD=NEW", f"e.g. {flag} bert/=encoder/")
        out.append((old, new))
    return out


def _source_names(ckpt: Checkpoint, args: argparse.Namespace) -> dict[str, str]:
    """Source name -> checkpoint key, before filters and renames."""
    object_based = OBJECT_GRAPH_KEY in ckpt
    if object_based and (args.to == "tf1" or args.clean_names):
        names = dict(ckpt.variables("path"))
        if args.root is not None:
            scope = args.root.strip("/") + "/"
            names = {n[len(scope):]: k for n, k in names.items() if n.startswith(scope)}
            if not names:
                tops = sorted({n.split("/", 1)[0] for n in ckpt.variables("path")})
                raise CliError(f"no model variable lies under --root {args.root!r}", f"top-level objects: {', '.join(tops)}")
        return names
    if args.clean_names:
        raise CliError(f"--clean-names needs an object-based (TF2) checkpoint; {ckpt.prefix} is name-based")
    names = {k: k for k in ckpt}
    if args.skip_optimizer:
        keep = model_variable_keys(ckpt)
        names = {n: k for n, k in names.items() if k in keep}
    return names


def _unsupported(args: argparse.Namespace, ckpt: Checkpoint, key: str) -> str | None:
    """Why the target cannot hold tensor ``key`` (a short reason to group by), or None."""
    dtype = ckpt.dtype(key)
    if key == OBJECT_GRAPH_KEY and args.to in ("npz", "safetensors"):
        return "the TF2 object graph"
    if dtype == "variant":
        return "variant"
    if args.to == "safetensors":
        from ..safetensors_io import safetensors_dtype

        if safetensors_dtype(dtype) is None:
            return dtype
    if args.to == "npz" and dtype == "string":
        from ..npz_io import npz_array

        why = npz_array(dtype, ckpt.get_tensor(key))[1]
        return f"string ({why})" if why else None
    return None


def _unstorable_name(to: str, name: str) -> str | None:
    """Why the target format cannot hold the output name ``name`` unchanged, or None."""
    if to == "npz":
        from ..npz_io import check_npz_name

        try:
            check_npz_name(name)
        except InvalidArgumentError as e:
            return f"name {str(e).split(': ', 1)[-1]}"
        return None
    if to in ("tf2", "safetensors"):  # both store names as UTF-8 (protobuf strings, JSON)
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            return "name not valid UTF-8"
    return None


def _listing(skipped: list[tuple[str, str]]) -> str:
    """``reason: name, name; reason: name`` for a warning or error."""
    groups: dict[str, list[str]] = {}
    for key, why in skipped:
        groups.setdefault(why, []).append(key)
    return "; ".join(f"{why}: {', '.join(keys)}" for why, keys in groups.items())


def run(args: argparse.Namespace) -> int:
    if args.to == "transformers" or args.model is not None:
        from .convert_transformers import run as run_transformers

        return run_transformers(args)
    if args.to in ("npz", "safetensors") and is_url(args.dst) and args.dst.endswith("/"):
        raise CliError(f"DST {args.dst!r} is a directory; --to {args.to} writes one file",
                       f"e.g. tfckpt convert {args.src} {args.dst}model.{args.to} --to {args.to}")
    if args.to in ("tf1", "tf2") and (os.path.isdir(args.dst) or args.dst.endswith(os.sep)):
        raise CliError(f"DST {args.dst!r} is a directory; --to {args.to} writes a checkpoint prefix",
                       f"e.g. tfckpt convert {args.src} {os.path.join(args.dst.rstrip(os.sep), 'model.ckpt')} --to {args.to}")
    renames = dict(_pairs(args.rename, "--rename"))
    rules = _pairs(args.rename_re, "--rename-re")
    with open_ckpt(args.src) as ckpt:
        object_based = OBJECT_GRAPH_KEY in ckpt
        if args.to == "tf2" and object_based:
            raise CliError(f"{ckpt.prefix} is already object-based (TF2)",
                           "--to tf2 converts name-based checkpoints; use --to tf1 to go the other way")
        source = _source_names(ckpt, args)
        try:
            plan = rename_plan(list(source), renames, rules=rules, include=args.include, exclude=args.exclude)
        except InvalidArgumentError as e:
            raise CliError(str(e).replace("pass allow_unmatched=True to allow this", "check the spelling with 'tfckpt ls'"),
                           f"'tfckpt ls {args.src}' lists the names") from None
        jobs = [(source[old], new) for old, new in plan.items()]  # (checkpoint key, output name)
        skipped = [
            (key, why)
            for key, new in jobs
            if (why := _unsupported(args, ckpt, key) or _unstorable_name(args.to, new)) is not None
        ]
        if skipped:
            listing = _listing(skipped)
            if args.strict:
                raise CliError(f"--to {args.to} cannot hold {len(skipped)} tensor{'s' if len(skipped) != 1 else ''}: {listing}",
                               "leave them out with --exclude, or drop --strict to skip them with a warning")
            warn(f"skipping {len(skipped)} tensor{'s' if len(skipped) != 1 else ''} {args.to} cannot hold: {listing}")
            bad = {k for k, _ in skipped}
            jobs = [(k, n) for k, n in jobs if k not in bad]
        if not jobs:
            raise CliError("nothing left to write", None)
        if args.transpose:
            ckpt = _transposing(ckpt, [k for k, _ in jobs], args.transpose)
        sizes = {r.name: r.bytes for r in records(ckpt)}
        total = sum(sizes.get(k, 0) for k, _ in jobs)
        writer = {"tf1": _write_tf1, "tf2": _write_tf2, "npz": _write_npz, "safetensors": _write_safetensors}[args.to]
        if args.to in ("npz", "safetensors") and is_url(args.dst):
            written = _write_uploaded(writer, ckpt, jobs, args, _Progress(total, sizes))
        else:
            written = writer(ckpt, jobs, args, _Progress(total, sizes))
    print(f"wrote {written}: {len(jobs)} tensor{'s' if len(jobs) != 1 else ''}, {human_bytes(total)}"
          + (f" (skipped {len(skipped)})" if skipped else ""))
    return EXIT_OK


_FileWriter = Callable[[Checkpoint, list[tuple[str, str]], argparse.Namespace, "_Progress"], str]


class _Progress:
    """A byte-weighted progress bar over the tensors being converted (terminal only)."""

    def __init__(self, total: int, sizes: dict[str, int]) -> None:
        self.total = total
        self.sizes = sizes

    def wrap(self, jobs: list[tuple[str, str]]) -> Any:
        return progress(jobs, total=self.total, desc="convert", unit="B", weights=lambda job: self.sizes.get(job[0], 0))


def _write_uploaded(writer: _FileWriter, ckpt: Checkpoint, jobs: list[tuple[str, str]], args: argparse.Namespace,
                    bar: _Progress) -> str:
    """A single-file format (npz, safetensors) to a URL: written by ``writer`` into a local
    temporary directory, then uploaded as one object (visible whole or not at all)."""
    import tempfile

    from ..storage import store_for

    store, path = store_for(args.dst)  # --storage-option reached fsspec's configuration already
    with tempfile.TemporaryDirectory(prefix="tfckpt-convert-") as tmp:
        local = os.path.join(tmp, store.basename(path))
        writer(ckpt, jobs, argparse.Namespace(**{**vars(args), "dst": local}), bar)
        store.put_file(path, local)
    return store.url(path)


def _write_tf1(ckpt: Checkpoint, jobs: list[tuple[str, str]], args: argparse.Namespace, bar: _Progress) -> str:
    from ..writer import Writer

    with Writer(args.dst, max_shard_size=args.max_shard_size) as writer:
        for key, name in bar.wrap(jobs):
            writer.add(name, ckpt.get_tensor(key), dtype=ckpt.dtype(key))
    return writer.prefix


def _write_tf2(ckpt: Checkpoint, jobs: list[tuple[str, str]], args: argparse.Namespace, bar: _Progress) -> str:
    from ..object_writer import layout_tree, write_object_checkpoint

    root = args.root if args.root is not None else "vars"
    counter = object()
    names = {name: key for key, name in jobs}
    layout = layout_tree({root: names}, save_counter=counter, full_name=lambda path, leaf: str(path[-1]))
    by_key = dict(jobs)
    ordered = iter(bar.wrap([(key, by_key[key]) for _, key in layout.variables if key is not counter]))

    def load(leaf: Any) -> tuple[Any, str | None]:
        if leaf is counter:
            return np.int64(1), "int64"
        next(ordered, None)  # advance the progress bar
        return ckpt.get_tensor(leaf), ckpt.dtype(leaf)

    return write_object_checkpoint(args.dst, layout, load, max_shard_size=args.max_shard_size)


def _write_npz(ckpt: Checkpoint, jobs: list[tuple[str, str]], args: argparse.Namespace, bar: _Progress) -> str:
    from ..npz_io import NPZ_WIDENED, npz_array, write_npz

    widened: dict[str, int] = {}

    def items() -> Any:
        for key, name in bar.wrap(jobs):
            arr, why = npz_array(ckpt.dtype(key), ckpt.get_tensor(key))
            if arr is None:  # strings were checked before writing; this is a backstop
                raise CliError(f"--to npz cannot hold {key!r}: {why}", "leave it out with --exclude")
            if ckpt.dtype(key) in NPZ_WIDENED:
                target = NPZ_WIDENED[ckpt.dtype(key)]
                widened[target] = widened.get(target, 0) + 1
            yield name, arr

    path = write_npz(args.dst, items(), compress=args.compress)
    if widened:
        counts = ", ".join(f"{n} to {dtype}" for dtype, n in sorted(widened.items()))
        warn(f"numpy has no bfloat16/float8/float4/int4/int2 dtypes; widened exactly: {counts}")
    return path


def _write_safetensors(ckpt: Checkpoint, jobs: list[tuple[str, str]], args: argparse.Namespace, bar: _Progress) -> str:
    from ..safetensors_io import SafetensorsSpec, write_safetensors

    key_of = {name: key for key, name in jobs}
    specs = [SafetensorsSpec(name, ckpt.dtype(key), ckpt.shape(key)) for key, name in jobs]
    f8 = [s.name for s in specs if s.dtype in _FLOAT8]
    if f8:
        warn(f"float8 tensors written as safetensors F8_* ({', '.join(f8)}): torch and jax load them; "
             "safetensors.numpy 0.8 cannot (exclude them for a file numpy can load)")
    it = iter(bar.wrap(jobs))
    get: Callable[[str], np.ndarray] = lambda name: ckpt.get_tensor(key_of[name])
    try:
        return write_safetensors(args.dst, specs, get, metadata={"format": "np", "source": "tfckpt"},
                                 on_tensor=lambda spec: next(it, None))
    except InvalidArgumentError as e:
        raise CliError(str(e)) from None


class _Transposed:
    """A checkpoint whose tensors named in ``keys`` read with their axes reversed (``--transpose``)."""

    def __init__(self, ckpt: Checkpoint, keys: set[str]) -> None:
        self._ckpt = ckpt
        self._keys = keys

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ckpt, name)

    def __iter__(self) -> Any:
        return iter(self._ckpt)

    def __contains__(self, key: object) -> bool:
        return key in self._ckpt

    def shape(self, key: str) -> tuple[int, ...]:
        shape = self._ckpt.shape(key)
        return tuple(reversed(shape)) if key in self._keys else shape

    def get_tensor(self, key: str, **kwargs: Any) -> np.ndarray:
        arr = self._ckpt.get_tensor(key, **kwargs)
        return np.ascontiguousarray(arr.T) if key in self._keys else arr


def _transposing(ckpt: Checkpoint, keys: list[str], patterns: list[str]) -> Checkpoint:
    from ._common import compile_filters

    matches = compile_filters(patterns, None)
    chosen = {k for k in keys if matches(k)}
    if not chosen:
        raise CliError(f"--transpose {' '.join(patterns)}: matches no tensor being written", "check the names with 'tfckpt ls'")
    return cast(Checkpoint, _Transposed(ckpt, chosen))
