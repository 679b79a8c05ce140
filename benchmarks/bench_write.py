"""Write benchmark: tfckpt.save versus tf.raw_ops.SaveV2, plus tfckpt.Writer's peak memory.

Run from the TensorFlow venv so both libraries are measured in the same process (without
TensorFlow it measures tfckpt alone)::

    python benchmarks/bench_write.py [--size-gib 1] [--count 64] [--small 100000] [--repeat 3]
                                     [--stream-gib 2] [--stream-tensor-mib 64]

Cases:

* ``big``: ``--size-gib`` of float32 in ``--count`` tensors, already in memory.
* ``small``: ``--small`` tensors of 1 KiB (256 float32).

TensorFlow runs ``tf.raw_ops.SaveV2`` (its fastest path: no object graph, no Python-side
bookkeeping) on tensors converted to ``tf.Tensor`` beforehand (untimed). tfckpt runs
``tfckpt.save`` on the numpy arrays. Both write the same names in the same order, so the
files come out byte-identical (checked once, untimed). Before each timed run the previous
output is deleted and ``os.sync()`` flushes dirty pages, so every run starts from the same
state. tfckpt fsyncs its files before renaming them into place (its atomicity guarantee);
TensorFlow does not fsync, so tfckpt's times include work TensorFlow's leave to the kernel.

Two ``floor`` rows measure lower bounds, not competitors: the payload bytes alone (joined
into one buffer beforehand, untimed) written with a single ``write()`` call; and the least
any Python writer does per tensor, one buffered ``write()`` and one ``crc32c()`` call in a
loop. Neither builds an index or fsyncs.

``stream``: in a fresh subprocess, ``--stream-gib`` of tensors of ``--stream-tensor-mib``
each are generated one at a time and streamed through ``tfckpt.Writer``; the report shows
the peak RSS growth (``ru_maxrss``) and the tracemalloc peak during the write next to the
largest tensor and the checkpoint size.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import subprocess
import sys
from collections.abc import Callable

import crc32c

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (
    FLOOR,
    Report,
    Row,
    add_case_arguments,
    checkpoint_files,
    float_tensors,
    load_tensorflow,
    measure,
    remove_checkpoint,
    workdir,
)

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


def prepare(prefix: str) -> None:
    if os.path.exists(prefix + ".index"):
        remove_checkpoint(prefix)
    os.sync()


def save_tf(tf: object, prefix: str, names: list[str], tensors: list[object]) -> None:
    tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names, shape_and_slices=[""] * len(names), tensors=tensors)  # type: ignore[attr-defined]


def same_files(prefix_a: str, prefix_b: str) -> bool:
    a, b = checkpoint_files(prefix_a), checkpoint_files(prefix_b)
    return len(a) == len(b) and all(filecmp.cmp(x, y, shallow=False) for x, y in zip(a, b))


def run_case(report: Report, tf: object | None, tmp: str, case: str, count: int, elements: int, repeat: int) -> None:
    tensors = dict(float_tensors(count, elements))
    names = list(tensors)
    nbytes = sum(a.nbytes for a in tensors.values())
    ours = os.path.join(tmp, "tfckpt", "model.ckpt-1")
    theirs = os.path.join(tmp, "tf", "model.ckpt-1")
    os.makedirs(os.path.dirname(theirs), exist_ok=True)
    tf_tensors = None
    if tf is not None:
        tf_tensors = [tf.constant(a) for a in tensors.values()]  # type: ignore[attr-defined]
        tfckpt.save(ours, tensors)
        save_tf(tf, theirs, names, tf_tensors)
        identical = same_files(ours, theirs)
        print(f"{case}: tfckpt's files byte-identical to SaveV2's: {identical}")
        if not identical:
            raise SystemExit("tfckpt wrote different bytes than TensorFlow")
    def timed(library: str, run: Callable[[], object], setup: Callable[[], object], notes: str = "") -> None:
        report.add(Row(case, library, measure(run, repeat=repeat, setup=setup), nbytes, notes=notes))

    timed("tfckpt", lambda: tfckpt.save(ours, tensors), lambda: prepare(ours))
    remove_checkpoint(ours)
    payload = b"".join(a.tobytes() for a in tensors.values())
    arrays = list(tensors.values())
    floor_path = os.path.join(tmp, "floor.data")

    def write_payload() -> None:
        with open(floor_path, "wb") as f:
            f.write(payload)

    def write_and_checksum_each() -> None:
        checksum = crc32c.crc32c
        with open(floor_path, "wb", buffering=1 << 18) as f:
            for a in arrays:
                f.write(a)
                checksum(a)

    def clear_floor() -> None:
        if os.path.exists(floor_path):
            os.remove(floor_path)
        os.sync()

    timed(FLOOR, write_payload, clear_floor, "one write() of the payload bytes alone")
    payload = b""  # frees the joined copy before the next measurements
    timed(FLOOR, write_and_checksum_each, clear_floor, "a Python loop making one write() and one crc32c() call per tensor, nothing else")
    clear_floor()
    if tf is not None:
        timed("tensorflow", lambda: save_tf(tf, theirs, names, tf_tensors), lambda: prepare(theirs), "SaveV2 on tf.Tensors made beforehand")
        timed("tensorflow", lambda: save_tf(tf, theirs, names, arrays), lambda: prepare(theirs), "SaveV2 given the numpy arrays (converts them)")
        remove_checkpoint(theirs)
    os.sync()


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
        remove_checkpoint(prefix)
        os.sync()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_case_arguments(parser, repeat=3)
    parser.add_argument("--stream-gib", type=float, default=2.0, help="checkpoint size for the peak-memory run (0 to skip)")
    parser.add_argument("--stream-tensor-mib", type=int, default=64)
    args = parser.parse_args(argv)
    tf = load_tensorflow()
    report = Report("Write: save every tensor (tfckpt.save vs tf.raw_ops.SaveV2)")
    stream = None
    with workdir(args.dir) as tmp:
        if args.size_gib > 0:
            elements = int(args.size_gib * 2**30) // 4 // args.count
            run_case(report, tf, tmp, f"{args.size_gib:g} GiB in {args.count} float32 tensors", args.count, elements, args.repeat)
        if args.small > 0:
            run_case(report, tf, tmp, f"{args.small:,} tensors of 1 KiB", args.small, 256, args.repeat)
        if args.stream_gib > 0:
            stream = run_stream(tmp, args.stream_gib, args.stream_tensor_mib)
    report.print()
    if stream is not None:
        growth = stream["peak_rss_mib"] - stream["baseline_rss_mib"]
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
