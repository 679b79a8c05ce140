"""Decoding a large SSTable's entries with array operations: every lane in lock-step.

Loaded by :func:`._index.read_index_columns` for tables of :data:`._index.MIN_LANES`
lanes or more (~2,000 entries; smaller tables take :func:`._index._columns_by_walk`).
Every restart point starts a *lane* of entries that runs to the next restart point (16
entries in blocks TensorFlow writes), so all lanes of all blocks are decoded in
lock-step: step ``s`` reads the ``s``-th entry header of every lane at once. A key is
its predecessor's first ``shared`` bytes plus its delta, so the keys are rebuilt step by
step as rows of a padded ``uint8`` matrix (see :mod:`._rows`), checked to be strictly
increasing, and split into the names (see :mod:`._index` for the layout and the tables
this path takes; it returns ``None`` for any other, and the caller reads the general way).
"""

from __future__ import annotations

from typing import Final

import numpy as np

from ._index import MAX_LANE_ENTRIES, IndexColumns, increasing, split_names
from ._rows import fits, windows

__all__ = ["LANES_AT_ONCE", "columns_by_lanes"]

#: Lanes decoded together: ~65,000 entries of a TF-written index. Groups keep the padded
#: rows small (large short-lived arrays would leave the heap fragmented after open).
LANES_AT_ONCE: Final = 4096
_U8: Final = np.dtype(np.uint8)
_I64: Final = np.dtype(np.int64)


def columns_by_lanes(buf: bytes | memoryview, start: np.ndarray, end: np.ndarray) -> IndexColumns | None:
    """The entries of the lanes ``[start, end)`` (file offsets), or ``None`` for a table this path does not take."""
    data = np.frombuffer(buf, _U8)
    names: list[str] = []
    value_start: list[np.ndarray] = []
    value_length: list[np.ndarray] = []
    last_key = None  # of the previous group, which the next group's first key must exceed
    for first in range(0, len(start), LANES_AT_ONCE):
        group = decode_lanes(data, start[first : first + LANES_AT_ONCE], end[first : first + LANES_AT_ONCE])
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


def decode_lanes(
    data: np.ndarray, start: np.ndarray, end: np.ndarray
) -> tuple[list[str], bytes, bytes, np.ndarray, np.ndarray] | None:
    """Names, first and last key, value starts and lengths of the entries of some lanes."""
    entries = entry_headers(data, start, end)
    if entries is None:
        return None
    position, shared, non_shared, value_length, step = entries
    key_length = shared + non_shared
    count = len(position)
    width = int(key_length.max())
    if not fits(count, width + 1, int(key_length.sum()) + count):
        return None
    keys = rebuild_keys(data, position + 3 - shared, shared, key_length, step, width)
    if not increasing(keys, key_length):
        return None
    first_key, last_key = keys[0, : key_length[0]].tobytes(), keys[-1, : key_length[-1]].tobytes()
    return split_names(keys, key_length), first_key, last_key, position + 3 + non_shared, value_length


def entry_headers(
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


def rebuild_keys(
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
