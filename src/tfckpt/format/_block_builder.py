"""Building SSTable blocks: the writer's side of :mod:`._block` (layout there), loaded on first use.

:class:`BlockBuilder` adds entries one at a time, as ``block_builder.cc`` does;
:func:`encode_entries` encodes many at once from padded rows (see :mod:`._rows`).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Final

import numpy as np

from ._block import DATA_RESTART_INTERVAL
from ._coding import encode_varint
from ._rows import Field
from ._rows_build import encode_varints, join_fields, left_aligned, varint_lengths

__all__ = ["BlockBuilder", "common_prefix_length", "encode_entries", "entry_sizes"]


def common_prefix_length(a: bytes, b: bytes) -> int:
    """Length of the longest common prefix, in O(1) Python steps: the highest set bit of
    ``a XOR b`` (as big-endian integers over the common length) marks the first difference."""
    n = min(len(a), len(b))
    diff = int.from_bytes(a[:n], "big") ^ int.from_bytes(b[:n], "big")
    return n - (diff.bit_length() + 7) // 8


def _one_byte_headers(key_lengths: np.ndarray, value_lengths: np.ndarray) -> bool:
    """Whether every entry's three header varints take one byte each, as they usually do
    (``shared`` and ``non_shared`` are at most the key's length)."""
    return len(key_lengths) > 0 and max(int(key_lengths.max()), int(value_lengths.max())) < 0x80


def entry_sizes(shared: np.ndarray, key_lengths: np.ndarray, value_lengths: np.ndarray) -> np.ndarray:
    """The encoded size of each entry, given how many key bytes it shares with its predecessor."""
    non_shared = key_lengths - shared
    sizes: np.ndarray
    if _one_byte_headers(key_lengths, value_lengths):
        sizes = 3 + non_shared + value_lengths
    else:
        sizes = varint_lengths(shared) + varint_lengths(non_shared) + varint_lengths(value_lengths) + non_shared + value_lengths
    return sizes


def encode_entries(
    key_matrix: np.ndarray, key_lengths: np.ndarray, shared: np.ndarray, values: Sequence[Field], value_lengths: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Encode many entries at once, keys given as padded rows and values as the fields
    that make them up (see :mod:`._rows`; ``value_lengths`` is their lengths' sum).

    Entry ``i`` shares ``shared[i]`` bytes with the key before it. Returns the entries
    concatenated and each one's size; the caller adds the restart array.
    """
    rows, width = key_matrix.shape
    non_shared = key_lengths - shared
    header: list[Field]
    if _one_byte_headers(key_lengths, value_lengths):
        one = np.ones(rows, np.int64)
        header = [(v.astype(np.uint8)[:, None], None, one) for v in (shared, non_shared, value_lengths)]
    else:
        header = [
            (m, left_aligned(m.shape[1], n), n)
            for m, n in (encode_varints(shared), encode_varints(non_shared), encode_varints(value_lengths))
        ]
    if width < 0x100:
        # Key column j is kept where shared <= j < key length: j - shared in uint8 wraps
        # below zero to 255 or less, never under non_shared. Computed a column at a time
        # (the transpose; see _rows.left_aligned_columns).
        offsets = np.arange(width, dtype=np.uint8)[:, None] - shared.astype(np.uint8)
        in_delta = (offsets < non_shared.astype(np.uint8)).T
    else:
        column = np.arange(width)
        in_delta = (column >= shared[:, None]) & (column < key_lengths[:, None])
    return join_fields([*header, (key_matrix, in_delta, non_shared), *values])


class BlockBuilder:
    """Builds one block, byte-identical to TensorFlow's ``BlockBuilder``.

    REQUIRES: keys added in strictly increasing bytewise order.
    """

    #: :meth:`size_estimate` of an empty block: no entries, one restart, the count.
    EMPTY_SIZE_ESTIMATE: Final = 8

    def __init__(self, restart_interval: int = DATA_RESTART_INTERVAL) -> None:
        self._restart_interval = restart_interval
        self.reset()

    def reset(self) -> None:
        self._parts: list[bytes] = []
        self._size = 0
        self._restarts = [0]
        self._counter = 0
        self._last_key = b""
        self.entries = 0

    def add(self, key: bytes, value: bytes) -> None:
        shared = 0
        if self._counter < self._restart_interval:
            shared = common_prefix_length(self._last_key, key)
        else:
            self._restarts.append(self._size)
            self._counter = 0
        non_shared = len(key) - shared
        value_len = len(value)
        if (shared | non_shared | value_len) < 0x80:  # the usual one-byte header varints
            header = bytes((shared, non_shared, value_len))
        else:
            header = encode_varint(shared) + encode_varint(non_shared) + encode_varint(value_len)
        self._parts += (header, key[shared:], value)
        self._size += len(header) + non_shared + value_len
        self._last_key = key
        self._counter += 1
        self.entries += 1

    def size_estimate(self) -> int:
        """``CurrentSizeEstimate``: entries plus the restart array and its count."""
        return self._size + 4 * len(self._restarts) + 4

    def empty(self) -> bool:
        return self.entries == 0

    @property
    def last_key(self) -> bytes:
        return self._last_key

    def extend(self, entries: bytes, restarts: list[int], last_key: bytes, count: int) -> None:
        """Append ``count`` entries encoded elsewhere (the bulk path of
        :meth:`._table.TableBuilder.add_many`), leaving the builder as ``count`` calls of
        :meth:`add` would: ``restarts`` are the new restart points, as offsets into
        ``entries``, and ``last_key`` is the last entry's key."""
        self._restarts += [self._size + r for r in restarts]
        self._parts.append(entries)
        self._size += len(entries)
        self.entries += count
        self._counter = (self.entries - 1) % self._restart_interval + 1
        self._last_key = last_key

    def finish(self) -> bytes:
        restarts = self._restarts
        return b"".join(self._parts) + struct.pack(f"<{len(restarts) + 1}I", *restarts, len(restarts))
