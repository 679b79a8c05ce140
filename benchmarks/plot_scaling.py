"""Plot time and memory per tensor against tensor count from ``bench_scaling.py --json``.

    python benchmarks/plot_scaling.py scaling.json docs/scaling.png [--libraries tfckpt,...]

Two panels, log-scaled tensor counts: the median time per tensor of "open + read every
tensor" (with the min-max range as error bars), and the memory per tensor held after
opening and after reading everything. Needs matplotlib (not a tfckpt dependency).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys

DEFAULT = "tfckpt,tfckpt items,tensorflow,safe_open,floor"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("json")
    parser.add_argument("png")
    parser.add_argument("--libraries", default=DEFAULT)
    args = parser.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(args.json) as f:
        data = json.load(f)
    fig, (ax_time, ax_mem) = plt.subplots(1, 2, figsize=(12, 4.8))
    for library in args.libraries.split(","):
        rows = sorted((r for r in data["results"] if r["library"] == library), key=lambda r: r["count"])
        if not rows:
            continue
        counts = [r["count"] for r in rows]
        per = [[run["total"] / r["count"] * 1e6 for run in r["runs"]] for r in rows]
        median = [statistics.median(p) for p in per]
        line = ax_time.errorbar(counts, median, yerr=[[m - min(p) for m, p in zip(median, per)], [max(p) - m for m, p in zip(median, per)]],
                         marker="o", capsize=3, label=library)
        for key, style in (("held_open_mib", "--"), ("held_read_mib", "-")):
            kib = [statistics.median(run[key] for run in r["runs"]) * 1024 / r["count"] for r in rows]
            ax_mem.plot(counts, kib, style, marker="o", color=line[0].get_color(),
                        label=f"{library} ({'after open' if key == 'held_open_mib' else 'after reading all'})")
    ax_time.set(xscale="log", yscale="log", xlabel="tensors (16 B each)", ylabel="open + read all: us per tensor",
                title="Time per tensor (median, min-max)")
    ax_mem.set(xscale="log", xlabel="tensors (16 B each)", ylabel="RSS held: KiB per tensor",
               title="Memory per tensor (median)")
    ax_time.grid(True, which="both", alpha=0.3)
    ax_mem.grid(True, alpha=0.3)
    ax_time.legend(fontsize=8)
    ax_mem.legend(fontsize=7)
    fig.suptitle(data.get("machine", ""), fontsize=7)
    fig.tight_layout()
    fig.savefig(args.png, dpi=110)
    return 0


if __name__ == "__main__":
    sys.exit(main())
