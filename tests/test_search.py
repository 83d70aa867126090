"""The schedule-driven search (pimopt.methods.search) and its stage in solve()."""

from __future__ import annotations

from pathlib import Path

import pytest

from pimopt import Instance, load_instance, solve, verify
from pimopt.bounds.makespan import makespan_bound
from pimopt.methods.baselines import naive_mapping
from pimopt.methods.search import makespan_search
from pimopt.scheduling.list_scheduler import list_schedule
from tests.conftest import random_network, small_arch

PB = Path(__file__).resolve().parents[1] / "instances" / "tiny-pb"


def _pb(name: str) -> Instance:
    return load_instance(PB / f"{name}.json", PB / f"{name}.toml")


def test_search_shortens_the_naive_schedule_on_a_budget_bound_chip() -> None:
    """One write at a time on 3 crossbars: from the naive mapping the search finds a
    verified schedule shorter than it, never below the bound."""
    inst = _pb("pb-budget-0")
    mapping = naive_mapping(inst)
    start = list_schedule(inst, mapping)
    out = makespan_search(inst, mapping, start, time_limit=5, seed=0)
    assert out.improved and out.info["evaluations"] > 0
    assert verify(inst, out.schedule).ok
    assert out.schedule.makespan_ps() == out.info["makespan_ps"] < start.makespan_ps()
    assert out.schedule.makespan_ps() >= makespan_bound(inst, time_limit=None).value_ps


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_search_keeps_every_schedule_valid_and_never_worse(seed: int) -> None:
    """Layer DAGs with two dependencies, split inputs (balanced's mapping), pattern reuse:
    every kept schedule verifies, in layer order, at most the start."""
    inst = Instance(small_arch(ous_per_crossbar=2, max_programming_crossbars=1),
                    random_network(seed, n_layers=4, branchy=True, max_inputs=9))
    start = solve(inst, "sorted", objective="makespan", time_limit=2, functional_samples=None)
    out = makespan_search(inst, start.mapping, start.schedule, time_limit=1, seed=seed)
    assert verify(inst, out.schedule, functional_samples=None).ok
    out.mapping.validate(inst)
    assert out.schedule.makespan_ps() <= start.schedule.makespan_ps()
    assert out.improved == (out.schedule is not start.schedule)


def test_search_stops_at_the_bound_and_when_time_is_short() -> None:
    inst = _pb("pb-few-xb-1")
    mapping = naive_mapping(inst)
    start = list_schedule(inst, mapping)
    at_bound = makespan_search(inst, mapping, start, time_limit=5,
                               bound_ps=start.makespan_ps())
    assert at_bound.info["evaluations"] == 0 and not at_bound.improved
    no_time = makespan_search(inst, mapping, start, time_limit=0.0)
    assert "skipped" in no_time.info and no_time.schedule is start


def test_balanced_is_near_the_proven_optimum_of_a_tiny_instance() -> None:
    """pb-budget-0 (n_inputs = 1, distinct patterns: the joint model's optimum is the
    problem's): balanced with its search is within 2% of the optimum the joint CP-SAT model
    proves here, above the bound, and its summary says what the search did."""
    from pimopt.scheduling.joint import joint_schedule

    inst = _pb("pb-budget-0")
    res = solve(inst, "balanced", objective="makespan", time_limit=10)
    assert res.report.ok and res.bound is not None
    jo = joint_schedule(inst, res.mapping, res.schedule, time_limit=30, workers=8,
                        lower_bound_ps=int(res.bound * 1000))
    assert jo.status == "optimal" and verify(inst, jo.schedule).ok
    opt = jo.schedule.makespan_ps() / 1000
    assert res.bound <= opt <= res.objective <= opt * 1.02
    assert res.info["search"]["evaluations"] > 0
    assert "search" in res.summary() and [st.name for st in res.stages][3] == "search"
