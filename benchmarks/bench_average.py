"""Averaging benchmark: ``tfckpt.average`` of N BERT-base-sized checkpoints, against its own
floor and against the TensorFlow path, in one run on the same files.

Run from an environment with tfckpt and TensorFlow (without TensorFlow the TF row is left out)::

    python benchmarks/bench_average.py [--checkpoints 5] [--scale 1.0] [--repeat 3] [--frozen] [--dir benchmarks/data]

Cases, each the mean of ``--checkpoints`` checkpoints of BERT-base's 199 float32 tensors
(110M parameters, 440 MB each at ``--scale 1``; ``--scale`` multiplies the vocabulary rows
and hidden sizes are kept):

* ``tfckpt.average``: the whole command, output written and fsynced (atomic commit);
* ``tfckpt.open + numpy``: open every checkpoint with ``tfckpt.open`` and sum each tensor
  into a float64 accumulator with numpy, dividing at the end; nothing written (the floor:
  reading and adding the same bytes);
* ``tf.train.load_checkpoint + numpy``: tensor2tensor's ``avg_checkpoints`` loop (a float64
  ``np.zeros`` accumulator, ``+= reader.get_tensor(name)``, ``/=`` the count); nothing written;
  and the same followed by ``tf.raw_ops.SaveV2`` of the averages (the same work as tfckpt's,
  except that TensorFlow does not fsync).

``--frozen`` gives every checkpoint the same weights (a frozen model, or frozen layers):
``tfckpt.average`` then compares the inputs instead of summing them. Before the timed
rounds, one untimed ``average`` reports the peak of the process's anonymous memory (the
outputs and accumulators; the mapped inputs are the page cache's).

Rounds are interleaved (each round runs every case once, in rotating order) and files are
warmed into the page cache before each timed run, because the machine may be shared; each
round's line gives the 1-minute load average (``os.getloadavg``) at its start. The table
reports medians; the summary after it each case's median with its min-max, and for
TensorFlow the speedup three ways: median over median, best over best (the least
disturbed run of each), and the median of the per-round ratios (each round's TensorFlow
time over the same round's ``average``: the two ran seconds apart, under the same load).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import Report, Row, checkpoint_files, load_tensorflow, measure, proc_status_mib, remove_checkpoint, warm, workdir

import tfckpt


def bert_base_shapes(scale: float = 1.0) -> list[tuple[str, tuple[int, ...]]]:
    """BERT-base's variables (google-research/bert names), the vocabulary scaled by ``scale``."""
    h, ff = 768, 3072
    shapes = [
        ("bert/embeddings/word_embeddings", (max(1, int(30522 * scale)), h)),
        ("bert/embeddings/position_embeddings", (512, h)),
        ("bert/embeddings/token_type_embeddings", (2, h)),
        ("bert/embeddings/LayerNorm/gamma", (h,)),
        ("bert/embeddings/LayerNorm/beta", (h,)),
    ]
    for i in range(12):
        p = f"bert/encoder/layer_{i}"
        for part in ("query", "key", "value"):
            shapes += [(f"{p}/attention/self/{part}/kernel", (h, h)), (f"{p}/attention/self/{part}/bias", (h,))]
        shapes += [
            (f"{p}/attention/output/dense/kernel", (h, h)), (f"{p}/attention/output/dense/bias", (h,)),
            (f"{p}/attention/output/LayerNorm/gamma", (h,)), (f"{p}/attention/output/LayerNorm/beta", (h,)),
            (f"{p}/intermediate/dense/kernel", (h, ff)), (f"{p}/intermediate/dense/bias", (ff,)),
            (f"{p}/output/dense/kernel", (ff, h)), (f"{p}/output/dense/bias", (h,)),
            (f"{p}/output/LayerNorm/gamma", (h,)), (f"{p}/output/LayerNorm/beta", (h,)),
        ]  # fmt: skip
    shapes += [("bert/pooler/dense/kernel", (h, h)), ("bert/pooler/dense/bias", (h,))]
    return shapes


def write_run(directory: str, n: int, scale: float, frozen: bool = False) -> list[str]:
    """``n`` checkpoints of random weights; with ``frozen`` the same weights in all (only
    ``global_step`` differs), as a frozen model's."""
    shapes = bert_base_shapes(scale)
    paths = []
    for step in range(n):
        rng = np.random.default_rng(0 if frozen else step)
        prefix = os.path.join(directory, f"model.ckpt-{(step + 1) * 1000}")
        with tfckpt.Writer(prefix) as w:
            for name, shape in shapes:
                w.add(name, rng.standard_normal(shape, dtype=np.float32))
            w.add("global_step", np.int64((step + 1) * 1000))
        paths.append(prefix)
    return paths


def floor(paths: list[str]) -> None:
    ckpts = [tfckpt.open(p) for p in paths]
    try:
        for name in ckpts[-1]:
            if ckpts[-1].dtype(name) != "float32":
                continue
            acc = np.zeros(ckpts[-1].shape(name))
            for c in ckpts:
                np.add(acc, c[name], out=acc)
            acc /= len(ckpts)
            acc.astype(np.float32)
    finally:
        for c in ckpts:
            c.close()


def tf_path(tf: object, paths: list[str], out: str | None = None) -> None:
    """tensor2tensor's loop; with ``out``, the averages are then saved with ``SaveV2`` (which,
    unlike tfckpt, does not fsync), as avg_checkpoints saves them with a Saver."""
    readers = [tf.train.load_checkpoint(p) for p in paths]  # type: ignore[attr-defined]
    shapes = readers[-1].get_variable_to_shape_map()
    dtypes = readers[-1].get_variable_to_dtype_map()
    averaged = {}
    for name in sorted(shapes):
        if dtypes[name].name != "float32":
            averaged[name] = readers[-1].get_tensor(name)
            continue
        acc = np.zeros(shapes[name])
        for r in readers:
            acc += r.get_tensor(name)
        acc /= len(readers)
        averaged[name] = acc.astype(np.float32)
    if out is not None:
        names = list(averaged)
        tf.raw_ops.SaveV2(prefix=out, tensor_names=names, shape_and_slices=[""] * len(names),  # type: ignore[attr-defined]
                          tensors=[averaged[n] for n in names])


def peak_anonymous_mib(fn: Callable[[], object]) -> float:
    """The growth of this process's anonymous memory (``RssAnon``: the outputs and
    accumulators, not the mapped inputs, which are the page cache's) at its peak while
    ``fn`` runs, sampled every millisecond."""
    base = proc_status_mib("RssAnon")
    peak = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], proc_status_mib("RssAnon"))
            time.sleep(0.001)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        fn()
    finally:
        done.set()
        sampler.join()
    return peak[0] - base


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", type=int, default=5)
    parser.add_argument("--scale", type=float, default=1.0, help="vocabulary scale (1.0: BERT-base, 440 MB a checkpoint)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--frozen", action="store_true", help="the same weights in every checkpoint (a frozen model)")
    parser.add_argument("--dir", default=None, help="where to put the generated checkpoints (default: system temp)")
    args = parser.parse_args()
    tf = load_tensorflow()
    with workdir(args.dir) as d:
        paths = write_run(d, args.checkpoints, args.scale, args.frozen)
        files = [f for p in paths for f in checkpoint_files(p)]
        nbytes = sum(os.path.getsize(f) for f in files)
        print(f"{args.checkpoints} checkpoints, {nbytes / 1e6:.0f} MB in all")
        out = os.path.join(d, "avg", "model.ckpt")
        cases = {
            "tfckpt": lambda: tfckpt.average(paths, out),
            "floor": lambda: floor(paths),
        }
        tf_out = os.path.join(d, "avg_tf", "model.ckpt")
        if tf is not None:
            cases["TensorFlow"] = lambda: tf_path(tf, paths)
            cases["TensorFlow+save"] = lambda: tf_path(tf, paths, tf_out)
        memory = peak_anonymous_mib(lambda: tfckpt.average(paths, out))  # untimed: check the output once (and warm up)
        with tfckpt.open(out) as avg, tfckpt.open(paths[0]) as first:
            assert sorted(avg) == sorted(first)
            largest = max(first.get_tensor(n).nbytes for n in first) / 2**20
        print(f"tfckpt.average: anonymous memory at its peak {memory:.0f} MiB above the start "
              f"(the largest tensor: {largest:.0f} MiB)")
        times: dict[str, list[float]] = {k: [] for k in cases}
        load_before = os.getloadavg()[0]
        for r in range(args.repeat):
            print(f"round {r + 1}: load average (1 min) {os.getloadavg()[0]:.2f}", flush=True)
            order = list(cases)[r % len(cases):] + list(cases)[: r % len(cases)]
            for lib in order:
                def setup() -> None:
                    for prefix in (out, tf_out):
                        if os.path.exists(prefix + ".index"):
                            remove_checkpoint(prefix)
                    warm(files)

                times[lib] += measure(cases[lib], repeat=1, setup=setup)
                print(f"  round {r + 1} {lib:<10} {times[lib][-1]:.3f} s", flush=True)
        load_after = os.getloadavg()[0]
    kind = "frozen (equal) " if args.frozen else ""
    report = Report(f"average of {args.checkpoints} {kind}BERT-base-sized checkpoints ({nbytes / 1e6:.0f} MB read)")
    report.add(Row("average", "tfckpt", times["tfckpt"], nbytes))
    report.add(Row("average", "floor", times["floor"], nbytes, "tfckpt.open + numpy sum, nothing written"))
    if tf is not None:
        report.add(Row("average", "TensorFlow", times["TensorFlow"], nbytes, "load_checkpoint + numpy, nothing written"))
        report.add(Row("average", "TensorFlow", times["TensorFlow+save"], nbytes, "load_checkpoint + numpy, then SaveV2"))
    report.print()
    print(f"load average (1 min) {load_before:.2f} at the first round, {load_after:.2f} after the last")
    ours = times["tfckpt"]
    for lib, runs in times.items():
        ratio = ""
        if lib.startswith("TensorFlow"):
            per_round = statistics.median(t / o for t, o in zip(runs, ours))
            ratio = (f"; tfckpt.average faster: {statistics.median(runs) / statistics.median(ours):.2f}x (medians), "
                     f"{min(runs) / min(ours):.2f}x (bests), {per_round:.2f}x (median of the rounds' ratios)")  # fmt: skip
        print(f"  {lib:<16} median {statistics.median(runs):.3f} s (min-max {min(runs):.3f}-{max(runs):.3f}, {len(runs)} rounds){ratio}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
