"""String and variant tensor payloads (see :mod:`._bundle` for their byte layouts).

Loaded on first use: a reader of fixed-width tensors never needs them. A string payload
is ``varint64 len[0..n) | fixed32 Mask(Cl) | bytes[0] ... bytes[n-1]``; a variant payload
is, per element, ``varint64 L | L bytes (VariantTensorDataProto) | fixed32 Mask(C)``.
"""

from __future__ import annotations

import struct
from typing import Final

import numpy as np

from ..errors import CorruptionError
from ._bundle import BIG, HOST_ENDIANNESS
from ._coding import CodingError, crc32c, decode_fixed32, decode_varint, encode_varint, mask_crc, unmask_crc

__all__ = ["decode_string_tensor", "encode_string_tensor", "split_variant_tensor"]

_U32_MAX: Final = 0xFFFFFFFF


def _length_struct(big_endian: bool, wide: bool) -> struct.Struct:
    return struct.Struct(("<" if not big_endian else ">") + ("Q" if wide else "I"))


_LEN_STRUCTS: Final = {(be, w): _length_struct(be, w) for be in (False, True) for w in (False, True)}


def encode_string_tensor(values: list[bytes], *, big_endian: bool = HOST_ENDIANNESS == BIG) -> tuple[bytes, int]:
    """Encode string elements as TF's ``WriteStringTensor``; return ``(payload, entry_crc)``.

    The length checksum covers each length as a uint32/uint64 in the writer's byte order,
    and is itself stored in that order, so a bundle's header ``endianness`` (the host's, as
    TF records it) decides both.
    """
    lengths = bytearray()
    len_crc = 0
    for v in values:
        n = len(v)
        lengths += encode_varint(n)
        len_crc = crc32c(_LEN_STRUCTS[big_endian, n > _U32_MAX].pack(n), len_crc)
    checksum = _LEN_STRUCTS[big_endian, False].pack(mask_crc(len_crc))
    body = b"".join(values)
    crc = crc32c(body, crc32c(checksum, len_crc))
    return bytes(lengths) + checksum + body, crc


def decode_string_tensor(
    buf: bytes | memoryview,
    num_elements: int,
    *,
    big_endian: bool,
    verify: bool,
    expected_crc: int,
    path: str,
    name: str,
    base: int,
) -> np.ndarray:
    """Decode a string payload into a flat object array of ``bytes``.

    ``base`` is the payload's offset in its file, for error messages. The length
    checksum is always verified (as TF does); the entry checksum when ``verify``.
    """
    size = len(buf)
    pos = 0
    lengths: list[int] = []
    len_crc = 0
    try:
        for _ in range(num_elements):
            n, pos = decode_varint(buf, pos, size)
            lengths.append(n)
            len_crc = crc32c(_LEN_STRUCTS[big_endian, n > _U32_MAX].pack(n), len_crc)
        stored_raw = decode_fixed32(buf, pos, size)
        if big_endian:  # TF writes the masked checksum as a native uint32 too (verified with TF 2.21)
            stored_raw = int.from_bytes(stored_raw.to_bytes(4, "little"), "big")
        stored = unmask_crc(stored_raw)
    except CodingError as e:
        raise CorruptionError(f"string lengths: {e}", path=path, offset=base + e.pos, tensor=name) from None
    if stored != len_crc:
        raise CorruptionError(
            f"string length checksum mismatch (stored {stored:#010x}, computed {len_crc:#010x})",
            path=path,
            offset=base + pos,
            tensor=name,
        )
    body_start = pos + 4
    total = sum(lengths)
    if body_start + total != size:
        raise CorruptionError(
            f"string bytes: lengths add up to {total} but the entry holds {size - body_start}",
            path=path,
            offset=base + body_start,
            tensor=name,
        )
    if verify:
        crc = crc32c(buf[body_start:], crc32c(buf[pos:body_start], len_crc))
        if crc != expected_crc:
            raise CorruptionError(
                f"checksum mismatch (stored {expected_crc:#010x}, computed {crc:#010x})", path=path, offset=base, tensor=name
            )
    out = np.empty(num_elements, dtype=object)
    data = bytes(buf[body_start:])
    p = 0
    for i, n in enumerate(lengths):
        out[i] = data[p : p + n]
        p += n
    return out


def split_variant_tensor(
    buf: bytes | memoryview, num_elements: int, *, verify: bool, expected_crc: int, path: str, name: str, base: int
) -> list[bytes]:
    """Split a variant payload into each element's serialized ``VariantTensorDataProto``."""
    size = len(buf)
    pos = 0
    crc = 0
    out: list[bytes] = []
    try:
        for _ in range(num_elements):
            n, p = decode_varint(buf, pos, size)
            if p + n + 4 > size:
                raise CorruptionError(
                    f"variant element of {n} bytes runs past the entry", path=path, offset=base + pos, tensor=name
                )
            crc = crc32c(struct.pack("<Q", n), crc)
            crc = crc32c(buf[p : p + n], crc)
            stored = unmask_crc(decode_fixed32(buf, p + n, size))
            if stored != crc:
                raise CorruptionError(
                    f"variant element checksum mismatch (stored {stored:#010x}, computed {crc:#010x})",
                    path=path,
                    offset=base + p + n,
                    tensor=name,
                )
            crc = crc32c(buf[p + n : p + n + 4], crc)
            out.append(bytes(buf[p : p + n]))
            pos = p + n + 4
    except CodingError as e:
        raise CorruptionError(f"variant lengths: {e}", path=path, offset=base + e.pos, tensor=name) from None
    if pos != size:
        raise CorruptionError(f"variant entry has {size - pos} trailing bytes", path=path, offset=base + pos, tensor=name)
    if verify and crc != expected_crc:
        raise CorruptionError(
            f"checksum mismatch (stored {expected_crc:#010x}, computed {crc:#010x})", path=path, offset=base, tensor=name
        )
    return out
