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

import struct
from collections.abc import Callable
from typing import Final

__all__ = [
    "CRC_MASK_DELTA",
    "MAX_VARINT32_BYTES",
    "MAX_VARINT64_BYTES",
    "crc32c",
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
    import os

    package = importlib.machinery.PathFinder.find_spec("crc32c")  # finds, does not import
    locations = (package.submodule_search_locations or []) if package is not None else []
    # The extension's file in the package's directory, probed by name: a finder for that
    # directory would list it first (~0.1 ms in a fresh process).
    for location in locations:
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = os.path.join(location, "_crc32c" + suffix)
            if os.path.isfile(path):
                loader = importlib.machinery.ExtensionFileLoader("crc32c._crc32c", path)
                module = loader.create_module(importlib.machinery.ModuleSpec("crc32c._crc32c", loader, origin=path))
                loader.exec_module(module)
                return module.crc32c  # type: ignore[no-any-return]
    import crc32c  # an unusual install: the package as such

    return crc32c.crc32c  # type: ignore[no-any-return, unused-ignore]


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
