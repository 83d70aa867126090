"""`pimopt verify DIR`: every field of a solve's output folder that the files determine
is recomputed, and an edit of any of them is refused (issue 25)."""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pimopt.cli import main

NET = "pimopt:tiny-pb/pb-budget-0"
ARCH = "pimopt:tiny-pb/pb-budget-0.toml"


@pytest.fixture(scope="module")
def solved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A balanced solve of a programming-bound instance (slots re-programmed)."""
    out = tmp_path_factory.mktemp("solve") / "out"
    assert main(["solve", NET, "--arch", ARCH, "--method", "balanced", "--time-limit", "3",
                 "--out", str(out)]) == 0
    return out


def _verify(folder: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    capsys.readouterr()
    rc = main(["verify", NET, str(folder), "--arch", ARCH, *extra])
    return rc, capsys.readouterr().out


def test_an_untouched_folder_verifies_and_says_what_is_not_recomputed(
        solved: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out = _verify(solved, capsys)
    assert rc == 0, out
    assert "mapping.csv, metrics.json agree with the schedule" in out
    assert "checked as 0 <= bound <= makespan only" in out
    rc, out = _verify(solved, capsys, "--check-bound", "5")
    assert rc == 0, out
    assert "recomputed" in out and "(complete)" in out


def _set(path: tuple[str, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(m: dict[str, Any]) -> None:
        for k in path[:-1]:
            m = m[k]
        m[path[-1]] = value
    return edit


def _scale(path: tuple[str, ...], factor: float) -> Callable[[dict[str, Any]], None]:
    def edit(m: dict[str, Any]) -> None:
        for k in path[:-1]:
            m = m[k]
        m[path[-1]] = m[path[-1]] * factor
    return edit


def _drop(path: tuple[str, ...]) -> Callable[[dict[str, Any]], None]:
    def edit(m: dict[str, Any]) -> None:
        for k in path[:-1]:
            m = m[k]
        del m[path[-1]]
    return edit


METRICS_EDITS: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("objective", _scale(("objective",), 0.99), "objective = "),
    ("bound above objective", _scale(("bound",), 10.0), "exceeds the objective"),
    ("bound NaN", _set(("bound",), float("nan")), "not a finite number"),
    ("bound negative", _set(("bound",), -1.0), "not a finite number"),
    ("gap", _set(("gap",), 0.0), "gap = "),
    ("status optimal", _set(("status",), "optimal"), "status 'optimal' with bound"),
    ("status timeout", _set(("status",), "timeout"), "status 'timeout'"),
    ("verified flag", _set(("verification", "verified"), False), "verification is"),
    ("objective unit", _set(("objective_unit",), "cells"), "objective_unit is 'cells'"),
    ("objective name", _set(("objective_name",), "latency"), "objective_name 'latency'"),
    ("makespan bound", _scale(("metrics", "makespan_bound_ns"), 0.5), "makespan_gap"),
    ("makespan gap", _set(("metrics", "makespan_gap"), 0.0), "makespan_gap = 0.0"),
    ("metrics block", _drop(("metrics",)), "'metrics' is missing"),
    ("one metric", _drop(("metrics", "energy_pj")), "metrics.energy_pj is missing"),
    ("a metric", _scale(("metrics", "cell_writes"), 2), "metrics.cell_writes = "),
    ("objectives", _scale(("objectives", "programming_ps"), 2), "objectives.programming_ps"),
    ("blocks", _scale(("blocks", "slot_writes"), 2), "blocks.slot_writes"),
    ("network hash", _set(("instance", "network_sha256"), "0" * 64), "network_sha256"),
    ("architecture", _set(("architecture", "t_set"), 1.0), "architecture differs"),
    ("method", _set(("method",), "naive"), "the schedule was made by 'balanced'"),
]


@pytest.mark.parametrize(("edit", "expect"), [(e, x) for _, e, x in METRICS_EDITS],
                         ids=[n for n, _, _ in METRICS_EDITS])
def test_an_edited_metrics_field_is_refused(
        solved: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        edit: Callable[[dict[str, Any]], None], expect: str) -> None:
    folder = tmp_path / "out"
    shutil.copytree(solved, folder)
    metrics = json.loads((folder / "metrics.json").read_text())
    edit(metrics)
    (folder / "metrics.json").write_text(json.dumps(metrics))
    rc, out = _verify(folder, capsys)
    assert rc == 1, out
    assert expect in out, out


def _rows(folder: Path) -> list[dict[str, str]]:
    with (folder / "mapping.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def _write_rows(folder: Path, rows: list[dict[str, str]]) -> None:
    with (folder / "mapping.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def _swap_positions(rows: list[dict[str, str]]) -> None:
    """Swap the first two positions of a slot that holds two loads of different blocks."""
    slots: dict[tuple[str, str], list[dict[str, str]]] = {}
    for r in rows:
        slots.setdefault((r["crossbar"], r["slot"]), []).append(r)
    for group in slots.values():
        pos = sorted({r["position"] for r in group}, key=int)
        if len(pos) >= 2:
            swap = {pos[0]: pos[1], pos[1]: pos[0]}
            for r in group:
                r["position"] = swap.get(r["position"], r["position"])
            return
    raise AssertionError("no slot is re-programmed: the fixture must re-program")


MAPPING_EDITS: list[tuple[str, Callable[[list[dict[str, str]]], None], str]] = [
    ("layer", lambda rows: rows[0].update(layer="no-such-layer"), "layer = 'no-such-layer'"),
    ("row tile", lambda rows: rows[0].update(row_tile=str(int(rows[0]["row_tile"]) + 1)),
     "row_tile"),
    ("col tile", lambda rows: rows[0].update(col_tile=str(int(rows[0]["col_tile"]) + 1)),
     "col_tile"),
    ("positions swapped", _swap_positions, "follows position"),
]


@pytest.mark.parametrize(("edit", "expect"), [(e, x) for _, e, x in MAPPING_EDITS],
                         ids=[n for n, _, _ in MAPPING_EDITS])
def test_an_edited_mapping_column_is_refused(
        solved: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        edit: Callable[[list[dict[str, str]]], None], expect: str) -> None:
    folder = tmp_path / "out"
    shutil.copytree(solved, folder)
    rows = _rows(folder)
    edit(rows)
    _write_rows(folder, rows)
    rc, out = _verify(folder, capsys)
    assert rc == 1, out
    assert expect in out, out


@pytest.mark.parametrize("options", [
    ("--method", "naive"), ("--method", "sorted", "--format", "gz"),
    ("--method", "balanced", "--split"), ("--method", "balanced", "--layout", "similarity"),
    ("--method", "greedy", "--objective", "programming", "--format", "npz"),
], ids=["naive", "sorted-gz", "split", "layout", "programming-npz"])
def test_every_kind_of_solve_folder_verifies(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], options: tuple[str, ...]) -> None:
    """No false refusal: the position and metrics checks hold for what solve writes."""
    out = tmp_path / "out"
    assert main(["solve", NET, "--arch", ARCH, "--time-limit", "2", "--out", str(out),
                 *options]) == 0
    rc, text = _verify(out, capsys)
    assert rc == 0, text
    assert "agree with the schedule" in text
