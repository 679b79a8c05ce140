"""tfckpt.merge without TensorFlow: values, checks, hard links versus copies, atomicity.
(tests/interop/test_merge_interop.py pins the bytes to tf.raw_ops.MergeV2Checkpoints.)"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import tfckpt
from tfckpt.tools import merge as merge_mod


def _parts(root: Path) -> list[str]:
    full = np.arange(24, dtype=np.float32).reshape(6, 4)
    with tfckpt.Writer(root / "p0", partial=True) as w:
        w.add("a", np.ones(3, np.float32))
        w.add_slice("emb", full[:2], full_shape=(6, 4), start=(0, 0))
    with tfckpt.Writer(root / "p1", partial=True, max_shard_size=8) as w:
        w.add_slice("emb", full[2:], full_shape=(6, 4), start=(2, 0))
        w.add("b", np.int64(5))
        w.add("s", ["x", "y"])
    return [str(root / "p0"), str(root / "p1")]


def test_merged_values_and_hard_links(tmp_path: Path) -> None:
    parts = _parts(tmp_path / "parts")
    assert tfckpt.merge(parts, tmp_path / "m" / "model") == str(tmp_path / "m" / "model")
    with tfckpt.open(tmp_path / "m" / "model") as ckpt:
        assert sorted(ckpt) == ["a", "b", "emb", "s"]
        assert np.array_equal(ckpt["emb"], np.arange(24, dtype=np.float32).reshape(6, 4))
        assert ckpt["s"].tolist() == [b"x", b"y"] and ckpt["b"] == 5
    data = sorted((tmp_path / "m").glob("model.data-*"))
    assert [p.name[-14:] for p in data] == [f"{i:05d}-of-00004" for i in range(4)]
    assert all(p.stat().st_nlink == 2 for p in data)  # linked, not copied; the inputs stay
    assert all(os.path.exists(p + ".index") for p in parts)
    assert not list((tmp_path / "m").glob("*tempstate*"))


def test_copies_when_the_file_system_has_no_hard_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parts = _parts(tmp_path / "parts")

    def no_links(src: str, dst: str) -> None:
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    tfckpt.merge(parts, tmp_path / "m" / "model")
    assert all(p.stat().st_nlink == 1 for p in (tmp_path / "m").glob("model.data-*"))
    with tfckpt.open(tmp_path / "m" / "model") as ckpt:
        assert ckpt["b"] == 5


def test_delete_inputs_moves_data_and_removes_empty_directories(tmp_path: Path) -> None:
    parts = _parts(tmp_path / "model_temp")
    tfckpt.merge(parts, tmp_path / "model", delete_inputs=True)
    assert not (tmp_path / "model_temp").exists()
    with tfckpt.open(tmp_path / "model") as ckpt:
        assert ckpt["a"].sum() == 3


@pytest.mark.parametrize(
    ("second", "match"),
    [
        ({"a": np.ones(3, np.float32)}, "'a' is in both"),
    ],
)
def test_duplicate_whole_tensor(tmp_path: Path, second: dict[str, np.ndarray], match: str) -> None:
    parts = _parts(tmp_path / "parts")
    tfckpt.save(tmp_path / "parts" / "p2", second)
    with pytest.raises(tfckpt.InvalidArgumentError, match=match):
        tfckpt.merge([*parts, str(tmp_path / "parts" / "p2")], tmp_path / "m")
    assert not list(tmp_path.glob("m*"))


def test_conflicting_and_overlapping_slices(tmp_path: Path) -> None:
    parts = _parts(tmp_path / "parts")
    with tfckpt.Writer(tmp_path / "parts" / "bad_shape", partial=True) as w:
        w.add_slice("emb", np.zeros((1, 4), np.float32), full_shape=(7, 4), start=(6, 0))
    with pytest.raises(tfckpt.InvalidArgumentError, match=r"'emb'.*float32\[6, 4\].*float32\[7, 4\]"):
        tfckpt.merge([*parts, str(tmp_path / "parts" / "bad_shape")], tmp_path / "m")
    with tfckpt.Writer(tmp_path / "parts" / "overlap", partial=True) as w:
        w.add_slice("emb", np.zeros((2, 4), np.float32), full_shape=(6, 4), start=(1, 0))
    with pytest.raises(tfckpt.InvalidArgumentError, match=r"slice at \[1, 0\].*overlaps the slice at \[0, 0\]"):
        tfckpt.merge([*parts, str(tmp_path / "parts" / "overlap")], tmp_path / "m")
    with tfckpt.Writer(tmp_path / "parts" / "whole") as w:
        w.add("emb", np.zeros((6, 4), np.float32))
    with pytest.raises(tfckpt.InvalidArgumentError, match="'emb' is in both"):
        tfckpt.merge([*parts, str(tmp_path / "parts" / "whole")], tmp_path / "m")


def test_missing_inputs_and_bad_destinations(tmp_path: Path) -> None:
    parts = _parts(tmp_path / "parts")
    with pytest.raises(FileNotFoundError, match="index"):
        tfckpt.merge([*parts, str(tmp_path / "nope")], tmp_path / "m")
    os.unlink(parts[1] + ".data-00001-of-00003")
    with pytest.raises(FileNotFoundError, match="data shard missing"):
        tfckpt.merge(parts, tmp_path / "m")
    with pytest.raises(tfckpt.InvalidArgumentError, match="at least one"):
        tfckpt.merge([], tmp_path / "m")
    with pytest.raises(tfckpt.InvalidArgumentError, match="not a directory"):
        tfckpt.merge(parts[:1], tmp_path)
    with pytest.raises(tfckpt.InvalidArgumentError, match="also one of its inputs"):
        tfckpt.merge(parts[:1], parts[0])
    (tmp_path / "bad.index").write_bytes(b"\x00" * 60)
    with pytest.raises(tfckpt.CorruptionError):
        tfckpt.merge([str(tmp_path / "bad")], tmp_path / "m")


def test_a_part_without_tensors_keeps_its_shard_and_the_count_matches(tmp_path: Path) -> None:
    """TensorFlow would name files -of-1 under a header of 2 shards; tfckpt keeps them consistent."""
    tfckpt.save(tmp_path / "p0", {"w": np.ones(2, np.float32)})
    tfckpt.save(tmp_path / "p1", {})
    tfckpt.merge([str(tmp_path / "p0"), str(tmp_path / "p1")], tmp_path / "out" / "m")
    with tfckpt.open(tmp_path / "out" / "m") as ckpt:
        assert list(ckpt) == ["w"]
    assert len(list((tmp_path / "out").glob("m.data-*-of-00002"))) == 2


@pytest.mark.parametrize("fail_at", [1, 2, 3])
def test_failure_during_commit_leaves_destination_and_inputs_as_they_were(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_at: int
) -> None:
    parts = _parts(tmp_path / "parts")
    tfckpt.save(tmp_path / "out" / "m", {"old": np.zeros(1, np.int8)})
    before = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    inputs = {p.name: p.read_bytes() for p in (tmp_path / "parts").iterdir()}
    real = os.replace
    calls = []

    def flaky(src: str, dst: str) -> None:
        calls.append(dst)
        if len(calls) == fail_at:
            raise OSError(28, "No space left on device")
        real(src, dst)

    monkeypatch.setattr(merge_mod.os, "replace", flaky)
    monkeypatch.setattr(os, "link", lambda s, d: (_ for _ in ()).throw(OSError(1, "no links")))  # exercise the rename path
    with pytest.raises(OSError, match="No space"):
        tfckpt.merge(parts, tmp_path / "out" / "m", delete_inputs=True)
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == before
    assert {p.name: p.read_bytes() for p in (tmp_path / "parts").iterdir()} == inputs


def test_bulk_decoded_entries_merge_as_the_one_by_one_decoder_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """plan_merge decodes plain entries column-wise; forced to decode every entry through the
    protobuf path instead, it writes the same index, byte for byte."""
    parts = _parts(tmp_path / "parts")
    with tfckpt.Writer(tmp_path / "parts" / "p2", partial=True) as w:  # many plain entries, several dtypes and shapes
        for i in range(300):
            w.add(f"layer_{i:03d}/w", np.full((i % 5 + 1, 3), i, np.float32 if i % 2 else np.float16))
    parts.append(str(tmp_path / "parts" / "p2"))
    tfckpt.merge(parts, tmp_path / "bulk" / "model")
    real = merge_mod.decode_plain_entries

    def nothing_plain(values: list[bytes]) -> object:
        batch = real(values)
        batch.plain[:] = False
        return batch

    monkeypatch.setattr(merge_mod, "decode_plain_entries", nothing_plain)
    tfckpt.merge(parts, tmp_path / "slow" / "model")
    assert (tmp_path / "bulk" / "model.index").read_bytes() == (tmp_path / "slow" / "model.index").read_bytes()
