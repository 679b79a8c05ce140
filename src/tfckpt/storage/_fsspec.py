"""Objects behind fsspec URLs: ``s3://``, ``gs://``, ``https://``, ``memory://``, chains.

fsspec is imported here only, when a user passes a URL. Credentials and endpoints come
the usual fsspec ways (environment, config files, ``storage_options``), as
``fsspec.core.url_to_fs`` takes them.

Reads are exact byte ranges: :meth:`FsspecStore.get_ranges` merges requests for
neighbouring bytes (at most :data:`MERGE_GAP` apart) into runs, cuts runs into parts of at
least :data:`PART_SIZE` bytes (at most :data:`MAX_PARTS_PER_RUN` per run) and hands them all to ``cat_ranges``, which async file systems
(s3fs, gcsfs, HTTP) fetch concurrently, so a large tensor also arrives over many
connections. Nothing is read ahead: a one-tensor read transfers the index and that tensor's
bytes.

Writes: :meth:`FsspecStore.put_file` uploads a finished local file (an object store makes
it visible whole or not at all, multipart uploads included).
"""

from __future__ import annotations

import datetime
import shutil
from collections.abc import Mapping, Sequence
from typing import Any, Final

from . import Store

__all__ = ["PART_SIZE", "FsspecStore"]

#: Ranged reads are cut into parts of at most this size, fetched concurrently. 16 MiB, the
#: upper of the two sizes AWS suggests for ranged GETs (8 or 16 MB): per-request overhead
#: stays small, and a 100 MB embedding table is still six requests in flight at once.
PART_SIZE: Final = 16 << 20

#: A run is cut into at most this many parts, each still at least the part size: all parts
#: are in flight at once, so more parts would add requests without adding connections, and
#: servers whose cost per ranged GET grows with the object (moto reads the whole object for
#: each) pay for every part. A whole 1 GiB shard is 8 requests of 128 MiB, not 64 of 16 MiB.
MAX_PARTS_PER_RUN: Final = 8

#: Piece size when a data object is streamed from one file system to another (merge).
COPY_CHUNK: Final = 16 << 20

#: Requests of one object separated by at most this many bytes are fetched as one range:
#: a gap this small costs less than a request (bundles have none: tensors are contiguous).
MERGE_GAP: Final = 64 << 10

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

    def __init__(self, fs: Any, url_prefix: str, part_size: int | None = None) -> None:
        self.fs = fs
        self.part_size = PART_SIZE if part_size is None else part_size
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

    def get(self, path: str, *, what: str = "a checkpoint file") -> bytes:
        return bytes(self.fs.cat_file(path))

    def get_ranges(self, requests: Sequence[tuple[str, int, int]]) -> Sequence[bytes | memoryview]:
        # Requests of one object at most MERGE_GAP apart become one run (tensors are stored
        # back to back, so reading a whole model is a few runs, not a request per tensor);
        # runs are cut into parts (see _part_size), all fetched concurrently.
        runs = _runs(requests, MERGE_GAP)
        paths: list[str] = []
        starts: list[int] = []
        ends: list[int] = []
        for path, start, end, _ in runs:
            step = self._part_size(end - start)
            for part in range(start, max(end, start + 1), step):
                paths.append(path)
                starts.append(part)
                ends.append(min(end, part + step))
        fetched = self.fs.cat_ranges(paths, starts, ends, on_error="return") if paths else []
        for part in fetched:
            if isinstance(part, BaseException):
                raise part
        out: list[bytes | memoryview] = [b""] * len(requests)
        i = 0
        for _, start, end, members in runs:
            n = max(1, -(-(end - start) // self._part_size(end - start)))
            data = fetched[i] if n == 1 else b"".join(fetched[i : i + n])
            i += n
            for index, (_, first, last) in members:
                out[index] = data if (first, last) == (start, end) else memoryview(data)[first - start : last - start]
        return out

    def _part_size(self, run_length: int) -> int:
        """Parts of at least ``part_size`` bytes, at most :data:`MAX_PARTS_PER_RUN` of them."""
        return max(self.part_size, -(-run_length // MAX_PARTS_PER_RUN))

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

    def get_file(self, path: str, local_file: str) -> None:
        self.fs.get_file(path, local_file)

    def copy_from(self, path: str, source: Store, source_path: str) -> None:
        # One file system: a server-side copy (S3 CopyObject, GCS rewrite), no bytes through
        # this machine. A local file: an upload. Otherwise the bytes are streamed through in
        # COPY_CHUNK pieces (a multipart upload on object stores: visible only when complete).
        from ._local import LocalStore

        if isinstance(source, FsspecStore) and source.fs == self.fs:
            try:
                self.fs.cp_file(source_path, path)
                return
            except NotImplementedError:  # HTTP and other read-only-ish file systems
                pass
        if isinstance(source, LocalStore):
            self.put_file(path, source_path)
        elif isinstance(source, FsspecStore):
            with source.fs.open(source_path, "rb") as reader, self.fs.open(path, "wb") as writer:
                shutil.copyfileobj(reader, writer, COPY_CHUNK)
        else:
            self.put(path, bytes(source.get(source_path, what="a data shard")))

    def delete(self, path: str) -> None:
        try:
            self.fs.rm_file(path)
        except FileNotFoundError:
            pass


def _runs(
    requests: Sequence[tuple[str, int, int]], gap: int
) -> list[tuple[str, int, int, list[tuple[int, tuple[str, int, int]]]]]:
    """Merge ``(path, start, end)`` requests into ``(path, start, end, [(index, request), ...])`` runs."""
    order = sorted(range(len(requests)), key=lambda i: requests[i])
    runs: list[tuple[str, int, int, list[tuple[int, tuple[str, int, int]]]]] = []
    for i in order:
        path, start, end = requests[i]
        if runs and runs[-1][0] == path and start <= runs[-1][2] + gap:
            last = runs[-1]
            last[3].append((i, requests[i]))
            runs[-1] = (path, last[1], max(last[2], end), last[3])
        else:
            runs.append((path, start, end, [(i, requests[i])]))
    return runs


def _protocols(fs: Any) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)
