"""Speed of the makespan bound's exact programming term: segment-table look-ups against
the cell arithmetic of the latency model, measured in the same run.

Per instance x preset, the exact nearest writes and the flow term
(docs/bounds.md section 6) are computed twice without a time limit: once with
the segment table (``pimopt.latency.segment_table``), once pair by pair with
the latency model (``TABLE_MIN_PAIRS`` raised so that no table is built). The
script prints both times, their ratio, the pairs per second of each, and
whether the two bounds are equal (they must be), and the segment floor's
programming term beside the exact one and the flow. Times are of the whole
bound (segment floor, exact pass, flow), so the speed-up of the pair pass
alone is larger.

Usage::

    python scripts/bench_bound.py [--cases lenet5:wv-mlc,digits-cnn:multi-ou]
        [--with-resnet20]

``--with-resnet20`` adds ResNet-20 on ``wv-mlc`` (33,872 patterns: about 12 min
for the cell arithmetic alone).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_makespan import instance_path  # the same instance names


def measure(name: str, preset: str) -> dict[str, Any]:
    """Both computations of one case; the bounds and their times."""
    import pimopt.bounds.makespan as mb
    from pimopt import load_instance

    inst = load_instance(instance_path(name), preset)
    saved = (mb.EXACT_PAIR_LIMIT, mb.TABLE_MIN_PAIRS)
    try:
        mb.EXACT_PAIR_LIMIT, mb.TABLE_MIN_PAIRS = 10**15, 0  # always the table
        t = time.perf_counter()
        table = mb.makespan_bound(inst, time_limit=None)
        t_table = time.perf_counter() - t
        mb.TABLE_MIN_PAIRS = 10**15  # never the table: the latency model pair by pair
        t = time.perf_counter()
        cells = mb.makespan_bound(inst, time_limit=None)
        t_cells = time.perf_counter() - t
        mb.EXACT_PAIR_LIMIT = 0  # neither: the segment-distance floor
        floor = mb.makespan_bound(inst, time_limit=None)
    finally:
        mb.EXACT_PAIR_LIMIT, mb.TABLE_MIN_PAIRS = saved
    nz = inst.nonzero_blocks
    n = len(set(inst.pattern_id[nz].tolist()))
    pairs = n * (n + 1)
    return {"case": f"{name}:{preset}", "patterns": n, "t_table": t_table,
            "t_cells": t_cells, "equal": table == replace(cells, seconds=table.seconds),
            "prog_floor_us": floor.programming_lb_ps / 1e6,
            "prog_exact_flow_us": table.programming_lb_ps / 1e6, "flow": table.flow,
            "pairs_per_s_table": pairs / t_table, "pairs_per_s_cells": pairs / t_cells}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", default="digits-cnn:multi-ou,lenet5:wv-mlc,lenet5:small-chip")
    ap.add_argument("--with-resnet20", action="store_true")
    args = ap.parse_args(argv)
    cases = [c.split(":") for c in args.cases.split(",")]
    if args.with_resnet20:
        cases.append(["resnet20", "wv-mlc"])
    from pimopt.provenance import machine, package_commit, versions

    commit = package_commit()  # before the runs: the code of this moment
    print(f"# commit {commit}; {machine()}; {versions()}")
    print("| case | patterns | table (s) | cells (s) | speed-up | pairs/s table | "
          "pairs/s cells | equal | floor P (us) | exact+flow P (us) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    ok = True
    for name, preset in cases:
        r = measure(name, preset)
        ok = ok and bool(r["equal"])
        print(f"| {r['case']} | {r['patterns']:,} | {r['t_table']:.2f} | {r['t_cells']:.2f} | "
              f"{r['t_cells'] / r['t_table']:.1f}x | {r['pairs_per_s_table']:.3g} | "
              f"{r['pairs_per_s_cells']:.3g} | {r['equal']} | {r['prog_floor_us']:,.1f} | "
              f"{r['prog_exact_flow_us']:,.1f} |", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
