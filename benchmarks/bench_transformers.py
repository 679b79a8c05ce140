"""Transformers export benchmark: ``--to transformers`` versus ``--to safetensors --skip-optimizer``.

Run with any environment that has tfckpt (TensorFlow is not used)::

    python benchmarks/bench_transformers.py [--layers 12] [--repeat 5] [--dir DIR]

The input is a BERT-base-shaped checkpoint (vocab 30522, hidden 768, ``--layers`` layers,
intermediate 3072, 512 positions, the pretraining heads) with BERT's Adam slots
(``adam_m``/``adam_v`` beside every weight) and ``global_step``, written once with
``tfckpt.Writer`` (about 1.3 GB for 12 layers), with its ``bert_config.json``.

Both commands read that checkpoint, leave out the optimizer slots and write one safetensors
file of the ~110 M float32 weights; the export also maps names, transposes the kernels and
writes ``config.json``. They run in-process through ``tfckpt.cli.main``, interleaved round by
round (export, then plain), each after deleting the previous output and ``os.sync()`` with
the input warm in the page cache, after one untimed warm-up round (imports); the table shows
medians, ranges and the ratio, of wall time and of CPU time (``time.process_time``: this process's user and system time, helper threads
included; on a machine other jobs load, it shows the work apart from the wait for a core). Peak memory is the
``VmHWM`` of a fresh ``python -m tfckpt convert ...`` child per command, next to the
largest tensor and the RSS of a child that only imports the CLI.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import time
from contextlib import redirect_stdout

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import checkpoint_files, machine_line, warm, workdir

import tfckpt
from tfckpt.cli import main

VOCAB, HIDDEN, INTER, POSITIONS = 30522, 768, 3072, 512


def bert_base_shapes(layers: int) -> dict[str, tuple[int, ...]]:
    out: dict[str, tuple[int, ...]] = {
        "bert/embeddings/word_embeddings": (VOCAB, HIDDEN),
        "bert/embeddings/token_type_embeddings": (2, HIDDEN),
        "bert/embeddings/position_embeddings": (POSITIONS, HIDDEN),
        "bert/embeddings/LayerNorm/gamma": (HIDDEN,),
        "bert/embeddings/LayerNorm/beta": (HIDDEN,),
    }

    def dense(name: str, n_in: int, n_out: int) -> None:
        out[f"{name}/kernel"] = (n_in, n_out)
        out[f"{name}/bias"] = (n_out,)

    def norm(name: str) -> None:
        out[f"{name}/gamma"] = out[f"{name}/beta"] = (HIDDEN,)

    for i in range(layers):
        p = f"bert/encoder/layer_{i}"
        for x in ("query", "key", "value"):
            dense(f"{p}/attention/self/{x}", HIDDEN, HIDDEN)
        dense(f"{p}/attention/output/dense", HIDDEN, HIDDEN)
        norm(f"{p}/attention/output/LayerNorm")
        dense(f"{p}/intermediate/dense", HIDDEN, INTER)
        dense(f"{p}/output/dense", INTER, HIDDEN)
        norm(f"{p}/output/LayerNorm")
    dense("bert/pooler/dense", HIDDEN, HIDDEN)
    dense("cls/predictions/transform/dense", HIDDEN, HIDDEN)
    norm("cls/predictions/transform/LayerNorm")
    out["cls/predictions/output_bias"] = (VOCAB,)
    out["cls/seq_relationship/output_weights"] = (2, HIDDEN)
    out["cls/seq_relationship/output_bias"] = (2,)
    return out


def make_checkpoint(directory: str, layers: int) -> tuple[str, int, int]:
    """Write the checkpoint; return its prefix, the model bytes and the largest tensor's bytes."""
    prefix = os.path.join(directory, "bert", "bert_model.ckpt")
    shapes = bert_base_shapes(layers)
    rng = np.random.default_rng(0)
    with tfckpt.Writer(prefix) as w:
        for name, shape in shapes.items():
            value = rng.standard_normal(shape, dtype=np.float32)
            w.add(name, value)
            w.add(f"{name}/adam_m", value * 0.01)
            w.add(f"{name}/adam_v", np.abs(value) * 0.001)
        w.add("global_step", np.int64(1000))
    config = {"attention_probs_dropout_prob": 0.1, "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": HIDDEN,
              "initializer_range": 0.02, "intermediate_size": INTER, "max_position_embeddings": POSITIONS,
              "num_attention_heads": 12, "num_hidden_layers": layers, "type_vocab_size": 2, "vocab_size": VOCAB}
    with open(os.path.join(directory, "bert", "bert_config.json"), "w") as f:
        json.dump(config, f)
    sizes = [4 * int(np.prod(s)) for s in shapes.values()]
    return prefix, sum(sizes), max(sizes)


def child_peaks(argv: list[str]) -> tuple[int, int]:
    """``(VmHWM, tracemalloc peak)`` in bytes of a fresh Python child running the CLI with ``argv``.

    ``VmHWM`` (the child's own peak RSS; ``ru_maxrss`` would carry this process's peak across
    the fork) counts the pages of the memory-mapped input that were read; the tracemalloc
    peak counts what Python and numpy allocated (numpy reports its buffers to tracemalloc)."""
    code = ("import sys, tracemalloc; from tfckpt.cli import main; tracemalloc.start(); "
            "main(sys.argv[1:]) if len(sys.argv) > 1 else 0; peak = tracemalloc.get_traced_memory()[1]; "
            "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0], peak)")
    out = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, check=True).stdout
    hwm, peak = out.strip().splitlines()[-1].split()
    return int(hwm) * 1024, int(peak)  # VmHWM is in kB


def main_bench() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dir", default=None)
    args = parser.parse_args()
    with workdir(args.dir) as d:
        t0 = time.perf_counter()
        prefix, model_bytes, largest = make_checkpoint(d, args.layers)
        total = sum(os.path.getsize(p) for p in checkpoint_files(prefix))
        print(f"input: {total / 1e9:.2f} GB checkpoint ({model_bytes / 1e9:.2f} GB of weights), written in {time.perf_counter() - t0:.1f} s")
        commands = {
            "--to transformers --model bert": ["convert", prefix, os.path.join(d, "hf"), "--to", "transformers", "--model", "bert"],
            "--to safetensors --skip-optimizer": ["convert", prefix, os.path.join(d, "plain.safetensors"), "--to", "safetensors",
                                                  "--skip-optimizer"],
        }
        load_before = os.getloadavg()
        times: dict[str, list[float]] = {k: [] for k in commands}
        cpu: dict[str, list[float]] = {k: [] for k in commands}
        for round_ in range(args.repeat + 1):  # round 0 warms up (imports, first-use caches), untimed
            for label, argv in commands.items():
                for out in (os.path.join(d, "hf", "model.safetensors"), os.path.join(d, "plain.safetensors")):
                    if os.path.exists(out):
                        os.unlink(out)
                os.sync()
                warm(checkpoint_files(prefix))
                t, c = time.perf_counter(), time.process_time()
                with redirect_stdout(io.StringIO()):
                    assert main(argv) == 0
                wall, used = time.perf_counter() - t, time.process_time() - c
                if round_:
                    times[label].append(wall)
                    cpu[label].append(used)
                print(f"  {label:<36} {wall:.3f} s (CPU {used:.3f} s){'' if round_ else ' warm-up'}", flush=True)
        base = child_peaks([])[0]
        rss = {label: child_peaks(argv) for label, argv in commands.items()}
        plain = statistics.median(times["--to safetensors --skip-optimizer"])
        print()
        print("## BERT-base export with Adam slots")
        print(machine_line())
        print()
        plain_cpu = statistics.median(cpu["--to safetensors --skip-optimizer"])
        print("| command | median s | min-max s | / plain | median CPU s | CPU / plain | peak RSS (incl. mapped input) | tracemalloc peak |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for label, ts in times.items():
            hwm, peak = rss[label]
            c = statistics.median(cpu[label])
            print(f"| `tfckpt convert {label}` | {statistics.median(ts):.3f} | {min(ts):.3f}-{max(ts):.3f} | "
                  f"{statistics.median(ts) / plain:.2f} | {c:.3f} | {c / plain_cpu:.2f} | {hwm / 2**20:.0f} MiB | {peak / 2**20:.1f} MiB |")
        ratios = sorted(e / p for e, p in zip(times["--to transformers --model bert"], times["--to safetensors --skip-optimizer"]))
        print()
        print(f"export / plain round by round: {', '.join(f'{r:.2f}' for r in ratios)}")
        print(f"largest tensor {largest / 2**20:.0f} MiB; a child importing the CLI peaks at {base / 2**20:.0f} MiB; "
              f"rounds interleaved, {args.repeat} each; load average {' / '.join(f'{x:.2f}' for x in load_before)} before, "
              f"{' / '.join(f'{x:.2f}' for x in os.getloadavg())} after (1, 5, 15 min)")


if __name__ == "__main__":
    main_bench()
