"""Turning whatever the user passed into a checkpoint to open.

Accepted: a prefix (``run/model.ckpt-7``), its ``.index`` file, any of its
``.data-XXXXX-of-NNNNN`` shards, the ``checkpoint`` state file, a directory, or a V1
checkpoint file. A directory resolves through its state file; when that is missing or
names paths that no longer exist (a directory copied from another machine), the bundle
in the directory with the same base name wins, else the newest bundle there. A state file's path
that leads outside the directory is never followed. Paths are always taken literally,
never as glob patterns. Directories, SavedModels and archive roots are resolved in
:mod:`._paths_dirs`, loaded on first use.

The same rules hold in every store (:mod:`tfckpt.storage`): a URL, or a path through a local
archive, resolves as a local path does. Two more forms: a SavedModel (its directory,
``saved_model.pb`` or a TF1 Hub module's ``tfhub_module.pb``) resolves to its
``variables/variables`` bundle, and an archive's root to the one checkpoint inside it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any, Final

from .errors import InvalidArgumentError, NotFoundError
from .format._bundle import match_data_file
from .storage import Store, store_for
from .storage._inputs import require_regular
from .storage._local import LOCAL

__all__ = ["Resolved", "resolve", "resolve_in"]

#: :data:`tfckpt.state.STATE_FILENAME`, spelled here so resolving a prefix does not load that module.
_STATE_FILENAME = "checkpoint"
# Patterns, not compiled regexes: `re` compiles them on first use (see DATA_FILE_PATTERN).
TEMP_PATTERN: Final = r"\.tempstate\d+$"

#: Files that mark a SavedModel directory (TF2, text form, TF1 Hub module); its weights are
#: the bundle ``variables/variables``.
SAVED_MODEL_FILES: Final = ("saved_model.pb", "saved_model.pbtxt", "tfhub_module.pb")


class Resolved:
    """A resolved checkpoint: ``prefix`` and, for V1 checkpoints, the files that hold it.

    Paths are ``store``'s; ``saved_model`` is the SavedModel directory when the bundle is
    a SavedModel's variables; ``index`` the index's bytes, when resolving already fetched
    them. A plain class: a dataclass would cost ~1 ms of ``import tfckpt``.
    """

    __slots__ = ("index", "prefix", "saved_model", "store", "v1_files")

    def __init__(
        self,
        prefix: str,
        v1_files: tuple[str, ...] = (),
        store: Store = LOCAL,
        saved_model: str | None = None,
        index: bytes | None = None,
    ) -> None:
        self.prefix = prefix
        self.v1_files = v1_files
        self.store = store
        self.saved_model = saved_model
        self.index = index

    def __repr__(self) -> str:
        return f"Resolved(prefix={self.prefix!r}, v1_files={self.v1_files!r}, saved_model={self.saved_model!r})"

    @property
    def is_v1(self) -> bool:
        return bool(self.v1_files)


def from_prefix(prefix: str, store: Store) -> Resolved:
    if store.isfile(prefix + ".index"):
        return Resolved(prefix, store=store)
    from .state import v1_shard_files  # the state module loads only off the common path

    shards = v1_shard_files(prefix)
    if shards is not None and all(store.isfile(f) for f in shards):
        return Resolved(prefix, tuple(shards), store=store)
    if store.isfile(prefix):
        return Resolved(prefix, (prefix,), store=store)
    raise NotFoundError(
        f"{store.url(prefix)}: no checkpoint found (neither {store.basename(prefix)}.index nor a V1 checkpoint file exists)",
        name=store.url(prefix),
    )


def resolve(path: str | os.PathLike[str], storage_options: Mapping[str, Any] | None = None) -> Resolved:
    """Resolve a user-supplied path or URL; raises NotFoundError or InvalidArgumentError."""
    if not isinstance(path, (str, os.PathLike)):
        raise InvalidArgumentError(
            f"expected a path or URL, got a {type(path).__name__}: a checkpoint is several files (an .index file "
            "and .data-* shards), so pass their prefix, directory or URL"
        )
    p = os.fspath(path)
    if not isinstance(p, str):
        p = os.fsdecode(p)
    store, inner = store_for(p, storage_options)
    try:
        return resolve_in(store, inner)
    except BaseException:
        store.close()
        raise


def resolve_in(store: Store, p: str) -> Resolved:
    """:func:`resolve` for the path ``p`` inside ``store``."""
    if store is not LOCAL and p.strip("/") and not p.endswith("/"):
        # A prefix or .index URL: fetch the index at once, the one request opening needs
        # anyway (probing, listing a bucket or a HEAD first would each cost a round trip).
        prefix = p.removesuffix(".index")
        try:
            return Resolved(prefix, store=store, index=store.get(prefix + ".index"))
        except FileNotFoundError:
            pass
    if store.isdir(p):
        from ._paths_dirs import from_directory

        return from_directory(p, store)
    if store is LOCAL:
        require_regular(p, "a checkpoint file")  # a FIFO or device named directly: say what it is
    base = store.basename(p)
    if base in SAVED_MODEL_FILES and store.isfile(p):
        from ._paths_dirs import from_saved_model

        return from_saved_model(store.dirname(p), store)
    if base == _STATE_FILENAME and store.isfile(p):
        from ._paths_dirs import from_directory

        return from_directory(store.dirname(p) or ("." if store is LOCAL else ""), store)
    if p.endswith(".index") and store.isfile(p):
        return Resolved(p[: -len(".index")], store=store)
    m = match_data_file(p)
    if m and store.isfile(m.group("prefix") + ".index"):
        if not store.isfile(p):
            raise NotFoundError(f"{store.url(p)} does not exist; the checkpoint's prefix is {store.url(m.group('prefix'))}", name=p)
        return Resolved(m.group("prefix"), store=store)
    if m:
        raise NotFoundError(
            f"{store.url(p)} is a data shard but its index {store.url(m.group('prefix'))}.index is missing; "
            "a checkpoint cannot be read without it",
            name=p,
        )
    if ".tempstate" in p and re.search(TEMP_PATTERN, p):
        raise InvalidArgumentError(f"{store.url(p)} is a temporary file of an unfinished save, not a checkpoint")
    if p.endswith(".meta") and store.isfile(p):
        prefix = p[: -len(".meta")]
        from .state import checkpoint_exists

        hint = f"; pass the prefix instead: {store.url(prefix)}" if checkpoint_exists(prefix, store.isfile) else ""
        raise InvalidArgumentError(f"{store.url(p)} is a MetaGraphDef (graph), not a checkpoint{hint}")
    if store.isfile(p + ".index") or not store.isfile(p):
        return from_prefix(p, store)
    return Resolved(p, (p,), store=store)  # an existing plain file: a V1 checkpoint, checked when opened
