"""Joint mapping and scheduling: verified, never worse than the two-stage hint."""

from __future__ import annotations

from pathlib import Path

import pytest

from pimopt import InputError, load_instance, solve, verify

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["tiny-fc2", "tiny-mlp3"])
def test_joint_is_verified_and_never_worse_than_two_stage(name: str) -> None:
    inst = load_instance(ROOT / "instances" / "tiny" / f"{name}.json",
                         ROOT / "instances" / "tiny" / "arch.toml")
    res = solve(inst, "cpsat", objective="makespan", scheduler="joint",
                decomposition="whole", time_limit=6)
    j = res.info["joint"]
    assert verify(inst, res.schedule, functional_samples=None).ok
    assert j["hint_complete_feasible"]
    assert res.objective * 1000 == j["makespan_ps"] <= j["two_stage_makespan_ps"]
    assert j["bound_ps"] <= j["makespan_ps"]
    assert 0 <= j["two_stage_loss"] < 1
    # the two-stage reference is what the CP-SAT scheduler gives for the same mapping
    two = solve(inst, "cpsat", objective="makespan", scheduler="cpsat",
                decomposition="whole", time_limit=2)
    assert two.objective * 1000 >= j["makespan_ps"]


def test_joint_refuses_large_instances_and_crossbar_granularity() -> None:
    inst = load_instance(None, "default")
    with pytest.raises(InputError, match="joint model would have"):
        solve(inst, "sorted", objective="makespan", scheduler="joint", time_limit=3)
    with pytest.raises(InputError, match="granularity 'slot'"):
        solve(inst, "sorted", scheduler="joint", granularity="crossbar")


def test_joint_proves_the_serial_optimum_found_by_exhaustive_search() -> None:
    """One crossbar, whole-crossbar blocking, one OU: every operation is serial, so the
    optimal makespan is the least total programming over all mappings (no per-layer
    round limit) plus all compute; exhaustive search gives that least total."""
    from tests.exhaustive import serial_optimum

    inst = load_instance(ROOT / "instances" / "tiny" / "tiny-mlp3.json",
                         ROOT / "instances" / "tiny" / "arch.toml")
    least, compute = serial_optimum(inst)
    res = solve(inst, "cpsat", objective="makespan", scheduler="joint", decomposition="whole",
                time_limit=20)
    j = res.info["joint"]
    assert j["status"] == "optimal" and j["bound_ps"] == j["makespan_ps"]
    assert j["makespan_ps"] == least + compute
    assert verify(inst, res.schedule, functional_samples=None).ok
