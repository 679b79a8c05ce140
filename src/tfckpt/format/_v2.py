"""Reading V2 tensor bundles: the index, memory-mapped data shards, tensors as numpy arrays.

This is the layer between the byte formats (:mod:`._table`, :mod:`._bundle`) and the
public :class:`tfckpt.Checkpoint`. It loads the whole index at open (every block checksum
verified, every key kept as raw bytes) and parses an entry only when it is asked about.
Data shards are memory-mapped on first use. Fixed-width tensors come out as zero-copy views
of the mapping when the bundle's byte order is the host's: read-only by default, writable
with ``writable=True``, which maps the shards copy-on-write (``MAP_PRIVATE``, as
``numpy.load(mmap_mode="c")``): a page is copied into the process when first written, and
the file never changes.
"""

from __future__ import annotations

import itertools
import math
import mmap
import os
from collections.abc import Iterator
from typing import Final

import numpy as np

from ..errors import CorruptionError, NotFoundError, UnsupportedError
from ..storage._inputs import map_regular, read_regular
from ._bundle import (
    BIG,
    HEADER_KEY,
    HOST_ENDIANNESS,
    BundleEntry,
    BundleHeader,
    _decode_plain_entry,
    decode_plain_entries,
    data_filename,
    decode_string_tensor,
    index_filename,
    split_variant_tensor,
)
from ._coding import CRC_MASK_DELTA, crc32c, crc32c_function, mask_crc, unmask_crc
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

    def __init__(self, prefix: str, *, verify: bool = True, writable: bool = False) -> None:
        self.prefix = prefix
        self._access = mmap.ACCESS_COPY if writable else mmap.ACCESS_READ
        self.index_path = index_filename(prefix)
        self.verify = verify
        data = read_regular(self.index_path, "a checkpoint index")
        raw: dict[bytes, bytes] = {}
        it = iter_table(data, self.index_path)
        first = next(it, None)
        if first is None or first[0] != HEADER_KEY:
            raise CorruptionError("index does not start with the bundle header (empty key)", path=self.index_path)
        self.header = BundleHeader.decode(first[1], self.index_path)
        raw.update(it)
        self._raw = raw
        self._entries: dict[bytes, BundleEntry] = {}
        self._maps: dict[int, mmap.mmap | bytes] = {}
        self._views: dict[int, memoryview] = {}  # of _maps, for slicing without copies
        # Keys whose payload checksum matched, remembered only where checking again would
        # cost more than remembering (payloads of _REMEMBER_VERIFIED bytes and up) or would
        # be wrong (copy-on-write arrays written in place): no per-tensor memory otherwise.
        self._verified: set[bytes] = set()
        self._remember_verified = 0 if writable else _REMEMBER_VERIFIED
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

    def _shard(self, shard_id: int, name: str) -> mmap.mmap | bytes:
        buf = self._maps.get(shard_id)
        if buf is not None:
            return buf
        if shard_id >= self.header.num_shards:
            raise CorruptionError(
                f"entry names data shard {shard_id} but the bundle has {self.header.num_shards}", path=self.index_path, tensor=name
            )
        path = self.shard_path(shard_id)
        try:
            buf = map_regular(path, "a data shard", access=self._access)
        except FileNotFoundError:
            raise CorruptionError(f"data shard {os.path.basename(path)} is missing", path=path, tensor=name) from None
        if isinstance(buf, mmap.mmap) and hasattr(mmap, "MADV_SEQUENTIAL"):
            buf.madvise(mmap.MADV_SEQUENTIAL)
        self._maps[shard_id] = buf
        self._views[shard_id] = memoryview(buf)
        return buf

    def _payload(self, entry: BundleEntry, name: str) -> tuple[mmap.mmap | bytes, str]:
        buf = self._shard(entry.shard_id, name)
        path = self.shard_path(entry.shard_id)
        if entry.offset + entry.size > len(buf):
            raise CorruptionError(
                f"tensor bytes [{entry.offset}, {entry.offset + entry.size}) run past the end of the shard ({len(buf)} bytes)",
                path=path, offset=entry.offset, tensor=name,
            )
        return buf, path

    def _check_crc(self, key: bytes, entry: BundleEntry, buf: mmap.mmap | bytes, path: str, name: str) -> None:
        if not self.verify or key in self._verified:
            return
        with memoryview(buf) as view:
            computed = crc32c(view[entry.offset : entry.offset + entry.size])
        stored = unmask_crc(entry.crc32c)
        if computed != stored:
            raise CorruptionError(
                f"checksum mismatch (stored {stored:#010x}, computed {computed:#010x})", path=path, offset=entry.offset, tensor=name
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
            if view is None:  # the shard's first read maps it (or raises its error)
                self._shard(shard_id, name)
                view = self._views[shard_id]
            if (
                dtype is not None
                and len(shape) <= NUMPY_MAX_RANK
                and size
                and offset + size <= len(view)
                and size == math.prod(shape) * dtype.itemsize
                and (not self.verify or self._verify_plain(key, view, offset, size, stored_crc))
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
        if not self._plain_dtypes or len(names) < _BATCH_MIN:
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
        for shard_id in np.unique(batch.shard_id[batch.plain]).tolist():
            if shard_id < self.header.num_shards:
                try:
                    shard_lengths[shard_id] = len(self._views[shard_id] if shard_id in self._views else self._shard(shard_id, ""))
                except CorruptionError:
                    pass  # a missing shard: its tensors take read(), which names them
        in_range = batch.shard_id < self.header.num_shards
        fast = (
            batch.plain
            & in_range
            & (batch.size > 0)
            & (batch.size == expected[batch.kind])
            & (batch.offset + batch.size <= shard_lengths[np.where(in_range, batch.shard_id, 0)])
        )
        crc = batch.crc32c.astype(np.int64)
        rot = (crc - CRC_MASK_DELTA) & 0xFFFFFFFF
        stored = ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF  # unmask_crc, column-wise
        verify = self.verify
        remember = self._remember_verified
        crc_of = crc32c_function()
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
        buf, path = self._payload(entry, name)
        if entry.dtype == STRING:
            with memoryview(buf) as view:
                flat = decode_string_tensor(
                    view[entry.offset : entry.offset + entry.size], entry.num_elements,
                    big_endian=self.header.endianness == BIG, verify=self.verify, expected_crc=unmask_crc(entry.crc32c),
                    path=path, name=name, base=entry.offset,
                )
            return flat.reshape(entry.shape)
        dtype = info.numpy
        if dtype is None:
            raise UnsupportedError(f"{name!r} has dtype {info.name}, which cannot be stored in a checkpoint")
        self._check_crc(key, entry, buf, path, name)
        if self._foreign and info.swap is None:  # TF: Unimplemented, even for 1-byte float8/int4
            raise UnsupportedError(f"{name!r}: {info.name} data written on a machine of the other byte order cannot be swapped")
        if entry.size == 0:
            return np.zeros(entry.shape, dtype=dtype)
        if self._foreign and dtype.itemsize > 1:
            # complex numbers swap per component, which numpy's byte order handles too
            arr = np.frombuffer(buf, dtype=dtype.newbyteorder(), count=entry.num_elements, offset=entry.offset)
            return arr.astype(dtype).reshape(entry.shape)
        arr = np.frombuffer(buf, dtype=dtype, count=entry.num_elements, offset=entry.offset).reshape(entry.shape)
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
            self._payload(sub, name)
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
        buf, path = self._payload(entry, name)
        if entry.dtype == STRING:
            self._read_entry(key, name, entry, copy=False)  # checks the length and entry checksums
        elif entry.dtype == VARIANT:
            if not self._foreign:
                self.variant_elements(name)  # checks every element's running checksum
        else:
            self._check_crc(key, entry, buf, path, name)
        return bytes(buf[entry.offset : entry.offset + entry.size])

    def variant_elements(self, name: str) -> list[bytes]:
        entry = self.entry(name)
        if entry.dtype != VARIANT:
            raise UnsupportedError(f"{name!r} is {DTYPES[entry.dtype].name}, not variant")
        if self._foreign:
            raise UnsupportedError(f"{name!r}: variant data from a machine of the other byte order cannot be read (as in TF)")
        entry.check_size(self.index_path, name)
        buf, path = self._payload(entry, name)
        with memoryview(buf) as view:
            return split_variant_tensor(
                view[entry.offset : entry.offset + entry.size], entry.num_elements, verify=self.verify,
                expected_crc=unmask_crc(entry.crc32c), path=path, name=name, base=entry.offset,
            )

    def close(self) -> None:
        # Drop the maps rather than closing them: read()'s fast-path arrays are built over
        # the mmap object, which keeps it referenced but holds no buffer export, so
        # mmap.close() would succeed and unmap memory they still point into. Each map is
        # unmapped when its last array goes (at once when there is none).
        self._views.clear()
        self._maps.clear()


def _describe(starts: tuple[int, ...], lengths: tuple[int, ...]) -> str:
    return "[" + ", ".join(f"{s}:{s + n}" for s, n in zip(starts, lengths)) + "]"
