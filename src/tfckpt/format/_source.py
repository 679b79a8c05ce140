"""What :class:`tfckpt.Checkpoint` needs from a format reader (V2 bundle or V1 table).

For type checkers: :mod:`tfckpt.checkpoint` imports it under ``TYPE_CHECKING`` only, so a
reader never loads it (a Protocol class costs ~0.1 ms to create, and its bytecode more to
load). :class:`._v2.BundleReader` and :class:`._v1.V1Reader` implement it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import numpy as np

__all__ = ["TensorSource"]


class TensorSource(Protocol):
    """Iterating gives the tensor names in key order; ``in`` and ``len`` answer from the
    reader's own index, so a :class:`~tfckpt.Checkpoint` holds no copy of the names.
    ``read`` raises :class:`~tfckpt.errors.NotFoundError` for a name that is not a tensor.
    """

    def __iter__(self) -> Iterator[str]: ...
    def __len__(self) -> int: ...
    def __contains__(self, name: str) -> bool: ...
    def info(self, name: str) -> tuple[int, tuple[int, ...]]: ...
    def read(self, name: str, *, copy: bool = False) -> np.ndarray: ...
    def read_batch(self, names: list[str], *, copy: bool = False) -> list[np.ndarray]: ...
    def raw_bytes(self, name: str) -> bytes: ...
    def variant_elements(self, name: str) -> list[bytes]: ...
    def close(self) -> None: ...
