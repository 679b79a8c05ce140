"""Writing and reading through a proxy that makes the S3 server (moto) fail on request.

Uploads: a failure on any object leaves no index object at the prefix (issue 11's
promise). Reads: s3fs and botocore retry first, tfckpt's bounded retries come on top, and
what still fails is a :class:`tfckpt.RemoteError`. Every test runs under the SIGALRM
deadline of conftest.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import tfckpt
from tfckpt.storage import _fsspec

from .servers import Fault

pytestmark = pytest.mark.usefixtures("deadline")

TENSORS = {"w": np.arange(4096, dtype=np.float32), "b": np.ones(7, dtype=np.int64)}


@pytest.fixture(scope="module")
def proxy(s3_endpoint: str) -> Iterator[Any]:
    from .servers import FaultProxy, serving

    with serving(FaultProxy(s3_endpoint)) as server:
        yield server


@pytest.fixture()
def bucket(s3: tuple[str, dict[str, Any]], proxy: Any) -> Iterator[tuple[str, dict[str, Any], Any]]:
    """``(s3://bucket, options through the proxy, s3fs straight to the server)``."""
    import s3fs

    url, options = s3
    # One botocore attempt and no s3fs retry of errors it does not know, so what each test
    # sees is the fault itself and tfckpt's own handling.
    through = {**options, "endpoint_url": proxy.url, "config_kwargs": {"retries": {"total_max_attempts": 1}}, "skip_instance_cache": True}
    proxy.clear()
    yield url, through, s3fs.S3FileSystem(skip_instance_cache=True, **options)
    proxy.clear()


def objects(fs: Any, url: str) -> list[str]:
    fs.invalidate_cache()
    return sorted(p.rsplit("/", 1)[-1] for p in fs.find(url.removeprefix("s3://")))


@pytest.mark.parametrize("target", [".data-00000-of-00002", ".data-00001-of-00002", ".index"])
def test_a_failed_upload_leaves_no_index(bucket: Any, proxy: Any, target: str) -> None:
    url, through, direct = bucket
    proxy.inject("PUT", Fault("status", path=target, status=500, times=None))
    with pytest.raises(OSError), tfckpt.Writer(f"{url}/run/ckpt", storage_options=through, max_shard_size=8192) as writer:
        for name, value in TENSORS.items():
            writer.add(name, value)
    assert proxy.faulted and all(target in path for _, path in proxy.faulted)
    assert objects(direct, f"{url}/run") == []  # no index, and the data objects uploaded before it removed


def test_a_failed_overwrite_leaves_no_index(bucket: Any, proxy: Any) -> None:
    url, through, direct = bucket
    tfckpt.save(f"{url}/run/ckpt", TENSORS, storage_options=through)
    proxy.inject("PUT", Fault("status", path=".index", status=503, times=None))
    with pytest.raises(OSError):
        tfckpt.save(f"{url}/run/ckpt", {"w": -TENSORS["w"]}, storage_options=through)
    assert not any(name.endswith(".index") for name in objects(direct, f"{url}/run"))


def test_a_5xx_during_upload_is_retried_by_botocore(bucket: Any, proxy: Any) -> None:
    url, through, _ = bucket
    retrying = {**through, "config_kwargs": {"retries": {"total_max_attempts": 3, "mode": "standard"}}}
    proxy.inject("PUT", Fault("status", path=".data-", status=503, times=1))
    tfckpt.save(f"{url}/run/ckpt", TENSORS, storage_options=retrying)
    assert len(proxy.faulted) == 1
    with tfckpt.open(f"{url}/run/ckpt", storage_options=through) as ckpt:
        assert all(np.array_equal(ckpt[n], v) for n, v in TENSORS.items())


def test_reads_retry_5xx_then_raise_remote_error(bucket: Any, proxy: Any) -> None:
    url, through, _ = bucket
    tfckpt.save(f"{url}/run/ckpt", TENSORS, storage_options=through)
    proxy.inject("GET", Fault("status", path=".data-", status=503, times=2))
    with tfckpt.open(f"{url}/run/ckpt", storage_options=through) as ckpt:
        assert np.array_equal(ckpt["w"], TENSORS["w"])  # retried by tfckpt (botocore allowed one attempt)
    proxy.clear()
    proxy.inject("GET", Fault("status", path=".data-", status=500, times=None))
    with tfckpt.open(f"{url}/run/ckpt", storage_options=through) as ckpt, pytest.raises(tfckpt.RemoteError) as info:
        ckpt["w"]
    assert info.value.url == f"{url}/run/ckpt.data-00000-of-00001"
    assert info.value.attempts == _fsspec.RETRIES + 1
    assert len(proxy.faulted) == _fsspec.RETRIES + 1  # bounded: tfckpt's attempts times botocore's one
