"""The members of a local ``.zip``, ``.tar``, ``.tar.gz`` or ``.tgz``, never extracted to disk.

Checkpoints are published as archives (``uncased_L-12_H-768_A-12.zip`` holds
``uncased_L-12_H-768_A-12/bert_model.ckpt.*``). The archive is memory-mapped once; a member
is served as:

* a **stored** zip member (compression method 0) or a member of an uncompressed tar: a
  zero-copy slice of that mapping, the bytes at ``[data_start, data_start + size)``;
* a **compressed** member (deflate, bzip2, lzma in a zip; every member of a ``.tar.gz``):
  decompressed whole into memory on first use and kept until the store closes. That costs
  the member's uncompressed size in memory and the time to inflate it (zlib: roughly
  200-400 MB/s on one core), every time the checkpoint is opened. A gzipped tar has no
  random access: reaching a member means inflating everything before it, and listing the
  archive inflates all of it once.

Zip member data (PKWARE APPNOTE 4.3.7, local file header)::

    offset  size  field
    0       4     signature 0x04034b50 ("PK\\x03\\x04")
    26      2     file name length n
    28      2     extra field length m
    30      n+m   name, extra
    30+n+m  ...   member data (compressed size bytes)

The central directory's ``header_offset`` points at the local header; its name and extra
lengths may differ from the central directory's, so they are read from the local header.
"""

from __future__ import annotations

import mmap
import os
import struct
import tarfile
import zipfile
from collections.abc import Sequence
from typing import Final

from ..errors import CorruptionError, UnsupportedError
from . import Buffer, Store

__all__ = ["ArchiveStore"]

_ZIP_LOCAL_MAGIC: Final = b"PK\x03\x04"
_ZIP_LOCAL_HEADER: Final = struct.Struct("<4s22xHH")  # signature, (version .. sizes), n, m
_ZIP_ENCRYPTED: Final = 0x1  # general purpose bit 0


class ArchiveStore(Store):
    """A read-only store over one local archive file; paths are member names (``dir/x``)."""

    maps_objects = True

    def __init__(self, archive: str) -> None:
        self.archive = archive
        with open(archive, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            self._map: mmap.mmap | None = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else None
        # member name -> (start, size) of a slice of the mapping, or None: decompress on use
        self._members: dict[str, tuple[int, int] | None] = {}
        self._sizes: dict[str, int] = {}
        self._inflated: dict[str, bytes] = {}
        self._zip: zipfile.ZipFile | None = None
        self._tar: tarfile.TarFile | None = None
        try:
            if zipfile.is_zipfile(archive):
                self._index_zip()
            else:
                self._index_tar()
        except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as e:
            self.close()
            raise CorruptionError(f"cannot read the archive: {e}", path=archive) from e

    def _index_zip(self) -> None:
        self._zip = zipfile.ZipFile(self.archive)
        for info in self._zip.infolist():
            if info.is_dir():
                continue
            self._sizes[info.filename] = info.file_size
            if info.compress_type != zipfile.ZIP_STORED or self._map is None:
                self._members[info.filename] = None
                continue
            if info.flag_bits & _ZIP_ENCRYPTED:
                raise UnsupportedError(f"{self.archive}: member {info.filename} is encrypted")
            at = info.header_offset
            if at + _ZIP_LOCAL_HEADER.size > len(self._map):
                raise CorruptionError(f"member {info.filename}: local header past the end", path=self.archive, offset=at)
            magic, n, m = _ZIP_LOCAL_HEADER.unpack_from(self._map, at)
            start = at + 30 + n + m
            if magic != _ZIP_LOCAL_MAGIC or start + info.file_size > len(self._map):
                raise CorruptionError(
                    f"member {info.filename}: expected a local header ({_ZIP_LOCAL_MAGIC!r}) and {info.file_size} bytes, "
                    f"found {bytes(magic)!r}",
                    path=self.archive, offset=at,
                )
            self._members[info.filename] = (start, info.file_size)

    def _index_tar(self) -> None:
        try:
            self._tar = tarfile.open(self.archive, "r:")  # noqa: SIM115 - held until close(); uncompressed: members are slices
            compressed = False
        except tarfile.ReadError:
            self._tar = tarfile.open(self.archive, "r:*")  # noqa: SIM115 - held until close()
            compressed = True
        for member in self._tar.getmembers():
            if not member.isfile():
                continue
            name = member.name.removeprefix("./")
            self._sizes[name] = member.size
            plain = not compressed and not member.issparse() and self._map is not None
            if plain and member.offset_data + member.size > len(self._map or b""):
                raise CorruptionError(f"member {name}: data runs past the end", path=self.archive, offset=member.offset_data)
            self._members[name] = (member.offset_data, member.size) if plain else None

    # -- Store -----------------------------------------------------------------------------

    def url(self, path: str) -> str:
        return f"{self.archive}/{path}" if path else self.archive

    def mapping(self, path: str, *, writable: bool = False, what: str = "a data shard") -> Buffer:
        if path not in self._members:
            raise FileNotFoundError(f"{self.archive} has no member {path}")
        where = self._members[path]
        if where is not None and self._map is not None:
            start, size = where
            view = memoryview(self._map)[start : start + size]
            return bytearray(view) if writable else view  # writable: a private copy of the member
        data = self._inflated.get(path)
        if data is None:
            data = self._inflated[path] = self._read_compressed(path)
        return bytearray(data) if writable else data

    def _read_compressed(self, path: str) -> bytes:
        try:
            if self._zip is not None:
                return self._zip.read(path)  # checks the member's CRC-32
            assert self._tar is not None
            f = self._tar.extractfile(path.removeprefix("./")) or self._tar.extractfile("./" + path)
            if f is None:
                raise FileNotFoundError(f"{self.archive} has no member {path}")
            return f.read()
        except (zipfile.BadZipFile, tarfile.TarError, EOFError, KeyError) as e:
            raise CorruptionError(f"member {path}: cannot decompress: {e}", path=self.archive) from e

    def get(self, path: str, *, what: str = "a checkpoint file") -> bytes:
        return bytes(self.mapping(path))

    def get_ranges(self, requests: Sequence[tuple[str, int, int]]) -> Sequence[bytes | memoryview]:
        return [bytes(self.mapping(path)[start:end]) for path, start, end in requests]

    def size(self, path: str) -> int:
        if path not in self._sizes:
            raise FileNotFoundError(f"{self.archive} has no member {path}")
        return self._sizes[path]

    def isfile(self, path: str) -> bool:
        return path in self._sizes

    def isdir(self, path: str) -> bool:
        if not path.strip("/"):
            return True
        inside = path.rstrip("/") + "/"
        return any(name.startswith(inside) for name in self._sizes)

    def listdir(self, directory: str) -> list[tuple[str, float]]:
        inside = directory.strip("/") + "/" if directory.strip("/") else ""
        return [(name[len(inside) :], 0.0) for name in self._sizes if name.startswith(inside) and "/" not in name[len(inside) :]]

    def members(self) -> list[str]:
        """Every file member's name, in archive order."""
        return list(self._sizes)

    def close(self) -> None:
        self._inflated.clear()
        for handle in (self._zip, self._tar):
            if handle is not None:
                handle.close()
        self._map = None  # dropped, not closed: arrays may still point into it; unmapped with the last
