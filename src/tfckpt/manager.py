"""A directory of numbered checkpoints kept the way ``tf.train.CheckpointManager`` keeps it.

Layout of a managed directory (``checkpoint_name="ckpt"``)::

    checkpoint                          # state file, see :mod:`tfckpt.state`
    ckpt-3.index  ckpt-3.data-00000-of-00001
    ckpt-4.index  ckpt-4.data-00000-of-00001

The state file lists the *active set* (``all_model_checkpoint_paths``, oldest first, with one
``all_model_checkpoint_timestamps`` entry each) and ``last_preserved_timestamp``. This module
reproduces ``checkpoint_management.CheckpointManager`` (TF 2.21) step for step, so either
manager can continue in a directory the other wrote:

* ``__init__``: read the state file; a path whose (clamped) timestamp is not newer than
  ``last_preserved_timestamp`` was preserved and is no longer managed. Without a state file
  ``last_preserved_timestamp`` starts one second in the past.
* ``save``: write ``<directory>/<name>-N``; move it to the newest end of the active set with
  ``time.time()``; write the state; sweep; write the state again.
* sweep: while the active set exceeds ``max_to_keep``, pop the oldest. It is *preserved*
  (kept on disk, dropped from the state) if ``keep_checkpoint_every_n_hours`` is set and its
  timestamp is at least that many hours after ``last_preserved_timestamp`` (which then moves
  to it); otherwise its ``.index`` and then all its ``.data-?????-of-?????`` shards are
  deleted. A path from the state file that resolves outside the directory is never taken
  into the active set (nor deleted): it is ignored with a warning, except that another
  machine's absolute path finds the checkpoint of the same base name here.

Numbering is the other deliberate difference: TF numbers from the ``save_counter`` variable of
the ``tf.train.Checkpoint`` object; there is no such object here, so ``N`` continues after
the highest number found in the directory (files and state) when the manager was created.
"""

from __future__ import annotations

import collections
import logging
import operator
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .errors import InvalidArgumentError
from .state import _url_store, get_checkpoint_state, locate_checkpoint, update_checkpoint_state, within
from .writer import save as _save

__all__ = ["CheckpointManager", "delete_checkpoint"]

log = logging.getLogger("tfckpt")

#: ``_delete_file_if_exists(prefix + ".data-?????-of-?????")``: ``?`` is any one character.
_DATA_SUFFIX_RE = re.compile(r"\.data-.{5}-of-.{5}$", re.DOTALL)
_SECONDS_PER_HOUR = 3600.0


def delete_checkpoint(prefix: str, storage_options: Mapping[str, Any] | None = None) -> None:
    """Delete ``prefix.index`` and then every ``prefix.data-?????-of-?????`` shard.

    The index goes first, so the checkpoint disappears for readers at once. Files that are
    already gone are skipped (another process may be deleting too, as TF tolerates).
    The shard pattern is matched literally on the prefix, not as a glob. ``prefix`` may be
    a URL (objects deleted through fsspec).
    """
    remote = _url_store(prefix, storage_options)
    if remote is not None:
        directory, base = remote.dirname(prefix), remote.basename(prefix)
        remote.delete(prefix + ".index")
        for name in sorted(n for n, _ in remote.listdir(directory)):
            if name.startswith(base) and _DATA_SUFFIX_RE.fullmatch(name[len(base) :]):
                remote.delete(remote.join(directory, name))
        return
    _unlink_if_exists(prefix + ".index")
    directory, base = os.path.split(prefix)
    try:
        names = os.listdir(directory or ".")
    except FileNotFoundError:
        return
    for name in sorted(names):
        if name.startswith(base) and _DATA_SUFFIX_RE.fullmatch(name[len(base) :]):
            _unlink_if_exists(os.path.join(directory, name))


def _unlink_if_exists(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        log.warning("%s was already deleted, possibly by another process", path)


class CheckpointManager:
    """Writes numbered checkpoints into ``directory`` and keeps only the newest few.

    A drop-in for ``tf.train.CheckpointManager`` without the ``tf.train.Checkpoint``
    object: :meth:`save` takes the tensors to write (name-based, as :func:`tfckpt.save`).
    The state file it keeps is the one TensorFlow writes, so ``tf.train.latest_checkpoint``,
    ``tf.train.CheckpointManager`` and this class can all take over a directory any of them
    managed. Only one manager should be active in a directory at a time.

    Parameters
    ----------
    directory : str or PathLike
        Where checkpoints and the ``checkpoint`` state file go (created on first save).
    max_to_keep : int or None
        Size of the active set; older checkpoints are deleted (or preserved, see below)
        after each save. None keeps everything.
    keep_checkpoint_every_n_hours : float, optional
        A checkpoint leaving the active set is kept for good if it is at least this many
        hours newer than the last one kept this way. Preserved checkpoints are never
        deleted by any manager and no longer appear in :attr:`checkpoints`.
    checkpoint_name : str
        Checkpoints are ``<directory>/<checkpoint_name>-<N>``.

    Raises
    ------
    InvalidArgumentError
        ``max_to_keep`` is not None or a positive integer, or ``checkpoint_name`` is empty.
    ValueError
        The existing state file names no ``model_checkpoint_path`` (as TensorFlow).

    Examples
    --------
    >>> manager = tfckpt.CheckpointManager("runs/1", max_to_keep=3)   # doctest: +SKIP
    >>> manager.save({"w": np.zeros((2, 2), np.float32)})             # doctest: +SKIP
    'runs/1/ckpt-1'
    >>> manager.latest_checkpoint, manager.checkpoints                 # doctest: +SKIP
    ('runs/1/ckpt-1', ['runs/1/ckpt-1'])
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        max_to_keep: int | None = 5,
        keep_checkpoint_every_n_hours: float | None = None,
        checkpoint_name: str = "ckpt",
        *,
        storage_options: Mapping[str, Any] | None = None,
    ) -> None:
        if max_to_keep is not None and (isinstance(max_to_keep, bool) or not isinstance(max_to_keep, int) or max_to_keep <= 0):
            raise InvalidArgumentError(f"Expected a positive integer or None for max_to_keep, got {max_to_keep!r}")
        if not isinstance(checkpoint_name, str) or not checkpoint_name:
            raise InvalidArgumentError(f"checkpoint_name must be a non-empty string, got {checkpoint_name!r}")
        self._max_to_keep = max_to_keep
        self._keep_checkpoint_every_n_hours = keep_checkpoint_every_n_hours
        self._directory = os.fspath(directory)
        if self._directory.startswith("file://") and "::" not in self._directory:
            self._directory = self._directory[len("file://") :]  # a local directory, managed as one
        self._checkpoint_name = checkpoint_name
        self._storage_options = storage_options  # for a URL directory (s3://, gs://, ...)
        self._prefix = os.path.join(self._directory, checkpoint_name)
        self._maybe_delete: collections.OrderedDict[str, float] = collections.OrderedDict()
        self._latest_checkpoint: str | None = None

        recovered = get_checkpoint_state(self._directory, storage_options=storage_options)
        current_clock = time.time()
        if recovered is None:
            self._last_preserved_timestamp = current_clock - 1.0
        else:
            self._latest_checkpoint = self._own_path(str(recovered.model_checkpoint_path))
            self._last_preserved_timestamp = float(recovered.last_preserved_timestamp)
            if current_clock < self._last_preserved_timestamp:
                log.warning(
                    "time.time() returned a value %f seconds behind the last preserved checkpoint timestamp.",
                    self._last_preserved_timestamp - current_clock,
                )
                self._last_preserved_timestamp = current_clock
            paths = [str(p) for p in recovered.all_model_checkpoint_paths]
            timestamps = [float(t) for t in recovered.all_model_checkpoint_timestamps]
            if not timestamps:
                timestamps = [self._last_preserved_timestamp] * len(paths)
            for path, timestamp in zip(paths, timestamps):
                timestamp = min(timestamp, current_clock)
                owned = self._own_path(path)
                if owned is not None and timestamp > self._last_preserved_timestamp:
                    self._maybe_delete[owned] = timestamp
        self._highest_number = self._find_highest_number()

    def _own_path(self, path: str) -> str | None:
        """A path from the state file (joined onto the directory) as this manager may use it:
        itself when inside the directory; else the same base name here if that checkpoint
        exists (another machine's absolute path, as TF1's ``Saver`` records); else None,
        with a warning unless it is just another machine's path that no longer exists."""
        if within(path, self._directory):
            return path
        return locate_checkpoint(self._directory, path)

    # -- TF's public properties --------------------------------------------------------

    @property
    def directory(self) -> str:
        """The directory given to the constructor."""
        return self._directory

    @property
    def latest_checkpoint(self) -> str | None:
        """Prefix of the newest checkpoint (``<directory>/<name>-N``), or None before any save.

        As in TensorFlow this is the state file's ``model_checkpoint_path`` when the
        manager was created, without checking that its files still exist.
        """
        return self._latest_checkpoint

    @property
    def checkpoints(self) -> list[str]:
        """The active set, oldest first (preserved checkpoints are not listed)."""
        return list(self._maybe_delete)

    # -- saving ------------------------------------------------------------------------

    def save(
        self,
        tensors: Mapping[str, Any] | Iterable[tuple[str, Any]],
        checkpoint_number: int | None = None,
        *,
        max_shard_size: int | None = None,
    ) -> str:
        """Write ``tensors`` as the next checkpoint, record it and rotate old ones out.

        Parameters
        ----------
        tensors : mapping or iterable of (name, array-like)
            What :func:`tfckpt.save` accepts.
        checkpoint_number : int, optional
            Number the checkpoint ``N`` explicitly (a global step, say). By default
            ``N`` is one past the highest number this manager has seen.
        max_shard_size : int, optional
            Passed to :func:`tfckpt.save`.

        Returns
        -------
        str
            The new checkpoint's prefix, also :attr:`latest_checkpoint`.

        Raises
        ------
        InvalidArgumentError
            A bad tensor name or value, or a non-integer ``checkpoint_number``. Nothing
            is written and the state file is unchanged.

        Examples
        --------
        >>> manager.save({"step": np.int64(100)}, checkpoint_number=100)   # doctest: +SKIP
        'runs/1/ckpt-100'
        """

        def write(prefix: str, save_counter: int) -> None:
            _save(prefix, tensors, max_shard_size=max_shard_size, storage_options=self._storage_options)

        return self._save_with(write, checkpoint_number)

    def save_objects(
        self,
        tree: Mapping[str, Any],
        checkpoint_number: int | None = None,
        *,
        max_shard_size: int | None = None,
    ) -> str:
        """Write ``tree`` as the next object-based checkpoint (see :func:`tfckpt.save_objects`).

        The checkpoint holds ``save_counter`` with the value ``tf.train.Checkpoint`` would
        have at this save, so ``tf.train.Checkpoint(**objects).restore(path).assert_consumed()``
        passes; numbering, state file and rotation are as for :meth:`save`.

        Raises
        ------
        InvalidArgumentError
            A bad name or value (see :func:`tfckpt.save_objects`) or ``checkpoint_number``.
            Nothing is written and the state file is unchanged.

        Examples
        --------
        >>> manager.save_objects({"model": {"w": w}})                  # doctest: +SKIP
        'runs/1/ckpt-1'
        """
        from .object_writer import save_objects

        def write(prefix: str, save_counter: int) -> None:
            save_objects(prefix, tree, save_counter=save_counter, max_shard_size=max_shard_size, storage_options=self._storage_options)

        return self._save_with(write, checkpoint_number)

    def _save_with(self, write: Callable[[str, int], object], checkpoint_number: int | None) -> str:
        """Number a checkpoint, ``write(prefix, save_counter)`` it, then record and sweep.

        The hook every kind of save shares: ``write`` must create the complete checkpoint
        at ``prefix`` (atomically) or raise, in which case nothing else happens.
        ``save_counter`` is the value TF's ``tf.train.Checkpoint.save_counter`` would hold
        for this save (one past the highest number seen), for writers that store it.
        """
        save_counter = self._highest_number + 1
        if checkpoint_number is None:
            number = save_counter
        else:
            try:
                number = operator.index(checkpoint_number)
            except TypeError:
                raise InvalidArgumentError(f"checkpoint_number must be an integer, got {checkpoint_number!r}") from None
        prefix = f"{self._prefix}-{number}"
        write(prefix, save_counter)
        self._highest_number = max(self._highest_number, number)
        self._record_and_sweep(prefix)
        return prefix

    def _record_and_sweep(self, save_path: str) -> None:
        """``_record_and_sweep_state``: newest end of the active set, state, sweep, state."""
        timestamp = time.time()
        self._maybe_delete.pop(save_path, None)
        self._maybe_delete[save_path] = timestamp
        self._latest_checkpoint = save_path
        self._record_state()
        self._sweep()
        self._record_state()

    def _sweep(self) -> None:
        if not self._max_to_keep:
            return
        while len(self._maybe_delete) > self._max_to_keep:
            filename, timestamp = self._maybe_delete.popitem(last=False)
            hours = self._keep_checkpoint_every_n_hours
            if hours and timestamp - hours * _SECONDS_PER_HOUR >= self._last_preserved_timestamp:
                self._last_preserved_timestamp = timestamp
                continue
            if not within(filename, self._directory):  # never reached from the state file; a last guard
                log.warning("%s: refusing to delete %s, which is outside the directory", self._directory, filename)
                continue
            delete_checkpoint(filename, self._storage_options)

    def _record_state(self) -> None:
        assert self._latest_checkpoint is not None
        update_checkpoint_state(
            self._directory,
            self._latest_checkpoint,
            list(self._maybe_delete),
            all_model_checkpoint_timestamps=list(self._maybe_delete.values()),
            last_preserved_timestamp=self._last_preserved_timestamp,
            save_relative_paths=True,
            storage_options=self._storage_options,
        )

    def _find_highest_number(self) -> int:
        """Highest ``N`` among ``<name>-N.index`` files and the state file's paths (0 if none)."""
        directory, base = os.path.split(self._prefix)
        pattern = re.compile(re.escape(base) + r"-(\d+)\.index")
        highest = 0
        remote = _url_store(directory, self._storage_options)
        try:
            names = [n for n, _ in remote.listdir(directory)] if remote is not None else os.listdir(directory or ".")
        except OSError:
            names = []
        for name in names:
            m = pattern.fullmatch(name)
            if m:
                highest = max(highest, int(m.group(1)))
        ours = re.compile(re.escape(os.path.abspath(self._prefix)) + r"-(\d+)")
        recorded = list(self._maybe_delete)
        if self._latest_checkpoint is not None:
            recorded.append(self._latest_checkpoint)
        for path in recorded:
            m = ours.fullmatch(os.path.abspath(path))
            if m:
                highest = max(highest, int(m.group(1)))
        return highest

    def __repr__(self) -> str:
        return (
            f"CheckpointManager({self._directory!r}, max_to_keep={self._max_to_keep!r}, "
            f"keep_checkpoint_every_n_hours={self._keep_checkpoint_every_n_hours!r}, "
            f"checkpoint_name={self._checkpoint_name!r})"
        )
