"""``tfckpt state DIR`` (print, ``--fix``, ``--set``) and ``tfckpt latest DIR``.

``--fix`` handles the two ways a state file goes wrong in practice:

* no ``checkpoint`` file at all (published models): one is written listing the bundles in
  the directory, oldest first, the newest being the latest;
* a directory copied from another machine: TF1's ``Saver`` records absolute paths, which no
  longer exist; each is replaced by the bundle of the same base name in the directory, and
  all paths are written relative to the directory (as TF2 writes them).

Entries whose checkpoint is gone everywhere are dropped (with their timestamps). The file
is written atomically in TensorFlow's text format. DIR may be a URL: the same rules through
the store (listing for the bundles present, one PUT for the new state object).
"""

from __future__ import annotations

import argparse
import datetime
import os
import posixpath

from .._paths import resolve
from .._paths_dirs import bundles_in
from ..errors import CheckpointError
from ..state import (
    MAX_STATE_FILE_BYTES,
    STATE_FILENAME,
    _url_store,
    checkpoint_exists,
    format_state,
    latest_checkpoint,
    locate_checkpoint,
    read_state_file,
    update_checkpoint_state,
    within,
)
from ..storage import Store, is_url, store_for
from ..storage._inputs import read_regular
from ..storage._local import LOCAL
from ._common import EXIT_FOUND, EXIT_OK, CliError, _strip_suffix
from ._output import Style

STATE_EXAMPLES = """\
examples:
  tfckpt state run/                      # print the state file and check every path in it
  tfckpt state run/ --fix                # write a missing one / make moved absolute paths relative
  tfckpt state run/ --set ckpt-3         # make ckpt-3 the latest checkpoint
"""

LATEST_EXAMPLES = """\
examples:
  tfckpt latest run/                     # run/ckpt-4
  python train.py --init "$(tfckpt latest run/)"
"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "state", help="print, repair or set a directory's 'checkpoint' state file",
        description="Print a directory's 'checkpoint' state file and check the paths in it (exit 1 if it is "
        "missing or names checkpoints that are not there); --fix repairs it, --set PREFIX makes one checkpoint the latest.",
        epilog=STATE_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dir", metavar="DIR", help="the checkpoint directory")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--fix", action="store_true", help="write or repair the state file for the bundles present")
    group.add_argument("--set", metavar="PREFIX", help="make PREFIX (a checkpoint in DIR) the latest")
    p.set_defaults(func=run_state)


def add_latest_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "latest", help="print the latest checkpoint's prefix",
        description="Print the prefix of the latest checkpoint in DIR: the one its state file names, or, when "
        "the state file is missing or stale, the bundle tfckpt.open(DIR) would use (with a note on stderr).",
        epilog=LATEST_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dir", metavar="DIR", help="the checkpoint directory")
    p.set_defaults(func=run_latest)


def _directory(path: str) -> str:
    if is_url(path):  # `tfckpt latest s3://bucket/run`: no listing needed
        return path[: -len(STATE_FILENAME)].rstrip("/") if path.endswith("/" + STATE_FILENAME) else path.rstrip("/")
    if os.path.isdir(path):
        return path
    if os.path.basename(path) == STATE_FILENAME and os.path.isfile(path):
        return os.path.dirname(path) or "."
    raise CliError(f"{path} is not a directory", f"pass the directory that holds the checkpoint: tfckpt ... {os.path.dirname(path) or '.'}")


def _place(path: str) -> tuple[Store, str]:
    """The store and directory of DIR; a URL's directory stays a URL (the store's methods
    take them), so every path printed or recorded is one the user can pass back."""
    directory = _directory(path)
    store = _url_store(directory, None)  # --storage-option reached fsspec's configuration already
    if store is not None:
        return store, directory
    if is_url(directory):  # file://
        return LOCAL, _directory(store_for(directory)[1])
    return LOCAL, directory


def _abs(store: Store, directory: str, p: str) -> str:
    return p if store.isabs(p) else store.join(directory, p)


def _same(store: Store, a: str, b: str) -> bool:
    norm = os.path.normpath if store is LOCAL else posixpath.normpath
    return norm(a) == norm(b)


def _read_text(store: Store, path: str) -> str:
    """The state file's text (local: a regular file of bounded size, as read_state_file checks)."""
    if store is LOCAL:
        raw = read_regular(path, "a checkpoint state file", max_size=MAX_STATE_FILE_BYTES)
    else:
        raw = store.get(path, what="a checkpoint state file")
    return raw.decode("utf-8", "surrogateescape")


def run_state(args: argparse.Namespace) -> int:
    store, directory = _place(args.dir)
    if args.fix or args.set:
        return _write(store, directory, args.set)
    style = Style()
    path = store.join(directory, STATE_FILENAME)
    state = read_state_file(path, None if store is LOCAL else store.get)
    present = bundles_in(directory, store)
    if state is None:
        exists = os.path.exists(path) if store is LOCAL else store.isfile(path)
        what = "is unreadable" if exists else "does not exist"
        print(f"{path} {what}")
        if present:
            print(f"checkpoints here: {', '.join(store.basename(p) for p in present)}")
            print(f"fix: tfckpt state {directory} --fix")
        return EXIT_FOUND
    print(f"{path}:")
    print("".join(f"  {line}\n" for line in format_state(state).splitlines()), end="")
    problems = 0
    listed = list(state.all_model_checkpoint_paths)
    if state.model_checkpoint_path and (not listed or listed[-1] != state.model_checkpoint_path):
        listed.append(state.model_checkpoint_path)
    stamps = list(state.all_model_checkpoint_timestamps)
    print("checkpoints:")
    for i, recorded in enumerate(listed):
        found = locate_checkpoint(directory, recorded, store=store)
        when = ""
        if len(stamps) == len(state.all_model_checkpoint_paths) and i < len(stamps):
            when = "  " + datetime.datetime.fromtimestamp(stamps[i], datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        latest = "  (latest)" if recorded == state.model_checkpoint_path else ""
        if found is not None and _same(store, found, _abs(store, directory, recorded)):
            status = style("ok", "green")
        elif found is not None:
            problems += 1
            here = os.path.relpath(found) if store is LOCAL else found
            status = style(f"moved: not at the recorded path; {here} is here", "yellow")
        else:
            problems += 1
            status = style("MISSING", "red")
        print(f"  {recorded}{when}{latest}  {status}")
    if not state.model_checkpoint_path:
        problems += 1
        print(style("  model_checkpoint_path is empty (TensorFlow rejects this file)", "red"))
    unlisted = [p for p in present if all(not _same(store, p, locate_checkpoint(directory, r, store=store) or "") for r in listed)]
    if unlisted:
        print(f"not listed: {', '.join(store.basename(p) for p in unlisted)}")
    if problems:
        print(f"{problems} problem{'s' if problems != 1 else ''}; fix: tfckpt state {directory} --fix")
        return EXIT_FOUND
    return EXIT_OK


def _write(store: Store, directory: str, set_prefix: str | None) -> int:
    path = store.join(directory, STATE_FILENAME)
    old_text = None
    state = read_state_file(path, None if store is LOCAL else store.get)  # refuses a FIFO, a device or an oversized file
    if state is not None:
        old_text = _read_text(store, path)
    present = bundles_in(directory, store)
    paths: list[str] = []
    stamps: list[float] = []
    dropped: list[str] = []
    last_preserved = 0.0
    latest: str | None = None
    if state is not None:
        recorded = list(state.all_model_checkpoint_paths)
        old_stamps = list(state.all_model_checkpoint_timestamps)
        keep_stamps = len(old_stamps) == len(recorded)
        for i, r in enumerate(recorded):
            found = locate_checkpoint(directory, r, store=store)
            if found is None:
                dropped.append(r)
            elif found not in paths:
                paths.append(found)
                if keep_stamps:
                    stamps.append(old_stamps[i])
        if not keep_stamps:
            stamps = []
        last_preserved = state.last_preserved_timestamp
        if state.model_checkpoint_path:
            latest = locate_checkpoint(directory, state.model_checkpoint_path, store=store)
            if latest is None and state.model_checkpoint_path not in dropped:
                dropped.append(state.model_checkpoint_path)
    if not paths and latest is None:
        paths = list(present)  # the published-model case: every bundle here, oldest first
        stamps = []
    if set_prefix is not None:
        latest = _find_prefix(store, directory, set_prefix, present)
    if latest is None:
        latest = paths[-1] if paths else None
    if latest is None:
        raise CliError(f"no checkpoints in {directory} (no *.index files and no usable state file)")
    if latest in paths:  # the latest goes last (TF appends it), keeping each timestamp with its path
        i = paths.index(latest)
        paths.append(paths.pop(i))
        if stamps:
            stamps.append(stamps.pop(i))
    else:
        paths.append(latest)
        stamps = []
    update_checkpoint_state(directory, latest, paths, all_model_checkpoint_timestamps=stamps or None,
                            last_preserved_timestamp=last_preserved or None, save_relative_paths=True)
    new_text = _read_text(store, path)
    for d in dropped:
        print(f"dropped {d}: no such checkpoint")
    if new_text == old_text:
        print(f"{path} was already correct:")
    else:
        print(f"wrote {path}:")
    print("".join(f"  {line}\n" for line in new_text.splitlines()), end="")
    return EXIT_OK


def _find_prefix(store: Store, directory: str, given: str, present: list[str]) -> str:
    if store is not LOCAL:  # a URL, or a name in the directory
        candidate = given if is_url(given) else store.join(directory, given)
        for c in (_strip_suffix(candidate) or candidate, candidate):  # ckpt-4.index is ckpt-4, not a V1 file
            if checkpoint_exists(c, store.isfile):
                return c
    for candidate in (given, os.path.join(directory, given)) if store is LOCAL else ():
        stripped = _strip_suffix(candidate) or candidate
        for c in (stripped, candidate):  # ckpt-4.index is ckpt-4, not a V1 file named so
            if checkpoint_exists(c) and not os.path.isdir(c):
                return os.path.join(directory, os.path.relpath(c, directory)) if within(c, directory) else c
    names = ", ".join(store.basename(p) for p in present) or "none"
    raise CliError(f"--set {given}: no such checkpoint in {directory}", f"checkpoints here: {names}")


def run_latest(args: argparse.Namespace) -> int:
    directory = _directory(args.dir)
    found = latest_checkpoint(directory)
    if found is not None:
        print(found)
        return EXIT_OK
    try:
        resolved = resolve(directory)
    except CheckpointError as e:
        raise CliError(str(e)) from None
    print(resolved.store.url(resolved.prefix))
    print(f"tfckpt latest: note: {os.path.join(directory, STATE_FILENAME)} is missing or names no existing checkpoint; "
          f"this is the checkpoint tfckpt.open() uses (fix: tfckpt state {directory} --fix)", file=__import__("sys").stderr)
    return EXIT_OK
