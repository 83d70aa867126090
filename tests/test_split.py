"""Input splitting: verified with every input checked, never worse, really split."""

from __future__ import annotations

import numpy as np
import pytest

from pimopt import Instance, load_instance, solve, verify
from pimopt.scheduling.split import split_inputs
from tests.conftest import random_network, small_arch


def test_splitting_shortens_lenet_and_verifies() -> None:
    inst = load_instance(None, "default")
    plain = solve(inst, "sorted", objective="makespan", time_limit=3)
    res = solve(inst, "sorted", objective="makespan", time_limit=3, split=True)
    info = res.info["split"]
    assert info["splits"] > 0 and res.mapping.has_ranges
    assert res.objective < plain.objective  # the bottleneck crossbars shed compute
    assert info["makespan_after_ps"] == res.schedule.makespan_ps()
    # some block now computes on two loads, in two parts that cover its inputs
    counts = np.bincount(res.mapping.block)
    assert counts.max() >= 2
    assert res.to_json(inst)["blocks"]["slot_writes"] > plain.to_json(inst)["blocks"]["slot_writes"]
    assert verify(inst, res.schedule, functional_samples=64).ok


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_split_schedules_pass_the_bit_exact_check(seed: int) -> None:
    inst = Instance(small_arch(ous_per_crossbar=1),
                    random_network(seed, n_layers=3, max_inputs=9, sparsity=0.2))
    res = solve(inst, "sorted", objective="makespan", time_limit=2, split=True)
    assert verify(inst, res.schedule, functional_samples=None).ok
    assert res.info["split"]["makespan_after_ps"] <= res.info["split"]["makespan_before_ps"]
    timed = solve(inst, "sorted", objective="makespan", time_limit=2, split=True,
                  scheduler="cpsat")
    assert verify(inst, timed.schedule, functional_samples=None).ok
    assert timed.objective <= res.objective


def test_split_search_respects_its_limits() -> None:
    inst = load_instance(None, "default")
    res = solve(inst, "naive", objective="makespan", time_limit=2)
    out = split_inputs(inst, res.mapping, time_limit=2, max_splits=3)
    assert out.info["splits"] <= 3
    assert out.schedule.makespan_ps() <= res.schedule.makespan_ps()


@pytest.mark.parametrize("scheduler", ["list", "cpsat"])
@pytest.mark.parametrize("reuse", [True, False])
@pytest.mark.parametrize("split", [True, False])
def test_every_scheduler_with_and_without_reuse_and_splitting(scheduler: str, reuse: bool,
                                                              split: bool) -> None:
    net = random_network(11, n_layers=3, max_inputs=9, sparsity=0.2)
    inst = Instance(small_arch(), net)
    res = solve(inst, "assignment", objective="makespan", time_limit=2, scheduler=scheduler,
                reuse=reuse, split=split)
    assert verify(inst, res.schedule, functional_samples=None).ok
    assert res.options["reuse"] is reuse and res.options["split"] is split
