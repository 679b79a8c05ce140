"""Reading and writing checkpoints on an S3-compatible server (moto, on loopback)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tfckpt
from tfckpt.storage._fsspec import FsspecStore

FIXTURES = Path(__file__).parent.parent / "fixtures"
Remote = tuple[str, dict[str, Any]]


def _fs(options: dict[str, Any]) -> Any:
    import s3fs

    return s3fs.S3FileSystem(skip_instance_cache=True, **options)


def _upload(local: Path, url: str, options: dict[str, Any]) -> None:
    fs = _fs(options)
    for f in sorted(local.iterdir()):
        fs.pipe_file(f"{url}/{f.name}", f.read_bytes())


def _same(ckpt: tfckpt.Checkpoint, local: tfckpt.Checkpoint) -> None:
    assert list(ckpt) == list(local)
    for name in local:
        got, want = ckpt[name], local[name]
        assert got.dtype == want.dtype and got.shape == want.shape, name
        assert np.array_equal(got, want) if got.dtype != object else list(got.flat) == list(want.flat), name


@pytest.mark.parametrize("form", ["dir", "dir/", "prefix", "index", "data", "state"])
def test_every_path_form_of_a_tf_written_checkpoint(s3: Remote, form: str) -> None:
    url, options = s3
    _upload(FIXTURES / "multi_shard", f"{url}/run", options)
    path = {
        "dir": f"{url}/run", "dir/": f"{url}/run/", "prefix": f"{url}/run/model.ckpt-7",
        "index": f"{url}/run/model.ckpt-7.index", "data": f"{url}/run/model.ckpt-7.data-00002-of-00004",
        "state": f"{url}/run/checkpoint",
    }[form]
    with tfckpt.open(path, storage_options=options) as ckpt, tfckpt.open(FIXTURES / "multi_shard") as local:
        assert ckpt.prefix == f"{url}/run/model.ckpt-7"
        _same(ckpt, local)


def test_directory_without_state_file_takes_the_newest(s3: Remote) -> None:
    url, options = s3
    _upload(FIXTURES / "no_state_file", f"{url}/d", options)
    with tfckpt.open(f"{url}/d", storage_options=options) as ckpt, tfckpt.open(FIXTURES / "no_state_file") as local:
        assert ckpt.prefix.removeprefix(f"{url}/d/") == Path(local.prefix).name
        _same(ckpt, local)


def test_read_many_matches_one_by_one_and_partitioned_variables(s3: Remote) -> None:
    url, options = s3
    _upload(FIXTURES / "partitioned", f"{url}/p", options)
    with tfckpt.open(f"{url}/p", storage_options=options) as ckpt, tfckpt.open(FIXTURES / "partitioned") as local:
        got = ckpt.read_many(list(ckpt))
        assert list(got) == list(local)
        for name in local:
            assert np.array_equal(got[name], local[name]), name
        with pytest.raises(tfckpt.NotFoundError):
            ckpt.read_many(["no/such/tensor"])


def test_corrupt_remote_tensor_fails_its_checksum(s3: Remote, tmp_path: Path) -> None:
    url, options = s3
    tfckpt.save(tmp_path / "m", {"a": np.arange(1000, dtype=np.float32), "b": np.ones(3, np.int64)})
    data = bytearray((tmp_path / "m.data-00000-of-00001").read_bytes())
    data[10] ^= 0xFF
    (tmp_path / "m.data-00000-of-00001").write_bytes(bytes(data))
    _upload(tmp_path, f"{url}/c", options)
    with tfckpt.open(f"{url}/c/m", storage_options=options) as ckpt:
        assert ckpt["b"].tolist() == [1, 1, 1]
        with pytest.raises(tfckpt.CorruptionError, match="checksum mismatch") as e:
            ckpt["a"]
        assert e.value.path == f"{url}/c/m.data-00000-of-00001"
        with pytest.raises(tfckpt.CorruptionError):
            ckpt.read_many(["a", "b"])


def test_missing_remote_checkpoint_is_not_found(s3: Remote) -> None:
    url, options = s3
    with pytest.raises(tfckpt.NotFoundError, match="no checkpoint found"):
        tfckpt.open(f"{url}/nothing/model.ckpt-1", storage_options=options)


def test_save_writes_data_objects_then_index_and_reads_back(s3: Remote, monkeypatch: pytest.MonkeyPatch) -> None:
    url, options = s3
    order: list[str] = []
    put_file = FsspecStore.put_file

    def recording(self: FsspecStore, path: str, local_file: str) -> None:
        order.append(path.rsplit("/", 1)[-1])
        put_file(self, path, local_file)

    monkeypatch.setattr(FsspecStore, "put_file", recording)
    tensors = {f"t{i}": np.full((100, 10), i, np.float32) for i in range(5)}
    out = tfckpt.save(f"{url}/w/model.ckpt-1", tensors, max_shard_size=8000, storage_options=options)
    assert out == f"{url}/w/model.ckpt-1"
    assert order[-1] == "model.ckpt-1.index" and len(order) == 4  # three data objects first
    with tfckpt.open(out, storage_options=options) as ckpt:
        assert {n: ckpt[n].tolist() for n in ckpt} == {n: v.tolist() for n, v in tensors.items()}


def test_failed_upload_leaves_no_index_and_no_data(s3: Remote, monkeypatch: pytest.MonkeyPatch) -> None:
    url, options = s3
    put_file = FsspecStore.put_file

    def failing_on_index(self: FsspecStore, path: str, local_file: str) -> None:
        if path.endswith(".index"):
            raise ConnectionError("network down")
        put_file(self, path, local_file)

    monkeypatch.setattr(FsspecStore, "put_file", failing_on_index)
    with pytest.raises(ConnectionError):
        tfckpt.save(f"{url}/f/model.ckpt-1", {"a": np.ones(4, np.float32)}, storage_options=options)
    fs = _fs(options)
    assert not fs.exists(f"{url}/f/model.ckpt-1.index")
    assert not fs.exists(f"{url}/f/model.ckpt-1.data-00000-of-00001")  # deleted again after the failure


def test_failed_write_uploads_nothing(s3: Remote) -> None:
    url, options = s3
    with pytest.raises(tfckpt.InvalidArgumentError), tfckpt.Writer(f"{url}/g/m", storage_options=options) as w:
        w.add("a", np.ones(4, np.float32))
        w.add("a", np.ones(4, np.float32))  # a duplicate name
    assert not _fs(options).exists(f"{url}/g/m.index")
    assert not _fs(options).exists(f"{url}/g/m.data-00000-of-00001")


def test_rewrite_with_fewer_shards_deletes_the_old_data_objects(s3: Remote) -> None:
    url, options = s3
    big = {f"t{i}": np.full(1000, i, np.float32) for i in range(3)}
    tfckpt.save(f"{url}/r/m", big, max_shard_size=4000, storage_options=options)
    tfckpt.save(f"{url}/r/m", {"x": np.int64(3)}, storage_options=options)
    names = sorted(p.rsplit("/", 1)[-1] for p in _fs(options).ls(f"{url}/r"))
    assert names == ["m.data-00000-of-00001", "m.index"]


def test_checkpoint_manager_rotates_objects(s3: Remote) -> None:
    url, options = s3
    manager = tfckpt.CheckpointManager(f"{url}/run", max_to_keep=2, storage_options=options)
    for step in range(4):
        manager.save({"step": np.int64(step)})
    names = sorted(p.rsplit("/", 1)[-1] for p in _fs(options).ls(f"{url}/run"))
    assert names == ["checkpoint", "ckpt-3.data-00000-of-00001", "ckpt-3.index", "ckpt-4.data-00000-of-00001", "ckpt-4.index"]
    state = tfckpt.get_checkpoint_state(f"{url}/run", storage_options=options)
    assert state is not None and state.model_checkpoint_path == f"{url}/run/ckpt-4"
    with tfckpt.open(f"{url}/run", storage_options=options) as ckpt:
        assert ckpt["step"] == 3
    again = tfckpt.CheckpointManager(f"{url}/run", max_to_keep=2, storage_options=options)
    assert again.save({"step": np.int64(9)}) == f"{url}/run/ckpt-5"


def test_conversion_writes_to_a_url(s3: Remote, monkeypatch: pytest.MonkeyPatch) -> None:
    url, options = s3
    # Functions without a storage_options parameter take fsspec's configuration, as users set it.
    import fsspec.config

    monkeypatch.setitem(fsspec.config.conf, "s3", dict(options))
    _upload(FIXTURES / "tf1_saver", f"{url}/tf1", options)
    out = tfckpt.convert_tf1_to_tf2(f"{url}/tf1", f"{url}/tf2/ckpt-1")
    with tfckpt.open(out) as converted, tfckpt.open(FIXTURES / "tf1_saver") as local:
        assert converted.object_graph is not None
        assert len(converted.variables()) > 0
        for name, key in converted.variables().items():
            if name in local:
                assert np.array_equal(converted[key], local[name])


def test_cli_takes_urls_and_storage_options(s3: Remote, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    import fsspec.config

    from tfckpt.cli import main

    monkeypatch.setattr(fsspec.config, "conf", {})  # what --storage-option sets, undone afterwards
    url, options = s3
    _upload(FIXTURES / "multi_shard", f"{url}/run", options)
    flags = [arg for key, value in options.items() for arg in ("--storage-option", f"{key}={value}")]
    assert main(["ls", f"{url}/run", *flags]) == 0
    assert f"{url}/run/model.ckpt-7 (V2)" in capsys.readouterr().out
    assert main(["verify", f"{url}/run/model.ckpt-7", *flags]) == 0
    assert main(["show", f"{url}/run", "global_step", *flags]) == 0
    out = tmp_path / "m.safetensors"
    assert main(["convert", f"{url}/run", str(out), "--to", "safetensors", *flags]) == 0
    assert out.is_file()
    assert main(["convert", f"{url}/run", f"{url}/tf2/ckpt-1", "--to", "tf2", *flags]) == 0
    assert main(["latest", f"{url}/run", *flags]) == 0
    capsys.readouterr()
    assert main(["ls", str(FIXTURES / "multi_shard"), "--storage-option", "anon=true"]) == 2
    assert "no argument is a URL" in capsys.readouterr().err
