"""Import benchmark: ``import tfckpt`` versus ``import tensorflow``, each in a fresh process.

    python benchmarks/bench_import.py [--repeat 7]

Each repetition starts a new interpreter (the same one running this script) for each
library, alternating tfckpt and TensorFlow so both see the same machine load. Reported:
the import itself, timed inside the child with ``time.perf_counter`` (the target), and
the whole child process wall time including interpreter start-up. A third row times a
first use as well (import, open a 100-tensor checkpoint, read one tensor), so deferred
imports cannot hide cost from the comparison. Medians over the repetitions.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import Report, Row

_IMPORT = "import time; t0 = time.perf_counter(); import {module}; print(time.perf_counter() - t0)"

_FIRST_USE = {
    "tfckpt": (
        "import time; t0 = time.perf_counter(); import tfckpt\n"
        "with tfckpt.open({prefix!r}) as c: c[c.keys()[0]].sum()\n"
        "print(time.perf_counter() - t0)"
    ),
    "tensorflow": (
        "import time; t0 = time.perf_counter(); import tensorflow as tf\n"
        "r = tf.train.load_checkpoint({prefix!r}); r.get_tensor(sorted(r.get_variable_to_shape_map())[0]).sum()\n"
        "print(time.perf_counter() - t0)"
    ),
}


def run_child(code: str) -> tuple[float, float]:
    """Return (time printed by the child, wall time of the whole child process)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    return float(out.stdout.strip().splitlines()[-1]), wall


def have(module: str) -> bool:
    code = f"import importlib.util, sys; sys.exit(0 if importlib.util.find_spec({module!r}) else 1)"
    return subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    libraries = ["tfckpt"]
    if have("tensorflow"):
        libraries.append("tensorflow")
    else:
        print("TensorFlow not installed: measuring tfckpt only (no ratios).")

    import numpy as np

    import tfckpt

    report = Report("Import: fresh interpreter per run")
    with tempfile.TemporaryDirectory(prefix="tfckpt-bench-") as tmp:
        prefix = os.path.join(tmp, "model.ckpt-1")
        tfckpt.save(prefix, {f"v{i:03d}": np.full(256, i, np.float32) for i in range(100)})
        imports: dict[str, list[float]] = {lib: [] for lib in libraries}
        processes: dict[str, list[float]] = {lib: [] for lib in libraries}
        first_use: dict[str, list[float]] = {lib: [] for lib in libraries}
        for lib in libraries:  # one untimed run each: warm the OS file cache for the modules
            run_child(_IMPORT.format(module=lib))
        for _ in range(args.repeat):
            for lib in libraries:
                inner, wall = run_child(_IMPORT.format(module=lib))
                imports[lib].append(inner)
                processes[lib].append(wall)
                first_use[lib].append(run_child(_FIRST_USE[lib].format(prefix=prefix))[0])
    for case, data in (
        ("import (in-process)", imports),
        ("whole process: python -c 'import ...'", processes),
        ("import + open + read one tensor", first_use),
    ):
        for lib in libraries:
            report.add(Row(case, lib, data[lib]))
    report.print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
