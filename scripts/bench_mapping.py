"""Benchmark the mapping optimisers at the sizes the acceptance criteria name.

1. ``--scale``: one random layer of N non-zero 8x8 blocks on the default chip
   (2,048 slots): the granular heuristic's time and peak memory (measured in a
   child process), and its cost against the sorted baseline.
2. ``--gap``: random 8x8 layers of N blocks: the best scalable heuristic against
   the sparse assignment bound (column generation plus dual repair, valid for
   the full problem), per seed.
3. ``--cpsat``: CP-SAT on a random 45-block, 5-slot instance: time to prove
   the optimum, with the warm start's cost and the AP bound.

Random layers: cell levels uniform in 0..3 with 50% zeros (2-bit cells).

Usage: python scripts/bench_mapping.py [--scale 100000] [--gap 10000] [--seeds 0,1]
       [--cpsat] [--time-limit 240]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

from pimopt import Architecture
from pimopt.bounds.programming import ap_bound, sparse_ap_bound
from pimopt.chains.candidates import node_candidates
from pimopt.chains.construct import assignment_chains, sorted_chains
from pimopt.chains.exact import solve_cpsat
from pimopt.chains.granular import granular_chains
from pimopt.chains.local_search import local_search
from pimopt.chains.problem import ChainProblem, min_rounds
from pimopt.methods.chain_methods import CHAIN_METHODS, ChainOptions


def random_layer(n: int, seed: int, arch: Architecture) -> ChainProblem:
    rng = np.random.default_rng(seed)
    items = rng.integers(0, 4, size=(n, arch.ou_rows, arch.ou_cols)).astype(np.uint8)
    items[rng.random(items.shape) < 0.5] = 0
    s = arch.total_slots
    return ChainProblem(arch, np.zeros((s, arch.ou_rows, arch.ou_cols), np.uint8), items,
                        np.zeros(n, np.int64), {0: min_rounds(n, s)})


def child_scale(n: int, seed: int, time_limit: float) -> None:
    """Runs in a child process so that its peak memory is its own."""
    p = random_layer(n, seed, Architecture())
    t0 = time.perf_counter()
    srt = p.evaluate(sorted_chains(p))
    t1 = time.perf_counter()
    chains = granular_chains(p, time_limit=time_limit, seed=seed)
    t2 = time.perf_counter()
    p.check(chains)
    print(json.dumps({"n": n, "sorted": srt, "sorted_s": t1 - t0, "granular": p.evaluate(chains),
                      "granular_s": t2 - t1,
                      "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scale", type=int, default=0)
    ap.add_argument("--gap", type=int, default=0)
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--cpsat", action="store_true")
    ap.add_argument("--time-limit", type=float, default=240.0)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    seeds = [int(x) for x in args.seeds.split(",")]
    if args.child:
        child_scale(args.scale, seeds[0], args.time_limit)
        return
    if args.scale:
        for seed in seeds:
            out = subprocess.run([sys.executable, __file__, "--child", "--scale",
                                  str(args.scale), "--seeds", str(seed), "--time-limit",
                                  str(args.time_limit)], capture_output=True, text=True,
                                 check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"scale n={r['n']} seed={seed}: granular {r['granular_s']:.1f} s, peak "
                  f"{r['peak_mib']:.0f} MiB; cost {r['granular'] / 1e6:.1f} us vs sorted "
                  f"{r['sorted'] / 1e6:.1f} us (ratio {r['granular'] / r['sorted']:.3f})")
    if args.gap:
        for seed in seeds:
            p = random_layer(args.gap, seed, Architecture())
            t0 = time.perf_counter()
            bound = sparse_ap_bound(p, node_candidates(p, 16, seed))
            print(f"gap n={args.gap} seed={seed}: sparse AP bound {bound / 1e6:.2f} us in "
                  f"{time.perf_counter() - t0:.1f} s")
            # the methods as solve() runs them
            for method in ("granular", "relax"):
                t0 = time.perf_counter()
                chains = CHAIN_METHODS[method](p, ChainOptions(args.time_limit, seed)).chains
                cost = p.evaluate(chains)
                print(f"  {method}: {cost / 1e6:.2f} us in {time.perf_counter() - t0:.1f} s, "
                      f"gap {(cost - bound) / cost:.2%}")
    if args.cpsat:
        for seed in seeds:
            arch = Architecture(crossbars=1, rows=8, cols=40)  # 5 slots of 8x8
            p = random_layer(45, seed, arch)
            warm = local_search(p, assignment_chains(p), time_limit=5, seed=seed)
            t0 = time.perf_counter()
            res = solve_cpsat(p, time_limit=60, hint=warm, seed=seed, workers=2)
            t1 = time.perf_counter()
            print(f"cpsat 45 blocks 5 slots seed={seed}: {res.status} {res.objective} "
                  f"(bound {res.bound}) in {t1 - t0:.1f} s; warm start {p.evaluate(warm)}, "
                  f"AP bound {ap_bound(p)}; hint complete and feasible: "
                  f"{res.info.get('hint_complete_feasible')}")


if __name__ == "__main__":
    main()
