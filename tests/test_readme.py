"""The README's examples run as written: every Python block, and the command-line session's
output matches what the commands print today."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _fenced() -> list[tuple[str, str]]:
    """``(language, body)`` of every fenced block, in order."""
    blocks: list[tuple[str, str]] = []
    lang: str | None = None
    body: list[str] = []
    for line in README.splitlines():
        if line.startswith("```"):
            if lang is None:
                lang, body = line[3:].strip(), []
            else:
                blocks.append((lang, "\n".join(body) + "\n"))
                lang = None
        elif lang is not None:
            body.append(line)
    return blocks


def _blocks(lang: str) -> list[str]:
    return [body for block_lang, body in _fenced() if block_lang == lang]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("index", range(len(_blocks("python"))))
def test_python_block_runs(index: int, workdir: Path) -> None:
    code = _blocks("python")[index]
    exec(compile(code, f"README.md python block {index}", "exec"), {"__name__": "readme"})  # noqa: S102 - the point of the test


def test_the_prefix_the_reading_example_announces() -> None:
    import tfckpt

    with tfckpt.open(ROOT / "examples" / "bert_tiny") as ckpt:
        assert ckpt.prefix.endswith("examples/bert_tiny/bert_model.ckpt")
        assert "examples/bert_tiny/bert_model.ckpt" in README


def _session() -> list[tuple[str, str]]:
    """``(command, expected output)`` pairs from the README's shell session."""
    session = next(body for lang, body in _fenced() if lang == "" and body.startswith("$ tfckpt"))
    pairs: list[tuple[str, list[str]]] = []
    for line in session.splitlines():
        if line.startswith("$ "):
            pairs.append((line[2:].split("  #")[0].strip(), []))
        else:
            pairs[-1][1].append(line)
    return [(cmd, "\n".join(out)) for cmd, out in pairs]


@pytest.mark.parametrize(("command", "output"), _session())
def test_cli_session_output(command: str, output: str, workdir: Path) -> None:
    argv = command.split()
    assert argv[0] == "tfckpt"
    result = subprocess.run(
        [sys.executable, "-m", "tfckpt", *argv[1:]], check=False, capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"}
    )
    assert result.returncode == 0, result.stderr
    if output:
        assert result.stdout.rstrip("\n") == output
