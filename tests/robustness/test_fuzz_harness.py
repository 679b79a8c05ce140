"""The fuzz target itself, run on its seeds and on a few hundred random mutations, so the
README's test command checks the harness that CI's coverage-guided run (step 1d) uses."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from robust_harness import bounded, expect_value


@pytest.fixture
def fuzz_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TFCKPT_FUZZ_DIR", str(tmp_path))
    return tmp_path


def test_seeds_read_cleanly(fuzz_dir: Path) -> None:
    import fuzz_reader

    fuzz_reader._WORK = str(fuzz_dir)
    seeds = fuzz_reader.seeds()
    assert {s[0] for s in seeds} == {0, 1, 2, 3}  # every kind of input is seeded
    for seed in seeds:
        expect_value(bounded(lambda s=seed: fuzz_reader.exercise(s)))


def test_random_mutations(fuzz_dir: Path) -> None:
    import fuzz_reader

    fuzz_reader._WORK = str(fuzz_dir)
    expect_value(bounded(lambda: fuzz_reader.mutate_without_atheris(300, seed=int(os.environ.get("TFCKPT_FUZZ_SEED", "0"))), seconds=120))
