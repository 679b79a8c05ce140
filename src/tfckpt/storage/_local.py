"""Files on this machine: OS paths, whole objects memory-mapped.

The bundle reader keeps its zero-copy views: :meth:`LocalStore.mapping` is the same
``mmap`` it always made, read-only or copy-on-write (``MADV_SEQUENTIAL``: tensors are read
in file order).
Writes of whole bundles keep their own commit sequence in :mod:`tfckpt.writer`; ``put`` is
for single files (a state file) and goes through :func:`tfckpt._atomic.replacing`.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Sequence
from typing import Final

from .._atomic import remove_quietly, replacing
from . import Buffer, Store

__all__ = ["LOCAL", "LocalStore"]


class LocalStore(Store):
    """The local file system (one shared instance, :data:`LOCAL`)."""

    maps_objects = True

    def join(self, directory: str, name: str) -> str:
        return os.path.join(directory, name)

    def dirname(self, path: str) -> str:
        return os.path.dirname(path)

    def basename(self, path: str) -> str:
        return os.path.basename(path)

    def isabs(self, path: str) -> bool:
        return os.path.isabs(path)

    def get(self, path: str) -> bytes:
        with open(path, "rb") as f:
            return f.read()

    def get_ranges(self, requests: Sequence[tuple[str, int, int]]) -> Sequence[bytes | memoryview]:
        out = []
        for path, start, end in requests:
            with open(path, "rb") as f:
                f.seek(start)
                out.append(f.read(max(0, end - start)))
        return out

    def mapping(self, path: str, *, writable: bool = False) -> Buffer:
        access = mmap.ACCESS_COPY if writable else mmap.ACCESS_READ  # copy-on-write: MAP_PRIVATE
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            buf = mmap.mmap(f.fileno(), 0, access=access) if size else b""
        if isinstance(buf, mmap.mmap) and hasattr(mmap, "MADV_SEQUENTIAL"):
            buf.madvise(mmap.MADV_SEQUENTIAL)
        return buf

    def size(self, path: str) -> int:
        return os.stat(path).st_size

    def isfile(self, path: str) -> bool:
        return os.path.isfile(path)

    def isdir(self, path: str) -> bool:
        return os.path.isdir(path)

    def listdir(self, directory: str) -> list[tuple[str, float]]:
        try:
            names = os.listdir(directory or ".")
        except OSError:
            return []
        found = []
        for name in names:
            try:
                found.append((name, os.stat(os.path.join(directory, name)).st_mtime))
            except OSError:
                continue  # deleted meanwhile
        return found

    def put(self, path: str, data: bytes) -> None:
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        with replacing(path) as temp, open(temp, "wb") as f:
            f.write(data)

    def delete(self, path: str) -> None:
        remove_quietly(path)


LOCAL: Final = LocalStore()
