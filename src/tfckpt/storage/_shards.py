"""The files of a bundle being written: data shards under temporary names, and the file
operations of the commit (:meth:`.writer.Writer.finish` holds the sequence and its rules).

A shard is written through a 256 KiB buffer (default 8 KiB), which batches the writes of
small tensors into fewer system calls; every :data:`WRITEBACK_CHUNK` bytes it starts an
``fdatasync`` in a helper thread (:class:`WriteBack`, which the safetensors writer uses
too), so the disk writes back earlier tensors while later ones are copied. Many small
tensors can also be copied into a few reused buffers (:meth:`Shard.stage`), each written at
its place in the file by a helper thread while the caller prepares the next ones
(:meth:`Shard.write_staged`), its whole pages directly to the disk. Temporary names are
TensorFlow's: ``<file>.tempstate<random uint63>``.
"""

from __future__ import annotations

import errno
import io
import os
import re
import threading
from collections.abc import Callable, Iterable
from typing import BinaryIO, Final

import numpy as np

from ..format._coding import crc32c
from ._atomic import remove_quietly

__all__ = [
    "DIRECT_ALIGN",
    "DIRECT_MIN",
    "DIRECT_STAGE_MIN",
    "PARALLEL_CRC_MIN",
    "WRITEBACK_CHUNK",
    "WRITE_BEHIND_CHUNK",
    "Background",
    "Shard",
    "WriteBack",
    "address_of",
    "drop_backups",
    "fsync_dir",
    "is_stale_shard",
    "open_direct",
    "put_back",
    "remove_stale_shards",
    "set_aside",
    "temp_name",
    "write_and_checksum",
    "write_at",
    "write_at_direct",
    "write_chunk",
]


def temp_name(path: str) -> str:
    # TF uses "<file>.tempstate<random uint64>"; tfckpt's own readers skip such files.
    return f"{path}.tempstate{int.from_bytes(os.urandom(8), 'little') >> 1}"  # 63 random bits, as secrets.randbits(63)


#: Tensors of at least this many bytes are checksummed in a helper thread while written.
PARALLEL_CRC_MIN: Final = 4 << 20


def write_and_checksum(file: BinaryIO, data: bytes | memoryview) -> int:
    """Write ``data`` while a helper thread computes its CRC32C. Both release the GIL, so on
    two cores the checksum costs no extra time (1 GiB of 16 MiB tensors: 0.33 s -> 0.25 s
    to the page cache here)."""
    box: list[int] = []
    thread = threading.Thread(target=lambda: box.append(crc32c(data)), daemon=True)
    thread.start()
    try:
        file.write(data)
    finally:
        thread.join()
    return box[0] if box else crc32c(data)


#: Bytes appended between background flushes to disk (see :class:`WriteBack`).
WRITEBACK_CHUNK: Final = 64 << 20

#: Small tensors are gathered into buffers of about this size for :meth:`Shard.write_staged`
#: (:meth:`Shard.stage`): large enough that the helper thread needs the GIL (to start and
#: to finish) rarely compared with the time its write system call runs without it, small
#: enough that the staging buffers' first page faults stay cheap (16 MiB: ~9,000 page
#: faults per 100 MB written, 4 MiB: ~3,000).
WRITE_BEHIND_CHUNK: Final = 4 << 20


class Background:
    """Runs ``work`` in a helper thread; :meth:`wait` joins it and re-raises its exception."""

    def __init__(self, work: Callable[[], None]) -> None:
        self._error: BaseException | None = None

        def run() -> None:
            try:
                work()
            except BaseException as e:  # noqa: BLE001 - handed to wait()
                self._error = e

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    @property
    def error(self) -> BaseException | None:
        """What ``work`` raised (None while it runs, or if it returned)."""
        return self._error

    @property
    def done(self) -> bool:
        """The work has finished (:meth:`wait` would not block)."""
        return not self._thread.is_alive()

    def wait(self, *, quiet: bool = False) -> None:
        self._thread.join()
        if self._error is not None and not quiet:
            raise self._error


class WriteBack:
    """Appends to ``file`` and starts an ``fdatasync`` of it in a helper thread every
    :data:`WRITEBACK_CHUNK` bytes (it releases the GIL), unless one is still running.

    The data must reach the disk before the file is renamed into place anyway; flushing
    while later bytes are still being produced overlaps the disk with the copying (1 GiB:
    0.74 s to 0.54 s here) instead of paying for all of it in the final ``fsync``. A caller
    appending to :attr:`file` itself bumps :attr:`unflushed` and calls :meth:`write_back` once
    it reaches the chunk (:meth:`.writer.Writer.add_many` inlines this per tensor). A flush
    error is kept for :meth:`finish`: Linux reports a writeback error only once, to the first
    ``fsync`` that sees it.
    """

    def __init__(self, file: BinaryIO) -> None:
        self.file = file
        self.unflushed = 0  # bytes written since the last background flush started
        self._flusher: Background | None = None
        self._flush_error: BaseException | None = None

    def write(self, data: bytes | memoryview) -> None:
        """Append ``data`` (bytes, or a memoryview of bytes: ``len`` is its size)."""
        self.file.write(data)
        self.wrote(len(data))

    def wrote(self, nbytes: int) -> None:
        """Account for ``nbytes`` appended to :attr:`file`; start a flush every chunk."""
        self.unflushed += nbytes
        if self.unflushed >= WRITEBACK_CHUNK:
            self.write_back()

    def write_back(self) -> None:
        """Start an ``fdatasync`` of what was written so far, unless one is still running."""
        if self._flusher is not None:
            if not self._flusher.done:
                return
            self.join()
        self._before_flush()
        self.unflushed = 0
        self.file.flush()
        fd = self.file.fileno()
        self._flusher = Background(lambda: getattr(os, "fdatasync", os.fsync)(fd))  # macOS has no fdatasync

    def _before_flush(self) -> None:
        """Hook: make every byte accepted so far reach :attr:`file` (:class:`Shard` waits
        for its write in flight)."""

    def join(self) -> None:
        """Wait for the flush in flight (it uses the file descriptor: call before close),
        keeping its error for :meth:`finish`."""
        flusher, self._flusher = self._flusher, None
        if flusher is not None:
            flusher.wait(quiet=True)
            if self._flush_error is None:
                self._flush_error = flusher.error

    def finish(self, *, quiet: bool = False) -> None:
        """:meth:`join`, then re-raise the first flush error unless ``quiet`` (an error
        already being raised wins over it)."""
        self.join()
        if self._flush_error is not None and not quiet:
            raise self._flush_error


class _Flight:
    """A chunk of staged bytes being written at its place in the file by a helper thread
    (:meth:`Shard.write_staged`)."""

    __slots__ = ("cached", "direct", "end", "thread", "view")

    def __init__(self, fd: int, direct: int, view: memoryview, offset: int, address: int) -> None:
        self.view, self.direct, self.end = view, direct, offset + view.nbytes
        self.cached = view.nbytes  # the bytes that went through the page cache, once written

        def write() -> None:
            self.cached = write_chunk(fd, direct, view, offset, address)

        self.thread = Background(write)

    def land(self, *, quiet: bool) -> bool:
        """Wait for the write; release the buffer and close the direct descriptor once it is
        over. Return whether it is (False: interrupted), re-raising its error unless ``quiet``."""
        try:
            self.thread.wait(quiet=quiet)
        finally:
            done = self.thread.done
            if done:
                self.view.release()  # its staging buffer can be written again
                direct, self.direct = self.direct, -1
                if direct >= 0:
                    os.close(direct)
        return done


class Shard(WriteBack):
    """One data shard being written under a temporary name."""

    def __init__(self, path: str) -> None:
        self.final_path = path
        self.temp_path = temp_name(path)
        # A 256 KiB buffer (default 8 KiB) batches the writes of small tensors into fewer syscalls.
        super().__init__(open(self.temp_path, "wb", buffering=1 << 18))  # noqa: SIM115 - closed in finish/abandon
        self.size = 0
        # stage() copies into _staging[0]; write_staged() hands its bytes to a helper thread
        # (a _Flight, oldest first in _flights) and stages into the next buffer from then on,
        # once the flight that used it has landed.
        self._staging = [_take_spare() for _ in range(STAGING_BUFFERS)]
        self._flights: list[_Flight] = []
        # The staged chunk: where its first byte goes in the file (None: nothing staged) and
        # where in _staging[0] it starts (page-aligned with the file when direct writes pay).
        self._chunk_offset: int | None = None
        self._chunk_start = 0
        self._end: int | None = None  # where the last chunk handed over ends: the file appends there after settle()

    @property
    def staged(self) -> int:
        """Bytes :meth:`stage` copied since the last :meth:`write_staged`."""
        return self._staging[0].tell() - self._chunk_start if self._chunk_offset is not None else 0

    def stage(self, values: Iterable[bytes | memoryview], nbytes: int = 0) -> int:
        """Copy ``values`` (C-contiguous buffers, numpy arrays included; ``nbytes`` of them,
        if the caller knows) after the bytes staged so far, for :meth:`write_staged`; return
        a mark for :meth:`unstage`. The caller counts them in :attr:`size` next, before
        anything else is written: the first bytes staged go at :attr:`size` in the file.

        The staging buffers are reused from one :meth:`write_staged` to the next: a fresh
        buffer per batch costs a page fault per 4 KiB once freed memory goes back to the
        system (issue 12's fourth pass), which took longer than the copy itself. A chunk
        that will fill a good part of one starts where its memory lines up with its place
        in the file (see :meth:`_start_chunk`)."""
        buffer = self._staging[0]
        if self._chunk_offset is None:
            self._start_chunk(buffer, nbytes)
        mark = buffer.tell()
        try:
            buffer.writelines(values)
        except BaseException:
            buffer.seek(mark)
            raise
        return mark

    def _start_chunk(self, buffer: io.BytesIO, nbytes: int) -> None:
        """Start a chunk at file offset :attr:`size`: at the position of ``buffer`` whose
        address is that offset's distance from a page boundary, so that the chunk's whole
        pages are whole pages of memory, which :func:`write_at_direct` sends directly to the
        disk, if ``buffer`` holds or will hold at least :data:`DIRECT_STAGE_MIN` bytes
        (``nbytes`` of this batch); else at its start. ``buffer`` first grows, once, to hold
        a chunk: a buffer that moves in memory later (it grew again) has its chunk written
        through the page cache (:func:`write_at_direct` checks)."""
        self._chunk_offset = self.size
        capacity = buffer.seek(0, io.SEEK_END)
        start = 0
        if _HAS_DIRECT and max(nbytes, capacity) >= DIRECT_STAGE_MIN:
            need = DIRECT_ALIGN + WRITE_BEHIND_CHUNK + nbytes
            if capacity < need:
                buffer.seek(need - 1)
                buffer.write(b"\0")
            whole = buffer.getbuffer()
            start = (self.size - address_of(whole)) % DIRECT_ALIGN
            whole.release()
        self._chunk_start = start
        buffer.seek(start)

    def unstage(self, mark: int) -> None:
        """Drop what was staged after ``mark`` (from :meth:`stage`)."""
        self._staging[0].seek(mark)

    def write_staged(self) -> None:
        """Write the staged bytes (nothing if none) at their place in the file, from their
        buffer, in a helper thread: its whole pages directly to the disk where the memory
        lines up (:func:`write_at_direct`: no page-cache copy, nothing left for the final
        ``fsync``). Up to :data:`STAGING_BUFFERS` - 1 chunks are in flight at once (a chunk
        written at its offset needs no order), so that a slow write does not hold up the
        caller; later bytes are staged in the next buffer, once its own write has landed."""
        staged, offset, start = self.staged, self._chunk_offset, self._chunk_start
        self._chunk_offset = None
        if not staged or offset is None:
            return
        if self.unflushed >= WRITEBACK_CHUNK:  # bytes that went through the page cache
            self.write_back()
        buffer = self._staging[0]
        whole = buffer.getbuffer()
        view = whole[start : start + staged]  # the buffer cannot change size while exported
        whole.release()
        # Opened here, not in the thread: each system call there waits for the GIL after it,
        # up to the 5 ms switch interval while this thread computes.
        direct = open_direct(self.temp_path) if staged >= DIRECT_MIN else -1
        self._flights.append(_Flight(self.file.fileno(), direct, view, offset, address_of(view)))
        self._end = offset + staged
        self._staging.append(self._staging.pop(0))
        if len(self._flights) == len(self._staging):  # the next buffer is the oldest flight's
            self._land(self._flights[0])

    @property
    def would_wait(self) -> bool:
        """:meth:`write_staged` would now wait for a write in flight (every other buffer is
        in flight, the oldest still writing): the caller may do other work first."""
        flights = self._flights
        return len(flights) + 1 >= len(self._staging) > 0 and not flights[0].thread.done

    def _land(self, flight: _Flight, *, quiet: bool = False) -> None:
        if flight.land(quiet=quiet):
            self._flights.remove(flight)
            self.unflushed += flight.cached

    def settle(self, *, quiet: bool = False) -> None:
        """Wait for every write in flight, re-raising the first error (unless ``quiet``);
        then :attr:`file` appends after their bytes."""
        while self._flights:
            self._land(self._flights[0], quiet=quiet)
        end, self._end = self._end, None
        if end is not None:
            self.file.seek(end)  # flushes bytes buffered before the chunks, at their place

    _before_flush = settle

    def wrote(self, nbytes: int) -> None:
        """Account for ``nbytes`` appended at the end of the shard (:meth:`.writer.Writer.add_many`
        inlines this)."""
        self.size += nbytes
        super().wrote(nbytes)

    def sync(self) -> None:
        """Wait for the background flush (re-raising its error), then flush and fsync
        everything (before close)."""
        self.finish()
        self.settle()
        self._spare_buffers()  # nothing more to stage
        self.file.flush()
        os.fsync(self.file.fileno())

    def join(self) -> None:
        """Wait, quietly, for the writes in flight (:meth:`settle` re-raises their errors,
        :meth:`sync` does) and for the background flush."""
        for flight in self._flights:
            flight.land(quiet=True)
        super().join()

    def release_buffers(self) -> None:
        """After :meth:`join` (the shard abandoned): hand the staging buffers to the next
        shard, unless a write still uses one (interrupted while it waited)."""
        if all(flight.thread.done for flight in self._flights):
            self._spare_buffers()

    def _spare_buffers(self) -> None:
        """Hand the staging buffers, none in flight, to the next shard (:func:`_take_spare`)."""
        staging, self._staging = self._staging, []
        for buffer in staging:
            if len(_SPARE) < STAGING_BUFFERS and buffer.seek(0, io.SEEK_END) <= SPARE_MAX:
                _SPARE.append(buffer)


def write_at(fd: int, data: memoryview, offset: int) -> None:
    """Write the bytes ``data`` at ``offset`` of ``fd``, from any thread: ``pwrite`` leaves
    the file position (where a shard's :attr:`Shard.file` appends) as it is. For bytes
    reserved past that position (:meth:`.writer.Writer._reserve`)."""
    data = data.cast("B") if data.format != "B" or data.ndim != 1 else data
    while data:
        written = os.pwrite(fd, data, offset)
        data, offset = data[written:], offset + written


#: Direct writes (``O_DIRECT``: from the caller's memory to the disk, no page-cache copy)
#: cover whole pages: their file offset, length and memory address are multiples of this,
#: which any block device's logical block size divides.
DIRECT_ALIGN: Final = 4096

#: Page-aligned bytes a write must cover for :func:`write_at_direct` to write them directly:
#: below this, one copy into the page cache costs less than a direct write's round trip.
DIRECT_MIN: Final = 64 << 10

#: :meth:`Shard.stage`'s buffers: one being filled while the others' chunks are written.
STAGING_BUFFERS: Final = 3

#: :meth:`Shard.stage` lines up a chunk's memory with the file (for direct writes) once a
#: batch or its reused buffer holds this much: below, growing the buffer would cost more.
DIRECT_STAGE_MIN: Final = 1 << 20

_HAS_DIRECT: Final = bool(getattr(os, "O_DIRECT", 0))

#: Staging buffers of finished shards, for the next ones: a writer that saves every few
#: steps reuses their pages instead of faulting in fresh ones (3 us a page here, 12 ms per
#: 100 MB checkpoint of 1 KiB tensors). At most :data:`STAGING_BUFFERS` of at most
#: :data:`SPARE_MAX` bytes each are kept (about 20 MB after a save of small tensors).
_SPARE: list[io.BytesIO] = []
SPARE_MAX: Final = 16 << 20


def _take_spare() -> io.BytesIO:
    try:
        return _SPARE.pop()  # atomic: concurrent writers never share one
    except IndexError:
        return io.BytesIO()


def address_of(view: memoryview) -> int:
    """The memory address of the bytes of ``view``."""
    address: int = np.frombuffer(view, np.uint8).__array_interface__["data"][0]
    return address


def open_direct(path: str) -> int:
    """A second descriptor of the file ``path`` whose writes bypass the page cache (Linux's
    ``O_DIRECT``), or -1 where the platform or the file system has none."""
    direct = getattr(os, "O_DIRECT", 0)
    if not direct:
        return -1
    try:
        return os.open(path, os.O_WRONLY | direct | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return -1


def write_at_direct(fd: int, direct_fd: int, data: memoryview, offset: int, address: int) -> int:
    """:func:`write_at` of ``data`` (bytes at memory ``address``) at ``offset``, its whole
    pages through ``direct_fd`` (from :func:`open_direct`) when the pages of the file and of
    the memory line up (``address - offset`` a multiple of :data:`DIRECT_ALIGN`) and cover at
    least :data:`DIRECT_MIN` bytes; the partial pages at both ends, and everything else,
    through ``fd`` and the page cache. Returns the bytes written directly.

    Why: the page-cache copy of a freshly written file costs the kernel fresh pages, and in a
    virtual machine the host's faults on them (0.12-0.6 s of system time for 438 MB here,
    against 0.07 s to overwrite cached pages); a direct write is the disk's DMA from the
    caller's buffer. Direct and cached writes never share a page, so neither sees stale
    bytes of the other. A file system that refuses the direct write (``EINVAL``) gets it
    through ``fd``."""
    head = -offset % DIRECT_ALIGN
    pages = (data.nbytes - head) // DIRECT_ALIGN * DIRECT_ALIGN if data.nbytes > head else 0
    if direct_fd >= 0 and pages >= DIRECT_MIN and (address - offset) % DIRECT_ALIGN == 0:
        try:
            write_at(direct_fd, data[head : head + pages], offset + head)
        except OSError as e:
            if e.errno != errno.EINVAL:
                raise
        else:
            if head:
                write_at(fd, data[:head], offset)
            if head + pages < data.nbytes:
                write_at(fd, data[head + pages :], offset + head + pages)
            return pages
    write_at(fd, data, offset)
    return 0


def write_chunk(fd: int, direct_fd: int, data: memoryview, offset: int, address: int) -> int:
    """:func:`write_at_direct` of ``data`` (bytes at memory ``address``) at ``offset``; return
    the bytes written through the page cache (all of them without ``direct_fd``)."""
    return data.nbytes - write_at_direct(fd, direct_fd, data, offset, address)


def set_aside(path: str) -> tuple[str, bool, str | None]:
    """Hard-link an existing ``path`` to a temporary name so a failed commit can restore it."""
    if not os.path.lexists(path):
        return path, False, None
    backup = temp_name(path)
    try:
        os.link(path, backup)
    except OSError:  # no hard links on this file system: the old file cannot be restored
        return path, True, None
    return path, True, backup


def put_back(placed: list[tuple[str, bool, str | None]]) -> None:
    """Undo the shard renames of a commit that failed before the index rename."""
    for path, existed, backup in reversed(placed):
        try:
            if backup is not None:
                os.replace(backup, path)
                # rename() between two links to one file does nothing: the failed rename
                # left the old file in place and its backup name still exists.
                remove_quietly(backup)
            elif not existed:
                os.unlink(path)
        except OSError:
            pass


def drop_backups(placed: list[tuple[str, bool, str | None]]) -> None:
    """After a commit: delete the hard-link backups :func:`set_aside` made."""
    for _, _, backup in placed:
        if backup is not None:
            remove_quietly(backup)


_DATA_FILE_RE = re.compile(r"\.data-\d{5}-of-(\d{5})")


def is_stale_shard(name: str, base: str, count: int) -> bool:
    """True for ``<base>.data-*-of-M`` with M != count: a previous checkpoint's data file."""
    m = _DATA_FILE_RE.fullmatch(name[len(base) :]) if name.startswith(base) else None
    return m is not None and int(m.group(1)) != count


def remove_stale_shards(prefix: str, count: int) -> None:
    """Delete ``prefix.data-*-of-M`` files (M != count) a previous checkpoint left behind."""
    directory, base = os.path.split(prefix)
    try:
        names = os.listdir(directory or ".")
    except OSError:
        return
    for name in names:
        if is_stale_shard(name, base, count):
            remove_quietly(os.path.join(directory, name))


def fsync_dir(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
