"""Remote reads against a loopback HTTP server that misbehaves on request (servers.Fault).

Each case asserts the outcome: the right values (the fault was retried away), or tfckpt's
own error naming the URL and byte range. Never wrong data, never a bare aiohttp or index
error, never a hang: every test runs under a SIGALRM deadline (``deadline`` in
conftest.py), so a hang fails the test instead of the run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tfckpt
from tfckpt.storage import _fsspec

from .servers import Fault

#: Tensors of the fixture: three 64 KiB ones stored back to back (a bundle has no gaps).
NAMES = ("a", "b", "c")

pytestmark = pytest.mark.usefixtures("deadline")


@pytest.fixture()
def ckpt_url(http_server: Any) -> Iterator[tuple[str, dict[str, np.ndarray]]]:
    """``(prefix URL, tensors)`` of a small bundle under the server's root; faults cleared after."""
    rng = np.random.default_rng(13)
    tensors = {n: rng.standard_normal(16384).astype(np.float32) for n in NAMES}
    root = Path(http_server.root) / "faults"
    if not root.exists():
        tfckpt.save(root / "ckpt", tensors)
    http_server.reset()
    yield f"{http_server.url}/faults/ckpt", tensors
    http_server.reset()


def data_gets(server: Any) -> list[str | None]:
    return [entry[2] for entry in server.log if entry[0] == "GET" and ".data-" in entry[1]]


def read_all(url: str, **kwargs: Any) -> dict[str, np.ndarray]:
    with tfckpt.open(url, **kwargs) as ckpt:
        return ckpt.read_many(list(NAMES))


def read_one(url: str, name: str = "b", **kwargs: Any) -> np.ndarray:
    with tfckpt.open(url, **kwargs) as ckpt:
        return ckpt[name]


def assert_same(got: dict[str, np.ndarray], tensors: dict[str, np.ndarray]) -> None:
    assert sorted(got) == sorted(tensors)
    for name in tensors:
        assert np.array_equal(got[name], tensors[name]), name


# -- faults that pass: retried, right values ------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        Fault("status", status=500),
        Fault("status", status=503),
        Fault("short"),
        Fault("short-lying"),
        Fault("reset"),
        Fault("whole"),
        Fault("status", status=503, times=3),  # the last retry gets through
    ],
    ids=lambda f: f"{f.kind}-{f.status}x{f.times}" if f.kind == "status" else f.kind,
)
def test_transient_faults_are_retried_to_the_right_values(http_server: Any, ckpt_url: Any, fault: Fault) -> None:
    url, tensors = ckpt_url
    times = fault.times
    http_server.inject(fault)
    with tfckpt.open(url) as ckpt:
        got = ckpt.read_many(["b", "c"])  # not the whole object: a 200 with all of it must not pass
    assert_same(got, {n: tensors[n] for n in ("b", "c")})
    assert len(http_server.faulted) == times
    assert len(data_gets(http_server)) == times + 1  # one run of two tensors, asked again after each fault
    assert np.array_equal(read_one(url), tensors["b"])  # the single-tensor path, fault spent


def test_stall_past_the_read_timeout_is_retried(http_server: Any, ckpt_url: Any) -> None:
    import aiohttp

    url, tensors = ckpt_url
    options = {"client_kwargs": {"timeout": aiohttp.ClientTimeout(total=None, sock_read=0.5)}}
    http_server.inject(Fault("stall"))
    assert_same(read_all(url, storage_options=options), tensors)
    assert [f[0] for f in http_server.faulted] == ["stall"]


def test_tfckpt_default_http_timeout_applies(http_server: Any, ckpt_url: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without client_kwargs["timeout"], HTTP_TIMEOUT bounds a stalled read (shortened here)."""
    url, tensors = ckpt_url
    monkeypatch.setattr(_fsspec, "HTTP_TIMEOUT", {"sock_connect": 5.0, "sock_read": 0.5})
    http_server.inject(Fault("stall", times=None))
    with pytest.raises(tfckpt.RemoteError) as info:
        read_one(url)
    assert info.value.attempts == _fsspec.RETRIES + 1
    assert "Timeout" in str(info.value)


def test_faults_on_one_part_of_a_run_refetch_that_part_only(http_server: Any, ckpt_url: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    url, tensors = ckpt_url
    monkeypatch.setattr(_fsspec, "PART_SIZE", 32 << 10)  # the 192 KiB run in six parts, fetched at once
    with tfckpt.open(url) as ckpt:
        http_server.inject(Fault("short"), Fault("status", status=500))
        got = ckpt.read_many(list(NAMES))
    assert_same(got, tensors)
    assert len(data_gets(http_server)) == 6 + 2


def test_index_fetch_is_retried(http_server: Any, ckpt_url: Any) -> None:
    url, tensors = ckpt_url
    http_server.inject(Fault("status", path=".index", ranged_only=False), Fault("short-lying", path=".index", ranged_only=False))
    assert_same(read_all(url), tensors)
    assert [f[0] for f in http_server.faulted] == ["status", "short-lying"]


# -- faults that persist: the project's own error, naming URL and range ----------------------


@pytest.mark.parametrize(
    ("fault", "error", "words"),
    [
        (Fault("status", status=500, times=None), tfckpt.RemoteError, "500"),
        (Fault("status", status=503, times=None), tfckpt.RemoteError, "503"),
        (Fault("short-lying", times=None), tfckpt.RemoteError, "ClientPayloadError"),
        (Fault("reset", times=None), tfckpt.RemoteError, "ClientPayloadError"),
        (Fault("short", times=None), tfckpt.CorruptionError, "the server sent 32768 bytes for the range [65536, 131072)"),
        (Fault("whole", times=None), tfckpt.CorruptionError, "the server sent 196608 bytes for the range [65536, 131072)"),
    ],
    ids=lambda v: v.kind if isinstance(v, Fault) else "",
)
def test_persistent_faults_raise_the_projects_error(http_server: Any, ckpt_url: Any, fault: Fault, error: type, words: str) -> None:
    url, _ = ckpt_url
    http_server.inject(fault)
    with pytest.raises(error) as info:
        read_one(url, "b")
    message = str(info.value)
    assert words in message
    assert f"{url}.data-00000-of-00001" in message
    assert "65536" in message and "131072" in message  # the byte range of "b"
    assert len(data_gets(http_server)) == _fsspec.RETRIES + 1  # bounded: asked four times, no more
    if error is tfckpt.RemoteError:
        assert isinstance(info.value, OSError)
        assert (info.value.start, info.value.end, info.value.attempts) == (65536, 131072, 4)
        assert info.value.__cause__ is not None


def test_persistent_fault_in_a_batch_is_an_error_not_shifted_bytes(http_server: Any, ckpt_url: Any) -> None:
    """A short part inside a merged run used to shift the bytes of every tensor after it."""
    url, tensors = ckpt_url
    http_server.inject(Fault("short", times=None))
    with tfckpt.open(url, verify=False) as ckpt:  # no checksum to fall back on
        for name in NAMES:
            with pytest.raises(tfckpt.CorruptionError, match="the server sent"):
                ckpt.read_many([name, *NAMES])


def test_persistent_fault_on_the_index(http_server: Any, ckpt_url: Any) -> None:
    url, _ = ckpt_url
    http_server.inject(Fault("status", status=503, path=".index", times=None, ranged_only=False))
    with pytest.raises(tfckpt.RemoteError, match=r"ckpt\.index.*503"):
        tfckpt.open(url)


@pytest.mark.parametrize("kind", ["corrupt", "other-bytes"])
def test_wrong_bytes_of_the_right_length_are_caught_by_checksums(http_server: Any, ckpt_url: Any, kind: str) -> None:
    url, _ = ckpt_url
    http_server.inject(Fault(kind, times=None))
    with pytest.raises(tfckpt.CorruptionError, match="checksum mismatch") as info:
        read_one(url, "b")
    assert info.value.tensor == "b" and info.value.offset == 65536
    with tfckpt.open(url) as ckpt, pytest.raises(tfckpt.CorruptionError, match="checksum mismatch"):
        ckpt.read_many(list(NAMES))


def test_truncated_object_is_reported_without_retries(http_server: Any, ckpt_url: Any, tmp_path: Path) -> None:
    """A shard shorter than the index says: the range really is past the end, so no retry."""
    url, tensors = ckpt_url
    root = Path(http_server.root) / "truncated"
    tfckpt.save(root / "ckpt", tensors)
    shard = root / "ckpt.data-00000-of-00001"
    shard.write_bytes(shard.read_bytes()[: 100_000])
    http_server.reset()
    with pytest.raises(tfckpt.CorruptionError, match="past the end of the shard"):
        read_one(f"{http_server.url}/truncated/ckpt", "b")
    assert len(data_gets(http_server)) == 1


def test_a_failing_server_is_reported_once_per_batch(http_server: Any, ckpt_url: Any) -> None:
    """read_many does not retry every tensor alone after the batch's retries are spent."""
    url, _ = ckpt_url
    with tfckpt.open(url) as ckpt:
        http_server.inject(Fault("status", status=503, times=None))
        with pytest.raises(tfckpt.RemoteError, match="503"):
            ckpt.read_many(list(NAMES))
    assert len(data_gets(http_server)) == _fsspec.RETRIES + 1


def test_a_cut_index_is_corruption_not_a_crash(http_server: Any, ckpt_url: Any) -> None:
    """An index served short with an honest length cannot be told from a truncated file."""
    url, _ = ckpt_url
    http_server.inject(Fault("short", path=".index", times=None, ranged_only=False))
    with pytest.raises(tfckpt.CorruptionError, match=r"ckpt\.index"):
        tfckpt.open(url)


def test_cli_verify_reports_a_failing_server(http_server: Any, ckpt_url: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from tfckpt.cli import main

    url, _ = ckpt_url
    http_server.inject(Fault("status", status=503, times=None))
    assert main(["verify", url]) == 2
    err = capsys.readouterr().err
    assert f"{url}.data-00000-of-00001 bytes [0, 196608)" in err and "503" in err and "after 4 attempts" in err
    http_server.reset()
    http_server.inject(Fault("status", status=503, times=2))
    assert main(["verify", url]) == 0  # retried through
