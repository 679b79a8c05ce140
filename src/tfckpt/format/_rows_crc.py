"""CRC-32C of many short rows at once (the bulk read's checksums; see :mod:`._rows` for rows).

Loaded on first use by :mod:`._v2_bulk`: reading tensors one by one checks each with the
``crc32c`` package's C function.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from ._coding import crc32c

__all__ = ["crc32c_rows"]

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
