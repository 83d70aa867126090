"""The verifier accepts correct schedules and names each injected fault."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pimopt import Instance, Schedule, verify
from pimopt.methods.baselines import naive_mapping
from pimopt.schedule import COMPUTE_FIELDS
from pimopt.scheduling.list_scheduler import list_schedule
from tests.conftest import random_network, small_arch


@pytest.fixture
def case() -> tuple[Instance, Schedule]:
    arch = small_arch(crossbars=2, max_programming_crossbars=1)
    net = random_network(21, n_layers=3, sparsity=0.1, max_k=12, max_n=4, max_inputs=4)
    inst = Instance(arch, net)
    sched = list_schedule(inst, naive_mapping(inst))
    assert sched.n_program > 8 and len(set(sched.prog_crossbar.tolist())) == 2
    report = verify(inst, sched, functional_samples=None)
    assert report.ok, report.first()
    return inst, sched


def checks(inst: Instance, sched: Schedule) -> list[tuple[str, str]]:
    rep = verify(inst, sched, functional_samples=None)
    assert not rep.ok
    return [(v.check, v.message) for v in rep.violations]


def has(found: list[tuple[str, str]], check: str, fragment: str) -> bool:
    return any(c == check and fragment in m for c, m in found)


def test_dropped_compute(case: tuple[Instance, Schedule]) -> None:
    inst, s = case
    bad = s.copy()
    keep = np.arange(s.n_compute) != 3
    for f in COMPUTE_FIELDS:
        setattr(bad, f, getattr(bad, f)[keep])
    found = checks(inst, bad)
    assert has(found, "coverage", f"block {s.comp_block[3]}")
    assert has(found, "coverage", "never computed (a dropped compute)")


def test_duplicated_compute(case: tuple[Instance, Schedule]) -> None:
    inst, s = case
    bad = s.copy()
    for f in COMPUTE_FIELDS:
        a = getattr(bad, f)
        setattr(bad, f, np.r_[a, a[2]])
    assert has(checks(inst, bad), "coverage", "computed twice (a duplicated compute")


def test_compute_on_slot_holding_another_pattern(case: tuple[Instance, Schedule]) -> None:
    inst, s = case
    bad = s.copy()
    i = 0
    bad.comp_slot[i] = (s.comp_slot[i] + 1) % inst.arch.slots_per_crossbar
    found = checks(inst, bad)
    assert has(found, "state", f"compute #{i}")
    assert has(found, "state", "finds another pattern in its slot")


def test_program_shortened_by_one_ns(case: tuple[Instance, Schedule]) -> None:
    inst, s = case
    bad = s.copy()
    bad.prog_end[5] -= 1000
    found = checks(inst, bad)
    assert ("cost", f"program #5 on crossbar {s.prog_crossbar[5]} lasts "
            f"{s.prog_end[5] - s.prog_start[5] - 1000} ps, the latency model gives "
            f"{s.prog_end[5] - s.prog_start[5]} ps") in [(c, m.split(" (")[0]) for c, m in found]


def test_overlapping_operations_on_one_crossbar(case: tuple[Instance, Schedule]) -> None:
    inst, s = case
    bad = s.copy()
    on0 = np.flatnonzero(s.prog_crossbar == 0)
    a, b = on0[0], on0[1]
    dur = s.prog_end[b] - s.prog_start[b]
    bad.prog_start[b] = s.prog_start[a]
    bad.prog_end[b] = s.prog_start[a] + dur
    assert has(checks(inst, bad), "resources", "overlap on crossbar 0")


def test_too_many_crossbars_programming(case: tuple[Instance, Schedule]) -> None:
    inst, s = case
    bad = s.copy()
    a = np.flatnonzero(s.prog_crossbar == 0)[0]
    b = np.flatnonzero(s.prog_crossbar == 1)[0]
    dur = s.prog_end[b] - s.prog_start[b]
    bad.prog_start[b] = s.prog_start[a]
    bad.prog_end[b] = s.prog_start[a] + dur
    assert has(checks(inst, bad), "resources",
               "2 crossbars program at once at t = 0 ps; max_programming_crossbars = 1")


def test_layer_computed_before_its_dependency(case: tuple[Instance, Schedule]) -> None:
    inst, s = case
    bad = s.copy()
    layer = inst.block_layer[s.comp_block]
    i = int(np.flatnonzero(layer == 2)[0])
    dur = s.comp_end[i] - s.comp_start[i]
    bad.comp_start[i] = int(s.comp_end[layer == 1].max()) - 1
    bad.comp_end[i] = bad.comp_start[i] + dur
    found = checks(inst, bad)
    assert has(found, "dependencies", f"compute #{i}")
    assert has(found, "dependencies", "starts before layer l1 (which layer l2 depends on)")


def test_flipped_cell_level(case: tuple[Instance, Schedule]) -> None:
    inst, s = case
    bad = s.copy()
    w = 4
    bad.write_levels[w, 1, 2] ^= 1
    found = checks(inst, bad)
    assert has(found, "state", "cell (1,2) holds level")
    assert any(c == "function" for c, _ in found)  # the crossbars now compute a wrong product


def test_functional_check_alone_catches_a_wrong_pattern(case: tuple[Instance, Schedule]) -> None:
    """Corrupt the instance's patterns the schedule was checked against: function still fails."""
    inst, s = case
    other = Instance(inst.arch, inst.network)
    pats = other.patterns.copy()
    blk = int(s.comp_block[0])
    pats[blk, 0, 0] = (pats[blk, 0, 0] + 1) % inst.arch.levels
    other.__dict__["patterns"] = pats  # override the cached patterns
    bad = s.copy()
    bad.write_levels[bad.write_block == blk] = pats[blk]
    found = checks(other, bad)
    assert [c for c, _ in found] == ["function"]
    assert "X @ W" in found[0][1]


def test_format_errors_stop_early(case: tuple[Instance, Schedule]) -> None:
    inst, s = case
    bad = s.copy()
    bad.comp_crossbar[0] = 7
    found = checks(inst, bad)
    assert found[0][0] == "format" and "crossbar 7" in found[0][1]


def test_schedule_json_round_trip(case: tuple[Instance, Schedule], tmp_path: Path) -> None:
    inst, s = case
    s.save(tmp_path / "schedule.json")
    back = Schedule.load(tmp_path / "schedule.json")
    for f in ("prog_crossbar", "prog_start", "prog_end", "write_slot", "write_block",
              "write_levels", "comp_block", "comp_first", "comp_last", "comp_start",
              "comp_end"):
        assert np.array_equal(getattr(s, f), getattr(back, f)), f
    assert back.architecture() == inst.arch
    assert verify(inst, back, functional_samples=None).ok


def test_metrics_are_recomputed(case: tuple[Instance, Schedule]) -> None:
    inst, s = case
    m = verify(inst, s).metrics
    assert m["makespan_ns"] == s.makespan_ps() / 1000
    assert m["programming_ns"] == (s.prog_end - s.prog_start).sum() / 1000
    assert 0 <= m["programming_exposed_ns"] <= m["programming_busy_ns"] <= m["programming_ns"]
    assert m["cell_writes"] > 0 and m["energy_pj"] > 0
    assert 0 < m["crossbar_utilisation"] <= 1


def test_compute_during_programming_is_caught_behind_a_zero_length_operation(
        case: tuple[Instance, Schedule]) -> None:
    """A compute moved inside a program operation of its crossbar, with a zero-length
    operation (rewriting a pattern the slot already holds) inserted inside the compute:
    the check used to compare the compute only with that latest-starting operation."""
    inst, s = case
    bad = s.copy()
    q = int(np.flatnonzero(s.prog_crossbar == 0)[-1])  # a program operation on crossbar 0
    i = int(np.flatnonzero(s.comp_crossbar == 0)[0])
    dur = int(s.comp_end[i] - s.comp_start[i])
    t = int(s.prog_start[q]) + 1
    bad.comp_start[i], bad.comp_end[i] = t, t + max(dur, 4)
    w = int(np.flatnonzero(s.write_op == q)[0])  # q's first write, done again at no cost
    at = int(q_end := s.prog_end[q])
    bad.prog_crossbar = np.r_[bad.prog_crossbar, 0]
    bad.prog_start = np.r_[bad.prog_start, min(at, t + 1)]
    bad.prog_end = np.r_[bad.prog_end, min(at, t + 1)]
    bad.write_op = np.r_[bad.write_op, s.n_program]
    bad.write_slot = np.r_[bad.write_slot, s.write_slot[w]]
    bad.write_block = np.r_[bad.write_block, s.write_block[w]]
    bad.write_levels = np.concatenate([bad.write_levels, s.write_levels[w:w + 1]])
    assert q_end > t
    assert has(checks(inst, bad), "resources", "writes its crossbar")


@pytest.mark.parametrize("max_messages", [0, -1, True, 1.5, "3"])
def test_message_cap_never_changes_the_verdict(case: tuple[Instance, Schedule],
                                               max_messages: object) -> None:
    """A cap below one once made every schedule pass: it is refused, and a cap of one
    still fails a broken schedule."""
    from pimopt.errors import InputError

    inst, s = case
    bad = s.copy()
    bad.prog_end[0] -= 1000
    with pytest.raises(InputError, match="max_messages"):
        verify(inst, bad, max_messages=max_messages)  # type: ignore[arg-type]
    rep = verify(inst, bad, max_messages=1)
    assert not rep.ok and all(n <= 1 for n in
                              [sum(v.check == c for v in rep.violations)
                               for c in {v.check for v in rep.violations}])


@pytest.mark.parametrize("args", [
    {"inst": None}, {"sched": None}, {"seed": -1}, {"seed": "x"}, {"seed": True}])
def test_verify_names_a_bad_argument(case: tuple[Instance, Schedule],
                                     args: dict[str, object]) -> None:
    from pimopt.errors import InputError

    inst, s = case
    kw: dict[str, object] = {"inst": inst, "sched": s, "seed": 0, **args}
    name = next(iter(args))
    with pytest.raises(InputError, match=name):
        verify(kw["inst"], kw["sched"], seed=kw["seed"])  # type: ignore[arg-type]


def test_levels_above_a_byte_are_refused_not_wrapped(
        case: tuple[Instance, Schedule], tmp_path: Path) -> None:
    """uint16 levels 256-259 on 2-bit cells were cast to 0-3 on load and verified."""
    from pimopt.errors import InputError

    inst, s = case
    wide = s.write_levels.astype(np.uint16) + 256
    kw = {f: getattr(s, f) for f in s.__dataclass_fields__ if isinstance(getattr(s, f),
                                                                       np.ndarray)}
    with pytest.raises(InputError, match="write_levels"):
        Schedule(**{**kw, "write_levels": wide})
    with pytest.raises(InputError, match="write_levels"):
        Schedule(**{**kw, "write_levels": s.write_levels.astype(np.int16) - 1})
    path = tmp_path / "s.npz"
    s.save(path)
    arrays = dict(np.load(path, allow_pickle=False))
    arrays["write_levels"] = wide
    np.savez(path, **arrays)
    with pytest.raises(InputError, match="write_levels"):
        Schedule.load(path)
    # levels that fit a byte but not the cells: the verifier's format check names them
    arrays["write_levels"] = (s.write_levels.astype(np.uint16) + 4).astype(np.uint8)
    np.savez(path, **arrays)
    rep = verify(inst, Schedule.load(path))
    assert not rep.ok and rep.violations[0].check == "format"


@pytest.mark.parametrize("field, value, ok", [
    ("prog_start", 0.5, False), ("comp_end", float("nan"), False),
    ("prog_end", np.uint64(2**63), False), ("comp_start", True, False),
    ("prog_start", 0.0, True)])
def test_times_are_integers_never_truncated(case: tuple[Instance, Schedule], field: str,
                                            value: object, ok: bool) -> None:
    from pimopt.errors import InputError

    _, s = case
    kw = {f: getattr(s, f) for f in s.__dataclass_fields__ if isinstance(getattr(s, f),
                                                                       np.ndarray)}
    arr = getattr(s, field)
    if isinstance(value, np.unsignedinteger):
        new = arr.astype(np.uint64)
    elif isinstance(value, bool):
        new = arr.astype(bool)
    else:
        new = arr.astype(np.float64)
    new[0] = value
    if ok:
        assert Schedule(**{**kw, field: new}).prog_start[0] == 0
    else:
        with pytest.raises(InputError, match=field):
            Schedule(**{**kw, field: new})


def test_a_schedule_shifted_to_the_format_limit_verifies_exactly(
        case: tuple[Instance, Schedule]) -> None:
    """Shifted by 2**54 ps (the files allow 2**55) a valid schedule was rejected with
    false state and function violations: the replay's keys overflowed int64."""
    inst, s = case
    # crossbar 1 becomes crossbar 1023 of a larger chip: slot keys up to 4,095 * 2**54
    chip = Instance(small_arch(crossbars=1024, max_programming_crossbars=1), inst.network)
    shift = 1 << 54
    moved = s.copy()
    moved.prog_crossbar[moved.prog_crossbar == 1] = 1023
    moved.comp_crossbar[moved.comp_crossbar == 1] = 1023
    assert verify(chip, moved, functional_samples=None).ok
    for f in ("prog_start", "prog_end", "comp_start", "comp_end"):
        setattr(moved, f, getattr(moved, f) + shift)
    rep = verify(chip, moved, functional_samples=None)
    assert rep.ok, rep.first()
    assert rep.metrics["makespan_ns"] * 1000 == s.makespan_ps() + shift
    # and a fault there is still found
    moved.prog_end[0] -= 1000
    assert not verify(chip, moved).ok


def test_times_beyond_the_format_limit_are_refused_on_load(
        case: tuple[Instance, Schedule], tmp_path: Path) -> None:
    """An NPZ ending at 2**63 - 1 gave an OverflowError traceback."""
    from pimopt.architecture import MAX_TIME_PS
    from pimopt.errors import InputError

    _, s = case
    path = tmp_path / "s.npz"
    s.save(path)
    arrays = dict(np.load(path, allow_pickle=False))
    for value in (np.iinfo(np.int64).max, MAX_TIME_PS + 1, -MAX_TIME_PS - 1):
        arrays["comp_end"] = arrays["comp_end"].copy()
        arrays["comp_end"][-1] = value
        np.savez(path, **arrays)
        with pytest.raises(InputError, match="comp_end"):
            Schedule.load(path)
