"""Hostile state files: paths that lead out of the checkpoint's directory.

A ``checkpoint`` state file is data, not instructions: a path in it that resolves outside
the directory (``..``, an absolute path elsewhere, a symlinked subdirectory) is ignored with
a warning when reading and never deleted by :class:`tfckpt.CheckpointManager`. Absolute paths
that TensorFlow wrote on another machine still find the same checkpoint here by its base name.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pytest
from robust_harness import bounded, expect_value

import tfckpt

TENSORS = {"w": np.arange(4, dtype=np.float32)}


def _victim(tmp_path: Path) -> Path:
    victim = tmp_path / "victim"
    victim.mkdir()
    tfckpt.save(victim / "precious", {"precious": np.ones(2, np.float32)})
    return victim / "precious"


def _state(directory: Path, *paths: str) -> None:
    """A state file as TF writes it, with recent timestamps (so a manager takes the paths over)."""
    directory.mkdir(exist_ok=True)
    lines = [f'model_checkpoint_path: "{paths[-1]}"'] + [f'all_model_checkpoint_paths: "{p}"' for p in paths]
    lines += [f"all_model_checkpoint_timestamps: {time.time() - 10 + i}" for i in range(len(paths))]
    (directory / "checkpoint").write_text("\n".join(lines) + "\n")


def _intact(prefix: Path) -> bool:
    return Path(f"{prefix}.index").is_file() and Path(f"{prefix}.data-00000-of-00001").is_file()


def _hostile_paths(tmp_path: Path, precious: Path) -> list[str]:
    run = tmp_path / "run"
    (run / "sub").mkdir(parents=True, exist_ok=True)
    link = run / "link"
    if not link.exists():
        link.symlink_to(precious.parent)
    return ["../victim/precious", str(precious), "link/precious", "sub/../../victim/precious"]


@pytest.mark.parametrize("index", range(4))
def test_manager_never_deletes_outside_its_directory(tmp_path: Path, index: int, caplog: pytest.LogCaptureFixture) -> None:
    precious = _victim(tmp_path)
    hostile = _hostile_paths(tmp_path, precious)[index]
    run = tmp_path / "run"
    _state(run, hostile)

    def rotate() -> list[str]:
        manager = tfckpt.CheckpointManager(run, max_to_keep=1)
        manager.save(TENSORS)
        manager.save(TENSORS)
        return manager.checkpoints

    kept = expect_value(bounded(rotate))
    assert _intact(precious), f"{hostile!r} in the state file deleted a checkpoint outside the directory"
    assert kept == [str(run / "ckpt-2")]
    assert not _intact(run / "ckpt-1")  # its own rotation still works


def test_manager_warns_and_ignores_outside_paths(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    precious = _victim(tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    _state(run, "../victim/precious")
    with caplog.at_level(logging.WARNING, logger="tfckpt"):
        manager = tfckpt.CheckpointManager(run, max_to_keep=1)
    assert manager.checkpoints == []
    assert "outside" in caplog.text
    assert _intact(precious)


def test_delete_refused_even_if_recorded_later(tmp_path: Path) -> None:
    """Defence in depth: a path outside that reaches the sweep by any route is not deleted."""
    precious = _victim(tmp_path)
    run = tmp_path / "run"
    manager = tfckpt.CheckpointManager(run, max_to_keep=1)
    manager._maybe_delete[str(run / ".." / "victim" / "precious")] = 1.0
    manager._maybe_delete.move_to_end(str(run / ".." / "victim" / "precious"), last=False)
    expect_value(bounded(lambda: manager.save(TENSORS)))
    assert _intact(precious)


@pytest.mark.parametrize("index", range(4))
def test_readers_ignore_outside_paths(tmp_path: Path, index: int) -> None:
    precious = _victim(tmp_path)
    hostile = _hostile_paths(tmp_path, precious)[index]
    run = tmp_path / "run"
    tfckpt.save(run / "ckpt-1", TENSORS)
    _state(run, hostile)
    # open(dir) falls back to the directory's own bundle; latest_checkpoint finds nothing
    prefix = expect_value(bounded(lambda: tfckpt.open(run).prefix))
    assert prefix == str(run / "ckpt-1")
    assert expect_value(bounded(lambda: tfckpt.latest_checkpoint(run))) is None


def test_foreign_absolute_paths_still_work(tmp_path: Path) -> None:
    """TF1 ``Saver`` records absolute paths; after copying the directory they name another
    machine's files. Reading and rotation find the same checkpoints here by base name."""
    run = tmp_path / "run"
    for n in (1, 2):
        tfckpt.save(run / f"ckpt-{n}", TENSORS)
    _state(run, "/nonexistent/machine/run/ckpt-1", "/nonexistent/machine/run/ckpt-2")
    assert tfckpt.open(run).prefix == str(run / "ckpt-2")
    manager = tfckpt.CheckpointManager(run, max_to_keep=2)
    assert manager.checkpoints == [str(run / "ckpt-1"), str(run / "ckpt-2")]
    manager.save(TENSORS)
    assert not _intact(run / "ckpt-1")
    assert _intact(run / "ckpt-2") and _intact(run / "ckpt-3")


def test_state_cli_fix_drops_outside_paths(tmp_path: Path) -> None:
    from tfckpt.cli import main as cli

    precious = _victim(tmp_path)
    run = tmp_path / "run"
    tfckpt.save(run / "ckpt-1", TENSORS)
    _state(run, "../victim/precious")
    assert expect_value(bounded(lambda: cli(["state", str(run), "--fix"]))) == 0
    text = (run / "checkpoint").read_text()
    assert "victim" not in text and "ckpt-1" in text
    assert _intact(precious)
