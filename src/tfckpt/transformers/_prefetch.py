"""Tensors computed ahead of the file writer, in pieces, by helper threads.

The export writes each safetensors file in a fixed order (:func:`.safetensors_io.file_order`).
A :class:`Job` per tensor says how to read its source (a view of the memory-mapped
checkpoint, checksum verified) and, when the output differs from the source (transposed,
cast to float32), how to compute rows ``[begin, end)`` of the output. Such tensors are cut
into pieces of about :data:`PIECE_BYTES` of output; :data:`WORKERS` threads compute the
pieces in file order into :data:`BUFFERS` reusable buffers while the writer writes the ones
before them (numpy's copies release the GIL, so a second core works while the first
writes). A source that needs no change is handed over as it is: no copy.

Memory: ``BUFFERS * PIECE_BYTES`` (8 MiB) whatever the tensors' sizes; only an output row
larger than a piece (a ``[1, n]`` result) gets a buffer of its own, computed when nothing
else is in flight.

Each buffer returns to the pool when the writer asks for the piece after it
(:class:`.safetensors_io.TensorPieces`' contract). The order the writer asks in is told
beforehand (:meth:`Prefetcher.plan`); asking out of that order is a programming error.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import numpy as np

from ..safetensors_io import TensorPieces

if TYPE_CHECKING:
    from typing_extensions import Self  # typing.Self from Python 3.11

__all__ = ["AHEAD", "BUFFERS", "PIECE_BYTES", "WORKERS", "Job", "Prefetcher"]

#: Threads computing pieces (with one, the writer waited about twice as long on BERT-base, 2 cores).
WORKERS: Final = 2
#: Output bytes per piece: large enough that per-piece overhead (a task, a write call) is
#: negligible, small enough that the pieces of one BERT-base kernel (2.25 or 9 MiB) keep both
#: workers busy (4 MiB measured no faster).
PIECE_BYTES: Final = 2 << 20
#: Reusable piece buffers: one being written, the others being computed or ready.
BUFFERS: Final = 4
#: Tensors and pieces handed out ahead of the writer at most. Unchanged tensors need no buffer
#: (reading one ahead checks its checksum and costs no memory), and the pieces of the next
#: transposed tensor must not wait behind a run of small ones: 4 (one per buffer) left the
#: writer waiting twice as long on BERT-base.
AHEAD: Final = 32

#: ``fill(source, out, begin, end)``: rows ``[begin, end)`` of the output (its axis 0) into
#: ``out``, an array of the output dtype shaped ``(end - begin, *shape[1:])``, casting as
#: ``ndarray.astype`` does. A 0-d output is one row: ``out`` is then shaped ``(1,)``.
Fill = Callable[[np.ndarray, np.ndarray, int, int], None]


@dataclass(frozen=True)
class Job:
    """One tensor to produce: how to read its source; its output dtype and shape; how to fill
    rows of the output from the source, or None when the source is the output."""

    name: str
    read: Callable[[], np.ndarray]
    dtype: np.dtype
    shape: tuple[int, ...]
    fill: Fill | None

    @property
    def rows(self) -> int:
        return self.shape[0] if self.shape else 1

    def pieces(self, piece_bytes: int) -> list[tuple[int, int]]:
        """The output's rows cut into ``[begin, end)`` ranges of at most ``piece_bytes`` (at
        least one row each)."""
        row_bytes = math.prod(self.shape[1:]) * self.dtype.itemsize
        step = max(1, piece_bytes // row_bytes) if row_bytes else max(1, self.rows)
        return [(b, min(b + step, self.rows)) for b in range(0, self.rows, step)]


@dataclass(frozen=True)
class _Step:
    """A task of the schedule: read ``job``'s source (``begin < 0``), or fill its output rows
    ``[begin, end)``."""

    job: Job
    begin: int = -1
    end: int = -1


class Prefetcher:
    """``get(name)`` for :func:`.safetensors_io.write_safetensors`: the source array of a job
    without ``fill``, else :class:`.TensorPieces` whose pieces are computed ahead.

    Use as a context manager: leaving it cancels the pieces not started and waits for the
    running ones (an error in the writer leaves no thread behind). An error in a helper
    thread (a checksum mismatch, ...) is raised by ``get`` or the pieces' iterator, as is.
    """

    def __init__(self, jobs: Mapping[str, Job], *, workers: int | None = None, piece_bytes: int | None = None,
                 buffers: int | None = None) -> None:
        self._jobs = jobs
        self._piece_bytes = piece_bytes or PIECE_BYTES
        self._free = [np.empty(self._piece_bytes, np.uint8) for _ in range(buffers or BUFFERS)]
        self._pool = ThreadPoolExecutor(max_workers=workers or WORKERS, thread_name_prefix="tfckpt-prefetch")
        self._read_lock = threading.Lock()  # a bundle reader's first read of a shard is not thread-safe
        self._steps: list[_Step] = []
        self._next_step = 0
        self._order: list[str] = []
        self._next_name = 0
        self._sources: dict[str, Future[np.ndarray]] = {}
        self._ahead: deque[tuple[Future[np.ndarray], np.ndarray | None]] = deque()  # pieces in file order
        self._held: np.ndarray | None = None  # the buffer of the piece the writer has

    def plan(self, order: Sequence[str]) -> None:
        """The names in the order ``get`` will be called; starts computing the first pieces."""
        self._order.extend(order)
        for name in order:
            job = self._jobs[name]
            self._steps.append(_Step(job))
            if job.fill is not None:
                self._steps.extend(_Step(job, b, e) for b, e in job.pieces(self._piece_bytes))
        self._top_up()

    def __call__(self, name: str) -> np.ndarray | TensorPieces:
        if self._next_name >= len(self._order) or self._order[self._next_name] != name:
            raise RuntimeError(f"tensor {name!r} requested out of the planned order")
        self._next_name += 1
        job = self._jobs[name]
        if job.fill is None:
            return self._next_piece()
        return TensorPieces(job.dtype, job.shape, self._pieces(job))

    def _pieces(self, job: Job) -> Iterator[np.ndarray]:
        for _ in job.pieces(self._piece_bytes):
            yield self._next_piece()
        self._sources.pop(job.name, None)

    def _next_piece(self) -> np.ndarray:
        if self._held is not None:  # the writer has written it: it asks for the next piece
            if self._held.nbytes == self._piece_bytes:  # not a one-row buffer of its own
                self._free.append(self._held)
            self._held = None
        self._top_up()
        future, self._held = self._ahead.popleft()
        return future.result()

    def _top_up(self) -> None:
        """Submit the next steps while a buffer is free, at most :data:`AHEAD` pieces ahead."""
        while self._next_step < len(self._steps) and len(self._ahead) < AHEAD:
            s = self._steps[self._next_step]
            if s.begin < 0:
                source = self._pool.submit(self._read, s.job)
                if s.job.fill is None:
                    self._ahead.append((source, None))
                else:
                    self._sources[s.job.name] = source
            else:
                shape = (s.end - s.begin, *s.job.shape[1:])
                nbytes = math.prod(shape) * s.job.dtype.itemsize
                if nbytes <= self._piece_bytes and self._free:
                    buffer = self._free.pop()
                elif nbytes > self._piece_bytes and not self._ahead:  # (the writer's piece is released)
                    buffer = np.empty(nbytes, np.uint8)  # one row larger than a piece: alone in flight
                else:
                    return
                out = buffer[:nbytes].view(s.job.dtype).reshape(shape)
                self._ahead.append((self._pool.submit(_fill, s.job, self._sources[s.job.name], out, s.begin, s.end), buffer))
            self._next_step += 1

    def _read(self, job: Job) -> np.ndarray:
        with self._read_lock:
            return job.read()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _fill(job: Job, source: Future[np.ndarray], out: np.ndarray, begin: int, end: int) -> np.ndarray:
    # The source's read was submitted before this step, so a worker has taken it already:
    # waiting for it here cannot deadlock the pool.
    assert job.fill is not None
    job.fill(source.result(), out, begin, end)
    return out
