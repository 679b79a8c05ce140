"""Where checkpoints live besides plain directories: SavedModels, archives, non-paths.

(URLs are tested against real servers in tests/remote.)
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tfckpt
from tfckpt.cli import main

FIXTURES = Path(__file__).parent / "fixtures"
SAVED_MODEL = FIXTURES / "saved_model" / "model"
BERT = Path(__file__).parent.parent / "examples" / "bert_tiny"


def _matches_tf(ckpt: tfckpt.Checkpoint) -> None:
    readings = json.loads((FIXTURES / "saved_model" / "readings.json").read_text())["tensors"]
    assert sorted(ckpt) == sorted(readings)
    for name, want in readings.items():
        assert ckpt.dtype(name) == want["dtype"] and list(ckpt.shape(name)) == want["shape"]
        if "values" in want:
            assert ckpt[name].ravel().tolist() == want["values"]


@pytest.mark.parametrize("path", [SAVED_MODEL, SAVED_MODEL / "saved_model.pb", str(SAVED_MODEL) + "/"])
def test_saved_model_opens_its_variables(path: Path) -> None:
    with tfckpt.open(path) as ckpt:
        assert ckpt.prefix == str(SAVED_MODEL / "variables" / "variables")
        assert ckpt.saved_model is not None and Path(ckpt.saved_model) == SAVED_MODEL
        _matches_tf(ckpt)
    with tfckpt.open(SAVED_MODEL / "variables") as plain:  # the variables directory itself: a checkpoint
        assert plain.saved_model is None


def test_tf1_hub_module_opens_its_variables(tmp_path: Path) -> None:
    shutil.copytree(SAVED_MODEL / "variables", tmp_path / "variables")
    (tmp_path / "tfhub_module.pb").write_bytes(b"\x08\x03")  # the marker's content is not read
    with tfckpt.open(tmp_path / "tfhub_module.pb") as ckpt:
        _matches_tf(ckpt)
        assert ckpt.saved_model == str(tmp_path)


def test_saved_model_without_variables_says_so(tmp_path: Path) -> None:
    shutil.copy(SAVED_MODEL / "saved_model.pb", tmp_path)
    with pytest.raises(tfckpt.NotFoundError, match="SavedModel without variables/variables.index"):
        tfckpt.open(tmp_path)


def test_cli_says_it_is_a_saved_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ls", str(SAVED_MODEL)]) == 0
    assert f"(V2, the variables of the SavedModel {SAVED_MODEL}): 3 tensors" in capsys.readouterr().out
    assert main(["verify", str(SAVED_MODEL / "saved_model.pb")]) == 0
    assert "the variables of the SavedModel" in capsys.readouterr().out


@pytest.mark.parametrize("value", [io.BytesIO(b"x"), 3, None, [str(BERT)]])
def test_non_path_is_invalid_argument(value: object) -> None:
    with pytest.raises(tfckpt.InvalidArgumentError, match="a checkpoint is several files"):
        tfckpt.open(value)  # type: ignore[arg-type]


def test_storage_options_with_a_local_path_is_invalid() -> None:
    with pytest.raises(tfckpt.InvalidArgumentError, match="storage_options apply to URLs"):
        tfckpt.open(BERT, storage_options={"anon": True})


# -- archives ---------------------------------------------------------------------------------


def _zip(path: Path, compression: int, root: str = "uncased_L-2_H-32") -> Path:
    with zipfile.ZipFile(path, "w", compression) as z:
        for f in sorted(BERT.iterdir()):
            z.write(f, f"{root}/{f.name}")
    return path


def _tar(path: Path, mode: str) -> Path:
    with tarfile.open(path, mode) as t:
        t.add(BERT, "bert")
    return path


def _same_as_bert(ckpt: tfckpt.Checkpoint) -> None:
    with tfckpt.open(BERT) as local:
        assert list(ckpt) == list(local)
        for name in local:
            assert np.array_equal(ckpt[name], local[name]), name


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_zip_as_published(tmp_path: Path, compression: int) -> None:
    archive = _zip(tmp_path / "uncased_L-2_H-32.zip", compression)
    for path in (archive, archive / "uncased_L-2_H-32", archive / "uncased_L-2_H-32" / "bert_model.ckpt",
                 archive / "uncased_L-2_H-32" / "bert_model.ckpt.index"):
        with tfckpt.open(path) as ckpt:
            assert ckpt.prefix == f"{archive}/uncased_L-2_H-32/bert_model.ckpt"
            _same_as_bert(ckpt)
    assert sorted(os.listdir(tmp_path)) == ["uncased_L-2_H-32.zip"]  # nothing extracted


def test_stored_zip_member_is_a_view_of_the_archive(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "b.zip", zipfile.ZIP_STORED)
    with tfckpt.open(archive) as ckpt:
        arr = ckpt["bert/embeddings/word_embeddings"]
        assert not arr.flags.owndata and not arr.flags.writeable


@pytest.mark.parametrize(("name", "mode"), [("b.tar", "w"), ("b.tar.gz", "w:gz"), ("b.tgz", "w:gz")])
def test_tar_archives(tmp_path: Path, name: str, mode: str) -> None:
    archive = _tar(tmp_path / name, mode)
    with tfckpt.open(archive) as ckpt:
        assert ckpt.prefix == f"{archive}/bert/bert_model.ckpt"
        _same_as_bert(ckpt)


def test_archive_with_several_checkpoints_lists_them(tmp_path: Path) -> None:
    archive = tmp_path / "two.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for d in ("cased", "uncased"):
            for f in sorted(BERT.iterdir()):
                z.write(f, f"{d}/{f.name}")
    with pytest.raises(tfckpt.InvalidArgumentError, match=f"pass one of: {archive}/cased, {archive}/uncased"):
        tfckpt.open(archive)
    with tfckpt.open(archive / "uncased") as ckpt:
        _same_as_bert(ckpt)


def test_archive_without_checkpoint_and_bad_archive(tmp_path: Path) -> None:
    empty = tmp_path / "e.zip"
    with zipfile.ZipFile(empty, "w") as z:
        z.writestr("README", "no checkpoint here")
    with pytest.raises(tfckpt.NotFoundError, match="no checkpoint"):
        tfckpt.open(empty)
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(tfckpt.CorruptionError, match="cannot read the archive"):
        tfckpt.open(bad)


def test_saved_model_in_an_archive(tmp_path: Path) -> None:
    archive = tmp_path / "sm.tar.gz"
    with tarfile.open(archive, "w:gz") as t:
        t.add(SAVED_MODEL, "1")
    with tfckpt.open(archive) as ckpt:
        assert ckpt.saved_model == f"{archive}/1"
        _matches_tf(ckpt)


def test_fsspec_zip_url(tmp_path: Path) -> None:
    pytest.importorskip("fsspec")
    archive = _zip(tmp_path / "b.zip", zipfile.ZIP_DEFLATED)
    with tfckpt.open(f"zip://uncased_L-2_H-32/bert_model.ckpt::file://{archive}") as ckpt:
        _same_as_bert(ckpt)


def test_file_url_is_the_local_file(tmp_path: Path) -> None:
    pytest.importorskip("fsspec")
    with tfckpt.open(f"file://{BERT.resolve()}") as ckpt:
        assert not ckpt["bert/embeddings/word_embeddings"].flags.owndata  # mapped, as a path
        _same_as_bert(ckpt)
    out = tfckpt.save(f"file://{tmp_path}/m", {"a": np.ones(2, np.float32)})
    assert out == f"{tmp_path}/m" and (tmp_path / "m.index").is_file()


def test_memory_url_roundtrip() -> None:
    fsspec = pytest.importorskip("fsspec")
    fs = fsspec.filesystem("memory")
    for f in BERT.iterdir():
        fs.pipe_file(f"/tfckpt-test/{f.name}", f.read_bytes())
    try:
        with tfckpt.open("memory://tfckpt-test") as ckpt:
            _same_as_bert(ckpt)
            assert ckpt.read_many(["global_step"])["global_step"] == 1000
        with tfckpt.open("simplecache::memory://tfckpt-test/bert_model.ckpt") as ckpt:
            _same_as_bert(ckpt)
    finally:
        fs.rm("/tfckpt-test", recursive=True)


@pytest.mark.parametrize(("path", "url"), [
    ("s3://bucket/k", True), ("gs://t5-data/x", True), ("https://h/x", True), ("simplecache::s3://b/k", True),
    ("file:///tmp/x", True), ("C:\\\\ckpt\\\\model", False), ("run/model.ckpt-1", False), ("/abs/x.zip/y", False),
])
def test_is_url(path: str, url: bool) -> None:
    from tfckpt.storage import is_url

    assert is_url(path) is url


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="aZ9+.-:/\\_ é", max_size=12))
def test_is_url_is_the_url_regex(path: str) -> None:
    """``is_url``'s string tests say what the regex it replaced said (fsspec's URL forms)."""
    import re

    from tfckpt.storage import is_url

    assert is_url(path) is bool(re.search(r"^[A-Za-z][A-Za-z0-9+.-]+://|::", path))


def test_archive_names_any_case(tmp_path: Path) -> None:
    from tfckpt.storage import split_archive

    for name in ("m.ZIP", "m.Tar.Gz", "m.tgz", "m.tar"):
        (tmp_path / name).write_bytes(b"")
        assert split_archive(f"{tmp_path / name}/x") == (str(tmp_path / name), "x")
    (tmp_path / "m.gz").write_bytes(b"")
    assert split_archive(f"{tmp_path / 'm.gz'}/x") is None


def test_split_archive(tmp_path: Path) -> None:
    from tfckpt.storage import split_archive

    archive = _zip(tmp_path / "a.zip", zipfile.ZIP_STORED)
    assert split_archive(str(archive)) == (str(archive), "")
    assert split_archive(f"{archive}/d/m.ckpt") == (str(archive), "d/m.ckpt")
    assert split_archive(str(tmp_path / "missing.zip" / "m")) is None  # not an existing file
    (tmp_path / "dir.zip").mkdir()
    assert split_archive(str(tmp_path / "dir.zip" / "m")) is None  # a directory named like an archive


def test_checkpoint_manager_on_a_file_url(tmp_path: Path) -> None:
    manager = tfckpt.CheckpointManager(f"file://{tmp_path}/run", max_to_keep=1)
    manager.save({"step": np.int64(1)})
    manager.save({"step": np.int64(2)})
    assert sorted(os.listdir(tmp_path / "run")) == ["checkpoint", "ckpt-2.data-00000-of-00001", "ckpt-2.index"]


def test_writable_from_archives_and_urls(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "b.zip", zipfile.ZIP_STORED)
    with tfckpt.open(archive, writable=True) as ckpt:
        arr = ckpt["bert/embeddings/word_embeddings"]
        arr[0, 0] = 42.0  # a private copy: the archive never changes
    with tfckpt.open(archive) as ckpt:
        assert ckpt["bert/embeddings/word_embeddings"][0, 0] != 42.0
    fsspec = pytest.importorskip("fsspec")
    fs = fsspec.filesystem("memory")
    for f in BERT.iterdir():
        fs.pipe_file(f"/tfckpt-w/{f.name}", f.read_bytes())
    try:
        with tfckpt.open("memory://tfckpt-w", writable=True) as ckpt:
            assert ckpt["bert/embeddings/word_embeddings"].flags.writeable
        with tfckpt.open("memory://tfckpt-w") as ckpt:
            assert not ckpt["bert/embeddings/word_embeddings"].flags.writeable
    finally:
        fs.rm("/tfckpt-w", recursive=True)
