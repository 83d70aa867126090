"""scripts/bench_makespan.py: method suffixes and the acceptance count of its table."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_makespan.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_makespan", SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_method_suffixes_become_solve_options() -> None:
    b = _script()
    assert b.method_options("balanced") == ("balanced", {})
    assert b.method_options("balanced+cpsat") == ("balanced", {"scheduler": "cpsat"})
    assert b.method_options("ls+split+cpsat") == ("ls", {"split": True, "scheduler": "cpsat"})
    with pytest.raises(SystemExit, match="unknown suffix 'joint'"):
        b.method_options("balanced+joint")
    # CP-SAT re-timing only where its model of every operation stays small
    assert b._runs_on("lenet5", "balanced+cpsat")
    assert not b._runs_on("resnet50-imagenet", "balanced+cpsat")
    assert b._runs_on("resnet50-imagenet", "balanced")


def _rec(method: str, makespan: float, bound: float = 90.0) -> dict[str, Any]:
    return {"instance": "lenet5", "preset": "wv-mlc", "method": method, "nonzero_blocks": 5,
            "makespan_ns": makespan, "programming_ns": 1.0, "programming_exposed_share": 0.0,
            "bound_ns": bound, "gap": (makespan - bound) / makespan, "wall_s": 1.0,
            "cpu_s": 1.0, "time_limit_s": 10.0, "peak_rss_mb": 1.0, "status": "feasible",
            "verified": True}


def test_the_best_makespan_aware_method_counts() -> None:
    b = _script()
    recs = [_rec("naive", 200.0), _rec("sorted", 190.0), _rec("balanced", 110.0)]
    _, _, lines = b.table(recs)
    assert "within 10% of the makespan bound: 0 of 1 cases" in "\n".join(lines)
    _, _, lines = b.table([*recs, _rec("balanced+cpsat", 99.0)])  # 9.1% above the bound
    assert "within 10% of the makespan bound: 1 of 1 cases" in "\n".join(lines)
    _, _, lines = b.table([*recs[:2], _rec("balanced", 195.0)])
    assert "on every case: no" in "\n".join(lines)
