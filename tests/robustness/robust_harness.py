"""Running one hostile case under a time and memory bound, and building hostile files.

:func:`bounded` forks a child (tfckpt and numpy are already imported, so a case costs a few
milliseconds), caps its address space with ``RLIMIT_AS`` at what it has mapped plus
``memory_mib``, runs the case and sends back what happened. The parent kills the child when
``seconds`` pass. So a hang (a FIFO opened for reading, a quadratic loop) shows as
``timed_out`` and a huge allocation as an escaped ``MemoryError``, both failures, and no
test ever measures wall-clock performance: the bounds are generous limits, not timings.

The builders write files with *valid* checksums whose content lies: the bundle layer and
above see the hostile values, not a checksum error.
"""

from __future__ import annotations

import os
import pickle
import resource
import select
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import tfckpt
from tfckpt.format._bundle import BundleEntry, BundleHeader, data_filename, index_filename
from tfckpt.format._coding import crc32c, mask_crc
from tfckpt.format._table import TableBuilder

#: Default bounds of a case: generous for kilobyte inputs on a loaded machine, and far below
#: what the defects this suite guards against took (tens of seconds, hundreds of MiB).
#: ``TFCKPT_CASE_SECONDS`` overrides the time bound (to run the suite quickly against old code).
SECONDS = float(os.environ.get("TFCKPT_CASE_SECONDS", "15"))
MEMORY_MIB = 256


@dataclass
class Outcome:
    """What a bounded case did: returned ``value``, raised ``error`` (class names, most
    derived first, and message), or ran out of time."""

    value: Any = None
    error: tuple[str, ...] = ()
    message: str = ""
    timed_out: bool = False
    crashed: str = ""

    def raised(self, cls: type[BaseException]) -> bool:
        return cls.__name__ in self.error

    def __str__(self) -> str:
        if self.timed_out:
            return "timed out"
        if self.crashed:
            return f"crashed: {self.crashed}"
        if self.error:
            return f"{self.error[0]}: {self.message}"
        return f"returned {self.value!r}"[:500]


def _vm_size() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize in /proc/self/status")


def bounded(fn: Callable[[], Any], *, seconds: float = SECONDS, memory_mib: int = MEMORY_MIB) -> Outcome:
    """Run ``fn()`` in a forked child within ``seconds`` and ``memory_mib`` more address space."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 0
        try:
            os.close(read_end)
            limit = _vm_size() + (memory_mib << 20)
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            try:
                result = Outcome(value=fn())
                pickle.dumps(result)
            except BaseException as e:  # noqa: BLE001 - reported to the parent
                result = Outcome(error=tuple(c.__name__ for c in type(e).__mro__), message=str(e)[:2000])
            data = pickle.dumps(result)
            with os.fdopen(write_end, "wb") as f:
                f.write(data)
        except BaseException:  # noqa: BLE001
            code = 1
        finally:
            os._exit(code)
    os.close(write_end)
    chunks = []
    deadline = time.monotonic() + seconds
    timed_out = False
    with os.fdopen(read_end, "rb") as f:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            ready, _, _ = select.select([f], [], [], left)
            if ready:
                chunk = os.read(f.fileno(), 1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
    if timed_out:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    if timed_out:
        return Outcome(timed_out=True)
    if not chunks:
        return Outcome(crashed=f"child exited with status {status:#x} and no report")
    return pickle.loads(b"".join(chunks))  # type: ignore[no-any-return]


def expect_error(outcome: Outcome, cls: type[BaseException], match: str = "") -> None:
    """The case raised ``cls`` (the project's own error) within the bounds, mentioning ``match``."""
    assert outcome.raised(cls), f"expected {cls.__name__}, got: {outcome}"
    assert match in outcome.message, f"{match!r} not in {outcome.message!r}"


def expect_value(outcome: Outcome) -> Any:
    assert not outcome.timed_out and not outcome.crashed and not outcome.error, f"expected a value, got: {outcome}"
    return outcome.value


# -- hostile bundles with valid checksums ----------------------------------------------

_ONE_SHARD = BundleHeader()


def write_bundle(
    prefix: Path | str,
    entries: Iterable[tuple[bytes, BundleEntry | bytes]],
    *,
    header: BundleHeader | bytes = _ONE_SHARD,
    shards: dict[int, bytes] | None = None,
) -> str:
    """Write ``prefix.index`` holding ``header`` and ``entries`` (sorted here; a value may be
    raw entry bytes) and the data shards ``shards`` (id -> bytes, named for the header's count)."""
    prefix = str(prefix)
    rows = {b"": header if isinstance(header, bytes) else header.encode()}
    for key, value in entries:
        rows[key] = value if isinstance(value, bytes) else value.encode()
    with open(index_filename(prefix), "wb") as f:
        table = TableBuilder(f)
        for key in sorted(rows):
            table.add(key, rows[key])
        table.finish()
    count = header.num_shards if isinstance(header, BundleHeader) else 1
    for shard, data in (shards or {}).items():
        Path(data_filename(prefix, shard, count)).write_bytes(data)
    return prefix


def plain_entry(arr: np.ndarray, dtype: int, offset: int = 0, shard: int = 0) -> BundleEntry:
    """A fixed-width entry for ``arr`` stored at ``offset`` of shard ``shard``, checksum right."""
    data = np.ascontiguousarray(arr).tobytes()
    return BundleEntry(dtype, tuple(arr.shape), shard, offset, len(data), mask_crc(crc32c(data)))


def read_all(path: str | Path, *, graph: bool = False) -> dict[str, Any]:
    """Open ``path`` and read every tensor (and the object graph's queries when ``graph``)."""
    out: dict[str, Any] = {}
    with tfckpt.open(path) as ckpt:
        for name in ckpt:
            if ckpt.dtype(name) == "variant":
                out[name] = ckpt.variant_elements(name)
            else:
                out[name] = np.array(ckpt[name])
        if graph:
            out["<variables>"] = ckpt.variables()
    return out
