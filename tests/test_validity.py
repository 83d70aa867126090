"""Validity against brute force: no false "optimal", no bound above the true optimum.

Seeded tiny instances across six architectures (one and two crossbars,
1- and 2-bit cells, single and incremental pulses, write segments narrower,
equal to and wider than an OU row, one and two OUs per crossbar, write
budgets, crossbars that keep computing while they program). For each, the
optimum of the true problem (docs/model.md: any number of a layer's loads per slot,
identical patterns of a layer loaded once) is found by exhaustive search
(:mod:`tests.exhaustive`, which shares only the latency model with the
optimisers). Every method is then solved and, for slot-granular programming
and cell writes:

- the reported bound is at most the true optimum;
- the objective, recomputed from the mapping, is at least the true optimum;
- a result that says "optimal" has exactly the true optimum.

With whole-crossbar program operations (``granularity="crossbar"``) the true
optimum is not enumerated (operations may share passes); there the bound is
checked against the slot-granular optimum divided by the slots that can share
a write segment (its proof, docs/bounds.md section 6), every objective is at
least the bound, and "optimal" means objective == bound. The makespan bound is
checked against every verified schedule, and against the exact serial optimum
on one-crossbar, one-OU chips.

The default run covers the first ``FAST`` seeds; ``-m slow`` covers all
``SEEDS`` (at least 200 instances).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from pimopt import Architecture, Instance
from pimopt.bounds.makespan import makespan_bound
from pimopt.chains.problem import ChainProblem, layer_items
from pimopt.methods.registry import METHODS
from pimopt.objectives import mapping_objectives
from pimopt.pipeline import solve
from tests.conftest import random_network
from tests.exhaustive import exhaustive, serial_optimum

SEEDS = 240  # slow suite
FAST = 12  # default run
MAX_ITEMS = 7  # distinct items per instance (exhaustive search stays fast)

_BASE: dict[str, Any] = dict(t_ou=1.0, input_bits=2, t_set=10.0, t_reset=20.0, t_verify=1.0)
ARCHS: tuple[dict[str, Any], ...] = (
    # serial: one crossbar, one OU, two slots
    dict(name="serial", crossbars=1, rows=8, cols=4, ou_rows=4, ou_cols=4, cell_bits=2),
    # write segment twice an OU row: whole-crossbar operations share passes
    dict(name="wide-seg", crossbars=2, rows=4, cols=4, ou_rows=4, ou_cols=2, cell_bits=2,
         write_width=4, write_parallel=2),
    # incremental pulses with verify, four slots on one crossbar
    dict(name="incremental", crossbars=1, rows=4, cols=8, ou_rows=2, ou_cols=4, cell_bits=2,
         pulse_mode="incremental", t_set=7.0, t_reset=10.0, t_verify=3.0),
    # 1-bit cells, crossbars compute while another slot programs
    dict(name="slot-block", crossbars=2, rows=4, cols=4, ou_rows=2, ou_cols=4, cell_bits=1,
         block_whole_crossbar=False),
    # the audit's reproducer chip: segments narrower than an OU row
    dict(name="narrow-seg", crossbars=1, rows=4, cols=4, ou_rows=2, ou_cols=4, cell_bits=2,
         write_width=2, write_parallel=2, t_set=7.0, t_reset=10.0),
    # two OUs per crossbar and a write budget of one crossbar
    dict(name="budget", crossbars=2, rows=4, cols=8, ou_rows=4, ou_cols=4, cell_bits=2,
         ous_per_crossbar=2, max_programming_crossbars=1),
)


@dataclass(frozen=True)
class Case:
    """One tiny instance and the true optima of its slot-granular objectives."""

    seed: int
    inst: Instance
    optimum: dict[str, int]  # chain metric ("latency", "cell_writes") -> true optimum


def _optimum(inst: Instance, metric: str) -> int:
    a = inst.arch
    layers = layer_items(inst)
    items = np.concatenate([li.patterns for li in layers])
    lay = np.concatenate([np.full(len(li.patterns), li.layer) for li in layers])
    p = ChainProblem(a, np.zeros((a.total_slots, a.ou_rows, a.ou_cols), np.uint8), items, lay,
                     {li.layer: len(li.patterns) for li in layers}, metric)
    return exhaustive(p)[0]


def make_case(seed: int) -> Case:
    """The seed's instance: architecture ``seed % 6``, a random network of <= MAX_ITEMS items."""
    spec = {**_BASE, **ARCHS[seed % len(ARCHS)]}
    arch = Architecture(**spec)
    rng = np.random.default_rng(seed)
    for attempt in range(100):
        net = random_network(seed * 1000 + attempt, n_layers=int(rng.integers(1, 4)), max_k=6,
                             max_n=3, sparsity=float(rng.uniform(0.1, 0.5)),
                             branchy=bool(rng.integers(0, 2)))
        inst = Instance(arch, net)
        n = sum(len(li.patterns) for li in layer_items(inst))
        if 2 <= n <= MAX_ITEMS:
            return Case(seed, inst, {m: _optimum(inst, m) for m in ("latency", "cell_writes")})
    raise AssertionError(f"seed {seed}: no network of 2..{MAX_ITEMS} items")


def _slow(seeds: range) -> list[Any]:
    return [pytest.param(s, marks=pytest.mark.slow) for s in seeds]


PARAMS = [*range(FAST), *_slow(range(FAST, SEEDS))]


def _check(res: Any, optimum: float, what: str) -> None:
    """The three validity rules for one result against the true optimum."""
    tol = 1e-6 * max(1.0, abs(optimum))
    assert res.bound is not None, what
    assert res.bound <= optimum + tol, f"{what}: bound {res.bound} above the optimum {optimum}"
    assert res.objective >= optimum - tol, f"{what}: {res.objective} below the optimum {optimum}"
    if res.status == "optimal":
        assert abs(res.objective - optimum) <= tol, (
            f"{what}: says optimal with {res.objective}, the optimum is {optimum}")


@pytest.mark.parametrize("seed", PARAMS)
def test_bounds_and_optimal_claims_hold_against_brute_force(seed: int) -> None:
    case = make_case(seed)
    inst = case.inst
    share = inst.arch.slots_per_write_segment
    for method in METHODS:
        for dec in ("whole", "layer"):
            res = solve(inst, method, objective="programming", decomposition=dec, time_limit=5,
                        seed=seed)
            what = f"seed {seed} {inst.arch.name} {method} {dec} programming"
            # the objective is the mapping's total, recomputed here from the mapping alone
            assert mapping_objectives(inst, res.mapping)["programming_ps"] == round(
                res.objective * 1000), what
            _check(res, case.optimum["latency"] / 1000, what)
        res = solve(inst, method, objective="cell_writes", decomposition="whole", time_limit=5,
                    seed=seed)
        _check(res, case.optimum["cell_writes"], f"seed {seed} {method} cell_writes")

        # whole-crossbar operations: the bound follows the division by the shared slots
        res = solve(inst, method, objective="programming", granularity="crossbar",
                    time_limit=5, seed=seed)
        what = f"seed {seed} {inst.arch.name} {method} crossbar"
        assert res.bound is not None, what
        assert res.bound <= case.optimum["latency"] / 1000 / share + 1e-9, what
        assert res.objective >= res.bound - 1e-9, what
        if res.status == "optimal":
            assert res.objective == pytest.approx(res.bound), what


@pytest.mark.parametrize("seed", PARAMS)
def test_makespan_bound_holds_for_every_schedule(seed: int) -> None:
    case = make_case(seed)
    inst = case.inst
    mb = makespan_bound(inst, time_limit=None)
    assert mb.programming_term == "exact"
    for method in ("naive", "sorted", "assignment", "balanced"):
        res = solve(inst, method, objective="makespan", time_limit=5, seed=seed)
        assert res.report.ok
        mk = res.schedule.makespan_ps()
        assert mb.value_ps <= mk, f"seed {seed} {inst.arch.name} {method}: {mb} > {mk}"
        assert res.makespan_bound_ns == pytest.approx(mb.value_ps / 1000)
    a = inst.arch
    if a.crossbars == 1 and a.ous_per_crossbar == 1 and a.block_whole_crossbar:
        least, compute = serial_optimum(inst)
        assert mb.value_ps <= least + compute


def test_the_suite_spans_architectures_and_reloads() -> None:
    """The slow suite has >= 200 instances over every architecture, and the fast subset
    includes instances that need more loads than slots (the case where order matters)."""
    assert SEEDS >= 200 and SEEDS % len(ARCHS) == 0
    cases = [make_case(s) for s in range(FAST)]
    assert {c.inst.arch.name for c in cases} == {spec["name"] for spec in ARCHS}
    reload = [c for c in cases
              if sum(len(li.patterns) for li in layer_items(c.inst)) > c.inst.arch.total_slots]
    assert len(reload) >= FAST // 3
