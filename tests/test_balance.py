"""The critical-path objective: balancing never worsens it, and its bound is valid."""

from __future__ import annotations

import numpy as np
import pytest

from pimopt import Instance, Mapping, solve, verify
from pimopt.methods.baselines import naive_mapping
from pimopt.objectives import mapping_objectives
from pimopt.scheduling.balance import balance_rounds
from tests.conftest import random_network, small_arch


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_balance_lowers_critical_path_and_stays_valid(seed: int) -> None:
    inst = Instance(small_arch(crossbars=4, rows=8, cols=8),
                    random_network(seed, n_layers=2, max_k=16, max_n=4, sparsity=0.1))
    base = solve(inst, "sorted", objective="programming", time_limit=2)
    mapping, info = balance_rounds(inst, base.mapping, time_limit=3, seed=seed)
    mapping.validate(inst)
    after = mapping_objectives(inst, mapping)
    assert after["critical_path_ps"] <= base.objectives["critical_path_ps"]
    assert info["critical_path_after_ps"] == after["critical_path_ps"]
    res = solve(inst, "sorted", objective="critical_path", time_limit=4, seed=seed)
    assert verify(inst, res.schedule, functional_samples=None).ok
    assert res.objective == res.objectives["critical_path_ps"] / 1000
    assert res.bound is not None and res.bound <= res.objective + 1e-9


def test_critical_path_is_at_least_total_over_crossbars_for_any_mapping() -> None:
    """The lemma behind the bound, on many random valid mappings."""
    inst = Instance(small_arch(crossbars=3, rows=8, cols=8),
                    random_network(4, n_layers=3, max_k=16, max_n=4, sparsity=0.1))
    base = naive_mapping(inst)
    rng = np.random.default_rng(0)
    n_slots = inst.arch.total_slots
    layer = inst.block_layer[base.block]
    for _ in range(200):
        # random slots per block, positions in layer order within each slot
        g = rng.integers(0, n_slots, size=len(base))
        order = np.lexsort((rng.random(len(base)), layer, g))
        pos = np.empty(len(base), dtype=np.int64)
        gs = g[order]
        starts = np.r_[0, np.flatnonzero(gs[1:] != gs[:-1]) + 1]
        for a, b in zip(starts, np.r_[starts[1:], gs.size], strict=True):
            pos[order[a:b]] = np.arange(b - a)
        xb, sl = np.divmod(g, inst.arch.slots_per_crossbar)
        m = Mapping(block=base.block, crossbar=xb, slot=sl, position=pos)
        m.validate(inst)
        o = mapping_objectives(inst, m)
        assert o["critical_path_ps"] * inst.arch.crossbars >= o["programming_ps"]
        assert o["critical_path_ps"] <= o["programming_ps"]
    res = solve(inst, "assignment", objective="critical_path", time_limit=2)
    total = solve(inst, "assignment", objective="programming", time_limit=2)
    assert res.bound is not None and total.bound is not None
    assert res.bound == pytest.approx(total.bound / inst.arch.crossbars)
