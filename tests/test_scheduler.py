"""Every list schedule, on random instances and architectures, passes the verifier."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pimopt import Instance, Layer, Mapping, Network, verify
from pimopt.errors import InputError
from pimopt.methods.baselines import naive_mapping
from pimopt.scheduling.list_scheduler import list_schedule
from tests.conftest import random_network, small_arch


@st.composite
def instances(draw: st.DrawFn) -> Instance:
    ou = draw(st.sampled_from([(2, 2), (2, 4), (4, 4), (4, 2)]))
    cols = 8
    ww = draw(st.sampled_from([w for w in (1, 2, 4, 8) if w % ou[1] == 0 or ou[1] % w == 0]))
    arch = small_arch(
        crossbars=draw(st.integers(1, 3)), ou_rows=ou[0], ou_cols=ou[1], cols=cols,
        cell_bits=draw(st.integers(1, 3)), write_width=ww,
        write_parallel=draw(st.integers(1, ww)),
        pulse_mode=draw(st.sampled_from(["single", "incremental"])),
        block_whole_crossbar=draw(st.booleans()),
        ous_per_crossbar=draw(st.integers(1, 2)),
        t_verify=draw(st.sampled_from([0.0, 1.5])),
    )
    arch = small_arch(**{**arch.to_dict(), "max_programming_crossbars":
                         draw(st.integers(1, arch.crossbars))})
    net = random_network(draw(st.integers(0, 10**6)), n_layers=draw(st.integers(1, 4)),
                         weight_bits=draw(st.integers(2, 6)),
                         encoding=draw(st.sampled_from(["differential", "offset"])),
                         sparsity=draw(st.sampled_from([0.0, 0.5, 0.9])),
                         branchy=draw(st.booleans()))
    return Instance(arch, net)


@settings(max_examples=80, deadline=None)
@given(inst=instances(), granularity=st.sampled_from(["slot", "crossbar"]),
       overlap=st.booleans(), prefetch=st.booleans(),
       priority=st.sampled_from(["layer", "position"]))
def test_list_schedules_always_verify(inst: Instance, granularity: str, overlap: bool,
                                      prefetch: bool, priority: str) -> None:
    if inst.n_nonzero == 0:
        return
    sched = list_schedule(inst, naive_mapping(inst), granularity=granularity, overlap=overlap,
                          prefetch=prefetch, priority=priority)
    report = verify(inst, sched, functional_samples=None)
    assert report.ok, report.first()
    assert report.metrics["makespan_ns"] * 1000 == sched.makespan_ps()
    if not overlap:
        # no programming anywhere while anything computes
        assert report.metrics["programming_exposed_ns"] == report.metrics["programming_busy_ns"]


def test_overlap_hides_programming_behind_compute() -> None:
    net = random_network(2, n_layers=3, max_inputs=40, max_k=16)
    inst = Instance(small_arch(crossbars=3), net)
    m = naive_mapping(inst)
    apart = verify(inst, list_schedule(inst, m, overlap=False))
    together = verify(inst, list_schedule(inst, m, overlap=True))
    assert apart.ok and together.ok
    assert together.metrics["makespan_ns"] <= apart.metrics["makespan_ns"]
    assert together.metrics["programming_exposed_ns"] < apart.metrics["programming_exposed_ns"]


def test_crossbar_granularity_shares_wide_write_passes() -> None:
    w = np.full((8, 4), 7)  # dense: every slot row band gets writes
    net = Network("d", (Layer("a", w),), weight_bits=4)
    inst = Instance(small_arch(write_width=8, crossbars=1), net)
    m = naive_mapping(inst)
    per_slot = verify(inst, list_schedule(inst, m, granularity="slot"))
    whole = verify(inst, list_schedule(inst, m, granularity="crossbar"))
    assert per_slot.ok and whole.ok
    assert whole.metrics["write_passes"] < per_slot.metrics["write_passes"]
    assert whole.metrics["program_ops"] < per_slot.metrics["program_ops"]


def test_unchanged_pattern_needs_no_program_operation() -> None:
    w = np.full((8, 1), 3)  # two identical blocks
    inst = Instance(small_arch(crossbars=1), Network("s", (Layer("a", w),), weight_bits=4))
    blocks = inst.nonzero_blocks
    m = Mapping(blocks, np.zeros(2, int), np.zeros(2, int), np.arange(2))
    sched = list_schedule(inst, m)
    assert sched.n_program == 1 and sched.n_compute == 2
    assert verify(inst, sched, functional_samples=None).ok


def test_bad_granularity() -> None:
    inst = Instance(small_arch(), random_network(0))
    with pytest.raises(ValueError, match="granularity"):
        list_schedule(inst, naive_mapping(inst), granularity="row")


def test_write_budget_fills_earlier_gaps() -> None:
    """At most one crossbar programs at once; an operation placed later in priority
    order but earlier in time uses the free stretch (append-only channels made it wait
    behind the latest operation)."""
    import numpy as np

    from pimopt.scheduling.list_scheduler import _WriteBudget

    b = _WriteBudget(1, np.array([0, 0, 1, 1]), crossbars=2)
    ends = [0, 0]
    assert b.place(0, 0, 10, ends) == 0
    assert b.place(1, 0, 10, ends) == 10  # budget taken until 10
    assert b.place(0, 50, 10, ends) == 50
    assert b.place(1, 20, 10, ends) == 20  # the gap [20, 50) is free
    full = _WriteBudget(2, np.array([0, 1]), crossbars=2)
    assert not full.active and full.place(1, 7, 3, ends) == 7  # cannot bind: not tracked


def test_prefetch_fills_idle_crossbar_time_and_stays_valid() -> None:
    """``prefetch``: a later layer's write goes into idle time of its crossbar before
    operations already placed; the schedule verifies, never breaks a resource, and on
    pb-few-xb-4 (naive mapping) it is shorter than the append-only one."""
    from pathlib import Path

    from pimopt import load_instance

    pb = Path(__file__).resolve().parents[1] / "instances" / "tiny-pb"
    inst = load_instance(pb / "pb-few-xb-4.json", pb / "pb-few-xb-4.toml")
    m = naive_mapping(inst)
    plain, pre = list_schedule(inst, m), list_schedule(inst, m, prefetch=True)
    assert verify(inst, pre).ok
    assert pre.makespan_ps() < plain.makespan_ps()



def test_layer_priority_writes_every_slots_first_load_of_a_layer_first() -> None:
    """Slot 0 enters layer b at position 1 (it held a's block), slots 1-3 at 0. By
    position, slot 0's write waits for the crossbar's computes of slots 1-3 and its
    compute runs alone afterwards; by rank all four are written, then computed at once."""
    rng = np.random.default_rng(0)
    wa = rng.integers(1, 8, size=(4, 1))
    wb = rng.integers(1, 8, size=(4, 4))
    net = Network("enter", (Layer("a", wa, n_inputs=3), Layer("b", wb, n_inputs=20)),
                  weight_bits=4)
    inst = Instance(small_arch(crossbars=1, ous_per_crossbar=4), net)
    assert inst.n_nonzero == 5
    m = Mapping(block=np.arange(5), crossbar=np.zeros(5, np.int64),
                slot=np.array([0, 0, 1, 2, 3]), position=np.array([0, 1, 0, 0, 0]))
    by_rank = list_schedule(inst, m, priority="layer")
    by_position = list_schedule(inst, m, priority="position")
    for sched in (by_rank, by_position):
        assert verify(inst, sched).ok
    compute_b = 20 * inst.arch.compute_ps(1)
    # the same four serial writes either way; by position one more round of b's compute
    assert by_position.makespan_ps() - by_rank.makespan_ps() == compute_b
    assert by_rank.meta["scheduler"]["priority"] == "layer"


def test_bad_priority() -> None:
    inst = Instance(small_arch(), random_network(0))
    with pytest.raises(InputError, match="priority"):
        list_schedule(inst, naive_mapping(inst), priority="random")
