"""Constructions on a :class:`~pimopt.chains.problem.ChainProblem`: sorted, greedy, assignment.

All constructions work layer by layer: the slots' patterns after one layer are
the starts of the next (the chains of a whole-network problem are the
concatenation). Every function returns chains that satisfy the problem's
rules; costs always come from :meth:`ChainProblem.arc_costs` (the latency model).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

from pimopt.chains.problem import ChainProblem, Chains


def layers_of(p: ChainProblem) -> list[tuple[int, NDArray[np.int64]]]:
    """(layer, item indices) in layer order."""
    return [(int(la), np.flatnonzero(p.item_layer == la)) for la in np.unique(p.item_layer)]


def sub_costs(p: ChainProblem, cur: NDArray[np.int64], items: NDArray[np.int64]
               ) -> NDArray[np.int64]:
    """Costs from the slots' current nodes to ``items``, (S, len(items)).

    Slots holding the same node share one row of evaluations.
    """
    uniq, inv = np.unique(cur, return_inverse=True)
    m = p.arc_costs(np.repeat(uniq, items.size), np.tile(items, uniq.size))
    return m.reshape(uniq.size, items.size)[inv.ravel()]


def sorted_chains(p: ChainProblem) -> Chains:
    """Weight-sorting baseline: sort a layer's items by pattern, cut into contiguous runs.

    Items are ordered lexicographically by their cells (row-major), so that
    similar patterns are neighbours; run ``k`` of ``capacity`` items goes to the
    ``k``-th slot (never-written slots first, then by index), so consecutive
    loads of a slot are neighbours in the sorted order.
    """
    chains: Chains = [[] for _ in range(p.n_slots)]
    # slots that were never written (all-zero start) first, so that a layer that fits
    # beside the previous one does not overwrite it
    written = p.starts.reshape(p.n_slots, -1).any(axis=1)
    slot_order = np.lexsort((np.arange(p.n_slots), written))
    for layer, items in layers_of(p):
        flat = p.items[items].reshape(items.size, -1)
        order = items[np.lexsort(flat.T[::-1])]
        cap = p.capacity[layer]
        for t, v in enumerate(order.tolist()):
            chains[int(slot_order[t // cap])].append(v)
    return chains


def greedy_chains(p: ChainProblem) -> Chains:
    """Round by round, each slot in turn takes the remaining item nearest to its pattern."""
    chains: Chains = [[] for _ in range(p.n_slots)]
    cur = np.arange(p.n_slots, dtype=np.int64)
    for layer, items in layers_of(p):
        remaining = np.ones(items.size, dtype=bool)
        for _ in range(p.capacity[layer]):
            if not remaining.any():
                break
            cost = sub_costs(p, cur, items).astype(np.float64)
            for k in range(p.n_slots):
                if not remaining.any():
                    break
                row = np.where(remaining, cost[k], np.inf)
                j = int(np.argmin(row))
                remaining[j] = False
                v = int(items[j])
                chains[k].append(v)
                cur[k] = p.n_slots + v
    return chains


def assignment_chains(p: ChainProblem) -> Chains:
    """Round by round, a minimum-cost assignment of remaining items to slots (scipy LSAP).

    Every round but a layer's last fills all slots, so the layer takes the
    minimum number of rounds.
    """
    chains: Chains = [[] for _ in range(p.n_slots)]
    cur = np.arange(p.n_slots, dtype=np.int64)
    for _layer, items in layers_of(p):
        left = items.copy()
        while left.size:
            left = np.delete(left, assign_round(p, cur, left, chains))
    return chains


def append_sorted_runs(chains: Chains, rest: NDArray[np.int64]) -> None:
    """Finish a round-by-round construction cut short: ``rest`` (items in sorted order) in
    contiguous runs of ``ceil(len(rest) / S)``, one per slot. Every slot has had the same
    rounds, so the runs keep the round limit; neighbours in sorted order are similar."""
    per = -(-rest.size // len(chains))
    for t, v in enumerate(rest.tolist()):
        chains[t // per].append(int(v))


def assign_round(p: ChainProblem, cur: NDArray[np.int64], todo: NDArray[np.int64],
                  chains: Chains, slots: NDArray[np.int64] | None = None,
                  cost: NDArray[np.int64] | None = None) -> NDArray[np.int64]:
    """One round: a minimum-cost assignment of ``todo`` items to the slots (scipy LSAP).

    Appends the placed items to ``chains``, moves ``cur`` (each slot's current
    node) on, and returns the positions in ``todo`` that were placed. ``slots``:
    only these slots are offered (default all); ``cost``: their costs to ``todo``
    (``sub_costs`` rows of ``slots``), if the caller has them.
    """
    if slots is None:
        slots = np.arange(p.n_slots, dtype=np.int64)
    if cost is None:
        cost = sub_costs(p, cur[slots], todo)
    rows, cols = linear_sum_assignment(cost)
    for k, j in zip(slots[rows].tolist(), cols.tolist(), strict=True):
        chains[k].append(int(todo[j]))
        cur[k] = p.n_slots + int(todo[j])
    return np.asarray(cols, dtype=np.int64)


def by_layer(p: ChainProblem, solve_layer: Callable[[ChainProblem], Chains]) -> Chains:
    """Solve each layer as its own chain problem, starting from what the previous one left."""
    out: Chains = [[] for _ in range(p.n_slots)]
    starts = p.starts
    for layer, items in layers_of(p):
        sub = ChainProblem(p.arch, starts, p.items[items], np.zeros(items.size, np.int64),
                           {0: p.capacity[layer]}, p.metric)
        chains = solve_layer(sub)
        for k, ch in enumerate(chains):
            out[k].extend(int(items[i]) for i in ch)
        starts = sub.final_patterns(chains)
    return out
