"""Scaling benchmark: time and memory per tensor from 1,000 to 1,000,000 tensors, against
the peers, plus the fresh-process cold start.

    python benchmarks/bench_scaling.py [--counts 1000,10000,100000,1000000] [--elements 4]
                                       [--rounds 5] [--json scaling.json] [--cold 15]
                                       [--libraries tfckpt,tfckpt items,tensorflow,safe_open,floor]

Run it from an environment with TensorFlow, safetensors and torch (each peer is skipped
when it cannot be imported). For every tensor count the same float32 tensors are saved
once per format: the TF bundle (written by tfckpt, byte-identical to ``SaveV2``), a
safetensors file, a ``.npz`` (up to 100,000 tensors: numpy opens a zip member per array)
and a ``torch.save`` file. Then, in **interleaved rounds**, every contender runs in a
**fresh process** on warm page cache and does "open, then read every tensor once" (the
arrays are dropped as it goes):

* ``tfckpt``: ``ckpt[name]`` for each name; ``tfckpt items``: ``ckpt.items()`` (the bulk path);
* ``tensorflow``: ``tf.train.load_checkpoint`` + ``get_tensor`` in sorted order;
* ``safe_open``: ``get_tensor`` for each key; ``load_file``: ``safetensors.numpy.load_file``;
* ``numpy``: ``np.load`` of the ``.npz`` and each member; ``torch``: ``torch.load(mmap=True)``;
* ``floor``: the data shard memory-mapped and a CRC32C of each tensor's bytes, no index.

Each child opens and reads twice: the tables time the second pass (the first also pays
one-time costs: lazy imports, first calls; its total is reported as "1st pass"). Memory
is that of the first pass, from ``/proc/self/status`` relative to just before the open: ``VmRSS`` after the open (held), after reading
everything (held after reads), and the peak ``VmHWM`` (reset before the open through
``/proc/self/clear_refs``). Rows give the median and min-max over the rounds.

``--cold N`` times N interleaved fresh processes of each of: ``import tfckpt`` + open + the
first tensor; ``safe_open`` of the same tensors; the pure-Python floor (``_floor_reader.py``,
the least Python that reads a bundle's index and one tensor); and ``python + import numpy``
alone.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import machine_line, proc_status_mib, warm, workdir

HERE = os.path.dirname(os.path.abspath(__file__))

# -- what each contender does, in its own process ------------------------------------------


def _open_tfckpt(path: str) -> object:
    import tfckpt

    return tfckpt.open(path)


def _read_tfckpt(ckpt: object) -> None:
    for name in ckpt:  # type: ignore[attr-defined]
        ckpt[name]  # type: ignore[index]


def _read_tfckpt_items(ckpt: object) -> None:
    for _ in ckpt.items():  # type: ignore[attr-defined]
        pass


def _open_tf(path: str) -> object:
    import tensorflow as tf

    return tf.train.load_checkpoint(path)


def _read_tf(reader: object) -> None:
    for name in sorted(reader.get_variable_to_shape_map()):  # type: ignore[attr-defined]
        reader.get_tensor(name)  # type: ignore[attr-defined]


def _open_safe(path: str) -> object:
    from safetensors import safe_open

    return safe_open(path, "numpy")


def _read_safe(f: object) -> None:
    for name in f.keys():  # type: ignore[attr-defined]  # noqa: SIM118 (safe_open has keys() but no __iter__)
        f.get_tensor(name)  # type: ignore[attr-defined]


def _open_load_file(path: str) -> object:
    from safetensors.numpy import load_file

    return load_file(path)


def _read_dict(d: object) -> None:
    for _ in d.values():  # type: ignore[attr-defined]
        pass


def _open_npz(path: str) -> object:
    import numpy as np

    return np.load(path)


def _read_npz(z: object) -> None:
    for name in z.files:  # type: ignore[attr-defined]
        z[name]  # type: ignore[index]


def _open_torch(path: str) -> object:
    import torch

    return torch.load(path, mmap=True)


def _open_floor(path: str) -> object:
    import mmap

    import numpy as np

    spans = np.load(path + ".spans.npy")  # (offset, size) of each tensor, from the index
    with open(path + ".data-00000-of-00001", "rb") as f:
        buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    return memoryview(buf), spans[:, 0].tolist(), spans[:, 1].tolist()


def _read_floor(state: object) -> None:
    import crc32c

    view, offsets, sizes = state  # type: ignore[misc]
    crc = crc32c.crc32c
    for offset, size in zip(offsets, sizes):
        crc(view[offset : offset + size])


#: contender -> (file suffix, module it needs, open, read all)
CONTENDERS = {
    "tfckpt": ("", "tfckpt", _open_tfckpt, _read_tfckpt),
    "tfckpt items": ("", "tfckpt", _open_tfckpt, _read_tfckpt_items),
    "tensorflow": ("", "tensorflow", _open_tf, _read_tf),
    "safe_open": (".safetensors", "safetensors", _open_safe, _read_safe),
    "load_file": (".safetensors", "safetensors", _open_load_file, _read_dict),
    "numpy": (".npz", "numpy", _open_npz, _read_npz),
    "torch": (".pt", "torch", _open_torch, _read_dict),
    "floor": ("", "crc32c", _open_floor, _read_floor),
}


def worker(name: str, path: str) -> dict[str, float]:
    suffix, module, open_fn, read_fn = CONTENDERS[name]
    if module == "tensorflow":
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    __import__(module)
    import gc

    gc.collect()
    base = proc_status_mib("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS
    except OSError:
        pass
    t0 = time.perf_counter()
    state = open_fn(path + suffix)
    held = proc_status_mib("VmRSS") - base
    read_fn(state)
    t2 = time.perf_counter()
    memory = {
        "held_open_mib": held,
        "held_read_mib": proc_status_mib("VmRSS") - base,
        "peak_mib": proc_status_mib("VmHWM") - base,
    }
    del state
    # The second pass, in the same process, is the one timed in the tables: the first
    # also pays each library's one-time costs (lazy imports, first calls).
    t3 = time.perf_counter()
    state = open_fn(path + suffix)
    t4 = time.perf_counter()
    read_fn(state)
    t5 = time.perf_counter()
    return {"first": t2 - t0, "open": t4 - t3, "read": t5 - t4, "total": t5 - t3, **memory}


# -- the parent: files, interleaved rounds, tables ------------------------------------------


def available(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def make_files(directory: str, count: int, elements: int, libraries: list[str]) -> str:
    import numpy as np

    import tfckpt

    prefix = os.path.join(directory, "model")
    width = len(str(count - 1))
    tensors = {f"layer_{i:0{width}d}/kernel": np.full(elements, i, np.float32) for i in range(count)}
    tfckpt.save(prefix, tensors)
    with tfckpt.open(prefix) as ckpt:
        entries = [ckpt._source.entry(n) for n in ckpt]  # type: ignore[attr-defined]
    np.save(prefix + ".spans.npy", np.array([(e.offset, e.size) for e in entries], np.int64))
    if available("safetensors") and {"safe_open", "load_file"} & set(libraries):
        from safetensors.numpy import save_file

        save_file(tensors, prefix + ".safetensors")
    if count <= 100_000 and "numpy" in libraries:
        np.savez(prefix + ".npz", **{k.replace("/", "_"): v for k, v in tensors.items()})
    if available("torch") and "torch" in libraries:
        import torch

        torch.save({k: torch.from_numpy(v) for k, v in tensors.items()}, prefix + ".pt")
    return prefix


def run_child(name: str, prefix: str) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(HERE, "..", "src"), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--worker", name, prefix], check=True, capture_output=True, text=True, env=env
    ).stdout
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):.4g} ({min(values):.4g}-{max(values):.4g})"


def scaling(args: argparse.Namespace) -> list[dict[str, object]]:
    results: list[dict[str, object]] = []
    for count in args.counts:
        with workdir(args.dir) as tmp:
            prefix = make_files(tmp, count, args.elements, args.libraries)
            warm([os.path.join(tmp, n) for n in os.listdir(tmp)])
            names = [
                n for n, (suffix, module, _, _) in CONTENDERS.items()
                if n in args.libraries and available(module) and os.path.exists(prefix + (suffix or ".index"))
            ]
            runs: dict[str, list[dict[str, float]]] = {n: [] for n in names}
            rounds = args.rounds if count < 1_000_000 else max(3, args.rounds // 2)
            for _ in range(rounds):
                for name in names:  # interleaved: every contender once per round
                    runs[name].append(run_child(name, prefix))
            print(f"\n### {count:,} tensors of {args.elements * 4} B ({rounds} rounds, median (min-max))\n")
            print("| library | open + read all, s | per tensor, us | TF time / this | open, s | 1st pass, s | held after open, MiB | after reading all, MiB | peak, MiB |")
            print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
            tf_total = statistics.median(r["total"] for r in runs["tensorflow"]) if "tensorflow" in runs else None
            for name in names:
                rs = runs[name]
                total = [r["total"] for r in rs]
                ratio = f"{tf_total / statistics.median(total):.2f}x" if tf_total else ""
                print(
                    f"| {name} | {summary(total)} | {statistics.median(total) / count * 1e6:.2f} | {ratio} | "
                    f"{summary([r['open'] for r in rs])} | {summary([r['first'] for r in rs])} | {summary([r['held_open_mib'] for r in rs])} | "
                    f"{summary([r['held_read_mib'] for r in rs])} | {summary([r['peak_mib'] for r in rs])} |",
                    flush=True,
                )
                results.append({"count": count, "bytes": args.elements * 4, "library": name, "runs": rs})
            if args.json:  # after every count, so a long run can be cut short
                with open(args.json, "w") as f:
                    json.dump({"machine": machine_line(), "results": results}, f)
    return results


_COLD = {
    "tfckpt": "import tfckpt\nc = tfckpt.open({prefix!r})\nc[next(iter(c))].sum()",
    "safe_open": "from safetensors import safe_open\nf = safe_open({prefix!r} + '.safetensors', 'numpy')\nf.get_tensor(next(iter(f.keys()))).sum()",
    "pure-Python floor": "from _floor_reader import FloorReader\nc = FloorReader({prefix!r})\nc[next(iter(c))].sum()",
    "python + numpy": "import numpy",
}


def cold(args: argparse.Namespace) -> None:
    with workdir(args.dir) as tmp:
        prefix = make_files(tmp, 1000, args.elements, ["safe_open"])
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(HERE, "..", "src"), HERE]))
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # else nothing is cached and every round compiles
        for code in _COLD.values():  # compile and cache bytecode first, as after pip install
            subprocess.run([sys.executable, "-c", code.format(prefix=prefix)], check=True, env=env)
        times: dict[str, list[float]] = {k: [] for k in _COLD}
        for _ in range(args.cold):
            for name, code in _COLD.items():
                t0 = time.perf_counter()
                subprocess.run([sys.executable, "-c", code.format(prefix=prefix)], check=True, env=env)
                times[name].append(time.perf_counter() - t0)
        print(f"\n### Fresh process: import + open + first tensor ({args.cold} interleaved rounds, median (min-max))\n")
        print("| contender | wall time, s | vs tfckpt |")
        print("|---|---:|---:|")
        ours = statistics.median(times["tfckpt"])
        for name, ts in times.items():
            print(f"| {name} | {summary(ts)} | {statistics.median(ts) / ours:.2f} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--counts", default="1000,10000,100000,1000000", type=lambda s: [int(c) for c in s.split(",") if c])
    parser.add_argument("--elements", type=int, default=4, help="float32 values per tensor (4: 16 B)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--libraries", default=",".join(CONTENDERS), type=lambda s: s.split(","),
                        help="contenders to run (default: all importable)")
    parser.add_argument("--cold", type=int, default=0, help="fresh-process rounds of the cold-start comparison (0: skip)")
    parser.add_argument("--json", default=None, help="write every run here (for plot_scaling.py)")
    parser.add_argument("--dir", default=None)
    parser.add_argument("--worker", nargs=2, metavar=("CONTENDER", "PREFIX"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(*args.worker)))
        return 0
    print(machine_line())
    if args.cold:
        cold(args)
    if args.counts:
        scaling(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
