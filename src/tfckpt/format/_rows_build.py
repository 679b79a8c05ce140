"""Building padded byte rows (see :mod:`._rows`): the writer's side, loaded on first use.

Padding strings into rows (:func:`pad_rows`), laying fields side by side and keeping
each field's own bytes (:func:`join_fields`), and varints of many values at once
(:func:`encode_varints`, the vectorized twin of :func:`._coding.encode_varint`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np

from ._rows import Field

__all__ = [
    "encode_varints",
    "join_fields",
    "left_aligned",
    "left_aligned_columns",
    "little_endian_bytes",
    "pad_rows",
    "repad",
    "varint_lengths",
    "varint_words",
]

_U8: Final = np.dtype(np.uint8)
_I64: Final = np.dtype(np.int64)
#: :func:`join_fields` copies a varying field this narrow one column at a time.
_COLUMN_BY_COLUMN: Final = 4


def left_aligned(width: int, lengths: np.ndarray) -> np.ndarray:
    """The ``keep`` mask of left-aligned rows: ``keep[i, j] = j < lengths[i]``."""
    return np.arange(width) < lengths[:, None]


def left_aligned_columns(width: int, lengths: np.ndarray) -> np.ndarray:
    """:func:`left_aligned`, computed a column at a time (a view of the transposed mask):
    for a narrow field that :func:`join_fields` only copies, several times faster than
    numpy's row-by-row broadcast."""
    return (np.arange(width)[:, None] < lengths).T


def pad_rows(strings: Sequence[bytes], lengths: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``strings`` as a left-aligned padded matrix and their lengths (given or counted)."""
    if lengths is None:
        lengths = np.fromiter(map(len, strings), _I64, len(strings))
    width = max(int(lengths.max()), 1) if len(strings) else 1
    matrix = np.zeros((len(strings), width), _U8)
    matrix[left_aligned(width, lengths)] = np.frombuffer(b"".join(strings), _U8)
    return matrix, lengths


def join_fields(fields: Sequence[Field]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate, row by row, fields given as ``(matrix, keep, lengths)`` of one row
    count (``lengths[i]`` counts ``keep[i]``'s true columns).

    Returns ``(data, lengths)``: every row's kept bytes, all rows one after another, and
    each row's byte count.
    """
    # The fields side by side in one matrix and one mask, written in place. numpy copies a
    # block of columns row by row (a few ns a row, whatever its width), one column as one
    # strided run: so the bytes and mask columns that are the same in every row (a field
    # broadcast from one row, a mask of None) are laid first as one template row for all
    # rows, and the fields that vary are then copied a column at a time when narrow.
    rows = len(fields[0][2])
    width = sum(m.shape[1] for m, _, _ in fields)
    row_bytes, row_keep = np.zeros(width, _U8), np.zeros(width, bool)
    varying: list[tuple[int, np.ndarray, np.ndarray | None]] = []
    column = 0
    for m, k, _ in fields:
        end = column + m.shape[1]
        if k is None:
            row_keep[column:end] = True
        if rows and m.strides[0] == 0:  # broadcast from one row
            row_bytes[column:end] = m[0]
        else:
            varying.append((column, m, None))
        if k is not None:
            varying.append((column, k, k))
        column = end
    matrix = np.empty((rows, width), _U8)
    keep = np.empty((rows, width), bool)
    matrix[:] = row_bytes
    keep[:] = row_keep
    for column, m, is_keep in varying:
        target = matrix if is_keep is None else keep
        if m.shape[1] <= _COLUMN_BY_COLUMN:
            for j in range(m.shape[1]):
                target[:, column + j] = m[:, j]
        else:
            target[:, column : column + m.shape[1]] = m
    lengths: np.ndarray = sum((n for _, _, n in fields[1:]), fields[0][2])
    return matrix[keep], lengths


def repad(data: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Rows concatenated in ``data`` (as :func:`join_fields` returns them), padded again."""
    width = max(int(lengths.max()), 1) if lengths.size else 1
    matrix = np.zeros((lengths.size, width), _U8)
    matrix[left_aligned(width, lengths)] = data
    return matrix


def varint_lengths(values: np.ndarray) -> np.ndarray:
    """The byte length of each value's varint (1 for 0 ... 10 for values of 2**63 and up)."""
    v = _as_u64(values)
    lengths = np.ones(v.shape, _I64)
    top = int(v.max()).bit_length() if v.size else 0  # no pass for lengths no value reaches
    for bits in range(7, top, 7):
        lengths += v >= np.uint64(1 << bits)
    return lengths


def encode_varints(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Base-128 varints of non-negative ``values``, as left-aligned rows ``(matrix, lengths)``.

    The matrix is as wide as the longest varint (at least 1 column).
    """
    v = _as_u64(values)
    if not v.size or int(v.max()) < 0x80:  # all one-byte varints: the usual block entry headers
        return v.astype(_U8).reshape(-1, 1), np.ones(v.size, _I64)
    lengths = varint_lengths(v)
    width = int(lengths.max())
    if width <= 8:  # values below 2**56: each varint as one little-endian word
        return little_endian_bytes(varint_words(v, lengths))[:, :width], lengths
    matrix = np.empty((v.size, width), _U8)
    shifted = v.copy()
    for column in range(width):
        more = lengths > column + 1
        matrix[:, column] = (shifted & np.uint64(0x7F)).astype(_U8) | (more.astype(_U8) << 7)
        shifted >>= np.uint64(7)
    return matrix, lengths


def varint_words(values: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The varints of ``values`` below 2**56 (``lengths`` from :func:`varint_lengths`) as
    ``uint64`` words whose little-endian bytes are the varint, then zeros: byte ``k`` holds
    bits ``7k .. 7k + 6`` of the value (``value << k`` puts them at ``8k``) and the
    continuation bit unless it is the last. A few whole-array operations, not eight per byte."""
    v = values.astype(np.uint64, copy=False)
    words = v & np.uint64(0x7F)
    for k in range(1, int(lengths.max()) if lengths.size else 1):
        words |= (v << np.uint64(k)) & np.uint64(0x7F << (8 * k))
    # The continuation bits (0x80) of the first length - 1 bytes.
    below_last = (np.uint64(1) << (np.uint64(8) * (lengths.astype(np.uint64) - np.uint64(1)))) - np.uint64(1)
    words |= below_last & np.uint64(0x8080808080808080)
    return words


def little_endian_bytes(words: np.ndarray) -> np.ndarray:
    """``uint64`` words as an ``(n, 8)`` matrix of their little-endian bytes."""
    return words.astype("<u8", copy=False).view(_U8).reshape(len(words), 8)


def _as_u64(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind == "i" and values.size and int(values.min()) < 0:
        raise ValueError("varint of a negative value")
    return values.astype(np.uint64, copy=False)
