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
from ._rows import common_prefix_lengths, fits, windows
from ._table_format import MAX_UNCOMPRESSED_BLOCK, NO_COMPRESSION, BlockHandle, Footer, TableFormatError, read_block

__all__ = ["IndexColumns", "read_index_columns"]

#: Entries a lane (restart point to restart point) may hold on the array path; TF writes 16.
MAX_LANE_ENTRIES: Final = 64
#: Below this many lanes (~2,000 entries) the lock-step's fixed cost exceeds what it
#: saves: :func:`_columns_by_walk` is faster.
MIN_LANES: Final = 128
#: Lanes decoded together: ~65,000 entries of a TF-written index.
LANES_AT_ONCE: Final = 4096
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

    Lanes are decoded :data:`LANES_AT_ONCE` at a time, so the padded rows stay small
    (large short-lived arrays would leave the heap fragmented after open)."""
    lanes = _lanes(buf)
    if lanes is None:
        return None
    if len(lanes[0]) < MIN_LANES:
        return _columns_by_walk(buf, *lanes)
    data = np.frombuffer(buf, _U8)
    names: list[str] = []
    value_start: list[np.ndarray] = []
    value_length: list[np.ndarray] = []
    last_key = None  # of the previous group, which the next group's first key must exceed
    for first in range(0, len(lanes[0]), LANES_AT_ONCE):
        group = _decode_lanes(data, lanes[0][first : first + LANES_AT_ONCE], lanes[1][first : first + LANES_AT_ONCE])
        if group is None:
            return None
        group_names, first_key, group_last, starts, lengths = group
        if last_key is not None and not first_key > last_key:
            return None
        last_key = group_last
        names += group_names
        value_start.append(starts)
        value_length.append(lengths)
    if not names:
        return IndexColumns([], buf, np.zeros(0, _I64), np.zeros(0, _I64))
    return IndexColumns(names, buf, np.concatenate(value_start), np.concatenate(value_length))


def _decode_lanes(
    data: np.ndarray, start: np.ndarray, end: np.ndarray
) -> tuple[list[str], bytes, bytes, np.ndarray, np.ndarray] | None:
    """Names, first and last key, value starts and lengths of the entries of some lanes."""
    entries = _entry_headers(data, start, end)
    if entries is None:
        return None
    position, shared, non_shared, value_length, step = entries
    key_length = shared + non_shared
    count = len(position)
    width = int(key_length.max())
    if not fits(count, width + 1, int(key_length.sum()) + count):
        return None
    keys = _rebuild_keys(data, position + 3 - shared, shared, key_length, step, width)
    if not _increasing(keys, key_length):
        return None
    first_key, last_key = keys[0, : key_length[0]].tobytes(), keys[-1, : key_length[-1]].tobytes()
    return _split_names(keys, key_length), first_key, last_key, position + 3 + non_shared, value_length


def _increasing(keys: np.ndarray, key_length: np.ndarray) -> bool:
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
    if not _increasing(keys, key_length):
        return None
    return IndexColumns(_split_names(keys, key_length), buf, pos + 3 + non_shared, value_length)


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


def _entry_headers(
    data: np.ndarray, start: np.ndarray, end: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """Every entry's file offset, ``shared``, ``non_shared``, ``value_len`` and step (its
    place in its lane), in key order, decoding all lanes in lock-step."""
    lanes = len(start)
    steps: list[tuple[np.ndarray, ...]] = []
    counts = np.zeros(lanes, _I64)
    key_length = np.zeros(lanes, _I64)  # of each lane's latest key
    position = start.copy()
    active = np.arange(lanes)
    header_bytes = np.arange(3)
    while active.size:
        if len(steps) == MAX_LANE_ENTRIES:
            return None
        p = position[active]
        e = end[active]
        header = data[p[:, None] + header_bytes]  # in the block: its restart array follows
        if header.max() >= 0x80:
            return None  # a multi-byte varint: the general path
        shared, non_shared, value_length = header.astype(_I64).T
        after = p + 3 + non_shared + value_length
        if (shared > (key_length[active] if steps else 0)).any() or (after > e).any():
            return None  # more shared bytes than the key before has (a lane's first key is whole), or past the lane
        steps.append((active, p, shared, non_shared, value_length))
        key_length[active] = shared + non_shared
        counts[active] += 1
        position[active] = after
        active = active[after < e]
    first = np.zeros(lanes, _I64)
    np.cumsum(counts[:-1], out=first[1:])
    # where each step's entries go in key order, then every column scattered at once
    rows = np.concatenate([first[lane] + s for s, (lane, *_) in enumerate(steps)])
    out = []
    for k in range(1, 5):
        column = np.empty(len(rows), _I64)
        column[rows] = np.concatenate([fields[k] for fields in steps])
        out.append(column)
    step = np.empty(len(rows), _I64)
    step[rows] = np.repeat(np.arange(len(steps)), [len(fields[0]) for fields in steps])
    return out[0], out[1], out[2], out[3], step


def _rebuild_keys(
    data: np.ndarray, source: np.ndarray, shared: np.ndarray, key_length: np.ndarray, step: np.ndarray, width: int
) -> np.ndarray:
    """The keys as padded rows ``keys[i, :key_length[i]]`` (one spare zero column).

    Row ``i`` is the previous row's first ``shared[i]`` bytes, then its own bytes, which lie
    at ``data[source[i] + shared[i] : source[i] + key_length[i]]``. Rows are built a lane
    step at a time, all lanes at once: each lane's step ``s`` only needs its step ``s - 1``.
    """
    count = len(key_length)
    steps = int(step.max()) + 1 if count else 0
    lane = np.cumsum(step == 0) - 1
    lanes = int(lane[-1]) + 1 if count else 0
    # windows[j] = the width + 1 bytes from data[low + j] on (zeros outside data): a whole
    # row's worth of bytes, gathered at once; the rows' bytes all lie in data[low : high]
    low, high = int(source.min()), int(source.max()) + width + 1
    padded = np.zeros(high - low + width + 1, _U8)
    padded[max(0, -low) : min(high, len(data)) - low] = data[max(0, low) : min(high, len(data))]
    rows_at = windows(padded, width + 1)
    # (keys up to 254 bytes: shared and non_shared are one-byte varints) uint8 compares fastest
    column = np.arange(width + 1, dtype=_U8)
    shared8, key_length8 = shared.astype(_U8)[:, None], key_length.astype(_U8)[:, None]
    by_step = np.zeros((steps, lanes, width + 1), _U8)  # step-major: step s - 1 is one slice
    for s in range(steps):
        rows = np.flatnonzero(step == s)
        own = rows_at[source[rows] - low]
        if s:
            np.copyto(own, by_step[s - 1, lane[rows]], where=column < shared8[rows])
        own *= column < key_length8[rows]
        by_step[s, lane[rows]] = own
    keys: np.ndarray = by_step[step, lane]
    return keys


def _split_names(keys: np.ndarray, key_length: np.ndarray) -> list[str]:
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
