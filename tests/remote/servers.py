"""Real servers on loopback for the remote tests: an S3-compatible one (moto's server
mode, as s3fs's own tests use) and an HTTP server that honours ``Range`` and counts what it
sends. Each is started by a fixture in ``conftest.py`` and stopped after the test session.

The HTTP server also misbehaves on request: :meth:`CountingServer.inject` arms
:class:`Fault` s, each answering the next GETs of matching paths wrongly (see
:data:`FAULT_KINDS`), as flaky servers, proxies and networks do.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import shutil
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, BinaryIO

#: What a :class:`Fault` does to a GET (``body`` is the bytes the request asked for).
FAULT_KINDS = {
    "status": "answers with Fault.status (500, 503, ...) and no data",
    "short": "206 with the first half of body, Content-Length honest about it",
    "short-lying": "Content-Length of the whole body, half of it sent, connection closed",
    "reset": "half of body sent, then the connection reset (RST)",
    "stall": "half of body sent, then nothing for Fault.stall seconds",
    "whole": "200 with the whole object, Range ignored",
    "other-bytes": "206 claiming the range asked, with bytes from one byte further on",
    "corrupt": "206 with one byte of body flipped",
}


@dataclass
class Fault:
    """Answer the next ``times`` GETs whose path contains ``path`` (all of them if None) with ``kind``."""

    kind: str
    path: str = ".data-"
    times: int | None = 1
    status: int = 503
    stall: float = 10.0
    ranged_only: bool = True

    def __post_init__(self) -> None:
        assert self.kind in FAULT_KINDS, self.kind

_RANGE_RE = re.compile(r"bytes=(\d+)-(\d*)$")


class CountingServer(ThreadingHTTPServer):
    """Serves ``root``; ``sent`` is the body bytes sent, ``log`` one (method, path, range, bytes) per request."""

    daemon_threads = True

    def __init__(self, root: str) -> None:
        self.root = root
        self.sent = 0
        self.log: list[tuple[str, str, str | None, int]] = []
        self.faults: list[Fault] = []
        self.faulted: list[tuple[str, str, str | None]] = []  # (kind, path, range) per faulty answer
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _RangeHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def reset(self) -> None:
        with self.lock:
            self.sent = 0
            self.log.clear()
            self.faults.clear()
            self.faulted.clear()

    def inject(self, *faults: Fault) -> None:
        """Arm ``faults`` (after earlier ones) for the next GETs."""
        with self.lock:
            self.faults.extend(faults)

    def take_fault(self, path: str, ranged: bool) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.path in path and (ranged or not fault.ranged_only) and fault.times != 0:
                    if fault.times is not None:
                        fault.times -= 1
                    return fault
        return None


class _RangeHandler(SimpleHTTPRequestHandler):
    server: CountingServer

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._length: int | None = None
        super().__init__(*args, directory=args[2].root, **kwargs)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def send_head(self) -> Any:
        path = self.translate_path(self.path)
        if os.path.isdir(path):
            self._length = None
            return super().send_head()  # a listing page
        try:
            f = open(path, "rb")  # noqa: SIM115 - closed by the base class
        except OSError:
            self.send_error(404, "not found")
            return None
        size = os.fstat(f.fileno()).st_size
        m = _RANGE_RE.match(self.headers.get("Range", ""))
        if m:
            start = int(m.group(1))
            end = min(int(m.group(2)) if m.group(2) else size - 1, size - 1)
            if start >= size:
                f.close()
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.end_headers()
                return None
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            f.seek(start)
            self._length = end - start + 1
        else:
            self.send_response(200)
            self._length = size
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(self._length))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        return f

    def copyfile(self, source: BinaryIO, outputfile: Any) -> None:
        if self._length is None:
            data = source.read()
        else:
            data = source.read(self._length)
        with self.server.lock:  # counted before it is sent: the client may look as soon as it arrives
            self.server.sent += len(data)
            self.server.log.append((self.command, self.path, self.headers.get("Range"), len(data)))
        outputfile.write(data)

    def do_GET(self) -> None:
        fault = self.server.take_fault(self.path, "Range" in self.headers)
        if fault is None:
            super().do_GET()
            return
        with open(self.translate_path(self.path), "rb") as f:
            data = f.read()
        m = _RANGE_RE.match(self.headers.get("Range", ""))
        start, end = (int(m.group(1)), min(int(m.group(2) or len(data) - 1), len(data) - 1)) if m else (0, len(data) - 1)
        body = data[start : end + 1]
        with self.server.lock:
            self.server.faulted.append((fault.kind, self.path, self.headers.get("Range")))
        self.close_connection = True  # a misbehaving answer never leaves a reusable connection
        if fault.kind == "status":
            self._answer(fault.status, b"injected failure", None)
        elif fault.kind == "short":
            self._answer(206, body[: len(body) // 2], (start, start + len(body) // 2 - 1, len(data)))
        elif fault.kind == "whole":
            self._answer(200, data, None)
        elif fault.kind == "other-bytes":
            self._answer(206, (data + data)[start + 1 : start + 1 + len(body)], (start, end, len(data)))
        elif fault.kind == "corrupt":
            flipped = bytearray(body)
            flipped[len(body) // 2] ^= 0xFF
            self._answer(206, bytes(flipped), (start, end, len(data)))
        else:  # the connection breaks or stalls halfway through an honest answer
            self._answer(206, body[: len(body) // 2], (start, end, len(data)), length=len(body))
            if fault.kind == "stall":
                time.sleep(fault.stall)
            elif fault.kind == "reset":
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()

    def _answer(self, status: int, body: bytes, content_range: tuple[int, int, int] | None, *, length: int | None = None) -> None:
        with self.server.lock:  # logged before it is sent, as in copyfile: the client may count as soon as it has the answer
            self.server.sent += len(body)
            self.server.log.append((self.command, self.path, self.headers.get("Range"), len(body)))
        try:
            self.send_response(status)
            if content_range is not None:
                self.send_header("Content-Range", "bytes {}-{}/{}".format(*content_range))
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body) if length is None else length))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except OSError:  # the client gave up first (a timeout)
            pass

    def do_HEAD(self) -> None:
        with self.server.lock:
            self.server.log.append(("HEAD", self.path, None, 0))
        f = self.send_head()
        if f:
            f.close()


@contextlib.contextmanager
def serving(server: ThreadingHTTPServer) -> Iterator[ThreadingHTTPServer]:
    """Run ``server`` in a thread for the duration of the block, then stop and close it."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def copy_tree(src: str, dst: str) -> None:
    shutil.copytree(src, dst, dirs_exist_ok=True)


class FaultProxy(ThreadingHTTPServer):
    """A reverse proxy in front of the S3 server (moto cannot misbehave): requests pass
    through unchanged, except those an armed :class:`Fault` of kind ``"status"`` matches
    (``Fault.path`` a substring of the path; ``ranged_only`` ignored), which get an S3 error
    answer with ``Fault.status`` instead of reaching the server.

    :meth:`inject` arms a fault for one HTTP method (``"PUT"``, ``"GET"``).
    """

    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        host, port = upstream.split("://", 1)[1].split(":")
        self.upstream = (host, int(port))
        self.faults: list[tuple[str, Fault]] = []  # (method, fault)
        self.faulted: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _ProxyHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def inject(self, method: str, fault: Fault) -> None:
        with self.lock:
            self.faults.append((method, fault))

    def clear(self) -> None:
        with self.lock:
            self.faults.clear()
            self.faulted.clear()

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for wanted, fault in self.faults:
                if wanted == method and fault.path in path.split("?")[0] and fault.times != 0:
                    if fault.times is not None:
                        fault.times -= 1
                    self.faulted.append((method, path))
                    return fault
        return None


class _ProxyHandler(BaseHTTPRequestHandler):
    server: FaultProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                chunk = self.rfile.read(size + 2)[:size]
                if not size:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(chunk)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _relay(self) -> None:
        body = self._body()
        fault = self.server.take_fault(self.command, self.path)
        if fault is not None:
            error = f"<?xml version='1.0'?><Error><Code>InternalError</Code><Message>injected {fault.status}</Message></Error>"
            payload = error.encode()
            self.send_response(fault.status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("transfer-encoding", "content-length", "connection")}
        connection = http.client.HTTPConnection(*self.server.upstream, timeout=30)
        try:
            connection.request(self.command, self.path, body=body if body or self.command in ("PUT", "POST") else None, headers=headers)
            answer = connection.getresponse()
            data = answer.read()
        finally:
            connection.close()
        self.send_response(answer.status)
        for key, value in answer.getheaders():
            if key.lower() not in ("transfer-encoding", "content-length", "connection", "server", "date"):
                self.send_header(key, value)
        length = answer.getheader("Content-Length") if self.command == "HEAD" else None  # HEAD: the object's
        self.send_header("Content-Length", length or str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _relay
