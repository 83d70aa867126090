"""The makespan-aware mapping (pimopt.methods.balanced): the chip-wide assignment of
layers whose writes set their time under a binding write budget."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from pimopt import Instance, solve, verify
from pimopt.chains.problem import ChainProblem, min_rounds
from pimopt.methods.balanced import _assigned_plan, _Builder
from tests.conftest import random_network, small_arch


def _inst(seed: int, n_inputs: int = 1) -> Instance:
    """3 crossbars of 4 slots, one programs at a time; with one input vector per layer
    the writes, not the compute, set every layer's time."""
    net = random_network(seed, n_layers=3, max_k=24, max_n=8, sparsity=0.1)
    net = replace(net, layers=tuple(replace(la, n_inputs=n_inputs) for la in net.layers))
    return Instance(small_arch(crossbars=3, max_programming_crossbars=1, ous_per_crossbar=2),
                    net)


def _largest_layer(inst: Instance) -> np.ndarray:
    nz = inst.nonzero_blocks
    layer = int(np.argmax(np.bincount(inst.block_layer[nz])))
    return nz[inst.block_layer[nz] == layer].astype(np.int64)


def _check_plan(inst: Instance, blocks: np.ndarray, plan: Any) -> None:
    """Every block once, in its pattern's slot's crossbar; equal patterns share one slot
    and channel; chains within the round limit; near-equal shares."""
    a = inst.arch
    spc = a.slots_per_crossbar
    pid = inst.pattern_id
    assert plan.chains is not None
    assert sorted(plan.block.tolist()) == sorted(blocks.tolist())
    flat = [v for c in plan.chains for v in c]
    assert sorted(flat) == np.unique(pid[blocks]).tolist()
    assert max(map(len, plan.chains)) <= min_rounds(len(flat), a.total_slots)
    loads = [sum(map(len, plan.chains[x * spc:(x + 1) * spc])) for x in range(a.crossbars)]
    # every round but the last fills every slot, the last by equal quotas
    last = len(flat) % a.total_slots
    assert max(loads) - min(loads) <= -(-last // a.crossbars)
    slot_of = {v: k for k, c in enumerate(plan.chains) for v in c}
    slot = np.array([slot_of[int(v)] for v in pid[plan.block]])
    np.testing.assert_array_equal(plan.crossbar, slot // spc)
    np.testing.assert_array_equal(plan.channel // a.ous_per_crossbar, plan.crossbar)
    for v in np.unique(pid[plan.block]):
        assert np.unique(plan.channel[pid[plan.block] == v]).size == 1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_chip_assignment_places_every_block_once_in_near_equal_shares(seed: int) -> None:
    inst = _inst(seed)
    a = inst.arch
    blocks = _largest_layer(inst)
    assert blocks.size > a.total_slots  # several rounds
    erased = np.zeros((a.total_slots, a.ou_rows, a.ou_cols), np.uint8)
    plan, how = _assigned_plan(inst, erased, blocks, 1, a.ous_per_crossbar, "latency", 60)
    assert plan is not None and how == "assignment"
    _check_plan(inst, blocks, plan)
    # no time for either solve: no plan (the caller keeps its partition)
    assert _assigned_plan(inst, erased, blocks, 1, a.ous_per_crossbar, "latency", 0) == (
        None, "too large")


def test_a_layer_smaller_than_the_chip_is_spread_over_every_crossbar() -> None:
    """From erased slots every slot costs the same: the one (last) round still gives
    every crossbar its equal share, so no crossbar programs the layer alone."""
    inst = _inst(0)
    a = inst.arch
    blocks = _largest_layer(inst)
    for n in (1, 4, 5, 11):
        part = blocks[np.unique(inst.pattern_id[blocks], return_index=True)[1][:n]]
        erased = np.zeros((a.total_slots, a.ou_rows, a.ou_cols), np.uint8)
        plan, how = _assigned_plan(inst, erased, part, 1, a.ous_per_crossbar, "latency", 60)
        assert plan is not None and how == "assignment"
        loads = np.bincount(plan.crossbar, minlength=a.crossbars)
        assert loads.max() == -(-n // a.crossbars), (n, loads)
        _check_plan(inst, part, plan)


def test_the_crossbars_take_the_chip_chains_at_the_chip_wide_cost() -> None:
    """Each crossbar's problem gets the chip-wide chains of its slots: the crossbars'
    costs add up to the chip-wide chains' cost (the same writes)."""
    inst = _inst(4)
    a = inst.arch
    blocks = _largest_layer(inst)
    build = _Builder(inst, "latency", reuse=True)
    plan, _ = _assigned_plan(inst, build.content, blocks, 1, a.ous_per_crossbar, "latency", 60)
    assert plan is not None and plan.chains is not None
    upid, first = np.unique(inst.pattern_id[blocks], return_index=True)
    chip = ChainProblem(a, build.content, inst.patterns[blocks[first]],
                        np.zeros(upid.size, np.int64), {0: upid.size})
    whole = chip.evaluate([np.searchsorted(upid, c).tolist() for c in plan.chains])
    total = 0
    for xb in range(a.crossbars):
        p, sel, item = build.crossbar_problem(plan, xb)
        chains = build.given_chains(plan, xb, p, sel, item)
        p.check_solution(chains, "chip-wide chains")
        total += p.evaluate(chains)
    assert total == whole


def test_balanced_assigns_write_bound_layers_chip_wide_and_verifies() -> None:
    """Writes set the time (one input vector): every layer larger than the chip is
    assigned chip-wide, and the schedule verifies. Compute-heavy layers keep the
    compute-balanced partition."""
    inst = _inst(5)
    res = solve(inst, "balanced", objective="makespan", time_limit=1, functional_samples=None)
    assert verify(inst, res.schedule, functional_samples=None).ok
    # the first layer has more blocks than the (erased) slots: the assignment chooses
    # them; a layer that fits in the slots the previous one left alone keeps the
    # partition
    layers = res.info["balanced"]
    assert layers[0]["blocks"] > inst.arch.total_slots
    assert layers[0]["chip_assignment"] == "assignment"
    assert {la["chip_assignment"] for la in layers} <= {"assignment", "no"}
    heavy = _inst(5, n_inputs=4096)
    res = solve(heavy, "balanced", objective="makespan", time_limit=1, functional_samples=None)
    assert verify(heavy, res.schedule, functional_samples=None).ok
    assert {la["chip_assignment"] for la in res.info["balanced"]} == {"no"}
