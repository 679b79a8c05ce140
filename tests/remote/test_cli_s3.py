"""The command line writing to URLs on an S3-compatible server (moto, on loopback):
``convert --to npz|safetensors`` and ``state --fix|--set``, checked against the same commands
on local files."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import tfckpt
from tfckpt.cli import main

from .test_s3 import FIXTURES, Remote, _fs, _upload

Cli = Callable[..., int]


@pytest.fixture()
def cli(s3: Remote, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """``main`` with the bucket's ``--storage-option`` flags appended."""
    import fsspec.config

    monkeypatch.setattr(fsspec.config, "conf", {})  # what --storage-option sets, undone afterwards
    flags = [arg for key, value in s3[1].items() for arg in ("--storage-option", f"{key}={value}")]
    return lambda *argv: main([*argv, *flags])


def test_convert_to_safetensors_url_uploads_one_object_equal_to_the_local_file(
    s3: Remote, cli: Cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    st = pytest.importorskip("safetensors.numpy")
    url, options = s3
    src = str(FIXTURES / "tf1_saver")
    assert main(["convert", src, str(tmp_path / "w.safetensors"), "--to", "safetensors", "--skip-optimizer"]) == 0
    capsys.readouterr()
    assert cli("convert", src, f"{url}/out/w.safetensors", "--to", "safetensors", "--skip-optimizer") == 0
    assert f"wrote {url}/out/w.safetensors:" in capsys.readouterr().out
    fs = _fs(options)
    assert fs.ls(f"{url}/out", detail=False) == [f"{url[len('s3://'):]}/out/w.safetensors"]
    uploaded = fs.cat_file(f"{url}/out/w.safetensors")
    assert uploaded == (tmp_path / "w.safetensors").read_bytes()
    tensors = st.load(uploaded)
    with tfckpt.open(src) as ckpt:
        assert tensors and set(tensors) <= set(ckpt)
        for name, arr in tensors.items():
            assert np.array_equal(arr, ckpt[name])


def test_convert_to_npz_url_reads_back_with_numpy(s3: Remote, cli: Cli, capsys: pytest.CaptureFixture[str]) -> None:
    url, options = s3
    _upload(FIXTURES / "multi_shard", f"{url}/run", options)  # a remote source too
    assert cli("convert", f"{url}/run", f"{url}/w.npz", "--to", "npz", "--compress") == 0
    assert f"wrote {url}/w.npz:" in capsys.readouterr().out
    with np.load(io.BytesIO(_fs(options).cat_file(f"{url}/w.npz"))) as npz, tfckpt.open(FIXTURES / "multi_shard") as ckpt:
        assert sorted(npz.files) == sorted(ckpt)
        for name in ckpt:
            assert np.array_equal(npz[name], ckpt[name])


# -- tfckpt state on a bucket: the same files as the same commands on local copies ---------


def _local_state(tmp_path: Path, case: str, *argv: str, drop: str = "") -> bytes:
    """The state file ``tfckpt state DIR *argv`` leaves in a local copy of fixture ``case``."""
    import shutil

    local = tmp_path / "local" / case
    shutil.copytree(FIXTURES / case, local, ignore=shutil.ignore_patterns(f"{drop}.*") if drop else None)
    assert main(["state", str(local), *argv]) == 0
    return (local / "checkpoint").read_bytes()


def _put_case(url: str, options: dict[str, object], case: str, drop: str = "") -> None:
    fs = _fs(dict(options))
    for f in sorted((FIXTURES / case).iterdir()):
        if f.name != "expected.json" and not (drop and f.name.startswith(drop + ".")):
            fs.pipe_file(f"{url}/{f.name}", f.read_bytes())


def test_state_fix_writes_the_missing_state_file_of_a_published_model(
    s3: Remote, cli: Cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, options = s3
    run = f"{url}/pub"
    _put_case(run, options, "no_state_file")
    assert cli("state", run) == 1
    out = capsys.readouterr().out
    assert f"{run}/checkpoint does not exist" in out and "checkpoints here: ckpt-1" in out and f"tfckpt state {run} --fix" in out
    assert cli("state", run, "--fix") == 0
    assert f"wrote {run}/checkpoint:" in capsys.readouterr().out
    text = _fs(options).cat_file(f"{run}/checkpoint")
    assert text == b'model_checkpoint_path: "ckpt-1"\nall_model_checkpoint_paths: "ckpt-1"\n'
    assert text == _local_state(tmp_path, "no_state_file", "--fix")
    assert cli("state", f"{run}/") == 0
    assert "ckpt-1  (latest)  ok" in capsys.readouterr().out
    assert cli("state", run, "--fix") == 0
    assert "was already correct" in capsys.readouterr().out


def test_state_fix_rewrites_another_machines_absolute_paths_relative(
    s3: Remote, cli: Cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, options = s3
    run = f"{url}/moved"
    _put_case(run, options, "tf1_saver")
    assert cli("state", run) == 1
    out = capsys.readouterr().out
    assert f"moved: not at the recorded path; {run}/model.ckpt-7 is here" in out and "1 problem;" in out
    assert cli("state", run, "--fix") == 0
    text = _fs(options).cat_file(f"{run}/checkpoint")
    assert text == b'model_checkpoint_path: "model.ckpt-7"\nall_model_checkpoint_paths: "model.ckpt-7"\n'
    assert text == _local_state(tmp_path, "tf1_saver", "--fix")
    capsys.readouterr()
    assert cli("state", run) == 0
    assert cli("latest", run) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"{run}/model.ckpt-7"


def test_state_reports_missing_checkpoints_and_fix_drops_them(
    s3: Remote, cli: Cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, options = s3
    run = f"{url}/rot"
    _put_case(run, options, "manager_rotation", drop="ckpt-3")
    assert cli("state", run) == 1
    out = capsys.readouterr().out
    assert any(line.strip().startswith("ckpt-3") and line.endswith("MISSING") for line in out.splitlines())
    assert any(line.strip().startswith("ckpt-4") and line.endswith("ok") for line in out.splitlines())
    assert cli("state", run, "--fix") == 0
    assert "dropped ckpt-3: no such checkpoint" in capsys.readouterr().out
    assert _fs(options).cat_file(f"{run}/checkpoint") == _local_state(tmp_path, "manager_rotation", "--fix", drop="ckpt-3")


def test_state_set_matches_the_local_command(s3: Remote, cli: Cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, options = s3
    run = f"{url}/rot"
    _put_case(run, options, "manager_rotation")
    assert cli("state", run) == 0
    assert cli("state", run, "--set", "ckpt-3") == 0
    text = _fs(options).cat_file(f"{run}/checkpoint")
    assert text.startswith(b'model_checkpoint_path: "ckpt-3"\n')
    assert text == _local_state(tmp_path, "manager_rotation", "--set", "ckpt-3")
    assert cli("state", run, "--set", f"{run}/ckpt-4.index") == 0  # a URL, with a suffix
    assert _fs(options).cat_file(f"{run}/checkpoint").startswith(b'model_checkpoint_path: "ckpt-4"\n')
    capsys.readouterr()
    assert cli("state", run, "--set", "ckpt-9") == 2
    assert "no such checkpoint" in capsys.readouterr().err


def test_state_never_follows_a_path_outside_the_directory(s3: Remote, cli: Cli, capsys: pytest.CaptureFixture[str]) -> None:
    url, options = s3
    _put_case(f"{url}/other", options, "no_state_file")  # other/ckpt-1 exists, run/ has no ckpt-1
    _put_case(f"{url}/run", options, "tf1_saver")
    fs = _fs(options)
    fs.pipe_file(f"{url}/run/checkpoint", b'model_checkpoint_path: "../other/ckpt-1"\nall_model_checkpoint_paths: "../other/ckpt-1"\n')
    assert cli("state", f"{url}/run") == 1
    out = capsys.readouterr().out
    assert "../other/ckpt-1  (latest)  MISSING" in out and "not listed: model.ckpt-7" in out
    assert cli("state", f"{url}/run", "--fix") == 0
    assert fs.cat_file(f"{url}/run/checkpoint") == b'model_checkpoint_path: "model.ckpt-7"\nall_model_checkpoint_paths: "model.ckpt-7"\n'


def test_opening_a_url_directory_never_follows_a_state_path_outside_it(s3: Remote, monkeypatch: pytest.MonkeyPatch) -> None:
    """The library's side of the same rule: tfckpt.open and latest_checkpoint on the URL."""
    url, options = s3
    _put_case(f"{url}/other", options, "no_state_file")
    _put_case(f"{url}/run", options, "tf1_saver")
    _fs(options).pipe_file(f"{url}/run/checkpoint", b'model_checkpoint_path: "../other/ckpt-1"\n')
    with tfckpt.open(f"{url}/run", storage_options=options) as ckpt:
        assert ckpt.prefix.endswith("/run/model.ckpt-7")
    import fsspec.config

    monkeypatch.setattr(fsspec.config, "conf", {"s3": dict(options)})  # latest_checkpoint takes no storage_options
    assert tfckpt.latest_checkpoint(f"{url}/run") is None
    _fs(options).pipe_file(f"{url}/run/checkpoint", b'model_checkpoint_path: "model.ckpt-7"\n')
    assert tfckpt.latest_checkpoint(f"{url}/run") == f"{url}/run/model.ckpt-7"


def test_convert_to_url_uploads_nothing_when_a_tensor_fails_to_read(s3: Remote, cli: Cli, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    url, options = s3
    src = tmp_path / "damaged"
    shutil.copytree(FIXTURES / "multi_shard", src)
    data = src / "model.ckpt-7.data-00003-of-00004"
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    data.write_bytes(bytes(raw))
    assert cli("convert", str(src), f"{url}/w.safetensors", "--to", "safetensors") != 0
    assert "damaged" in capsys.readouterr().err
    assert not _fs(options).exists(f"{url}/w.safetensors")
    assert cli("convert", str(FIXTURES / "multi_shard"), f"{url}/out/", "--to", "npz") == 2
    assert "is a directory; --to npz writes one file" in capsys.readouterr().err
