"""docs/frameworks.md's examples run as written (as the README's do in tests/test_readme.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "frameworks.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_python_block_runs(index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code = BLOCKS[index]
    for module in re.findall(r"^import (\w+)", code, re.M):
        pytest.importorskip(module)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, f"docs/frameworks.md python block {index}", "exec"), {"__name__": "doc"})  # noqa: S102
    assert list((tmp_path / "out").glob("*.index"))
