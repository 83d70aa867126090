"""The agreement search for every pattern's cheapest write (pimopt.bounds.agreement)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from pimopt import Instance, solve, verify
from pimopt.bounds import agreement as ag
from pimopt.bounds.makespan import makespan_bound
from pimopt.latency import SegmentTable, segment_table
from tests.conftest import random_network, small_arch

ARCHS: list[dict[str, Any]] = [
    {},
    {"write_width": 8, "write_parallel": 2, "pulse_mode": "incremental"},
    {"write_width": 2, "write_parallel": 2, "t_verify": 5.0},
    {"cell_bits": 1},
]


def _nodes(inst: Instance) -> tuple[SegmentTable, np.ndarray, np.ndarray]:
    """Segment table of (erased, distinct patterns...), writes from erased, exact minima."""
    a = inst.arch
    nz = inst.nonzero_blocks
    _, first = np.unique(inst.pattern_id[nz], return_index=True)
    distinct = inst.patterns[nz[first]]
    pats = np.concatenate([np.zeros((1, a.ou_rows, a.ou_cols), np.uint8), distinct])
    table = segment_table(a, pats)
    assert table is not None
    n = len(distinct)
    targets = np.arange(1, n + 1)
    from_zero = table.latency(np.zeros(n, np.int64), targets)
    every = table.from_all(targets, np.arange(n + 1))
    every[np.arange(n), targets] = np.iinfo(np.int64).max  # not from itself
    return table, from_zero, every.min(axis=1)


def _inst(arch_kw: dict[str, Any], seed: int) -> Instance:
    return Instance(small_arch(**arch_kw), random_network(seed, n_layers=4, max_k=16,
                                                          max_n=6, sparsity=0.2))


@pytest.mark.parametrize("arch_kw", ARCHS, ids=lambda k: ",".join(f"{a}={b}" for a, b in
                                                                  k.items()) or "small")
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_search_run_to_the_end_is_the_exact_cheapest_write(arch_kw: dict[str, Any],
                                                            seed: int) -> None:
    table, from_zero, exact = _nodes(_inst(arch_kw, seed))
    found = ag.agreement_nearest(table.ids, table.table, from_zero)
    assert found.complete and found.settled.all()
    np.testing.assert_array_equal(found.lower, exact)
    assert found.pairs > 0


@pytest.mark.parametrize("arch_kw", ARCHS[:2], ids=["small", "incremental"])
def test_a_cut_search_stays_below_the_exact_write(arch_kw: dict[str, Any],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Cut by the deadline before it starts, or with every group too large to evaluate,
    each pattern keeps the bound of the levels it completed: at most the exact write."""
    table, from_zero, exact = _nodes(_inst(arch_kw, 5))
    cut = ag.agreement_nearest(table.ids, table.table, from_zero, time.perf_counter() - 1)
    assert not cut.complete and cut.pairs == 0
    assert (cut.level == 0).all()
    assert (cut.lower <= exact).all()
    # level 0: one differing place, the cheapest change of any of the target's places
    per = ag.place_minima(table.ids, table.table)
    np.testing.assert_array_equal(cut.lower, np.minimum(from_zero, per.min(axis=1)))
    for limit in (1, 30, 200):
        monkeypatch.setattr(ag, "MAX_GROUP_PAIRS", limit)
        part = ag.agreement_nearest(table.ids, table.table, from_zero)
        assert (part.lower <= exact).all(), limit
        assert (part.lower >= cut.lower).all()
        assert (part.lower[part.settled] == exact[part.settled]).all()


def test_place_minima_is_the_cheapest_change_from_another_content_at_that_place() -> None:
    ids = np.array([[0, 0], [1, 0], [2, 1]], dtype=np.int32)  # node 0: erased
    table = np.array([[0, 3, 9], [4, 0, 2], [8, 1, 0]], dtype=np.int64)
    mins = ag.place_minima(ids, table)
    # node 1 at place 0 (content 1): from 0 costs 3, from 2 costs 1; place 1 (content 0):
    # from 1 costs 4 (content 2 is not found at place 1)
    np.testing.assert_array_equal(mins, [[1, 4], [2, 3]])


@pytest.mark.parametrize("arch_kw", ARCHS[:2], ids=["small", "incremental"])
def test_makespan_bound_takes_the_search_when_all_pairs_do_not_fit(
        arch_kw: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Too many pairs for the exact pass: the agreement term, between the segment floor
    and the exact term with its flow, and every method's verified makespan above it."""
    import pimopt.bounds.makespan as mbm

    inst = Instance(small_arch(**arch_kw), random_network(3, n_layers=3, branchy=True,
                                                           max_inputs=6))
    full = makespan_bound(inst, time_limit=None)
    assert full.programming_term == "exact"
    monkeypatch.setattr(mbm, "TABLE_PAIR_LIMIT", 0)
    monkeypatch.setattr(mbm, "EXACT_PAIR_LIMIT", 0)
    found = makespan_bound(inst, time_limit=None)
    assert found.programming_term == "agreement" and found.complete
    _, _, exact = _nodes(inst)
    assert found.programming_lb_ps == int(exact.sum()) // inst.arch.slots_per_write_segment
    assert found.programming_lb_ps <= full.programming_lb_ps
    monkeypatch.setattr(mbm, "segment_table", lambda *_a, **_k: None)  # no table: the floor
    floor = makespan_bound(inst, time_limit=None)
    assert floor.programming_term == "segment distance"
    assert floor.programming_lb_ps <= found.programming_lb_ps
    monkeypatch.undo()
    monkeypatch.setattr(mbm, "TABLE_PAIR_LIMIT", 0)
    monkeypatch.setattr(mbm, "EXACT_PAIR_LIMIT", 0)
    for method in ("naive", "sorted", "balanced"):
        res = solve(inst, method, objective="makespan", time_limit=2, functional_samples=None)
        assert verify(inst, res.schedule, functional_samples=None).ok
        assert res.schedule.makespan_ps() >= found.value_ps, method
