"""The general read path of a V2 bundle: every entry the fast path does not take.

The other half of :class:`._v2.BundleReader`, loaded by the first read that needs it (a
reader of plain local tensors never imports it): strings, variants, bundles of the other
byte order, empty tensors, partitioned variables (reassembled from their slices), raw
payloads, remote payloads (fetched, and prefetched many at once), the index's entries as
bytes (:class:`RawEntries`), and every detailed check and error naming the file, offset
and tensor. :meth:`~._v2.BundleReader.read` sends here each entry its fast path did not
serve, including every damaged one. The functions take the reader as ``self``: they are
its methods, kept in this module.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

import numpy as np

from ..errors import CheckpointError, CorruptionError, RemoteError, UnsupportedError
from ._bundle import BIG, BundleEntry
from ._coding import crc32c, unmask_crc
from ._dtypes import DTYPES, STRING, VARIANT, require_numpy_rank
from ._string_payloads import decode_string_tensor, split_variant_tensor
from ._v2 import decode_name, encode_name

if TYPE_CHECKING:
    from ._v2 import BundleReader

__all__ = ["RawEntries", "prefetch", "raw_bytes", "read_entry", "read_sliced", "variant_elements"]


class RawEntries(Mapping[bytes, bytes]):
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


def read_entry(self: BundleReader, key: bytes, name: str, entry: BundleEntry, *, copy: bool) -> np.ndarray:
    info = DTYPES[entry.dtype]
    entry.check_size(self.index_path, name)
    if entry.dtype != VARIANT:
        require_numpy_rank(entry.shape, name)
    if entry.dtype == VARIANT:
        raise UnsupportedError(
            f"{name!r} is a variant tensor ({list(entry.shape)}); it has no numpy form. "
            "Use Checkpoint.variant_elements() or raw_bytes() for its serialized bytes."
        )
    payload, path = stored_payload(self, entry, name)
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
    check_crc(self, key, entry, payload, path, name)
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


def read_sliced(self: BundleReader, key: bytes, name: str, entry: BundleEntry) -> np.ndarray:
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
        check_bounds(self, sub, name)
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
        out[region] = read_entry(self, slice_key, name, sub, copy=False)
    out.flags.writeable = True
    return out


def raw_bytes(self: BundleReader, name: str) -> bytes:
    """The stored payload of an unpartitioned tensor, checksum verified when ``verify``."""
    key = encode_name(name)
    entry = self.entry(name)
    if entry.slices:
        raise UnsupportedError(f"{name!r} is partitioned into {len(entry.slices)} slices; it has no single payload")
    entry.check_size(self.index_path, name)
    if entry.dtype == STRING:
        read_entry(self, key, name, entry, copy=False)  # checks the length and entry checksums
    elif entry.dtype == VARIANT and not self._foreign:
        variant_elements(self, name)  # checks every element's running checksum
    payload, path = stored_payload(self, entry, name)
    if entry.dtype not in (STRING, VARIANT):
        check_crc(self, key, entry, payload, path, name)
    return bytes(payload)


def variant_elements(self: BundleReader, name: str) -> list[bytes]:
    entry = self.entry(name)
    if entry.dtype != VARIANT:
        raise UnsupportedError(f"{name!r} is {DTYPES[entry.dtype].name}, not variant")
    if self._foreign:
        raise UnsupportedError(f"{name!r}: variant data from a machine of the other byte order cannot be read (as in TF)")
    entry.check_size(self.index_path, name)
    payload, path = stored_payload(self, entry, name)
    return split_variant_tensor(
        payload, entry.num_elements, verify=self.verify,
        expected_crc=unmask_crc(entry.crc32c), path=self.store.url(path), name=name, base=entry.offset,
    )


def check_crc(self: BundleReader, key: bytes, entry: BundleEntry, payload: memoryview | bytes, path: str, name: str) -> None:
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


def stored_payload(self: BundleReader, entry: BundleEntry, name: str) -> tuple[memoryview | bytes, str]:
    """The entry's stored bytes ``[offset, offset + size)`` and the shard's path.

    A zero-copy slice of the shard's mapping, or (remote) the fetched bytes. Remote
    bounds are checked only when the fetch fails or comes back short, which saves a
    request per shard on the way to the first tensor.
    """
    if self.store.maps_objects:
        path = check_bounds(self, entry, name)
        return self._views[entry.shard_id][entry.offset : entry.offset + entry.size], path
    if entry.shard_id >= self.header.num_shards:
        self._shard_size(entry.shard_id, name)  # raises the error naming the shard count
    path = self.shard_path(entry.shard_id)
    data = self._fetched.pop((entry.shard_id, entry.offset, entry.size), None)
    if data is None:
        try:
            (data,) = self.store.get_ranges([(path, entry.offset, entry.offset + entry.size)])
        except Exception:
            check_bounds(self, entry, name)  # a missing shard or a range past its end: say so
            raise
    if len(data) != entry.size:
        check_bounds(self, entry, name)
        raise CorruptionError(
            f"expected {entry.size} bytes at [{entry.offset}, {entry.offset + entry.size}), got {len(data)}",
            path=self.store.url(path), offset=entry.offset, tensor=name,
        )
    return (memoryview(bytearray(data)) if self._writable else data), path


def check_bounds(self: BundleReader, entry: BundleEntry, name: str) -> str:
    """The shard's path, once the entry's bytes are known to lie inside it."""
    size = self._shard_size(entry.shard_id, name)
    path = self.shard_path(entry.shard_id)
    if entry.offset + entry.size > size:
        raise CorruptionError(
            f"tensor bytes [{entry.offset}, {entry.offset + entry.size}) run past the end of the shard ({size} bytes)",
            path=self.store.url(path), offset=entry.offset, tensor=name,
        )
    return path


def prefetch(self: BundleReader, names: Iterable[str]) -> None:
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


def _describe(starts: tuple[int, ...], lengths: tuple[int, ...]) -> str:
    return "[" + ", ".join(f"{s}:{s + n}" for s, n in zip(starts, lengths)) + "]"
