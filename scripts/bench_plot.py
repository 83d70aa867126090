"""Time the Gantt chart of the default instance against per-operation drawing.

Solves the bundled LeNet-5 instance (5,538 blocks) with ``naive`` and
``balanced`` and draws each schedule three ways in this run: the aggregated
crossbar view and the slot view of :func:`pimopt.plotting.timeline.gantt`, and the
baseline that draws every operation as its own ``broken_barh`` (how
``pimopt plot`` drew before). Prints seconds and the ratio to the baseline.

Usage: python scripts/bench_plot.py [--out /tmp]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from pimopt import Schedule, load_instance, solve
from pimopt.plotting.timeline import gantt


def per_operation(sched: Schedule, path: Path) -> None:
    """The baseline: one artist per operation, slot sub-lanes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    n_xb = int(max(sched.prog_crossbar.max(), sched.comp_crossbar.max())) + 1
    fig, ax = plt.subplots(figsize=(12, 1.2 + 0.6 * n_xb))
    for x in range(n_xb):
        sel = np.flatnonzero(sched.prog_crossbar == x)
        ax.broken_barh([(s * 1e-6, (e - s) * 1e-6) for s, e in
                        zip(sched.prog_start[sel], sched.prog_end[sel], strict=True)],
                       (x - 0.4, 0.8), facecolors="tab:red")
        sel = np.flatnonzero(sched.comp_crossbar == x)
        slots = np.unique(sched.comp_slot[sel])
        h = 0.8 / max(len(slots), 1)
        for i in sel.tolist():
            lane = int(np.searchsorted(slots, sched.comp_slot[i]))
            ax.broken_barh([(sched.comp_start[i] * 1e-6,
                             (sched.comp_end[i] - sched.comp_start[i]) * 1e-6)],
                           (x - 0.4 + lane * h, h), facecolors="tab:blue")
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="/tmp")
    args = ap.parse_args(argv)
    out = Path(args.out)
    inst = load_instance()
    for method in ("naive", "balanced"):
        sched = solve(inst, method, time_limit=10).schedule
        t = time.perf_counter()
        per_operation(sched, out / f"gantt-{method}-baseline.png")
        base = time.perf_counter() - t
        for view in ("crossbar", "slot"):
            t = time.perf_counter()
            gantt(sched, out / f"gantt-{method}-{view}.png", inst, view=view)
            sec = time.perf_counter() - t
            print(f"{method:9s} {sched.n_compute:,} computes: {view:8s} {sec:6.2f} s, "
                  f"per-operation baseline {base:6.2f} s ({base / sec:5.1f}x faster)",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
