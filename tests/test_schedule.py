"""Schedule and mapping files: every format round-trips exactly; bad files are named."""

from __future__ import annotations

import gzip
import io
import re
from pathlib import Path

import numpy as np
import pytest

from pimopt import InputError, Instance, Mapping, Schedule, solve, verify
from pimopt.schedule import COMPUTE_FIELDS, PROGRAM_FIELDS, WRITE_FIELDS
from tests.conftest import random_network, small_arch


@pytest.fixture(scope="module")
def solved() -> tuple[Instance, Mapping, Schedule]:
    inst = Instance(small_arch(), random_network(4, sparsity=0.2))
    res = solve(inst, "granular", objective="makespan", split=True, time_limit=5)
    return inst, res.mapping, res.schedule


def _same(a: Schedule, b: Schedule) -> None:
    for f in (*PROGRAM_FIELDS, *WRITE_FIELDS, *COMPUTE_FIELDS, "write_levels"):
        assert np.array_equal(getattr(a, f), getattr(b, f)), f
    assert a.method == b.method and a.meta == b.meta


@pytest.mark.parametrize("name", ["s.json", "s.json.gz", "s.npz", "S.NPZ"])
def test_schedule_round_trips_in_every_format(tmp_path: Path, name: str,
                                              solved: tuple[Instance, Mapping, Schedule]
                                              ) -> None:
    inst, _, sched = solved
    sched.save(tmp_path / name)
    back = Schedule.load(tmp_path / name)
    _same(sched, back)
    assert verify(inst, back).ok


def test_compressed_formats_are_much_smaller_on_a_real_network() -> None:
    from pimopt import load_instance

    sched = solve(load_instance(), "naive", time_limit=10).schedule  # LeNet-5, 5,538 blocks
    plain = len(sched.to_bytes("json"))
    assert len(sched.to_bytes("npz")) < plain / 5
    assert len(sched.to_bytes("json.gz")) < plain / 3


@pytest.mark.parametrize("name", ["m.csv", "m.csv.gz", "m.npz"])
def test_mapping_round_trips_in_every_format(tmp_path: Path, name: str,
                                             solved: tuple[Instance, Mapping, Schedule]
                                             ) -> None:
    inst, mapping, _ = solved
    mapping.save(tmp_path / name, inst)
    back = Mapping.load(tmp_path / name)
    first, last = mapping.ranges(inst)
    order_a = np.lexsort((first, mapping.block, mapping.position, mapping.slot,
                          mapping.crossbar))
    b_first, b_last = back.ranges(inst)
    order_b = np.lexsort((b_first, back.block, back.position, back.slot, back.crossbar))
    for x, y in ((mapping.block, back.block), (mapping.slot, back.slot),
                 (mapping.crossbar, back.crossbar), (mapping.position, back.position),
                 (first, b_first), (last, b_last)):
        assert np.array_equal(x[order_a], y[order_b])


def test_bad_files_name_the_file_and_the_problem(tmp_path: Path,
                                                 solved: tuple[Instance, Mapping, Schedule]
                                                 ) -> None:
    _, _, sched = solved
    cases = {
        "a.npz": b"not a zip archive",
        "b.json.gz": b"not gzip",
        "c.json.gz": gzip.compress(b"{not json"),
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(InputError, match=re.escape(name)):
            Schedule.load(tmp_path / name)
    with pytest.raises(InputError, match="must end with"):
        Schedule.load(tmp_path / "schedule.txt")
    with pytest.raises(InputError, match="does not exist"):
        Schedule.load(tmp_path / "missing.npz")
    # an archive without one of the arrays, or with floats where integers belong
    raw = dict(np.load(io.BytesIO(sched.to_bytes("npz"))))
    np.savez(tmp_path / "d.npz", **{k: v for k, v in raw.items() if k != "comp_end"})
    with pytest.raises(InputError, match="comp_end"):
        Schedule.load(tmp_path / "d.npz")
    np.savez(tmp_path / "e.npz", **dict(raw, prog_start=raw["prog_start"].astype(float)))
    with pytest.raises(InputError, match="prog_start"):
        Schedule.load(tmp_path / "e.npz")
    (tmp_path / "m.npz").write_bytes(b"junk")
    with pytest.raises(InputError, match=r"m\.npz"):
        Mapping.load(tmp_path / "m.npz")


def _tampered(sched: Schedule, edit: object) -> dict:
    import copy

    d = copy.deepcopy(sched.to_json())
    edit(d)  # type: ignore[operator]
    return d


BAD_FILES = [  # (what, edit, message): each is refused by name before any replay
    ("version 99", lambda d: d.__setitem__("version", 99), "version = 99"),
    ("float time", lambda d: d["program"][0].__setitem__("end", 1.5), "must be an integer"),
    ("bool time", lambda d: d["compute"][0].__setitem__("start", True), "must be an integer"),
    ("time near 2^62", lambda d: d["program"][0].__setitem__("start", 2**62), "outside"),
    ("negative slot", lambda d: d["compute"][0].__setitem__("slot", -1), "outside"),
    ("level ':'", lambda d: d["program"][0]["writes"][0].__setitem__(
        "levels", ":" + d["program"][0]["writes"][0]["levels"][1:]), "hexadecimal"),
    ("huge levels_shape", lambda d: d.__setitem__("levels_shape", [10**6, 10**6]), "outside"),
    ("negative levels_shape", lambda d: d.__setitem__("levels_shape", [-1, 4]),
     r"levels_shape\[0\] = -1"),
    ("compute not a list", lambda d: d.__setitem__("compute", 5), "must be lists"),
    ("write without levels", lambda d: d["program"][0]["writes"][0].pop("levels"), "malformed"),
]


@pytest.mark.parametrize("what,edit,message", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_malformed_schedules_are_refused_with_a_reason(
        what: str, edit: object, message: str,
        solved: tuple[Instance, Mapping, Schedule]) -> None:
    _, _, sched = solved
    with pytest.raises(InputError, match=message):
        Schedule.from_json(_tampered(sched, edit))


def test_empty_compute_list_and_mislabelled_write_are_violations_not_crashes(
        solved: tuple[Instance, Mapping, Schedule]) -> None:
    inst, _, sched = solved
    rep = verify(inst, Schedule.from_json(_tampered(sched, lambda d: d.__setitem__(
        "compute", []))))
    assert not rep.ok and rep.first().startswith("coverage")
    other = next(b for b in inst.nonzero_blocks.tolist()
                 if not np.array_equal(inst.patterns[b], sched.write_levels[0]))
    bad = _tampered(sched, lambda d: d["program"][0]["writes"][0].__setitem__("block", other))
    rep = verify(inst, Schedule.from_json(bad))
    assert not rep.ok and any(v.check == "label" for v in rep.violations)
