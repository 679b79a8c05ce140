"""Reading over HTTP from a server that honours Range and counts what it sends."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tfckpt

FIXTURES = Path(__file__).parent.parent / "fixtures"


@pytest.fixture()
def big(http_server: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, np.ndarray]]:
    """Eight 1 MiB tensors under the server's root; returns (directory URL, tensors)."""
    rng = np.random.default_rng(0)
    tensors = {f"layer{i}/kernel": rng.standard_normal((512, 512)).astype(np.float32) for i in range(8)}
    root = Path(http_server.root) / "big"
    if not root.exists():
        tfckpt.save(root / "model.ckpt-5", tensors)
        tfckpt.update_checkpoint_state(root, str(root / "model.ckpt-5"))
    return f"{http_server.url}/big", tensors


def test_one_tensor_transfers_the_index_and_its_bytes_only(http_server: Any, big: tuple[str, dict[str, np.ndarray]]) -> None:
    url, tensors = big
    root = Path(http_server.root) / "big"
    index_size = (root / "model.ckpt-5.index").stat().st_size
    http_server.reset()
    with tfckpt.open(f"{url}/model.ckpt-5") as ckpt:
        assert np.array_equal(ckpt["layer3/kernel"], tensors["layer3/kernel"])
    tensor_size = tensors["layer3/kernel"].nbytes
    assert http_server.sent == index_size + tensor_size  # no read-ahead at all
    gets = [entry for entry in http_server.log if entry[0] == "GET"]
    assert [g[1] for g in gets] == ["/big/model.ckpt-5.index", "/big/model.ckpt-5.data-00000-of-00001"]
    assert gets[0][2] is None  # the index in one request


def test_state_file_and_prefix_need_no_listing(http_server: Any, big: tuple[str, dict[str, np.ndarray]]) -> None:
    url, tensors = big
    for path in (f"{url}/checkpoint", f"{url}/model.ckpt-5", f"{url}/model.ckpt-5.index"):
        http_server.reset()
        with tfckpt.open(path) as ckpt:
            assert ckpt.prefix == f"{url}/model.ckpt-5"
            assert ckpt.shape("layer0/kernel") == (512, 512)
        requested = {entry[1] for entry in http_server.log}
        assert "/big/" not in requested and "/big" not in requested, path  # never a directory


def test_read_many_fetches_neighbours_as_one_range(http_server: Any, big: tuple[str, dict[str, np.ndarray]]) -> None:
    url, tensors = big
    with tfckpt.open(f"{url}/model.ckpt-5") as ckpt:
        http_server.reset()
        got = ckpt.read_many(list(tensors))
    assert all(np.array_equal(got[n], tensors[n]) for n in tensors)
    ranged = [entry for entry in http_server.log if entry[0] == "GET"]
    assert [entry[2] for entry in ranged] == ["bytes=0-8388607"]  # 8 contiguous tensors: one run, one request
    assert http_server.sent == sum(t.nbytes for t in tensors.values())


def test_read_many_with_gaps_and_parts(http_server: Any, monkeypatch: pytest.MonkeyPatch, big: tuple[str, Any]) -> None:
    from tfckpt.storage import _fsspec

    url, tensors = big
    monkeypatch.setattr(_fsspec, "PART_SIZE", 1 << 19)
    wanted = ["layer0/kernel", "layer1/kernel", "layer5/kernel"]  # 0 and 1 adjacent, then a gap of 3 MiB
    with tfckpt.open(f"{url}/model.ckpt-5") as ckpt:
        http_server.reset()
        got = ckpt.read_many(wanted)
    assert all(np.array_equal(got[n], tensors[n]) for n in wanted)
    ranges = sorted(entry[2] for entry in http_server.log if entry[0] == "GET")
    assert len(ranges) == 6  # 2 MiB run + 1 MiB run, in 512 KiB parts, all requested at once
    assert http_server.sent == 3 << 20


def test_large_tensor_arrives_in_parts(http_server: Any, monkeypatch: pytest.MonkeyPatch, big: tuple[str, Any]) -> None:
    from tfckpt.storage import _fsspec

    url, tensors = big
    monkeypatch.setattr(_fsspec, "PART_SIZE", 100_000)
    with tfckpt.open(f"{url}/model.ckpt-5") as ckpt:
        http_server.reset()
        assert np.array_equal(ckpt["layer1/kernel"], tensors["layer1/kernel"])
    parts = [entry for entry in http_server.log if entry[0] == "GET"]
    nbytes = tensors["layer1/kernel"].nbytes
    assert nbytes > _fsspec.MAX_PARTS_PER_RUN * 100_000  # so the cap on parts per run applies
    assert len(parts) == _fsspec.MAX_PARTS_PER_RUN
    assert http_server.sent == nbytes


def test_small_parts_up_to_the_cap(http_server: Any, monkeypatch: pytest.MonkeyPatch, big: tuple[str, Any]) -> None:
    from tfckpt.storage import _fsspec

    url, tensors = big
    nbytes = tensors["layer1/kernel"].nbytes
    monkeypatch.setattr(_fsspec, "PART_SIZE", nbytes // 3 + 1)
    with tfckpt.open(f"{url}/model.ckpt-5") as ckpt:
        http_server.reset()
        assert np.array_equal(ckpt["layer1/kernel"], tensors["layer1/kernel"])
    assert len([entry for entry in http_server.log if entry[0] == "GET"]) == 3  # below the cap: PART_SIZE rules


def test_tf_written_fixture_over_http(http_server: Any) -> None:
    root = Path(http_server.root) / "multi_shard"
    shutil.copytree(FIXTURES / "multi_shard", root, dirs_exist_ok=True)
    with tfckpt.open(f"{http_server.url}/multi_shard/checkpoint") as ckpt, tfckpt.open(FIXTURES / "multi_shard") as local:
        assert list(ckpt) == list(local)
        for name in local:
            assert np.array_equal(ckpt[name], local[name])


def test_truncated_remote_shard_is_corruption(http_server: Any, tmp_path: Path) -> None:
    root = Path(http_server.root) / "trunc"
    tfckpt.save(root / "m", {"a": np.arange(100, dtype=np.float32)})
    data = root / "m.data-00000-of-00001"
    os.truncate(data, 200)
    with tfckpt.open(f"{http_server.url}/trunc/m") as ckpt, pytest.raises(tfckpt.CorruptionError, match="run past the end"):
        ckpt["a"]


def test_cli_over_http(http_server: Any, big: tuple[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    from tfckpt.cli import main

    url, _ = big
    assert main(["ls", f"{url}/model.ckpt-5"]) == 0
    assert f"{url}/model.ckpt-5 (V2): 8 tensors" in capsys.readouterr().out
    http_server.reset()
    assert main(["verify", f"{url}/checkpoint"]) == 0
    assert "all 8 tensor checksums verified" in capsys.readouterr().out
    data_gets = [e for e in http_server.log if e[0] == "GET" and ".data-" in e[1]]
    assert len(data_gets) == 1  # the 8 tensors fetched together, not one request each
    assert main(["latest", url]) == 0
    assert capsys.readouterr().out.strip() == f"{url}/model.ckpt-5"
