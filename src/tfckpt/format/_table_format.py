"""SSTable framing: block handles, the footer, and the per-block trailer.

TensorFlow's ``.index`` files (and V1 checkpoints) are LevelDB tables
(``tsl/lib/io/format.{h,cc}``)::

    table   := data_block* metaindex_block index_block footer
    block   := contents[handle.size] type:u8 masked_crc32c:fixed32      (5-byte trailer)
    handle  := varint64 offset | varint64 size        (size excludes the trailer)
    footer  := handle(metaindex) handle(index) zero padding to 40 bytes
               | TABLE_MAGIC as fixed32 low word, fixed32 high word    (48 bytes, at EOF)

``masked_crc32c`` covers ``contents || type``. ``type`` is a :data:`COMPRESSION` key.
TensorFlow writes only type 0 but reads Snappy (1) blocks too.
"""

from __future__ import annotations

from typing import Final

from .._record import Record
from ._coding import (
    MAX_VARINT32_BYTES,
    CodingError,
    crc32c,
    decode_fixed32,
    decode_varint,
    encode_fixed32,
    encode_varint,
    unmask_crc,
)

__all__ = [
    "BLOCK_TRAILER_SIZE",
    "FOOTER_SIZE",
    "MAX_UNCOMPRESSED_BLOCK",
    "TABLE_MAGIC",
    "BlockHandle",
    "Footer",
    "read_block",
]

#: ``kTableMagicNumber``: "echo http://code.google.com/p/leveldb/ | sha1sum", first 64 bits.
TABLE_MAGIC: Final = 0xDB4775248B80FB57
#: ``BlockHandle::kMaxEncodedLength``: two varint64s.
MAX_HANDLE_SIZE: Final = 20
#: ``Footer::kEncodedLength``: two padded handles plus the 8-byte magic.
FOOTER_SIZE: Final = 2 * MAX_HANDLE_SIZE + 8
#: ``kBlockTrailerSize``: 1-byte compression type + fixed32 masked CRC.
BLOCK_TRAILER_SIZE: Final = 5
NO_COMPRESSION: Final = 0
SNAPPY_COMPRESSION: Final = 1
COMPRESSION: Final = {NO_COMPRESSION: "none", SNAPPY_COMPRESSION: "snappy"}
#: Upper bound on Snappy's output/input ratio (its best case is a 3-byte tag copying 64 bytes).
SNAPPY_MAX_EXPANSION: Final = 24
#: A Snappy block may claim at most this many uncompressed bytes: a block holds one entry
#: of at most a protobuf-sized value plus a key; 1 GiB is far above anything TF writes.
MAX_UNCOMPRESSED_BLOCK: Final = 1 << 30


class TableFormatError(Exception):
    """Internal: a framing error at byte ``pos`` of the table file."""

    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.pos = pos


class BlockHandle(Record):
    """Where a block lives: ``[offset, offset + size)``, trailer not included."""

    offset: int
    size: int

    def encode(self) -> bytes:
        return encode_varint(self.offset) + encode_varint(self.size)

    @classmethod
    def decode(cls, buf: bytes | memoryview, pos: int, limit: int) -> tuple[BlockHandle, int]:
        try:
            offset, pos = decode_varint(buf, pos, limit)
            size, pos = decode_varint(buf, pos, limit)
        except CodingError as e:
            raise TableFormatError(f"bad block handle: {e}", e.pos) from None
        return cls(offset, size), pos


class Footer:
    """The table's last 48 bytes: the metaindex and index handles, padding, the magic.

    A plain class, as :class:`BlockHandle` is a ``NamedTuple``: a dataclass would cost
    ~1 ms of ``import tfckpt`` (and ``index`` would shadow ``tuple.index``).
    """

    __slots__ = ("index", "metaindex")

    def __init__(self, metaindex: BlockHandle, index: BlockHandle) -> None:
        self.metaindex = metaindex
        self.index = index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Footer) and (self.metaindex, self.index) == (other.metaindex, other.index)

    def __hash__(self) -> int:
        return hash((self.metaindex, self.index))

    def __repr__(self) -> str:
        return f"Footer(metaindex={self.metaindex!r}, index={self.index!r})"

    def encode(self) -> bytes:
        handles = self.metaindex.encode() + self.index.encode()
        padding = b"\0" * (2 * MAX_HANDLE_SIZE - len(handles))
        return handles + padding + encode_fixed32(TABLE_MAGIC & 0xFFFFFFFF) + encode_fixed32(TABLE_MAGIC >> 32)

    @classmethod
    def decode(cls, buf: bytes | memoryview, file_size: int) -> Footer:
        """Decode the footer from the last 48 bytes of a file of ``file_size`` bytes."""
        if file_size < FOOTER_SIZE:
            raise TableFormatError(f"file is {file_size} bytes, too short for a {FOOTER_SIZE}-byte table footer", 0)
        start = file_size - FOOTER_SIZE
        lo = decode_fixed32(buf, start + 2 * MAX_HANDLE_SIZE)
        hi = decode_fixed32(buf, start + 2 * MAX_HANDLE_SIZE + 4)
        magic = (hi << 32) | lo
        if magic != TABLE_MAGIC:
            raise TableFormatError(f"not an SSTable: bad magic number {magic:#018x} (expected {TABLE_MAGIC:#018x})", start + 40)
        limit = start + 2 * MAX_HANDLE_SIZE
        metaindex, pos = BlockHandle.decode(buf, start, limit)
        index, _ = BlockHandle.decode(buf, pos, limit)
        return cls(metaindex, index)


def read_block(buf: bytes | memoryview, handle: BlockHandle, file_size: int, *, max_uncompressed: int) -> bytes | memoryview:
    """Return the checked, decompressed contents of the block at ``handle``.

    The checksum is always verified, as TensorFlow does for index files. ``max_uncompressed``
    caps what a Snappy header may claim, so a lying length cannot allocate unbounded memory.
    """
    end = handle.offset + handle.size
    if handle.offset < 0 or end + BLOCK_TRAILER_SIZE > file_size:
        raise TableFormatError(
            f"block handle [{handle.offset}, {end}) plus trailer runs past the end of the file ({file_size} bytes)",
            handle.offset,
        )
    contents = buf[handle.offset : end]
    type_byte = buf[end]
    stored = unmask_crc(decode_fixed32(buf, end + 1))
    computed = crc32c(buf[handle.offset : end + 1])
    if stored != computed:
        raise TableFormatError(f"block checksum mismatch (stored {stored:#010x}, computed {computed:#010x})", handle.offset)
    if type_byte == NO_COMPRESSION:
        return contents
    if type_byte == SNAPPY_COMPRESSION:
        data = bytes(contents)
        try:
            length, _ = decode_varint(data, 0, len(data), max_bytes=MAX_VARINT32_BYTES)
        except CodingError:
            raise TableFormatError("bad snappy block: unreadable length header", handle.offset) from None
        # Snappy expands at most ~21x (a 3-byte copy tag yields 64 bytes), so a header
        # claiming more than SNAPPY_MAX_EXPANSION times the block is a lie: refuse it
        # before the decompressor allocates what it claims.
        allowed = min(max_uncompressed, SNAPPY_MAX_EXPANSION * len(data))
        if length > allowed:
            raise TableFormatError(
                f"bad snappy block: claims {length} uncompressed bytes, more than the {allowed} "
                f"a {len(data)}-byte block can hold",
                handle.offset,
            )
        import snappy  # on first use: bundles since TF 1.2 are uncompressed

        try:
            out = snappy.uncompress(data)
        except Exception as e:  # noqa: BLE001 - snappy raises its own UncompressError or a bare Exception
            raise TableFormatError(f"bad snappy block: {e or type(e).__name__}", handle.offset) from None
        if len(out) != length:
            raise TableFormatError(f"bad snappy block: {len(out)} bytes uncompressed, header says {length}", handle.offset)
        return bytes(out)
    raise TableFormatError(f"unknown block compression type {type_byte} (expected one of {sorted(COMPRESSION)})", end)
