"""Bundle layer: OrderedCode slice keys, header and entry protos, tensor codecs, big-endian
bundles, and writer -> reader round trips (all without TensorFlow)."""

from __future__ import annotations

import itertools
import struct
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tfckpt
from tfckpt.format._bundle import BIG, BundleEntry, BundleHeader, data_filename
from tfckpt.format._bundle_encode import plain_entry_fields, plain_entry_prefix
from tfckpt.format._coding import crc32c, encode_fixed32, encode_varint, mask_crc, unmask_crc
from tfckpt.format._dtypes import DTYPE_BY_NAME, DTYPES
from tfckpt.format._ordered_code import FULL_EXTENT, OrderedCodeError, decode_slice_key, encode_slice_key
from tfckpt.format._rows_build import join_fields
from tfckpt.format._string_payloads import decode_string_tensor, encode_string_tensor, split_variant_tensor
from tfckpt.format._table import TableBuilder
from tfckpt.proto.tensor_bundle_pb2 import BundleEntryProto, BundleHeaderProto  # type: ignore[attr-defined]

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)

# -- OrderedCode slice keys (FORMAT section 5) -----------------------------------------


@pytest.mark.parametrize(
    ("name", "starts", "lengths", "key"),
    [
        (b"part", (0, 0), (3, 2), "00 70 61 72 74 00 01 01 02 80 83 80 82"),
        (b"part", (3, 0), (2, 2), "00 70 61 72 74 00 01 01 02 83 82 80 82"),
        (b"v0", (0,), (FULL_EXTENT,), "00 76 30 00 01 01 01 80 7f"),
        (b"a\x00b\xff", (), (), "00 61 00 ff 62 ff 00 00 01 00"),
        (b"x", (64,), (-65,), "00 78 00 01 01 01 c0 40 3f bf"),
        # written by TF 2.21's SaveV2 with slice specs "1099511627776,4" and "300,100":
        (b"x", (2**40,), (4,), "00 78 00 01 01 01 fd 00 00 00 00 00 84"),
        (b"y", (300,), (100,), "00 79 00 01 01 01 c1 2c c0 64"),
    ],
)
def test_slice_key_exact_bytes(name: bytes, starts: tuple[int, ...], lengths: tuple[int, ...], key: str) -> None:
    raw = bytes.fromhex(key)
    assert encode_slice_key(name, starts, lengths) == raw
    assert decode_slice_key(raw) == (name, starts, lengths)


_SLICE = st.integers(min_value=0, max_value=4).flatmap(
    lambda rank: st.tuples(
        st.binary(max_size=6), st.lists(INT64, min_size=rank, max_size=rank), st.lists(INT64, min_size=rank, max_size=rank)
    )
)


@given(_SLICE)
def test_slice_key_round_trip(s: tuple[bytes, list[int], list[int]]) -> None:
    name, starts, lengths = s
    assert decode_slice_key(encode_slice_key(name, tuple(starts), tuple(lengths))) == (name, tuple(starts), tuple(lengths))


@given(
    st.binary(max_size=4), st.binary(max_size=4), st.lists(INT64, min_size=2, max_size=2), st.lists(INT64, min_size=2, max_size=2)
)
def test_slice_key_order_is_numeric_order(n1: bytes, n2: bytes, a: list[int], b: list[int]) -> None:
    # Same rank: bytewise order of keys == order of (name, start0, length0, ...) tuples.
    k1 = encode_slice_key(n1, (a[0],), (a[1],))
    k2 = encode_slice_key(n2, (b[0],), (b[1],))
    assert (k1 < k2) == ((n1, a) < (n2, b))
    assert (k1 == k2) == ((n1, a) == (n2, b))


@pytest.mark.parametrize(
    "key",
    [
        "",  # truncated
        "01 01",  # does not start with NumIncreasing(0)
        "00 61",  # unterminated name
        "00 61 00 05",  # bad escape
        "00 61 ff 01 00 01 00",  # bad 0xff escape
        "00 61 00 01 01 02 80",  # rank 2 but one number
        "00 61 00 01 01 01 80 7f 00",  # trailing byte
        "00 61 00 01 09",  # number length 9
        "00 61 00 01 01 ff 80 80 80",  # rank 255: implausible
        "00 61 00 01 01 01 ff ff ff ff",  # signed number longer than 64 bits
        "00 61 00 01 01 01 c0",  # truncated 2-byte number
    ],
)
def test_bad_slice_keys(key: str) -> None:
    with pytest.raises(OrderedCodeError):
        decode_slice_key(bytes.fromhex(key))


@given(st.binary(max_size=24))
def test_slice_key_decoder_never_crashes(raw: bytes) -> None:
    try:
        name, starts, lengths = decode_slice_key(b"\x00" + raw)
    except OrderedCodeError:
        return
    assert encode_slice_key(name, starts, lengths) == b"\x00" + raw


# -- header and entries (FORMAT section 3) -------------------------------------------


def test_header_exact_bytes() -> None:
    assert BundleHeader(num_shards=1, endianness=0).encode() == bytes.fromhex("08 01 1a 02 08 01")
    assert BundleHeader.decode(bytes.fromhex("08 01 1a 02 08 01"), "p") == BundleHeader(1, 0, 1, 0, ())
    # A header without version (pre-2016 bundles) is accepted: producer 0.
    assert BundleHeader.decode(b"\x08\x03", "p") == BundleHeader(3, 0, 0, 0, ())


def _header(**kw: object) -> bytes:
    version = kw.pop("version", {"producer": 1})
    return bytes(BundleHeaderProto(version=version, **kw).SerializeToString())


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (_header(num_shards=1, version={"producer": 1, "min_consumer": 2}), tfckpt.UnsupportedError, "needs a newer reader"),
        (_header(num_shards=1, version={"producer": 1, "bad_consumers": [1]}), tfckpt.UnsupportedError, "bad_consumers \\[1\\]"),
        (_header(num_shards=1, version={"producer": -1}), tfckpt.CorruptionError, "producer version -1 is negative"),
        (_header(num_shards=0), tfckpt.CorruptionError, "says 0 data shards"),
        (_header(num_shards=1, endianness=5), tfckpt.CorruptionError, "unknown endianness 5"),
        (b"\x0a\xff", tfckpt.CorruptionError, "unparsable bundle header"),
    ],
)
def test_header_checks(value: bytes, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        BundleHeader.decode(value, "x.index")


def test_entry_exact_bytes() -> None:
    # FORMAT section 3: float32[2] at offset 35.
    e = BundleEntry(dtype=1, shape=(2,), offset=35, size=8, crc32c=0x88163F45)
    raw = bytes.fromhex("08 01 12 04 12 02 08 02 20 23 28 08 35 45 3f 16 88")
    assert e.encode() == raw
    assert BundleEntry.decode(raw, "p", "t") == e
    assert BundleEntry(1, ()).encode() == bytes.fromhex("08 01 12 00")  # shape always present
    assert BundleEntry(1, (0, 3)).encode() == bytes.fromhex("08 01 12 06 12 00 12 02 08 03")


def _proto(e: BundleEntry) -> bytes:
    p = BundleEntryProto(dtype=e.dtype, shard_id=e.shard_id, offset=e.offset, size=e.size, crc32c=e.crc32c)
    p.shape.SetInParent()
    for d in e.shape:
        p.shape.dim.add(size=d)
    for starts, lengths in e.slices:
        sp = p.slices.add()
        for s, n in zip(starts, lengths):
            ext = sp.extent.add()
            if n != FULL_EXTENT:
                ext.start = s
                ext.length = n
    return bytes(p.SerializeToString())


@st.composite
def entries(draw: st.DrawFn) -> BundleEntry:
    shape = tuple(draw(st.lists(st.integers(0, 2**40), max_size=4)))
    dtype = draw(st.sampled_from(sorted(DTYPES)))
    if draw(st.booleans()) and shape:
        slices = []
        for _ in range(draw(st.integers(1, 3))):
            starts, lengths = [], []
            for d in shape:
                if draw(st.booleans()):
                    starts.append(0)
                    lengths.append(FULL_EXTENT)
                else:
                    s = draw(st.integers(0, d))
                    starts.append(s)
                    lengths.append(draw(st.integers(0, d - s)))
            slices.append((tuple(starts), tuple(lengths)))
        return BundleEntry(dtype, shape, shard_id=draw(st.integers(0, 5)), slices=tuple(slices))
    return BundleEntry(
        dtype,
        shape,
        draw(st.integers(0, 2**31 - 1)),
        draw(st.integers(0, 2**62)),
        draw(st.integers(0, 2**62)),
        draw(st.integers(0, 2**32 - 1)),
    )


@settings(max_examples=200)
@given(entries())
def test_entry_encode_is_protobufs_bytes(e: BundleEntry) -> None:
    raw = e.encode()
    assert raw == _proto(e)
    assert BundleEntry.decode(raw, "p", "t") == e


@settings(max_examples=200)
@given(st.lists(entries().filter(lambda e: not e.slices), min_size=1, max_size=20))
def test_entries_encoded_in_bulk_match_one_by_one(batch: list[BundleEntry]) -> None:
    metas = sorted({(e.dtype, e.shape) for e in batch})
    prefixes = [plain_entry_prefix(*m) for m in metas]
    ids = np.array([metas.index((e.dtype, e.shape)) for e in batch])
    column = lambda field: np.array([getattr(e, field) for e in batch], np.uint64)
    crcs = np.array([unmask_crc(e.crc32c) for e in batch], np.uint64)  # the bulk encoder masks them
    data, lengths = join_fields(plain_entry_fields(prefixes, ids, column("shard_id"), column("offset"), column("size"), crcs))
    ends = np.cumsum(lengths).tolist()
    assert [data[a:b].tobytes() for a, b in zip([0, *ends], ends)] == [e.encode() for e in batch]


@settings(max_examples=100)
@given(
    entries().filter(lambda e: not e.slices),
    st.integers(2, 30),
    st.lists(st.sampled_from(["shard_id", "offset", "size"]), unique=True),
)
def test_fields_one_value_repeats_encode_as_one_by_one(entry: BundleEntry, count: int, varying: list[str]) -> None:
    # Fields holding one value for every entry (the size of tensors of one kind, the shard of
    # a single shard) are encoded once and repeated: the bytes stay each entry's own encoding.
    batch = [entry._replace(**{field: getattr(entry, field) + i for field in varying}) for i in range(count)]
    column = lambda field: np.array([getattr(e, field) for e in batch], np.int64)
    crcs = np.array([unmask_crc(e.crc32c) for e in batch], np.int64)
    prefixes = [plain_entry_prefix(entry.dtype, entry.shape)]
    fields = plain_entry_fields(prefixes, np.zeros(count, np.int64), column("shard_id"), column("offset"), column("size"), crcs)
    data, lengths = join_fields(fields)
    ends = np.cumsum(lengths).tolist()
    assert [data[a:b].tobytes() for a, b in zip([0, *ends], ends)] == [e.encode() for e in batch]


@pytest.mark.parametrize(
    ("proto", "message"),
    [
        (BundleEntryProto(dtype=99), "unknown dtype enum 99"),
        (BundleEntryProto(dtype=1, shape={"dim": [{"size": -1}]}), r"invalid shape \[-1\]"),
        (BundleEntryProto(dtype=1, shape={"unknown_rank": True}), "unknown rank"),
        (BundleEntryProto(dtype=1, shape={"dim": [{"size": 2}]}, slices=[{"extent": [{}, {}]}]), "slice rank 2 differs"),
        (
            BundleEntryProto(dtype=1, shape={"dim": [{"size": 2}]}, slices=[{"extent": [{"start": 1, "length": 2}]}]),
            "outside dimension 2",
        ),
        (BundleEntryProto(dtype=1, shape={}, offset=-5), "negative shard_id/offset/size"),
        (BundleEntryProto(dtype=1, shape={"dim": [{"size": 1}] * 255}), "invalid shape"),
    ],
)
def test_entry_checks(proto: BundleEntryProto, message: str) -> None:
    with pytest.raises(tfckpt.CorruptionError, match=message) as info:
        BundleEntry.decode(proto.SerializeToString(), "m.index", "w")
    assert "m.index" in str(info.value) and "'w'" in str(info.value) and info.value.tensor == "w"


def test_unparsable_entry() -> None:
    with pytest.raises(tfckpt.CorruptionError, match="unparsable index entry") as info:
        BundleEntry.decode(b"\x12\x05\x01", "m.index", "w")
    assert info.value.path == "m.index"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (BundleEntry(1, (2, 3), size=20), r"entry size 20 does not match 6 float32 elements \(24 bytes\)"),
        (BundleEntry(7, (10,), size=13), "string entry of 10 elements cannot fit in 13 bytes"),
        (BundleEntry(21, (2,), size=9), "variant entry of 2 elements cannot fit in 9 bytes"),
        (BundleEntry(1, (2**40, 2**40), size=16), r"shape \[1099511627776, 1099511627776\] is too large for any array"),
        (BundleEntry(18, (2**60, 0, 4), size=0), "too large for any array"),  # numpy refuses it even empty,
    ],
)
def test_entry_size_checks(entry: BundleEntry, message: str) -> None:
    with pytest.raises(tfckpt.CorruptionError, match=message):
        entry.check_size("m.index", "w")


def test_data_filename() -> None:
    assert data_filename("d/ckpt-1", 2, 13) == "d/ckpt-1.data-00002-of-00013"


def test_open_checks_the_header(tmp_path: Path) -> None:
    one = {"w": (1, (1,), b"\x00\x00\x80\x3f", crc32c(b"\x00\x00\x80\x3f"))}
    _write_bundle(tmp_path / "new", one, 0, header=_header(num_shards=1, version={"producer": 5, "min_consumer": 2}))
    with pytest.raises(tfckpt.UnsupportedError, match=r"new\.index: bundle needs a newer reader \(min_consumer 2"):
        tfckpt.open(tmp_path / "new")
    _write_bundle(tmp_path / "old", one, 0, header=b"\x08\x01")  # no version: pre-2016 bundles are fine
    with tfckpt.open(tmp_path / "old") as ckpt:
        assert ckpt["w"].tolist() == [1.0]
    _write_bundle(tmp_path / "headless", one, 0, header=b"-")
    with pytest.raises(tfckpt.CorruptionError, match=r"headless\.index: index does not start with the bundle header"):
        tfckpt.open(tmp_path / "headless")


# -- string and variant codecs (FORMAT section 4) -------------------------------------


def test_string_tensor_exact_bytes() -> None:
    payload, crc = encode_string_tensor([b"ab", b"", b"xyz"])
    assert payload == bytes.fromhex("02 00 03 1b 42 8b ca 61 62 78 79 7a")
    assert mask_crc(crc) == 0x3FC4AD10
    out = decode_string_tensor(payload, 3, big_endian=False, verify=True, expected_crc=crc, path="p", name="s", base=0)
    assert out.dtype == object and list(out) == [b"ab", b"", b"xyz"]


def test_zero_element_string_tensor() -> None:
    payload, crc = encode_string_tensor([])
    assert payload == bytes.fromhex("d8 ea 82 a2")  # Mask(0)
    assert crc == crc32c(payload)
    out = decode_string_tensor(payload, 0, big_endian=False, verify=True, expected_crc=crc, path="p", name="s", base=0)
    assert out.shape == (0,) and out.dtype == object


def test_long_string_lengths_use_multibyte_varints() -> None:
    values = [b"x" * 200, b"\xff\x00" * 70000]
    payload, crc = encode_string_tensor(values)
    assert payload[:5] == encode_varint(200) + encode_varint(140000)
    assert (
        list(decode_string_tensor(payload, 2, big_endian=False, verify=True, expected_crc=crc, path="p", name="s", base=0))
        == values
    )


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda p: b"\x03" + p[1:], r"string length checksum mismatch \(stored 0x2ba19404, computed 0x"),
        (lambda p: p[:-1], "lengths add up to 5 but the entry holds 4"),
        (lambda p: p[:-1] + b"Z", r"checksum mismatch \(stored 0xe11c4ea0, computed 0x"),
        (lambda p: b"\x80\x80", "string lengths: truncated varint"),
        (lambda p: p[:4], "string lengths: truncated fixed32"),
    ],
)
def test_string_tensor_corruption(mutate: object, message: str) -> None:
    payload, crc = encode_string_tensor([b"ab", b"", b"xyz"])
    bad = mutate(payload)  # type: ignore[operator]
    with pytest.raises(tfckpt.CorruptionError, match=message) as info:
        decode_string_tensor(bad, 3, big_endian=False, verify=True, expected_crc=crc, path="d.data", name="s", base=100)
    assert info.value.path == "d.data" and info.value.tensor == "s" and info.value.offset is not None and info.value.offset >= 100


def _variant_payload(elements: list[bytes]) -> tuple[bytes, int]:
    out = bytearray()
    crc = 0
    for e in elements:
        out += encode_varint(len(e)) + e
        crc = crc32c(e, crc32c(struct.pack("<Q", len(e)), crc))
        checksum = encode_fixed32(mask_crc(crc))
        out += checksum
        crc = crc32c(checksum, crc)
    return bytes(out), crc


def test_variant_elements_split() -> None:
    payload, crc = _variant_payload([b"\x0a\x03abc", b""])
    kw: dict[str, Any] = {"verify": True, "expected_crc": crc, "path": "d", "name": "v", "base": 0}
    assert split_variant_tensor(payload, 2, **kw) == [b"\x0a\x03abc", b""]
    with pytest.raises(tfckpt.CorruptionError, match="variant element checksum mismatch"):
        split_variant_tensor(payload[:2] + b"X" + payload[3:], 2, **kw)
    with pytest.raises(tfckpt.CorruptionError, match="1 trailing bytes"):
        split_variant_tensor(payload + b"\x00", 2, **kw)
    with pytest.raises(tfckpt.CorruptionError, match="runs past the entry"):
        split_variant_tensor(b"\x7f" + payload[1:], 2, **kw)


# -- big-endian bundles (FORMAT section 4) --------------------------------------------

SWAPPABLE = [
    "float32",
    "float64",
    "int32",
    "uint8",
    "int16",
    "int8",
    "complex64",
    "int64",
    "bool",
    "qint8",
    "quint8",
    "qint32",
    "bfloat16",
    "qint16",
    "quint16",
    "uint16",
    "complex128",
    "float16",
    "uint32",
    "uint64",
]


def _sample(name: str, shape: tuple[int, ...] = (2, 3)) -> np.ndarray:
    dt = DTYPE_BY_NAME[name].numpy
    assert dt is not None
    n = int(np.prod(shape))
    if dt.kind == "b":
        return np.asarray(np.arange(n) % 3 == 0).reshape(shape)
    if dt.kind == "c":
        return (np.arange(n) * (1.5 - 2.25j) + (1 + 0.5j)).astype(dt).reshape(shape)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        vals = [info.min, info.max, 0, 1, info.max // 3, info.min // 5 if info.min else 7]
        return np.array((vals * n)[:n], dtype=dt).reshape(shape)
    return (np.arange(n, dtype=np.float64) * -1.75 + 0.5).astype(dt).reshape(shape)


def _write_bundle(
    prefix: Path, tensors: dict[str, tuple[int, tuple[int, ...], bytes, int]], endianness: int, header: bytes | None = None
) -> None:
    """Hand-build a one-shard bundle from ``name -> (dtype enum, shape, payload, unmasked crc)``."""
    data = bytearray()
    entries = {}
    for name, (dtype, shape, payload, crc) in tensors.items():
        entries[name.encode()] = BundleEntry(dtype, shape, 0, len(data), len(payload), mask_crc(crc))
        data += payload
    Path(data_filename(str(prefix), 0, 1)).write_bytes(bytes(data))
    with open(f"{prefix}.index", "wb") as f:
        t = TableBuilder(f)
        if header != b"-":  # "-": no header entry at all
            t.add(b"", BundleHeader(num_shards=1, endianness=endianness).encode() if header is None else header)
        for key in sorted(entries):
            t.add(key, entries[key].encode())
        t.finish()


def _big_endian_strings(values: list[bytes]) -> tuple[bytes, int]:
    # Lengths are CRC'd as uint32s in the writer's (big-endian) byte order, and the masked
    # length checksum is stored big-endian too: TF 2.21 reads this payload back.
    len_crc = 0
    lengths = b""
    for v in values:
        lengths += encode_varint(len(v))
        len_crc = crc32c(struct.pack(">I", len(v)), len_crc)
    checksum = struct.pack(">I", mask_crc(len_crc))
    body = b"".join(values)
    return lengths + checksum + body, crc32c(body, crc32c(checksum, len_crc))


def test_big_endian_string_payload_exact_bytes() -> None:
    # The layout TF 2.21 (on x86) read back from a hand-built BIG bundle: lengths CRC'd as
    # big-endian uint32s, the masked length checksum stored big-endian.
    payload, crc = _big_endian_strings([b"ab", b"", b"xyz"])
    assert payload == bytes.fromhex("02 00 03 dc 14 96 1b 61 62 78 79 7a")
    assert mask_crc(crc) == 0xC7E79264
    out = decode_string_tensor(payload, 3, big_endian=True, verify=True, expected_crc=crc, path="p", name="s", base=0)
    assert list(out) == [b"ab", b"", b"xyz"]
    with pytest.raises(tfckpt.CorruptionError, match="string length checksum mismatch"):
        decode_string_tensor(payload, 3, big_endian=False, verify=True, expected_crc=crc, path="p", name="s", base=0)


def test_big_endian_bundle_reads_in_native_order(tmp_path: Path) -> None:
    tensors = {}
    want = {}
    for name in SWAPPABLE:
        arr = _sample(name)
        payload = arr.astype(arr.dtype.newbyteorder(">")).tobytes()
        if arr.dtype.itemsize > 1 and name != "bool":
            assert payload != arr.tobytes()  # really byte-swapped on disk
        tensors[name] = (DTYPE_BY_NAME[name].enum, arr.shape, payload, crc32c(payload))
        want[name] = arr
    scalar = np.array(-2.5, dtype=np.float64)
    p = scalar.astype(">f8").tobytes()
    tensors["scalar"] = (2, (), p, crc32c(p))
    want["scalar"] = scalar
    strings = [b"ab", b"", b"x" * 300]
    p, crc = _big_endian_strings(strings)
    tensors["strings"] = (7, (3,), p, crc)
    tensors["empty"] = (1, (0, 4), b"", 0)
    want["empty"] = np.zeros((0, 4), np.float32)
    _write_bundle(tmp_path / "be", tensors, endianness=BIG)
    with tfckpt.open(tmp_path / "be") as ckpt:
        for name, arr in want.items():
            got = ckpt[name]
            assert got.dtype == arr.dtype and got.dtype.isnative and got.shape == arr.shape, name
            assert got.tobytes() == arr.tobytes(), name
            assert ckpt.dtype(name) == (name if name in SWAPPABLE else {"scalar": "float64", "empty": "float32"}[name])
        assert list(ckpt["strings"]) == strings
        # the raw bytes stay as stored (big-endian)
        assert ckpt.raw_bytes("float32") == want["float32"].astype(">f4").tobytes()


def test_big_endian_string_lengths_checked_big_endian(tmp_path: Path) -> None:
    # A little-endian length checksum in a BIG bundle is a mismatch: the reader must not
    # accept either order.
    payload, crc = encode_string_tensor([b"ab", b"xyz"])
    _write_bundle(tmp_path / "be", {"s": (7, (2,), payload, crc)}, endianness=BIG)
    with tfckpt.open(tmp_path / "be") as ckpt, pytest.raises(tfckpt.CorruptionError, match="string length checksum mismatch"):
        ckpt["s"]


@pytest.mark.parametrize(
    "name",
    [
        "float8_e5m2",
        "float8_e4m3fn",
        "float8_e4m3fnuz",
        "float8_e4m3b11fnuz",
        "float8_e5m2fnuz",
        "int4",
        "uint4",
        "int2",
        "uint2",
        "float4_e2m1fn",
    ],
)
def test_big_endian_unswappable_types_are_unsupported(name: str, tmp_path: Path) -> None:
    payload = bytes([1, 2, 3])
    _write_bundle(tmp_path / "be", {"t": (DTYPE_BY_NAME[name].enum, (3,), payload, crc32c(payload))}, endianness=BIG)
    with tfckpt.open(tmp_path / "be") as ckpt:
        assert ckpt.dtype("t") == name and ckpt.shape("t") == (3,)
        with pytest.raises(tfckpt.UnsupportedError, match=f"'t': {name} data written on a machine of the other byte order"):
            ckpt["t"]


def test_big_endian_variant_is_unsupported(tmp_path: Path) -> None:
    payload, crc = _variant_payload([b"\x0a\x00"])
    _write_bundle(tmp_path / "be", {"v": (21, (1,), payload, crc)}, endianness=BIG)
    with tfckpt.open(tmp_path / "be") as ckpt:
        with pytest.raises(tfckpt.UnsupportedError, match="other byte order"):
            ckpt.variant_elements("v")
        with pytest.raises(tfckpt.UnsupportedError, match="variant"):
            ckpt["v"]


def test_little_endian_variant_elements(tmp_path: Path) -> None:
    payload, crc = _variant_payload([b"\x0a\x00", b"\x12\x01x"])
    _write_bundle(tmp_path / "le", {"v": (21, (2,), payload, crc)}, endianness=0)
    with tfckpt.open(tmp_path / "le") as ckpt:
        assert ckpt.variant_elements("v") == [b"\x0a\x00", b"\x12\x01x"]
        assert ckpt.raw_bytes("v") == payload
        with pytest.raises(tfckpt.UnsupportedError, match="variant_elements"):
            ckpt["v"]


# -- writer -> reader round trips (TF-free) -------------------------------------------

ALL_WRITABLE = [n for n in (r.name for r in DTYPES.values()) if n not in ("resource", "variant")]
SHAPES = [(), (0,), (3, 0, 2), (5,), (2, 3, 4)]


def _values(name: str, shape: tuple[int, ...]) -> np.ndarray:
    if name == "string":
        n = int(np.prod(shape))
        flat = np.array([b"", b"\x00\xff", b"s" * 130, "é".encode()] * n, dtype=object)[:n]
        return flat.reshape(shape)
    if name in SWAPPABLE:
        return _sample(name, shape)
    dt = DTYPE_BY_NAME[name].numpy
    assert dt is not None
    info = ml_dtypes.finfo(dt) if name.startswith("float") else ml_dtypes.iinfo(dt)  # type: ignore[no-untyped-call]
    lo, hi = float(info.min), float(info.max)
    return np.linspace(lo, hi, int(np.prod(shape))).astype(dt).reshape(shape)


@pytest.mark.parametrize("max_shard_size", [None, 40])
def test_round_trip_every_dtype_and_shape(max_shard_size: int | None, tmp_path: Path) -> None:
    tensors = {
        f"{name}/{'x'.join(map(str, shape)) or 'scalar'}": (name, _values(name, shape))
        for name in ALL_WRITABLE
        for shape in SHAPES
    }
    with tfckpt.Writer(tmp_path / "rt", max_shard_size=max_shard_size) as w:
        for key, (dtype, value) in tensors.items():
            w.add(key, value, dtype=dtype)
    shards = sorted(tmp_path.glob("rt.data-*"))
    assert (len(shards) == 1) == (max_shard_size is None)
    with tfckpt.open(tmp_path / "rt") as ckpt:
        assert ckpt.keys() == sorted(tensors)
        for key, (dtype, value) in tensors.items():
            got = ckpt[key]
            assert ckpt.dtype(key) == dtype and ckpt.shape(key) == value.shape, key
            assert got.shape == value.shape and got.dtype == value.dtype, key
            if dtype == "string":
                assert got.tolist() == value.tolist(), key
            else:
                assert got.tobytes() == value.tobytes(), key


@settings(max_examples=25, deadline=None)
@given(
    st.dictionaries(
        st.text(min_size=1, max_size=8),
        st.sampled_from(["float32", "int64", "bool", "string", "bfloat16"]).flatmap(
            lambda d: st.lists(st.integers(0, 3), max_size=3).map(lambda s: (d, tuple(s)))
        ),
        max_size=6,
    ),
    st.sampled_from([None, 1, 64]),
)
def test_round_trip_hypothesis(spec: dict[str, tuple[str, tuple[int, ...]]], shard: int | None) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        values = {name: _values(dtype, shape) for name, (dtype, shape) in spec.items()}
        tfckpt.save(Path(d) / "h", values, max_shard_size=shard)
        with tfckpt.open(Path(d) / "h") as ckpt:
            assert ckpt.keys() == sorted(values, key=lambda n: n.encode())
            for name, v in values.items():
                got = ckpt[name]
                assert got.shape == v.shape
                assert got.tolist() == v.tolist() if v.dtype == object else got.tobytes() == v.tobytes()


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_partitioned_round_trip_any_axis(axis: int, tmp_path: Path) -> None:
    full = np.arange(4 * 6 * 5, dtype=np.int32).reshape(4, 6, 5)
    cuts = [0, 1, full.shape[axis] - 1, full.shape[axis]]
    with tfckpt.Writer(tmp_path / "p") as w:
        for a, b in itertools.pairwise(cuts):
            index = [slice(None)] * 3
            index[axis] = slice(a, b)
            start = [0, 0, 0]
            start[axis] = a
            w.add_slice("part", full[tuple(index)], full_shape=full.shape, start=start)
        w.add_slice("strings", np.array([b"a", b"b"], dtype=object), full_shape=(3,), start=(0,))
        w.add_slice("strings", np.array([b"c"], dtype=object), full_shape=(3,), start=(2,))
    with tfckpt.open(tmp_path / "p") as ckpt:
        assert ckpt.keys() == ["part", "strings"]  # slice entries hidden
        got = ckpt["part"]
        assert np.array_equal(got, full) and got.dtype == np.int32
        assert ckpt["strings"].tolist() == [b"a", b"b", b"c"]


def test_verify_false_skips_the_data_checksum(tmp_path: Path) -> None:
    tfckpt.save(tmp_path / "c", {"w": np.arange(4, dtype=np.float32)})
    shard = tmp_path / "c.data-00000-of-00001"
    raw = bytearray(shard.read_bytes())
    raw[0] ^= 0x01
    shard.write_bytes(bytes(raw))
    with tfckpt.open(tmp_path / "c", verify=False) as ckpt:
        assert ckpt["w"].tobytes() == bytes(raw)
    with tfckpt.open(tmp_path / "c") as ckpt, pytest.raises(tfckpt.CorruptionError, match="checksum mismatch"):
        ckpt["w"]


# -- fuzz: arbitrary bytes give a consistent entry or a corruption error ----------------


def _check_against_protobuf(raw: bytes) -> None:
    try:
        e = BundleEntry.decode(raw, "p", "t")
    except tfckpt.CorruptionError:
        return
    proto = BundleEntryProto.FromString(raw)  # whatever was accepted, protobuf parses the same way
    assert e.dtype == proto.dtype and e.shard_id == proto.shard_id
    assert e.offset == proto.offset and e.size == proto.size and e.crc32c == proto.crc32c
    assert e.shape == tuple(d.size for d in proto.shape.dim)
    assert len(e.slices) == len(proto.slices)


@settings(max_examples=300)
@given(st.binary(max_size=48))
def test_entry_decode_fuzz(raw: bytes) -> None:
    _check_against_protobuf(raw)


@settings(max_examples=300)
@given(entries(), st.data())
def test_entry_decode_of_damaged_entries(e: BundleEntry, data: st.DataObject) -> None:
    raw = bytearray(e.encode())
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    _check_against_protobuf(bytes(raw))
    _check_against_protobuf(bytes(raw[: data.draw(st.integers(0, len(raw)))]))


@settings(max_examples=200)
@given(st.binary(max_size=40), st.integers(0, 8), st.booleans())
def test_string_decoder_fuzz(raw: bytes, n: int, big_endian: bool) -> None:
    try:
        out = decode_string_tensor(raw, n, big_endian=big_endian, verify=False, expected_crc=0, path="p", name="s", base=0)
    except tfckpt.CorruptionError:
        return
    assert out.shape == (n,) and all(type(x) is bytes for x in out)


@settings(max_examples=200)
@given(st.binary(max_size=24))
def test_header_decode_fuzz(raw: bytes) -> None:
    try:
        h = BundleHeader.decode(raw, "p")
    except (tfckpt.CorruptionError, tfckpt.UnsupportedError):
        return
    assert h.num_shards >= 1 and h.endianness in (0, 1)


@pytest.mark.parametrize("big_endian", [False, True])
def test_string_encoder_follows_the_writers_byte_order(big_endian: bool) -> None:
    from tfckpt.format._coding import unmask_crc
    from tfckpt.format._string_payloads import decode_string_tensor, encode_string_tensor

    values = [b"ab", b"", b"xyz" * 100]
    payload, crc = encode_string_tensor(values, big_endian=big_endian)
    from tfckpt.format._coding import crc32c

    order = ">" if big_endian else "<"
    assert payload[:4] == bytes.fromhex("0200ac02")  # varint lengths 2, 0, 300
    want_len_crc = crc32c(struct.pack(order + "III", 2, 0, 300))  # over uint32s in the writer's order
    assert unmask_crc(struct.unpack(order + "I", payload[4:8])[0]) == want_len_crc
    out = decode_string_tensor(payload, 3, big_endian=big_endian, verify=True, expected_crc=crc, path="p", name="s", base=0)
    assert list(out) == values
    if not big_endian:  # the little-endian default is pinned elsewhere to TF's bytes
        assert encode_string_tensor(values) == (payload, crc)
