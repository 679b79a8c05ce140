"""What ``tfckpt.open`` does with every kind of path: right ones, wrong ones, odd names."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import tfckpt

FIXTURES = Path(__file__).parent / "fixtures"


def _save(prefix: Path, value: float = 1.0) -> Path:
    tfckpt.save(prefix, {"w": np.full(2, value, np.float32)})
    return prefix


def _set_mtime(prefix: Path, t: float) -> None:
    os.utime(f"{prefix}.index", (t, t))


# -- the right files -------------------------------------------------------------------


def test_every_file_of_a_bundle_opens_it(tmp_path: Path) -> None:
    prefix = _save(tmp_path / "model.ckpt-5")
    paths: list[str | Path] = [prefix, f"{prefix}.index", f"{prefix}.data-00000-of-00001", tmp_path, str(prefix)]
    for path in paths:
        with tfckpt.open(path) as ckpt:
            assert ckpt.prefix == str(prefix) and ckpt["w"].tolist() == [1, 1]


def test_glob_metacharacters_are_literal(tmp_path: Path) -> None:
    d = tmp_path / "run[1]"
    prefix = _save(d / "ckpt-1", 3.0)
    _save(tmp_path / "run1" / "ckpt-1", 5.0)  # what the glob "run[1]" would match
    _save(d / "ckpt-?", 7.0)
    for path in [str(prefix), f"{prefix}.index", f"{prefix}.data-00000-of-00001"]:
        with tfckpt.open(path) as ckpt:
            assert ckpt.prefix == str(prefix) and ckpt["w"].tolist() == [3, 3]
    with tfckpt.open(d / "ckpt-?") as ckpt:
        assert ckpt["w"].tolist() == [7, 7]
    with pytest.raises(tfckpt.NotFoundError):
        tfckpt.open(d / "ckpt-*")


def test_directory_with_state_file(tmp_path: Path) -> None:
    a, b = _save(tmp_path / "ckpt-1", 1.0), _save(tmp_path / "ckpt-2", 2.0)
    tfckpt.update_checkpoint_state(tmp_path, str(a))
    _set_mtime(a, 1000)
    _set_mtime(b, 2000)
    with tfckpt.open(tmp_path) as ckpt:
        assert ckpt.prefix == str(a)  # the state file wins over the newer bundle
    with tfckpt.open(tmp_path / "checkpoint") as ckpt:
        assert ckpt.prefix == str(a)


def test_state_file_naming_a_missing_checkpoint_falls_back_to_newest(tmp_path: Path) -> None:
    a, b = _save(tmp_path / "ckpt-1"), _save(tmp_path / "ckpt-2")
    (tmp_path / "checkpoint").write_text('model_checkpoint_path: "ckpt-9"\nall_model_checkpoint_paths: "ckpt-9"\n')
    _set_mtime(a, 2000)
    _set_mtime(b, 1000)
    with tfckpt.open(tmp_path) as ckpt:
        assert ckpt.prefix == str(a)  # newest by index mtime, not by name
    assert tfckpt.latest_checkpoint(tmp_path) is None  # TF semantics stay strict


def test_unparsable_state_file_falls_back(tmp_path: Path) -> None:
    a = _save(tmp_path / "ckpt-3")
    (tmp_path / "checkpoint").write_bytes(b"\xff\x00 not a text proto {{{")
    with tfckpt.open(tmp_path) as ckpt:
        assert ckpt.prefix == str(a)


def test_temp_files_of_an_unfinished_save_are_not_bundles(tmp_path: Path) -> None:
    a = _save(tmp_path / "ckpt-1")
    _set_mtime(a, 1000)
    shutil.copy(f"{a}.index", tmp_path / "ckpt-2.index.tempstate123456")
    with tfckpt.open(tmp_path) as ckpt:
        assert ckpt.prefix == str(a)


# -- wrong files: errors that say what to pass -----------------------------------------


def test_meta_file_points_at_the_prefix() -> None:
    meta = FIXTURES / "tf1_saver" / "model.ckpt-7.meta"
    with pytest.raises(tfckpt.InvalidArgumentError) as info:
        tfckpt.open(meta)
    message = str(info.value)
    assert "MetaGraphDef" in message and "not a checkpoint" in message
    assert message.endswith(f"pass the prefix instead: {FIXTURES / 'tf1_saver' / 'model.ckpt-7'}")


def test_meta_file_without_checkpoint(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "tf1_saver" / "model.ckpt-7.meta", tmp_path / "lonely.meta")
    with pytest.raises(tfckpt.InvalidArgumentError, match="is a MetaGraphDef \\(graph\\), not a checkpoint$"):
        tfckpt.open(tmp_path / "lonely.meta")


def test_tempstate_file(tmp_path: Path) -> None:
    prefix = _save(tmp_path / "c")
    temp = tmp_path / "c.index.tempstate9876543210"
    shutil.copy(f"{prefix}.index", temp)
    with pytest.raises(tfckpt.InvalidArgumentError, match="temporary file of an unfinished save, not a checkpoint"):
        tfckpt.open(temp)
    data_temp = tmp_path / "c.data-00000-of-00001.tempstate42"
    shutil.copy(f"{prefix}.data-00000-of-00001", data_temp)
    with pytest.raises(tfckpt.InvalidArgumentError, match="temporary file"):
        tfckpt.open(data_temp)


@pytest.mark.parametrize(
    "content",
    [b"", b"hello world\n", bytes(range(256)) * 3, b"\x00" * 48, b"PK\x03\x04" + b"\x00" * 100],
    ids=["empty", "text", "binary", "zeros", "zip"],
)
def test_random_file_is_not_a_checkpoint(content: bytes, tmp_path: Path) -> None:
    path = tmp_path / "weights.bin"
    path.write_bytes(content)
    with pytest.raises((tfckpt.InvalidArgumentError, tfckpt.CorruptionError)) as info:
        tfckpt.open(path)
    message = str(info.value)
    assert str(path) in message
    assert "not a" in message and "checkpoint" in message and "pass the" in message and "prefix" in message


def test_data_shard_without_index(tmp_path: Path) -> None:
    prefix = _save(tmp_path / "c")
    os.unlink(f"{prefix}.index")
    with pytest.raises(tfckpt.NotFoundError, match=r"c\.data-00000-of-00001 is a data shard but its index .*c\.index is missing"):
        tfckpt.open(f"{prefix}.data-00000-of-00001")
    with pytest.raises(tfckpt.NotFoundError):
        tfckpt.open(prefix)


def test_nonexistent_paths(tmp_path: Path) -> None:
    with pytest.raises(tfckpt.NotFoundError, match="no checkpoint found") as info:
        tfckpt.open(tmp_path / "nope")
    assert isinstance(info.value, KeyError) and isinstance(info.value, ValueError)
    with pytest.raises(tfckpt.NotFoundError):
        tfckpt.open(tmp_path / "nope.index")
    with pytest.raises(tfckpt.NotFoundError):
        tfckpt.open(tmp_path / "missing_dir" / "ckpt-1")


def test_directory_without_checkpoints(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(
        tfckpt.NotFoundError, match=r"no checkpoint found \(no usable 'checkpoint' state file, no \*\.index files"
    ):
        tfckpt.open(tmp_path)
    (tmp_path / "checkpoint").write_text('model_checkpoint_path: "gone"\n')
    with pytest.raises(tfckpt.NotFoundError, match="no checkpoint found"):
        tfckpt.open(tmp_path)
    with pytest.raises(tfckpt.NotFoundError):
        tfckpt.open(tmp_path / "checkpoint")


def test_directory_named_like_a_prefix(tmp_path: Path) -> None:
    # "model.ckpt-1" is a directory and also a prefix beside it: a directory means a directory.
    inner = _save(tmp_path / "model.ckpt-1" / "ckpt-9", 9.0)
    _save(tmp_path / "model.ckpt-1", 1.0)
    with tfckpt.open(tmp_path / "model.ckpt-1") as ckpt:
        assert ckpt.prefix == str(inner)
    with tfckpt.open(tmp_path / "model.ckpt-1.index") as ckpt:
        assert ckpt["w"].tolist() == [1, 1]


def test_a_data_shard_name_that_does_not_exist_is_not_found(tmp_path: Path) -> None:
    prefix = str(tmp_path / "ckpt-1")
    tfckpt.save(prefix, {"a": np.arange(3)})
    with pytest.raises(tfckpt.NotFoundError, match=r"does not exist; the checkpoint's prefix is .*ckpt-1"):
        tfckpt.open(prefix + ".data-00000-of-00009")
