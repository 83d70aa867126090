"""Benchmark the chains inside one crossbar: candidate lists x time per item.

Takes the largest layer of an instance, gives one crossbar its share of the
layer's blocks (as ``balanced`` does: an eighth of the sorted blocks on 8
crossbars), and prints the programming latency of

- ``sorted``: the lexicographic chains (the baseline of the ratios);
- ``ranked``: ``granular_chains`` on ranked candidate lists (the 16 cheapest
  of a pool of 64 close patterns);
- ``window``: ``granular_chains`` on window lists (greedy edge on as many
  seeded lexicographic orders as the time affords);

for several time budgets per item, with the seconds each took, and the exact
nearest-write lower bound of the crossbar's programming (every item's
cheapest write from any other item or the empty slot; the agreement search,
complete or cut at ``--bound-seconds``). It also times the arc costs of the
chain problem against the cell arithmetic (``arc_costs_patterns``).

Usage: python scripts/bench_chains.py --instance resnet50-imagenet --preset wv-mlc
       [--per-item 20,60,250] [--seed 0] [--bound-seconds 60]
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import subprocess
import time
from pathlib import Path

import numpy as np

from pimopt import Instance, Network, __version__, load_architecture
from pimopt.bounds.agreement import agreement_nearest
from pimopt.chains.construct import sorted_chains
from pimopt.chains.granular import granular_chains
from pimopt.chains.problem import ChainProblem, min_rounds
from pimopt.latency import segment_table

ROOT = Path(__file__).resolve().parent.parent


def _instance_path(name: str) -> Path:
    spec = importlib.util.spec_from_file_location("bench_makespan",
                                                  ROOT / "scripts" / "bench_makespan.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return Path(mod.instance_path(name))


def crossbar_problem(inst: Instance) -> tuple[ChainProblem, int]:
    """One crossbar's share of the largest layer, distinct patterns, empty slots."""
    a = inst.arch
    nz = inst.nonzero_blocks
    layer = int(np.bincount(inst.block_layer[nz]).argmax())
    blocks = nz[inst.block_layer[nz] == layer]
    blocks = blocks[np.argsort(inst.pattern_id[blocks], kind="stable")]
    share = blocks[: max(1, blocks.size // a.crossbars)]
    _, first = np.unique(inst.pattern_id[share], return_index=True)
    items = inst.patterns[share[np.sort(first)]]
    spc = a.slots_per_crossbar
    starts = np.zeros((spc, a.ou_rows, a.ou_cols), dtype=np.uint8)
    return ChainProblem(a, starts, items, np.zeros(len(items), np.int64),
                        {0: min_rounds(len(items), spc)}, "latency"), layer


def nearest_bound(p: ChainProblem, seconds: float) -> tuple[float, bool]:
    """Sum of every item's cheapest write (us) and whether the search completed."""
    pats = np.concatenate([np.zeros((1, *p.items.shape[1:]), np.uint8), p.items])
    tab = segment_table(p.arch, pats)
    if tab is None:
        return float("nan"), False
    n = p.n_items
    from_zero = tab.latency(np.zeros(n, np.int64), np.arange(1, n + 1))
    r = agreement_nearest(tab.ids, tab.table, from_zero, time.perf_counter() + seconds)
    return float(r.lower.sum()) / 1e6, bool(r.complete)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--instance", default="resnet50-imagenet")
    ap.add_argument("--preset", default="wv-mlc")
    ap.add_argument("--per-item", default="20,60,250", help="microseconds per item")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bound-seconds", type=float, default=60.0)
    args = ap.parse_args()
    inst = Instance(load_architecture(args.preset), Network.load(_instance_path(args.instance)))
    p, layer = crossbar_problem(inst)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    print(f"pimopt {__version__} at {commit}, numpy {np.__version__}, "
          f"{platform.processor() or platform.machine()}, seed {args.seed}")
    print(f"{args.instance} `{args.preset}`, layer {layer}: one crossbar, "
          f"{p.n_items} items on {p.n_slots} slots")

    rng = np.random.default_rng(args.seed)
    u = rng.integers(0, p.n_slots + p.n_items, 200_000)
    v = rng.integers(0, p.n_items, 200_000)
    t0 = time.perf_counter()
    fast = p.arc_costs(u, v)
    t1 = time.perf_counter()
    slow = p.arc_costs_patterns(p.node_pattern(u), v)
    t2 = time.perf_counter()
    assert np.array_equal(fast, slow)
    print(f"arc costs: {u.size / (t1 - t0) / 1e6:.2f} M/s through the problem, "
          f"{u.size / (t2 - t1) / 1e6:.2f} M/s by the cell arithmetic "
          f"(x{(t2 - t1) / (t1 - t0):.1f}), equal")

    base = p.evaluate(sorted_chains(p)) / 1e6
    lb, complete = nearest_bound(p, args.bound_seconds)
    print(f"nearest-write lower bound: {lb:,.0f} us ({'exact' if complete else 'cut'})")
    print(f"sorted: {base:,.0f} us (1.000)")
    print("| us/item | seconds | ranked (us) | vs sorted | took (s) | window (us) | vs sorted "
          "| took (s) | window/ranked |")
    print("|---|---|---|---|---|---|---|---|---|")
    for per in [float(x) for x in args.per_item.split(",")]:
        limit = per * 1e-6 * p.n_items
        row = []
        for kind in ("ranked", "window"):
            t = time.perf_counter()
            chains = granular_chains(p, time_limit=limit, seed=args.seed, candidates=kind)
            took = time.perf_counter() - t
            p.check(chains)
            row.append((p.evaluate(chains) / 1e6, took))
        (r, tr), (w, tw) = row
        print(f"| {per:g} | {limit:.2f} | {r:,.0f} | {r / base:.3f} | {tr:.2f} | {w:,.0f} "
              f"| {w / base:.3f} | {tw:.2f} | {w / r:.3f} |")


if __name__ == "__main__":
    main()
