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

from pimopt.problem import FORBIDDEN, ChainProblem, Chains


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
