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
import mmap
from collections.abc import Iterable, Iterator
from typing import Final

import numpy as np

from ..errors import CheckpointError, CorruptionError, NotFoundError, RemoteError, UnsupportedError
from ..storage import Buffer, Store
from ..storage._local import LOCAL
from ._bundle import (
    BIG,
    HEADER_KEY,
    HOST_ENDIANNESS,
    BundleEntry,
    BundleHeader,
    _decode_plain_entry,
    data_filename,
    decode_plain_entries,
    decode_string_tensor,
    index_filename,
    split_variant_tensor,
)
from ._coding import crc32c, crc32c_function, mask_crc, unmask_crc
from ._dtypes import DTYPES, NUMPY_MAX_RANK, STRING, VARIANT, require_numpy_rank
from ._ordered_code import FULL_EXTENT, OrderedCodeError, decode_slice_key, encode_slice_key
from ._table import iter_table

__all__ = ["BundleReader", "decode_name", "encode_name"]

#: Keys are bytes on disk; names are ``str``. Undecodable bytes survive the round trip.
_NAME_ERRORS: Final = "surrogateescape"
#: Payloads this large are checksummed once per reader (remembered by key); smaller ones
#: on every read, which costs less than remembering them (~0.1 us for 1 KiB).
_REMEMBER_VERIFIED: Final = 64 << 10
#: :meth:`BundleReader.read_batch` decodes with arrays from this many names on.
_BATCH_MIN: Final = 64
_I64_LIMIT: Final = (1 << 63) - 1


def decode_name(key: bytes) -> str:
    return key.decode("utf-8", _NAME_ERRORS)


def encode_name(name: str) -> bytes:
    return name.encode("utf-8", _NAME_ERRORS)


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
        raw: dict[bytes, bytes] = {}
        it = iter_table(data, self.index_path)
        first = next(it, None)
        if first is None or first[0] != HEADER_KEY:
            raise CorruptionError("index does not start with the bundle header (empty key)", path=self.index_path)
        self.header = BundleHeader.decode(first[1], self.index_path)
        raw.update(it)
        self._raw = raw
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
        self._foreign = self.header.endianness != HOST_ENDIANNESS
        # dtype enum -> numpy dtype of the types read() serves by its fast path: fixed-width
        # and in host byte order (everything else takes the general path in _read_entry).
        self._plain_dtypes: dict[int, np.dtype] = (
            {} if self._foreign else {enum: info.numpy for enum, info in DTYPES.items() if info.numpy is not None}
        )
        self._hidden = self._hidden_keys()
        self._count = len(raw) - len(self._hidden)

    # -- index -------------------------------------------------------------------------
    # The names are the index's keys, decoded when asked for: nothing per tensor is held
    # beyond the keys and values that iter_table returned (1M tensors: ~130 MiB).

    def __iter__(self) -> Iterator[str]:
        """The tensor names in key (bytewise) order, as the index stores them."""
        hidden = self._hidden
        return (k.decode("utf-8", _NAME_ERRORS) for k in self._raw if not (hidden and k in hidden))

    def __len__(self) -> int:
        return self._count

    def __contains__(self, name: str) -> bool:
        key = name.encode("utf-8", _NAME_ERRORS)
        return key in self._raw and key not in self._hidden

    @property
    def names(self) -> list[str]:
        return list(self)

    def _hidden_keys(self) -> set[bytes]:
        """The slice entries of partitioned variables: keys in the index, not tensors."""
        hidden: set[bytes] = set()
        listed: dict[bytes, set[tuple[tuple[int, ...], tuple[int, ...]]]] = {}  # owner -> its slices, as a set
        for key in self._raw:
            if key[:1] != b"\x00":  # slice keys start with NumIncreasing(0); keys are in
                break  # increasing order (iter_table checks), so they all come first
            try:
                owner, starts, lengths = decode_slice_key(key)
            except OrderedCodeError:
                continue
            if owner not in self._raw:
                continue
            slices = listed.get(owner)
            if slices is None:
                slices = listed[owner] = set(self.entry_by_key(owner).slices)
            if (starts, lengths) in slices:
                hidden.add(key)
        return hidden

    def entry_by_key(self, key: bytes) -> BundleEntry:
        entry = self._entries.get(key)
        if entry is None:
            entry = BundleEntry.decode(self._raw[key], self.index_path, decode_name(key))
            self._entries[key] = entry
        return entry

    def entry(self, name: str) -> BundleEntry:
        key = encode_name(name)
        if key not in self._raw or key == HEADER_KEY:
            raise NotFoundError(f"{name!r} not found in checkpoint {self.prefix}", name=name)
        return self.entry_by_key(key)

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
        key = name.encode("utf-8", _NAME_ERRORS)
        raw = self._raw.get(key)
        if raw is None or (key[:1] == b"\x00" and key in self._hidden):
            raise NotFoundError(f"{name!r} not found in checkpoint {self.prefix}", name=name)
        # Fast path (what makes reading 100,000 small tensors quick): an entry laid out as
        # TF writes it, hand-decoded without building a BundleEntry, of a fixed-width dtype
        # in host byte order, whose size and bounds check out and whose checksum matches.
        # Nothing is cached per entry: decoding again costs less than the memory would.
        # Anything else, including every error, takes the general path below, which
        # checks everything again and raises the detailed errors.
        plain = _decode_plain_entry(raw) if self._plain_dtypes else None
        if plain is not None:
            enum, shape, shard_id, offset, size, stored_crc = plain
            dtype = self._plain_dtypes.get(enum)
            view = self._views.get(shard_id)
            if view is None and self.store.maps_objects:  # the shard's first read maps it (or raises its error)
                self._shard_size(shard_id, name)
                view = self._views.get(shard_id)
            if (
                dtype is not None
                and view is not None
                and len(shape) <= NUMPY_MAX_RANK
                and size
                and offset + size <= len(view)
                and size == math.prod(shape) * dtype.itemsize
                and (
                    not self.verify
                    or (size < self._remember_verified and self._crc(view[offset : offset + size]) == unmask_crc(stored_crc))
                    or (size >= self._remember_verified and self._verify_plain(key, view, offset, size, stored_crc))
                )
            ):
                # read-only or copy-on-write as the map is, and 5x cheaper than frombuffer + reshape
                arr = np.ndarray(shape, dtype, self._maps[shard_id], offset)
                return arr.copy() if copy else arr
        entry = self.entry_by_key(key)
        if entry.slices:
            return self._read_sliced(key, name, entry)
        return self._read_entry(key, name, entry, copy=copy)

    def read_batch(self, names: list[str], *, copy: bool = False) -> list[np.ndarray]:
        """``[read(name) for name in names]``, with the entries decoded together.

        The bulk path of :meth:`Checkpoint.items` and ``read_many``: the plain entries
        (as :meth:`read`'s fast path takes them) are decoded with array operations
        (:func:`._bundle.decode_plain_entries`) and checked column-wise; what remains per
        tensor is its checksum and its array. Every other entry, and every error, goes
        through :meth:`read`, so results and errors are the same.
        """
        raw = self._raw
        keys = [name.encode("utf-8", _NAME_ERRORS) for name in names]
        values = [raw.get(key, b"") for key in keys]  # b"" is never plain: read() reports it
        if not self._plain_dtypes or not self.store.maps_objects or len(names) < _BATCH_MIN:
            return [self.read(name, copy=copy) for name in names]
        batch = decode_plain_entries(values)
        kinds = [(self._plain_dtypes.get(enum), shape) for enum, shape in batch.kinds]
        # each kind's payload size (-1: not a fast-path dtype), exact however large the shape
        expected = np.array(
            [-1 if dtype is None or len(shape) > NUMPY_MAX_RANK else min(math.prod(shape) * dtype.itemsize, _I64_LIMIT)
             for dtype, shape in kinds],
            np.int64,
        )
        shard_lengths = np.zeros(self.header.num_shards, np.int64)
        in_range = batch.shard_id < self.header.num_shards
        for shard_id in np.flatnonzero(np.bincount(batch.shard_id[batch.plain & in_range])).tolist():  # the shards used
            try:
                shard_lengths[shard_id] = self._shard_size(shard_id, "")
            except (CheckpointError, OSError):
                pass  # a missing or unreadable shard: its tensors take read(), which says so
        fast = (
            batch.plain
            & in_range
            & (batch.size > 0)
            & (batch.size == expected[batch.kind])
            & (batch.offset + batch.size <= shard_lengths[np.where(in_range, batch.shard_id, 0)])
        )
        stored: np.ndarray = unmask_crc(batch.crc32c.astype(np.int64))  # type: ignore[arg-type, assignment]  # works column-wise
        verify = self.verify
        remember = self._remember_verified
        crc_of = self._crc
        maps, views = self._maps, self._views
        out: list[np.ndarray] = []
        for name, key, use, kind, shard_id, offset, size, expected_crc in zip(
            names, keys, fast.tolist(), batch.kind.tolist(), batch.shard_id.tolist(), batch.offset.tolist(),
            batch.size.tolist(), stored.tolist(),
        ):
            if use:
                if verify and (
                    (size < remember and crc_of(views[shard_id][offset : offset + size]) != expected_crc)
                    or (size >= remember and not self._verify_plain(key, views[shard_id], offset, size, mask_crc(expected_crc)))
                ):
                    out.append(self.read(name, copy=copy))  # raises the checksum error
                    continue
                dtype, shape = kinds[kind]
                arr = np.ndarray(shape, dtype, maps[shard_id], offset)
                out.append(arr.copy() if copy else arr)
            else:
                out.append(self.read(name, copy=copy))
        return out

    def _verify_plain(self, key: bytes, view: memoryview, offset: int, size: int, stored_crc: int) -> bool:
        if size < self._remember_verified:
            return crc32c(view[offset : offset + size]) == unmask_crc(stored_crc)
        if key in self._verified:
            return True
        if crc32c(view[offset : offset + size]) != unmask_crc(stored_crc):
            return False
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
        elif entry.dtype == VARIANT:
            if not self._foreign:
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
        key = encode_name(name)
        raw = self._raw.get(key)
        plain = _decode_plain_entry(raw) if raw is not None and self.verify and self._plain_dtypes and self.store.maps_objects else None
        if plain is None or key in self._hidden:
            return None
        enum, shape, shard_id, offset, size, stored_crc = plain
        dtype = self._plain_dtypes.get(enum)
        try:
            length = self._shard_size(shard_id, name)  # maps the shard on its first read
        except (CheckpointError, OSError):
            return None  # read() says what is wrong
        if (
            dtype is None
            or len(shape) > NUMPY_MAX_RANK
            or not size
            or offset + size > length
            or size != math.prod(shape) * dtype.itemsize
        ):
            return None
        return np.ndarray(shape, dtype, self._maps[shard_id], offset), unmask_crc(stored_crc)

    def close(self) -> None:
        self._fetched.clear()
        # Drop the maps rather than closing them: read()'s fast-path arrays are built over
        # the mmap object, which keeps it referenced but holds no buffer export, so
        # mmap.close() would succeed and unmap memory they still point into. Each map is
        # unmapped when its last array goes (at once when there is none).
        self._views.clear()
        self._maps.clear()
        self.store.close()


def _describe(starts: tuple[int, ...], lengths: tuple[int, ...]) -> str:
    return "[" + ", ".join(f"{s}:{s + n}" for s, n in zip(starts, lengths)) + "]"
