"""The relaxation-guided construction (method ``relax``): chain heads chosen by the
sparse assignment LP of :mod:`pimopt.bounds.programming`, then rounds and granular
moves (:mod:`pimopt.chains.construct`, :mod:`pimopt.chains.granular`). It lives above
both: a heuristic built on a bound.
"""

from __future__ import annotations

import time

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

from pimopt.bounds.programming import sparse_ap_bound
from pimopt.chains.candidates import node_candidates
from pimopt.chains.construct import append_sorted_runs, assign_round, by_layer, sub_costs
from pimopt.chains.granular import candidate_deadline, granular_chains, granular_search
from pimopt.chains.problem import ChainProblem, Chains
from pimopt.interrupt import expired, seconds_left

RELAX_LIMIT = 20_000  # items per layer up to which the relaxation-guided construction runs
RELAX_ARCS_PER_S = 4_000_000  # conservative arc-cost rate for relax's time estimate


def relaxation_chains(p: ChainProblem, *, time_limit: float = 60.0, seed: int = 0,
                      info: dict[str, list[float]] | None = None) -> Chains:
    """Assignment-relaxation-and-patch construction, then the granular search.

    The sparse assignment LP (:func:`pimopt.bounds.programming.sparse_ap_bound`, with the
    chain-count row) chooses which items follow a slot's start: those become
    the heads of the chains (round 1, matched to slots by LSAP); the other
    items follow round by round as in :func:`assignment_chains`, and granular
    moves polish the result. Layers above :data:`RELAX_LIMIT` items (the LP's
    pricing is O(n^2)) fall back to :func:`granular_chains`.
    """

    deadline = time.perf_counter() + time_limit
    s = p.n_slots

    def solve_layer(sub: ChainProblem) -> Chains:
        left_s = seconds_left(deadline)
        # one pricing pass of the LP streams n^2 arcs and a round's assignment is S x n:
        # when that cannot fit in half the time left, granular moves use it better
        pass_s = (sub.n_items ** 2 + s * sub.n_items * 4) / RELAX_ARCS_PER_S
        if sub.n_items > RELAX_LIMIT or pass_s > left_s / 2:
            if info is not None:
                info.setdefault("granular_layers", []).append(float(sub.n_items))
            return granular_chains(sub, time_limit=max(0.05, left_s), seed=seed)
        cand = node_candidates(sub, 16, seed, candidate_deadline(deadline))
        heads: list[NDArray[np.int64]] = []
        # the LP may use half of the time left; construction and moves need the rest
        now = time.perf_counter()
        bound = sparse_ap_bound(sub, cand, heads=heads, deadline=now + (deadline - now) / 2)
        if info is not None:
            info.setdefault("relaxation_bounds", []).append(bound)
        chains: Chains = [[] for _ in range(s)]
        cur = np.arange(s, dtype=np.int64)
        h = heads[0][:s]
        if h.size:
            assign_round(sub, cur, h, chains)  # round 1: the heads (at most S of them)
        left = np.setdiff1d(np.arange(sub.n_items), h)
        free = np.array([k for k in range(s) if not chains[k]], dtype=np.int64)
        if free.size and left.size:
            # fewer heads than slots (an LP cut by its time limit): the free slots take
            # their first items now, so that every slot keeps within the round limit
            rows, cols = linear_sum_assignment(sub_costs(sub, cur[free], left))
            for r_, c_ in zip(rows.tolist(), cols.tolist(), strict=True):
                chains[int(free[r_])].append(int(left[c_]))
                cur[free[r_]] = s + int(left[c_])
            left = np.delete(left, cols)
        while left.size:
            if expired(deadline):  # out of time: the rest in sorted order
                append_sorted_runs(
                    chains, left[np.lexsort(sub.items[left].reshape(left.size, -1).T[::-1])])
                break
            left = np.delete(left, assign_round(sub, cur, left, chains))
        sub.check_solution(chains, "the round-robin assignment")
        return granular_search(sub, chains, cand, deadline, seed)

    return by_layer(p, solve_layer)
