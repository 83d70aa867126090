"""Large-neighbourhood search: destroy a few slots' chains and re-solve them with CP-SAT.

A neighbourhood is a set of slots whose chains hold related items (candidate
neighbours of a random seed slot's items, filled up with random slots). Their
items, their start patterns and the per-layer capacities form a small chain
problem of its own (chains of other slots are untouched and do not depend on
it), which CP-SAT solves with the current chains as a complete hint. A better
sub-solution replaces the old one, so the cost never rises.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from pimopt.chains.candidates import node_candidates
from pimopt.chains.exact import EXACT_ARC_LIMIT, solve_cpsat
from pimopt.chains.problem import ChainProblem, Chains
from pimopt.interrupt import expired, seconds_left


def lns_chains(p: ChainProblem, initial: Chains, *, time_limit: float = 60.0, seed: int = 0,
               workers: int = 2, size: int = 40, sub_time: float = 2.0,
               info: dict[str, Any] | None = None) -> Chains:
    """Improve ``initial`` by CP-SAT re-solves of related chains until time runs out.

    Parameters
    ----------
    p
        The problem (any number of layers).
    initial
        A feasible solution.
    time_limit, seed, workers
        Wall time, seed of the neighbourhood choice and of CP-SAT, CP-SAT workers.
    size
        Items per neighbourhood (about).
    sub_time
        CP-SAT time limit per neighbourhood.
    info
        If given, receives iteration and improvement counts.
    """

    deadline = time.perf_counter() + time_limit
    rng = np.random.default_rng(seed)
    chains = [list(c) for c in initial]
    s = p.n_slots
    used = [k for k in range(s) if chains[k]]
    if len(used) < 2:
        return chains
    cand = node_candidates(p, 8, seed) if p.n_items > 1 else None
    chain_of = np.full(p.n_items, -1, dtype=np.int64)
    for k, ch in enumerate(chains):
        chain_of[ch] = k
    per_chain = max(1, int(np.mean([len(chains[k]) for k in used])))
    n_slots = max(2, size // per_chain)
    tries = improved = skipped = 0
    while not expired(deadline, 0.05):
        tries += 1
        k0 = int(rng.choice(used))
        pick = [k0]
        if cand is not None:
            for v in chains[k0]:
                for c in cand[s + v]:
                    if c >= 0 and int(chain_of[c]) not in pick and len(pick) < n_slots:
                        pick.append(int(chain_of[c]))
        while len(pick) < min(n_slots, len(used)):
            k = int(rng.choice(used))
            if k not in pick:
                pick.append(k)
        while len(pick) > 1 and _arcs(chains, pick) > EXACT_ARC_LIMIT:
            pick.pop()  # long chains: fewer of them, so that the exact model stays in size
        if _arcs(chains, pick) > EXACT_ARC_LIMIT:
            skipped += 1
            if skipped > 50 and improved == 0 and tries == skipped:
                break  # every chain alone is beyond the exact model: nothing to do here
            continue
        items = np.array([v for k in pick for v in chains[k]], dtype=np.int64)
        local = {int(v): i for i, v in enumerate(items.tolist())}
        lay = p.item_layer[items]
        sub = ChainProblem(p.arch, p.starts[pick], p.items[items], lay,
                           {int(la): p.capacity[int(la)] for la in np.unique(lay)}, p.metric)
        hint = [[local[v] for v in chains[k]] for k in pick]
        before = sub.evaluate(hint)
        budget = min(sub_time, seconds_left(deadline))
        if budget <= 0.05:
            break
        out = solve_cpsat(sub, time_limit=budget, seed=seed + tries, workers=workers, hint=hint)
        whole = len(pick) == len(used) and items.size == p.n_items
        if whole and out.status == "optimal" and out.chains is not None:
            # the neighbourhood was the whole problem and CP-SAT proved it: nothing to gain
            if sub.evaluate(out.chains) < before:
                improved += 1
                for k, ch in zip(pick, out.chains, strict=True):
                    chains[k] = [int(items[i]) for i in ch]
            break
        if out.chains is not None and sub.evaluate(out.chains) < before:
            improved += 1
            for k, ch in zip(pick, out.chains, strict=True):
                chains[k] = [int(items[i]) for i in ch]
                chain_of[chains[k]] = k
            used = [k for k in range(s) if chains[k]]
    if info is not None:
        info.update({"lns_neighbourhoods": tries - skipped, "lns_improvements": improved,
                     "lns_windows_too_large": skipped})
    return chains


def _arcs(chains: Chains, pick: list[int]) -> int:
    """Arcs of the exact model of a window (items x (slots + items))."""
    n = sum(len(chains[k]) for k in pick)
    return n * (len(pick) + n)
