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

Faults (docs/remote.md): every part's length is checked against the range asked before
its bytes are joined or handed on. Parts that fail transiently (5xx, 408/429, a reset or
short body, a timeout) or come back with the wrong length are requested again, up to
:data:`RETRIES` times with doubling pauses from :data:`BACKOFF` seconds; then
:class:`~tfckpt.errors.RemoteError` (or :class:`~tfckpt.errors.CorruptionError` for a
length the server keeps getting wrong) names the URL, the byte range and the cause. Whole
objects (:meth:`FsspecStore.get`) and sizes are retried the same way. HTTP connections get
:data:`HTTP_TIMEOUT` unless ``storage_options`` set ``client_kwargs["timeout"]``; s3fs and
gcsfs keep their own timeouts and retries (tfckpt's come on top).

Writes: :meth:`FsspecStore.put_file` uploads a finished local file (an object store makes
it visible whole or not at all, multipart uploads included).
"""

from __future__ import annotations

import datetime
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, TypeVar

from ..errors import CorruptionError, RemoteError
from . import Store

_T = TypeVar("_T")

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

#: A failed or wrong-length request is made again at most this many times, after pauses
#: of BACKOFF, 2*BACKOFF, 4*BACKOFF seconds (1.75 s in all): long enough for a 503 "slow
#: down" or a restarted connection, short enough that a dead server is reported quickly.
RETRIES: Final = 3
BACKOFF: Final = 0.25

#: aiohttp's timeouts for http(s):// (seconds), unless storage_options set client_kwargs'
#: "timeout": connecting, and waiting for the next bytes of a response. No total: a large
#: tensor may take long, as long as bytes keep arriving (aiohttp's own default is a total
#: of 300 s, which a stalled server holds to the end).
HTTP_TIMEOUT: Final = {"sock_connect": 30.0, "sock_read": 60.0}

#: Errors that say nothing about the object, only that this request did not get through,
#: by class name (in the exception's MRO) as aiohttp, botocore and fsspec raise them; plus
#: TimeoutError, ConnectionError and other OSErrors (s3fs reports a 5xx as OSError), and
#: HTTP statuses 408, 429 and 5xx.
_TRANSIENT_NAMES: Final = frozenset({"ClientPayloadError", "IncompleteReadError", "ResponseStreamingError", "FSTimeoutError"})
#: Errors no retry mends, passed on as they are: the bundle reader turns a missing shard
#: into its own error.
_PERMANENT: Final = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)

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
        fs, path = url_to_fs(url, **_with_http_timeout(url, storage_options))
        prefix = url[: len(url) - len(path)] if url.endswith(path) else ""
        store = cls(fs, prefix)
        if not prefix and not store._http:
            store._url_prefix = fs.unstrip_protocol(path)[: -len(path)] if fs.unstrip_protocol(path).endswith(path) else ""
        return store, path

    def url(self, path: str) -> str:
        return self._url_prefix + path

    def get(self, path: str, *, what: str = "a checkpoint file") -> bytes:
        return self._retrying(lambda: bytes(self.fs.cat_file(path)), path)

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
        fetched = self._fetch_parts(paths, starts, ends)
        out: list[bytes | memoryview] = [b""] * len(requests)
        i = 0
        for _, start, end, members in runs:
            n = max(1, -(-(end - start) // self._part_size(end - start)))
            data = fetched[i] if n == 1 else b"".join(fetched[i : i + n])
            i += n
            for index, (_, first, last) in members:
                out[index] = data if (first, last) == (start, end) else memoryview(data)[first - start : last - start]
        return out

    def _fetch_parts(self, paths: list[str], starts: list[int], ends: list[int]) -> list[bytes]:
        """``cat_ranges``, each part exactly ``end - start`` bytes, or an error naming it.

        Parts that fail transiently or come back with the wrong length (a server that sent
        the whole object, a short body) are fetched again, the others are kept.
        """
        got: list[bytes | None] = [None] * len(paths)
        todo = list(range(len(paths)))
        failures: dict[int, BaseException] = {}
        for attempt in range(RETRIES + 1):
            _pause(attempt)
            results = self.fs.cat_ranges([paths[i] for i in todo], [starts[i] for i in todo], [ends[i] for i in todo], on_error="return")
            failures = {}
            for i, part in zip(todo, results):
                if isinstance(part, BaseException):
                    if isinstance(part, _PERMANENT):
                        raise part
                    if not _transient(part):
                        raise self._error(paths[i], starts[i], ends[i], part, attempt + 1) from part
                    failures[i] = part
                elif len(part) != ends[i] - starts[i]:
                    failures[i] = self._wrong_length(paths[i], starts[i], ends[i], len(part))
                    if len(part) < ends[i] - starts[i] and self._past_end(paths[i], ends[i]):
                        raise failures[i]  # the object is shorter than the range: no retry changes that
                else:
                    got[i] = part
            todo = sorted(failures)
            if not todo:
                return [part for part in got if part is not None]
        i = todo[0]
        cause = failures[i]
        if isinstance(cause, CorruptionError):
            raise cause
        raise self._error(paths[i], starts[i], ends[i], cause, RETRIES + 1) from cause

    def _retrying(self, call: Callable[[], _T], path: str) -> _T:
        """``call()``, made again after transient errors (see :data:`RETRIES`)."""
        for attempt in range(RETRIES + 1):
            _pause(attempt)
            try:
                return call()
            except _PERMANENT:
                raise
            except Exception as e:
                if not _transient(e) or attempt == RETRIES:
                    raise self._error(path, None, None, e, attempt + 1) from e
        raise AssertionError("unreachable")

    def _error(self, path: str, start: int | None, end: int | None, cause: BaseException, attempts: int) -> RemoteError:
        tries = f" (after {attempts} attempts)" if attempts > 1 else ""
        return RemoteError(f"{type(cause).__name__}: {cause}{tries}", url=self.url(path), start=start, end=end, attempts=attempts)

    def _wrong_length(self, path: str, start: int, end: int, length: int) -> CorruptionError:
        return CorruptionError(
            f"the server sent {length} bytes for the range [{start}, {end}) of {end - start} bytes", path=self.url(path), offset=start
        )

    def _past_end(self, path: str, end: int) -> bool:
        try:
            return end > self.size(path)
        except (OSError, ValueError):
            return False

    def _part_size(self, run_length: int) -> int:
        """Parts of at least ``part_size`` bytes, at most :data:`MAX_PARTS_PER_RUN` of them."""
        return max(self.part_size, -(-run_length // MAX_PARTS_PER_RUN))

    def size(self, path: str) -> int:
        return self._retrying(lambda: int(self.fs.size(path)), path)

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


def _pause(attempt: int) -> None:
    """Wait before attempt number ``attempt`` (0 is the first: no wait)."""
    if attempt:
        time.sleep(BACKOFF * 2 ** (attempt - 1))


def _transient(error: BaseException) -> bool:
    """Whether ``error`` may pass if the request is made again (see :data:`_TRANSIENT_NAMES`)."""
    status = getattr(error, "status", None)
    if isinstance(status, int) and 400 <= status < 600:
        return status >= 500 or status in (408, 429)
    if any(cls.__name__ in _TRANSIENT_NAMES for cls in type(error).__mro__):
        return True
    return isinstance(error, OSError) and not isinstance(error, _PERMANENT)


def _with_http_timeout(url: str, storage_options: Mapping[str, Any] | None) -> dict[str, Any]:
    """``storage_options`` with tfckpt's :data:`HTTP_TIMEOUT` for a plain http(s):// URL without one."""
    options = dict(storage_options or {})
    client_kwargs = dict(options.get("client_kwargs") or {})
    if not url.startswith(("http://", "https://")) or "timeout" in client_kwargs:
        return options
    try:
        import aiohttp  # type: ignore[import-untyped, import-not-found, unused-ignore]
    except ImportError:  # fsspec says what to install
        return options
    client_kwargs["timeout"] = aiohttp.ClientTimeout(total=None, **HTTP_TIMEOUT)
    options["client_kwargs"] = client_kwargs
    return options


def _protocols(fs: Any) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)
