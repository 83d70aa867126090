"""Constructions (pimopt.chains.construct): valid chains, rounds, sorted runs."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pimopt.chains.construct import assignment_chains, greedy_chains, sorted_chains
from pimopt.chains.local_search import local_search
from tests.test_problem import make_problem


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(1, 30), s=st.integers(1, 6),
       layers=st.integers(1, 3), copies=st.integers(0, 2),
       metric=st.sampled_from(["latency", "cell_writes"]))
def test_heuristics_give_valid_chains(seed: int, n: int, s: int, layers: int, copies: int,
                                      metric: str) -> None:
    p = make_problem(seed, n=n, s=s, layers=min(layers, n), start_copies=min(copies, s),
                     metric=metric)
    costs = {}
    for fn in (sorted_chains, greedy_chains, assignment_chains):
        chains = fn(p)
        p.check(chains)
        costs[fn.__name__] = p.evaluate(chains)
    start = assignment_chains(p)
    improved = local_search(p, start, time_limit=5, seed=seed)
    p.check(improved)
    assert p.evaluate(improved) <= costs["assignment_chains"]


def test_assignment_rounds_fill_every_slot() -> None:
    p = make_problem(4, n=10, s=4)
    chains = assignment_chains(p)
    assert sorted(len(c) for c in chains) == [2, 2, 3, 3]
    # round 1 alone is an optimal assignment of starts to items
    first = [c[0] for c in chains]
    d = p.dense()
    from scipy.optimize import linear_sum_assignment
    r, c = linear_sum_assignment(d[:4])
    assert sum(d[k, first[k]] for k in range(4)) == d[:4][r, c].sum()


def test_sorted_keeps_neighbours_in_one_slot() -> None:
    p = make_problem(5, n=9, s=3)
    chains = sorted_chains(p)
    flat = p.items.reshape(9, -1)
    order = np.lexsort(flat.T[::-1]).tolist()
    assert [v for c in chains for v in c] == order
    # never-written slots come first
    q = make_problem(5, n=3, s=4, start_copies=2)
    o = np.lexsort(q.items.reshape(3, -1).T[::-1]).tolist()
    assert sorted_chains(q) == [[o[2]], [], [o[0]], [o[1]]]
