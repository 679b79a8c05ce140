"""Replacing a single file atomically: write a temporary sibling, fsync, rename.

Used for every one-file output (the state file, ``.npz`` and ``.safetensors`` exports). The
temporary file lives in the destination's directory, so the final :func:`os.replace` never
crosses file systems; it is created with ordinary permissions (umask applies), unlike
``tempfile.mkstemp``'s 0600. Multi-file checkpoint bundles have their own commit sequence in
:mod:`tfckpt.writer` (file operations in :mod:`._shards`).

Every writer checks each final path with :func:`check_output` first: an existing target
that is not a regular file (a character device such as ``/dev/null``, a FIFO, a socket, a
directory, or a symlink to one of those) is refused, since renaming over it would replace
the device node or pipe with a regular file. A symlink to a regular file (or a dangling
one) is itself replaced: what it points to is never written.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import InvalidArgumentError
from ._inputs import describe_kind

__all__ = ["check_output", "remove_quietly", "replacing"]


def check_output(path: str) -> None:
    """Refuse to write ``path`` if it exists and is not a regular file (see the module docs).

    Raises
    ------
    InvalidArgumentError
        ``path`` (or what the symlink ``path`` points to) is a device, FIFO, socket or directory.
    """
    try:
        mode = os.lstat(path).st_mode
        if stat.S_ISLNK(mode):
            mode = os.stat(path).st_mode
    except OSError:
        return  # absent (or a dangling symlink): nothing to protect
    if not stat.S_ISREG(mode):
        raise InvalidArgumentError(f"{path} exists and is {describe_kind(mode)}, not a regular file; refusing to replace it")


def remove_quietly(path: str) -> None:
    """Delete ``path`` if it exists; cleanup must not mask the error being handled."""
    try:
        os.unlink(path)
    except OSError:
        pass


@contextmanager
def replacing(final: str | os.PathLike[str]) -> Iterator[str]:
    """Yield a temporary path to write; on success it is fsynced and renamed to ``final``.

    On any exception (including KeyboardInterrupt) the temporary file is removed and
    ``final`` is left exactly as it was. An existing ``final`` that is not a regular file is
    refused before anything is written (:func:`check_output`).
    """
    target = os.fspath(final)
    check_output(target)
    temp = f"{target}.tmp{int.from_bytes(os.urandom(4), 'little')}"  # os.urandom: what secrets uses
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
