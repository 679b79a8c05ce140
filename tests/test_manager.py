"""tfckpt.CheckpointManager without TensorFlow: numbering, rotation, preserved checkpoints, the
exact state file, recovery (including from a directory TF's CheckpointManager wrote) and failures.
A fake clock stands in for time.time so timestamps are exact."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import FIXTURES, Clock

import tfckpt
import tfckpt.manager as manager_mod
from tfckpt.errors import InvalidArgumentError


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock(10_000.0)
    monkeypatch.setattr(manager_mod, "time", c)
    return c


def _names(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


def _tensors(i: int) -> dict[str, Any]:
    return {"step": np.int64(i), "w": np.full((2, 3), i, np.float32)}


def test_numbering_rotation_and_exact_state(tmp_path: Path, clock: Clock) -> None:
    d = tmp_path / "run"
    m = tfckpt.CheckpointManager(d, max_to_keep=2)
    assert (m.latest_checkpoint, m.checkpoints, m.directory) == (None, [], str(d))
    saved = []
    for i in range(1, 4):
        clock.now = 10_000.0 + i
        saved.append(m.save(_tensors(i)))
    assert saved == [str(d / f"ckpt-{i}") for i in (1, 2, 3)]
    assert m.latest_checkpoint == str(d / "ckpt-3")
    assert m.checkpoints == [str(d / "ckpt-2"), str(d / "ckpt-3")]
    assert _names(d) == ["checkpoint", "ckpt-2.data-00000-of-00001", "ckpt-2.index", "ckpt-3.data-00000-of-00001", "ckpt-3.index"]
    assert (d / "checkpoint").read_text() == (
        'model_checkpoint_path: "ckpt-3"\n'
        'all_model_checkpoint_paths: "ckpt-2"\n'
        'all_model_checkpoint_paths: "ckpt-3"\n'
        "all_model_checkpoint_timestamps: 10002.0\n"
        "all_model_checkpoint_timestamps: 10003.0\n"
        "last_preserved_timestamp: 9999.0\n"  # one second before the first manager started
    )
    assert tfckpt.latest_checkpoint(d) == str(d / "ckpt-3")
    with tfckpt.open(d) as ckpt:
        assert ckpt.prefix == str(d / "ckpt-3") and int(ckpt["step"]) == 3


def test_deleting_removes_the_index_and_every_shard_only(tmp_path: Path, clock: Clock) -> None:
    m = tfckpt.CheckpointManager(tmp_path, max_to_keep=1)
    m.save({f"t{i}": np.zeros(4) for i in range(3)}, max_shard_size=1)
    assert len(list(tmp_path.glob("ckpt-1.data-*-of-00003"))) == 3
    # Files that only share the prefix's first characters survive the rotation.
    for name in ("ckpt-10.index", "ckpt-10.data-00000-of-00001", "ckpt-1.meta", "ckpt-1.data-0000-of-00001"):
        (tmp_path / name).write_bytes(b"not ours")
    m.save({"x": 1}, checkpoint_number=2)
    assert _names(tmp_path) == [
        "checkpoint",
        "ckpt-1.data-0000-of-00001",
        "ckpt-1.meta",
        "ckpt-10.data-00000-of-00001",
        "ckpt-10.index",
        "ckpt-2.data-00000-of-00001",
        "ckpt-2.index",
    ]


def test_a_new_manager_recovers_and_continues(tmp_path: Path, clock: Clock) -> None:
    m = tfckpt.CheckpointManager(tmp_path, max_to_keep=3)
    for i in range(1, 5):
        clock.now += 10
        m.save(_tensors(i))
    state = (tmp_path / "checkpoint").read_text()
    clock.now += 100
    m2 = tfckpt.CheckpointManager(tmp_path, max_to_keep=3)
    assert (tmp_path / "checkpoint").read_text() == state  # constructing writes nothing
    assert m2.checkpoints == m.checkpoints == [str(tmp_path / f"ckpt-{i}") for i in (2, 3, 4)]
    assert m2.latest_checkpoint == str(tmp_path / "ckpt-4")
    assert m2.save(_tensors(5)) == str(tmp_path / "ckpt-5")
    assert m2.checkpoints == [str(tmp_path / f"ckpt-{i}") for i in (3, 4, 5)]
    # A smaller max_to_keep takes effect at the next save.
    m3 = tfckpt.CheckpointManager(tmp_path, max_to_keep=1)
    m3.save(_tensors(6))
    assert _names(tmp_path) == ["checkpoint", "ckpt-6.data-00000-of-00001", "ckpt-6.index"]


def test_recovers_a_directory_tensorflows_manager_wrote(tmp_path: Path, clock: Clock) -> None:
    # manager_rotation: TF 2.21's CheckpointManager(max_to_keep=2) after four saves.
    d = tmp_path / "tf"
    shutil.copytree(FIXTURES / "manager_rotation", d)
    (d / "expected.json").unlink()
    tf_state = (d / "checkpoint").read_text().splitlines()
    clock.now = 1_900_000_000.0
    m = tfckpt.CheckpointManager(d, max_to_keep=2)
    assert m.checkpoints == [str(d / "ckpt-3"), str(d / "ckpt-4")]
    assert m.latest_checkpoint == str(d / "ckpt-4")
    assert m.save({"v": np.arange(3)}) == str(d / "ckpt-5")
    assert _names(d) == ["checkpoint", "ckpt-4.data-00000-of-00001", "ckpt-4.index", "ckpt-5.data-00000-of-00001", "ckpt-5.index"]
    assert (d / "checkpoint").read_text().splitlines() == [
        'model_checkpoint_path: "ckpt-5"',
        'all_model_checkpoint_paths: "ckpt-4"',
        'all_model_checkpoint_paths: "ckpt-5"',
        tf_state[4],  # ckpt-4's timestamp as TF recorded it
        "all_model_checkpoint_timestamps: 1900000000.0",
        tf_state[5],  # last_preserved_timestamp carried over
    ]


def test_keep_checkpoint_every_n_hours_preserves_for_good(tmp_path: Path, clock: Clock) -> None:
    t0 = clock.now
    m = tfckpt.CheckpointManager(tmp_path, max_to_keep=1, keep_checkpoint_every_n_hours=1)
    for i, offset in enumerate([0, 1800, 3700, 7300], start=1):
        clock.now = t0 + offset
        m.save(_tensors(i))
    # ckpt-1 and ckpt-2 left the active set less than an hour after the last preserved time
    # (t0 - 1) and were deleted; ckpt-3 (t0 + 3700) was preserved.
    assert _names(tmp_path) == [
        "checkpoint",
        "ckpt-3.data-00000-of-00001",
        "ckpt-3.index",
        "ckpt-4.data-00000-of-00001",
        "ckpt-4.index",
    ]
    assert m.checkpoints == [str(tmp_path / "ckpt-4")]
    assert (tmp_path / "checkpoint").read_text().splitlines()[-1] == f"last_preserved_timestamp: {t0 + 3700}"
    # No later manager deletes a preserved checkpoint, whatever its settings.
    m2 = tfckpt.CheckpointManager(tmp_path, max_to_keep=1)
    assert m2.checkpoints == [str(tmp_path / "ckpt-4")]
    for i in range(5, 8):
        clock.now += 10
        m2.save(_tensors(i))
    assert _names(tmp_path) == [
        "checkpoint",
        "ckpt-3.data-00000-of-00001",
        "ckpt-3.index",
        "ckpt-7.data-00000-of-00001",
        "ckpt-7.index",
    ]


def test_max_to_keep_none_keeps_everything(tmp_path: Path, clock: Clock) -> None:
    m = tfckpt.CheckpointManager(tmp_path, max_to_keep=None)
    for i in range(6):
        clock.now += 1
        m.save({"i": i})
    assert len(m.checkpoints) == 6 and len(list(tmp_path.glob("*.index"))) == 6


def test_explicit_numbers_and_resaving_a_number(tmp_path: Path, clock: Clock) -> None:
    m = tfckpt.CheckpointManager(tmp_path, max_to_keep=3, checkpoint_name="model.ckpt")
    assert m.save({"a": 1}, checkpoint_number=np.int64(100)) == str(tmp_path / "model.ckpt-100")
    clock.now += 1
    assert m.save({"a": 2}) == str(tmp_path / "model.ckpt-101")
    clock.now += 1
    assert m.save({"a": 3}, checkpoint_number=100) == str(tmp_path / "model.ckpt-100")
    assert m.checkpoints == [str(tmp_path / "model.ckpt-101"), str(tmp_path / "model.ckpt-100")]
    with tfckpt.open(tmp_path / "model.ckpt-100") as ckpt:
        assert int(ckpt["a"]) == 3
    with pytest.raises(InvalidArgumentError, match="checkpoint_number must be an integer"):
        m.save({"a": 4}, checkpoint_number=1.5)  # type: ignore[arg-type]


def test_numbering_continues_after_checkpoints_on_disk(tmp_path: Path, clock: Clock) -> None:
    tfckpt.save(tmp_path / "ckpt-7", {"x": 1})  # e.g. preserved, so absent from the state file
    tfckpt.save(tmp_path / "other-9", {"x": 1})
    (tmp_path / "ckpt-12.data-00000-of-00001").write_bytes(b"")  # no index: not a checkpoint
    m = tfckpt.CheckpointManager(tmp_path)
    assert m.checkpoints == [] and m.latest_checkpoint is None
    assert m.save({"x": 2}) == str(tmp_path / "ckpt-8")


def test_failed_save_changes_nothing(tmp_path: Path, clock: Clock) -> None:
    m = tfckpt.CheckpointManager(tmp_path, max_to_keep=1)
    m.save({"x": 1})
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(InvalidArgumentError, match="'bad'"):
        m.save({"x": 2, "bad": [object()]})
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert m.checkpoints == [str(tmp_path / "ckpt-1")]
    assert m.save({"x": 3}) == str(tmp_path / "ckpt-2")  # the number was not used up


def test_save_with_hook_for_other_writers(tmp_path: Path, clock: Clock) -> None:
    m = tfckpt.CheckpointManager(tmp_path, max_to_keep=2)
    m.save({"x": 1})
    calls = []

    def write(prefix: str, save_counter: int) -> None:
        calls.append((prefix, save_counter))
        with tfckpt.Writer(prefix) as w:
            w.add("save_counter", np.int64(save_counter))

    assert m._save_with(write, None) == str(tmp_path / "ckpt-2")
    assert calls == [(str(tmp_path / "ckpt-2"), 2)]
    assert m.checkpoints == [str(tmp_path / "ckpt-1"), str(tmp_path / "ckpt-2")]


def test_relative_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: Clock) -> None:
    monkeypatch.chdir(tmp_path)
    m = tfckpt.CheckpointManager("runs/a", max_to_keep=2)
    assert m.save({"x": 1}) == os.path.join("runs/a", "ckpt-1")
    assert (tmp_path / "runs/a/checkpoint").read_text().splitlines()[:2] == [
        'model_checkpoint_path: "ckpt-1"',
        'all_model_checkpoint_paths: "ckpt-1"',
    ]
    assert tfckpt.CheckpointManager("runs/a").checkpoints == [os.path.join("runs/a", "ckpt-1")]


def test_clock_behind_the_last_preserved_time(tmp_path: Path, clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    tfckpt.update_checkpoint_state(
        tmp_path, "ckpt-1", all_model_checkpoint_timestamps=[20_000.0], last_preserved_timestamp=19_000.0
    )
    with caplog.at_level(logging.WARNING, logger="tfckpt"):
        m = tfckpt.CheckpointManager(tmp_path)
    assert "seconds behind the last preserved checkpoint timestamp" in caplog.text
    # last_preserved clamps to now (10000) and ckpt-1's future timestamp clamps to now too:
    # not newer than last_preserved, so it counts as preserved (TF does the same).
    assert m.checkpoints == []


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_bad_max_to_keep(tmp_path: Path, bad: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="positive integer or None for max_to_keep"):
        tfckpt.CheckpointManager(tmp_path, max_to_keep=bad)


def test_bad_checkpoint_name_and_repr(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="checkpoint_name"):
        tfckpt.CheckpointManager(tmp_path, checkpoint_name="")
    m = tfckpt.CheckpointManager(tmp_path, max_to_keep=3, checkpoint_name="model")
    assert (
        repr(m)
        == f"CheckpointManager({str(tmp_path)!r}, max_to_keep=3, keep_checkpoint_every_n_hours=None, checkpoint_name='model')"
    )
