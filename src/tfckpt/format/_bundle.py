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
import sys
from typing import Any, Final

import numpy as np

from .._record import Record
from ..errors import CorruptionError, UnsupportedError
from ._coding import encode_fixed32, encode_varint
from ._dtypes import DTYPES, STRING, VARIANT
from ._rows import decode_varints


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
    "match_data_file",
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
    from ._rows_build import pad_rows  # the writer's helper (tools.merge calls this)

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
        from ._bundle_encode import encode_plain_entry, encode_shape_field  # the writer's half: not on the read path

        if not self.slices:
            return encode_plain_entry(self.dtype, self.shape, self.shard_id, self.offset, self.size, self.crc32c)
        out = [b"\x08", encode_varint(self.dtype), encode_shape_field(self.shape)]
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
