"""SSTable files: reading every entry, and building byte-identical tables.

A table is ``data_block* metaindex_block index_block footer`` (see :mod:`._table_format`).
The index block maps a *separator* key (>= every key of block i, < every key of block i+1)
to the :class:`BlockHandle` of data block i. TensorFlow's parameters
(``tsl/lib/io/table_options.h``, ``table_builder.cc``):

* data blocks are cut once their size estimate reaches :data:`BLOCK_SIZE` (256 KiB, not
  LevelDB's 4 KiB), so blocks end slightly *over* 256 KiB;
* TensorFlow-specific: an entry with ``len(key) + len(value) >= 2 * BLOCK_SIZE`` first
  flushes the current block, so a huge entry starts a block of its own;
* separators are shortened (``FindShortestSeparator``), the last one is
  ``FindShortSuccessor(last_key)``; the metaindex block is present and empty;
* no compression (bundles since TF 1.2), though readers accept Snappy blocks.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import BinaryIO, Final, overload

import numpy as np

from ..errors import CorruptionError
from ._block import DATA_RESTART_INTERVAL, INDEX_RESTART_INTERVAL, BlockFormatError, iter_block
from ._block_builder import BlockBuilder, common_prefix_length, encode_entries, entry_sizes
from ._coding import MAX_VARINT32_BYTES, CodingError, crc32c, encode_fixed32, mask_crc
from ._rows import Field, common_prefix_lengths, fits
from ._rows_build import join_fields, left_aligned
from ._table_format import MAX_UNCOMPRESSED_BLOCK, NO_COMPRESSION, BlockHandle, Footer, TableFormatError, read_block

__all__ = [
    "BLOCK_SIZE",
    "JoinedKeys",
    "TableBuilder",
    "block_with_trailer",
    "find_short_successor",
    "find_shortest_separator",
    "iter_table",
]

#: ``TableOptions::block_size`` as TensorFlow sets it.
BLOCK_SIZE: Final = 262144
#: :meth:`TableBuilder.add_many` builds blocks with numpy from this many entries on (below
#: it, the fixed cost of the array operations exceeds the per-entry Python cost it saves).
BULK_MIN_ENTRIES: Final = 256


def iter_table(buf: bytes | memoryview, path: str) -> Iterator[tuple[bytes, bytes]]:
    """Yield every ``(key, value)`` of the table held in ``buf``, in key order.

    Every block checksum is verified. Keys are checked to be strictly increasing across
    the whole table. Raises :class:`CorruptionError` naming ``path`` and the byte offset.
    """
    size = len(buf)
    pos = 0
    try:
        footer = Footer.decode(buf, size)
        pos = footer.index.offset
        index = read_block(buf, footer.index, size, max_uncompressed=MAX_UNCOMPRESSED_BLOCK)
        last_key: bytes | None = None
        for _, handle_bytes in iter_block(bytes(index)):
            handle, _ = BlockHandle.decode(handle_bytes, 0, len(handle_bytes))
            pos = handle.offset
            block = read_block(buf, handle, size, max_uncompressed=MAX_UNCOMPRESSED_BLOCK)
            for key, value in iter_block(bytes(block)):
                if last_key is not None and key <= last_key:
                    raise BlockFormatError(f"keys out of order: {key[:64]!r} after {last_key[:64]!r}", 0)
                last_key = key
                yield key, value
    except (TableFormatError, CodingError) as e:
        raise CorruptionError(str(e), path=path, offset=e.pos) from None
    except BlockFormatError as e:
        raise CorruptionError(f"in block at {pos:#x}: {e}", path=path, offset=pos + e.pos) from None


def _increasing(key_matrix: np.ndarray, key_lengths: np.ndarray, prefix: np.ndarray) -> bool:
    """Whether padded keys are strictly increasing, bytewise, given each one's common
    prefix length with the one before: past the common prefix, the earlier key ends or
    has the smaller byte, and the later key goes on."""
    shared, earlier, later = prefix[1:], key_lengths[:-1], key_lengths[1:]
    rows = np.arange(1, len(key_lengths))
    at = np.minimum(shared, key_matrix.shape[1] - 1)
    smaller = key_matrix[rows - 1, at] < key_matrix[rows, at]
    return bool(((shared < later) & ((shared == earlier) | smaller)).all())


class JoinedKeys(Sequence[bytes]):
    """Keys held as their bytes one after another (``data``) and each one's length
    (``lengths``, int64): many keys for :meth:`TableBuilder.add_fields` without a ``bytes``
    object each (the writer's keys of a fresh dict are made so: one ``str.join`` and one
    ``encode`` per batch of names instead of an ``encode`` per name). Indexing a position
    gives that key's ``bytes``; a slice gives the keys in it, as :class:`JoinedKeys`."""

    __slots__ = ("_ends", "data", "lengths")

    def __init__(self, data: bytes, lengths: np.ndarray) -> None:
        self.data, self.lengths = data, lengths
        self._ends = np.cumsum(lengths)

    def __len__(self) -> int:
        return len(self.lengths)

    @overload
    def __getitem__(self, index: int) -> bytes: ...

    @overload
    def __getitem__(self, index: slice) -> JoinedKeys: ...

    def __getitem__(self, index: int | slice) -> bytes | JoinedKeys:
        if isinstance(index, slice):
            first, stop, step = index.indices(len(self))
            if step != 1:
                raise ValueError("JoinedKeys slices have a step of 1")
            stop = max(first, stop)
            start, end = self._start(first), self._start(stop)
            return JoinedKeys(self.data[start:end], self.lengths[first:stop])
        end = int(self._ends[index])
        return self.data[end - int(self.lengths[index]) : end]

    def _start(self, position: int) -> int:
        return int(self._ends[position - 1]) if position else 0

    def __iter__(self) -> Iterator[bytes]:
        data = self.data
        ends = self._ends.tolist()
        return map(data.__getitem__, map(slice, [0, *ends[:-1]], ends))


def _key_matrix(keys: Sequence[bytes], key_lengths: np.ndarray) -> np.ndarray:
    """``keys`` as rows of bytes padded with zeros to the longest. Keys of one length (as
    numbered names often are) are their bytes joined, reshaped: ~30% cheaper than numpy's
    per-key ``S`` conversion (which pads each key and strips nothing on the way in).
    :class:`JoinedKeys` are joined already."""
    width = max(int(key_lengths.max()), 1)
    joined = keys.data if isinstance(keys, JoinedKeys) else None
    if int(key_lengths.min()) == width:
        return np.frombuffer(b"".join(keys) if joined is None else joined, np.uint8).reshape(len(keys), width)
    if joined is None:
        return np.array(keys, f"S{width}").view(np.uint8).reshape(len(keys), -1)
    matrix = np.zeros((len(keys), width), np.uint8)
    matrix[left_aligned(width, key_lengths)] = np.frombuffer(joined, np.uint8)
    return matrix


def block_with_trailer(contents: bytes, compression: int = NO_COMPRESSION) -> bytes:
    """Frame block ``contents`` for disk: ``contents || type || Mask(crc32c(contents || type))``
    (the trailer :func:`._table_format.read_block` checks)."""
    type_byte = bytes((compression,))
    crc = crc32c(type_byte, crc32c(contents))
    return contents + type_byte + encode_fixed32(mask_crc(crc))


def find_shortest_separator(start: bytes, limit: bytes) -> bytes:
    """A short key ``k`` with ``start <= k < limit`` (LevelDB's bytewise comparator)."""
    i = common_prefix_length(start, limit)
    if i >= min(len(start), len(limit)):
        return start  # one is a prefix of the other: do not shorten
    byte = start[i]
    if byte < 0xFF and byte + 1 < limit[i]:
        return start[:i] + bytes((byte + 1,))
    return start


def find_short_successor(key: bytes) -> bytes:
    """A short key ``>= key``: increment the first byte that is not 0xff and cut after it."""
    for i, byte in enumerate(key):
        if byte != 0xFF:
            return key[:i] + bytes((byte + 1,))
    return key


class TableBuilder:
    """Writes a table to ``file`` exactly as TensorFlow's ``TableBuilder`` does.

    REQUIRES: keys strictly increasing; :meth:`finish` called once, after the last add.
    ``block_size`` is a parameter only so tests can force many blocks.
    """

    def __init__(self, file: BinaryIO, *, block_size: int = BLOCK_SIZE) -> None:
        self._file = file
        self._block_size = block_size
        self._offset = 0
        self._data = BlockBuilder()
        self._index = BlockBuilder(INDEX_RESTART_INTERVAL)
        self._last_key: bytes | None = None
        self._pending: BlockHandle | None = None

    def add(self, key: bytes, value: bytes) -> None:
        last = self._last_key
        if last is not None:
            if key <= last:
                raise ValueError(f"table keys must be strictly increasing: {key[:64]!r} after {last[:64]!r}")
            if len(key) + len(value) >= 2 * self._block_size:
                self._flush()  # TF: a huge entry gets a block of its own
        if self._pending is not None:
            self._index.add(find_shortest_separator(last or b"", key), self._pending.encode())
            self._pending = None
        self._data.add(key, value)
        self._last_key = key
        if self._data.size_estimate() >= self._block_size:
            self._flush()

    def add_many(self, keys: Sequence[bytes], value_matrix: np.ndarray, value_lengths: np.ndarray) -> None:
        """Add many entries at once; the file and the builder's state end up exactly as
        after ``add(keys[i], value_matrix[i, :value_lengths[i]].tobytes())`` for each ``i``
        (values as padded rows: :meth:`add_fields` with one field)."""
        self.add_fields(keys, [(value_matrix, left_aligned(value_matrix.shape[1], value_lengths), value_lengths)])

    def add_fields(self, keys: Sequence[bytes], values: Sequence[Field]) -> None:
        """Add many entries at once, values given as the fields that make them up (see
        :mod:`._rows`); the file and the builder's state end up exactly as after ``add(keys[i],
        value_i)`` for each ``i``, ``value_i`` being row ``i`` of :func:`._rows_build.join_fields`.

        The writer encodes its index entries this way: no Python object per entry, and the
        value fields go straight into the block entries. Blocks are cut by the same size
        rule as :meth:`add`, continuing the open block. For a few entries, for a huge entry
        (which :meth:`add` puts in a block of its own) or for keys too long to pad, it falls
        back to :meth:`add`.

        REQUIRES: keys strictly increasing, and after any key added before (checked).
        """
        n = len(keys)
        value_lengths: np.ndarray = sum((lengths for _, _, lengths in values[1:]), values[0][2])
        if n >= BULK_MIN_ENTRIES:
            key_lengths = keys.lengths if isinstance(keys, JoinedKeys) else np.fromiter(map(len, keys), np.int64, n)
            # The entries' matrix: three header varints, the key and the value side by side.
            width = 3 * MAX_VARINT32_BYTES + int(key_lengths.max()) + sum(matrix.shape[1] for matrix, _, _ in values)
            if fits(n, width, int(key_lengths.sum() + value_lengths.sum())):
                key_matrix = _key_matrix(keys, key_lengths)
                if int((key_lengths + value_lengths).max()) < 2 * self._block_size:
                    self._add_bulk(keys, key_matrix, key_lengths, values, value_lengths)
                    return
        data, _ = join_fields(values)
        ends = np.cumsum(value_lengths).tolist()
        for key, start, end in zip(keys, [0, *ends], ends):
            self.add(key, data[start:end].tobytes())

    def _add_bulk(
        self,
        keys: Sequence[bytes],
        key_matrix: np.ndarray,
        key_lengths: np.ndarray,
        values: Sequence[Field],
        value_lengths: np.ndarray,
    ) -> None:
        last = self._last_key
        prefix = common_prefix_lengths(key_matrix, key_lengths)
        if not _increasing(key_matrix, key_lengths, prefix) or (last is not None and keys[0] <= last):
            raise ValueError("table keys must be strictly increasing")
        if not self._data.empty():  # the first key continues the open block
            prefix[0] = common_prefix_length(self._data.last_key, keys[0])
        blocks, position = self._cut_blocks(prefix, key_lengths, value_lengths)
        restart = position % DATA_RESTART_INTERVAL == 0  # stores its whole key
        entries, sizes = encode_entries(key_matrix, key_lengths, np.where(restart, 0, prefix), values, value_lengths)
        offsets = np.zeros(len(keys) + 1, np.int64)
        np.cumsum(sizes, out=offsets[1:])
        new_restart = restart & (position > 0)  # a block's first entry is in its restart array already
        for start, end, closed in blocks:
            if self._pending is not None:
                self._index.add(find_shortest_separator(self._last_key or b"", keys[start]), self._pending.encode())
                self._pending = None
            base = int(offsets[start])
            body = entries[base : int(offsets[end])].tobytes()
            restarts = (offsets[start:end][new_restart[start:end]] - base).tolist()
            self._data.extend(body, restarts, keys[end - 1], end - start)
            self._last_key = keys[end - 1]
            if closed:
                self._flush()  # else the last block stays open, as after add()

    def _cut_blocks(
        self, prefix: np.ndarray, key_lengths: np.ndarray, value_lengths: np.ndarray
    ) -> tuple[list[tuple[int, int, bool]], np.ndarray]:
        """Where :meth:`add` would end each data block: ``[(start, end, closed)]`` entry
        ranges (``closed`` once the size estimate reaches the block size; the first range
        continues the open block), and each entry's position in its block."""
        n = len(prefix)
        interval = DATA_RESTART_INTERVAL
        size_if_restart = entry_sizes(np.zeros_like(prefix), key_lengths, value_lengths)
        size_if_shared = entry_sizes(prefix, key_lengths, value_lengths)
        position = np.empty(n, np.int64)
        blocks: list[tuple[int, int, bool]] = []
        start = 0
        first_position, first_estimate = self._data.entries, self._data.size_estimate()
        # Entries a block holds on average, plus slack: most blocks are cut in one pass.
        window = int(self._block_size / max(1.0, float(size_if_shared.mean()))) * 5 // 4 + interval
        while start < n:
            while True:
                end = min(n, start + window)
                block_position = first_position + np.arange(end - start)
                is_restart = block_position % interval == 0
                sizes = np.where(is_restart, size_if_restart[start:end], size_if_shared[start:end])
                # BlockBuilder::CurrentSizeEstimate after each entry: entries, restart array, count.
                estimate = first_estimate + np.cumsum(sizes) + 4 * np.cumsum(is_restart & (block_position > 0))
                full = np.flatnonzero(estimate >= self._block_size)
                if full.size or end == n:
                    last = int(full[0]) + 1 if full.size else end - start
                    position[start : start + last] = block_position[:last]
                    blocks.append((start, start + last, bool(full.size)))
                    start += last
                    first_position, first_estimate = 0, BlockBuilder.EMPTY_SIZE_ESTIMATE
                    break
                window *= 2
        return blocks, position

    def _write_block(self, contents: bytes) -> BlockHandle:
        handle = BlockHandle(self._offset, len(contents))
        framed = block_with_trailer(contents)
        self._file.write(framed)
        self._offset += len(framed)
        return handle

    def _flush(self) -> None:
        if self._data.empty():
            return
        self._pending = self._write_block(self._data.finish())
        self._data.reset()

    def finish(self) -> int:
        """Write the last block, the metaindex, the index and the footer; return the file size."""
        self._flush()
        metaindex = self._write_block(BlockBuilder().finish())
        if self._pending is not None:
            self._index.add(find_short_successor(self._last_key or b""), self._pending.encode())
            self._pending = None
        index = self._write_block(self._index.finish())
        footer = Footer(metaindex, index).encode()
        self._file.write(footer)
        self._offset += len(footer)
        return self._offset
