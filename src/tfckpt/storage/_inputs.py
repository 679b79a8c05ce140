"""Opening the files a checkpoint is read from: regular files only, reads bounded by their size.

Every file the library reads (a bundle's ``.index`` and data shards, the ``checkpoint``
state file, V1 table files) is opened here:

1. ``open(path, O_RDONLY | O_NONBLOCK)``: opening a FIFO for reading without a writer
   would otherwise block forever; with ``O_NONBLOCK`` it returns at once. (A Unix socket
   cannot be opened at all: ``ENXIO``.)
2. ``fstat`` on the descriptor (not the name, so a swap after the check changes nothing):
   anything but a regular file (FIFO, socket, character or block device such as
   ``/dev/zero``, directory) is an :class:`~tfckpt.errors.InvalidArgumentError` naming the
   path and what it is.
3. Reads stop at the ``st_size`` seen by that ``fstat``; a caller may cap the size too
   (the state file is capped at :data:`tfckpt.state.MAX_STATE_FILE_BYTES`).

The readers need only bytes, a size or a read-only mapping from this module, so a storage
layer for other file systems can take its place under the same three functions.
"""

from __future__ import annotations

import errno
import mmap
import os
import stat

from ..errors import InvalidArgumentError

__all__ = ["describe_kind", "map_regular", "open_regular", "read_regular", "require_regular"]

#: (test, description) for every kind of file that is not a regular file.
_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISLNK, "a symbolic link"),
)


def describe_kind(mode: int) -> str:
    """``"a FIFO (named pipe)"``, ``"a character device"``, ... for a ``st_mode``."""
    for test, description in _KINDS:
        if test(mode):
            return description
    return "not a regular file"


def _refuse(path: str, mode: int, what: str) -> InvalidArgumentError:
    return InvalidArgumentError(f"{path} is {describe_kind(mode)}, not a regular file; {what} must be a regular file")


def require_regular(path: str, what: str) -> None:
    """Refuse ``path`` (following symlinks) if it exists and is not a regular file."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # missing or unreadable: the caller's own error says so
    if not stat.S_ISREG(mode):
        raise _refuse(path, mode, what)


def open_regular(path: str, what: str) -> tuple[int, int]:
    """Open ``path`` for reading; return ``(file descriptor, size)``. The caller closes it.

    Raises
    ------
    InvalidArgumentError
        ``path`` is a FIFO, socket, device or directory.
    OSError
        As :func:`os.open` (``FileNotFoundError``, ``PermissionError``, ...).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        if e.errno == errno.ENXIO:  # a socket (or a device without its driver)
            require_regular(path, what)
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _refuse(path, st.st_mode, what)
        return fd, st.st_size
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str, what: str, *, max_size: int | None = None) -> bytes:
    """The content of the regular file ``path``: at most its size at open, and at most
    ``max_size`` bytes (larger files are refused with :class:`InvalidArgumentError`)."""
    fd, size = open_regular(path, what)
    try:
        if max_size is not None and size > max_size:
            raise InvalidArgumentError(
                f"{path} is {size} bytes; {what} may be at most {max_size} bytes ({max_size / (1 << 20):g} MiB)"
            )
        chunks = []
        left = size
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 24))
            if not chunk:
                break  # truncated while reading: the caller sees the short content
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def map_regular(path: str, what: str, *, access: int = mmap.ACCESS_READ) -> mmap.mmap | bytes:
    """A mapping of the regular file ``path`` (``b""`` when it is empty), read-only by default."""
    fd, size = open_regular(path, what)
    try:
        return mmap.mmap(fd, size, access=access) if size else b""
    finally:
        os.close(fd)
