"""The list scheduler's two priority rules on the makespan-aware mapping.

Usage::

    python scripts/bench_priorities.py [--instances resnet20,lenet5,...]
        [--presets default,multi-ou,small-chip,wv-mlc] [--time-limit 20]

For every instance and preset, ``balanced``'s mapping is made once (its chain
search gets ``--time-limit`` seconds) and scheduled by the list scheduler with
``priority="position"`` (the load's position in its slot, the rule before
this script) and ``priority="layer"`` (its rank among its layer's loads in
the slot, the default), both verified; the script prints both makespans, the
change and each schedule's time. Instances are those of
``scripts/bench_makespan.py``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_makespan import instance_path

from pimopt.chains.problem import ChainProblem, Chains
from pimopt.instance import load_instance
from pimopt.methods.balanced import balanced_mapping
from pimopt.methods.chain_methods import ChainOptions, sorted_granular
from pimopt.provenance import versions
from pimopt.scheduling.list_scheduler import list_schedule
from pimopt.verify import verify


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--instances", default="resnet20,lenet5,digits-cnn,digits-mlp")
    ap.add_argument("--presets", default="default,multi-ou,small-chip,wv-mlc")
    ap.add_argument("--time-limit", type=float, default=20.0)
    args = ap.parse_args(argv)
    print(f"versions: {versions()}")
    print("| instance | preset | blocks | by position (us) | by rank (us) | change "
          "| schedule s (position / rank) |")
    print("|---|---|---|---|---|---|---|")
    for name in args.instances.split(","):
        for preset in args.presets.split(","):
            inst = load_instance(instance_path(name), preset)

            def solver(p: ChainProblem, seconds: float) -> Chains:
                return sorted_granular(p, ChainOptions(max(seconds, 0.05), 0, 1, "sorted"))

            mapping, _ = balanced_mapping(inst, solver, time_limit=args.time_limit)
            spans, secs = [], []
            for priority in ("position", "layer"):
                t = time.perf_counter()
                sched = list_schedule(inst, mapping, priority=priority)
                secs.append(time.perf_counter() - t)
                report = verify(inst, sched, functional_samples=None)
                if not report.ok:
                    raise SystemExit(f"{name} {preset} {priority}: {report.first()}")
                spans.append(sched.makespan_ps() / 1e6)
            print(f"| {name} | {preset} | {inst.n_nonzero:,} | {spans[0]:,.1f} | "
                  f"{spans[1]:,.1f} | {spans[1] / spans[0] - 1:+.1%} | "
                  f"{secs[0]:.2f} / {secs[1]:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
