"""Turning whatever the user passed into a checkpoint to open.

Accepted: a prefix (``run/model.ckpt-7``), its ``.index`` file, any of its
``.data-XXXXX-of-NNNNN`` shards, the ``checkpoint`` state file, a directory, or a V1
checkpoint file. A directory resolves through its state file; when that is missing or
names paths that no longer exist (a directory copied from another machine), the bundle
in the directory with the same base name wins, else the newest bundle there. A state file's path
that leads outside the directory is never followed. Paths are always taken literally,
never as glob patterns.

The same rules hold in every store (:mod:`tfckpt.storage`): a URL, or a path through a local
archive, resolves as a local path does. Two more forms: a SavedModel (its directory,
``saved_model.pb`` or a TF1 Hub module's ``tfhub_module.pb``) resolves to its
``variables/variables`` bundle, and an archive's root to the one checkpoint inside it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from .errors import InvalidArgumentError, NotFoundError
from .format._bundle import match_data_file
from .storage import Store, store_for
from .storage._inputs import require_regular
from .storage._local import LOCAL

if TYPE_CHECKING:
    from .storage._archive import ArchiveStore

__all__ = ["Resolved", "bundles_in", "resolve"]

#: :data:`tfckpt.state.STATE_FILENAME`, spelled here so resolving a prefix does not load that module.
_STATE_FILENAME = "checkpoint"
# Patterns, not compiled regexes: `re` compiles them on first use (see DATA_FILE_PATTERN).
_TEMP_PATTERN: Final = r"\.tempstate\d+$"
_STEP_PATTERN: Final = r"-(\d+)$"

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


def bundles_in(directory: str, store: Store = LOCAL) -> list[str]:
    """Prefixes of the V2 bundles in ``directory``, oldest first (index mtime, then step)."""
    found = []
    for name, mtime in store.listdir(directory):
        if name.endswith(".index") and not re.search(_TEMP_PATTERN, name):
            prefix = store.join(directory, name[: -len(".index")])
            step = re.search(_STEP_PATTERN, prefix)
            found.append((mtime, int(step.group(1)) if step else -1, prefix))
    return [p for _, _, p in sorted(found)]


def _from_directory(directory: str, store: Store) -> Resolved:
    if any(store.isfile(store.join(directory, marker)) for marker in SAVED_MODEL_FILES):
        return _from_saved_model(directory, store)
    from .state import STATE_FILENAME, locate_checkpoint, read_state_file

    state = read_state_file(store.join(directory, STATE_FILENAME), None if store is LOCAL else store.get)
    recorded = state.model_checkpoint_path if state is not None else ""
    # As recorded if inside the directory, else the same base name here (a moved directory)
    found = locate_checkpoint(directory, recorded, store=store) if recorded else None
    if found is not None:
        return _from_prefix(found, store)
    bundles = bundles_in(directory, store)
    if bundles:
        return Resolved(bundles[-1], store=store)
    if store is LOCAL:
        from .format._v1 import v1_checkpoints_in  # V1 files have no .index; they are found by their table magic

        v1 = v1_checkpoints_in(directory)
        if v1:
            return Resolved(*v1[-1])
    elif not directory.strip("/"):
        from .storage._archive import ArchiveStore

        if isinstance(store, ArchiveStore):
            return _from_archive_root(store)
    raise NotFoundError(
        f"{store.url(directory)}: no checkpoint found (no usable 'checkpoint' state file, no *.index files and no V1 checkpoint files)",
        name=store.url(directory),
    )


def _from_saved_model(directory: str, store: Store) -> Resolved:
    prefix = store.join(store.join(directory, "variables"), "variables")
    if store.isfile(prefix + ".index"):
        return Resolved(prefix, store=store, saved_model=directory)
    raise NotFoundError(
        f"{store.url(directory)} is a SavedModel without variables/variables.index (its weights, if any, are constants "
        "frozen into the graph, which tfckpt does not read)",
        name=store.url(directory),
    )


def _from_archive_root(store: ArchiveStore) -> Resolved:
    """The one checkpoint in an archive, wherever it sits; several: an error listing them."""
    places = set()
    for name in store.members():
        if name.endswith(".index") and not re.search(_TEMP_PATTERN, name):
            directory = store.dirname(name)
            if store.basename(directory) == "variables" and any(
                store.isfile(store.join(store.dirname(directory), m)) for m in SAVED_MODEL_FILES
            ):
                directory = store.dirname(directory)  # a SavedModel: report it as one
            places.add(directory)
    if len(places) == 1:
        return _from_directory(places.pop(), store)
    listing = ", ".join(store.url(p) for p in sorted(places))
    if places:
        raise InvalidArgumentError(f"{store.url('')} holds checkpoints in several directories; pass one of: {listing}")
    raise NotFoundError(f"{store.url('')}: no checkpoint (*.index) in the archive", name=store.url(""))


def _from_prefix(prefix: str, store: Store) -> Resolved:
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
        return _from_directory(p, store)
    if store is LOCAL:
        require_regular(p, "a checkpoint file")  # a FIFO or device named directly: say what it is
    base = store.basename(p)
    if base in SAVED_MODEL_FILES and store.isfile(p):
        return _from_saved_model(store.dirname(p), store)
    if base == _STATE_FILENAME and store.isfile(p):
        return _from_directory(store.dirname(p) or ("." if store is LOCAL else ""), store)
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
    if ".tempstate" in p and re.search(_TEMP_PATTERN, p):
        raise InvalidArgumentError(f"{store.url(p)} is a temporary file of an unfinished save, not a checkpoint")
    if p.endswith(".meta") and store.isfile(p):
        prefix = p[: -len(".meta")]
        from .state import checkpoint_exists

        hint = f"; pass the prefix instead: {store.url(prefix)}" if checkpoint_exists(prefix, store.isfile) else ""
        raise InvalidArgumentError(f"{store.url(p)} is a MetaGraphDef (graph), not a checkpoint{hint}")
    if store.isfile(p + ".index") or not store.isfile(p):
        return _from_prefix(p, store)
    return Resolved(p, (p,), store=store)  # an existing plain file: a V1 checkpoint, checked when opened
