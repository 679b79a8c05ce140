"""Merge benchmark: ``tfckpt.merge`` versus ``tf.raw_ops.MergeV2Checkpoints`` on 8 parts,
showing that the time follows the index size, not the data size.

    python benchmarks/bench_merge.py [--parts 8] [--repeat 5] [--dir benchmarks/data]

Cases (each part written by ``tfckpt.Writer(partial=True)``; one partitioned variable is
split across all parts):

* ``small data``: 8 parts x 1,000 tensors of 1 KiB (8 MB of data);
* ``large data``: 8 parts x 1,000 tensors of 256 KiB (2 GB of data): same index size;
* ``many entries``: 8 parts x 10,000 tensors of 1 KiB: ten times the index.

Before each timed run the parts are hard-linked into a fresh directory (untimed; TensorFlow
renames the data files away, tfckpt links them, so both start from the same state). Rounds
are interleaved between the libraries; medians reported. tfckpt's times include fsyncing
the new index and directory; TensorFlow does not fsync.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import Report, Row, load_tensorflow, measure, workdir

import tfckpt

CASES = {"small data": (1_000, 256), "large data": (1_000, 65_536), "many entries": (10_000, 256)}


def write_parts(directory: str, parts: int, tensors: int, elements: int) -> list[str]:
    prefixes = []
    rng = np.random.default_rng(0)
    block = rng.standard_normal(elements, dtype=np.float32)
    for r in range(parts):
        prefix = os.path.join(directory, f"part-{r:05d}-of-{parts:05d}")
        with tfckpt.Writer(prefix, partial=True) as w:
            w.add_slice("emb", np.ones((2, 8), np.float32), full_shape=(2 * parts, 8), start=(2 * r, 0))
            w.add_many((f"layer_{i:05d}/rank_{r}/w", block) for i in range(tensors))
        prefixes.append(prefix)
    return prefixes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dir", default=None)
    args = parser.parse_args()
    tf = load_tensorflow()
    report = Report(f"merge of {args.parts} parts")
    with workdir(args.dir) as d:
        for case, (tensors, elements) in CASES.items():
            source = os.path.join(d, case.replace(" ", "_"), "src")
            os.makedirs(source)
            prefixes = write_parts(source, args.parts, tensors, elements)
            data = sum(os.path.getsize(os.path.join(source, n)) for n in os.listdir(source) if ".data-" in n)
            index = sum(os.path.getsize(p + ".index") for p in prefixes)
            work = os.path.join(d, case.replace(" ", "_"), "work")

            def setup(work: str = work, source: str = source) -> None:  # this case's, bound now
                shutil.rmtree(work, ignore_errors=True)
                os.makedirs(os.path.join(work, "tmp"))
                for n in os.listdir(source):
                    os.link(os.path.join(source, n), os.path.join(work, "tmp", n))

            parts = [os.path.join(work, "tmp", os.path.basename(p)) for p in prefixes]
            dst = os.path.join(work, "model.ckpt")
            runs = {"tfckpt": lambda parts=parts, dst=dst: tfckpt.merge(parts, dst)}
            if tf is not None:
                runs["TensorFlow"] = lambda parts=parts, dst=dst: tf.raw_ops.MergeV2Checkpoints(checkpoint_prefixes=parts, destination_prefix=dst)
            times: dict[str, list[float]] = {k: [] for k in runs}
            for r in range(args.repeat):
                for lib in (list(runs) if r % 2 == 0 else list(reversed(runs))):
                    times[lib] += measure(runs[lib], repeat=1, setup=setup)
            label = f"{case}: {args.parts}x{tensors} entries, {data / 1e6:.0f} MB data, {index / 1e6:.2f} MB index"
            for lib, t in times.items():
                report.add(Row(label, lib, t))
            shutil.rmtree(os.path.join(d, case.replace(" ", "_")))
    report.print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
