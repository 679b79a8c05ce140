"""tfckpt.merge and tfckpt.average on an S3-compatible server (moto, on loopback): the results
are byte-identical to the same operations on local files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tfckpt
from tfckpt.storage._fsspec import FsspecStore

from .test_s3 import Remote, _fs, _upload


def _objects(url: str, options: dict[str, Any]) -> dict[str, bytes]:
    fs = _fs(options)
    try:
        listed = fs.ls(url)
    except FileNotFoundError:  # no object under this prefix
        return {}
    return {p.rsplit("/", 1)[-1]: fs.cat_file(p) for p in listed if fs.isfile(p)}


def _files(directory: Path, base: str) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.name.startswith(base + ".")}


def _parts(root: Path) -> list[str]:
    """Three workers' parts: a partitioned variable split across them, several shards."""
    rng = np.random.default_rng(3)
    full = rng.normal(size=(9, 4)).astype(np.float32)
    prefixes = []
    for i in range(3):
        prefix = root / f"part-{i:05d}-of-00003"
        with tfckpt.Writer(prefix, partial=True, max_shard_size=64) as w:
            w.add_slice("emb", full[3 * i : 3 * i + 3], full_shape=(9, 4), start=(3 * i, 0))
            w.add(f"layer_{i}/kernel", rng.normal(size=(5, 3)).astype(np.float32))
            w.add(f"layer_{i}/step", np.int64(i))
        prefixes.append(str(prefix))
    return prefixes


@pytest.fixture()
def local_merge(tmp_path: Path) -> tuple[list[str], dict[str, bytes]]:
    parts = _parts(tmp_path / "parts")
    tfckpt.merge(parts, tmp_path / "local" / "model.ckpt-1")
    return parts, _files(tmp_path / "local", "model.ckpt-1")


def test_merge_on_s3_copies_server_side_and_matches_a_local_merge(
    s3: Remote, tmp_path: Path, local_merge: tuple[list[str], dict[str, bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, options = s3
    parts, want = local_merge
    _upload(tmp_path / "parts", f"{url}/run/model.ckpt-1_temp", options)
    remote_parts = [f"{url}/run/model.ckpt-1_temp/{Path(p).name}" for p in parts]
    uploads: list[str] = []
    put_file = FsspecStore.put_file

    def recording(self: FsspecStore, path: str, local_file: str) -> None:
        uploads.append(path.rsplit("/", 1)[-1])
        put_file(self, path, local_file)

    monkeypatch.setattr(FsspecStore, "put_file", recording)
    out = tfckpt.merge(remote_parts, f"{url}/run/model.ckpt-1", storage_options=options)
    assert out == f"{url}/run/model.ckpt-1"
    assert uploads == ["model.ckpt-1.index"]  # the data objects were copied by the server, not uploaded
    got = {k: v for k, v in _objects(f"{url}/run", options).items() if k.startswith("model.ckpt-1.")}
    assert got == want and len(want) > 4  # index and every data object, byte for byte
    with tfckpt.open(out, storage_options=options) as ckpt, tfckpt.open(tmp_path / "local" / "model.ckpt-1") as local:
        assert list(ckpt) == list(local)
        for name in local:
            assert np.array_equal(ckpt[name], local[name]), name


def test_merge_between_local_files_and_s3_both_ways(
    s3: Remote, tmp_path: Path, local_merge: tuple[list[str], dict[str, bytes]]
) -> None:
    url, options = s3
    parts, want = local_merge
    tfckpt.merge(parts, f"{url}/up/model.ckpt-1", storage_options=options)  # local parts, uploaded
    assert _objects(f"{url}/up", options) == want
    _upload(tmp_path / "parts", f"{url}/parts", options)
    remote_parts = [f"{url}/parts/{Path(p).name}" for p in parts]
    down = tmp_path / "down" / "model.ckpt-1"
    tfckpt.merge(remote_parts, down, storage_options=options)  # remote parts, downloaded
    assert _files(down.parent, "model.ckpt-1") == want


def test_failed_copy_leaves_no_index_and_no_data(s3: Remote, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url, options = s3
    parts = _parts(tmp_path / "parts")
    _upload(tmp_path / "parts", f"{url}/parts", options)
    remote_parts = [f"{url}/parts/{Path(p).name}" for p in parts]
    copy_from = FsspecStore.copy_from
    calls: list[str] = []

    def failing_second(self: FsspecStore, path: str, source: Any, source_path: str) -> None:
        calls.append(path)
        if len(calls) == 2:
            raise ConnectionError("network down")
        copy_from(self, path, source, source_path)

    monkeypatch.setattr(FsspecStore, "copy_from", failing_second)
    with pytest.raises(ConnectionError):
        tfckpt.merge(remote_parts, f"{url}/out/m", storage_options=options)
    assert _objects(f"{url}/out", options) == {}  # the first copy deleted again, no index
    assert len(_objects(f"{url}/parts", options)) == len(list((tmp_path / "parts").iterdir()))  # inputs untouched


def test_merge_delete_inputs_removes_the_remote_parts(s3: Remote, tmp_path: Path) -> None:
    url, options = s3
    parts = _parts(tmp_path / "parts")
    _upload(tmp_path / "parts", f"{url}/parts", options)
    remote_parts = [f"{url}/parts/{Path(p).name}" for p in parts]
    tfckpt.merge(remote_parts, f"{url}/m/model", delete_inputs=True, storage_options=options)
    assert _objects(f"{url}/parts", options) == {}
    with tfckpt.open(f"{url}/m/model", storage_options=options) as ckpt:
        assert ckpt["emb"].shape == (9, 4)


def _run(root: Path) -> list[str]:
    rng = np.random.default_rng(5)
    paths = []
    for i in range(3):
        p = str(root / f"model.ckpt-{(i + 1) * 100}")
        tfckpt.save(p, {"w": rng.normal(size=(70, 33)).astype(np.float32), "global_step": np.int64((i + 1) * 100)})
        paths.append(p)
    tfckpt.update_checkpoint_state(str(root), paths[-1], all_model_checkpoint_paths=paths)
    return paths


def test_average_of_a_remote_run_into_s3_matches_a_local_average(s3: Remote, tmp_path: Path) -> None:
    url, options = s3
    paths = _run(tmp_path / "run")
    tfckpt.average(paths[-2:], tmp_path / "avg" / "model.ckpt-300")
    _upload(tmp_path / "run", f"{url}/run", options)
    out = tfckpt.average(f"{url}/run", f"{url}/avg/model.ckpt-300", last=2, storage_options=options)
    assert out == f"{url}/avg/model.ckpt-300"
    assert _objects(f"{url}/avg", options) == _files(tmp_path / "avg", "model.ckpt-300")


def test_cli_merge_and_average_on_urls(s3: Remote, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    import fsspec.config

    from tfckpt.cli import main

    monkeypatch.setattr(fsspec.config, "conf", {})  # what --storage-option sets, undone afterwards
    url, options = s3
    flags = [arg for key, value in options.items() for arg in ("--storage-option", f"{key}={value}")]
    parts = _parts(tmp_path / "parts")
    _upload(tmp_path / "parts", f"{url}/parts", options)
    remote_parts = [f"{url}/parts/{Path(p).name}" for p in parts]
    assert main(["merge", *remote_parts, f"{url}/m/model", *flags]) == 0
    assert f"wrote {url}/m/model" in capsys.readouterr().out
    _run(tmp_path / "run")
    _upload(tmp_path / "run", f"{url}/run", options)
    assert main(["average", f"{url}/run", f"{url}/avg/ckpt-3", "--last", "2", *flags]) == 0
    assert f"the average of 2 checkpoints" in capsys.readouterr().out
