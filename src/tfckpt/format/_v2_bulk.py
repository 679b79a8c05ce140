"""Reading many tensors of a V2 bundle at once: batches and read-ahead.

The bulk half of :class:`._v2.BundleReader`, loaded on first use (a reader that opens a
bundle and reads a tensor or two never imports it): :meth:`~._v2.BundleReader.read_batch`
and :meth:`~._v2.BundleReader.iter_batches` (``Checkpoint.items``, ``read_many``, the
framework loaders), the read-ahead that :meth:`~._v2.BundleReader.read` starts on the
second of two reads in index order, and :meth:`~._v2.BundleReader.unverified`.

For the rows that ``read``'s fast path would serve, the work is done column-wise: bounds
and the checksums of small payloads checked with array operations
(:func:`._rows_crc.crc32c_rows`), and a run of tensors of one dtype and shape stored back to
back made one array whose rows are the results. Every other row, and every error, goes
through ``read``, so results and errors are the same. The functions take the reader as
``self``: they are its methods, kept in this module.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import TYPE_CHECKING, Final

import numpy as np

from ..errors import CheckpointError
from ._rows_crc import crc32c_rows

if TYPE_CHECKING:
    from ._v2 import BundleReader

__all__ = ["iter_batches", "read_ahead", "read_batch", "unverified"]

#: :meth:`BundleReader.read_batch` works with arrays from this many names on.
_BATCH_MIN: Final = 64
#: Payloads up to this size are checksummed by :func:`._rows_crc.crc32c_rows` in bulk.
_CRC_ROWS_MAX: Final = 64
#: Read-ahead (see :func:`read_ahead`): the rows of the first run, the most rows and
#: payload bytes of any run (each run doubles the one before, in index order).
_AHEAD_FIRST_ROWS: Final = 1024
_AHEAD_MAX_ROWS: Final = 4096
_AHEAD_MAX_BYTES: Final = 1 << 20


def read_ahead(self: BundleReader, row: int) -> np.ndarray | None:
    """Start a run at ``row``, the second of two reads in index order: the arrays of the
    rows from ``row`` on are made at once, as :meth:`read_batch` makes them (bounds and
    small checksums checked as arrays, a run of one spec as one array's rows), and kept
    in :attr:`ahead` by name, each until its read pops it; ``row``'s own is returned
    (``None``: it takes :meth:`read`'s own path, as does every row the batch did not
    take, such as strings, damaged entries and checksum mismatches, which then raise
    there). A run holds 1024 rows, then each run twice the one before, up to 4096 rows
    and 1 MiB of payloads (verified, a payload of 64 KiB or more is never read ahead: its
    check is remembered by name). A row no run would take, or over half a run's bytes,
    is read alone and starts no run.

    :class:`tfckpt.Checkpoint` pops :attr:`ahead` itself before it calls :meth:`read`,
    so a read served from the run is one dict operation.
    """
    self.ahead.clear()
    count = len(self._names)
    if not self._ahead_on or row >= count:
        self._ahead_start, self._ahead_end, self._ahead_next = 0, count, -1  # never again
        return None
    own_spec = self._spec_of[row]
    own_size = self._specs[own_spec][2] if own_spec >= 0 else 0
    if own_spec < 0 or 2 * own_size > _AHEAD_MAX_BYTES or (self.verify and own_size >= self._remember_verified):
        # a row no run takes, or whose payload leaves no room for another: read alone
        # (a run may start at the next row)
        self._ahead_start = self._ahead_end = 0
        self._ahead_next = row + 1
        return None
    rows_wanted = min(2 * self._ahead_rows, _AHEAD_MAX_ROWS) if row == self._ahead_end else _AHEAD_FIRST_ROWS
    end = min(row + rows_wanted, count)
    if self._largest_spec * (end - row) > _AHEAD_MAX_BYTES:  # then fewer rows
        spec = self._fast.spec[row:end]
        size = np.where(spec >= 0, self._fast.spec_size[np.maximum(spec, 0)], 0)
        end = row + max(1, int(np.searchsorted(np.cumsum(size), _AHEAD_MAX_BYTES, "right")))
    self._ahead_start, self._ahead_end, self._ahead_next, self._ahead_rows = row, end, end, end - row
    names = self._names[row:end]
    self.ahead.update(zip(names, fast_rows(self, None, slice(row, end), copy=False)[0]))
    return self.ahead.pop(names[0], None)


def read_batch(self: BundleReader, names: list[str], *, copy: bool = False) -> list[np.ndarray]:
    """``[read(name) for name in names]``, with the fast path's work done column-wise.

    The bulk path of :meth:`Checkpoint.items` and ``read_many``: for the rows that
    :meth:`read` would serve by its fast path, the bounds and the checksums of small
    payloads are checked with array operations (:func:`._rows_crc.crc32c_rows`), and a run
    of tensors of one dtype and shape stored back to back becomes one array whose rows
    are the results (views of the same bytes, as :meth:`read` returns them). Every
    other row, and every error, goes through :meth:`read`, so results and errors are
    the same.
    """
    return read_rows(self, names, None, copy=copy)


def iter_batches(self: BundleReader, size: int) -> Iterator[tuple[list[str], list[np.ndarray]]]:
    """``(names, arrays)`` for every tensor in key order, ``size`` at a time: the bulk
    path of :meth:`Checkpoint.items`. The rows are taken in index order, so no name is
    looked up (unless partitioned variables hide some rows)."""
    names = iter(self)
    row = 1  # after the header
    while batch := list(itertools.islice(names, size)):
        self.prefetch(batch)
        rows = None if self._hidden else slice(row, row + len(batch))
        row += len(batch)
        yield batch, read_rows(self, batch, rows)


def read_rows(self: BundleReader, names: list[str], rows: np.ndarray | slice | None, *, copy: bool = False) -> list[np.ndarray]:
    """:meth:`read_batch` of ``names``, which are at ``rows`` of the index if given."""
    n = len(names)
    if not self.store.maps_objects or n < _BATCH_MIN or self._remember_verified == 0 or not self._specs:
        return [self.read(name, copy=copy) for name in names]
    if rows is None:
        rows = np.fromiter(map(self._row.get, names, itertools.repeat(0)), np.int64, n)  # 0: the header, never fast
    out, taken = fast_rows(self, names, rows, copy=copy)
    for j in np.flatnonzero(~taken).tolist():
        self._ahead_next = -1  # a batch's own reads start no read-ahead
        out[j] = self.read(names[j], copy=copy)
    return out  # type: ignore[return-value]  # every None was replaced


def fast_rows(
    self: BundleReader, names: list[str] | None, rows: np.ndarray | slice, *, copy: bool
) -> tuple[list[np.ndarray | None], np.ndarray]:
    """The arrays of the index ``rows`` (positions, or a slice of them) that :meth:`read`'s fast path would serve,
    made column-wise; ``None`` for the others (and, without ``names``, for payloads
    whose checksum would be remembered by name). Also which rows were taken."""
    fast = self._fast
    spec = fast.spec[rows].astype(np.int64)
    n = len(spec)
    ok = spec >= 0
    spec[~ok] = 0  # any spec: the row's other columns are masked out below
    offset = fast.offset[rows]
    size = np.where(ok, fast.spec_size[spec], 0)
    # the shards the batch reads, mapped now (a missing one leaves its rows to read())
    if self.header.num_shards == 1:
        ok &= offset + size <= mapped_length(self, 0)
    else:
        used, which = np.unique(np.where(ok, fast.spec_shard[spec], -1), return_inverse=True)
        shard_end = np.array([mapped_length(self, int(shard)) for shard in used], np.int64)
        ok &= offset + size <= shard_end[which.reshape(-1)]
    if self.verify:
        ok &= checksums_match(self, names, rows, ok, spec, offset, size)
    out: list[np.ndarray | None] = [None] * n
    # runs: rows of one spec whose payloads follow each other in the shard
    follows = np.zeros(n, bool)
    follows[1:] = ok[1:] & ok[:-1] & (spec[1:] == spec[:-1]) & (offset[1:] == offset[:-1] + size[:-1])
    bounds = np.flatnonzero(~follows)  # where each run (or row that is not ok) starts
    run = ok[bounds]
    starts, lengths = bounds[run], np.diff(np.append(bounds, n))[run]
    maps, specs = self._maps, self._specs
    for start, length in zip(starts.tolist(), lengths.tolist()):
        dtype, shape, item_size, shard_id = specs[int(spec[start])]
        first = int(offset[start])
        if length == 1 or not shape or copy:
            for j in range(start, start + length):
                arr = np.ndarray(shape, dtype, maps[shard_id], first + (j - start) * item_size)
                out[j] = arr.copy() if copy else arr
        else:
            out[start : start + length] = list(np.ndarray((length, *shape), dtype, maps[shard_id], first))
    return out, ok


def mapped_length(self: BundleReader, shard_id: int) -> int:
    """The length of a mapped shard, or -1 (no shard, or one that cannot be mapped)."""
    if shard_id < 0:
        return -1
    try:
        return self._shard_size(shard_id, "")
    except (CheckpointError, OSError):
        return -1  # its tensors take read(), which says so


def checksums_match(
    self: BundleReader, names: list[str] | None, rows: np.ndarray | slice, ok: np.ndarray, spec: np.ndarray, offset: np.ndarray, size: np.ndarray
) -> np.ndarray:
    """Whether each ``ok`` row's payload matches its checksum (rows not ``ok``: True).

    Small payloads of one size and shard are checked together by
    :func:`._rows_crc.crc32c_rows`; larger ones by one call of the C function each (False,
    unchecked, for those remembered by name when there are no ``names``)."""
    match = np.ones(len(spec), bool)
    expected = self._fast.crc[rows]
    shard = self._fast.spec_shard[spec]
    small = ok & (size <= _CRC_ROWS_MAX)
    groups = np.where(small, size * (int(shard.max(initial=0)) + 1) + shard, -1)
    keys = groups[small]
    # one size in one shard (the usual batch) needs no unique()
    for group_key in (keys[:1] if keys.size and keys.min() == keys.max() else np.unique(keys)).tolist():
        group = np.flatnonzero(groups == group_key)
        each_size, shard_id = int(size[group[0]]), int(shard[group[0]])
        data = np.frombuffer(self._maps[shard_id], np.uint8)
        starts = offset[group]
        first = int(starts[0])
        if (np.diff(starts) == each_size).all():  # stored back to back: the bytes as they lie
            matrix = data[first : first + len(group) * each_size].reshape(len(group), each_size)
        else:
            matrix = data[starts[:, None] + np.arange(each_size)]
        match[group] = crc32c_rows(matrix) == expected[group]
    crc, views = self._crc, self._views
    large = np.flatnonzero(ok & ~small)
    for j, shard_id, first, length, want in zip(
        large.tolist(), shard[large].tolist(), offset[large].tolist(), size[large].tolist(), expected[large].tolist()
    ):
        view = views[shard_id]
        if length < self._remember_verified:
            match[j] = crc(view[first : first + length]) == want
        else:
            match[j] = names is not None and self._verify_plain(names[j], view, first, length, want)
    return match


def unverified(self: BundleReader, name: str) -> tuple[np.ndarray, int] | None:
    """``(array, crc32c)``: the tensor as :meth:`read`'s fast path maps it, *before* its
    checksum is checked, and the CRC32C (unmasked) its bytes must have; None when
    :meth:`read` would take another path (not mapped, sliced, another byte order, a
    dtype without a fixed width, a damaged entry) or when checksums are not verified.

    For a caller that checksums the bytes while it uses them, in the same pass over
    memory (:mod:`tfckpt.tools.average`); on a mismatch it calls :meth:`read`, which
    raises the error. Arrays whose checksum did not match must not be used.
    """
    row = self._row.get(name)
    spec = self._spec_of[row] if row is not None and self.verify else -1
    if spec < 0:  # not a fast-path row (hidden slices included), or nothing to check against
        return None
    try:
        ready = self._ready[spec] or self._make_ready(spec, name)  # maps the shard on its first read
    except (CheckpointError, OSError):
        return None  # read() says what is wrong
    if ready is None:
        return None
    dtype, shape, size, buf, _, end, _ = ready
    offset = self._offset_of[row]  # type: ignore[index]  # row is not None when spec >= 0
    if offset + size > end:
        return None
    return np.ndarray(shape, dtype, buf, offset), self._crc_of[row]  # type: ignore[index]
