"""The ``checkpoint`` state file: which checkpoints a directory holds and which is latest.

The file is a ``CheckpointState`` message in protobuf text format
(``checkpoint_management.py``)::

    model_checkpoint_path: "ckpt-3"
    all_model_checkpoint_paths: "ckpt-2"        # oldest first; the last equals the first field
    all_model_checkpoint_paths: "ckpt-3"
    all_model_checkpoint_timestamps: 1795345781.0654757   # optional, one per path
    last_preserved_timestamp: 1795345780.0187926          # omitted when 0

TF2 and ``CheckpointManager`` write paths relative to the directory; TF1's ``Saver`` writes
them as given (usually absolute). Readers join relative paths onto the directory they were
asked about. These functions follow TensorFlow's semantics, with deliberate differences:

* existence checks take paths literally rather than as glob patterns, so a directory
  named ``run[1]`` works;
* the file is data, not instructions: a path in it that resolves outside the directory
  (``../other/ckpt``, an absolute path elsewhere, a symlinked subdirectory) is not followed
  (:func:`locate_checkpoint`, :func:`within`); the same base name inside the directory is
  used instead, which is also how a directory copied from another machine, whose state
  file names that machine's absolute paths, keeps working;
* the file must be a regular file of at most :data:`MAX_STATE_FILE_BYTES`.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from .errors import InvalidArgumentError
from .storage import Store, is_url, store_for
from .storage._atomic import replacing
from .storage._inputs import read_regular
from .storage._local import LOCAL

if TYPE_CHECKING:
    import logging

    from .proto.checkpoint_state_pb2 import CheckpointState  # type: ignore[attr-defined, unused-ignore]

__all__ = ["CheckpointState", "checkpoint_exists", "get_checkpoint_state", "latest_checkpoint", "update_checkpoint_state"]



def _log() -> logging.Logger:
    """The "tfckpt" logger; logging (and the threading it imports) loads on the first warning."""
    import logging

    return logging.getLogger("tfckpt")


def _checkpoint_state(**fields: Any) -> CheckpointState:
    """A new ``CheckpointState``: the protobuf modules load on first use (reading a
    checkpoint by its prefix never needs them)."""
    from .proto.checkpoint_state_pb2 import CheckpointState  # type: ignore[attr-defined, unused-ignore]

    return CheckpointState(**fields)


def __getattr__(name: str) -> object:  # ``tfckpt.state.CheckpointState``, imported on first use
    if name == "CheckpointState":
        from .proto.checkpoint_state_pb2 import CheckpointState  # type: ignore[attr-defined, unused-ignore]

        return CheckpointState
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

#: ``checkpoint_management._GetCheckpointFilename`` default.
STATE_FILENAME = "checkpoint"
#: Largest state file read: TF writes about 100 bytes per checkpoint, so 4 MiB holds ~40,000.
MAX_STATE_FILE_BYTES: Final = 4 << 20
_V1_SHARDED_PATTERN = re.compile(r"^(?P<base>.*)-\?{5}-of-(?P<count>\d{5})$")


def _url_store(directory: str, storage_options: Mapping[str, Any] | None) -> Store | None:
    """The fsspec store of a URL directory (whose methods take the URL's paths), else None."""
    if not is_url(directory):
        return None
    store, _ = store_for(directory, storage_options)
    return None if store is LOCAL else store


def _state_path(checkpoint_dir: str | os.PathLike[str], latest_filename: str | None) -> str:
    return os.path.join(os.fspath(checkpoint_dir), latest_filename or STATE_FILENAME)


def v1_shard_files(prefix: str) -> list[str] | None:
    """The files of a V1 checkpoint recorded as ``<base>-?????-of-NNNNN``, without globbing."""
    m = _V1_SHARDED_PATTERN.match(prefix)
    if not m:
        return None
    count = int(m.group("count"))
    return [f"{m.group('base')}-{i:05d}-of-{count:05d}" for i in range(count)]


def checkpoint_exists(prefix: str, isfile: Callable[[str], bool] = os.path.isfile) -> bool:
    """True if ``prefix`` names a V2 bundle (``prefix.index``) or a V1 checkpoint file(s).

    ``isfile`` answers for another store (:meth:`tfckpt.storage.Store.isfile`).
    """
    if isfile(prefix + ".index"):
        return True
    shards = v1_shard_files(prefix)
    if shards is not None:
        return all(isfile(f) for f in shards)
    return isfile(prefix)


def within(path: str, directory: str, store: Store | None = None) -> bool:
    """True if the files of checkpoint ``path`` are in ``directory`` or below it.

    Symlinks and ``..`` are resolved first: ``run/link/ckpt-1`` with ``run/link`` pointing
    elsewhere is outside ``run``. A prefix's files are ``<prefix>.index`` and so on, so
    what counts is the directory that holds them. In another ``store`` (an object store:
    no symlinks) ``..`` is resolved textually.
    """
    if store is not None and store is not LOCAL:
        home = posixpath.normpath("/" + directory)
        parent = posixpath.normpath("/" + store.dirname(path))
        return parent == home or parent.startswith(home.rstrip("/") + "/")
    home = os.path.realpath(directory or ".")
    parent = os.path.realpath(os.path.dirname(path) or ".")
    return parent == home or parent.startswith(home.rstrip(os.sep) + os.sep)


def locate_checkpoint(directory: str, recorded: str, *, moved: bool = True, store: Store = LOCAL) -> str | None:
    """Where the checkpoint ``recorded`` in ``directory``'s state file is, or None.

    As recorded (relative paths joined onto ``directory``) if that is inside ``directory``
    and exists; else, with ``moved``, the same base name in ``directory`` (a directory
    moved or copied from another machine). A recorded path that leads outside
    ``directory`` is never used; when it is not simply another machine's absolute path, a
    warning says so. ``directory`` and the result are paths in ``store``; outside the local
    file system a path outside the directory is not even probed (it may be another
    bucket), so only a relative one is warned about.
    """
    isfile = os.path.isfile if store is LOCAL else store.isfile
    candidate = recorded if store.isabs(recorded) else store.join(directory, recorded)
    if within(candidate, directory, store):
        if checkpoint_exists(candidate, isfile):
            return candidate
    elif not store.isabs(recorded) or (store is LOCAL and checkpoint_exists(candidate)):
        _log().warning("%s: ignoring %r from the state file: it is outside the directory", directory, recorded)
    if not moved:
        return None
    here = store.join(directory, store.basename(recorded))
    return here if checkpoint_exists(here, isfile) else None


def read_state_file(path: str, get: Callable[[str], bytes] | None = None) -> CheckpointState | None:
    """Parse a state file; None if it is absent, unreadable or unparsable (as TF).

    ``get`` reads it from another store (:meth:`tfckpt.storage.Store.get`).

    Raises
    ------
    InvalidArgumentError
        ``path`` is not a regular file (a FIFO, a device such as ``/dev/zero``) or is
        larger than :data:`MAX_STATE_FILE_BYTES`.
    """
    try:
        raw = get(path) if get is not None else read_regular(path, "a checkpoint state file", max_size=MAX_STATE_FILE_BYTES)
        text = raw.decode("utf-8", "surrogateescape")
    except OSError:
        return None
    from google.protobuf import text_format

    state = _checkpoint_state()
    try:
        text_format.Merge(text, state)
    except text_format.ParseError as e:
        _log().warning("%s: unparsable checkpoint state file: %s", path, e)
        return None
    return state


def _recorded_state(directory: str, latest_filename: str | None, remote: Store | None = None) -> CheckpointState | None:
    """The state file of ``directory`` with its paths as recorded (None if absent or unusable)."""
    state = read_state_file(_state_path(directory, latest_filename), None if remote is None else remote.get)
    if state is not None and not state.model_checkpoint_path:
        raise ValueError(f"Invalid checkpoint state loaded from {directory}")
    return state


def get_checkpoint_state(
    checkpoint_dir: str | os.PathLike[str], latest_filename: str | None = None, *, storage_options: Mapping[str, Any] | None = None
) -> CheckpointState | None:
    """Read the state file of ``checkpoint_dir``, as ``tf.train.get_checkpoint_state``.

    Returns None when the file is absent, unreadable or unparsable. Relative paths are joined
    onto ``checkpoint_dir``; absolute ones are kept as they are (even if they no longer exist).
    ``checkpoint_dir`` may be a URL (``s3://bucket/run``; fsspec's ``storage_options``).

    Raises
    ------
    ValueError
        If the file exists but names no ``model_checkpoint_path`` (as TensorFlow).

    Examples
    --------
    >>> state = tfckpt.get_checkpoint_state("runs/1")          # doctest: +SKIP
    >>> state.model_checkpoint_path                            # doctest: +SKIP
    'runs/1/ckpt-3'
    """
    directory = os.fspath(checkpoint_dir)
    state = _recorded_state(directory, latest_filename, _url_store(directory, storage_options))
    if state is None:
        return None
    if not os.path.isabs(state.model_checkpoint_path):
        state.model_checkpoint_path = os.path.join(directory, state.model_checkpoint_path)
    for i, p in enumerate(state.all_model_checkpoint_paths):
        if not os.path.isabs(p):
            state.all_model_checkpoint_paths[i] = os.path.join(directory, p)
    return state


def latest_checkpoint(checkpoint_dir: str | os.PathLike[str], latest_filename: str | None = None) -> str | None:
    """The prefix of the latest checkpoint in ``checkpoint_dir``, as ``tf.train.latest_checkpoint``.

    None when there is no state file or the checkpoint it names does not exist, and (unlike
    TensorFlow) when the recorded path leads outside ``checkpoint_dir``. (Use :func:`tfckpt.open` on the
    directory to also find checkpoints whose state file is missing or stale.)

    Raises
    ------
    InvalidArgumentError
        The state file is not a regular file or too large (see :func:`read_state_file`).
    """
    directory = os.fspath(checkpoint_dir)
    remote = _url_store(directory, None)
    state = _recorded_state(directory, latest_filename, remote)
    if state is None:
        return None
    found = locate_checkpoint(directory, str(state.model_checkpoint_path), moved=False, store=remote or LOCAL)
    if found is not None:
        return found
    _log().error("Couldn't match files for checkpoint %s", state.model_checkpoint_path)
    return None


def _stored_path(path: str, directory: str, relative: bool) -> str:
    """How TF records a path (``update_checkpoint_state_internal`` + ``generate_checkpoint_state_proto``).

    TF makes an absolute path relative (when ``relative``) and *then* rewrites every
    relative path against a relative directory, so with a relative ``directory`` and an
    absolute path it applies ``relpath`` twice and records ``../ckpt-1`` for ``runs/ckpt-1``
    (a path that resolves to the wrong file). Here each path is made relative once.
    """
    if relative and os.path.isabs(path):
        return os.path.relpath(path, directory)
    if not os.path.isabs(directory) and not os.path.isabs(path):
        return os.path.relpath(path, directory)  # both relative to the cwd
    return path


def format_state(state: CheckpointState) -> str:
    """The text TF 2.21 writes for ``state`` (``text_format.MessageToString``).

    ``as_utf8`` keeps non-ASCII paths as raw UTF-8 on every protobuf runtime: newer runtimes
    do so by default (and so TF 2.21's output), older ones (4.x) would escape them as octal.
    """
    from google.protobuf import text_format

    return text_format.MessageToString(state, as_utf8=True)  # type: ignore[no-any-return]


def atomic_write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and an atomic rename."""
    with replacing(path) as temp, open(temp, "w", encoding="utf-8", errors="surrogateescape") as f:
        f.write(text)


def update_checkpoint_state(
    save_dir: str | os.PathLike[str],
    model_checkpoint_path: str,
    all_model_checkpoint_paths: Sequence[str] | None = None,
    latest_filename: str | None = None,
    all_model_checkpoint_timestamps: Sequence[float] | None = None,
    last_preserved_timestamp: float | None = None,
    *,
    save_relative_paths: bool = True,
    storage_options: Mapping[str, Any] | None = None,
) -> None:
    """Write the state file of ``save_dir`` atomically, as ``tf.train.update_checkpoint_state``.

    ``save_dir`` may be a URL (``s3://bucket/run``; fsspec's ``storage_options``): the state
    object is replaced by one PUT.

    Paths are stored relative to ``save_dir`` (TF2's and ``CheckpointManager``'s behaviour;
    pass ``save_relative_paths=False`` for TF1 ``Saver``'s). ``model_checkpoint_path`` is
    appended to ``all_model_checkpoint_paths`` if it is not its last element.

    The text is byte-identical to TensorFlow's for the same arguments (TF 2.21's
    ``tf.__internal__.train.update_checkpoint_state`` with ``save_relative_paths=True``, or
    ``tf.compat.v1.train.update_checkpoint_state`` with ``save_relative_paths=False``), except
    for an absolute path under a relative ``save_dir`` with relative paths, which TF records
    wrongly (see :func:`_stored_path`).

    Raises
    ------
    ValueError
        If ``all_model_checkpoint_timestamps`` is given with a different length than the
        paths, or a path is empty.
    InvalidArgumentError
        If the checkpoint path would be the state file itself (TF raises ``RuntimeError``).

    Examples
    --------
    >>> tfckpt.update_checkpoint_state("runs/1", "runs/1/ckpt-2", ["runs/1/ckpt-1", "runs/1/ckpt-2"])  # doctest: +SKIP
    >>> print(open("runs/1/checkpoint").read())                                                    # doctest: +SKIP
    model_checkpoint_path: "ckpt-2"
    all_model_checkpoint_paths: "ckpt-1"
    all_model_checkpoint_paths: "ckpt-2"
    """
    directory = os.fspath(save_dir)
    paths = list(all_model_checkpoint_paths or [])
    if not model_checkpoint_path:
        raise ValueError("model_checkpoint_path must not be empty")
    if not paths or paths[-1] != model_checkpoint_path:
        paths.append(model_checkpoint_path)
    timestamps = list(all_model_checkpoint_timestamps or [])
    if timestamps and len(timestamps) != len(paths):
        raise ValueError(
            f"Checkpoint timestamps, if provided, must match checkpoint paths (got {len(timestamps)} timestamps "
            f"for {len(paths)} paths)"
        )
    model_checkpoint_path = _stored_path(model_checkpoint_path, directory, save_relative_paths)
    paths = [_stored_path(p, directory, save_relative_paths) for p in paths]
    state = _checkpoint_state(
        model_checkpoint_path=model_checkpoint_path,
        all_model_checkpoint_paths=paths,
        all_model_checkpoint_timestamps=timestamps,
        last_preserved_timestamp=last_preserved_timestamp or 0.0,
    )
    state_path = _state_path(directory, latest_filename)
    if state_path == model_checkpoint_path:
        raise InvalidArgumentError(
            f"Save path {model_checkpoint_path!r} conflicts with path used for checkpoint state. Please use a different save path."
        )
    remote = _url_store(directory, storage_options)
    if remote is not None:
        remote.put(state_path, format_state(state).encode("utf-8", "surrogateescape"))
        return
    os.makedirs(directory or ".", exist_ok=True)
    atomic_write_text(state_path, format_state(state))
