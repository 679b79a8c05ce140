"""Files on this machine: OS paths, whole objects memory-mapped, regular files only.

The bundle reader keeps its zero-copy views: :meth:`LocalStore.mapping` is the same
``mmap`` it always made, read-only or copy-on-write (``MADV_SEQUENTIAL``: tensors are read
in file order).
Writes of whole bundles keep their own commit sequence in :mod:`tfckpt.writer`; ``put`` is
for single files (a state file) and goes through :func:`._atomic.replacing`. Reads go
through :mod:`._inputs` (no FIFOs or devices; bounded by the file's size).
"""

from __future__ import annotations

import mmap
import os
import stat
from collections.abc import Sequence
from typing import Final

from . import Buffer, Store
from ._inputs import map_regular, read_regular

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

    def get(self, path: str, *, what: str = "a checkpoint file") -> bytes:
        return read_regular(path, what)

    def get_ranges(self, requests: Sequence[tuple[str, int, int]]) -> Sequence[bytes | memoryview]:
        out = []
        for path, start, end in requests:
            with open(path, "rb") as f:
                f.seek(start)
                out.append(f.read(max(0, end - start)))
        return out

    def mapping(self, path: str, *, writable: bool = False, what: str = "a data shard") -> Buffer:
        access = mmap.ACCESS_COPY if writable else mmap.ACCESS_READ  # copy-on-write: MAP_PRIVATE
        buf = map_regular(path, what, access=access)
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
                st = os.stat(os.path.join(directory, name))
            except OSError:
                continue  # deleted meanwhile
            if stat.S_ISREG(st.st_mode):  # a FIFO or device named *.index is no bundle
                found.append((name, st.st_mtime))
        return found

    def put(self, path: str, data: bytes) -> None:
        from ._atomic import replacing  # writes only: a reader never loads it

        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        with replacing(path) as temp, open(temp, "wb") as f:
            f.write(data)

    def delete(self, path: str) -> None:
        from ._atomic import remove_quietly

        remove_quietly(path)


LOCAL: Final = LocalStore()
