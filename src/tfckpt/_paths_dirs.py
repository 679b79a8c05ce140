"""Resolving the rarer forms of a checkpoint path: a directory, a SavedModel, an archive's root.

Loaded on first use by :func:`tfckpt._paths.resolve_in` (opening a prefix, an ``.index``
or a data shard never imports it). A directory resolves through its ``checkpoint`` state
file; when that is missing or names paths that no longer exist (a directory copied from
another machine), the bundle in the directory with the same base name wins, else the
newest bundle there, else (local directories) the newest V1 checkpoint. A state file's
path that leads outside the directory is never followed. A SavedModel (its directory,
``saved_model.pb`` or a TF1 Hub module's ``tfhub_module.pb``) resolves to its
``variables/variables`` bundle, and an archive's root to the one checkpoint inside it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final

from ._paths import SAVED_MODEL_FILES, TEMP_PATTERN, Resolved, from_prefix
from .errors import InvalidArgumentError, NotFoundError
from .storage import Store
from .storage._local import LOCAL

if TYPE_CHECKING:
    from .storage._archive import ArchiveStore

__all__ = ["bundles_in", "from_directory", "from_saved_model"]

_STEP_PATTERN: Final = r"-(\d+)$"


def bundles_in(directory: str, store: Store = LOCAL) -> list[str]:
    """Prefixes of the V2 bundles in ``directory``, oldest first (index mtime, then step)."""
    found = []
    for name, mtime in store.listdir(directory):
        if name.endswith(".index") and not re.search(TEMP_PATTERN, name):
            prefix = store.join(directory, name[: -len(".index")])
            step = re.search(_STEP_PATTERN, prefix)
            found.append((mtime, int(step.group(1)) if step else -1, prefix))
    return [p for _, _, p in sorted(found)]


def from_directory(directory: str, store: Store) -> Resolved:
    if any(store.isfile(store.join(directory, marker)) for marker in SAVED_MODEL_FILES):
        return from_saved_model(directory, store)
    from .state import STATE_FILENAME, locate_checkpoint, read_state_file

    state = read_state_file(store.join(directory, STATE_FILENAME), None if store is LOCAL else store.get)
    recorded = state.model_checkpoint_path if state is not None else ""
    # As recorded if inside the directory, else the same base name here (a moved directory)
    found = locate_checkpoint(directory, recorded, store=store) if recorded else None
    if found is not None:
        return from_prefix(found, store)
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
            return from_archive_root(store)
    raise NotFoundError(
        f"{store.url(directory)}: no checkpoint found (no usable 'checkpoint' state file, no *.index files and no V1 checkpoint files)",
        name=store.url(directory),
    )


def from_saved_model(directory: str, store: Store) -> Resolved:
    prefix = store.join(store.join(directory, "variables"), "variables")
    if store.isfile(prefix + ".index"):
        return Resolved(prefix, store=store, saved_model=directory)
    raise NotFoundError(
        f"{store.url(directory)} is a SavedModel without variables/variables.index (its weights, if any, are constants "
        "frozen into the graph, which tfckpt does not read)",
        name=store.url(directory),
    )


def from_archive_root(store: ArchiveStore) -> Resolved:
    """The one checkpoint in an archive, wherever it sits; several: an error listing them."""
    places = set()
    for name in store.members():
        if name.endswith(".index") and not re.search(TEMP_PATTERN, name):
            directory = store.dirname(name)
            if store.basename(directory) == "variables" and any(
                store.isfile(store.join(store.dirname(directory), m)) for m in SAVED_MODEL_FILES
            ):
                directory = store.dirname(directory)  # a SavedModel: report it as one
            places.add(directory)
    if len(places) == 1:
        return from_directory(places.pop(), store)
    listing = ", ".join(store.url(p) for p in sorted(places))
    if places:
        raise InvalidArgumentError(f"{store.url('')} holds checkpoints in several directories; pass one of: {listing}")
    raise NotFoundError(f"{store.url('')}: no checkpoint (*.index) in the archive", name=store.url(""))
