"""Shared helpers for the tfckpt benchmarks: timing, page-cache warming, data, tables.

Every benchmark runs tfckpt and (when it is importable) TensorFlow in the same process,
on the same files, warmed into the page cache the same way, and reports the median of
several repetitions plus the ratio. Nothing here is used by the library or the tests.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import gc
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Read/write granularity when warming files into the page cache.
_WARM_CHUNK = 1 << 24


def load_tensorflow() -> Any | None:
    """Import TensorFlow quietly, or return ``None`` (printing why) when it is absent."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        import tensorflow as tf
    except ImportError:
        print("TensorFlow not installed: measuring tfckpt only (no ratios).")
        return None
    return tf


def warm(paths: list[str]) -> None:
    """Read every file once so both libraries start from a warm page cache."""
    buf = bytearray(_WARM_CHUNK)
    for path in paths:
        with open(path, "rb", buffering=0) as f:
            while f.readinto(buf):
                pass


def proc_status_mib(field: str) -> float:
    """A memory figure of this process from ``/proc/self/status`` (``VmRSS``, ``VmHWM``,
    ``RssAnon``, ...) in MiB; NaN where there is no /proc. Unlike ``ru_maxrss``, ``VmHWM``
    can be reset (write ``5`` to ``/proc/self/clear_refs``) and excludes a parent's pages."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def checkpoint_files(prefix: str) -> list[str]:
    directory = os.path.dirname(prefix) or "."
    base = os.path.basename(prefix)
    return sorted(
        os.path.join(directory, n) for n in os.listdir(directory) if n == base + ".index" or n.startswith(base + ".data-")
    )


def remove_checkpoint(prefix: str) -> None:
    for path in checkpoint_files(prefix):
        os.unlink(path)


def measure(fn: Callable[[], object], *, repeat: int, setup: Callable[[], object] | None = None) -> list[float]:
    """Run ``fn`` ``repeat`` times (``setup`` untimed before each); return the wall times."""
    times = []
    for _ in range(repeat):
        if setup is not None:
            setup()
        gc.collect()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


#: The library name of rows that measure a lower bound (e.g. the bare file write) rather than
#: a competitor; :meth:`Report.print` gives them no speedup.
FLOOR = "floor"


@dataclass
class Row:
    """One measured case for one library."""

    case: str
    library: str
    times: list[float]
    nbytes: int = 0
    notes: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def best(self) -> float:
        return min(self.times)


@dataclass
class Report:
    """Collects rows and prints them with tfckpt-vs-TensorFlow ratios."""

    title: str
    rows: list[Row] = field(default_factory=list)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        print(
            f"  {row.case:<38} {row.library:<10} median {row.median:8.4f} s  (runs: {', '.join(f'{t:.4f}' for t in row.times)})",
            flush=True,
        )
        return row

    def print(self) -> None:
        """Markdown table; each TensorFlow row carries tfckpt's ratio against it."""
        print()
        print(f"## {self.title}")
        print(machine_line())
        print()
        print("| case | library | median s | best s | GB/s | tfckpt/TF time | tfckpt speedup |")
        print("|---|---|---:|---:|---:|---:|---:|")
        ours = {r.case: r for r in self.rows if r.library == "tfckpt"}
        for r in self.rows:
            gbs = f"{r.nbytes / r.median / 1e9:.2f}" if r.nbytes else ""
            ratio = speed = ""
            mine = ours.get(r.case)
            if r.library != "tfckpt" and mine is not None:
                ratio = f"{mine.median / r.median:.3f}"
                # A floor row is a lower bound on any writer, not a competitor: no speedup.
                speed = "" if r.library == FLOOR else f"**{r.median / mine.median:.2f}x**"
            library = f"{r.library} ({r.notes})" if r.notes else r.library
            print(f"| {r.case} | {library} | {r.median:.4f} | {r.best:.4f} | {gbs} | {ratio} | {speed} |")
        print()


def machine_line() -> str:
    """Date, CPU, cores, RAM and library versions, for the table caption."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        ram_s = f"{ram:.0f} GiB RAM"
    except (ValueError, OSError, AttributeError):
        ram_s = "RAM unknown"
    versions = [f"Python {platform.python_version()}", f"numpy {np.__version__}"]
    import tfckpt

    versions.append(f"tfckpt {tfckpt.__version__}")
    tf = sys.modules.get("tensorflow")
    if tf is not None:
        versions.append(f"TensorFlow {tf.__version__}")
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"{now}; {cpu}, {os.cpu_count()} cores, {ram_s}; {', '.join(versions)}"


def add_case_arguments(parser: argparse.ArgumentParser, *, repeat: int) -> None:
    """The arguments every benchmark shares: the two checkpoint shapes, repetitions, where."""
    parser.add_argument("--size-gib", type=float, default=1.0, help="size of the big case (0 to skip)")
    parser.add_argument("--count", type=int, default=64, help="tensors in the big case")
    parser.add_argument("--small", type=int, default=100_000, help="1 KiB tensors in the small case (0 to skip)")
    parser.add_argument("--repeat", type=int, default=repeat)
    parser.add_argument("--dir", default=None, help="where to put the generated checkpoints (default: system temp)")


@contextlib.contextmanager
def workdir(base: str | None) -> Iterator[str]:
    """A fresh directory for generated checkpoints, removed afterwards."""
    path = tempfile.mkdtemp(prefix="tfckpt-bench-", dir=base)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def float_tensors(count: int, elements: int, seed: int = 0) -> Iterator[tuple[str, np.ndarray]]:
    """``count`` float32 tensors of ``elements`` values each, made one at a time."""
    rng = np.random.default_rng(seed)
    width = len(str(count - 1))
    for i in range(count):
        yield f"layer_{i:0{width}d}/kernel", rng.standard_normal(elements, dtype=np.float32)
