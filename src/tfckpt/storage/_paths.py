"""Turning whatever the user passed into a checkpoint to open.

Accepted: a prefix (``run/model.ckpt-7``), its ``.index`` file, any of its
``.data-XXXXX-of-NNNNN`` shards, the ``checkpoint`` state file, a directory, or a V1
checkpoint file. A directory resolves through its state file; when that is missing or
names paths that no longer exist (a directory copied from another machine), the bundle
in the directory with the same base name wins, else the newest bundle there. A state file's path
that leads outside the directory is never followed. Paths are always taken literally,
never as glob patterns.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass

from ..errors import InvalidArgumentError, NotFoundError
from ..format._bundle import DATA_FILE_RE
from ..state import STATE_FILENAME, checkpoint_exists, locate_checkpoint, read_state_file, v1_shard_files
from ._inputs import require_regular

__all__ = ["Resolved", "bundles_in", "resolve"]

_TEMP_RE = re.compile(r"\.tempstate\d+$")
_STEP_RE = re.compile(r"-(\d+)$")


@dataclass(frozen=True)
class Resolved:
    """A resolved checkpoint: ``prefix`` and, for V1 checkpoints, the files that hold it."""

    prefix: str
    v1_files: tuple[str, ...] = ()

    @property
    def is_v1(self) -> bool:
        return bool(self.v1_files)


def bundles_in(directory: str) -> list[str]:
    """Prefixes of the V2 bundles in ``directory``, oldest first (index mtime, then step)."""
    found = []
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    for name in names:
        if name.endswith(".index") and not _TEMP_RE.search(name):
            prefix = os.path.join(directory, name[: -len(".index")])
            try:
                st = os.stat(prefix + ".index")
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue  # a FIFO or device named *.index is no bundle
            mtime = st.st_mtime
            step = _STEP_RE.search(prefix)
            found.append((mtime, int(step.group(1)) if step else -1, prefix))
    return [p for _, _, p in sorted(found)]


def _from_directory(directory: str) -> Resolved:
    state = read_state_file(os.path.join(directory, STATE_FILENAME))
    recorded = state.model_checkpoint_path if state is not None else ""
    # As recorded if inside the directory, else the same base name here (a moved directory)
    found = locate_checkpoint(directory, recorded) if recorded else None
    if found is not None:
        return _from_prefix(found)
    bundles = bundles_in(directory)
    if bundles:
        return Resolved(bundles[-1])
    from ..format._v1 import v1_checkpoints_in  # V1 files have no .index; they are found by their table magic

    v1 = v1_checkpoints_in(directory)
    if v1:
        return Resolved(*v1[-1])
    raise NotFoundError(
        f"{directory}: no checkpoint found (no usable 'checkpoint' state file, no *.index files and no V1 checkpoint files)",
        name=directory,
    )


def _from_prefix(prefix: str) -> Resolved:
    if os.path.isfile(prefix + ".index"):
        return Resolved(prefix)
    shards = v1_shard_files(prefix)
    if shards is not None and all(os.path.isfile(f) for f in shards):
        return Resolved(prefix, tuple(shards))
    if os.path.isfile(prefix):
        return Resolved(prefix, (prefix,))
    raise NotFoundError(f"{prefix}: no checkpoint found (neither {os.path.basename(prefix)}.index nor a V1 checkpoint file exists)", name=prefix)


def resolve(path: str | os.PathLike[str]) -> Resolved:
    """Resolve a user-supplied path; raises NotFoundError or InvalidArgumentError."""
    p = os.fspath(path)
    if os.path.isdir(p):
        return _from_directory(p)
    require_regular(p, "a checkpoint file")  # a FIFO or device named directly: say what it is
    base = os.path.basename(p)
    if base == STATE_FILENAME and os.path.isfile(p):
        return _from_directory(os.path.dirname(p) or ".")
    if p.endswith(".index") and os.path.isfile(p):
        return Resolved(p[: -len(".index")])
    m = DATA_FILE_RE.match(p)
    if m and os.path.isfile(m.group("prefix") + ".index"):
        if not os.path.isfile(p):
            raise NotFoundError(f"{p} does not exist; the checkpoint's prefix is {m.group('prefix')}", name=p)
        return Resolved(m.group("prefix"))
    if m:
        raise NotFoundError(
            f"{p} is a data shard but its index {m.group('prefix')}.index is missing; a checkpoint cannot be read without it",
            name=p,
        )
    if _TEMP_RE.search(p):
        raise InvalidArgumentError(f"{p} is a temporary file of an unfinished save, not a checkpoint")
    if p.endswith(".meta") and os.path.isfile(p):
        prefix = p[: -len(".meta")]
        hint = f"; pass the prefix instead: {prefix}" if checkpoint_exists(prefix) else ""
        raise InvalidArgumentError(f"{p} is a MetaGraphDef (graph), not a checkpoint{hint}")
    if os.path.isfile(p + ".index") or not os.path.isfile(p):
        return _from_prefix(p)
    return Resolved(p, (p,))  # an existing plain file: a V1 checkpoint, checked when opened
