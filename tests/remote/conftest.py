"""Fixtures for the remote suite: loopback servers, started once per session and stopped.

Skips cleanly without fsspec, s3fs, moto and aiohttp (``pip install -e '.[test]'`` has
them). Imports no helper by module name, so the main suite's ``conftest`` stays the one
``import conftest`` finds.
"""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from types import FrameType
from typing import Any

import pytest


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """An S3-compatible server (moto's server mode) on 127.0.0.1."""
    pytest.importorskip("s3fs")
    server_mod = pytest.importorskip("moto.server")
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(key, "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture()
def s3(s3_endpoint: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(s3://fresh-bucket, storage_options)`` for a new bucket on the loopback server."""
    import s3fs

    options: dict[str, Any] = {"key": "testing", "secret": "testing", "endpoint_url": s3_endpoint}
    bucket = f"tfckpt-{uuid.uuid4().hex[:12]}"
    fs = s3fs.S3FileSystem(**options)
    fs.mkdir(bucket)
    yield f"s3://{bucket}", options
    fs.rm(bucket, recursive=True)


@pytest.fixture(scope="session")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A Range-honouring HTTP server over a temporary directory, counting the bytes it sends."""
    pytest.importorskip("aiohttp")
    pytest.importorskip("fsspec")
    from .servers import CountingServer, serving

    root = tmp_path_factory.mktemp("http-root")
    with serving(CountingServer(str(root))) as server:
        yield server


#: Seconds a fault test may take (the ``deadline`` fixture). A fault retried to the end
#: costs 1.75 s of backoff per read; the stall cases wait for a 0.5 s timeout four times.
DEADLINE = 30


@pytest.fixture()
def deadline() -> Iterator[None]:
    """Fail the test with TimeoutError if it runs past DEADLINE seconds (a hang), via SIGALRM."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError(f"remote fault test still running after {DEADLINE} s (a hang)")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(DEADLINE)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
