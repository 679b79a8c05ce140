"""Reading V2 tensor bundles: the index, memory-mapped data shards, tensors as numpy arrays.

This is the layer between the byte formats (:mod:`._table`, :mod:`._bundle`) and the
public :class:`tfckpt.Checkpoint`. It loads the whole index at open (every block checksum
verified, every key kept as raw bytes) and parses an entry only when it is asked about.
Data shards are memory-mapped on first use. Fixed-width tensors come out as zero-copy views
of the mapping when the bundle's byte order is the host's: read-only by default, writable
with ``writable=True``, which maps the shards copy-on-write (``MAP_PRIVATE``, as
``numpy.load(mmap_mode="c")``): a page is copied into the process when first written, and
the file never changes.

The bytes come from a :class:`tfckpt.storage.Store`. Local files and archive members are
mappings, as above; remote objects (``s3://``, ``https://``, ...) are never mapped: each
tensor's ``[offset, offset + size)`` is fetched when read (a private, writable copy when
``writable=True``), and :meth:`BundleReader.prefetch` fetches many at once.

This module is what opening a bundle and reading plain tensors runs; the rest of the
reader is loaded on first use, so that a fresh process that reads a tensor or two does
not load it: :mod:`._v2_bulk` (batches, read-ahead) and :mod:`._v2_general` (strings,
variants, other byte orders, partitioned variables, raw and remote payloads, the
detailed errors). The methods below that delegate there keep the reader's interface.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Iterator, Mapping
from typing import Final, TypeAlias

import numpy as np

from .._record import Record
from ..errors import CorruptionError, NotFoundError
from ..storage import Buffer, Store
from ..storage._local import LOCAL
from ._bundle import HOST_ENDIANNESS, BundleEntry, BundleHeader, data_filename, decode_plain_rows, index_filename
from ._coding import crc32c, crc32c_function, mask_crc, unmask_crc
from ._dtypes import DTYPES, NUMPY_MAX_RANK
from ._index import IndexColumns, read_index_columns
from ._rows import windows

__all__ = ["BundleReader", "decode_name", "encode_name"]

#: Keys are bytes on disk; names are ``str``. Undecodable bytes survive the round trip.
_NAME_ERRORS: Final = "surrogateescape"
#: Payloads this large are checksummed once per reader (remembered by key); smaller ones
#: on every read, which costs less than remembering them (~0.1 us for 1 KiB).
_REMEMBER_VERIFIED: Final = 64 << 10
#: ``_FastColumns.spec`` of the hidden rows (slices of partitioned variables) is
#: ``_hide(spec)``, at most this: negative, so no read by name takes the fast path.
_HIDDEN: Final = -2


def _hide(spec: int) -> int:
    """A spec that reads by name skip, and back (``-1``, no spec, stays ``-1``)."""
    return spec if spec == -1 else _HIDDEN - spec


#: Opening an index of this many entries ends by handing freed heap back to the system.
_TRIM_AFTER_ROWS: Final = 100_000


def _return_freed_heap() -> None:
    """Ask glibc to return freed heap pages (``malloc_trim``), where there is glibc.

    Decoding a large index frees many MiB of short-lived arrays amid the names and
    columns it keeps; glibc keeps such holes in its heap, so without this the process
    would hold ~80 MiB more after opening 1M entries than the reader's own ~150 MiB.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes  # only here: costs import time

    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (AttributeError, OSError):  # not glibc (musl has no malloc_trim)
        pass


#: Payloads up to this size are checksummed from a copy (``mmap[a:b]``): ~0.05 us faster
#: than from a ``memoryview`` slice at 16 B, slower from ~1 KiB on.
_COPY_TO_CHECK_MAX: Final = 256
_ndarray: Final = np.ndarray  # one global lookup in read()'s hot path, not two

#: What :meth:`BundleReader.read` needs of a spec (see ``_make_ready``).
_Ready: TypeAlias = tuple[np.dtype, tuple[int, ...], int, Buffer, Buffer, int, int]

#: How :meth:`BundleReader.read` checks a payload: not at all (``verify=False``), on
#: every read (small payloads), or once, remembering it (see ``_REMEMBER_VERIFIED``).
_CRC_NONE, _CRC_EVERY, _CRC_ONCE = 0, 1, 2

#: Index rows decoded together at open (see :class:`_FastColumns`).
_DECODE_ROWS: Final = 65536
#: :meth:`_FastColumns.build` numbers the (dtype and shape, shard) pairs of a batch with a
#: lookup table of this many slots at most (else with a sort).
_COMBO_TABLE_MAX: Final = 1 << 16
#: Entries longer than this are never plain (a plain entry of rank 8 takes ~80 bytes).
_PLAIN_MAX_BYTES: Final = 160
_I64_LIMIT: Final = (1 << 63) - 1


def decode_name(key: bytes) -> str:
    return key.decode("utf-8", _NAME_ERRORS)


def encode_name(name: str) -> bytes:
    return name.encode("utf-8", _NAME_ERRORS)


class _FastColumns(Record):
    """What :meth:`BundleReader.read`'s fast path needs of each index row, as arrays.

    ``spec[i] >= 0`` marks a row it serves: a plain entry (see
    :func:`._bundle.decode_plain_rows`) of a fixed-width dtype in host byte order, its
    size that of its shape (and not zero), in a shard the header lists. Then
    ``specs[spec[i]]`` is ``(numpy dtype, shape, size, shard_id)``, shared by the rows
    alike (a checkpoint repeats dtypes and shapes), ``offset[i]`` is where its bytes start
    and ``crc[i]`` their CRC32C (unmasked). ``spec_size`` and ``spec_shard`` are the
    specs' sizes and shards as arrays, for :meth:`BundleReader.read_batch`.
    """

    spec: np.ndarray
    offset: np.ndarray
    crc: np.ndarray
    specs: list[tuple[np.dtype, tuple[int, ...], int, int]]
    spec_enum: list[int]
    spec_size: np.ndarray
    spec_shard: np.ndarray

    @classmethod
    def build(cls, columns: IndexColumns, num_shards: int, enabled: bool) -> _FastColumns:
        """Decode every row's entry with array operations, :data:`_DECODE_ROWS` at a time
        (their padded rows stay a few MiB); ``enabled=False`` marks none."""
        n = len(columns.names)
        spec = np.full(n, -1, np.int32)
        offset = np.zeros(n, np.int64)
        crc = np.zeros(n, np.uint32)
        ids: dict[tuple[int, tuple[int, ...], int], int] = {}  # (dtype enum, shape, shard) -> spec
        enums: list[int] = []
        specs: list[tuple[np.dtype, tuple[int, ...], int, int]] = []
        if not enabled or n < 2:
            return cls(spec, offset, crc, specs, [], np.zeros(0, np.int64), np.zeros(0, np.int64))
        width = max(1, min(int(columns.value_length.max()), _PLAIN_MAX_BYTES))
        # windows[j] = the width bytes from data[j] on (zeros past the end): one row per gather
        data = np.concatenate([np.frombuffer(columns.data, np.uint8), np.zeros(width, np.uint8)])
        rows_at = windows(data, width)
        column = np.arange(width, dtype=np.int64)
        for first in range(1, n, _DECODE_ROWS):  # row 0 is the header
            rows = slice(first, min(n, first + _DECODE_ROWS))
            starts, lengths = columns.value_start[rows], columns.value_length[rows]
            matrix = rows_at[starts]
            matrix *= column < lengths[:, None]
            batch = decode_plain_rows(matrix, lengths)
            dtypes = [DTYPES[enum].numpy if enum in DTYPES else None for enum, _ in batch.kinds]
            expected = np.array(
                [-1 if dtype is None or len(shape) > NUMPY_MAX_RANK else min(math.prod(shape) * dtype.itemsize, _I64_LIMIT)
                 for dtype, (_, shape) in zip(dtypes, batch.kinds)],
                np.int64,
            )
            fast = batch.plain & (batch.shard_id < num_shards) & (batch.size > 0) & (batch.size == expected[batch.kind])
            # each row's (kind, shard) as one number, 0 for rows not fast
            span = int(batch.shard_id.max(where=fast, initial=0)) + 1
            combo = np.where(fast, batch.kind * span + batch.shard_id + 1, 0)
            if len(batch.kinds) * span < _COMBO_TABLE_MAX:  # the few that occur, by bincount: no sort
                present = np.flatnonzero(np.bincount(combo))
                table = np.zeros(len(batch.kinds) * span + 1, np.int64)
                table[present] = np.arange(len(present))
                which = table[combo]
            else:
                present, which = np.unique(combo, return_inverse=True)
            local = np.full(len(present), -1, np.int32)
            for k, found in enumerate(present.tolist()):
                if found:
                    kind, shard_id = divmod(found - 1, span)
                    enum, shape = batch.kinds[kind]
                    local[k] = ids.setdefault((enum, shape, shard_id), len(ids))
                    dtype = dtypes[kind]
                    if local[k] == len(specs) and dtype is not None:  # (a fast row's dtype is known)
                        specs.append((dtype, shape, int(expected[kind]), shard_id))
                        enums.append(enum)
            spec[rows] = local[which.reshape(-1)]
            offset[rows] = batch.offset
            crc[rows] = unmask_crc(batch.crc32c.astype(np.int64))  # type: ignore[arg-type]  # works column-wise
        spec_size = np.array([size for _, _, size, _ in specs], np.int64)
        spec_shard = np.array([shard for _, _, _, shard in specs], np.int64)
        return cls(spec, offset, crc, specs, enums, spec_size, spec_shard)


class BundleReader:
    """All tensors of one V2 bundle. Not thread-safe for the first read of a shard."""

    def __init__(
        self, prefix: str, *, verify: bool = True, writable: bool = False, store: Store = LOCAL, index: bytes | None = None
    ) -> None:
        self.prefix = prefix
        self.store = store
        self._writable = writable
        self.index_path = store.url(index_filename(prefix))  # as the user would write it, for messages
        self.verify = verify
        data = index if index is not None else store.get(index_filename(prefix), what="a checkpoint index")  # one request remotely
        columns = read_index_columns(data, self.index_path)
        if not columns.names or columns.names[0] != "":
            raise CorruptionError("index does not start with the bundle header (empty key)", path=self.index_path)
        self.header = BundleHeader.decode(columns.value(0), self.index_path)
        self._foreign = self.header.endianness != HOST_ENDIANNESS
        # name -> row of the columns, header excluded; in key order, so iterating it lists
        # the names. With the columns below, all that reading a tensor looks up.
        self._row: dict[str, int] = dict(zip(columns.names, range(len(columns.names))))
        del self._row[""]
        self._fast = _FastColumns.build(columns, self.header.num_shards, not self._foreign)
        # The entries the fast columns describe are rebuilt from them when asked for
        # (_entry_of_row); only the others keep their bytes (strings, partitioned
        # variables, unusual layouts): the index's bytes are not held.
        self._other_entries: dict[int, bytes] = {
            row: columns.value(row) for row in np.flatnonzero(self._fast.spec < 0).tolist() if row
        }
        self._entries: dict[bytes, BundleEntry] = {}
        self._raw_entries: Mapping[bytes, bytes] | None = None  # made by _raw on first use
        self._maps: dict[int, Buffer] = {}
        self._sizes: dict[int, int] = {}  # of shards that are not mapped (remote objects)
        self._fetched: dict[tuple[int, int, int], bytes | memoryview] = {}  # prefetch(): (shard, offset, size) -> payload
        self._views: dict[int, memoryview] = {}  # of _maps, for slicing without copies
        # Keys whose payload checksum matched, remembered only where checking again would
        # cost more than remembering (payloads of _REMEMBER_VERIFIED bytes and up) or would
        # be wrong (copy-on-write arrays written in place): no per-tensor memory otherwise.
        self._verified: set[bytes] = set()
        self._remember_verified = 0 if writable else _REMEMBER_VERIFIED
        self._crc = crc32c_function()  # the C function itself: read() calls it per tensor
        self._hidden = self._hidden_names()
        self._count = len(self._row) - len(self._hidden)
        for name in self._hidden:
            row = self._row[name]
            self._fast.spec[row] = _hide(int(self._fast.spec[row]))  # read by name: not found
        # the fast path's columns as memoryviews: indexing one gives a Python int directly
        self._spec_of, self._offset_of, self._crc_of = (c.data for c in (self._fast.spec, self._fast.offset, self._fast.crc))
        self._specs = self._fast.specs
        self._ready: list[_Ready | None] = [None] * len(self._specs)
        # Read-ahead (see _v2_bulk.read_ahead): name -> array of the rows read ahead, popped as
        # they are read; the rows [_ahead_start, _ahead_end) they came from; the row whose
        # read starts the next run. Never more than one run (4096 arrays at most).
        self._names = columns.names  # row -> name (8 bytes a row): the names of a run
        self.ahead: dict[str, np.ndarray | None] = {}  # None: a row the run did not take
        self._ahead_start = self._ahead_end = 0
        self._ahead_next = -1
        self._ahead_rows = 0
        # copy-on-write arrays are checked once and remembered by key (written in place,
        # they would fail a second check): those, and remote bytes, are never read ahead
        self._ahead_on = bool(self._specs) and self._remember_verified > 0 and store.maps_objects
        self._largest_spec = int(self._fast.spec_size.max(initial=0))
        if len(self._row) >= _TRIM_AFTER_ROWS:
            _return_freed_heap()

    # -- index -------------------------------------------------------------------------
    # Per tensor the reader holds its name (a str, a key of _row, listed by row in _names),
    # a few numbers in arrays (_FastColumns; entry bytes only for rows they do not take):
    # nothing is added by reading (a read-ahead run holds one run's arrays until read).

    def __iter__(self) -> Iterator[str]:
        """The tensor names in key (bytewise) order, as the index stores them."""
        hidden = self._hidden
        if not hidden:
            return iter(self._row)
        return (name for name in self._row if name not in hidden)

    def __len__(self) -> int:
        return self._count

    def __contains__(self, name: str) -> bool:
        return name in self._row and name not in self._hidden

    @property
    def names(self) -> list[str]:
        return list(self)

    def _hidden_names(self) -> set[str]:
        """The slice entries of partitioned variables: keys in the index, not tensors."""
        hidden: set[str] = set()
        listed: dict[bytes, set[tuple[tuple[int, ...], tuple[int, ...]]]] = {}  # owner -> its slices, as a set
        for name in self._row:
            if name[:1] != "\x00":  # slice keys start with NumIncreasing(0); keys are in
                break  # increasing order (the index reader checks), so they all come first
            from ._ordered_code import OrderedCodeError, decode_slice_key  # only partitioned checkpoints get here

            try:
                owner, starts, lengths = decode_slice_key(encode_name(name))
            except OrderedCodeError:
                continue
            if decode_name(owner) not in self._row:
                continue
            slices = listed.get(owner)
            if slices is None:
                slices = listed[owner] = set(self.entry_by_key(owner).slices)
            if (starts, lengths) in slices:
                hidden.add(name)
        return hidden

    @property
    def _raw(self) -> Mapping[bytes, bytes]:
        """The index's entries as ``{key: serialized entry}`` (see :class:`._v2_general.RawEntries`)."""
        if self._raw_entries is None:
            from ._v2_general import RawEntries

            self._raw_entries = RawEntries(self)
        return self._raw_entries

    def entry_by_key(self, key: bytes) -> BundleEntry:
        entry = self._entries.get(key)
        if entry is None:
            name = decode_name(key)
            entry = self._entry_of_row(self._row[name], name)
            self._entries[key] = entry
        return entry

    def _entry_of_row(self, row: int, name: str) -> BundleEntry:
        """The entry at ``row``: rebuilt from the fast columns (as ``BundleEntry.decode``
        gives it: a plain entry), else decoded from its bytes."""
        spec = _hide(int(self._fast.spec[row])) if self._fast.spec[row] <= _HIDDEN else int(self._fast.spec[row])
        if spec < 0:
            return BundleEntry.decode(self._other_entries[row], self.index_path, name)
        _, shape, size, shard_id = self._fast.specs[spec]
        crc = mask_crc(int(self._fast.crc[row]))
        return BundleEntry(self._fast.spec_enum[spec], shape, shard_id, int(self._fast.offset[row]), size, crc)

    def _entry_bytes(self, row: int, name: str) -> bytes:
        other = self._other_entries.get(row)
        return other if other is not None else self._entry_of_row(row, name).encode()

    def entry(self, name: str) -> BundleEntry:
        if name not in self._row:
            raise NotFoundError(f"{name!r} not found in checkpoint {self.prefix}", name=name)
        return self.entry_by_key(encode_name(name))

    def info(self, name: str) -> tuple[int, tuple[int, ...]]:
        """``(dtype enum, shape)`` of a tensor."""
        entry = self.entry(name)
        return entry.dtype, entry.shape

    # -- data --------------------------------------------------------------------------

    def shard_path(self, shard_id: int) -> str:
        return data_filename(self.prefix, shard_id, self.header.num_shards)

    def _shard_size(self, shard_id: int, name: str) -> int:
        """Length of a data shard: its mapping, or for remote objects their size (a HEAD)."""
        if shard_id in self._maps:
            return len(self._maps[shard_id])
        if shard_id in self._sizes:
            return self._sizes[shard_id]
        if shard_id >= self.header.num_shards:
            raise CorruptionError(
                f"entry names data shard {shard_id} but the bundle has {self.header.num_shards}", path=self.index_path, tensor=name
            )
        path = self.shard_path(shard_id)
        try:
            if not self.store.maps_objects:
                self._sizes[shard_id] = self.store.size(path)
                return self._sizes[shard_id]
            buf = self.store.mapping(path, writable=self._writable)
        except FileNotFoundError:
            raise CorruptionError(f"data shard {self.store.basename(path)} is missing", path=self.store.url(path), tensor=name) from None
        assert buf is not None
        self._maps[shard_id] = buf
        self._views[shard_id] = memoryview(buf)
        return len(buf)

    def read(self, name: str, *, copy: bool = False) -> np.ndarray:
        if self.ahead:
            arr = self.ahead.pop(name, None)
            if arr is not None:
                return arr.copy() if copy else arr
        try:
            row = self._row[name]  # a subscript costs less than .get() and a test
        except KeyError:
            raise NotFoundError(f"{name!r} not found in checkpoint {self.prefix}", name=name) from None
        if row == self._ahead_next:  # the row after the one read before: read ahead
            from ._v2_bulk import read_ahead

            arr = read_ahead(self, row)
            if arr is not None:
                return arr.copy() if copy else arr
        elif not self._ahead_start <= row < self._ahead_end:  # left the run (if any)
            if self.ahead:
                self.ahead.clear()
            self._ahead_next = row + 1
        # Fast path (what makes reading 100,000 small tensors quick): an entry that the
        # index columns marked plain (laid out as TF writes it, of a fixed-width dtype in
        # host byte order, its size matching its shape), whose bytes lie inside the shard
        # and whose checksum matches: three array lookups, a CRC call and the array.
        # Anything else, including every error, takes the general path below, which
        # decodes the entry again, checks everything and raises the detailed errors.
        spec = self._spec_of[row]
        if spec >= 0:
            ready = self._ready[spec] or self._make_ready(spec, name)
            if ready is not None:
                dtype, shape, size, buf, view, end, check = ready
                offset = self._offset_of[row]
                if offset + size <= end and (
                    (check == _CRC_EVERY and self._crc(view[offset : offset + size]) == self._crc_of[row])
                    or check == _CRC_NONE
                    or (check == _CRC_ONCE and self._verify_plain(name, view, offset, size, self._crc_of[row]))
                ):
                    # read-only or copy-on-write as the map is, and 5x cheaper than frombuffer + reshape
                    arr = _ndarray(shape, dtype, buf, offset)
                    return arr.copy() if copy else arr
        elif name in self._hidden:
            raise NotFoundError(f"{name!r} not found in checkpoint {self.prefix}", name=name)
        from ._v2_general import read_entry, read_sliced  # loaded by the first read that gets here

        key = encode_name(name)
        entry = self.entry_by_key(key)
        if entry.slices:
            return read_sliced(self, key, name, entry)
        return read_entry(self, key, name, entry, copy=copy)

    def _make_ready(self, spec: int, name: str) -> _Ready | None:
        """What :meth:`read` needs of a spec: its dtype, shape, size, the shard's mapping,
        what to slice for checksums, the shard's length, and how to check checksums;
        ``None`` where the shard is not mapped (remote objects). The shard's first read
        maps it (or raises its error)."""
        dtype, shape, size, shard_id = self._specs[spec]
        if not self.store.maps_objects:
            return None
        self._shard_size(shard_id, name)
        check = _CRC_NONE if not self.verify else _CRC_EVERY if size < self._remember_verified else _CRC_ONCE
        view = self._views[shard_id]
        buf = self._maps[shard_id]
        # what read() slices for the checksum: small payloads copied out of the mapping as
        # bytes (the C function takes bytes faster than a memoryview), larger ones viewed
        source = buf if size <= _COPY_TO_CHECK_MAX else view
        ready = (dtype, shape, size, buf, source, len(view), check)
        self._ready[spec] = ready
        return ready

    def _verify_plain(self, name: str, view: Buffer, offset: int, size: int, expected: int) -> bool:
        """Whether the payload's CRC32C is ``expected``; remembered for large payloads."""
        remember = size >= self._remember_verified
        key = encode_name(name) if remember else b""
        if remember and key in self._verified:
            return True
        if crc32c(view[offset : offset + size]) != expected:
            return False
        if remember:
            self._verified.add(key)
        return True

    # -- loaded on first use: the bulk path (_v2_bulk) and the general one (_v2_general) --

    def read_batch(self, names: list[str], *, copy: bool = False) -> list[np.ndarray]:
        """``[read(name) for name in names]``, with the fast path's work done column-wise
        (see :func:`._v2_bulk.read_batch`)."""
        from ._v2_bulk import read_batch

        return read_batch(self, names, copy=copy)

    def iter_batches(self, size: int) -> Iterator[tuple[list[str], list[np.ndarray]]]:
        """``(names, arrays)`` for every tensor in key order, ``size`` at a time (see
        :func:`._v2_bulk.iter_batches`)."""
        from ._v2_bulk import iter_batches

        return iter_batches(self, size)

    def unverified(self, name: str) -> tuple[np.ndarray, int] | None:
        """``(array, crc32c)`` before the check, or None (see :func:`._v2_bulk.unverified`)."""
        from ._v2_bulk import unverified

        return unverified(self, name)

    def prefetch(self, names: Iterable[str]) -> None:
        """Fetch the payloads of ``names`` concurrently, when remote (see :func:`._v2_general.prefetch`)."""
        if self.store.maps_objects:
            return
        from ._v2_general import prefetch

        prefetch(self, names)

    def raw_bytes(self, name: str) -> bytes:
        """The stored payload of an unpartitioned tensor, checksum verified when ``verify``."""
        from ._v2_general import raw_bytes

        return raw_bytes(self, name)

    def variant_elements(self, name: str) -> list[bytes]:
        """Each element of a variant tensor, serialized (see :func:`._v2_general.variant_elements`)."""
        from ._v2_general import variant_elements

        return variant_elements(self, name)

    def close(self) -> None:
        self._fetched.clear()
        # Drop the maps rather than closing them: read()'s fast-path arrays are built over
        # the mmap object, which keeps it referenced but holds no buffer export, so
        # mmap.close() would succeed and unmap memory they still point into. Each map is
        # unmapped when its last array goes (at once when there is none).
        self._views.clear()
        self._maps.clear()
        self.ahead.clear()
        self._ahead_next = -1
        self._ready = [None] * len(self._specs)
        self.store.close()
