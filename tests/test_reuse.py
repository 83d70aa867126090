"""Pattern reuse: shared loads within a layer, resident patterns across layers, and none."""

from __future__ import annotations

import numpy as np
import pytest

from pimopt import Instance, Layer, Network, solve, verify
from pimopt.chains.problem import layer_items
from tests.conftest import small_arch


def _repeated() -> Instance:
    """Two layers with the same 8x2 weights, each block pattern repeated twice in layer 0.

    Small chip: 2 crossbars x 4 slots of 4x4 cells; differential 4-bit weights in
    2-bit cells give 8 cell columns, so one layer is 2 x 2 = 4 blocks.
    """
    rng = np.random.default_rng(7)
    half = rng.integers(-7, 8, size=(4, 2))
    w0 = np.vstack([half, half])  # row tiles 0 and 1 identical: blocks repeat in layer 0
    w1 = w0.copy()  # layer 1 has exactly the patterns of layer 0
    net = Network("repeat", (Layer("l0", w0, n_inputs=3), Layer("l1", w1, n_inputs=2)),
                  weight_bits=4, source="tests.test_reuse")
    return Instance(small_arch(), net)


@pytest.mark.parametrize("method", ["naive", "sorted", "assignment", "cpsat"])
@pytest.mark.parametrize("reuse", [True, False])
def test_every_schedule_verifies_with_and_without_reuse(method: str, reuse: bool) -> None:
    inst = _repeated()
    res = solve(inst, method, objective="programming", time_limit=10, reuse=reuse)
    assert verify(inst, res.schedule, functional_samples=None).ok  # bit-exact, every input


def test_reuse_saves_loads_within_and_across_layers() -> None:
    inst = _repeated()
    assert inst.n_nonzero == 8 and inst.n_distinct_nonzero < 8
    with_reuse = solve(inst, "cpsat", objective="programming", time_limit=10)
    without = solve(inst, "cpsat", objective="programming", time_limit=10, reuse=False)
    blocks = with_reuse.to_json(inst)["blocks"]
    # in each layer two blocks per pattern share one load: 8 blocks, 4 loads
    assert blocks["blocks_sharing_a_load"] == 4 and blocks["loads"] == 4
    # layer 1: every pattern is still resident in a slot: loaded without a write
    assert blocks["loads_already_resident"] == 2
    assert blocks["slot_writes"] == 2 == with_reuse.schedule.write_op.size
    assert blocks["writes_saved"] == 6 and blocks["split_loads"] == 0
    nb = without.to_json(inst)["blocks"]
    assert nb["blocks_sharing_a_load"] == 0 and nb["loads"] == 8
    assert with_reuse.objective <= without.objective
    assert without.bound is None  # the instance bound assumes shared loads


def test_items_without_reuse_are_blocks() -> None:
    inst = _repeated()
    assert [len(li.patterns) for li in layer_items(inst)] == [2, 2]
    assert [len(li.patterns) for li in layer_items(inst, reuse=False)] == [4, 4]


def test_reuse_counts_stay_non_negative_with_input_splitting() -> None:
    """A split gives a block a second load: counted as a split load, not as a negative
    number of blocks sharing loads."""
    from pimopt.architecture import load_architecture
    from pimopt.result import reuse_counts

    inst = Instance(load_architecture("small-chip"), Network.load("pimopt:trained/digits-cnn"))
    res = solve(inst, "sorted", time_limit=5, split=True)
    counts = reuse_counts(inst, res.mapping, res.schedule)
    assert counts["split_loads"] == len(res.mapping) - inst.n_nonzero > 0
    assert min(counts.values()) >= 0, counts
    assert counts["slot_writes"] == res.schedule.write_op.size
    assert "extra loads from input splitting" in res.summary(inst)
