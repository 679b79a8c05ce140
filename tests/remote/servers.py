"""Real servers on loopback for the remote tests: an S3-compatible one (moto's server
mode, as s3fs's own tests use) and an HTTP server that honours ``Range`` and counts what it
sends. Each is started by a fixture in ``conftest.py`` and stopped after the test session.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, BinaryIO

_RANGE_RE = re.compile(r"bytes=(\d+)-(\d*)$")


class CountingServer(ThreadingHTTPServer):
    """Serves ``root``; ``sent`` is the body bytes sent, ``log`` one (method, path, range, bytes) per request."""

    daemon_threads = True

    def __init__(self, root: str) -> None:
        self.root = root
        self.sent = 0
        self.log: list[tuple[str, str, str | None, int]] = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _RangeHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def reset(self) -> None:
        with self.lock:
            self.sent = 0
            self.log.clear()


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

    def do_HEAD(self) -> None:
        with self.server.lock:
            self.server.log.append(("HEAD", self.path, None, 0))
        f = self.send_head()
        if f:
            f.close()


def copy_tree(src: str, dst: str) -> None:
    shutil.copytree(src, dst, dirs_exist_ok=True)
