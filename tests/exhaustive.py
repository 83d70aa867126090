"""Exhaustive search of a chain problem (the reference optimum of tiny instances).

It builds chains slot by slot: at every step it appends an unused item to
the current slot's chain (respecting layer order and per-layer capacity) or
closes that chain and moves to the next slot. Each solution is enumerated
exactly once; memoisation over (slot, last node, run length, used items)
keeps tiny instances (<= 10 items) fast. It shares only the cost matrix with
the optimisers (the latency model is the single definition of cost).
"""

from __future__ import annotations

from functools import cache

import numpy as np

from pimopt.chains.problem import FORBIDDEN, ChainProblem, Chains
from pimopt.instance import Instance


def exhaustive(p: ChainProblem) -> tuple[int, Chains]:
    """Optimal cost and one optimal solution."""
    d = p.dense()
    s, n = p.n_slots, p.n_items
    full = (1 << n) - 1
    layer = [int(x) for x in p.item_layer]

    @cache
    def best(k: int, last: int, run: int, mask: int) -> tuple[float, tuple[int, ...]]:
        # returns (cost, sequence of moves: item ids, -1 = close chain)
        if mask == full:
            return 0.0, ()
        options: list[tuple[float, tuple[int, ...]]] = []
        if k + 1 < s:
            c, moves = best(k + 1, k + 1, 0, mask)
            options.append((c, (-1, *moves)))
        last_layer = layer[last - s] if last >= s else -1
        for v in range(n):
            if mask >> v & 1 or d[last, v] >= FORBIDDEN:
                continue
            if layer[v] < last_layer:
                continue
            r = run + 1 if layer[v] == last_layer else 1
            if r > p.capacity[layer[v]]:
                continue
            c, moves = best(k, s + v, r, mask | 1 << v)
            options.append((c + float(d[last, v]), (v, *moves)))
        if not options:
            return float("inf"), ()
        return min(options)

    cost, moves = best(0, 0, 0, 0)
    chains: Chains = [[] for _ in range(s)]
    k = 0
    for m in moves:
        if m < 0:
            k += 1
        else:
            chains[k].append(m)
    return int(cost), chains


def serial_optimum(inst: Instance) -> tuple[int, int]:
    """(least total programming, all compute) in ps of an instance on one serial crossbar.

    With one crossbar, one OU and whole-crossbar blocking every operation is
    serial, so the optimal makespan is the least total programming over all
    mappings (no per-layer round limit: each layer may use every position of
    a slot) plus all compute.
    """
    from pimopt.chains.problem import layer_items

    a = inst.arch
    assert a.crossbars == 1 and a.ous_per_crossbar == 1 and a.block_whole_crossbar
    layers = layer_items(inst)
    items = np.concatenate([li.patterns for li in layers])
    lay = np.concatenate([np.full(len(li.patterns), li.layer) for li in layers])
    p = ChainProblem(a, np.zeros((a.total_slots, a.ou_rows, a.ou_cols), np.uint8), items, lay,
                     {li.layer: len(li.patterns) for li in layers}, "latency")
    least, _ = exhaustive(p)
    compute = int(sum(a.compute_ps(int(n)) for n in inst.block_n_inputs[inst.nonzero_blocks]))
    return least, compute
