"""The lowest layer: varints, fixed-width integers and the masked CRC32C, pinned to exact bytes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tfckpt.format._coding import (
    CRC_MASK_DELTA,
    CodingError,
    crc32c,
    decode_fixed32,
    decode_varint,
    encode_fixed32,
    encode_fixed64,
    encode_varint,
    mask_crc,
    unmask_crc,
)
from tfckpt.format._crc_combine import crc32c_combine


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, "00"),
        (1, "01"),
        (127, "7f"),
        (128, "80 01"),
        (300, "ac 02"),
        (16383, "ff 7f"),
        (16384, "80 80 01"),
        (2**32 - 1, "ff ff ff ff 0f"),
        (2**63, "80 80 80 80 80 80 80 80 80 01"),
        (2**64 - 1, "ff ff ff ff ff ff ff ff ff 01"),
    ],
)
def test_varint_exact_bytes(value: int, encoded: str) -> None:
    raw = bytes.fromhex(encoded)
    assert encode_varint(value) == raw
    assert decode_varint(raw, 0, len(raw)) == (value, len(raw))


def test_varint_decodes_at_offset_and_stops_at_the_last_byte() -> None:
    buf = b"\xee\xac\x02\x05"
    assert decode_varint(buf, 1, len(buf)) == (300, 3)
    assert decode_varint(buf, 3, len(buf)) == (5, 4)


def test_negative_varint_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        encode_varint(-1)


@pytest.mark.parametrize("raw", ["", "80", "ff ff", "80 80 80 80 80 80 80 80 80"])
def test_truncated_varint(raw: str) -> None:
    buf = bytes.fromhex(raw)
    with pytest.raises(CodingError, match="truncated varint") as info:
        decode_varint(buf, 0, len(buf))
    assert info.value.pos == 0


def test_truncation_respects_limit_not_buffer_length() -> None:
    buf = b"\x80\x01"
    with pytest.raises(CodingError, match="truncated"):
        decode_varint(buf, 0, 1)


def test_varint_longer_than_ten_bytes_is_malformed() -> None:
    buf = b"\x80" * 10 + b"\x01"
    with pytest.raises(CodingError, match="longer than 10 bytes"):
        decode_varint(buf, 0, len(buf))


def test_varint64_overflow() -> None:
    ok = bytes.fromhex("ff ff ff ff ff ff ff ff ff 01")
    assert decode_varint(ok, 0, 10) == (2**64 - 1, 10)
    for raw in ("ff ff ff ff ff ff ff ff ff 02", "80 80 80 80 80 80 80 80 80 7f"):
        with pytest.raises(CodingError, match="varint64 overflows 64 bits"):
            decode_varint(bytes.fromhex(raw), 0, 10)


def test_varint32_overflow() -> None:
    ok = bytes.fromhex("ff ff ff ff 0f")
    assert decode_varint(ok, 0, 5, max_bytes=5) == (2**32 - 1, 5)
    too_big = bytes.fromhex("ff ff ff ff 1f")
    with pytest.raises(CodingError, match="overflows 32 bits"):
        decode_varint(too_big, 0, 5, max_bytes=5)
    six = bytes.fromhex("80 80 80 80 80 01")
    with pytest.raises(CodingError, match="longer than 5 bytes"):
        decode_varint(six, 0, 6, max_bytes=5)


@given(st.integers(min_value=0, max_value=2**64 - 1))
def test_varint_round_trip(value: int) -> None:
    raw = encode_varint(value)
    assert len(raw) == max(1, (value.bit_length() + 6) // 7)
    assert decode_varint(raw + b"\xff", 0, len(raw) + 1) == (value, len(raw))


def test_fixed_width_little_endian() -> None:
    assert encode_fixed32(0x01020304) == bytes.fromhex("04 03 02 01")
    assert encode_fixed64(0x0102030405060708) == bytes.fromhex("08 07 06 05 04 03 02 01")
    assert decode_fixed32(b"\x00\x04\x03\x02\x01", 1) == 0x01020304
    with pytest.raises(CodingError, match="truncated fixed32") as info:
        decode_fixed32(b"\x01\x02\x03\x04\x05", 2)
    assert info.value.pos == 2
    with pytest.raises(CodingError, match="truncated fixed32"):
        decode_fixed32(b"\x01\x02\x03\x04\x05", 0, limit=3)


def test_crc32c_check_value() -> None:
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"") == 0
    # extending: crc(a + b) == crc(b, crc(a))
    assert crc32c(b"56789", crc32c(b"1234")) == 0xE3069283
    assert crc32c(memoryview(b"x123456789")[1:]) == 0xE3069283


def test_crc32c_combine_check_value() -> None:
    assert crc32c_combine(crc32c(b"1234"), crc32c(b"56789"), 5) == 0xE3069283
    assert crc32c_combine(crc32c(b"123456789"), crc32c(b""), 0) == 0xE3069283
    assert crc32c_combine(crc32c(b""), crc32c(b"123456789"), 9) == 0xE3069283


@given(st.binary(max_size=300), st.binary(max_size=300), st.integers(0, 1 << 20))
def test_crc32c_combine_is_the_checksum_of_the_concatenation(a: bytes, b: bytes, zeros: int) -> None:
    assert crc32c_combine(crc32c(a), crc32c(b), len(b)) == crc32c(a + b)
    tail = b + bytes(zeros)  # long second parts: every bit of the length used
    assert crc32c_combine(crc32c(a), crc32c(tail), len(tail)) == crc32c(a + tail)


def test_mask_constants() -> None:
    assert CRC_MASK_DELTA == 0xA282EAD8
    assert mask_crc(0) == 0xA282EAD8
    assert unmask_crc(0xA282EAD8) == 0
    # an empty tensor's stored checksum (FORMAT section 3) and its bytes on disk
    assert encode_fixed32(mask_crc(0)) == bytes.fromhex("d8 ea 82 a2")
    assert mask_crc(0xE3069283) == 0xC78AB0E5  # rotr15 = 0x2507c60d, plus the delta


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_mask_inverts(crc: int) -> None:
    masked = mask_crc(crc)
    assert 0 <= masked <= 0xFFFFFFFF
    assert unmask_crc(masked) == crc


def test_crc32c_extension_found_by_name_and_the_package_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    """The C function is loaded from the package's extension file without running the
    package's ``__init__``; where no such file is found (an unusual install), from the
    package itself. Both give the same CRCs."""
    import importlib.machinery

    import tfckpt.format._coding as coding

    direct = coding._crc32c_extension()
    assert direct.__module__ == "crc32c._crc32c" and direct(b"123456789") == 0xE3069283
    monkeypatch.setattr(importlib.machinery, "EXTENSION_SUFFIXES", [".no-such-suffix"])
    fallback = coding._crc32c_extension()
    assert fallback(b"123456789") == 0xE3069283 and fallback(b"abc", 7) == direct(b"abc", 7)
