"""Shared test helpers: where the TF-written fixtures live and how TF's readings compare."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

FIXTURES = Path(__file__).parent / "fixtures"


def canonical_bytes(value: Any) -> bytes:
    """The bytes ``tests/fixtures/generate.py`` hashed: raw element bytes, or for strings
    each element as an 8-byte little-endian length followed by its bytes."""
    if isinstance(value, bytes):
        value = np.array(value, dtype=object)
    arr = np.asarray(value)
    if arr.dtype == object:
        return b"".join(len(x).to_bytes(8, "little") + x for x in arr.reshape(-1))
    return np.ascontiguousarray(arr).tobytes()


def sha256(value: Any) -> str:
    return hashlib.sha256(canonical_bytes(value)).hexdigest()


def fixture_cases() -> list[str]:
    return sorted(p.parent.name for p in FIXTURES.glob("*/expected.json"))


def expected(case: str) -> dict[str, Any]:
    return json.loads((FIXTURES / case / "expected.json").read_text())  # type: ignore[no-any-return]


class Clock:
    """A stand-in for the ``time`` module, for checkpoint managers' timestamps."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES
