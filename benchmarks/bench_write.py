"""Write benchmark: tfckpt.save against TensorFlow's SaveV2 and the other formats' writers,
in interleaved rounds, plus tfckpt.Writer's peak memory when streaming.

Run from the TensorFlow venv (which also has safetensors and torch) so every contender is
measured in the same process on the same arrays; a contender whose library cannot be
imported is skipped::

    python benchmarks/bench_write.py [--size-gib 1] [--count 64] [--small 100000] [--rounds 5]
                                     [--contenders tfckpt,tensorflow,...] [--stream-gib 2]

Cases: ``--size-gib`` of float32 in ``--count`` tensors, and ``--small`` tensors of 1 KiB
(256 float32), all in memory before timing. Each round runs every contender once (the
order rotates from round to round); before each run the previous output is deleted and
``os.sync()`` flushes dirty pages (untimed). Rows give the median and the min-max over the
rounds: the virtual disk here is bimodal (an fsync of 1 GiB takes 0.2 s or 1+ s), so the
minimum is the disk in its fast mode and the median what a user sees. The last column is
the median of each round's own ratio (the contender's time over tfckpt's in the same round),
which the machine's slow stretches, shared by a round's contenders, move less.

What each contender does, and what it makes durable (``fsync``) before returning:

* ``tfckpt``: ``tfckpt.save(prefix, dict)``. fsyncs every data shard and the index, and
  the directory (twice: after the data renames and after the commit), as its atomic
  commit requires.
* ``tensorflow``: ``tf.raw_ops.SaveV2`` on ``tf.Tensor`` made beforehand (untimed), its
  fastest path. No fsync. ``tensorflow + fsync``: the same, then an fsync of its two files
  (not of the directory). ``tensorflow from numpy``: SaveV2 given the numpy arrays (it
  converts them), no fsync (small case only with ``--tf-numpy``: 3 s a round).
* ``safetensors + fsync``: ``safetensors.numpy.save_file`` then an fsync of the file.
* ``numpy.savez + fsync``: ``numpy.savez`` (uncompressed zip) then an fsync of the file.
* ``torch.save + fsync``: ``torch.save`` of a dict of ``torch.from_numpy`` views (made
  beforehand) then an fsync of the file.
* ``floor write + fsync``: the payload bytes joined beforehand (untimed), one ``write()`` and
  an fsync: the least any durable writer of these bytes waits for.
* ``floor write``: the same without the fsync; ``floor write + crc loop``: a Python loop
  making one buffered ``write()`` and one ``crc32c()`` call per tensor, no fsync (the least a
  pure-Python writer that checksums each tensor does).

The files of tfckpt and TensorFlow are checked byte-identical first (untimed).

Memory (``--memory``): each contender writes once more in a fresh process that made the
same tensors, and the table gives its peak RSS growth during that write (``VmHWM`` from
``/proc/self/status``, reset through ``/proc/self/clear_refs`` just before, minus the RSS
then): in the timing process, memory freed by one contender is reused by the next, so
only a fresh process shows what a write allocates.

``stream``: in a fresh subprocess, ``--stream-gib`` of ``--stream-tensor-mib`` tensors are
generated one at a time and streamed through ``tfckpt.Writer``; the report shows the peak
RSS growth and the tracemalloc peak during the write next to the largest tensor.
"""

from __future__ import annotations

import argparse
import filecmp
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import crc32c

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import checkpoint_files, float_tensors, load_tensorflow, machine_line, proc_status_mib, workdir

import tfckpt

_STREAM_CHILD = r"""
import json, os, sys, time, tracemalloc
sys.path.insert(0, {bench_dir!r})
import numpy as np
import tfckpt
from _common import proc_status_mib as status_mib  # ru_maxrss would include the parent's pages

prefix, count, elements, trace = {prefix!r}, {count}, {elements}, {trace}
if trace:
    tracemalloc.start()
baseline_rss = status_mib("VmRSS")
try:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak (VmHWM) to the current RSS
except OSError:
    pass
t0 = time.perf_counter()
with tfckpt.Writer(prefix) as writer:
    for i in range(count):
        arr = np.full(elements, i, np.float32)  # made one at a time; cheap, so the write dominates
        writer.add(f"layer_{{i:04d}}/kernel", arr)
        del arr  # the producer keeps one tensor alive at a time
seconds = time.perf_counter() - t0
traced_peak = tracemalloc.get_traced_memory()[1] if trace else 0
size = sum(os.path.getsize(os.path.join(os.path.dirname(prefix), n)) for n in os.listdir(os.path.dirname(prefix)))
print(json.dumps(dict(baseline_rss_mib=baseline_rss, peak_rss_mib=status_mib("VmHWM"), traced_peak_mib=traced_peak / 2**20,
                      tensor_mib=elements * 4 / 2**20, checkpoint_mib=size / 2**20, seconds=seconds)))
"""

#: Contenders in table order; ``--contenders`` picks among them.
CONTENDERS = (
    "tfckpt",
    "tensorflow",
    "tensorflow + fsync",
    "tensorflow from numpy",
    "safetensors + fsync",
    "numpy.savez + fsync",
    "torch.save + fsync",
    "floor write + fsync",
    "floor write",
    "floor write + crc loop",
)


def fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # VmHWM := VmRSS
    except OSError:
        return False
    return True


@dataclass
class Contender:
    name: str
    run: Callable[[], object]
    clean: Callable[[], object]
    times: list[float] = field(default_factory=list)
    peaks: list[float] = field(default_factory=list)


def remove(paths: list[str]) -> None:
    for path in paths:
        if os.path.exists(path):
            os.remove(path)


def contenders_for(tf: Any, tmp: str, tensors: dict[str, Any], wanted: set[str], tf_numpy: bool) -> list[Contender]:
    """Every contender whose library imports, writing ``tensors`` under ``tmp``."""
    names, arrays = list(tensors), list(tensors.values())
    out: list[Contender] = []

    def add(name: str, run: Callable[[], object], outputs: Callable[[], list[str]]) -> None:
        if name in wanted:
            out.append(Contender(name, run, lambda: remove(outputs())))

    ours = os.path.join(tmp, "tfckpt", "model.ckpt-1")
    theirs = os.path.join(tmp, "tf", "model.ckpt-1")
    for prefix in (ours, theirs):
        os.makedirs(os.path.dirname(prefix), exist_ok=True)
    add("tfckpt", lambda: tfckpt.save(ours, tensors), lambda: checkpoint_files(ours))
    if tf is not None:
        tf_tensors = [tf.constant(a) for a in arrays]

        def save_tf(values: list[Any]) -> None:
            tf.raw_ops.SaveV2(prefix=theirs, tensor_names=names, shape_and_slices=[""] * len(names), tensors=values)

        def save_tf_fsync() -> None:
            save_tf(tf_tensors)
            for path in checkpoint_files(theirs):
                fsync_file(path)

        add("tensorflow", lambda: save_tf(tf_tensors), lambda: checkpoint_files(theirs))
        add("tensorflow + fsync", save_tf_fsync, lambda: checkpoint_files(theirs))
        if tf_numpy:
            add("tensorflow from numpy", lambda: save_tf(arrays), lambda: checkpoint_files(theirs))
    try:
        from safetensors.numpy import save_file
    except ImportError:
        pass
    else:
        st_path = os.path.join(tmp, "model.safetensors")

        def save_st() -> None:
            save_file(tensors, st_path)
            fsync_file(st_path)

        add("safetensors + fsync", save_st, lambda: [st_path])
    npz_path = os.path.join(tmp, "model.npz")

    def save_npz() -> None:
        import numpy as np

        np.savez(npz_path, **tensors)
        fsync_file(npz_path)

    add("numpy.savez + fsync", save_npz, lambda: [npz_path])
    try:
        import torch
    except ImportError:
        pass
    else:
        pt_path = os.path.join(tmp, "model.pt")
        torch_tensors = {k: torch.from_numpy(a) for k, a in tensors.items()}  # views, no copy

        def save_pt() -> None:
            torch.save(torch_tensors, pt_path)
            fsync_file(pt_path)

        add("torch.save + fsync", save_pt, lambda: [pt_path])
    floor_path = os.path.join(tmp, "floor.data")
    payload = b"".join(arrays) if wanted & {"floor write", "floor write + fsync"} else b""

    def floor_write(sync: bool) -> None:
        with open(floor_path, "wb") as f:
            f.write(payload)
            f.flush()
            if sync:
                os.fsync(f.fileno())

    def floor_loop() -> None:
        checksum = crc32c.crc32c
        with open(floor_path, "wb", buffering=1 << 18) as f:
            for a in arrays:
                f.write(a)
                checksum(a)

    add("floor write + fsync", lambda: floor_write(True), lambda: [floor_path])
    add("floor write", lambda: floor_write(False), lambda: [floor_path])
    add("floor write + crc loop", floor_loop, lambda: [floor_path])
    return out


def same_files(prefix_a: str, prefix_b: str) -> bool:
    a, b = checkpoint_files(prefix_a), checkpoint_files(prefix_b)
    return len(a) == len(b) and all(filecmp.cmp(x, y, shallow=False) for x, y in zip(a, b))


def run_case(
    tf: Any, tmp: str, case: str, count: int, elements: int, rounds: int, wanted: set[str], tf_numpy: bool
) -> list[tuple[str, str, Contender, int]]:
    tensors = dict(float_tensors(count, elements))
    nbytes = sum(a.nbytes for a in tensors.values())
    contenders = contenders_for(tf, tmp, tensors, wanted, tf_numpy)
    by_name = {c.name: c for c in contenders}
    if "tfckpt" in by_name and "tensorflow" in by_name:
        by_name["tfckpt"].run()
        by_name["tensorflow"].run()
        identical = same_files(os.path.join(tmp, "tfckpt", "model.ckpt-1"), os.path.join(tmp, "tf", "model.ckpt-1"))
        print(f"{case}: tfckpt's files byte-identical to SaveV2's: {identical}", flush=True)
        if not identical:
            raise SystemExit("tfckpt wrote different bytes than TensorFlow")
    for r in range(rounds):
        shift = r % len(contenders)
        for c in contenders[shift:] + contenders[:shift]:  # rotate: no contender always goes first
            c.clean()
            os.sync()
            gc.collect()
            t0 = time.perf_counter()
            c.run()
            c.times.append(time.perf_counter() - t0)
        print(f"  {case} round {r + 1}: " + ", ".join(f"{c.name} {c.times[-1]:.4f}" for c in contenders), flush=True)
    for c in contenders:
        c.clean()
    os.sync()
    return [(case, c.name, c, nbytes) for c in contenders]


def measure_memory(case_args: list[str], name: str) -> float:
    """Peak RSS growth (MiB) of one write by contender ``name`` in a fresh process."""
    cmd = [sys.executable, os.path.abspath(__file__), *case_args, "--memory-child", name]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return float(json.loads(out.stdout.strip().splitlines()[-1])["peak_growth_mib"])


def memory_child(args: argparse.Namespace, name: str) -> None:
    count, elements = (args.count, int(args.size_gib * 2**30) // 4 // args.count) if args.size_gib > 0 else (args.small, 256)
    tensors = dict(float_tensors(count, elements))
    tf = load_tensorflow() if name.startswith("tensorflow") else None
    with workdir(args.dir) as tmp:
        (contender,) = contenders_for(tf, tmp, tensors, {name}, True)
        os.sync()
        gc.collect()
        have_peak = reset_peak()
        before = proc_status_mib("VmRSS")
        contender.run()
        growth = proc_status_mib("VmHWM") - before if have_peak else float("nan")
        contender.clean()
    print(json.dumps({"peak_growth_mib": growth}))


def print_table(rows: list[tuple[str, str, Contender, int]], rounds: int, load: str) -> None:
    print()
    print(f"## Write: every contender in interleaved rounds ({rounds} rounds)")
    print(machine_line() + f"; load average before: {load}")
    print()
    memory = any(c.peaks for _, _, c, _ in rows)  # measured with --memory only
    print(
        "| case | contender | median s | min-max s | GB/s (median) | vs tfckpt (median) | vs tfckpt (min) | vs tfckpt (per round) |"
        + (" peak RSS growth, MiB |" if memory else "")
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|" + ("---:|" if memory else ""))
    ours = {case: c for case, name, c, _ in rows if name == "tfckpt"}
    for case, name, c, nbytes in rows:
        median, best, worst = statistics.median(c.times), min(c.times), max(c.times)
        mine = ours.get(case)
        ratio = ratio_min = per_round = ""
        if mine is not None and name != "tfckpt":
            # How many times tfckpt's time this contender takes: > 1 means tfckpt is faster.
            ratio = f"{median / statistics.median(mine.times):.2f}x"
            ratio_min = f"{best / min(mine.times):.2f}x"
            # The median of each round's own ratio: a slow stretch of the machine slows both
            # contenders of a round, so this ranks them with less of the between-round noise.
            per_round = f"{statistics.median(t / m for t, m in zip(c.times, mine.times)):.2f}x"
        peak = f" {statistics.median(c.peaks):.0f} |" if c.peaks else " - |"
        print(
            f"| {case} | {name} | {median:.4f} | {best:.4f}-{worst:.4f} | {nbytes / median / 1e9:.2f} | {ratio} | {ratio_min} | {per_round} |"
            + (peak if memory else "")
        )
    print()


def run_stream(tmp: str, gib: float, tensor_mib: int) -> dict[str, float]:
    elements = tensor_mib * 2**20 // 4
    count = max(1, int(gib * 1024 / tensor_mib))
    prefix = os.path.join(tmp, "stream", "model.ckpt-1")
    result: dict[str, float] = {}
    for trace in (False, True):  # RSS and time untraced; tracemalloc's peak in a second run
        code = _STREAM_CHILD.format(
            bench_dir=os.path.dirname(os.path.abspath(__file__)), prefix=prefix, count=count, elements=elements, trace=trace
        )
        out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
        run = json.loads(out.stdout.strip().splitlines()[-1])
        if trace:
            result["traced_peak_mib"] = run["traced_peak_mib"]
        else:
            result.update(run)
        for path in checkpoint_files(prefix):
            os.unlink(path)
        os.sync()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-gib", type=float, default=1.0, help="size of the big case (0 to skip)")
    parser.add_argument("--count", type=int, default=64, help="tensors in the big case")
    parser.add_argument("--small", type=int, default=100_000, help="1 KiB tensors in the small case (0 to skip)")
    parser.add_argument("--rounds", "--repeat", type=int, default=5)
    parser.add_argument("--contenders", default=",".join(c for c in CONTENDERS if c != "tensorflow from numpy"))
    parser.add_argument("--tf-numpy", action="store_true", help="add SaveV2 given the numpy arrays (slow)")
    parser.add_argument("--dir", default=None, help="where to write (default: system temp)")
    parser.add_argument("--stream-gib", type=float, default=0.0, help="checkpoint size for the streaming memory run (0 to skip)")
    parser.add_argument("--stream-tensor-mib", type=int, default=64)
    parser.add_argument("--memory", action="store_true", help="also each contender's peak RSS growth, in a fresh process")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        memory_child(args, args.memory_child)
        return 0
    wanted = {c.strip() for c in args.contenders.split(",") if c.strip()}
    if args.tf_numpy:
        wanted.add("tensorflow from numpy")
    unknown = wanted - set(CONTENDERS)
    if unknown:
        parser.error(f"unknown contenders {sorted(unknown)}; known: {', '.join(CONTENDERS)}")
    tf = load_tensorflow() if wanted & {"tensorflow", "tensorflow + fsync", "tensorflow from numpy"} else None
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    rows = []
    stream = None
    with workdir(args.dir) as tmp:
        if args.size_gib > 0:
            elements = int(args.size_gib * 2**30) // 4 // args.count
            case = f"{args.size_gib:g} GiB in {args.count} float32 tensors"
            big = run_case(tf, tmp, case, args.count, elements, args.rounds, wanted - {"tensorflow from numpy"}, False)
            if args.memory:
                for _, name, c, _ in big:
                    c.peaks.append(measure_memory(["--size-gib", str(args.size_gib), "--count", str(args.count)], name))
            rows += big
        if args.small > 0:
            small = run_case(tf, tmp, f"{args.small:,} tensors of 1 KiB", args.small, 256, args.rounds, wanted, args.tf_numpy)
            if args.memory:
                for _, name, c, _ in small:
                    c.peaks.append(measure_memory(["--size-gib", "0", "--small", str(args.small)], name))
            rows += small
        if args.stream_gib > 0:
            stream = run_stream(tmp, args.stream_gib, args.stream_tensor_mib)
    print_table(rows, args.rounds, load)
    print(f"load average after: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if stream is not None:
        growth = stream["peak_rss_mib"] - stream["baseline_rss_mib"]
        print()
        print("## Peak memory streaming through tfckpt.Writer (fresh process)")
        print()
        print("| checkpoint | largest tensor | peak RSS growth | tracemalloc peak | time | throughput |")
        print("|---:|---:|---:|---:|---:|---:|")
        print(
            f"| {stream['checkpoint_mib']:.0f} MiB | {stream['tensor_mib']:.0f} MiB | {growth:.0f} MiB | "
            f"{stream['traced_peak_mib']:.1f} MiB | {stream['seconds']:.2f} s | "
            f"{stream['checkpoint_mib'] * 2**20 / stream['seconds'] / 1e9:.2f} GB/s |"
        )
        print()
        print(f"(baseline RSS after imports {stream['baseline_rss_mib']:.0f} MiB, peak {stream['peak_rss_mib']:.0f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
