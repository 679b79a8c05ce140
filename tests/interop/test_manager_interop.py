"""The state file and rotation against TensorFlow: TF reads tfckpt's state files, the two managers
produce identical state files for the same saves at the same (fake) times, and each continues in a
directory the other managed. ``update_checkpoint_state`` text is compared with TF's directly."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import Clock

import tfckpt
import tfckpt.manager as manager_mod

tf = pytest.importorskip("tensorflow")
tf_cm = pytest.importorskip("tensorflow.python.checkpoint.checkpoint_management")


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """One fake clock for both managers (each module's ``time`` reference is replaced)."""
    c = Clock(1_800_000_000.0)
    monkeypatch.setattr(manager_mod, "time", c)
    monkeypatch.setattr(tf_cm, "time", c)
    return c


def _indexes(d: Path) -> list[str]:
    return sorted(p.name for p in d.glob("*.index"))


def _tf_manager(d: Path, **kwargs: Any) -> Any:
    return tf.train.CheckpointManager(tf.train.Checkpoint(v=tf.Variable(1.0)), str(d), **kwargs)


def test_tensorflow_reads_tfckpt_state_files(tmp_path: Path, clock: Clock) -> None:
    m = tfckpt.CheckpointManager(tmp_path, max_to_keep=2)
    for i in range(1, 5):
        clock.now += 60
        m.save({"x": np.float32(i)})
    assert tf.train.latest_checkpoint(str(tmp_path)) == m.latest_checkpoint == str(tmp_path / "ckpt-4")
    state = tf.train.get_checkpoint_state(str(tmp_path))
    assert state.model_checkpoint_path == m.latest_checkpoint
    assert list(state.all_model_checkpoint_paths) == m.checkpoints == [str(tmp_path / "ckpt-3"), str(tmp_path / "ckpt-4")]
    assert list(state.all_model_checkpoint_timestamps) == [clock.now - 60, clock.now]
    assert state.last_preserved_timestamp == 1_800_000_000.0 - 1
    tf_manager = _tf_manager(tmp_path, max_to_keep=2)
    assert tf_manager.checkpoints == m.checkpoints
    assert tf_manager.latest_checkpoint == m.latest_checkpoint
    assert tf.train.load_checkpoint(tf_manager.latest_checkpoint).get_tensor("x") == 4.0


# (seconds after the start, save) — with max_to_keep=2 and keep_checkpoint_every_n_hours=1 this
# deletes some checkpoints and preserves others.
SCHEDULE = [0, 1000, 2500, 4000, 6000, 8000, 9000, 12_000, 15_000, 15_001]


def test_same_saves_same_state_files_as_tensorflows_manager(tmp_path: Path, clock: Clock) -> None:
    start = clock.now
    tf_manager = _tf_manager(tmp_path / "tf", max_to_keep=2, keep_checkpoint_every_n_hours=1)
    ours = tfckpt.CheckpointManager(tmp_path / "ours", max_to_keep=2, keep_checkpoint_every_n_hours=1)
    for offset in SCHEDULE:
        clock.now = start + offset
        tf_path = tf_manager.save()
        our_path = ours.save({"x": np.float32(offset)})
        assert os.path.basename(tf_path) == os.path.basename(our_path)
        assert (tmp_path / "ours" / "checkpoint").read_text() == (tmp_path / "tf" / "checkpoint").read_text()
        assert _indexes(tmp_path / "ours") == _indexes(tmp_path / "tf")
        assert [os.path.basename(p) for p in ours.checkpoints] == [os.path.basename(p) for p in tf_manager.checkpoints]
    # Some were preserved for good (outside the active set), some deleted.
    assert len(_indexes(tmp_path / "ours")) > 2 and len(_indexes(tmp_path / "ours")) < len(SCHEDULE)


def test_each_manager_continues_in_the_others_directory(tmp_path: Path, clock: Clock) -> None:
    start = clock.now
    tf_dir, our_dir = tmp_path / "by_tf", tmp_path / "by_tfckpt"
    tf_manager = _tf_manager(tf_dir, max_to_keep=3, keep_checkpoint_every_n_hours=2)
    ours = tfckpt.CheckpointManager(our_dir, max_to_keep=3, keep_checkpoint_every_n_hours=2)
    for offset in SCHEDULE[:6]:
        clock.now = start + offset
        tf_manager.save()
        ours.save({"x": np.float32(offset)})
    # Swap: tfckpt takes over TF's directory and TF takes over tfckpt's.
    clock.now = start + 20_000
    ours_in_tf_dir = tfckpt.CheckpointManager(tf_dir, max_to_keep=3, keep_checkpoint_every_n_hours=2)
    tf_in_our_dir = _tf_manager(our_dir, max_to_keep=3, keep_checkpoint_every_n_hours=2)
    assert [os.path.basename(p) for p in ours_in_tf_dir.checkpoints] == [os.path.basename(p) for p in tf_in_our_dir.checkpoints]
    for offset in (20_000, 21_000, 30_000, 31_000):
        clock.now = start + offset
        # TF numbers from its Checkpoint's save_counter, which a fresh object starts at 0.
        next_number = int(os.path.basename(ours_in_tf_dir.save({"y": np.int64(offset)})).split("-")[1])
        tf_in_our_dir.save(checkpoint_number=next_number)
        assert (tf_dir / "checkpoint").read_text() == (our_dir / "checkpoint").read_text()
        assert _indexes(tf_dir) == _indexes(our_dir)
    assert tf.train.latest_checkpoint(str(tf_dir)) == str(tf_dir / "ckpt-10")
    assert tf.train.load_checkpoint(str(tf_dir / "ckpt-10")).get_tensor("y") == 31_000


def _tf_state_text(d: Path, *args: Any, relative: bool, **kwargs: Any) -> str:
    d.mkdir(exist_ok=True)
    if relative:
        tf.__internal__.train.update_checkpoint_state(str(d), *args, save_relative_paths=True, **kwargs)
    else:
        tf.compat.v1.train.update_checkpoint_state(str(d), *args, **kwargs)
    return (d / kwargs.get("latest_filename", "checkpoint")).read_text()


def _our_state_text(d: Path, *args: Any, relative: bool, **kwargs: Any) -> str:
    tfckpt.update_checkpoint_state(str(d), *args, save_relative_paths=relative, **kwargs)
    return (d / kwargs.get("latest_filename", "checkpoint")).read_text()


@pytest.mark.parametrize("relative", [True, False], ids=["relative", "tf1_absolute"])
@pytest.mark.parametrize(
    "case",
    [
        lambda d: ((f"{d}/ckpt-3",), {"all_model_checkpoint_paths": [f"{d}/ckpt-2", f"{d}/ckpt-3"]}),
        lambda d: (
            (f"{d}/ckpt-3",),
            {
                "all_model_checkpoint_paths": [f"{d}/ckpt-2", f"{d}/ckpt-3"],
                "all_model_checkpoint_timestamps": [1795345781.0654757, 1795345790.5],
                "last_preserved_timestamp": 1795345780.018792,
            },
        ),
        lambda d: (("ckpt-9",), {"all_model_checkpoint_paths": ["ckpt-7"], "latest_filename": "state"}),
        # (TF's relative-path variant cannot take all_model_checkpoint_paths=None: it iterates it.)
        lambda d: ((f"{d}/\u00e9tape-1",), {"all_model_checkpoint_paths": []}),
        lambda d: (("/elsewhere/model.ckpt-1",), {"all_model_checkpoint_paths": [], "last_preserved_timestamp": 5.0}),
    ],
    ids=["paths", "timestamps", "relative_input_and_latest_filename", "non_ascii", "outside_dir"],
)
def test_update_checkpoint_state_text_matches_tensorflow(tmp_path: Path, case: Any, relative: bool) -> None:
    for name in ("tf", "ours"):
        (tmp_path / name).mkdir()
    args_tf, kwargs_tf = case(tmp_path / "tf")
    args_ours, kwargs_ours = case(tmp_path / "ours")
    theirs = _tf_state_text(tmp_path / "tf", *args_tf, relative=relative, **kwargs_tf)
    mine = _our_state_text(tmp_path / "ours", *args_ours, relative=relative, **kwargs_ours)
    assert mine == theirs.replace(str(tmp_path / "tf"), str(tmp_path / "ours"))


def test_relative_directory_matches_tensorflow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for relative in (True, False):
        theirs = _tf_state_text(Path("tf"), "tf/ckpt-2", relative=relative, all_model_checkpoint_paths=["tf/ckpt-1"])
        mine = _our_state_text(Path("ours"), "ours/ckpt-2", relative=relative, all_model_checkpoint_paths=["ours/ckpt-1"])
        assert mine == theirs
    # The one deliberate difference: TF applies relpath twice to an absolute path under a
    # relative directory and records a path that does not resolve to the checkpoint.
    theirs = _tf_state_text(Path("tf"), str(tmp_path / "tf/ckpt-3"), [], relative=True)
    mine = _our_state_text(Path("ours"), str(tmp_path / "ours/ckpt-3"), [], relative=True)
    assert theirs.splitlines()[0] == 'model_checkpoint_path: "../ckpt-3"'
    assert mine.splitlines()[0] == 'model_checkpoint_path: "ckpt-3"'
