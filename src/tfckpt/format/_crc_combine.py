"""CRC-32C of a concatenation from the CRCs of its parts (zlib's ``crc32_combine``).

Loaded on first use (by :mod:`tfckpt.tools.average`, which checksums ranges of a tensor in
threads): a CRC is a polynomial over GF(2), and appending ``n`` bytes multiplies it by
``x^(8n)`` modulo the CRC-32C polynomial, so ``crc(a + b) = crc(a) * x^(8 len(b)) + crc(b)``.
"""

from __future__ import annotations

import functools
from typing import Final

__all__ = ["crc32c_combine"]

#: CRC-32C's generator polynomial, bit-reversed (the low bit is x^31): 0x1EDC6F41 reflected.
_CRC32C_POLY: Final = 0x82F63B78
#: x^(2^k) modulo the polynomial for k = 0..31, filled on first use by :func:`_x2n_table`.
_X2N: list[int] = []


def _multiply_mod_poly(a: int, b: int) -> int:
    """``a(x) * b(x)`` modulo the CRC-32C polynomial, both in reflected bit order (the top
    bit is x^0): zlib's ``multmodp``."""
    product = 0
    for bit in range(31, -1, -1):
        if (a >> bit) & 1:
            product ^= b
        b = (b >> 1) ^ _CRC32C_POLY if b & 1 else b >> 1
    return product


def _x2n_table() -> list[int]:
    if not _X2N:
        power = 1 << 30  # x^1
        for _ in range(32):
            _X2N.append(power)
            power = _multiply_mod_poly(power, power)
    return _X2N


@functools.lru_cache(maxsize=256)
def _shift_operator(nbytes: int) -> int:
    """x^(8 * nbytes) modulo the polynomial (zlib's ``x2nmodp(nbytes, 3)``): appending
    ``nbytes`` bytes multiplies a CRC's polynomial by it. Cached: the ranges a tensor is cut
    into repeat their lengths."""
    table = _x2n_table()
    power, k = 1 << 31, 3  # x^0; bit i of nbytes stands for x^(8 * 2^i) = x^(2^(i + 3))
    while nbytes:
        if nbytes & 1:
            power = _multiply_mod_poly(table[k & 31], power)
        nbytes >>= 1
        k += 1
    return power


@functools.lru_cache(maxsize=256)
def _shift_tables(nbytes: int) -> tuple[tuple[int, ...], ...]:
    """:func:`_shift_operator` of ``nbytes`` as eight 16-entry tables, one per 4 bits of the
    CRC it multiplies: the product is linear in the CRC's bits, so it is the XOR of the eight
    nibbles' entries (8 lookups instead of a 32-step loop; averaging combines ~1,200 chunk
    checksums a run, on the thread the compute threads need the GIL from). The 32
    single-bit products come from the operator by multiplying by x, one shift each (bit
    ``k - 1`` stands for x times bit ``k``), so a length seen for the first time costs a few
    microseconds more than :func:`_shift_operator`, not 32 full multiplications."""
    product = _shift_operator(nbytes)  # times bit 31, which is x^0
    bits = [0] * 32
    for k in range(31, -1, -1):
        bits[k] = product
        product = (product >> 1) ^ _CRC32C_POLY if product & 1 else product >> 1
    tables = []
    for nibble in range(8):
        table = [0] * 16
        for value in range(1, 16):
            low = value & -value
            table[value] = table[value ^ low] ^ bits[4 * nibble + low.bit_length() - 1]
        tables.append(tuple(table))
    return tuple(tables)


def crc32c_combine(crc1: int, crc2: int, len2: int) -> int:
    """The CRC-32C of ``a + b`` from ``crc1 = crc32c(a)``, ``crc2 = crc32c(b)`` and
    ``len2 = len(b)`` (zlib's ``crc32_combine``): ranges of one buffer checksummed apart,
    in threads, give the checksum of the whole. The init and final XOR cancel out, so this
    is ``crc1 * x^(8 * len2) + crc2`` over GF(2) modulo the polynomial."""
    if len2 <= 0:
        return crc1
    t0, t1, t2, t3, t4, t5, t6, t7 = _shift_tables(len2)
    return (
        t0[crc1 & 15] ^ t1[(crc1 >> 4) & 15] ^ t2[(crc1 >> 8) & 15] ^ t3[(crc1 >> 12) & 15]
        ^ t4[(crc1 >> 16) & 15] ^ t5[(crc1 >> 20) & 15] ^ t6[(crc1 >> 24) & 15] ^ t7[crc1 >> 28] ^ crc2
    )  # fmt: skip
