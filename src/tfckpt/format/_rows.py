"""Padded byte rows: many short byte strings built at once with numpy.

Writing 100,000 small tensors is dominated by per-entry Python work: each index entry is a
``BundleEntryProto`` of about 20 bytes inside a prefix-compressed block entry. The writer
therefore keeps its entries as numbers and builds all of them with a few array operations
over *padded rows*::

    matrix[i, :lengths[i]]   row i's bytes, left-aligned; the rest of the row is zero
    (matrix, keep)           row i is matrix[i][keep[i]]: any columns, in column order

Building a string of fields is then "lay the fields' matrices side by side, keep each
field's own bytes" (:func:`join_fields`), and the row-major order of boolean indexing
concatenates every row's bytes in one pass. Each helper is the vectorized twin of a
scalar one: :func:`encode_varints` of :func:`._coding.encode_varint`,
:func:`common_prefix_lengths` of :func:`._block.common_prefix_length`.

Memory is ``rows x widest row`` bytes, so callers check :func:`fits` first and fall back
to their scalar path when a few very long strings among many short ones would make the
padding dominate.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, TypeAlias

import numpy as np

from ._coding import crc32c

__all__ = [
    "MAX_MATRIX_BYTES",
    "MAX_PADDING_FACTOR",
    "Field",
    "common_prefix_lengths",
    "crc32c_rows",
    "decode_varints",
    "encode_varints",
    "fits",
    "join_fields",
    "left_aligned",
    "left_aligned_columns",
    "little_endian_bytes",
    "pad_rows",
    "repad",
    "varint_lengths",
    "varint_words",
    "windows",
]

#: A padded matrix may always take this many bytes...
MAX_MATRIX_BYTES: Final = 64 << 20
#: ... or this many times the bytes it holds (a row is as wide as the widest string).
MAX_PADDING_FACTOR: Final = 4

_U8: Final = np.dtype(np.uint8)
#: :func:`join_fields` copies a varying field this narrow one column at a time.
_COLUMN_BY_COLUMN: Final = 4
_I64: Final = np.dtype(np.int64)

#: One field of many rows, ``(matrix, keep, lengths)``: row ``i``'s bytes are
#: ``matrix[i][keep[i]]``, ``lengths[i]`` of them (see :func:`join_fields`). ``keep`` None:
#: every row is the whole matrix row (a field of one width, such as a shared prefix).
Field: TypeAlias = tuple[np.ndarray, np.ndarray | None, np.ndarray]


def fits(rows: int, width: int, payload: int) -> bool:
    """Whether a ``rows x width`` padded matrix holding ``payload`` bytes is small enough:
    within :data:`MAX_MATRIX_BYTES`, or at most :data:`MAX_PADDING_FACTOR` times ``payload``."""
    size = rows * width
    return size <= MAX_MATRIX_BYTES or size <= MAX_PADDING_FACTOR * payload


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


def windows(data: np.ndarray, width: int) -> np.ndarray:
    """``out[j] = data[j : j + width]`` for every ``j`` (read-only views of one contiguous
    ``uint8`` array), as numpy's ``sliding_window_view`` gives them, without its ~0.1 ms
    of checks: a gather of its rows copies any row at once."""
    out = np.ndarray((max(len(data) - width + 1, 0), width), _U8, data, 0, (1, 1))
    out.flags.writeable = False
    return out


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


def _as_u64(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind == "i" and values.size and int(values.min()) < 0:
        raise ValueError("varint of a negative value")
    return values.astype(np.uint64, copy=False)


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


#: CRC-32C's reflected polynomial (Castagnoli), as in ``crc32c.h``.
_CASTAGNOLI: Final = 0x82F63B78
#: ``_crc_tables[k * 256 + b]``: the CRC-32C register after byte ``b`` followed by ``k``
#: zero bytes, from a zero register; grown on first use to the widest row checked.
_crc_tables: np.ndarray = np.zeros(0, np.uint32)
#: width -> CRC-32C of that many zero bytes (the initial and final XORs' share of a row's CRC)
_crc_of_zeros: dict[int, int] = {}


def _crc32c_tables(width: int) -> np.ndarray:
    """:data:`_crc_tables` for rows of up to ``width`` bytes (``k < width``)."""
    global _crc_tables
    have = len(_crc_tables) // 256
    if have < width:
        if not have:
            crc = np.arange(256, dtype=np.uint32)
            for _ in range(8):
                crc = np.where(crc & 1, (crc >> np.uint32(1)) ^ np.uint32(_CASTAGNOLI), crc >> np.uint32(1))
            tables = [crc]
        else:
            tables = list(_crc_tables.reshape(have, 256))
        first = tables[0]
        while len(tables) < width:  # one more zero byte: the register shifted through the table
            tables.append((tables[-1] >> np.uint32(8)) ^ first[tables[-1] & 0xFF])
        _crc_tables = np.concatenate(tables)
    return _crc_tables


def crc32c_rows(matrix: np.ndarray) -> np.ndarray:
    """The CRC-32C of each row of a ``(rows, width)`` ``uint8`` matrix (the vectorized twin
    of :func:`._coding.crc32c`), as ``uint32``.

    CRC-32C is affine in the message bits: a row's CRC is the XOR of one table value per
    byte, ``tables[width - 1 - i][row[i]]`` (byte ``i`` followed by the row's other bytes
    as zeros), and of the CRC of ``width`` zero bytes (what the initial and final XORs
    contribute). So all rows take one gather of ``rows x width`` table values and one XOR
    reduction, whatever the width: a few numpy operations, which beats one call of the C
    function per row for rows of a few dozen bytes.
    """
    rows, width = matrix.shape
    if not width:
        return np.zeros(rows, np.uint32)
    tables = _crc32c_tables(width)
    zeros = _crc_of_zeros.get(width)
    if zeros is None:
        zeros = _crc_of_zeros[width] = crc32c(bytes(width))
    # position i of the row looks up table k = width - 1 - i: row-major (width, rows), so
    # the XOR reduces over the first axis, rows at a time
    at = matrix.T + (np.arange(width - 1, -1, -1, dtype=np.intp) * 256)[:, None]
    crc: np.ndarray = np.bitwise_xor.reduce(tables[at], axis=0) ^ np.uint32(zeros)
    return crc
