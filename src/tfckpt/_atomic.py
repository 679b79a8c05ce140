"""Replacing a single file atomically: write a temporary sibling, fsync, rename.

Used for every one-file output (the state file, ``.npz`` and ``.safetensors`` exports). The
temporary file lives in the destination's directory, so the final :func:`os.replace` never
crosses file systems; it is created with ordinary permissions (umask applies), unlike
``tempfile.mkstemp``'s 0600. Multi-file checkpoint bundles have their own commit sequence in
:mod:`tfckpt.writer` (file operations in :mod:`._shards`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["remove_quietly", "replacing"]


def remove_quietly(path: str) -> None:
    """Delete ``path`` if it exists; cleanup must not mask the error being handled."""
    try:
        os.unlink(path)
    except OSError:
        pass


@contextmanager
def replacing(final: str | os.PathLike[str], *, suffix: str = "") -> Iterator[str]:
    """Yield a temporary path to write; on success it is fsynced and renamed to ``final``.

    On any exception (including KeyboardInterrupt) the temporary file is removed and
    ``final`` is left exactly as it was. ``suffix`` ends the temporary name, for writers that
    insist on one (Keras 3's ``save_weights`` takes only ``*.weights.h5``).
    """
    target = os.fspath(final)
    temp = f"{target}.tmp{int.from_bytes(os.urandom(4), 'little')}{suffix}"  # os.urandom: what secrets uses
    try:
        yield temp
        fd = os.open(temp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, target)
    except BaseException:
        remove_quietly(temp)
        raise
