"""Padded byte rows: many short byte strings built at once with numpy.

Writing 100,000 small tensors is dominated by per-entry Python work: each index entry is a
``BundleEntryProto`` of about 20 bytes inside a prefix-compressed block entry. The writer
therefore keeps its entries as numbers and builds all of them with a few array operations
over *padded rows*::

    matrix[i, :lengths[i]]   row i's bytes, left-aligned; the rest of the row is zero
    (matrix, keep)           row i is matrix[i][keep[i]]: any columns, in column order

Building a string of fields is then "lay the fields' matrices side by side, keep each
field's own bytes" (:func:`._rows_build.join_fields`), and the row-major order of boolean indexing
concatenates every row's bytes in one pass. Each helper is the vectorized twin of a
scalar one: :func:`._rows_build.encode_varints` of :func:`._coding.encode_varint`,
:func:`common_prefix_lengths` of :func:`._block_builder.common_prefix_length`.

The builders (:func:`pad_rows`, :func:`join_fields`, :func:`encode_varints`, ...) are in
:mod:`._rows_build`, loaded by the writer; this module keeps what reading uses.

Memory is ``rows x widest row`` bytes, so callers check :func:`fits` first and fall back
to their scalar path when a few very long strings among many short ones would make the
padding dominate.
"""

from __future__ import annotations

from typing import Final, TypeAlias

import numpy as np

__all__ = ["MAX_MATRIX_BYTES", "MAX_PADDING_FACTOR", "Field", "common_prefix_lengths", "decode_varints", "fits", "windows"]

#: A padded matrix may always take this many bytes...
MAX_MATRIX_BYTES: Final = 64 << 20
#: ... or this many times the bytes it holds (a row is as wide as the widest string).
MAX_PADDING_FACTOR: Final = 4

_U8: Final = np.dtype(np.uint8)
_I64: Final = np.dtype(np.int64)

#: One field of many rows, ``(matrix, keep, lengths)``: row ``i``'s bytes are
#: ``matrix[i][keep[i]]``, ``lengths[i]`` of them (see :func:`._rows_build.join_fields`). ``keep`` None:
#: every row is the whole matrix row (a field of one width, such as a shared prefix).
Field: TypeAlias = tuple[np.ndarray, np.ndarray | None, np.ndarray]


def fits(rows: int, width: int, payload: int) -> bool:
    """Whether a ``rows x width`` padded matrix holding ``payload`` bytes is small enough:
    within :data:`MAX_MATRIX_BYTES`, or at most :data:`MAX_PADDING_FACTOR` times ``payload``."""
    size = rows * width
    return size <= MAX_MATRIX_BYTES or size <= MAX_PADDING_FACTOR * payload


def windows(data: np.ndarray, width: int) -> np.ndarray:
    """``out[j] = data[j : j + width]`` for every ``j`` (read-only views of one contiguous
    ``uint8`` array), as numpy's ``sliding_window_view`` gives them, without its ~0.1 ms
    of checks: a gather of its rows copies any row at once."""
    out = np.ndarray((max(len(data) - width + 1, 0), width), _U8, data, 0, (1, 1))
    out.flags.writeable = False
    return out


def decode_varints(matrix: np.ndarray, lengths: np.ndarray, pos: np.ndarray, max_bytes: int = 9) -> tuple[np.ndarray, np.ndarray]:
    """The varint starting at ``matrix[i, pos[i]]`` of each padded row (the vectorized twin
    of :func:`._coding.decode_varint`), as ``(values, sizes)``: ``sizes[i]`` is its byte
    count, 0 where row ``i`` holds no complete varint of at most ``max_bytes`` bytes
    before its end ``lengths[i]`` (9 bytes: values below 2**63)."""
    n, width = matrix.shape
    values = np.zeros(n, np.uint64)
    sizes = np.zeros(n, _I64)
    if not width:
        return values, sizes
    flat = np.ascontiguousarray(matrix).reshape(-1)
    row_start = np.arange(n) * width
    reading = np.ones(n, bool)  # rows whose varint has not ended yet
    for k in range(max_bytes):  # a byte of every row's varint a step; most varints are short
        at = pos + k
        inside = at < np.minimum(lengths, width)
        byte = flat[row_start + np.minimum(at, width - 1)]
        reading &= inside  # past the row's end before the last byte: incomplete
        values |= np.where(reading, byte & 0x7F, 0).astype(np.uint64) << np.uint64(7 * k)
        last = reading & (byte < 0x80)
        sizes[last] = k + 1
        reading &= ~last
        if not reading.any():
            break
    values[sizes == 0] = 0
    return values, sizes


def common_prefix_lengths(matrix: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """For each padded row, the length of its common prefix with the row before (0 for
    the first)."""
    out = np.zeros(len(lengths), _I64)
    if len(lengths) < 2:
        return out
    width = matrix.shape[1]
    differ = np.empty((len(lengths) - 1, width + 1), bool)
    np.not_equal(matrix[1:], matrix[:-1], out=differ[:, :width])
    differ[:, width] = True  # a row equal to the one before differs past its end
    first = differ.argmax(axis=1)
    # Zero padding can equal a real zero byte: the prefix never extends past the shorter row.
    out[1:] = np.minimum(first, np.minimum(lengths[1:], lengths[:-1]))
    return out
