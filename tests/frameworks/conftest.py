"""Fixtures for the framework suite (torch, jax, Keras 3, transformers 5; no TensorFlow).

Every test module here imports its framework with ``pytest.importorskip`` so the suite skips
cleanly where the framework is absent (as in the README's test command). CI runs it in its own
environment (``.ci/requirements-fw.txt``) before the interop suite.

Hand-off to TensorFlow: a test whose output TensorFlow must check writes it under
``handoff_dir(topic)``, which is ``$TFCKPT_HANDOFF/<topic>`` when CI sets that variable. The
interop suite, run next with the same variable in the TensorFlow environment, reads it back
(and skips when it is absent). Without the variable the directory is a temporary one.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def handoff_dir(tmp_path: Path) -> Callable[[str], Path]:
    """``handoff_dir(topic)``: an empty directory for files TensorFlow checks in tests/interop."""

    def make(topic: str) -> Path:
        root = os.environ.get("TFCKPT_HANDOFF")
        path = Path(root) / topic if root else tmp_path / "handoff" / topic
        path.mkdir(parents=True, exist_ok=True)
        return path

    return make


@pytest.fixture
def mapped_ranges() -> Callable[[Path], list[tuple[int, int]]]:
    """``mapped_ranges(path)``: the address ranges where this process maps ``path`` (from
    Linux's /proc/self/maps), to check that a tensor's memory is the file's mapping."""

    def find(path: Path) -> list[tuple[int, int]]:
        ranges = []
        for line in Path("/proc/self/maps").read_text().splitlines():
            fields = line.split(maxsplit=5)
            if len(fields) == 6 and fields[5] == str(path.resolve()):
                start, end = (int(x, 16) for x in fields[0].split("-"))
                ranges.append((start, end))
        return ranges

    return find
