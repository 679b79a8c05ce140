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

from collections.abc import Iterator
from typing import BinaryIO, Final

from ._block import INDEX_RESTART_INTERVAL, BlockBuilder, BlockFormatError, common_prefix_length, iter_block
from ._coding import CodingError
from ._table_format import BlockHandle, Footer, TableFormatError, block_with_trailer, read_block
from .errors import CorruptionError

__all__ = ["BLOCK_SIZE", "TableBuilder", "find_short_successor", "find_shortest_separator", "iter_table"]

#: ``TableOptions::block_size`` as TensorFlow sets it.
BLOCK_SIZE: Final = 262144
#: A Snappy block may claim at most this many uncompressed bytes: a block holds one entry
#: of at most a protobuf-sized value plus a key; 1 GiB is far above anything TF writes.
MAX_UNCOMPRESSED_BLOCK: Final = 1 << 30


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
