"""Objects behind fsspec URLs: ``s3://``, ``gs://``, ``https://``, ``memory://``, chains.

fsspec is imported here only, when a user passes a URL. Credentials and endpoints come
the usual fsspec ways (environment, config files, ``storage_options``), as
``fsspec.core.url_to_fs`` takes them.

Reads are exact byte ranges: :meth:`FsspecStore.get_ranges` cuts each range into parts of
at most :data:`PART_SIZE` bytes and hands them all to ``cat_ranges``, which async file
systems (s3fs, gcsfs, HTTP) fetch concurrently, so a large tensor also arrives over many
connections. Nothing is read ahead: a one-tensor read transfers the index and that
tensor's bytes.

Writes: :meth:`FsspecStore.put_file` uploads a finished local file (an object store makes
it visible whole or not at all, multipart uploads included).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any, Final

from . import Store

__all__ = ["PART_SIZE", "FsspecStore"]

#: Ranged reads are cut into parts of at most this size, fetched concurrently. 8 MiB: large
#: enough that per-request overhead is small, small enough that one 100 MB embedding
#: table is a dozen requests in flight at once.
PART_SIZE: Final = 8 << 20

#: Listing fields that carry a modification time, by file system (s3fs, gcsfs, local, memory).
_MTIME_FIELDS: Final = ("mtime", "LastModified", "updated", "last_modified", "created")


def _timestamp(value: object) -> float:
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return 0.0
    return 0.0


class FsspecStore(Store):
    """One fsspec file system; paths are its protocol-less paths."""

    def __init__(self, fs: Any, url_prefix: str) -> None:
        self.fs = fs
        self._url_prefix = url_prefix
        self._http = any(p in ("http", "https") for p in _protocols(fs))

    @classmethod
    def from_url(cls, url: str, storage_options: Mapping[str, Any] | None = None) -> tuple[Store, str]:
        """The store and path of ``url``. A plain ``file://`` URL is the local store."""
        try:
            from fsspec.core import url_to_fs  # type: ignore[import-untyped, import-not-found, unused-ignore]
        except ImportError as e:
            raise ImportError(
                f"reading {url} needs fsspec and the file system for its protocol: pip install 'tfckpt[remote]' "
                "plus s3fs for s3://, gcsfs for gs://, aiohttp for https://"
            ) from e
        if url.startswith("file://") and "::" not in url and not storage_options:
            from ._local import LOCAL

            return LOCAL, url[len("file://") :]
        fs, path = url_to_fs(url, **dict(storage_options or {}))
        prefix = url[: len(url) - len(path)] if url.endswith(path) else ""
        store = cls(fs, prefix)
        if not prefix and not store._http:
            store._url_prefix = fs.unstrip_protocol(path)[: -len(path)] if fs.unstrip_protocol(path).endswith(path) else ""
        return store, path

    def url(self, path: str) -> str:
        return self._url_prefix + path

    def get(self, path: str) -> bytes:
        return bytes(self.fs.cat_file(path))

    def get_ranges(self, requests: Sequence[tuple[str, int, int]]) -> list[bytes]:
        paths: list[str] = []
        starts: list[int] = []
        ends: list[int] = []
        parts_of: list[int] = []
        for path, start, end in requests:
            n = 0
            for part in range(start, max(end, start + 1), PART_SIZE):
                paths.append(path)
                starts.append(part)
                ends.append(min(end, part + PART_SIZE))
                n += 1
            parts_of.append(n)
        fetched = self.fs.cat_ranges(paths, starts, ends, on_error="return") if paths else []
        out: list[bytes] = []
        i = 0
        for n in parts_of:
            parts = fetched[i : i + n]
            i += n
            for p in parts:
                if isinstance(p, BaseException):
                    raise p
            out.append(parts[0] if n == 1 else b"".join(parts))
        return out

    def size(self, path: str) -> int:
        return int(self.fs.size(path))

    def isfile(self, path: str) -> bool:
        # info(): a HEAD over HTTP, where fsspec's isfile() would GET the whole object
        try:
            return bool(self.fs.info(path).get("type") == "file")
        except (OSError, ValueError):  # HTTP servers answer oddly for missing paths
            return False

    def isdir(self, path: str) -> bool:
        if self._http:  # HTTP has no directories; a URL ending in "/" may serve a listing page
            return path.endswith("/")
        try:
            return bool(self.fs.isdir(path))
        except (OSError, ValueError):
            return False

    def listdir(self, directory: str) -> list[tuple[str, float]]:
        try:
            entries = self.fs.ls(directory, detail=True)
        except (OSError, ValueError):
            return []
        found = []
        for entry in entries:
            if entry.get("type") == "directory":
                continue
            mtime = next((_timestamp(entry[k]) for k in _MTIME_FIELDS if k in entry), 0.0)
            found.append((self.basename(str(entry["name"])), mtime))
        return found

    def put(self, path: str, data: bytes) -> None:
        self.fs.pipe_file(path, data)

    def put_file(self, path: str, local_file: str) -> None:
        self.fs.put_file(local_file, path)

    def delete(self, path: str) -> None:
        try:
            self.fs.rm_file(path)
        except FileNotFoundError:
            pass


def _protocols(fs: Any) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)
