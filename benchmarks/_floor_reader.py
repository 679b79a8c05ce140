"""The cold-start floor: the least Python a reader of a TensorFlow V2 bundle has to run.

Not a reader to use: ``profile_cold_start.py`` imports it in fresh processes beside
``tfckpt`` and ``safe_open`` to show what a pure-Python import + open + first tensor costs
when nothing else is loaded. What it does, and no more:

- reads ``<prefix>.index`` whole, decodes the SSTable footer, the index block and every data
  block, checking each block's masked CRC32C, and keeps each entry's undecoded
  ``BundleEntryProto`` bytes by name;
- on a read, decodes that entry (dtype, shape, shard, offset, size, crc32c), memory-maps the
  data shard once, checks the tensor's CRC32C and returns a zero-copy numpy view.

What it leaves out, all of which ``tfckpt.open`` does: resolving a directory, state file,
``.data`` or ``.index`` path or a URL; snappy blocks; the header's checks; strings, slices,
V1 checkpoints, the object graph; errors that name the file, offset and tensor; bounds
checks against lying lengths. Only the dtypes of :data:`_DTYPES` are known.
"""

from __future__ import annotations

import importlib.machinery
import mmap
import os
from collections.abc import Callable, Iterator

import numpy as np

_DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 9: np.int64, 14: np.float16}
_FOOTER_SIZE = 48
_MASK_DELTA = 0xA282EAD8


def _load_crc32c() -> Callable[..., int]:
    # The crc32c package's C function without the package's __init__ (its version lookup
    # through importlib.metadata costs ~30 ms), as tfckpt.format._coding loads it: a copy
    # on purpose, since the floor is one module that imports nothing of tfckpt.
    package = importlib.machinery.PathFinder.find_spec("crc32c")
    assert package is not None and package.submodule_search_locations is not None
    for location in package.submodule_search_locations:
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = os.path.join(location, "_crc32c" + suffix)
            if os.path.isfile(path):
                loader = importlib.machinery.ExtensionFileLoader("crc32c._crc32c", path)
                module = loader.create_module(importlib.machinery.ModuleSpec("crc32c._crc32c", loader, origin=path))
                loader.exec_module(module)
                return module.crc32c  # type: ignore[no-any-return]
    raise ImportError("no crc32c extension")


_crc32c = _load_crc32c()


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def _unmask(masked: int) -> int:
    rotated = (masked - _MASK_DELTA) & 0xFFFFFFFF
    return ((rotated >> 17) | (rotated << 15)) & 0xFFFFFFFF


def _block(data: bytes, offset: int, size: int) -> Iterator[tuple[bytes, bytes]]:
    """The (key, value) pairs of the block at ``offset``: entries of [shared varint]
    [unshared varint][value length varint][key suffix][value], then the restart array and
    its count; the 5-byte trailer (compression type, masked CRC32C) follows the block."""
    stored = int.from_bytes(data[offset + size + 1 : offset + size + 5], "little")
    if _unmask(stored) != _crc32c(data[offset : offset + size + 1]):
        raise ValueError(f"block at {offset}: checksum mismatch")
    body = data[offset : offset + size]
    end = size - 4 - 4 * int.from_bytes(body[-4:], "little")
    pos, key = 0, b""
    while pos < end:
        shared, pos = _varint(body, pos)
        unshared, pos = _varint(body, pos)
        length, pos = _varint(body, pos)
        key = key[:shared] + body[pos : pos + unshared]
        pos += unshared
        yield key, body[pos : pos + length]
        pos += length


def _entry(value: bytes) -> tuple[int, tuple[int, ...], int, int, int, int]:
    """BundleEntryProto: dtype 1, shape 2 (dim 2 {size 1}), shard_id 3, offset 4, size 5,
    crc32c 6 (fixed32)."""
    fields = {1: 0, 3: 0, 4: 0, 5: 0, 6: 0}
    shape: list[int] = []
    pos = 0
    while pos < len(value):
        tag, pos = _varint(value, pos)
        if tag & 7 == 0:
            fields[tag >> 3], pos = _varint(value, pos)
        elif tag & 7 == 5:
            fields[tag >> 3] = int.from_bytes(value[pos : pos + 4], "little")
            pos += 4
        else:
            length, pos = _varint(value, pos)
            if tag >> 3 == 2:
                shape_bytes, inner = value[pos : pos + length], 0
                while inner < len(shape_bytes):  # each dim: tag 0x12, length, then size (tag 0x08)
                    _, inner = _varint(shape_bytes, inner)
                    dim_length, inner = _varint(shape_bytes, inner)
                    dim, dim_pos = shape_bytes[inner : inner + dim_length], 0
                    inner += dim_length
                    while dim_pos < len(dim):
                        dim_tag, dim_pos = _varint(dim, dim_pos)
                        number, dim_pos = _varint(dim, dim_pos)
                        if dim_tag == 0x08:
                            shape.append(number)
            pos += length
    return fields[1], tuple(shape), fields[3], fields[4], fields[5], fields[6]


class FloorReader:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        with open(prefix + ".index", "rb") as f:
            data = f.read()
        footer = data[-_FOOTER_SIZE:]
        _, pos = _varint(footer, 0)  # the metaindex handle, unused
        _, pos = _varint(footer, pos)
        index_offset, pos = _varint(footer, pos)
        index_size, _ = _varint(footer, pos)
        self._entries: dict[str, bytes] = {}
        self._num_shards = 1
        for _, handle in _block(data, index_offset, index_size):
            offset, pos = _varint(handle, 0)
            size, _ = _varint(handle, pos)
            for key, value in _block(data, offset, size):
                if key:
                    self._entries[key.decode()] = value
                elif value[:1] == b"\x08":  # the empty key: BundleHeaderProto, num_shards = 1
                    self._num_shards = _varint(value, 1)[0]
        self._shards: dict[int, mmap.mmap] = {}

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __getitem__(self, name: str) -> np.ndarray:
        dtype, shape, shard, offset, size, crc = _entry(self._entries[name])
        mapped = self._shards.get(shard)
        if mapped is None:
            with open(f"{self.prefix}.data-{shard:05d}-of-{self._num_shards:05d}", "rb") as f:
                mapped = self._shards[shard] = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        view = memoryview(mapped)[offset : offset + size]
        if _unmask(crc) != _crc32c(view):
            raise ValueError(f"{name}: checksum mismatch")
        return np.frombuffer(view, _DTYPES[dtype]).reshape(shape)
