"""Tensor bundles (V2 checkpoints): header, entries, shard names and tensor codecs.

A bundle with prefix ``P`` is ``P.index`` (an SSTable, :mod:`._table`) plus data shards
``P.data-%05d-of-%05d`` (``naming.cc``). In the index (``tensor_bundle.cc``):

* key ``""`` -> ``BundleHeaderProto{num_shards, endianness, version{producer, min_consumer}}``
  (a normal header serializes to ``08 01 1a 02 08 01``);
* every other key -> ``BundleEntryProto{dtype, shape, shard_id, offset, size,
  crc32c (masked, fixed32), slices}``; ``shape`` is always present, zeros are omitted.

A tensor's bytes are ``[offset, offset + size)`` of shard ``shard_id``; the data file is
the bare concatenation of payloads, in the order the writer received them (no header,
no padding). Payload encodings by dtype:

* fixed-width: C-order element bytes in the writer's byte order; ``size == n * width``;
  CRC over exactly those bytes.
* string::

      varint64 len[0..n) | fixed32 Mask(Cl) | bytes[0] ... bytes[n-1]

  ``Cl`` is the CRC32C of each length as a uint32 (uint64 if it exceeds 2**32-1) in the
  writer's byte order, and ``Mask(Cl)`` is stored in the writer's byte order too (so
  big-endian in a BIG bundle); the entry CRC continues from ``Cl`` over the 4 stored
  checksum bytes as they are on disk and then over all string bytes.
* variant, per element: ``varint64 L | L bytes (VariantTensorDataProto) | fixed32 Mask(C)``
  where the running ``C`` covers L as a uint64, the bytes, then (after writing) the 4
  checksum bytes; the entry CRC is the final running value, masked.

A partitioned variable has a *full entry* under its name (dtype, full shape, ``slices``;
no data) and one ordinary entry per slice under :func:`~._ordered_code.encode_slice_key`.
"""

from __future__ import annotations

import re
import struct
import sys
from typing import Any, Final

import numpy as np

from .._record import Record
from ..errors import CorruptionError, UnsupportedError
from ._coding import (
    CRC_MASK_DELTA,
    CodingError,
    crc32c,
    decode_fixed32,
    decode_varint,
    encode_fixed32,
    encode_varint,
    mask_crc,
    unmask_crc,
)
from ._dtypes import DTYPES, STRING, VARIANT
from ._rows import (
    Field,
    decode_varints,
    encode_varints,
    left_aligned,
    left_aligned_columns,
    little_endian_bytes,
    pad_rows,
    varint_lengths,
    varint_words,
)


def _protos() -> Any:
    """The generated ``tensor_bundle_pb2`` module, imported on first use: protobuf costs
    import time, and TF-written headers and entries decode by hand (the ``_decode_plain_*``
    functions); only unusual ones need it."""
    from ..proto import tensor_bundle_pb2

    return tensor_bundle_pb2

__all__ = [
    "HEADER_KEY",
    "BundleEntry",
    "BundleHeader",
    "data_filename",
    "decode_plain_entries",
    "decode_plain_rows",
    "decode_string_tensor",
    "encode_plain_entry",
    "encode_string_tensor",
    "match_data_file",
    "plain_entry_fields",
    "plain_entry_prefix",
    "plain_entry_tail",
]

HEADER_KEY: Final = b""
#: ``kTensorBundleVersion`` / ``kTensorBundleMinConsumer``: what this code writes and reads as.
BUNDLE_VERSION: Final = 1
BUNDLE_MIN_CONSUMER: Final = 0
LITTLE: Final = 0
BIG: Final = 1
HOST_ENDIANNESS: Final = LITTLE if sys.byteorder == "little" else BIG
#: Largest rank TensorFlow accepts (``TensorShape::MaxDimensions``).
MAX_RANK: Final = 254
#: A data shard's file name, ``<prefix>.data-<shard>-of-<count>`` (five digits each). Kept
#: as a string that ``re``'s cache compiles on first use: compiling the regexes of the read
#: path at import cost a fresh process ~0.5 ms.
DATA_FILE_PATTERN: Final = r"^(?P<prefix>.*)\.data-(?P<shard>\d{5})-of-(?P<count>\d{5})$"
_U32_MAX: Final = 0xFFFFFFFF


def data_filename(prefix: str, shard: int, num_shards: int) -> str:
    """``DataFilename``: ``<prefix>.data-%05d-of-%05d``."""
    return f"{prefix}.data-{shard:05d}-of-{num_shards:05d}"


def index_filename(prefix: str) -> str:
    """``MetaFilename``: ``<prefix>.index``."""
    return f"{prefix}.index"



def match_data_file(path: str) -> re.Match[str] | None:
    """The groups ``prefix``, ``shard`` and ``count`` if ``path`` names a data shard."""
    return re.match(DATA_FILE_PATTERN, path) if ".data-" in path else None


class BundleHeader(Record):
    num_shards: int = 1
    endianness: int = HOST_ENDIANNESS
    producer: int = BUNDLE_VERSION
    min_consumer: int = BUNDLE_MIN_CONSUMER
    bad_consumers: tuple[int, ...] = ()

    def encode(self) -> bytes:
        proto = _protos().BundleHeaderProto(num_shards=self.num_shards, endianness=self.endianness)
        proto.version.producer = self.producer
        proto.version.min_consumer = self.min_consumer
        proto.version.bad_consumers.extend(self.bad_consumers)
        return bytes(proto.SerializeToString())

    @classmethod
    def decode(cls, value: bytes, path: str) -> BundleHeader:
        """Parse and check the header as ``BundleReader`` + ``CheckVersions`` do."""
        plain = _decode_plain_header(value)
        if plain is not None:
            header = cls(*plain)
        else:
            from google.protobuf.message import DecodeError

            try:
                proto = _protos().BundleHeaderProto.FromString(value)
            except DecodeError as e:
                raise CorruptionError(f"unparsable bundle header: {e}", path=path) from None
            v = proto.version
            header = cls(proto.num_shards, int(proto.endianness), v.producer, v.min_consumer, tuple(v.bad_consumers))
        if header.num_shards < 1:
            raise CorruptionError(f"bundle header says {header.num_shards} data shards (expected at least 1)", path=path)
        if header.endianness not in (LITTLE, BIG):
            raise CorruptionError(f"bundle header has unknown endianness {header.endianness}", path=path)
        if header.producer < 0:
            raise CorruptionError(f"bundle header producer version {header.producer} is negative", path=path)
        if header.min_consumer > BUNDLE_VERSION or BUNDLE_VERSION in header.bad_consumers:
            raise UnsupportedError(
                f"{path}: bundle needs a newer reader (min_consumer {header.min_consumer}, "
                f"bad_consumers {list(header.bad_consumers)}; this reader is version {BUNDLE_VERSION})"
            )
        return header


#: Largest value of a non-negative int32 / int64 proto field.
_I32_MAX: Final = 0x7FFFFFFF
_I64_MAX: Final = 0x7FFFFFFFFFFFFFFF
#: Serialized TensorShapeProto -> shape, shared by all readers (checkpoints repeat shapes).
_SHAPE_CACHE: dict[bytes, tuple[int, ...]] = {}
#: Bound on the cache, so a hostile index of many distinct shapes cannot grow it unboundedly.
_SHAPE_CACHE_MAX: Final = 4096


def _varint_or_none(buf: bytes, pos: int, end: int) -> tuple[int, int] | None:
    result = 0
    shift = 0
    while pos < end and shift < 64:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
    return None


def _decode_plain_shape(buf: bytes) -> tuple[int, ...] | None:
    """``(12 len [08 size])*``: dims with a size and no name; ``None`` for anything else."""
    end = len(buf)
    pos = 0
    dims = []
    while pos < end:
        if buf[pos] != 0x12 or pos + 1 >= end:
            return None
        dim_len = buf[pos + 1]
        pos += 2
        if dim_len == 0:
            dims.append(0)
            continue
        if pos + dim_len > end or buf[pos] != 0x08:
            return None
        got = _varint_or_none(buf, pos + 1, end)
        if got is None or got[1] != pos + dim_len or got[0] > _I64_MAX:
            return None
        dims.append(got[0])
        pos = got[1]
    return tuple(dims) if len(dims) <= MAX_RANK else None


#: The header's fields in TF's order: (tag, slot in the result); None opens ``version``.
_PLAIN_HEADER_FIELDS: Final = ((0x08, 0), (0x10, 1), (0x1A, None), (0x08, 2), (0x10, 3))


def _decode_plain_header(value: bytes) -> tuple[int, int, int, int] | None:
    """Hand-decode a header laid out as TF writes it: ``[08 num_shards] [10 endianness]
    [1a len [08 producer] [10 min_consumer]]``, one-byte lengths, values in int32 range.

    Returns ``(num_shards, endianness, producer, min_consumer)``, or ``None`` for anything
    else (bad consumers, other orders, unknown fields), which the protobuf path decodes.
    """
    end = len(value)
    fields = [0, 0, 0, 0]
    pos = 0
    in_version = False
    for tag, slot in _PLAIN_HEADER_FIELDS:
        if pos >= end or value[pos] != tag:
            continue
        if slot is None:  # the version message, which must run to the end
            if pos + 1 >= end or value[pos + 1] >= 0x80 or pos + 2 + value[pos + 1] != end:
                return None
            pos += 2
            in_version = True
            continue
        got = _varint_or_none(value, pos + 1, end)
        if got is None or got[0] > _I32_MAX or (slot >= 2 and not in_version):
            return None
        fields[slot], pos = got
    if pos != end:
        return None
    return fields[0], fields[1], fields[2], fields[3]


def _decode_plain_entry(value: bytes) -> tuple[int, tuple[int, ...], int, int, int, int] | None:
    """Hand-decode an unpartitioned entry laid out as TF writes it, ~5x faster than protobuf.

    Accepts exactly ``08 dtype 12 len shape [18 shard_id] [20 offset] [28 size] [35 crc]``
    (one-byte dtype and shape length, dims without names, values in range) and returns
    ``(dtype, shape, shard_id, offset, size, crc32c)``. Anything else (slices, unknown
    rank, other field orders, negative values, unknown dtypes, truncation) returns
    ``None``, sending the caller to the protobuf path, which gives the same values for
    every input accepted here and owns every error message. Opening 100,000-entry
    indexes is dominated by this function (docs/performance.md).
    """
    end = len(value)
    if end < 4 or value[0] != 0x08 or value[2] != 0x12:
        return None
    dtype = value[1]
    shape_end = 4 + value[3]
    if dtype >= 0x80 or value[3] >= 0x80 or shape_end > end:
        return None
    shape_bytes = value[4:shape_end]
    shape = _SHAPE_CACHE.get(shape_bytes)
    if shape is None:
        shape = _decode_plain_shape(shape_bytes)
        if shape is None:
            return None
        if len(_SHAPE_CACHE) < _SHAPE_CACHE_MAX:
            _SHAPE_CACHE[shape_bytes] = shape
    pos = shape_end
    shard_id = offset = size = crc = 0
    if pos < end and value[pos] == 0x18:
        got = _varint_or_none(value, pos + 1, end)
        if got is None or got[0] > _I32_MAX:
            return None
        shard_id, pos = got
    # offset and size: varints decoded inline (no call, no tuple), the hottest lines here
    if pos < end and value[pos] == 0x20:
        pos += 1
        shift = 0
        while True:
            if pos >= end or shift > 63:
                return None
            b = value[pos]
            pos += 1
            offset |= (b & 0x7F) << shift
            if b < 0x80:
                break
            shift += 7
        if offset > _I64_MAX:
            return None
    if pos < end and value[pos] == 0x28:
        pos += 1
        shift = 0
        while True:
            if pos >= end or shift > 63:
                return None
            b = value[pos]
            pos += 1
            size |= (b & 0x7F) << shift
            if b < 0x80:
                break
            shift += 7
        if size > _I64_MAX:
            return None
    if pos < end and value[pos] == 0x35:
        crc = int.from_bytes(value[pos + 1 : pos + 5], "little")
        pos += 5
    if pos != end or dtype not in DTYPES:
        return None
    return dtype, shape, shard_id, offset, size, crc


class PlainEntries(Record):
    """Many entries decoded at once by :func:`decode_plain_entries`, one array item per
    entry: ``plain[i]`` says entry ``i`` is laid out as :func:`_decode_plain_entry` accepts
    (the other fields of a row that is not plain mean nothing); its dtype and shape are
    ``kinds[kind[i]]``."""

    plain: np.ndarray
    kind: np.ndarray
    kinds: list[tuple[int, tuple[int, ...]]]
    shard_id: np.ndarray
    offset: np.ndarray
    size: np.ndarray
    crc32c: np.ndarray  # masked, as stored


def decode_plain_entries(values: list[bytes]) -> PlainEntries:
    """:func:`_decode_plain_entry` of many entries with a few array operations (see
    :mod:`._rows`): the leading ``08 dtype 12 len shape`` fields (few distinct ones: a
    checkpoint repeats its dtypes and shapes) are decoded once per distinct value, the
    ``shard_id``, ``offset``, ``size`` and ``crc32c`` fields column-wise. For every entry
    marked plain, the result equals :func:`_decode_plain_entry`'s."""
    matrix, lengths = pad_rows(values)
    return decode_plain_rows(matrix, lengths)


#: :func:`decode_plain_rows` numbers up to this many distinct leading fields with a dict.
_FEW_HEADS: Final = 64


def decode_plain_rows(matrix: np.ndarray, lengths: np.ndarray) -> PlainEntries:
    """:func:`decode_plain_entries` of entries given as padded rows (see :mod:`._rows`).

    ``lengths`` may exceed the matrix's width: such rows are cut short and never plain."""
    n = len(lengths)
    if matrix.shape[1] < 4:
        matrix = np.pad(matrix, ((0, 0), (0, 4 - matrix.shape[1])))
    ok = (lengths >= 4) & (matrix[:, 0] == 0x08) & (matrix[:, 1] < 0x80) & (matrix[:, 2] == 0x12) & (matrix[:, 3] < 0x80)
    prefix_lengths = np.where(ok, 4 + matrix[:, 3].astype(np.int64), 4)
    ok &= (prefix_lengths <= lengths) & (lengths <= matrix.shape[1])
    prefix_lengths = np.where(ok, prefix_lengths, 4)
    # The distinct leading fields: each row's prefix (zeroed after its end) and its length.
    width = int(prefix_lengths.max()) if n else 4
    prefixes = np.zeros((n, width + 1), np.uint8)
    prefixes[:, :width] = matrix[:, :width] * (np.arange(width) < prefix_lengths[:, None])
    prefixes[:, width] = prefix_lengths - 4  # < 0x80 where ok
    # Only rows whose prefix differs from the row before's are sorted (entries of one
    # dtype and shape come in runs), each as one opaque item: sorts by memcmp, many times
    # faster than unique(axis=0).
    head = np.ones(n, bool)
    head[1:] = (prefixes[1:] != prefixes[:-1]).any(axis=1)
    heads = prefixes[head]
    if len(heads) <= _FEW_HEADS:  # numbered by a dict of their bytes: np.unique's overhead is more
        numbers: dict[bytes, int] = {}
        head_kind = np.array([numbers.setdefault(row, len(numbers)) for row in map(bytes, heads)], np.int64)
        unique = np.frombuffer(b"".join(numbers), np.uint8).reshape(-1, width + 1)
    else:
        distinct, head_kind = np.unique(heads.view(np.dtype((np.void, width + 1))).reshape(-1), return_inverse=True)
        unique = distinct.view(np.uint8).reshape(-1, width + 1)
    kind = head_kind.reshape(-1)[np.cumsum(head) - 1]
    kinds: list[tuple[int, tuple[int, ...]]] = []
    known = np.zeros(len(unique), bool)
    for k, row in enumerate(unique):
        body = row[:width].tobytes()[: 4 + int(row[width])]
        shape = _decode_plain_shape(body[4:]) if len(body) >= 4 else None
        known[k] = shape is not None and body[1] in DTYPES
        kinds.append((body[1] if len(body) > 1 else 0, shape or ()))
    ok &= known[kind]
    pos = prefix_lengths
    rows = np.arange(n)
    last = max(matrix.shape[1] - 1, 0)
    fields = []
    for tag, limit in ((0x18, _I32_MAX), (0x20, _I64_MAX), (0x28, _I64_MAX)):
        has = (pos < lengths) & (matrix[rows, np.minimum(pos, last)] == tag)
        if not has.any():  # a field no entry has (shard_id of a single shard): nothing to decode
            fields.append(np.zeros(n, np.int64))
            continue
        value, size = decode_varints(matrix, lengths, pos + 1)
        ok &= ~has | ((size > 0) & (value <= np.uint64(limit)))
        fields.append(np.where(has, value, 0).astype(np.int64))
        pos = pos + np.where(has, 1 + size, 0)
    has = (pos < lengths) & (matrix[rows, np.minimum(pos, last)] == 0x35)
    # the fixed32 after the tag, read through a little-endian uint32 view at every byte
    # offset of the rows (unaligned): one gather, clipped inside the row
    flat = np.ascontiguousarray(matrix)
    words = np.ndarray((max(flat.size - 3, 0),), "<u4", flat, 0, (1,))
    crc = np.where(has, words[rows * matrix.shape[1] + np.minimum(pos + 1, matrix.shape[1] - 4)], 0).astype(np.uint32)
    pos = pos + np.where(has, 5, 0)
    ok &= pos == lengths
    return PlainEntries(ok, kind, kinds, fields[0], fields[1], fields[2], crc)


#: shape -> its serialized ``shape`` field, for the writer (checkpoints repeat shapes).
_SHAPE_FIELD_CACHE: dict[tuple[int, ...], bytes] = {}


def _encode_shape_field(shape: tuple[int, ...]) -> bytes:
    """``12 len (12 dimlen [08 size])*``: the entry's ``shape`` field, zero sizes omitted."""
    field = _SHAPE_FIELD_CACHE.get(shape)
    if field is None:
        body = bytearray()
        for d in shape:
            if d:
                dim = b"\x08" + encode_varint(d)
                body += b"\x12" + encode_varint(len(dim)) + dim
            else:
                body += b"\x12\x00"
        field = b"\x12" + encode_varint(len(body)) + bytes(body)
        if len(_SHAPE_FIELD_CACHE) < _SHAPE_CACHE_MAX:
            _SHAPE_FIELD_CACHE[shape] = field
    return field


_FIXED32_LE: Final = struct.Struct("<I")


def encode_plain_entry(dtype: int, shape: tuple[int, ...], shard_id: int, offset: int, size: int, crc32c: int) -> bytes:
    """``BundleEntry(dtype, shape, shard_id, offset, size, crc32c).encode()`` of an entry
    without slices, without building the object."""
    return plain_entry_prefix(dtype, shape) + plain_entry_tail(shard_id, offset, size, crc32c)


def plain_entry_tail(shard_id: int, offset: int, size: int, crc32c: int) -> bytes:
    """The fields of a plain entry after :func:`plain_entry_prefix` (``crc32c`` masked)."""
    out = b""
    if shard_id:
        out += b"\x18" + encode_varint(shard_id)
    if offset:
        out += b"\x20" + encode_varint(offset)
    if size:
        out += b"\x28" + encode_varint(size)
    if crc32c:
        out += b"\x35" + _FIXED32_LE.pack(crc32c)
    return out


def plain_entry_prefix(dtype: int, shape: tuple[int, ...]) -> bytes:
    """The leading ``dtype`` and ``shape`` fields of a plain entry (what entries of one
    dtype and shape share; :func:`encode_plain_entries` appends the rest)."""
    return b"\x08" + encode_varint(dtype) + _encode_shape_field(shape)


def _tagged_varint_field(tag: int, values: np.ndarray) -> Field:
    """``tag || varint(v)`` per value as ``(matrix, keep, lengths)`` rows (see
    :func:`._rows.join_fields`), empty where ``v == 0`` (proto3 omits zero scalars)."""
    n = len(values)
    if n and not values.any():  # a field every entry omits (shard_id of a single shard)
        return np.empty((n, 0), np.uint8), np.empty((n, 0), bool), np.zeros(n, np.int64)
    if n > 1 and values.min() == values.max():  # one value (the size of tensors of one kind): one row, repeated
        row, _, length = _tagged_varint_field(tag, values[:1])
        return np.broadcast_to(row, (n, row.shape[1])), None, np.repeat(length, n)  # a nonzero value: the whole row
    lengths = varint_lengths(values)
    if int(lengths.max()) <= 7:  # the tag and the varint in one little-endian word each (values below 2**49)
        words = (varint_words(values, lengths) << np.uint64(8)) | np.uint64(tag)
        matrix = little_endian_bytes(words)[:, : int(lengths.max()) + 1]
    else:
        varints, lengths = encode_varints(values)
        matrix = np.empty((n, varints.shape[1] + 1), np.uint8)
        matrix[:, 0] = tag
        matrix[:, 1:] = varints
    lengths = np.where(values != 0, lengths + 1, 0)
    return matrix, left_aligned_columns(matrix.shape[1], lengths), lengths


def plain_entry_fields(
    prefixes: list[bytes],
    prefix_ids: np.ndarray,
    shard_ids: np.ndarray,
    offsets: np.ndarray,
    sizes: np.ndarray,
    crcs: np.ndarray,
) -> list[Field]:
    """:func:`encode_plain_entry` of many entries at once, as the fields of padded rows
    (see :mod:`._rows`) that :func:`._rows.join_fields` concatenates: entry ``i`` is
    ``prefixes[prefix_ids[i]]`` (:func:`plain_entry_prefix`) then its ``shard_id``,
    ``offset``, ``size`` and ``crc32c`` fields, zeros omitted. ``crcs`` are the payloads'
    plain CRC32C values; they are stored masked (:func:`._coding.mask_crc`)."""
    n = len(prefix_ids)
    prefix_matrix, prefix_lengths = pad_rows(prefixes)
    if len(prefixes) == 1:  # one dtype and shape: every row the same, no gather
        prefix: Field = (
            np.broadcast_to(prefix_matrix, (n, prefix_matrix.shape[1])),
            None,
            np.full(n, prefix_lengths[0]),
        )
    else:
        lengths = prefix_lengths[prefix_ids]
        prefix = (prefix_matrix[prefix_ids], left_aligned(prefix_matrix.shape[1], lengths), lengths)
    crc = crcs.astype(np.uint32)  # the mask in uint32 arithmetic, which wraps as mask_crc's & 0xffffffff
    masked = ((crc >> np.uint32(15)) | (crc << np.uint32(17))) + np.uint32(CRC_MASK_DELTA)
    crc_field = np.empty((n, 5), np.uint8)
    crc_field[:, 0] = 0x35  # field 6, wire type 5 (fixed32)
    crc_field[:, 1:] = masked.astype("<u4").view(np.uint8).reshape(n, 4)
    has_crc = masked != 0
    return [
        prefix,
        _tagged_varint_field(0x18, shard_ids),  # field 3, varint
        _tagged_varint_field(0x20, offsets),  # field 4
        _tagged_varint_field(0x28, sizes),  # field 5
        # A masked CRC of 0 is omitted (1 in 2**32): mostly there is no mask to make.
        (crc_field, None, np.full(n, 5)) if has_crc.all() else (crc_field, np.repeat(has_crc[:, None], 5, axis=1), has_crc * 5),
    ]


class BundleEntry(Record):
    """One tensor's (or slice's) record in the index."""

    dtype: int
    shape: tuple[int, ...]
    shard_id: int = 0
    offset: int = 0
    size: int = 0
    crc32c: int = 0  # masked, as stored
    slices: tuple[tuple[tuple[int, ...], tuple[int, ...]], ...] = ()  # ((starts), (lengths)) per slice

    @property
    def num_elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    def encode(self) -> bytes:
        """Serialize as C++ protobuf does: fields in number order, zero scalars omitted,
        ``shape`` always present. Hand-rolled for speed; tests pin it to protobuf's bytes."""
        if not self.slices:
            return encode_plain_entry(self.dtype, self.shape, self.shard_id, self.offset, self.size, self.crc32c)
        out = [b"\x08", encode_varint(self.dtype), _encode_shape_field(self.shape)]
        if self.shard_id:
            out += (b"\x18", encode_varint(self.shard_id))
        if self.offset:
            out += (b"\x20", encode_varint(self.offset))
        if self.size:
            out += (b"\x28", encode_varint(self.size))
        if self.crc32c and not self.slices:
            out += (b"\x35", encode_fixed32(self.crc32c))
        from ._ordered_code import FULL_EXTENT  # not on the read path's imports

        for starts, lengths in self.slices:
            body = bytearray()
            for start, length in zip(starts, lengths):
                ext = bytearray()
                if length != FULL_EXTENT:
                    if start:
                        ext += b"\x08" + encode_varint(start)
                    ext += b"\x10" + encode_varint(length)
                body += b"\x0a" + encode_varint(len(ext)) + ext
            out += (b"\x3a", encode_varint(len(body)), bytes(body))
        return b"".join(out)

    @classmethod
    def decode(cls, value: bytes, path: str, name: str) -> BundleEntry:
        plain = _decode_plain_entry(value)
        if plain is not None:
            return cls(*plain)
        from google.protobuf.message import DecodeError

        try:
            proto = _protos().BundleEntryProto.FromString(value)
        except DecodeError as e:
            raise CorruptionError(f"unparsable index entry: {e}", path=path, tensor=name) from None
        if proto.dtype not in DTYPES:
            raise CorruptionError(f"unknown dtype enum {proto.dtype}", path=path, tensor=name)
        if proto.shape.unknown_rank:
            raise CorruptionError("shape has unknown rank (expected a fully defined shape)", path=path, tensor=name)
        shape = tuple(d.size for d in proto.shape.dim)
        if len(shape) > MAX_RANK or any(d < 0 for d in shape):
            raise CorruptionError(f"invalid shape {list(shape)} (expected a fully defined shape)", path=path, tensor=name)
        from ._ordered_code import FULL_EXTENT  # not on the read path's imports

        slices = []
        for sp in proto.slices:
            if len(sp.extent) != len(shape):
                raise CorruptionError(
                    f"slice rank {len(sp.extent)} differs from the tensor's rank {len(shape)}", path=path, tensor=name
                )
            starts = []
            lengths = []
            for ext, dim in zip(sp.extent, shape):
                if ext.WhichOneof("has_length") is None:
                    starts.append(0)
                    lengths.append(FULL_EXTENT)
                    continue
                if ext.start < 0 or ext.length < 0 or ext.start + ext.length > dim:
                    raise CorruptionError(
                        f"slice extent start {ext.start} length {ext.length} is outside dimension {dim}", path=path, tensor=name
                    )
                starts.append(ext.start)
                lengths.append(ext.length)
            slices.append((tuple(starts), tuple(lengths)))
        if proto.shard_id < 0 or proto.offset < 0 or proto.size < 0:
            raise CorruptionError(
                f"negative shard_id/offset/size ({proto.shard_id}/{proto.offset}/{proto.size})", path=path, tensor=name
            )
        return cls(int(proto.dtype), shape, proto.shard_id, proto.offset, proto.size, proto.crc32c, tuple(slices))

    def check_shape(self, path: str, name: str) -> None:
        """Refuse shapes no array can have: numpy needs the product of the non-zero
        dimensions times the element width to fit in int64, even for zero elements."""
        info = DTYPES[self.dtype]
        nbytes = info.numpy.itemsize if info.numpy is not None else 8  # object pointers
        for d in self.shape:
            nbytes *= d or 1
        if nbytes >= 1 << 63:
            raise CorruptionError(f"shape {list(self.shape)} is too large for any array", path=path, tensor=name)

    def check_size(self, path: str, name: str) -> None:
        """The ``size`` checks TF's ``GetValue`` makes before reading any data."""
        self.check_shape(path, name)
        info = DTYPES[self.dtype]
        n = self.num_elements
        if info.numpy is not None:
            expected = n * info.numpy.itemsize
            if self.size != expected:
                raise CorruptionError(
                    f"entry size {self.size} does not match {n} {info.name} elements ({expected} bytes)", path=path, tensor=name
                )
        elif self.dtype == STRING:
            if self.size < n + 4:  # at least one varint byte per element plus the length checksum
                raise CorruptionError(f"string entry of {n} elements cannot fit in {self.size} bytes", path=path, tensor=name)
        elif self.dtype == VARIANT and self.size < 5 * n:
            raise CorruptionError(f"variant entry of {n} elements cannot fit in {self.size} bytes", path=path, tensor=name)


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
