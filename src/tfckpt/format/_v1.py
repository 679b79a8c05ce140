"""Reading V1 checkpoints (``TensorSliceWriter``; ``tf.compat.v1.train.Saver(write_version=V1)``).

A V1 checkpoint is one SSTable file per device, in the same table format as a V2
``.index`` (see :mod:`._table`, :mod:`._table_format`; no compression). An unsharded save
is a single file whose name *is* the checkpoint path (``model.ckpt-3``); a sharded save
writes ``<prefix>-%05d-of-%05d`` and records the pattern ``<prefix>-?????-of-NNNNN``.
Every file is self-contained; a tensor may have slices in several files.

Rows of each table (keys sorted bytewise; ``tensor_slice_writer.cc``)::

    ""                          -> SavedTensorSlices{ meta: SavedTensorSliceMeta }
    EncodeTensorNameSlice(n, s) -> SavedTensorSlices{ data: SavedSlice{name: n, slice: s,
                                                                       data: TensorProto} }

    SavedTensorSliceMeta := tensor: SavedSliceMeta*      (insertion order)
                            versions: VersionDef{producer: 1, min_consumer: 0}
    SavedSliceMeta       := name, shape: TensorShapeProto, type: DataType,
                            slice: TensorSliceProto*     (every slice of this tensor in this file)

The data key grammar is :mod:`._ordered_code`'s ``EncodeTensorNameSlice``:
``00 String(name) NumIncreasing(rank) (SignedNumIncreasing(start) SignedNumIncreasing(length))*``,
a full dimension being start 0, length -1 (an ``Extent`` without ``length``). **Everything is
a slice**: an unpartitioned tensor has one full slice (``00 'v0' 00 01 01 01 80 7f``), a
scalar one slice of rank 0. ``TensorSliceReader`` registers only slices listed in a meta
entry, so a meta tensor without slices is not a tensor at all, and data rows nobody lists
are never read.

``SavedSlice.data`` fills **only** the typed repeated field (no dtype, shape or
``tensor_content``; ``saved_tensor_slice_util.h``), in C order over the slice:

=======================================================  ============================================
dtype                                                    ``TensorProto`` field
=======================================================  ============================================
float32 / float64                                        ``float_val`` / ``double_val`` (packed fixed)
int32, int16, int8, uint8, uint16, qint8, quint8,        ``int_val`` (varint int32; narrowed by C
quint16, qint32                                          cast, i.e. modulo 2**bits)
int64 / uint32 / uint64 / bool                           ``int64_val`` / ``uint32_val`` / ``uint64_val`` / ``bool_val``
complex64 / complex128                                   ``scomplex_val`` / ``dcomplex_val`` (re, im interleaved)
float16                                                  ``half_val`` (the uint16 bit pattern in an int32)
string                                                   ``string_val``
=======================================================  ============================================

TensorFlow's V1 writer refuses every other dtype (bfloat16, uint32 and uint64 in TF 2.21
too, float8, int4, variant, ...); uint32/uint64 are read here because their fields exist.
Float fields are taken from the wire bytes, not through Python floats, so NaN payloads
survive bit for bit. Reading follows ``TensorSliceReader``: versions are checked per file
like ``CheckVersions`` (``TF_CHECKPOINT_VERSION`` 1, min producer 0), every slice must hold
exactly its element count, and slices must tile the tensor exactly (no gaps, no overlaps).
V1 has no per-tensor checksums; the table's block checksums are always verified.
"""

from __future__ import annotations

import bisect
import mmap
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final

import numpy as np
from google.protobuf.message import DecodeError  # type: ignore[import-untyped, unused-ignore]

from ..errors import CorruptionError, InvalidArgumentError, NotFoundError, UnsupportedError

# Generated modules: their classes are created at import time, invisible to mypy.
from ..proto.saved_tensor_slice_pb2 import SavedTensorSlices, TensorProto  # type: ignore[attr-defined]
from ..proto.tensor_shape_pb2 import TensorShapeProto  # type: ignore[attr-defined]
from ..proto.tensor_slice_pb2 import TensorSliceProto  # type: ignore[attr-defined]
from ..storage._inputs import open_regular
from ._block import BlockFormatError, iter_block
from ._coding import CodingError, decode_varint
from ._dtypes import DTYPES, STRING, VARIANT, require_numpy_rank
from ._ordered_code import FULL_EXTENT, encode_slice_key
from ._table_format import FOOTER_SIZE, MAX_UNCOMPRESSED_BLOCK, TABLE_MAGIC, BlockHandle, Footer, TableFormatError, read_block

__all__ = ["TF_CHECKPOINT_VERSION", "V1Reader", "v1_checkpoints_in"]

#: ``TF_CHECKPOINT_VERSION`` (``core/public/version.h``): this reader's consumer version.
TF_CHECKPOINT_VERSION: Final = 1
#: ``TF_CHECKPOINT_VERSION_MIN_PRODUCER``.
TF_CHECKPOINT_VERSION_MIN_PRODUCER: Final = 0
#: ``TensorShape::MaxDimensions()``.
_MAX_RANK: Final = 254
_INT64_MAX: Final = (1 << 63) - 1
#: A block bigger than this is not kept in the one-block cache (huge tensors get their own block).
_CACHE_LIMIT: Final = 4 << 20
# Field numbers inside SavedTensorSlices -> SavedSlice -> TensorProto (the wire path to the data).
_STS_DATA: Final = 2
_SAVED_SLICE_DATA: Final = 3


@dataclass(frozen=True)
class _Field:
    """How one dtype is stored: the TensorProto field, its number, and the numpy type of its values.

    ``wire`` is the little-endian wire dtype for fixed-width (packed fixed32/64) fields, None for
    varint fields, which go through protobuf. ``per_element`` is 2 for complex (re, im).
    """

    name: str
    number: int
    wire: str | None = None
    per_element: int = 1


_FLOAT = _Field("float_val", 5, "<f4")
_DOUBLE = _Field("double_val", 6, "<f8")
_INT = _Field("int_val", 7)
_STRING = _Field("string_val", 8)
_SCOMPLEX = _Field("scomplex_val", 9, "<f4", 2)
_INT64 = _Field("int64_val", 10)
_BOOL = _Field("bool_val", 11)
_DCOMPLEX = _Field("dcomplex_val", 12, "<f8", 2)
_HALF = _Field("half_val", 13)
_UINT32 = _Field("uint32_val", 16)
_UINT64 = _Field("uint64_val", 17)

#: dtype enum -> the field ``checkpoint::SaveTypeTraits`` stores it in.
_FIELDS: Final[dict[int, _Field]] = {
    1: _FLOAT,
    2: _DOUBLE,
    3: _INT,
    4: _INT,
    5: _INT,
    6: _INT,
    7: _STRING,
    8: _SCOMPLEX,
    9: _INT64,
    10: _BOOL,
    11: _INT,
    12: _INT,
    13: _INT,
    16: _INT,
    17: _INT,
    18: _DCOMPLEX,
    19: _HALF,
    22: _UINT32,
    23: _UINT64,
}


class _WireError(Exception):
    """Internal: protobuf wire bytes that the scanner cannot walk."""


@dataclass(frozen=True)
class _Slice:
    """One stored slice: which file, its extents as stored (``FULL_EXTENT`` kept) and resolved."""

    file: int
    starts: tuple[int, ...]
    lengths: tuple[int, ...]
    real: tuple[int, ...]

    def describe(self) -> str:
        return "[" + ", ".join(f"{s}:{s + n}" for s, n in zip(self.starts, self.real)) + "]"


@dataclass
class _Tensor:
    dtype: int
    shape: tuple[int, ...]
    file: int  # the file that registered it first (for messages)
    slices: list[_Slice] = field(default_factory=list)
    #: ``(starts, resolved lengths)`` -> file index, to refuse a slice registered twice.
    regions: dict[tuple[tuple[int, ...], tuple[int, ...]], int] = field(default_factory=dict)


def _volume(dims: tuple[int, ...]) -> int:
    n = 1
    for d in dims:
        n *= d
    return n


# -- the table -------------------------------------------------------------------------


class _Table:
    """One V1 file: the SSTable index is loaded at open; rows are looked up on demand."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._map: mmap.mmap | None = None
        self._buf = memoryview(b"")
        self._size = -1  # unknown until the first _open()
        self._closed = True
        self._cache: tuple[int, dict[bytes, bytes]] | None = None
        self._open()
        try:
            self._check_magic()
            self._separators, self._handles = self._load_index()
        except BaseException:
            self.close()
            raise

    def _open(self) -> None:
        """Map the file (again, after :meth:`close`, as the V2 reader re-maps its shards)."""
        fd, size = open_regular(self.path, "a V1 checkpoint file")
        try:
            if self._size not in (-1, size):
                raise CorruptionError(f"file changed size from {self._size} to {size} bytes since it was opened", path=self.path)
            self._map = mmap.mmap(fd, size, access=mmap.ACCESS_READ) if size else None
        finally:
            os.close(fd)
        self._buf = memoryview(self._map) if self._map is not None else memoryview(b"")
        self._size = size
        self._closed = False

    def _check_magic(self) -> None:
        if self._size < FOOTER_SIZE:
            reason = f"{self._size} bytes, too short for a table"
        elif int.from_bytes(self._buf[self._size - 8 : self._size], "little") != TABLE_MAGIC:
            reason = "bad table magic"
        else:
            return
        p = self.path
        raise InvalidArgumentError(
            f"{p} is not a TensorFlow checkpoint (no {p}.index, and not a V1 checkpoint file: {reason}); "
            "pass the checkpoint prefix, the .index file or the directory"
        )

    def _load_index(self) -> tuple[list[bytes], list[BlockHandle]]:
        separators: list[bytes] = []
        handles: list[BlockHandle] = []
        pos = 0
        try:
            footer = Footer.decode(self._buf, self._size)
            pos = footer.index.offset
            index = read_block(self._buf, footer.index, self._size, max_uncompressed=MAX_UNCOMPRESSED_BLOCK)
            for separator, handle_bytes in iter_block(bytes(index)):
                handle, _ = BlockHandle.decode(handle_bytes, 0, len(handle_bytes))
                if separators and separator <= separators[-1]:
                    raise BlockFormatError(f"index keys out of order: {separator[:64]!r} after {separators[-1][:64]!r}", 0)
                separators.append(separator)
                handles.append(handle)
        except (TableFormatError, CodingError) as e:
            raise CorruptionError(str(e), path=self.path, offset=e.pos) from None
        except BlockFormatError as e:
            raise CorruptionError(f"in the index block at {pos:#x}: {e}", path=self.path, offset=pos + e.pos) from None
        return separators, handles

    def _block(self, i: int) -> dict[bytes, bytes]:
        """Rows of data block ``i`` (checksum verified; keys in order and within the index bounds)."""
        if self._cache is not None and self._cache[0] == i:
            return self._cache[1]
        if self._closed:
            self._open()
        handle = self._handles[i]
        low = self._separators[i - 1] if i else None
        high = self._separators[i]
        rows: dict[bytes, bytes] = {}
        last: bytes | None = None
        try:
            contents = read_block(self._buf, handle, self._size, max_uncompressed=MAX_UNCOMPRESSED_BLOCK)
            for key, value in iter_block(bytes(contents)):
                if (last is not None and key <= last) or (low is not None and key <= low) or key > high:
                    raise BlockFormatError(f"key {key[:64]!r} is out of order or outside its index range", 0)
                rows[key] = value
                last = key
        except (TableFormatError, CodingError) as e:
            raise CorruptionError(str(e), path=self.path, offset=e.pos) from None
        except BlockFormatError as e:
            raise CorruptionError(f"in block at {handle.offset:#x}: {e}", path=self.path, offset=handle.offset + e.pos) from None
        if handle.size <= _CACHE_LIMIT:
            self._cache = (i, rows)
        return rows

    def first(self) -> tuple[bytes, bytes] | None:
        """The first row of the table, or None if it is empty."""
        for i in range(len(self._handles)):
            rows = self._block(i)
            if rows:
                key = next(iter(rows))
                return key, rows[key]
        return None

    def get(self, key: bytes) -> bytes | None:
        i = bisect.bisect_left(self._separators, key)
        if i == len(self._separators):
            return None
        return self._block(i).get(key)

    def close(self) -> None:
        self._cache = None
        self._closed = True
        try:
            self._buf.release()
        except BufferError:
            pass
        self._buf = memoryview(b"")
        if self._map is not None:
            try:
                self._map.close()
            except BufferError:
                pass  # a slice is still referenced (an exception in flight); unmapped when it goes
            self._map = None


_SHARD_RE: Final = re.compile(r"^(?P<base>.+)-(?P<shard>\d{5})-of-(?P<count>\d{5})$")
_NOT_V1_RE: Final = re.compile(r"(\.index|\.meta|\.data-\d{5}-of-\d{5}|\.tempstate\d+)$")


def _has_table_magic(path: str) -> bool:
    try:
        fd, size = open_regular(path, "a V1 checkpoint file")
    except (OSError, InvalidArgumentError):
        return False  # FIFOs, devices and unreadable files are not V1 checkpoints
    try:
        return size >= FOOTER_SIZE and int.from_bytes(os.pread(fd, 8, size - 8), "little") == TABLE_MAGIC
    except OSError:
        return False
    finally:
        os.close(fd)


def v1_checkpoints_in(directory: str) -> list[tuple[str, tuple[str, ...]]]:
    """The V1 checkpoints in ``directory`` as ``(prefix, files)``, oldest first.

    V1 files have no ``.index`` to look for, so every plain file whose tail is the table
    magic counts (a directory unpacked from a TF-slim ``.tar.gz`` holds just ``model.ckpt``).
    A complete set ``<base>-NNNNN-of-MMMMM`` becomes one checkpoint named by the pattern
    TF records, ``<base>-?????-of-MMMMM``. Ordered by newest file mtime, then name.
    """
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    found: list[tuple[float, str, tuple[str, ...]]] = []
    shards: dict[tuple[str, int], dict[int, str]] = {}
    for name in names:
        path = os.path.join(directory, name)
        if name == "checkpoint" or _NOT_V1_RE.search(name) or not os.path.isfile(path) or not _has_table_magic(path):
            continue
        m = _SHARD_RE.match(name)
        if m and int(m.group("shard")) < int(m.group("count")):
            shards.setdefault((m.group("base"), int(m.group("count"))), {})[int(m.group("shard"))] = path
        else:
            found.append((os.stat(path).st_mtime, path, (path,)))
    for (base, count), files in shards.items():
        if len(files) == count:
            paths = tuple(files[i] for i in range(count))
            mtime = max(os.stat(f).st_mtime for f in paths)
            found.append((mtime, os.path.join(directory, f"{base}-?????-of-{count:05d}"), paths))
    return [(prefix, files) for _, prefix, files in sorted(found)]


# -- protobuf helpers --------------------------------------------------------------------


def _iter_fields(buf: memoryview) -> Iterator[tuple[int, int, int, int]]:
    """``(field number, wire type, start, end)`` of each field; for LEN fields the payload."""
    pos, limit = 0, len(buf)
    try:
        while pos < limit:
            tag, pos = decode_varint(buf, pos, limit)
            number, wire = tag >> 3, tag & 7
            if wire == 0:
                start = pos
                _, pos = decode_varint(buf, pos, limit)
            elif wire == 1 or wire == 5:
                start = pos
                pos += 8 if wire == 1 else 4
            elif wire == 2:
                length, start = decode_varint(buf, pos, limit)
                pos = start + length
            else:
                raise _WireError(f"unexpected wire type {wire} (groups are not used by TensorProto)")
            if pos > limit:
                raise _WireError("field runs past the end of its message")
            yield number, wire, start, pos
    except CodingError as e:
        raise _WireError(str(e)) from None


def _fixed_values(raw: bytes, spec: _Field) -> np.ndarray:
    """The values of a fixed-width repeated field, straight from the wire (bit exact).

    Protobuf merges repeated occurrences of a sub-message, so every ``data`` of every
    ``SavedSlice`` contributes, in order, packed chunks as well as unpacked values.
    """
    assert spec.wire is not None
    width = np.dtype(spec.wire).itemsize
    scalar_wire = 5 if width == 4 else 1
    view = memoryview(raw)
    chunks: list[memoryview] = []
    for n1, w1, s1, e1 in _iter_fields(view):
        if n1 != _STS_DATA or w1 != 2:
            continue
        for n2, w2, s2, e2 in _iter_fields(view[s1:e1]):
            if n2 != _SAVED_SLICE_DATA or w2 != 2:
                continue
            tensor = view[s1:e1][s2:e2]
            for n3, w3, s3, e3 in _iter_fields(tensor):
                if n3 == spec.number and (w3 == 2 or w3 == scalar_wire):
                    if (e3 - s3) % width:
                        raise _WireError(f"packed {spec.name} of {e3 - s3} bytes is not a multiple of {width}")
                    chunks.append(tensor[s3:e3])
    data = chunks[0] if len(chunks) == 1 else b"".join(chunks)  # one copy for the usual single chunk
    return np.frombuffer(data, dtype=spec.wire).astype(spec.wire[1:], copy=True)


def _decode_shape(proto: TensorShapeProto) -> tuple[int, ...]:
    if proto.unknown_rank:
        raise ValueError("its shape has unknown rank")
    dims = tuple(int(d.size) for d in proto.dim)
    if len(dims) > _MAX_RANK:
        raise ValueError(f"its shape has rank {len(dims)}, more than {_MAX_RANK}")
    if any(d < 0 for d in dims):
        raise ValueError(f"its shape {list(dims)} has a negative dimension")
    if _volume(dims) > _INT64_MAX:
        raise ValueError(f"its shape {list(dims)} has more than 2**63-1 elements")
    return dims


def _decode_slice(proto: TensorSliceProto, shape: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """``(starts, lengths as stored, resolved lengths)``, checked against ``shape``."""
    if len(proto.extent) != len(shape):
        raise ValueError(f"a slice has {len(proto.extent)} extents for a tensor of rank {len(shape)}")
    starts, lengths, real = [], [], []
    for d, (extent, dim) in enumerate(zip(proto.extent, shape)):
        start = int(extent.start)
        if extent.HasField("length"):
            length = n = int(extent.length)
            if n < 0:
                raise ValueError(f"a slice has negative length {n} in dimension {d}")
        else:
            length, n = FULL_EXTENT, dim
            if start != 0:
                raise ValueError(f"a full-extent slice dimension {d} starts at {start}, not 0")
        if start < 0 or start + n > dim:
            raise ValueError(f"slice extent {start}:{start + n} in dimension {d} lies outside the shape {list(shape)}")
        starts.append(start)
        lengths.append(length)
        real.append(n)
    return tuple(starts), tuple(lengths), tuple(real)


# -- the reader --------------------------------------------------------------------------


class V1Reader:
    """All tensors of a V1 checkpoint held in ``files`` (one per shard).

    Every file's index and meta entry are loaded at open; a tensor's rows are looked up,
    decoded and reassembled when it is read. Arrays are always owned, writable copies
    (V1 stores values as protobuf fields, so there is nothing to map zero-copy).

    Parameters
    ----------
    files : list of str
        The V1 checkpoint files (one for an unsharded save, ``NNNNN`` for a sharded one).
    verify : bool
        Accepted for symmetry with the V2 reader. V1 files have no per-tensor checksums;
        every table block checksum is verified regardless.

    Raises
    ------
    InvalidArgumentError
        A file is not an SSTable, or is one without a V1 meta entry.
    CorruptionError
        A damaged table, meta entry or inconsistent tensor registration (names file and tensor).
    UnsupportedError
        A file needs a newer reader (its ``min_consumer`` or ``bad_consumers``).

    Examples
    --------
    >>> r = V1Reader(["model.ckpt-3"], verify=True)          # doctest: +SKIP
    >>> r.names, r.read(r.names[0])                          # doctest: +SKIP
    """

    def __init__(self, files: list[str], *, verify: bool) -> None:
        if not files:
            raise InvalidArgumentError("a V1 checkpoint needs at least one file")
        self.verify = verify
        self._tables: list[_Table] = []
        self._tensors: dict[str, _Tensor] = {}
        try:
            for path in files:
                self._tables.append(_Table(path))
                self._register(len(self._tables) - 1)
        except BaseException:
            self.close()
            raise
        self.names: list[str] = sorted(self._tensors, key=lambda n: n.encode("utf-8"))

    def _register(self, index: int) -> None:
        """Check one file's meta entry and register its slices (TSR ``LoadShard``)."""
        table = self._tables[index]
        path = table.path
        first = table.first()
        if first is None or first[0] != b"":
            what = "it is empty" if first is None else f"its first key is {first[0][:40]!r}"
            raise InvalidArgumentError(f"{path} is an SSTable but not a V1 checkpoint: {what}, not the '' meta entry")
        try:
            sts = SavedTensorSlices.FromString(first[1])
        except DecodeError as e:
            raise CorruptionError(f"the '' meta entry does not parse as SavedTensorSlices: {e}", path=path) from None
        if not sts.HasField("meta"):
            raise InvalidArgumentError(
                f"{path} is an SSTable but not a V1 checkpoint: its '' entry holds no SavedTensorSliceMeta "
                "(a V2 .index file? pass the checkpoint prefix instead)"
            )
        v = sts.meta.versions
        if v.producer < TF_CHECKPOINT_VERSION_MIN_PRODUCER:
            raise CorruptionError(
                f"checkpoint producer version {v.producer} is below the minimum {TF_CHECKPOINT_VERSION_MIN_PRODUCER}",
                path=path,
            )
        if v.min_consumer > TF_CHECKPOINT_VERSION or TF_CHECKPOINT_VERSION in v.bad_consumers:
            raise UnsupportedError(
                f"{path}: V1 checkpoint needs a newer reader (min_consumer {v.min_consumer}, "
                f"bad_consumers {list(v.bad_consumers)}; this reader is version {TF_CHECKPOINT_VERSION})"
            )
        for ssm in sts.meta.tensor:
            name = ssm.name
            dtype = int(ssm.type)
            try:
                if dtype not in DTYPES:
                    raise ValueError(f"it has unknown dtype enum {dtype}")
                shape = _decode_shape(ssm.shape)
                decoded = [_decode_slice(sp, shape) for sp in ssm.slice]
            except ValueError as e:
                raise CorruptionError(f"bad meta entry: {e}", path=path, tensor=name) from None
            if not decoded:
                continue  # TensorSliceReader registers slices, so a tensor without any does not exist
            tensor = self._tensors.get(name)
            if tensor is None:
                tensor = self._tensors[name] = _Tensor(dtype, shape, index)
            elif tensor.dtype != dtype or tensor.shape != shape:
                raise CorruptionError(
                    f"registered as {DTYPES[dtype].name}{list(shape)} here but as "
                    f"{DTYPES[tensor.dtype].name}{list(tensor.shape)} in {self._tables[tensor.file].path}",
                    path=path,
                    tensor=name,
                )
            for starts, lengths, real in decoded:
                new = _Slice(index, starts, lengths, real)
                old = tensor.regions.setdefault((starts, real), index)  # a set, not a scan: metas may be huge
                if len(tensor.regions) == len(tensor.slices):
                    raise CorruptionError(
                        f"slice {new.describe()} is registered twice (also in {self._tables[old].path})",
                        path=path,
                        tensor=name,
                    )
                tensor.slices.append(new)

    # -- the TensorSource protocol (format._source) ---------------------------------------------------------

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)

    def __contains__(self, name: str) -> bool:
        return name in self._tensors

    def read_batch(self, names: list[str], *, copy: bool = False) -> list[np.ndarray]:
        return [self.read(name, copy=copy) for name in names]

    def _tensor(self, name: str) -> _Tensor:
        tensor = self._tensors.get(name)
        if tensor is None:
            raise NotFoundError(f"tensor {name!r} not found in {self._tables[0].path}", name=name)
        return tensor

    def info(self, name: str) -> tuple[int, tuple[int, ...]]:
        """``(dtype enum, shape)`` of ``name`` from the meta entries (no data is read)."""
        tensor = self._tensor(name)
        return tensor.dtype, tensor.shape

    def read(self, name: str, *, copy: bool = False) -> np.ndarray:
        """``name`` reassembled from all its slices, as ``TensorSliceReader`` restores it.

        Always an owned, writable array (``copy`` changes nothing for V1).

        Raises
        ------
        CorruptionError
            A slice's row is missing, undecodable, holds the wrong number of values, or the
            slices leave gaps or overlap.
        UnsupportedError
            A dtype that V1 has no field for (bfloat16, variant, float8, ...).
        """
        tensor = self._tensor(name)
        info = DTYPES[tensor.dtype]
        require_numpy_rank(tensor.shape, name)
        spec = _FIELDS.get(tensor.dtype)
        if spec is None:
            extra = " (use a V2 checkpoint)" if tensor.dtype != VARIANT else "; V1 checkpoints cannot hold variants"
            raise UnsupportedError(f"{name!r} has dtype {info.name}, which the V1 format has no field for{extra}")
        parts = [(s, self._read_slice(name, tensor, s, spec)) for s in tensor.slices]
        path = self._tables[tensor.file].path
        total = _volume(tensor.shape)
        covered = sum(arr.size for _, arr in parts)  # each matched its row's data, so this is bounded
        if covered < total:
            raise CorruptionError(
                f"its slices cover {covered} of {total} elements (TF: 'Does not have sufficient slices')",
                path=path,
                tensor=name,
            )
        if len(parts) == 1:
            return parts[0][1].reshape(tensor.shape)
        out = np.empty(tensor.shape, dtype=object if tensor.dtype == STRING else info.numpy)
        filled = np.zeros(tensor.shape, dtype=np.bool_)
        for s, arr in parts:
            region = tuple(slice(a, a + n) for a, n in zip(s.starts, s.real))
            if filled[region].any():
                raise CorruptionError(f"slice {s.describe()} overlaps another slice", path=path, tensor=name)
            filled[region] = True
            out[region] = arr
        return out

    def _read_slice(self, name: str, tensor: _Tensor, s: _Slice, spec: _Field) -> np.ndarray:
        table = self._tables[s.file]
        path = table.path
        where = f"slice {s.describe()}"
        key = encode_slice_key(name.encode("utf-8"), s.starts, s.lengths)
        raw = table.get(key)
        if raw is None:
            raise CorruptionError(f"{where} is listed in the meta entry but its data row is missing", path=path, tensor=name)
        try:
            sts = SavedTensorSlices.FromString(raw)
        except DecodeError as e:
            raise CorruptionError(f"{where}: the row does not parse as SavedTensorSlices: {e}", path=path, tensor=name) from None
        saved = sts.data
        if not sts.HasField("data") or saved.name != name:
            raise CorruptionError(f"{where}: the row names tensor {saved.name!r}", path=path, tensor=name)
        try:
            stored = _decode_slice(saved.slice, tensor.shape)
        except ValueError as e:
            raise CorruptionError(f"{where}: the row's own slice is bad: {e}", path=path, tensor=name) from None
        if stored != (s.starts, s.lengths, s.real):
            raise CorruptionError(
                f"{where}: the row holds slice {_Slice(s.file, stored[0], stored[1], stored[2]).describe()}",
                path=path,
                tensor=name,
            )
        count = _volume(s.real)
        try:
            values = _values(tensor.dtype, spec, saved.data, raw)
        except _WireError as e:
            raise CorruptionError(f"{where}: {e}", path=path, tensor=name) from None
        if values.size != count:
            raise CorruptionError(
                f"{where} holds {values.size} values in {spec.name}, expected {count} "
                f"(V1 stores {DTYPES[tensor.dtype].name} only in {spec.name})",
                path=path,
                tensor=name,
            )
        return values.reshape(s.real)

    def raw_bytes(self, name: str) -> bytes:
        """The tensor's elements in C order, little-endian (V1 stores protobuf fields, not a payload).

        Raises
        ------
        UnsupportedError
            For string tensors, which have no fixed-width element bytes in V1.
        """
        arr = self.read(name)
        if arr.dtype == object:
            raise UnsupportedError(
                f"{name!r} is a V1 string tensor; V1 stores strings as protobuf string_val, "
                "so there is no raw payload (use get_tensor)"
            )
        return np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()

    def variant_elements(self, name: str) -> list[bytes]:
        """Always raises: the V1 format cannot hold variant tensors."""
        dtype = DTYPES[self._tensor(name).dtype].name
        raise UnsupportedError(f"{name!r} is {dtype}; V1 checkpoints cannot hold variant tensors")

    def close(self) -> None:
        for table in self._tables:
            table.close()


def _values(dtype: int, spec: _Field, proto: TensorProto, raw: bytes) -> np.ndarray:
    """The flat values of one slice as the dtype's numpy type (C casts as ``TensorSliceReader``)."""
    if spec.wire is not None:
        flat = _fixed_values(raw, spec)
        if flat.size != len(getattr(proto, spec.name)):
            raise _WireError(f"{spec.name} decodes inconsistently")
        if spec.per_element == 2:
            if flat.size % 2:
                raise _WireError(f"{spec.name} holds an odd number ({flat.size}) of components")
            return flat.view(np.complex64 if flat.dtype == np.float32 else np.complex128)
        return flat
    values = getattr(proto, spec.name)
    n = len(values)
    if spec is _STRING:
        out = np.empty(n, dtype=object)
        out[:] = list(values)
        return out
    if spec is _HALF:  # the bit pattern, narrowed to 16 bits (bit_cast<half>(uint16(x)))
        return np.fromiter(values, dtype=np.int64, count=n).astype(np.uint16).view(np.float16)
    if spec is _BOOL:
        return np.fromiter(values, dtype=np.bool_, count=n)
    target = DTYPES[dtype].numpy
    assert target is not None
    if spec is _INT:
        return np.fromiter(values, dtype=np.int64, count=n).astype(target)
    return np.fromiter(values, dtype=target, count=n)
