"""Checkpoint averaging: :func:`average`, the ``avg_checkpoints`` of tensor2tensor and the
translation toolkits, without TensorFlow.

Per tensor, in the newest checkpoint's key order, streaming (one accumulator in memory)::

    floating point (float16/32/64, bfloat16, float8, float4; complex):
        acc = sum_i w_i * x_i  in float64 (complex128), then acc / sum_i w_i, cast back
    everything else (integers, bool, strings), and the step counters (global_step,
    save_counter) whatever their dtype:
        the newest checkpoint's value

With equal weights this is tensor2tensor's arithmetic (a float64 ``np.zeros`` accumulator,
``+=`` each checkpoint, ``/=`` their count). The output keeps the inputs' kind: a name-based
(TF1) checkpoint gets the same names; an object-based (TF2) one gets the same keys and the
newest checkpoint's object graph, so TensorFlow restores it into the same objects.
"""

from __future__ import annotations

import os
import queue
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, Final, NamedTuple

import numpy as np

from ..checkpoint import Checkpoint
from ..checkpoint import open as open_checkpoint
from ..errors import CorruptionError, InvalidArgumentError, NotFoundError
from ..format._coding import crc32c_function
from ..format._crc_combine import crc32c_combine
from ..format._dtypes import DTYPE_BY_NAME
from ..format._v2 import BundleReader
from ..object_writer import check_copyable
from ..objects import OBJECT_GRAPH_KEY, SAVE_COUNTER, SUFFIX
from ..proto.trackable_object_graph_pb2 import TrackableObjectGraph  # type: ignore[attr-defined, unused-ignore]
from ..state import get_checkpoint_state
from ..storage import is_url, options_for, store_for
from ..storage._shards import DIRECT_ALIGN
from ..writer import Reserved, Writer

__all__ = ["AVERAGED_DTYPES", "EXACT_SUM_DTYPES", "average", "is_directory", "resolve_sources"]

PathLike = str | os.PathLike[str]

#: TensorFlow dtype -> the accumulator's numpy dtype; tensors of other dtypes are copied
#: from the newest checkpoint.
AVERAGED_DTYPES: Final[dict[str, type]] = {
    **dict.fromkeys(
        ("float16", "bfloat16", "float32", "float64", "float8_e5m2", "float8_e4m3fn", "float8_e4m3fnuz",
         "float8_e4m3b11fnuz", "float8_e5m2fnuz", "float4_e2m1fn"),
        np.float64,
    ),
    "complex64": np.complex128,
    "complex128": np.complex128,
}  # fmt: skip

#: Step counters: taken from the newest checkpoint even when stored as floats.
_COUNTERS: Final = ("global_step", f"{SAVE_COUNTER}{SUFFIX}")


def _is_counter(key: str) -> bool:
    return key in _COUNTERS or key.endswith("/global_step")


def resolve_sources(
    sources: PathLike | Sequence[PathLike], last: int | None = None, *, storage_options: Mapping[str, Any] | None = None
) -> list[str]:
    """The checkpoints to average, oldest first: an explicit list as given, or a directory's
    (or state file's) ``all_model_checkpoint_paths`` in the state file's order; ``last`` keeps
    the newest ``last`` of them. A directory may be a URL (``storage_options`` as fsspec's).

    Raises
    ------
    NotFoundError
        A directory without a state file, or a state file that lists no checkpoint.
    InvalidArgumentError
        ``last`` is not positive, or no checkpoint is given.
    """
    if last is not None and last < 1:
        raise InvalidArgumentError(f"last must be at least 1, got {last}")
    if isinstance(sources, (str, os.PathLike)):
        path = os.fspath(sources)
        if is_directory(path, storage_options):
            directory, name = path, None
        else:
            directory, name = os.path.dirname(path), os.path.basename(path)
        state = get_checkpoint_state(directory or ".", name, storage_options=options_for(path, storage_options))
        if state is None:
            raise NotFoundError(
                f"{path}: no checkpoint state file to take the last checkpoints from; pass the checkpoints as a list", name=path
            )
        paths = list(state.all_model_checkpoint_paths) or [state.model_checkpoint_path]
        if state.model_checkpoint_path in paths:  # the newest is last, as TF's CheckpointManager keeps it
            paths.remove(state.model_checkpoint_path)
            paths.append(state.model_checkpoint_path)
    else:
        paths = [os.fspath(p) for p in sources]
    if not paths:
        raise InvalidArgumentError("no checkpoints to average")
    return paths[-last:] if last is not None else paths


def is_directory(path: str, storage_options: Mapping[str, Any] | None = None) -> bool:
    """Is ``path`` a directory (for a URL: a "directory" of its object store)?"""
    if not is_url(path):
        return os.path.isdir(path)
    store, inner = store_for(path, storage_options)
    return store.isdir(inner)


def _prune_graph(data: bytes, keep: set[str]) -> bytes:
    """The object graph without the attributes of dropped keys and without slot references,
    so TensorFlow restores the model and finds nothing to restore for the optimizer."""
    graph = TrackableObjectGraph()
    graph.ParseFromString(data)
    for node in graph.nodes:
        kept = [a for a in node.attributes if a.checkpoint_key in keep]
        if len(kept) != len(node.attributes):
            del node.attributes[:]
            node.attributes.extend(kept)
            if not kept and not node.children:
                node.has_checkpoint_values.value = False
        del node.slot_variables[:]
    return bytes(graph.SerializeToString(deterministic=True))


def _keys(newest: Checkpoint, skip_optimizer: bool) -> list[str]:
    """The keys to write, in the order TF writes data (graph last); with ``skip_optimizer``
    only model variables (:meth:`Checkpoint.variables`, as ``convert --skip-optimizer``) and
    the step counters."""
    keys = [k for k in newest if k != OBJECT_GRAPH_KEY]
    if skip_optimizer:
        model = set(newest.variables().values())
        keys = [k for k in keys if k in model or _is_counter(k)]
    return keys + ([OBJECT_GRAPH_KEY] if OBJECT_GRAPH_KEY in newest else [])


def average(
    sources: PathLike | Sequence[PathLike],
    dst: PathLike,
    *,
    last: int | None = None,
    weights: Sequence[float] | None = None,
    skip_optimizer: bool = False,
    max_shard_size: int | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> str:
    """Average checkpoints into a new one at ``dst`` (see the module docs for the arithmetic).

    Parameters
    ----------
    sources : path or sequence of paths
        The checkpoints, oldest first (each anything :func:`tfckpt.open` accepts), or a
        directory / state file whose ``all_model_checkpoint_paths`` are taken in order.
        Integers, strings and step counters come from the last (newest) one.
    dst : str or PathLike
        The prefix to write.
    last : int, optional
        Average only the newest ``last`` checkpoints.
    weights : sequence of float, optional
        One non-negative weight per checkpoint (normalized by their sum). Default: equal.
    skip_optimizer : bool
        Leave out optimizer state (slot variables, Adam's powers; the object graph decides
        for TF2 checkpoints, whose graph then keeps no reference to it). Step counters stay.
    max_shard_size : int, optional
        As for :class:`tfckpt.Writer`.
    storage_options : mapping, optional
        For sources or ``dst`` given as URLs (``s3://``, ``gs://``, ...): the fsspec file
        system's options, as :func:`tfckpt.open` and :class:`tfckpt.Writer` take them. A URL
        ``dst`` is written as :class:`tfckpt.Writer` writes one: data objects, then the index.

    Returns
    -------
    str
        ``dst``.

    Raises
    ------
    InvalidArgumentError
        Checkpoints of different kinds or tensor sets, a tensor whose dtype or shape differs
        between two checkpoints (both named), bad weights. Nothing is written at ``dst``.
    NotFoundError, CorruptionError
        A checkpoint is missing or damaged.
    UnsupportedError
        A variant tensor (tfckpt does not write them).

    Examples
    --------
    >>> tfckpt.average("run/", "run/avg/model.ckpt", last=5)                  # doctest: +SKIP
    'run/avg/model.ckpt'
    >>> tfckpt.average(["a/ckpt-8", "a/ckpt-9"], "avg/ckpt-9", weights=[1, 3])  # doctest: +SKIP
    'avg/ckpt-9'
    """
    paths = resolve_sources(sources, last, storage_options=storage_options)
    if weights is None:
        factors = None
    else:
        factors = [float(w) for w in weights]
        if len(factors) != len(paths):
            raise InvalidArgumentError(f"{len(factors)} weights for {len(paths)} checkpoints")
        if any(not np.isfinite(w) or w < 0 for w in factors) or sum(factors) <= 0:
            raise InvalidArgumentError(f"weights must be finite, non-negative and not all zero, got {factors}")
    ckpts: list[Checkpoint] = []
    try:
        for p in paths:
            ckpts.append(open_checkpoint(p, storage_options=options_for(p, storage_options)))
        newest = ckpts[-1]
        keys = _keys(newest, skip_optimizer)
        _check_alike(ckpts, keys)
        check_copyable(newest, keys)
        workers = max(1, min(MAX_WORKERS, os.cpu_count() or 1))
        with (
            Writer(dst, max_shard_size=max_shard_size, storage_options=options_for(os.fspath(dst), storage_options)) as writer,
            ThreadPoolExecutor(workers) as compute,
            ThreadPoolExecutor(1) as io,
        ):
            # Each averaged tensor's bytes are reserved in the data shard, in key order, and its
            # chunks are queued on the compute threads, which compute each chunk into a buffer
            # that the writing thread then writes where it belongs, directly to the disk where
            # it can (numpy's loops, the checksums and pwrite release the GIL): no
            # whole-tensor output is held, copied or faulted in, and no compute thread waits
            # for the disk. The chunks of the next LOOKAHEAD tensors are queued behind the one
            # whose checksums the main thread checks, so a thread that finishes goes on with
            # them instead of waiting.
            threads = _Threads(compute, workers, io, _Outputs(OUTPUTS_PER_WORKER * workers))
            started: deque[_Mean] = deque()  # oldest first
            try:
                for key in keys:
                    job = _start(ckpts, key, factors, skip_optimizer, keys, writer, threads)
                    if job is not None:
                        started.append(job)
                    while len(started) > LOOKAHEAD:
                        started.popleft().finish(writer)
                while started:
                    started.popleft().finish(writer)
            finally:
                for job in started:  # after an error: no chunk left running (they write into the shard)
                    job.cancel()
        return writer.prefix
    finally:
        for ckpt in ckpts:
            ckpt.close()


#: Elements accumulated per step: the float64 (or complex128) block stays in the CPU cache
#: while each checkpoint's slice is added to it, instead of streaming a whole-tensor
#: accumulator through memory once per checkpoint (docs/performance.md has the figures).
BLOCK_ELEMENTS: Final = 1 << 16

#: Elements per task of the compute threads at most: a tensor is cut into chunks, whose
#: checksums :func:`crc32c_combine` joins (under 1 us each, against up to ~8 ms of work a chunk).
CHUNK_ELEMENTS: Final = 1 << 20

#: Tensors whose chunks are queued behind the one whose result is awaited: the compute
#: threads finish a tensor at different times, and the one done first goes on with these.
LOOKAHEAD: Final = 16

#: Threads that average the chunks (numpy's loops release the GIL), at most.
MAX_WORKERS: Final = 4

#: Output buffers per compute thread: one being computed into, the others written or
#: waiting for the writing thread, so that a compute thread waits for the disk only when it
#: falls that far behind.
OUTPUTS_PER_WORKER: Final = 4


class _Blocks(threading.local):
    """One thread's accumulator and scratch block per accumulator dtype, allocated once and
    reused for every tensor, so the inner loop allocates nothing."""

    def __init__(self) -> None:
        self.buffers: dict[type, tuple[np.ndarray, np.ndarray]] = {}

    def get(self, acc_dtype: type) -> tuple[np.ndarray, np.ndarray]:
        pair = self.buffers.get(acc_dtype)
        if pair is None or len(pair[0]) < BLOCK_ELEMENTS:
            pair = self.buffers[acc_dtype] = (np.empty(BLOCK_ELEMENTS, acc_dtype), np.empty(BLOCK_ELEMENTS, acc_dtype))
        return pair


_BLOCKS: Final = _Blocks()


class _Outputs:
    """The page-aligned buffers chunks are computed into and written from: a compute thread
    takes one, the writing thread gives it back once its bytes are written. Reused for every
    chunk of every tensor, so no output page is faulted in twice; the one given back last is
    taken first, its lines the likeliest to be still in the CPU cache."""

    def __init__(self, count: int) -> None:
        self._free: queue.LifoQueue[np.ndarray] = queue.LifoQueue()
        for _ in range(count):
            self._free.put(np.empty(0, np.uint8))  # allocated on first use, at the size needed

    def take(self, nbytes: int) -> np.ndarray:
        """A free buffer of at least ``nbytes`` bytes from a page boundary on, plus a page
        (waits while every buffer is taken)."""
        buffer = self._free.get()
        if buffer.nbytes < nbytes + DIRECT_ALIGN:
            size = max(nbytes, CHUNK_ELEMENTS * 4) + DIRECT_ALIGN  # a float32 chunk's, or more
            raw = np.empty(size + DIRECT_ALIGN, np.uint8)
            start = -raw.ctypes.data % DIRECT_ALIGN
            buffer = raw[start : start + size]
        return buffer

    def give(self, buffer: np.ndarray) -> None:
        self._free.put(buffer)


class _Threads(NamedTuple):
    """Where a tensor's chunks run: ``workers`` compute threads, one writing thread, and
    the output buffers they pass between them."""

    compute: ThreadPoolExecutor
    workers: int
    io: ThreadPoolExecutor
    outputs: _Outputs


def _start(
    ckpts: list[Checkpoint], key: str, factors: list[float] | None, skip_optimizer: bool, keys: list[str], writer: Writer,
    threads: _Threads,
) -> _Mean | None:  # fmt: skip
    """Write ``key``'s value, or reserve its bytes and start its mean on ``threads``."""
    newest = ckpts[-1]
    dtype = newest.dtype(key)
    if key == OBJECT_GRAPH_KEY:
        graph = bytes(newest[key][()])
        if skip_optimizer:
            graph = _prune_graph(graph, set(keys))
        writer.add(key, np.array(graph, dtype=object), dtype="string")
    elif dtype in AVERAGED_DTYPES and not _is_counter(key):
        return _mean(ckpts, key, dtype, AVERAGED_DTYPES[dtype], factors, writer, threads)
    else:
        writer.add(key, newest[key], dtype=dtype)
    return None


class _Input(NamedTuple):
    """One checkpoint's tensor, flat, and the CRC32C its bytes must have when they were
    mapped unchecked (None: read through :meth:`Checkpoint.__getitem__`, checked already)."""

    values: np.ndarray
    crc: int | None


def _input(ckpt: Checkpoint, key: str, mapped: tuple[np.ndarray, int] | None) -> _Input:
    """The input from :meth:`BundleReader.unverified`'s ``mapped``, or else read."""
    if mapped is None:  # a copy if partitioned or remote, checked as read
        return _Input(ckpt[key].reshape(-1), None)
    return _Input(mapped[0].reshape(-1), mapped[1])


#: A chunk's result: each input's CRC32C of its elements, the output's, and its write.
_ChunkResult = tuple[list[int], int, Future[None]]


class _Mean:
    """A tensor whose chunks are queued on the compute threads: the bytes reserved for it,
    and the checksums its inputs must have."""

    def __init__(self, key: str, reserved: Reserved, inputs: list[tuple[Checkpoint, _Input]], itemsize: int,
                 chunks: list[tuple[int, int, Future[_ChunkResult]]]) -> None:  # fmt: skip
        self.key, self.reserved, self._inputs, self._itemsize, self._chunks = key, reserved, inputs, itemsize, chunks

    def finish(self, writer: Writer) -> None:
        """Record the tensor in ``writer`` once every chunk is written and every input's
        checksum matched (else the reader's CorruptionError naming file, offset and tensor)."""
        try:
            self._settle()  # every chunk and its write finished (or failed) before anything is raised
            results = [task.result() for _, _, task in self._chunks]
            for _, _, written in results:
                written.result()
            for i, (ckpt, item) in enumerate(self._inputs):
                if item.crc is None:
                    continue
                crc = self._combine([part[0][i] for part in results])
                if crc != item.crc:
                    ckpt[self.key]  # checks the bytes again and raises the reader's error
                    raise CorruptionError(
                        f"checksum mismatch (stored {item.crc:#010x}, computed {crc:#010x})", path=ckpt.prefix, tensor=self.key
                    )
        except BaseException:
            self.reserved.close()
            raise
        writer._fill(self.reserved, self._combine([part[1] for part in results]))

    def _settle(self) -> None:
        """Wait for every chunk that was not cancelled, then for the writes they queued."""
        tasks = [task for _, _, task in self._chunks]
        wait(tasks)
        wait([task.result()[2] for task in tasks if not task.cancelled() and task.exception() is None])

    def _combine(self, crcs: list[int]) -> int:
        """The CRC32C of the whole tensor's bytes from its chunks' (0 for no chunk: no bytes)."""
        if not crcs:
            return 0
        crc = crcs[0]
        for (first, last, _), part in zip(self._chunks[1:], crcs[1:]):
            crc = crc32c_combine(crc, part, (last - first) * self._itemsize)
        return crc

    def cancel(self) -> None:
        """Drop the chunks not started, wait for the running ones and their writes (into the
        reserved bytes), close the reservation."""
        for _, _, task in self._chunks:
            task.cancel()
        self._settle()
        self.reserved.close()


def _mean(
    ckpts: list[Checkpoint], key: str, dtype: str, acc_dtype: type, factors: list[float] | None, writer: Writer,
    threads: _Threads,
) -> _Mean:  # fmt: skip
    """Start the weighted mean of tensor ``key`` on ``threads``, accumulated in ``acc_dtype``
    block by block (the same operations, element by element, as one whole-tensor
    accumulator), in its own dtype, into the bytes reserved for it in ``writer``.

    The tensor is cut into chunks of whole blocks, at least two per compute thread (so
    the threads finish it together) and at most :data:`CHUNK_ELEMENTS`. The inputs'
    checksums are computed in the same pass, a block at a time, while the block is in the
    CPU cache for its additions (instead of a pass of their own over memory); the chunks'
    checksums are combined and checked by :meth:`_Mean.finish`."""
    mapped = [c._source.unverified(key) if isinstance(c._source, BundleReader) else None for c in ckpts]
    if sum(m is None for m in mapped) > 1:  # remote or partitioned: fetched concurrently
        inputs = list(threads.compute.map(_input, ckpts, [key] * len(ckpts), mapped))
    else:
        inputs = [_input(c, key, m) for c, m in zip(ckpts, mapped)]
    shape = ckpts[-1].shape(key)
    out_dtype = np.dtype(DTYPE_BY_NAME[dtype].numpy)
    reserved = writer._reserve(key, dtype, shape)
    size = inputs[0].values.size
    total = len(ckpts) if factors is None else sum(factors)
    crcs = {item.crc for item in inputs}
    alike = factors is None and dtype in EXACT_SUM_DTYPES and 1 < len(inputs) <= 1 << 29 and len(crcs) == 1 and None not in crcs
    work = _alike_range if alike else _mean_range  # one stored checksum for all: probably equal bytes
    per = min(CHUNK_ELEMENTS, max(1, -(-size // (2 * threads.workers * BLOCK_ELEMENTS))) * BLOCK_ELEMENTS)
    job = _Mean(key, reserved, list(zip(ckpts, inputs)), out_dtype.itemsize, [])
    try:
        for first in range(0, size, per):
            last = min(first + per, size)
            task = threads.compute.submit(
                _chunk, work, inputs, first, last, out_dtype, acc_dtype, factors, total, reserved, threads
            )
            job._chunks.append((first, last, task))
    except BaseException:
        job.cancel()
        raise
    return job


def _chunk(
    work: Callable[..., list[int]], inputs: list[_Input], first: int, last: int, out_dtype: np.dtype, acc_dtype: type,
    factors: list[float] | None, total: float, reserved: Reserved, threads: _Threads,
) -> _ChunkResult:  # fmt: skip
    """Elements ``[first, last)`` of the mean (``work``: :func:`_mean_range` or
    :func:`_alike_range`), computed into an output buffer and queued for the writing thread;
    returns each input's CRC32C of those elements, the output's, and the write."""
    at = first * out_dtype.itemsize
    nbytes = (last - first) * out_dtype.itemsize
    # The bytes sit as far from a page boundary in the buffer as in the file, so that their
    # whole pages are whole pages of memory, which Reserved.write sends directly to the disk.
    # Elements may then be misaligned (a tensor after an odd-sized one in the file): numpy's
    # loops take them as they take the mapped inputs, which sit the same way.
    pad = (reserved.offset + at) % DIRECT_ALIGN
    buffer = threads.outputs.take(nbytes)
    try:
        data = buffer[pad : pad + nbytes]
        crcs = work([_Input(item.values[first:last], item.crc) for item in inputs], data.view(out_dtype), 0, last - first,
                    acc_dtype, factors, total)  # fmt: skip
        crc = crc32c_function()(data.data)
        written = threads.io.submit(_write, reserved, data, at, threads.outputs, buffer)
    except BaseException:
        threads.outputs.give(buffer)
        raise
    return crcs, crc, written


def _write(reserved: Reserved, data: np.ndarray, at: int, outputs: _Outputs, buffer: np.ndarray) -> None:
    """The writing thread's task: ``data`` (bytes of ``buffer``) into ``reserved`` at ``at``,
    then ``buffer`` back to ``outputs``."""
    try:
        reserved.write(data.data, at)
    finally:
        outputs.give(buffer)


def _mean_range(
    inputs: list[_Input], flat: np.ndarray, first: int, last: int, acc_dtype: type, factors: list[float] | None, total: float
) -> list[int]:
    """``flat[first:last]`` = the weighted mean of ``inputs[i].values[first:last]``, one cached
    block at a time; returns each input's CRC32C of those elements' bytes (0 where unchecked)."""
    acc, scratch = _BLOCKS.get(acc_dtype)
    fused = flat.dtype.kind != "V"  # numpy casts into its own dtypes inside the ufunc; ml_dtypes by copyto
    checksum = crc32c_function()
    itemsize = flat.dtype.itemsize
    values = [item.values for item in inputs]
    raw = [item.values.view(np.uint8) if item.crc is not None else None for item in inputs]  # ml_dtypes export no buffer
    crcs = [0] * len(inputs)
    for start in range(first, last, BLOCK_ELEMENTS):
        end = min(start + BLOCK_ELEMENTS, last)
        block = acc[: end - start]
        for i, x in enumerate(values):
            data = raw[i]
            if data is not None:  # also brings the block into the cache for the addition
                crcs[i] = checksum(data[start * itemsize : end * itemsize], crcs[i])
            if factors is not None:
                weighted = scratch[: end - start]
                np.multiply(x[start:end], factors[i], out=weighted, dtype=acc_dtype, casting="unsafe")
                np.add(block if i else 0.0, weighted, out=block)
            elif i:
                np.add(block, x[start:end], out=block, casting="unsafe")
            else:  # x + 0.0 is tensor2tensor's np.zeros(...) + x, -0.0 becoming 0.0 included
                np.add(x[start:end], 0.0, out=block, dtype=acc_dtype, casting="unsafe")
        if fused:
            np.divide(block, total, out=flat[start:end], casting="unsafe")
        else:
            np.divide(block, total, out=block)
            np.copyto(flat[start:end], block, casting="unsafe")
    return crcs


#: Dtypes of at most 24 significant bits. N bitwise-equal values x of one of them sum exactly
#: in float64 (each partial sum k * x needs at most 24 + log2(N) <= 53 bits for N <= 2**29,
#: far inside float64's exponent range), and N * x / N is x again: their unweighted mean is
#: tensor2tensor's ``0.0 + x`` cast back (x itself, except that -0.0 becomes 0.0, and a NaN
#: the same quiet NaN as through the full sum). Not float64 (5 * x may round), nor weights.
EXACT_SUM_DTYPES: Final = frozenset(AVERAGED_DTYPES) - {"float64", "complex64", "complex128"}


def _alike_range(
    inputs: list[_Input], flat: np.ndarray, first: int, last: int, acc_dtype: type, factors: list[float] | None, total: float
) -> list[int]:
    """:func:`_mean_range` (unweighted) for inputs stored with one checksum, so probably bitwise equal
    (frozen weights, optimizer slots that never moved): while a block is the same in every
    input, its mean is ``0.0 + x`` cast back (see :data:`EXACT_SUM_DTYPES`) and one checksum
    covers all inputs; from the first block that differs, :func:`_mean_range` does the rest."""
    acc, _ = _BLOCKS.get(acc_dtype)
    checksum = crc32c_function()
    itemsize = flat.dtype.itemsize
    words = [item.values.view(f"u{itemsize}") for item in inputs]  # bits, so NaNs and signed zeros compare as stored
    first_bytes = words[0].view(np.uint8)
    crc = 0
    for start in range(first, last, BLOCK_ELEMENTS):
        end = min(start + BLOCK_ELEMENTS, last)
        if not all(np.array_equal(w[start:end], words[0][start:end]) for w in words[1:]):
            rest = _mean_range(inputs, flat, start, last, acc_dtype, factors, total)
            return [crc32c_combine(crc, part, (last - start) * itemsize) for part in rest]
        crc = checksum(first_bytes[start * itemsize : end * itemsize], crc)
        block = acc[: end - start]
        np.add(inputs[0].values[start:end], 0.0, out=block, dtype=acc_dtype, casting="unsafe")
        np.copyto(flat[start:end], block, casting="unsafe")
    return [crc] * len(inputs)


def _check_alike(ckpts: list[Checkpoint], keys: list[str]) -> None:
    """Every checkpoint has each key with the newest one's dtype and shape."""
    newest = ckpts[-1]
    graph = OBJECT_GRAPH_KEY in newest
    averaged = [
        (key, dtype)
        for key in keys
        if key != OBJECT_GRAPH_KEY and (dtype := newest.dtype(key)) in AVERAGED_DTYPES and not _is_counter(key)
    ]
    wanted = [(key, (dtype, newest.shape(key))) for key, dtype in averaged]  # looked up once, not once per checkpoint
    for ckpt in ckpts[:-1]:
        if (OBJECT_GRAPH_KEY in ckpt) != graph:
            kinds = {True: "object-based (TF2)", False: "name-based (TF1)"}
            raise InvalidArgumentError(
                f"{ckpt.prefix} is {kinds[not graph]} but {newest.prefix} is {kinds[graph]}; average checkpoints of one model"
            )
        for key, want in wanted:
            if key not in ckpt:
                raise InvalidArgumentError(f"tensor {key!r} of {newest.prefix} is missing from {ckpt.prefix}")
            got = (ckpt.dtype(key), ckpt.shape(key))
            if got != want:
                raise InvalidArgumentError(
                    f"tensor {key!r} is {got[0]}{list(got[1])} in {ckpt.prefix} but {want[0]}{list(want[1])} in {newest.prefix}"
                )
