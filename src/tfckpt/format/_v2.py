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
"""

from __future__ import annotations

import itertools
import math
import sys
from collections.abc import Iterable, Iterator, Mapping
from typing import Final, TypeAlias

import numpy as np

from .._record import Record
from ..errors import CheckpointError, CorruptionError, NotFoundError, RemoteError, UnsupportedError
from ..storage import Buffer, Store
from ..storage._local import LOCAL
from ._bundle import (
    BIG,
    HOST_ENDIANNESS,
    BundleEntry,
    BundleHeader,
    data_filename,
    decode_plain_rows,
    decode_string_tensor,
    index_filename,
    split_variant_tensor,
)
from ._coding import crc32c, crc32c_function, mask_crc, unmask_crc
from ._dtypes import DTYPES, NUMPY_MAX_RANK, STRING, VARIANT, require_numpy_rank
from ._index import IndexColumns, read_index_columns
from ._rows import crc32c_rows, windows

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

#: :meth:`BundleReader.read_batch` works with arrays from this many names on.
_BATCH_MIN: Final = 64
#: Index rows decoded together at open (see :class:`_FastColumns`).
_DECODE_ROWS: Final = 65536
#: :meth:`_FastColumns.build` numbers the (dtype and shape, shard) pairs of a batch with a
#: lookup table of this many slots at most (else with a sort).
_COMBO_TABLE_MAX: Final = 1 << 16
#: Entries longer than this are never plain (a plain entry of rank 8 takes ~80 bytes).
_PLAIN_MAX_BYTES: Final = 160
#: Payloads up to this size are checksummed by :func:`._rows.crc32c_rows` in bulk.
_CRC_ROWS_MAX: Final = 64
#: Read-ahead (see :meth:`BundleReader._read_ahead`): the rows of the first run, the most
#: rows and payload bytes of any run (each run doubles the one before, in index order).
_AHEAD_FIRST_ROWS: Final = 1024
_AHEAD_MAX_ROWS: Final = 4096
_AHEAD_MAX_BYTES: Final = 1 << 20
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


class _RawEntries(Mapping[bytes, bytes]):
    """The index's entries as ``{key: serialized BundleEntryProto}``, header excluded: a
    view over the reader's columns (the CLI's checks and ``debug_string`` walk it). The
    entries the fast columns describe come back in their canonical encoding."""

    def __init__(self, reader: BundleReader) -> None:
        self._reader = reader

    def __getitem__(self, key: bytes) -> bytes:
        row = self._reader._row.get(decode_name(key)) if isinstance(key, bytes) else None
        if row is None:
            raise KeyError(key)
        return self._reader._entry_bytes(row, decode_name(key))

    def __iter__(self) -> Iterator[bytes]:
        return (encode_name(name) for name in self._reader._row)

    def __len__(self) -> int:
        return len(self._reader._row)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, bytes) and decode_name(key) in self._reader._row


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
        self._raw = _RawEntries(self)
        self._entries: dict[bytes, BundleEntry] = {}
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
        # Read-ahead (see _read_ahead): name -> array of the rows read ahead, popped as
        # they are read; the rows [_ahead_start, _ahead_end) they came from; the row whose
        # read starts the next run. Never more than one run (_AHEAD_MAX_ROWS arrays).
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

    def _check_bounds(self, entry: BundleEntry, name: str) -> str:
        """The shard's path, once the entry's bytes are known to lie inside it."""
        size = self._shard_size(entry.shard_id, name)
        path = self.shard_path(entry.shard_id)
        if entry.offset + entry.size > size:
            raise CorruptionError(
                f"tensor bytes [{entry.offset}, {entry.offset + entry.size}) run past the end of the shard ({size} bytes)",
                path=self.store.url(path), offset=entry.offset, tensor=name,
            )
        return path

    def _payload(self, entry: BundleEntry, name: str) -> tuple[memoryview | bytes, str]:
        """The entry's stored bytes ``[offset, offset + size)`` and the shard's path.

        A zero-copy slice of the shard's mapping, or (remote) the fetched bytes. Remote
        bounds are checked only when the fetch fails or comes back short, which saves a
        request per shard on the way to the first tensor.
        """
        if self.store.maps_objects:
            path = self._check_bounds(entry, name)
            return self._views[entry.shard_id][entry.offset : entry.offset + entry.size], path
        if entry.shard_id >= self.header.num_shards:
            self._shard_size(entry.shard_id, name)  # raises the error naming the shard count
        path = self.shard_path(entry.shard_id)
        data = self._fetched.pop((entry.shard_id, entry.offset, entry.size), None)
        if data is None:
            try:
                (data,) = self.store.get_ranges([(path, entry.offset, entry.offset + entry.size)])
            except Exception:
                self._check_bounds(entry, name)  # a missing shard or a range past its end: say so
                raise
        if len(data) != entry.size:
            self._check_bounds(entry, name)
            raise CorruptionError(
                f"expected {entry.size} bytes at [{entry.offset}, {entry.offset + entry.size}), got {len(data)}",
                path=self.store.url(path), offset=entry.offset, tensor=name,
            )
        return (memoryview(bytearray(data)) if self._writable else data), path

    def prefetch(self, names: Iterable[str]) -> None:
        """Fetch the payloads of ``names`` (slices of partitioned ones too) concurrently.

        For stores that are not mapped (remote objects); each payload is kept until its
        tensor is read. Entries that are damaged are left for the read to report.
        """
        if self.store.maps_objects:
            return
        wanted: dict[tuple[int, int, int], str] = {}
        for name in names:
            try:
                entry = self.entry(name)
                subs = [entry]
                if entry.slices:
                    from ._ordered_code import encode_slice_key

                    key = encode_name(name)
                    subs = [self.entry_by_key(k) for k in (encode_slice_key(key, s, n) for s, n in entry.slices) if k in self._raw]
                for sub in subs:
                    if sub.size and sub.dtype in DTYPES and sub.shard_id < self.header.num_shards:
                        wanted[(sub.shard_id, sub.offset, sub.size)] = self.shard_path(sub.shard_id)
            except CheckpointError:
                continue
        todo = [k for k in wanted if k not in self._fetched]
        try:
            fetched = self.store.get_ranges([(wanted[k], k[1], k[1] + k[2]) for k in todo])
        except RemoteError:  # the server failed after the store's retries: per-tensor reads would only repeat them
            raise
        except Exception:  # noqa: BLE001 - each read then fetches alone and reports its own error
            return
        self._fetched.update(zip(todo, fetched))

    def _check_crc(self, key: bytes, entry: BundleEntry, payload: memoryview | bytes, path: str, name: str) -> None:
        # Mapped bytes are checked once; fetched bytes are new every time.
        if not self.verify or (key in self._verified and self.store.maps_objects):
            return
        computed = crc32c(payload)
        stored = unmask_crc(entry.crc32c)
        if computed != stored:
            raise CorruptionError(
                f"checksum mismatch (stored {stored:#010x}, computed {computed:#010x})",
                path=self.store.url(path), offset=entry.offset, tensor=name,
            )
        if entry.size >= self._remember_verified:
            self._verified.add(key)

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
            arr = self._read_ahead(row)
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
        key = encode_name(name)
        entry = self.entry_by_key(key)
        if entry.slices:
            return self._read_sliced(key, name, entry)
        return self._read_entry(key, name, entry, copy=copy)

    def _read_ahead(self, row: int) -> np.ndarray | None:
        """Start a run at ``row``, the second of two reads in index order: the arrays of the
        rows from ``row`` on are made at once, as :meth:`read_batch` makes them (bounds and
        small checksums checked as arrays, a run of one spec as one array's rows), and kept
        in :attr:`ahead` by name, each until its read pops it; ``row``'s own is returned
        (``None``: it takes :meth:`read`'s own path, as does every row the batch did not
        take, such as strings, damaged entries and checksum mismatches, which then raise
        there). A run holds 1024 rows, then each run twice the one before, up to 4096 rows
        and 1 MiB of payloads (verified, a payload of 64 KiB or more is never read ahead: its
        check is remembered by name). A row no run would take, or over half a run's bytes,
        is read alone and starts no run.

        :class:`tfckpt.Checkpoint` pops :attr:`ahead` itself before it calls :meth:`read`,
        so a read served from the run is one dict operation.
        """
        self.ahead.clear()
        count = len(self._names)
        if not self._ahead_on or row >= count:
            self._ahead_start, self._ahead_end, self._ahead_next = 0, count, -1  # never again
            return None
        own_spec = self._spec_of[row]
        own_size = self._specs[own_spec][2] if own_spec >= 0 else 0
        if own_spec < 0 or 2 * own_size > _AHEAD_MAX_BYTES or (self.verify and own_size >= self._remember_verified):
            # a row no run takes, or whose payload leaves no room for another: read alone
            # (a run may start at the next row)
            self._ahead_start = self._ahead_end = 0
            self._ahead_next = row + 1
            return None
        rows_wanted = min(2 * self._ahead_rows, _AHEAD_MAX_ROWS) if row == self._ahead_end else _AHEAD_FIRST_ROWS
        end = min(row + rows_wanted, count)
        if self._largest_spec * (end - row) > _AHEAD_MAX_BYTES:  # then fewer rows
            spec = self._fast.spec[row:end]
            size = np.where(spec >= 0, self._fast.spec_size[np.maximum(spec, 0)], 0)
            end = row + max(1, int(np.searchsorted(np.cumsum(size), _AHEAD_MAX_BYTES, "right")))
        self._ahead_start, self._ahead_end, self._ahead_next, self._ahead_rows = row, end, end, end - row
        names = self._names[row:end]
        self.ahead.update(zip(names, self._fast_rows(None, slice(row, end), copy=False)[0]))
        return self.ahead.pop(names[0], None)

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

    def read_batch(self, names: list[str], *, copy: bool = False) -> list[np.ndarray]:
        """``[read(name) for name in names]``, with the fast path's work done column-wise.

        The bulk path of :meth:`Checkpoint.items` and ``read_many``: for the rows that
        :meth:`read` would serve by its fast path, the bounds and the checksums of small
        payloads are checked with array operations (:func:`._rows.crc32c_rows`), and a run
        of tensors of one dtype and shape stored back to back becomes one array whose rows
        are the results (views of the same bytes, as :meth:`read` returns them). Every
        other row, and every error, goes through :meth:`read`, so results and errors are
        the same.
        """
        return self._read_rows(names, None, copy=copy)

    def iter_batches(self, size: int) -> Iterator[tuple[list[str], list[np.ndarray]]]:
        """``(names, arrays)`` for every tensor in key order, ``size`` at a time: the bulk
        path of :meth:`Checkpoint.items`. The rows are taken in index order, so no name is
        looked up (unless partitioned variables hide some rows)."""
        names = iter(self)
        row = 1  # after the header
        while batch := list(itertools.islice(names, size)):
            self.prefetch(batch)
            rows = None if self._hidden else slice(row, row + len(batch))
            row += len(batch)
            yield batch, self._read_rows(batch, rows)

    def _read_rows(self, names: list[str], rows: np.ndarray | slice | None, *, copy: bool = False) -> list[np.ndarray]:
        """:meth:`read_batch` of ``names``, which are at ``rows`` of the index if given."""
        n = len(names)
        if not self.store.maps_objects or n < _BATCH_MIN or self._remember_verified == 0 or not self._specs:
            return [self.read(name, copy=copy) for name in names]
        if rows is None:
            rows = np.fromiter(map(self._row.get, names, itertools.repeat(0)), np.int64, n)  # 0: the header, never fast
        out, taken = self._fast_rows(names, rows, copy=copy)
        for j in np.flatnonzero(~taken).tolist():
            self._ahead_next = -1  # a batch's own reads start no read-ahead
            out[j] = self.read(names[j], copy=copy)
        return out  # type: ignore[return-value]  # every None was replaced

    def _fast_rows(
        self, names: list[str] | None, rows: np.ndarray | slice, *, copy: bool
    ) -> tuple[list[np.ndarray | None], np.ndarray]:
        """The arrays of the index ``rows`` (positions, or a slice of them) that :meth:`read`'s fast path would serve,
        made column-wise; ``None`` for the others (and, without ``names``, for payloads
        whose checksum would be remembered by name). Also which rows were taken."""
        fast = self._fast
        spec = fast.spec[rows].astype(np.int64)
        n = len(spec)
        ok = spec >= 0
        spec[~ok] = 0  # any spec: the row's other columns are masked out below
        offset = fast.offset[rows]
        size = np.where(ok, fast.spec_size[spec], 0)
        # the shards the batch reads, mapped now (a missing one leaves its rows to read())
        if self.header.num_shards == 1:
            ok &= offset + size <= self._mapped_length(0)
        else:
            used, which = np.unique(np.where(ok, fast.spec_shard[spec], -1), return_inverse=True)
            shard_end = np.array([self._mapped_length(int(shard)) for shard in used], np.int64)
            ok &= offset + size <= shard_end[which.reshape(-1)]
        if self.verify:
            ok &= self._checksums_match(names, rows, ok, spec, offset, size)
        out: list[np.ndarray | None] = [None] * n
        # runs: rows of one spec whose payloads follow each other in the shard
        follows = np.zeros(n, bool)
        follows[1:] = ok[1:] & ok[:-1] & (spec[1:] == spec[:-1]) & (offset[1:] == offset[:-1] + size[:-1])
        bounds = np.flatnonzero(~follows)  # where each run (or row that is not ok) starts
        run = ok[bounds]
        starts, lengths = bounds[run], np.diff(np.append(bounds, n))[run]
        maps, specs = self._maps, self._specs
        for start, length in zip(starts.tolist(), lengths.tolist()):
            dtype, shape, item_size, shard_id = specs[int(spec[start])]
            first = int(offset[start])
            if length == 1 or not shape or copy:
                for j in range(start, start + length):
                    arr = np.ndarray(shape, dtype, maps[shard_id], first + (j - start) * item_size)
                    out[j] = arr.copy() if copy else arr
            else:
                out[start : start + length] = list(np.ndarray((length, *shape), dtype, maps[shard_id], first))
        return out, ok

    def _mapped_length(self, shard_id: int) -> int:
        """The length of a mapped shard, or -1 (no shard, or one that cannot be mapped)."""
        if shard_id < 0:
            return -1
        try:
            return self._shard_size(shard_id, "")
        except (CheckpointError, OSError):
            return -1  # its tensors take read(), which says so

    def _checksums_match(
        self, names: list[str] | None, rows: np.ndarray | slice, ok: np.ndarray, spec: np.ndarray, offset: np.ndarray, size: np.ndarray
    ) -> np.ndarray:
        """Whether each ``ok`` row's payload matches its checksum (rows not ``ok``: True).

        Small payloads of one size and shard are checked together by
        :func:`._rows.crc32c_rows`; larger ones by one call of the C function each (False,
        unchecked, for those remembered by name when there are no ``names``)."""
        match = np.ones(len(spec), bool)
        expected = self._fast.crc[rows]
        shard = self._fast.spec_shard[spec]
        small = ok & (size <= _CRC_ROWS_MAX)
        groups = np.where(small, size * (int(shard.max(initial=0)) + 1) + shard, -1)
        keys = groups[small]
        # one size in one shard (the usual batch) needs no unique()
        for group_key in (keys[:1] if keys.size and keys.min() == keys.max() else np.unique(keys)).tolist():
            group = np.flatnonzero(groups == group_key)
            each_size, shard_id = int(size[group[0]]), int(shard[group[0]])
            data = np.frombuffer(self._maps[shard_id], np.uint8)
            starts = offset[group]
            first = int(starts[0])
            if (np.diff(starts) == each_size).all():  # stored back to back: the bytes as they lie
                matrix = data[first : first + len(group) * each_size].reshape(len(group), each_size)
            else:
                matrix = data[starts[:, None] + np.arange(each_size)]
            match[group] = crc32c_rows(matrix) == expected[group]
        crc, views = self._crc, self._views
        large = np.flatnonzero(ok & ~small)
        for j, shard_id, first, length, want in zip(
            large.tolist(), shard[large].tolist(), offset[large].tolist(), size[large].tolist(), expected[large].tolist()
        ):
            view = views[shard_id]
            if length < self._remember_verified:
                match[j] = crc(view[first : first + length]) == want
            else:
                match[j] = names is not None and self._verify_plain(names[j], view, first, length, want)
        return match

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

    def _read_entry(self, key: bytes, name: str, entry: BundleEntry, *, copy: bool) -> np.ndarray:
        info = DTYPES[entry.dtype]
        entry.check_size(self.index_path, name)
        if entry.dtype != VARIANT:
            require_numpy_rank(entry.shape, name)
        if entry.dtype == VARIANT:
            raise UnsupportedError(
                f"{name!r} is a variant tensor ({list(entry.shape)}); it has no numpy form. "
                "Use Checkpoint.variant_elements() or raw_bytes() for its serialized bytes."
            )
        payload, path = self._payload(entry, name)
        if entry.dtype == STRING:
            flat = decode_string_tensor(
                payload, entry.num_elements,
                big_endian=self.header.endianness == BIG, verify=self.verify, expected_crc=unmask_crc(entry.crc32c),
                path=self.store.url(path), name=name, base=entry.offset,
            )
            return flat.reshape(entry.shape)
        dtype = info.numpy
        if dtype is None:
            raise UnsupportedError(f"{name!r} has dtype {info.name}, which cannot be stored in a checkpoint")
        self._check_crc(key, entry, payload, path, name)
        if self._foreign and info.swap is None:  # TF: Unimplemented, even for 1-byte float8/int4
            raise UnsupportedError(f"{name!r}: {info.name} data written on a machine of the other byte order cannot be swapped")
        if entry.size == 0:
            return np.zeros(entry.shape, dtype=dtype)
        if self._foreign and dtype.itemsize > 1:
            # complex numbers swap per component, which numpy's byte order handles too
            arr = np.frombuffer(payload, dtype=dtype.newbyteorder(), count=entry.num_elements)
            return arr.astype(dtype).reshape(entry.shape)
        arr = np.frombuffer(payload, dtype=dtype, count=entry.num_elements).reshape(entry.shape)
        return arr.copy() if copy else arr

    def _read_sliced(self, key: bytes, name: str, entry: BundleEntry) -> np.ndarray:
        """Reassemble a partitioned variable from its slice entries (TF's ``GetSliceValue``).

        Linear in the slices and the elements: each slice is checked on its own (entry
        present, dtype and shape, size, data inside its shard); no two slices may share
        payload bytes (sorted by position), so the slices' data accounts for distinct bytes
        of the files; only once those cover every element of the full shape are the output
        and a coverage mask allocated, and the mask finds any overlap as the slices are copied.
        """
        from ._ordered_code import FULL_EXTENT, encode_slice_key  # loaded by the first partitioned read

        info = DTYPES[entry.dtype]
        entry.check_shape(self.index_path, name)
        require_numpy_rank(entry.shape, name)
        boxes: list[tuple[tuple[int, ...], tuple[int, ...]]] = []
        parts: list[tuple[bytes, BundleEntry]] = []
        covered = 0
        for starts, lengths in entry.slices:
            real = tuple(dim if n == FULL_EXTENT else n for dim, n in zip(entry.shape, lengths))
            slice_key = encode_slice_key(key, starts, lengths)
            if slice_key not in self._raw:
                raise CorruptionError(
                    f"slice {_describe(starts, real)} is listed but its entry is missing", path=self.index_path, tensor=name
                )
            sub = self.entry_by_key(slice_key)
            if sub.dtype != entry.dtype or sub.shape != real:
                raise CorruptionError(
                    f"slice {_describe(starts, real)} is stored as {DTYPES.get(sub.dtype, info).name}{list(sub.shape)}, "
                    f"expected {info.name}{list(real)}",
                    path=self.index_path, tensor=name,
                )
            sub.check_size(self.index_path, name)
            self._check_bounds(sub, name)
            boxes.append((starts, real))
            parts.append((slice_key, sub))
            covered += sub.num_elements
        if covered != entry.num_elements:
            raise CorruptionError(
                f"slices cover {covered} of {entry.num_elements} elements (TF: 'Does not have sufficient slices')",
                path=self.index_path, tensor=name,
            )
        spans = sorted((sub.shard_id, sub.offset, sub.offset + sub.size, i) for i, (_, sub) in enumerate(parts) if sub.size)
        for (shard, _, end, i), (next_shard, next_start, _, j) in itertools.pairwise(spans):
            if shard == next_shard and next_start < end:
                raise CorruptionError(
                    f"slices {_describe(*boxes[i])} and {_describe(*boxes[j])} are stored in the same bytes of shard {shard}",
                    path=self.index_path, tensor=name,
                )
        out = np.empty(entry.shape, dtype=info.numpy if info.numpy is not None else object)
        filled = np.zeros(entry.shape, dtype=np.bool_)
        for k, ((starts, real), (slice_key, sub)) in enumerate(zip(boxes, parts)):
            region = tuple(slice(s, s + n) for s, n in zip(starts, real))
            if filled[region].any():
                other = next(b for b in boxes[:k] if all(s < os_ + on and os_ < s + n for s, n, os_, on in zip(starts, real, *b)))
                raise CorruptionError(
                    f"slices {_describe(starts, real)} and {_describe(*other)} overlap", path=self.index_path, tensor=name
                )
            filled[region] = True
            out[region] = self._read_entry(slice_key, name, sub, copy=False)
        out.flags.writeable = True
        return out

    def raw_bytes(self, name: str) -> bytes:
        """The stored payload of an unpartitioned tensor, checksum verified when ``verify``."""
        key = encode_name(name)
        entry = self.entry(name)
        if entry.slices:
            raise UnsupportedError(f"{name!r} is partitioned into {len(entry.slices)} slices; it has no single payload")
        entry.check_size(self.index_path, name)
        if entry.dtype == STRING:
            self._read_entry(key, name, entry, copy=False)  # checks the length and entry checksums
        elif entry.dtype == VARIANT and not self._foreign:
            self.variant_elements(name)  # checks every element's running checksum
        payload, path = self._payload(entry, name)
        if entry.dtype not in (STRING, VARIANT):
            self._check_crc(key, entry, payload, path, name)
        return bytes(payload)

    def variant_elements(self, name: str) -> list[bytes]:
        entry = self.entry(name)
        if entry.dtype != VARIANT:
            raise UnsupportedError(f"{name!r} is {DTYPES[entry.dtype].name}, not variant")
        if self._foreign:
            raise UnsupportedError(f"{name!r}: variant data from a machine of the other byte order cannot be read (as in TF)")
        entry.check_size(self.index_path, name)
        payload, path = self._payload(entry, name)
        return split_variant_tensor(
            payload, entry.num_elements, verify=self.verify,
            expected_crc=unmask_crc(entry.crc32c), path=self.store.url(path), name=name, base=entry.offset,
        )

    def unverified(self, name: str) -> tuple[np.ndarray, int] | None:
        """``(array, crc32c)``: the tensor as :meth:`read`'s fast path maps it, *before* its
        checksum is checked, and the CRC32C (unmasked) its bytes must have; None when
        :meth:`read` would take another path (not mapped, sliced, another byte order, a
        dtype without a fixed width, a damaged entry) or when checksums are not verified.

        For a caller that checksums the bytes while it uses them, in the same pass over
        memory (:mod:`tfckpt.tools.average`); on a mismatch it calls :meth:`read`, which
        raises the error. Arrays whose checksum did not match must not be used.
        """
        row = self._row.get(name)
        spec = self._spec_of[row] if row is not None and self.verify else -1
        if spec < 0:  # not a fast-path row (hidden slices included), or nothing to check against
            return None
        try:
            ready = self._ready[spec] or self._make_ready(spec, name)  # maps the shard on its first read
        except (CheckpointError, OSError):
            return None  # read() says what is wrong
        if ready is None:
            return None
        dtype, shape, size, buf, _, end, _ = ready
        offset = self._offset_of[row]  # type: ignore[index]  # row is not None when spec >= 0
        if offset + size > end:
            return None
        return np.ndarray(shape, dtype, buf, offset), self._crc_of[row]  # type: ignore[index]

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


def _describe(starts: tuple[int, ...], lengths: tuple[int, ...]) -> str:
    return "[" + ", ".join(f"{s}:{s + n}" for s, n in zip(starts, lengths)) + "]"
