"""The granular heuristic and the relaxation-guided construction on large layers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pimopt.chains.construct import assignment_chains, sorted_chains
from pimopt.chains.local_search import local_search
from tests.test_problem import make_problem


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(1, 60), s=st.integers(1, 6),
       layers=st.integers(1, 3), copies=st.integers(0, 3), k=st.sampled_from([1, 4, 16]))
def test_granular_gives_valid_chains(seed: int, n: int, s: int, layers: int, copies: int,
                                     k: int) -> None:
    from pimopt.chains.granular import granular_chains

    p = make_problem(seed, n=n, s=s, layers=min(layers, n), start_copies=min(copies, s))
    chains = granular_chains(p, time_limit=5, seed=seed, k=k)
    p.check(chains)
    assert p.evaluate(chains) >= 0


def test_granular_is_close_to_dense_local_search() -> None:
    from pimopt.chains.granular import granular_chains

    for seed in range(3):
        p = make_problem(seed, n=300, s=8, start_copies=2)
        dense = p.evaluate(local_search(p, assignment_chains(p), time_limit=10, seed=seed))
        gran = p.evaluate(granular_chains(p, time_limit=10, seed=seed))
        assert gran <= 1.03 * dense


def test_relaxation_construction_is_valid_and_competitive() -> None:
    from pimopt.methods.relax import relaxation_chains

    for seed in range(3):
        p = make_problem(seed, n=200, s=6, start_copies=2, layers=2)
        info: dict[str, list[float]] = {}
        chains = relaxation_chains(p, time_limit=10, seed=seed, info=info)
        p.check(chains)
        assert p.evaluate(chains) <= 1.03 * p.evaluate(assignment_chains(p))
        assert len(info["relaxation_bounds"]) == 2  # one sparse LP per layer


def test_greedy_edge_follows_a_walk_that_sorting_breaks_up() -> None:
    """Items on a walk (each differs from the next in one cell by one level) in shuffled
    order: greedy edge on full candidate lists chains the walk, one pass per step, where
    the lexicographic order jumps; cut by an expired deadline it is still valid."""
    import time

    from pimopt.chains.candidates import node_candidates
    from pimopt.chains.granular import _greedy_edge_chains
    from pimopt.chains.problem import ChainProblem, min_rounds
    from tests.conftest import small_arch

    rng = np.random.default_rng(0)
    n, s = 40, 2
    walk = np.zeros((n, 4, 4), dtype=np.uint8)
    cur = np.zeros(16, dtype=np.int64)
    cur[0] = 1
    for i in range(n):
        walk[i] = cur.reshape(4, 4)
        j = int(rng.integers(0, 16))
        cur[j] = cur[j] + 1 if cur[j] < 3 else cur[j] - 1
    _, first = np.unique(walk.reshape(n, -1), axis=0, return_index=True)
    items = walk[np.sort(first)][rng.permutation(first.size)]
    m = len(items)
    p = ChainProblem(small_arch(), np.zeros((s, 4, 4), np.uint8), items,
                     np.zeros(m, np.int64), {0: min_rounds(m, s)}, "latency")
    cand = node_candidates(p, m - 1, 0)
    chains = _greedy_edge_chains(p, cand[p.n_slots:], time.perf_counter() + 60)
    p.check(chains)
    assert p.evaluate(chains) < p.evaluate(sorted_chains(p))
    cut = _greedy_edge_chains(p, cand[p.n_slots:], time.perf_counter() - 1)
    p.check(cut)


def test_window_granular_chains_walk_and_keep_to_their_time() -> None:
    """Granular chains on window lists: on a shuffled walk they are valid and cheaper
    than sorting; with no time for one order they are the sorted chains; an unknown kind
    of list is refused by name."""
    import time

    from pimopt.chains.granular import granular_chains
    from pimopt.chains.problem import ChainProblem, min_rounds
    from tests.conftest import small_arch

    rng = np.random.default_rng(2)
    walk = np.zeros((300, 4, 4), dtype=np.uint8)
    cur = np.zeros(16, dtype=np.int64)
    for i in range(300):
        walk[i] = cur.reshape(4, 4)
        j = int(rng.integers(0, 16))
        cur[j] = cur[j] + 1 if cur[j] < 3 else cur[j] - 1
    _, first = np.unique(walk.reshape(300, -1), axis=0, return_index=True)
    items = walk[np.sort(first)][rng.permutation(first.size)]
    m, s = len(items), 3
    p = ChainProblem(small_arch(), np.zeros((s, 4, 4), np.uint8), items,
                     np.zeros(m, np.int64), {0: min_rounds(m, s)}, "latency")
    t0 = time.perf_counter()
    chains = granular_chains(p, time_limit=2.0, seed=0, candidates="window")
    assert time.perf_counter() - t0 < 2.5
    p.check(chains)
    assert p.evaluate(chains) < p.evaluate(sorted_chains(p))
    assert granular_chains(p, time_limit=0.0, candidates="window") == sorted_chains(p)
    with pytest.raises(ValueError, match="candidates"):
        granular_chains(p, time_limit=1.0, candidates="nearest")
