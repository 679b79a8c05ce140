"""Where a fresh process's cold start goes: ``import tfckpt`` + open + first tensor, by phase
and by module, beside ``safe_open`` doing the same.

    python benchmarks/profile_cold_start.py [--rounds 15] [--tensors 1000]

``bench_scaling.py --cold`` gives the wall time of whole processes; this script explains it.
Every round starts fresh interpreters (bytecode cached, as after ``pip install``):

1. **Phases**, timed inside the child: ``import numpy``; the library's import; the open;
   the first tensor. Same for safetensors (``safe_open(..., "numpy")``) on the same tensors,
   and for the pure-Python floor (``_floor_reader.py``: the least Python that reads a V2
   bundle's index and a tensor, with none of tfckpt's path resolution, checks or features).
2. **Per module**: each ``tfckpt`` module the read path loads, with its own import time
   from ``python -X importtime`` (children excluded; numpy and the standard library
   imported first so they are not charged to us), and, measured in one process, the part of
   that spent unmarshalling its bytecode and running its body.

3. **A fresh ``import tfckpt``, split**: its wall time; the garbage collections that run
   inside it (timed with ``gc.callbacks``); unmarshalling the read path's bytecode in a
   fresh process, where every name is interned for the first time (a warm process, as in
   table 2, does it about twice as fast); and the objects the import adds for the
   collector to track. Then the collection itself without tfckpt: numpy's import leaves
   ~18,000 objects young and the generation-1 count at its threshold, so whoever allocates
   ~1,400 tracked objects next pays a collection that walks them; the script allocates
   empty lists after ``import numpy`` until it starts, and times it.
4. **The same checkpoint, warm**: open, and open + read every tensor, repeated in one
   process, for tfckpt and the floor: what the floor's design (each entry's bytes kept,
   one entry decoded per read) costs where the per-tensor targets measure.

Figures are minimums over the rounds for the per-module table (the least noisy estimate
of a fixed cost) and medians (min-max) for the phases.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

_PHASES = {
    "tfckpt": (
        "import time; t0 = time.perf_counter(); import numpy; t1 = time.perf_counter()\n"
        "import tfckpt; t2 = time.perf_counter()\n"
        "c = tfckpt.open({prefix!r}); t3 = time.perf_counter()\n"
        "c[next(iter(c))].sum(); t4 = time.perf_counter()\n"
        "print([t1 - t0, t2 - t1, t3 - t2, t4 - t3])"
    ),
    "safe_open": (
        "import time; t0 = time.perf_counter(); import numpy; t1 = time.perf_counter()\n"
        "from safetensors import safe_open; t2 = time.perf_counter()\n"
        "f = safe_open({prefix!r} + '.safetensors', 'numpy'); t3 = time.perf_counter()\n"
        "f.get_tensor(next(iter(f.keys()))).sum(); t4 = time.perf_counter()\n"
        "print([t1 - t0, t2 - t1, t3 - t2, t4 - t3])"
    ),
    "pure-Python floor": (
        "import time; t0 = time.perf_counter(); import numpy; t1 = time.perf_counter()\n"
        "from _floor_reader import FloorReader; t2 = time.perf_counter()\n"
        "c = FloorReader({prefix!r}); t3 = time.perf_counter()\n"
        "c[next(iter(c))].sum(); t4 = time.perf_counter()\n"
        "print([t1 - t0, t2 - t1, t3 - t2, t4 - t3])"
    ),
}

# What numpy and the read path pull from the standard library: imported first, so that
# -X importtime charges each tfckpt module only for itself.
_PRELOAD = "import numpy, typing, re, enum, mmap, errno, stat, struct, contextlib, functools, itertools, math"

# The bytecode files of the modules an open and a first read load.
_PYCS = """
import importlib.util, sys, json
import tfckpt
c = tfckpt.open({prefix!r}); c[next(iter(c))]
print(json.dumps([importlib.util.cache_from_source(m.__file__) for n, m in sorted(sys.modules.items()) if n.startswith("tfckpt")]))
"""

_BODIES = """
import importlib.util, marshal, sys, time, json
import tfckpt
c = tfckpt.open({prefix!r}); c[next(iter(c))]
out = {{}}
for name, module in sorted(sys.modules.items()):
    if not name.startswith("tfckpt"):
        continue
    with open(importlib.util.cache_from_source(module.__file__), "rb") as f:
        data = f.read()[16:]
    t0 = time.perf_counter(); code = marshal.loads(data); t1 = time.perf_counter()
    scope = {{"__name__": name, "__package__": module.__package__, "__file__": module.__file__}}
    exec(code, scope); t2 = time.perf_counter()
    out[name] = [len(data), t1 - t0, t2 - t1]
print(json.dumps(out))
"""


# A fresh import, and the collections that run during it.
_GC_SPLIT = """
import gc, time
import numpy
spent = [0.0, 0]
def _timer(phase, info):
    if phase == "start":
        _timer.t = time.perf_counter()
    else:
        spent[0] += time.perf_counter() - _timer.t; spent[1] += 1
gc.callbacks.append(_timer)
t0 = time.perf_counter(); import tfckpt; t1 = time.perf_counter()
gc.callbacks.remove(_timer)
print([t1 - t0, spent[0], spent[1]])
"""

# The collection numpy leaves due, run by no library: after `import numpy`, allocate empty
# lists (objects the collector tracks) until a generation-1 collection starts; time it.
_GC_DEBT = """
import gc, time
import numpy
done = []
def _timer(phase, info):
    if phase == "start":
        _timer.t = time.perf_counter()
    elif info["generation"] >= 1:
        done.append(time.perf_counter() - _timer.t)
gc.callbacks.append(_timer)
kept = []
while not done:
    kept.append([])
gc.callbacks.remove(_timer)
print([len(kept), done[0]])
"""

# The objects an import adds for the collector to track (the collector off, so none is
# collected or untracked meanwhile).
_OBJECTS = """
import gc
import numpy
gc.disable(); before = len(gc.get_objects())
import {module}
print([len(gc.get_objects()) - before])
"""

# Unmarshalling the read path's bytecode in a fresh process (names interned the first time).
_FRESH_UNMARSHAL = """
import marshal, time
import numpy
blobs = []
for path in {pycs!r}:
    with open(path, "rb") as f:
        blobs.append(f.read()[16:])
t0 = time.perf_counter()
for blob in blobs:
    marshal.loads(blob)
print([time.perf_counter() - t0])
"""


# The floor's design against tfckpt's where the per-tensor targets measure them: the same
# checkpoint opened and read whole, again and again in one process.
_WARM = """
import json, time
import tfckpt
from _floor_reader import FloorReader
def floor_open():
    return FloorReader({prefix!r})
def floor_all():
    c = FloorReader({prefix!r})
    for name in c:
        c[name]
def ours_open():
    tfckpt.open({prefix!r}).close()
def ours_all():
    with tfckpt.open({prefix!r}) as c:
        for name in c:
            c[name]
out = {{}}
for label, opener, reader in (("tfckpt", ours_open, ours_all), ("pure-Python floor", floor_open, floor_all)):
    opener(); reader()
    times = [[], []]
    for _ in range({rounds}):
        for i, f in enumerate((opener, reader)):
            t = time.perf_counter(); f(); times[i].append(time.perf_counter() - t)
    out[label] = times
print(json.dumps(out))
"""


def child(code: str, env: dict[str, str], *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *flags, "-c", code], check=True, capture_output=True, text=True, env=env)


def summary(values: list[float], scale: float = 1e3) -> str:
    return f"{statistics.median(values) * scale:.2f} ({min(values) * scale:.2f}-{max(values) * scale:.2f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--tensors", type=int, default=1000)
    args = parser.parse_args(argv)

    import numpy as np
    from safetensors.numpy import save_file

    sys.path.insert(0, os.path.join(HERE, "..", "src"))
    import tfckpt

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(HERE, "..", "src"), HERE]))
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # else nothing is cached and every round compiles
    with tempfile.TemporaryDirectory(prefix="tfckpt-cold-") as tmp:
        prefix = os.path.join(tmp, "ckpt")
        tensors = {f"layer_{i:05d}/w": np.full(4, i, np.float32) for i in range(args.tensors)}
        tfckpt.save(prefix, tensors)
        save_file(tensors, prefix + ".safetensors")
        sys.path.insert(0, HERE)
        from _floor_reader import FloorReader

        floor = FloorReader(prefix)  # reads what tfckpt reads, or the floor measures nothing
        if sorted(floor) != sorted(tensors) or any(not np.array_equal(floor[n], v) for n, v in tensors.items()):
            raise SystemExit("_floor_reader.py disagrees with the checkpoint it is given")

        phases: dict[str, list[list[float]]] = {name: [] for name in _PHASES}
        self_us: dict[str, list[int]] = {}
        for code in _PHASES.values():  # compile and cache the bytecode first
            child(code.format(prefix=prefix), env)
        for _ in range(args.rounds):
            for name, code in _PHASES.items():
                phases[name].append(json.loads(child(code.format(prefix=prefix), env).stdout.splitlines()[-1]))
            traced = child(f"{_PRELOAD}\n" + _PHASES["tfckpt"].format(prefix=prefix), env, "-X", "importtime")
            for line in traced.stderr.splitlines():
                fields = [f.strip() for f in line.removeprefix("import time:").split("|")]
                if len(fields) == 3 and fields[2].startswith("tfckpt"):
                    self_us.setdefault(fields[2], []).append(int(fields[0]))
        bodies = json.loads(child(_BODIES.format(prefix=prefix), env).stdout.splitlines()[-1])
        pycs = json.loads(child(_PYCS.format(prefix=prefix), env).stdout.splitlines()[-1])
        split: list[list[float]] = []
        debt: list[list[float]] = []
        for _ in range(args.rounds):
            split.append(json.loads(child(_GC_SPLIT, env).stdout.splitlines()[-1]))
            split[-1] += json.loads(child(_FRESH_UNMARSHAL.format(pycs=pycs), env).stdout.splitlines()[-1])
            debt.append(json.loads(child(_GC_DEBT, env).stdout.splitlines()[-1]))
        objects = {m: json.loads(child(_OBJECTS.format(module=m), env).stdout.splitlines()[-1])[0] for m in ("tfckpt", "_floor_reader")}
        warm = json.loads(child(_WARM.format(prefix=prefix, rounds=max(args.rounds, 15)), env).stdout.splitlines()[-1])

    print(f"### Phases, {args.tensors:,} tensors of 16 B ({args.rounds} rounds, ms, median (min-max))\n")
    print("| library | import numpy | import library | open | first tensor | library total |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, runs in phases.items():
        cols = list(zip(*runs))
        total = [sum(r[1:]) for r in runs]
        print(f"| {name} | " + " | ".join(summary(list(c)) for c in cols) + f" | {summary(total)} |")

    print(f"\n### tfckpt modules on the read path ({len(self_us)} modules; minimums over {args.rounds} rounds)\n")
    print("| module | own import time, ms | bytecode, KB | unmarshal, ms | module body, ms |")
    print("|---|---:|---:|---:|---:|")
    rows = sorted(self_us.items(), key=lambda kv: -min(kv[1]))
    for module, us in rows:
        size, load, body = bodies.get(module, [0, 0.0, 0.0])
        print(f"| {module} | {min(us) / 1e3:.2f} | {size / 1024:.1f} | {load * 1e3:.3f} | {body * 1e3:.3f} |")
    total_import = sum(min(us) for us in self_us.values()) / 1e3
    total_load = sum(b[1] for b in bodies.values()) * 1e3
    total_body = sum(b[2] for b in bodies.values()) * 1e3
    print(f"| **all** | **{total_import:.2f}** | {sum(b[0] for b in bodies.values()) / 1024:.0f} | {total_load:.3f} | {total_body:.3f} |")
    print(
        "\nThe rest of each module's import time (own import time - unmarshal - body) is the import "
        "system's per-module work: finding the file, reading it, creating the module."
    )

    cols = list(zip(*split))
    print(f"\n### A fresh `import tfckpt`, split ({args.rounds} rounds, ms, median (min-max))\n")
    print("| import tfckpt | of which: garbage collections (count) | unmarshal of the read path, fresh process | objects it adds for the collector |")
    print("|---:|---:|---:|---:|")
    print(f"| {summary(list(cols[0]))} | {summary(list(cols[1]))} ({statistics.median(cols[2]):.0f}) | {summary(list(cols[3]))} | {objects['tfckpt']:,} |")
    counts, seconds = zip(*debt)
    print(
        f"\nThe collection numpy's import leaves due, with no library imported: allocating after `import numpy`, "
        f"object number {statistics.median(counts):,.0f} starts a generation-1 collection of {summary(list(seconds))} ms. "
        f"The floor reader's import adds {objects['_floor_reader']:,} objects."
    )
    print(f"\n### The same checkpoint warm: open + read every tensor (one process, {max(args.rounds, 15)} rounds, ms, median (min-max))\n")
    print("| reader | open | open + read all |")
    print("|---|---:|---:|")
    for name, (opens, alls) in warm.items():
        print(f"| {name} | {summary(opens)} | {summary(alls)} |")
    print(
        "\nThe floor's design (keep each entry's bytes, decode one entry per read) is what keeps its cold "
        "start small; read after read, it is what the per-tensor targets measure."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
