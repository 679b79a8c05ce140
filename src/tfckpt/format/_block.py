"""SSTable blocks: a run of prefix-compressed key/value entries and a restart array.

Layout (``tsl/lib/io/block_builder.cc``, ``block.cc``)::

    block    := entry* restart_offset:fixed32 * num_restarts  num_restarts:fixed32
    entry    := shared:varint32 non_shared:varint32 value_len:varint32
                key_delta[non_shared] value[value_len]

``key = previous_key[:shared] + key_delta``. Every ``restart_interval``-th entry (16 for data
blocks, 1 for index blocks) is a *restart point*: it stores its whole key (``shared == 0``)
and its offset is listed in the restart array, so a reader can binary-search. This reader
always scans linearly (a bundle's index is loaded whole), so it only bounds-checks the array.
Blocks are built in :mod:`._block_builder` (the writer's side, loaded on first use).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from ._coding import MAX_VARINT32_BYTES, CodingError, decode_fixed32, decode_varint

__all__ = ["DATA_RESTART_INTERVAL", "INDEX_RESTART_INTERVAL", "BlockFormatError", "iter_block"]

#: ``Options::block_restart_interval`` default, used for data blocks.
DATA_RESTART_INTERVAL: Final = 16
#: ``TableBuilder::Rep`` sets the index block's interval to 1: every index key is whole.
INDEX_RESTART_INTERVAL: Final = 1


class BlockFormatError(Exception):
    """Internal: malformed block contents at ``pos`` (relative to the block start)."""

    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.pos = pos


def iter_block(contents: bytes) -> Iterator[tuple[bytes, bytes]]:
    """Yield ``(key, value)`` for every entry of a block, in stored order."""
    size = len(contents)
    if size < 4:
        raise BlockFormatError(f"block of {size} bytes is too short for its restart count", 0)
    num_restarts = decode_fixed32(contents, size - 4)
    max_restarts = (size - 4) // 4
    if num_restarts > max_restarts:
        raise BlockFormatError(f"block claims {num_restarts} restart points but has room for at most {max_restarts}", size - 4)
    limit = size - 4 - 4 * num_restarts
    pos = 0
    key = b""
    try:
        while pos < limit:
            start = pos
            # Fast path: the three header varints are single bytes almost always.
            shared = contents[pos]
            non_shared = contents[pos + 1] if pos + 1 < limit else 0x80
            value_len = contents[pos + 2] if pos + 2 < limit else 0x80
            if (shared | non_shared | value_len) < 0x80:
                pos += 3
            else:
                shared, pos = decode_varint(contents, pos, limit, MAX_VARINT32_BYTES)
                non_shared, pos = decode_varint(contents, pos, limit, MAX_VARINT32_BYTES)
                value_len, pos = decode_varint(contents, pos, limit, MAX_VARINT32_BYTES)
            if shared > len(key):
                raise BlockFormatError(f"entry shares {shared} key bytes but the previous key has {len(key)}", start)
            value_start = pos + non_shared
            end = value_start + value_len
            if end > limit:
                raise BlockFormatError(
                    f"entry of {non_shared}+{value_len} bytes runs past the block's entries (end {limit})", start
                )
            key = key[:shared] + contents[pos:value_start]
            yield key, contents[value_start:end]
            pos = end
    except CodingError as e:
        raise BlockFormatError(str(e), e.pos) from None
