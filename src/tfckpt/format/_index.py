"""A whole SSTable's entries as columns: names, and where each value lies.

:func:`._table.iter_table` yields one ``(key, value)`` pair per Python step, which is most
of what opening a 100,000-tensor bundle cost. :func:`read_index_columns` decodes the same
entries with array operations instead, using the block layout (see :mod:`._block`)::

    block := entry* restart_offset:fixed32 * R  R:fixed32
    entry := shared non_shared value_len (varints) key_delta value

Every restart point starts a *lane* of entries that runs to the next restart point (16
entries in blocks TensorFlow writes), so all lanes of all blocks are decoded in lock-step:
step ``s`` reads the ``s``-th entry header of every lane at once. A key is its
predecessor's first ``shared`` bytes plus its delta, so the keys are rebuilt step by step
as rows of a padded ``uint8`` matrix (see :mod:`._rows`), checked to be strictly
increasing by comparing each row with the one before, and joined into one string that is
split into the names. Values are not copied: the result gives their positions in the
file's bytes.

Small tables (under :data:`MIN_LANES` lanes, ~2,000 entries) take the *walk* instead: the
lanes are stepped in lock-step only to find where each entry starts (``3 + non_shared +
value_len`` bytes on: nothing decoded), then every key is rebuilt at once: byte ``j`` of
key ``i`` is stored in the latest entry ``k <= i`` with ``shared[k] <= j`` (a running
maximum down each column of a ``rows x width`` matrix), a few array operations whatever
the lane length, where rebuilding the keys step by step would cost more than the entries.

The array path takes only tables laid out as TensorFlow writes them: uncompressed blocks,
one-byte header varints (keys and values under 128 bytes), restart points that start with
whole keys, bounded lane lengths and key widths. For anything else, including every
damaged table, it returns ``None`` and the caller reads through :func:`iter_table`, which
gives the same entries or raises the detailed :class:`~tfckpt.errors.CorruptionError`.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from .._record import Record
from ._block import BlockFormatError, iter_block
from ._coding import CodingError, decode_fixed32
from ._rows import common_prefix_lengths, fits
from ._table_format import MAX_UNCOMPRESSED_BLOCK, NO_COMPRESSION, BlockHandle, Footer, TableFormatError, read_block

__all__ = ["IndexColumns", "read_index_columns"]

#: Entries a lane (restart point to restart point) may hold on the array path; TF writes 16.
MAX_LANE_ENTRIES: Final = 64
#: Below this many lanes (~2,000 entries) the lock-step's fixed cost exceeds what it
#: saves: :func:`_columns_by_walk` is faster.
MIN_LANES: Final = 128
#: Names are decoded from bytes as ``str`` keys: undecodable bytes survive the round trip.
_NAME_ERRORS: Final = "surrogateescape"
_U8: Final = np.dtype(np.uint8)
_I64: Final = np.dtype(np.int64)


class IndexColumns(Record):
    """Every entry of a table, in key order: ``names[i]`` is key ``i`` decoded (UTF-8,
    surrogateescape); its value is ``data[value_start[i] : value_start[i] + value_length[i]]``."""

    names: list[str]
    data: bytes | memoryview
    value_start: np.ndarray
    value_length: np.ndarray

    def value(self, i: int) -> bytes:
        start = int(self.value_start[i])
        return bytes(self.data[start : start + int(self.value_length[i])])


def read_index_columns(buf: bytes | memoryview, path: str) -> IndexColumns:
    """The entries of the table in ``buf``, every block checksum verified and keys checked
    to be strictly increasing; raises what :func:`iter_table` raises for a damaged table."""
    columns = _columns_by_lanes(buf)
    return columns if columns is not None else _columns_by_iteration(buf, path)


def _columns_by_iteration(buf: bytes | memoryview, path: str) -> IndexColumns:
    """The general path: one :func:`iter_table` step per entry."""
    from ._table import iter_table  # with the table writer: not loaded unless needed

    names: list[str] = []
    values: list[bytes] = []
    for key, value in iter_table(buf, path):
        names.append(key.decode("utf-8", _NAME_ERRORS))
        values.append(value)
    lengths = np.fromiter(map(len, values), _I64, len(values))
    starts = np.zeros(len(values), _I64)
    np.cumsum(lengths[:-1], out=starts[1:])
    return IndexColumns(names, b"".join(values), starts, lengths)


def _columns_by_lanes(buf: bytes | memoryview) -> IndexColumns | None:
    """The array path (see the module docs), or ``None`` for a table it does not take.

    Tables of :data:`MIN_LANES` lanes or more are decoded in :mod:`._index_lanes` (loaded
    then)."""
    lanes = _lanes(buf)
    if lanes is None:
        return None
    if len(lanes[0]) < MIN_LANES:
        return _columns_by_walk(buf, *lanes)
    from ._index_lanes import columns_by_lanes  # large tables only

    return columns_by_lanes(buf, *lanes)


def increasing(keys: np.ndarray, key_length: np.ndarray) -> bool:
    """Whether the padded keys (one spare zero column) are strictly increasing, bytewise."""
    prefix = common_prefix_lengths(keys, key_length)
    later = np.arange(1, len(key_length))
    at = np.minimum(prefix[1:], keys.shape[1] - 1)
    increasing = (prefix[1:] < key_length[1:]) & (
        (prefix[1:] == key_length[:-1]) | (keys[later, at] > keys[later - 1, at])
    )
    return bool(increasing.all())


def _columns_by_walk(buf: bytes | memoryview, start: np.ndarray, end: np.ndarray) -> IndexColumns | None:
    """The small tables' path (see the module docs), or ``None`` for a table it does not take."""
    data = np.frombuffer(buf, _U8)
    pos = _entry_positions(data, start, end)
    if pos is None:
        return None
    count = len(pos)
    if not count:
        return IndexColumns([], buf, np.zeros(0, _I64), np.zeros(0, _I64))
    lane_first = np.searchsorted(pos, start)
    header = data[pos[:, None] + np.arange(3)]  # in the block: its restart array follows
    if header.max() >= 0x80:
        return None
    shared, non_shared, value_length = header.astype(_I64).T
    key_length = shared + non_shared
    if shared[lane_first].any() or (shared[1:] > key_length[:-1]).any():
        return None  # a lane's first key is whole; any other shares at most the key before's bytes
    width = int(key_length.max())
    if not fits(count, width + 1, int(key_length.sum()) + count):
        return None
    column = np.arange(width + 1)
    # owner[i, j]: the entry that stores byte j of key i (the latest k <= i sharing at most j bytes)
    rows = np.arange(count, dtype=np.int32)[:, None]  # (the walk takes < 2**31 entries)
    owner = np.where(shared[:, None] <= column, rows, 0)
    np.maximum.accumulate(owner, axis=0, out=owner)
    at = (pos + 3 - shared)[owner]
    at += column  # where byte j of key i lies (past the data only in padding: clipped, then zeroed)
    keys = np.take(data, at, mode="clip")
    keys *= column < key_length[:, None]
    if not increasing(keys, key_length):
        return None
    return IndexColumns(split_names(keys, key_length), buf, pos + 3 + non_shared, value_length)


def _entry_positions(data: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray | None:
    """Every entry's file offset, in key order: the lanes stepped in lock-step, each entry
    ``3 + non_shared + value_len`` bytes (one-byte varints: checked by the caller; no key
    is decoded). ``None`` where a lane does not end exactly at its end, or is too long."""
    steps: list[np.ndarray] = []
    p, e = start, end
    while p.size:
        if len(steps) == MAX_LANE_ENTRIES:
            return None
        steps.append(p)
        after = p + 3 + data[p + 1] + data[p + 2]  # in the block: its restart array follows
        going = after < e
        if (after[~going] != e[~going]).any():
            return None  # an entry running past its lane (or a multi-byte varint)
        p, e = after[going], e[going]
    return np.sort(np.concatenate(steps)) if steps else np.zeros(0, _I64)  # file order is key order


def _lanes(buf: bytes | memoryview) -> tuple[np.ndarray, np.ndarray] | None:
    """``(start, end)`` file offsets of every lane of every data block, in key order."""
    size = len(buf)
    try:
        footer = Footer.decode(buf, size)
        index = read_block(buf, footer.index, size, max_uncompressed=MAX_UNCOMPRESSED_BLOCK)
        starts: list[np.ndarray] = []
        ends: list[np.ndarray] = []
        for _, handle_bytes in iter_block(bytes(index)):
            handle, _ = BlockHandle.decode(handle_bytes, 0, len(handle_bytes))
            read_block(buf, handle, size, max_uncompressed=MAX_UNCOMPRESSED_BLOCK)  # checks bounds and checksum
            if buf[handle.offset + handle.size] != NO_COMPRESSION or handle.size < 4:
                return None
            block_end = handle.offset + handle.size - 4
            num_restarts = decode_fixed32(buf, block_end)
            if num_restarts > handle.size // 4 - 1:
                return None
            limit = block_end - 4 * num_restarts  # where the entries end
            if limit == handle.offset:
                continue  # no entries
            restarts = np.frombuffer(buf, "<u4", num_restarts, limit).astype(_I64) + handle.offset
            if not (num_restarts and restarts[0] == handle.offset and (np.diff(restarts) > 0).all() and restarts[-1] < limit):
                return None
            starts.append(restarts)
            ends.append(np.append(restarts[1:], limit))
    except (TableFormatError, CodingError, BlockFormatError):
        return None
    if not starts:
        return np.zeros(0, _I64), np.zeros(0, _I64)
    return np.concatenate(starts), np.concatenate(ends)


def split_names(keys: np.ndarray, key_length: np.ndarray) -> list[str]:
    """The rows' keys as ``str``: one join and one split when every key is ASCII without
    newlines (the usual case), else one decode per key."""
    count = len(key_length)
    keys[np.arange(count), key_length] = 0x0A
    joined = keys[np.arange(keys.shape[1]) <= key_length[:, None]].tobytes()
    if joined.isascii() and joined.count(b"\n") == count:  # no key holds the separator
        names = joined.decode("ascii").split("\n")
        names.pop()  # after the last separator
        return names
    ends = np.cumsum(key_length + 1)
    return [joined[a:b].decode("utf-8", _NAME_ERRORS) for a, b in zip((ends - key_length - 1).tolist(), (ends - 1).tolist())]
