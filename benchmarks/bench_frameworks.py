"""Framework benchmark: ``tfckpt.torch.load`` versus ``safetensors.torch.load_file`` and
tfckpt's own numpy reads, on a BERT-base-sized checkpoint, plus each loader's peak memory.

Run from an environment with torch and safetensors (the framework one)::

    python benchmarks/bench_frameworks.py [--repeat 7] [--dir benchmarks/data]

The weights: BERT-base's 199 tensors (embeddings, 12 encoder layers, pooler; 109.5 M float32
parameters, 418 MiB), random normal, written once with ``tfckpt.save`` and, the same arrays
in the same order, with ``safetensors.numpy.save_file``; kept in ``--dir`` (git-ignored
``benchmarks/data`` by default) for the next run.

Timed (every file read into the page cache before each run; rounds interleave the loaders,
so load from other processes hits them alike; the median of ``--repeat`` rounds):

* ``tfckpt.torch.load(prefix)``: CRC32C of every tensor verified (the default), tensors over
  copy-on-write mappings;
* ``tfckpt.torch.load(prefix, verify=False)``: the same without checksums, the like-for-like
  peer of safetensors, which has none;
* ``safetensors.torch.load_file(path)``: its usual way to get a state dict (since 0.8 over a
  private mapping too: nothing is read until used);
* ``tfckpt numpy reads``: ``tfckpt.open`` + ``ckpt[name]`` for every tensor, with and without
  checksums: the floor ``tfckpt.torch.load`` adds its conversion to;
* ``tfckpt.torch.load(copy=True)``, and the loaders followed by a sum over every tensor
  (``+ sum``), so lazily mapped pages are paid for where they are used.

Peak memory: each loader in a fresh process (torch imported first), the result held; from
``/proc/self/status``: the growth of the peak RSS (``VmHWM``, reset before the load) and of
the anonymous and file-backed RSS at the end. "Beyond the mapping" is the peak growth minus
the file-backed growth: memory the loader allocated on top of mapping the file.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import machine_line, warm

import tfckpt

HIDDEN, INTERMEDIATE, LAYERS, VOCAB, POSITIONS, TYPES = 768, 3072, 12, 30522, 512, 2


def bert_base_shapes() -> dict[str, tuple[int, ...]]:
    """Google's BERT-base checkpoint names and shapes (without the pre-training heads)."""
    shapes: dict[str, tuple[int, ...]] = {
        "bert/embeddings/word_embeddings": (VOCAB, HIDDEN),
        "bert/embeddings/position_embeddings": (POSITIONS, HIDDEN),
        "bert/embeddings/token_type_embeddings": (TYPES, HIDDEN),
        "bert/embeddings/LayerNorm/gamma": (HIDDEN,),
        "bert/embeddings/LayerNorm/beta": (HIDDEN,),
    }
    for i in range(LAYERS):
        layer = f"bert/encoder/layer_{i}"
        for dense, (n_in, n_out) in {
            "attention/self/query": (HIDDEN, HIDDEN),
            "attention/self/key": (HIDDEN, HIDDEN),
            "attention/self/value": (HIDDEN, HIDDEN),
            "attention/output/dense": (HIDDEN, HIDDEN),
            "intermediate/dense": (HIDDEN, INTERMEDIATE),
            "output/dense": (INTERMEDIATE, HIDDEN),
        }.items():
            shapes[f"{layer}/{dense}/kernel"] = (n_in, n_out)
            shapes[f"{layer}/{dense}/bias"] = (n_out,)
        for norm in ("attention/output/LayerNorm", "output/LayerNorm"):
            shapes[f"{layer}/{norm}/gamma"] = (HIDDEN,)
            shapes[f"{layer}/{norm}/beta"] = (HIDDEN,)
    shapes["bert/pooler/dense/kernel"] = (HIDDEN, HIDDEN)
    shapes["bert/pooler/dense/bias"] = (HIDDEN,)
    return shapes


def generate(directory: str) -> tuple[str, str]:
    """Write (once) the tfckpt checkpoint and the safetensors file; return their paths."""
    from safetensors.numpy import save_file

    os.makedirs(directory, exist_ok=True)
    prefix = os.path.join(directory, "bert_base", "bert_model.ckpt")
    st_path = os.path.join(directory, "bert_base", "model.safetensors")
    shapes = bert_base_shapes()
    if os.path.exists(prefix + ".index") and os.path.exists(st_path):
        with tfckpt.open(prefix) as ckpt:
            if {k: ckpt.shape(k) for k in ckpt} == shapes:
                return prefix, st_path
    rng = np.random.default_rng(0)
    arrays = {name: rng.standard_normal(shape, dtype=np.float32) * 0.02 for name, shape in shapes.items()}
    tfckpt.save(prefix, arrays)
    save_file(arrays, st_path)
    return prefix, st_path


_PEAK_CHILD = r"""
import json, sys
sys.path.insert(0, {bench_dir!r})
from _common import proc_status_mib
import torch, tfckpt.torch, safetensors.torch
from _common import warm
warm({files!r})
before = {{f: proc_status_mib(f) for f in ("VmRSS", "RssAnon", "RssFile")}}
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak (VmHWM) to the current RSS
state = {call}
after = {{f: proc_status_mib(f) for f in ("VmHWM", "RssAnon", "RssFile")}}
print(json.dumps(dict(peak=after["VmHWM"] - before["VmRSS"], anon=after["RssAnon"] - before["RssAnon"],
                      file=after["RssFile"] - before["RssFile"], tensors=len(state))))
"""


def peak_memory(call: str, files: list[str]) -> dict[str, float]:
    code = _PEAK_CHILD.format(bench_dir=os.path.dirname(os.path.abspath(__file__)), files=files, call=call)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--dir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "data"))
    args = parser.parse_args(argv)

    import safetensors
    import safetensors.torch
    import torch

    import tfckpt.torch

    torch.set_num_threads(1)  # the "+ sum" rows: one thread each, steadier on a shared machine
    prefix, st_path = generate(args.dir)
    files = [prefix + ".index", prefix + ".data-00000-of-00001"]
    nbytes = os.path.getsize(files[1])
    largest = max(int(np.prod(s)) for s in bert_base_shapes().values()) * 4

    def numpy_reads(verify: bool = True) -> dict[str, np.ndarray]:
        with tfckpt.open(prefix, verify=verify) as ckpt:
            return {name: ckpt[name] for name in ckpt}

    def summed(load):  # type: ignore[no-untyped-def]
        def run() -> float:
            return float(sum(t.sum() for t in load().values()))

        return run

    cases = {
        "tfckpt.torch.load": lambda: tfckpt.torch.load(prefix),
        "tfckpt.torch.load(verify=False)": lambda: tfckpt.torch.load(prefix, verify=False),
        "safetensors.torch.load_file": lambda: safetensors.torch.load_file(st_path),
        "tfckpt numpy reads": numpy_reads,
        "tfckpt numpy reads (verify=False)": lambda: numpy_reads(verify=False),
        "tfckpt.torch.load(copy=True)": lambda: tfckpt.torch.load(prefix, copy=True),
        "tfckpt.torch.load + sum": summed(lambda: tfckpt.torch.load(prefix)),
        "tfckpt.torch.load(verify=False) + sum": summed(lambda: tfckpt.torch.load(prefix, verify=False)),
        "safetensors.torch.load_file + sum": summed(lambda: safetensors.torch.load_file(st_path)),
    }
    # Same tensors, same values (checked once, untimed).
    mine, theirs = tfckpt.torch.load(prefix), safetensors.torch.load_file(st_path)
    assert mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in mine)
    del mine, theirs

    print(f"BERT-base: {len(bert_base_shapes())} tensors, {nbytes / 2**20:.0f} MiB; rounds: {args.repeat}", flush=True)
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.repeat):
        for name, fn in cases.items():
            warm(files + [st_path])
            t0 = time.perf_counter()
            result = fn()
            times[name].append(time.perf_counter() - t0)
            del result
    medians = {name: statistics.median(runs) for name, runs in times.items()}
    base = medians["tfckpt.torch.load"]
    print()
    print("## tfckpt.torch.load vs safetensors.torch.load_file vs numpy reads (BERT-base, 110 M float32)")
    print(machine_line() + f"; torch {torch.__version__}, safetensors {safetensors.__version__}")
    print()
    print("| case | median s | best s | GB/s | time / tfckpt.torch.load |")
    print("|---|---:|---:|---:|---:|")
    for name, runs in times.items():
        print(f"| {name} | {medians[name]:.4f} | {min(runs):.4f} | {nbytes / medians[name] / 1e9:.2f} | {medians[name] / base:.2f} |")
    print()
    for label, (ours, theirs) in {
        "safetensors.torch.load_file / tfckpt.torch.load (speedup, checksums verified vs none)": (
            "tfckpt.torch.load", "safetensors.torch.load_file"),
        "safetensors.torch.load_file / tfckpt.torch.load(verify=False) (speedup, neither checks)": (
            "tfckpt.torch.load(verify=False)", "safetensors.torch.load_file"),
        "the same + sum over every tensor, verified": ("tfckpt.torch.load + sum", "safetensors.torch.load_file + sum"),
        "the same + sum over every tensor, verify=False": (
            "tfckpt.torch.load(verify=False) + sum", "safetensors.torch.load_file + sum"),
    }.items():
        print(f"- {label}: **{medians[theirs] / medians[ours]:.2f}x**")
    for label, (ours, floor) in {
        "tfckpt.torch.load / numpy reads (time ratio, verified)": ("tfckpt.torch.load", "tfckpt numpy reads"),
        "tfckpt.torch.load / numpy reads (time ratio, verify=False)": (
            "tfckpt.torch.load(verify=False)", "tfckpt numpy reads (verify=False)"),
    }.items():
        print(f"- {label}: **{medians[ours] / medians[floor]:.2f}**")
    print()
    print(f"Peak memory, fresh process per loader (largest tensor {largest / 2**20:.1f} MiB, checkpoint {nbytes / 2**20:.1f} MiB):")
    print()
    print("| loader | peak RSS growth MiB | anonymous MiB | file-backed MiB | beyond the mapping MiB |")
    print("|---|---:|---:|---:|---:|")
    for label, call in {
        "tfckpt.torch.load": f"tfckpt.torch.load({prefix!r})",
        "tfckpt.torch.load(verify=False)": f"tfckpt.torch.load({prefix!r}, verify=False)",
        "tfckpt.torch.load(copy=True)": f"tfckpt.torch.load({prefix!r}, copy=True)",
        "safetensors.torch.load_file": f"safetensors.torch.load_file({st_path!r})",
    }.items():
        m = peak_memory(call, files + [st_path])
        print(f"| {label} | {m['peak']:.1f} | {m['anon']:.1f} | {m['file']:.1f} | {m['peak'] - m['file']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
