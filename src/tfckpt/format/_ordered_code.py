"""OrderedCode, as used in the keys of slices of partitioned variables.

A partitioned variable's slice is stored under (``saved_tensor_slice_util.cc``
``EncodeTensorNameSlice``, codes from ``lib/strings/ordered_code.cc``)::

    key := NumIncreasing(0) String(name) NumIncreasing(rank)
           (SignedNumIncreasing(start_d) SignedNumIncreasing(length_d))*rank

* ``NumIncreasing(v)``: one byte ``n`` (count of significant bytes; 0 for 0) then ``n``
  big-endian bytes.
* ``String(s)``: ``s`` with ``00 -> 00 ff`` and ``ff -> ff 00``, then ``00 01``.
* ``SignedNumIncreasing(v)``: 1 to 10 bytes; the count is in the leading bits of the first
  byte(s) (``_LENGTH_TO_HEADER_BITS``), the rest is the big-endian sign-extended value; n bytes
  hold ``[-2**(7n-1), 2**(7n-1))``. ``0 -> 80``, ``-1 -> 7f``. A full extent is start 0,
  length -1 (``kFullExtent``): ``80 7f``.
"""

from __future__ import annotations

from typing import Final

__all__ = ["FULL_EXTENT", "decode_slice_key", "encode_slice_key"]

FULL_EXTENT: Final = -1
_ESCAPE1: Final = 0x00
_ESCAPE2: Final = 0xFF
_NULL_CHARACTER: Final = 0xFF  # follows an escaped 0x00
_SEPARATOR: Final = 0x01  # ends a string after 0x00
_FF_CHARACTER: Final = 0x00  # follows an escaped 0xff
# (first byte, second byte) header bits for a signed number of n bytes, n = 1..10.
_LENGTH_TO_HEADER_BITS: Final = (
    (0, 0), (0x80, 0), (0xC0, 0), (0xE0, 0), (0xF0, 0), (0xF8, 0), (0xFC, 0), (0xFE, 0), (0xFF, 0), (0xFF, 0x80), (0xFF, 0xC0),
)


class OrderedCodeError(Exception):
    """Internal: a slice key does not decode."""


def _num_increasing(v: int) -> bytes:
    n = (v.bit_length() + 7) // 8
    return bytes((n,)) + v.to_bytes(n, "big")


def _escape(s: bytes) -> bytes:
    out = bytearray()
    for b in s:
        if b == _ESCAPE1:
            out += b"\x00\xff"
        elif b == _ESCAPE2:
            out += b"\xff\x00"
        else:
            out.append(b)
    return bytes(out) + b"\x00\x01"


def _signed_num_increasing(v: int) -> bytes:
    x = ~v if v < 0 else v
    if x < 64:
        return bytes(((0x80 ^ v) & 0xFF,))
    n = (x.bit_length() + 1 + 6) // 7  # bits incl. sign, 7 value bits per byte
    n = max(n, 2)
    raw = bytearray((v & ((1 << (8 * n)) - 1)).to_bytes(n, "big"))
    h0, h1 = _LENGTH_TO_HEADER_BITS[n]
    raw[0] ^= h0
    if n > 1:
        raw[1] ^= h1
    return bytes(raw)


def encode_slice_key(name: bytes, starts: tuple[int, ...], lengths: tuple[int, ...]) -> bytes:
    """The key of one slice; ``lengths[d] == FULL_EXTENT`` marks a full dimension."""
    parts = [_num_increasing(0), _escape(name), _num_increasing(len(starts))]
    for start, length in zip(starts, lengths):
        parts.append(_signed_num_increasing(start))
        parts.append(_signed_num_increasing(length))
    return b"".join(parts)


def _read_num_increasing(key: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(key):
        raise OrderedCodeError("truncated number")
    n = key[pos]
    if n > 8 or pos + 1 + n > len(key):
        raise OrderedCodeError("bad number length")
    return int.from_bytes(key[pos + 1 : pos + 1 + n], "big"), pos + 1 + n


def _read_string(key: bytes, pos: int) -> tuple[bytes, int]:
    out = bytearray()
    while pos + 1 < len(key):
        b = key[pos]
        if b == _ESCAPE1:
            nxt = key[pos + 1]
            if nxt == _SEPARATOR:
                return bytes(out), pos + 2
            if nxt != _NULL_CHARACTER:
                raise OrderedCodeError("bad escape after 0x00")
            out.append(0)
            pos += 2
        elif b == _ESCAPE2:
            if key[pos + 1] != _FF_CHARACTER:
                raise OrderedCodeError("bad escape after 0xff")
            out.append(0xFF)
            pos += 2
        else:
            out.append(b)
            pos += 1
    raise OrderedCodeError("unterminated string")


def _read_signed_num_increasing(key: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(key):
        raise OrderedCodeError("truncated signed number")
    first = key[pos]
    negative = first < 0x80
    # Count the length from the header bits: leading ones (positive) or zeros (negative).
    flip = 0xFF if negative else 0
    x = first ^ flip
    if x != 0xFF:
        n = 8 - (x ^ 0xFF).bit_length()  # one leading 1-bit per extra byte
    else:
        if pos + 2 >= len(key):
            raise OrderedCodeError("truncated signed number")
        second = key[pos + 1] ^ flip
        if second < 0x80:
            n = 8
        elif second < 0xC0:
            n = 9
        elif second == 0xC0 and (key[pos + 2] ^ flip) < 0x80:
            n = 10
        else:
            raise OrderedCodeError("signed number longer than 64 bits")
    if pos + n > len(key):
        raise OrderedCodeError("truncated signed number")
    raw = bytearray(key[pos : pos + n])
    h0, h1 = _LENGTH_TO_HEADER_BITS[n]
    raw[0] ^= h0
    if n > 1:
        raw[1] ^= h1
    value = int.from_bytes(raw, "big", signed=False)
    bits = 8 * n
    if negative:
        value -= 1 << bits
    # Sign information lives in the header; the payload is the value sign-extended.
    return value, pos + n


def decode_slice_key(key: bytes) -> tuple[bytes, tuple[int, ...], tuple[int, ...]]:
    """Invert :func:`encode_slice_key`; raises :class:`OrderedCodeError`."""
    zero, pos = _read_num_increasing(key, 0)
    if zero != 0:
        raise OrderedCodeError("slice key does not start with 0")
    name, pos = _read_string(key, pos)
    rank, pos = _read_num_increasing(key, pos)
    if rank > 64:
        raise OrderedCodeError(f"slice key rank {rank} is implausible")
    starts: list[int] = []
    lengths: list[int] = []
    for _ in range(rank):
        s, pos = _read_signed_num_increasing(key, pos)
        n, pos = _read_signed_num_increasing(key, pos)
        starts.append(s)
        lengths.append(n)
    if pos != len(key):
        raise OrderedCodeError("trailing bytes after slice key")
    return name, tuple(starts), tuple(lengths)
