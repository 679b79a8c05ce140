"""Lowest layer: varints, fixed-width integers and TensorFlow's masked CRC32C.

Grammar (protobuf/LevelDB conventions, all little-endian)::

    varint32/64 := 1..5 / 1..10 bytes; 7 payload bits each, low group first,
                   high bit set on every byte but the last
    fixed32     := 4 bytes LE         fixed64 := 8 bytes LE

Masked CRC (``tsl/lib/hash/crc32c.h``): CRCs stored next to the data they cover are
*masked* so that a CRC of data that itself contains CRCs stays well distributed::

    Mask(c)   = rotate_right(c, 15) + CRC_MASK_DELTA   (mod 2**32)
    Unmask(m) = rotate_left(m - CRC_MASK_DELTA, 15)

Decoders take ``(buf, pos, limit)`` and return ``(value, new_pos)``; they raise
:class:`_Truncated` / :class:`_Malformed` (internal, position-carrying), which the layers
above turn into :class:`~tfckpt.errors.CorruptionError` with the file name attached.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable
from typing import Final

__all__ = [
    "CRC_MASK_DELTA",
    "MAX_VARINT32_BYTES",
    "MAX_VARINT64_BYTES",
    "crc32c",
    "crc32c_combine",
    "crc32c_function",
    "decode_fixed32",
    "decode_varint",
    "encode_fixed32",
    "encode_fixed64",
    "encode_varint",
    "mask_crc",
    "unmask_crc",
]

#: Added after rotating, so ``Mask(0) != 0`` (``kMaskDelta`` in crc32c.h).
CRC_MASK_DELTA: Final = 0xA282EAD8
_U32: Final = 0xFFFFFFFF
#: The longest varints: 5 bytes of 7 bits hold a uint32, 10 a uint64.
MAX_VARINT32_BYTES: Final = 5
MAX_VARINT64_BYTES: Final = 10
_U64: Final = 0xFFFFFFFFFFFFFFFF
_FIXED32 = struct.Struct("<I")
_FIXED64 = struct.Struct("<Q")


class CodingError(Exception):
    """Internal: a low-level decode failed at ``pos``. Converted to CorruptionError above."""

    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.pos = pos


def _load_crc32c(data: bytes | bytearray | memoryview, value: int = 0) -> int:
    # The ``crc32c`` package's C function, loaded on first use and without running the
    # package's ``__init__``: that looks up its own version through importlib.metadata,
    # about 30 ms, as much as opening a checkpoint in a fresh process otherwise costs.
    global _crc32c_impl
    _crc32c_impl = _crc32c_extension()
    return _crc32c_impl(data, value)


def _crc32c_extension() -> Callable[..., int]:
    # importlib.machinery is loaded at interpreter start; importlib.util would cost 0.5 ms more.
    import importlib.machinery

    package = importlib.machinery.PathFinder.find_spec("crc32c")  # finds, does not import
    locations = package.submodule_search_locations if package is not None else None
    spec = importlib.machinery.PathFinder.find_spec("crc32c._crc32c", list(locations or []))
    if spec is None or not isinstance(spec.loader, importlib.machinery.ExtensionFileLoader):
        import crc32c  # an unusual install: the package as such

        return crc32c.crc32c  # type: ignore[no-any-return, unused-ignore]
    module = spec.loader.create_module(spec)
    spec.loader.exec_module(module)
    return module.crc32c  # type: ignore[no-any-return]


_crc32c_impl: Callable[..., int] = _load_crc32c


def crc32c(data: bytes | bytearray | memoryview, value: int = 0) -> int:
    """CRC-32C (Castagnoli) of ``data``, extending ``value``; hardware-accelerated and
    releasing the GIL on large buffers (the ``crc32c`` package's C function)."""
    return _crc32c_impl(data, value)


def crc32c_function() -> Callable[..., int]:
    """The ``crc32c`` package's C function itself, for loops that call it 100,000 times."""
    if _crc32c_impl is _load_crc32c:
        _load_crc32c(b"")
    return _crc32c_impl


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


def mask_crc(crc: int) -> int:
    """Mask a CRC for storage (``crc32c::Mask``)."""
    return ((((crc >> 15) | (crc << 17)) & _U32) + CRC_MASK_DELTA) & _U32


def unmask_crc(masked: int) -> int:
    """Invert :func:`mask_crc` (``crc32c::Unmask``)."""
    rot = (masked - CRC_MASK_DELTA) & _U32
    return ((rot >> 17) | (rot << 15)) & _U32


#: The one-byte varints, prebuilt: writing 100,000 index entries encodes ~10 varints each.
_ONE_BYTE_VARINTS: Final = tuple(bytes((i,)) for i in range(0x80))


def encode_varint(value: int) -> bytes:
    """Base-128 varint of a non-negative integer."""
    if 0 <= value < 0x80:
        return _ONE_BYTE_VARINTS[value]
    if value < 0:
        raise ValueError(f"varint of negative value {value}")
    if value < 0x4000:
        return bytes(((value & 0x7F) | 0x80, value >> 7))
    if value < 0x10000000:  # offsets and sizes up to 256 MiB: unrolled, no loop
        if value < 0x200000:
            return bytes(((value & 0x7F) | 0x80, ((value >> 7) & 0x7F) | 0x80, value >> 14))
        return bytes(((value & 0x7F) | 0x80, ((value >> 7) & 0x7F) | 0x80, ((value >> 14) & 0x7F) | 0x80, value >> 21))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_varint(buf: bytes | memoryview, pos: int, limit: int, max_bytes: int = 10) -> tuple[int, int]:
    """Decode a varint of at most ``max_bytes`` bytes (5 for varint32) in ``buf[pos:limit]``."""
    if pos < limit:
        b = buf[pos]
        if b < 0x80:  # the common one-byte case
            return b, pos + 1
    result = 0
    shift = 0
    start = pos
    while pos < limit and pos - start < max_bytes:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            if max_bytes == 5 and result > _U32:
                raise CodingError("varint32 overflows 32 bits", start)
            if result > _U64:  # a 10th byte above 1 carries bits past 2**64
                raise CodingError("varint64 overflows 64 bits", start)
            return result, pos
        shift += 7
    if pos >= limit:
        raise CodingError("truncated varint", start)
    raise CodingError(f"varint longer than {max_bytes} bytes", start)


def encode_fixed32(value: int) -> bytes:
    return _FIXED32.pack(value)


def encode_fixed64(value: int) -> bytes:
    return _FIXED64.pack(value)


def decode_fixed32(buf: bytes | memoryview, pos: int, limit: int | None = None) -> int:
    """Read a little-endian uint32 at ``pos``; ``limit`` defaults to ``len(buf)``."""
    end = len(buf) if limit is None else limit
    if pos < 0 or pos + 4 > end:
        raise CodingError("truncated fixed32", pos)
    return int(_FIXED32.unpack_from(buf, pos)[0])
