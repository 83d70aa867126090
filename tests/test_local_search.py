"""Local search, round reassignment and LNS reach or approach the optimum."""

from __future__ import annotations

from pimopt.chains.construct import assignment_chains, sorted_chains
from pimopt.chains.local_search import local_search
from tests.exhaustive import exhaustive
from tests.test_problem import make_problem


def test_local_search_reaches_the_optimum_of_tiny_problems() -> None:
    hits = 0
    for seed in range(8):
        p = make_problem(seed, n=7, s=3)
        opt, _ = exhaustive(p)
        ls = p.evaluate(local_search(p, assignment_chains(p), time_limit=5, seed=seed))
        assert ls >= opt
        hits += ls == opt
    assert hits >= 5  # a local optimum, but mostly the global one on 7 items


def test_round_reassignment_never_worsens() -> None:
    from pimopt.chains.local_search import round_reassignment

    for seed in range(4):
        p = make_problem(seed, n=40, s=5, layers=2, start_copies=1)
        start = sorted_chains(p)
        better = round_reassignment(p, start, time_limit=5)
        p.check(better)
        assert p.evaluate(better) <= p.evaluate(start)
    # on a problem where sorted is poor, it finds an improvement
    p = make_problem(11, n=60, s=6)
    start = sorted_chains(p)
    assert p.evaluate(round_reassignment(p, start, time_limit=5)) < p.evaluate(start)


def test_lns_never_worsens_and_improves_a_poor_start() -> None:
    from pimopt.chains.lns import lns_chains

    p = make_problem(12, n=40, s=4, layers=2)
    start = sorted_chains(p)
    info: dict[str, int] = {}
    out = lns_chains(p, start, time_limit=4, seed=1, size=20, sub_time=1, info=info)
    p.check(out)
    assert p.evaluate(out) < p.evaluate(start)
    assert info["lns_improvements"] >= 1
