"""Best-known files, reports with plots, and sweeps."""

from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path
from typing import Any

import matplotlib.image as mpimg
import numpy as np
import pytest

from pimopt.bench import load_records, load_suite, run_specs
from pimopt.bench.best import best_path, load_best, merge_best, problem_key, update_best
from pimopt.bench.report import write_report
from pimopt.bench.sweep import load_sweep
from pimopt.cli import main
from pimopt.errors import InputError, PimoptError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """naive, sorted and cpsat (whole-network, proven optimal) on a copy of the tiny suite."""
    base = tmp_path_factory.mktemp("suite")
    text = (ROOT / "instances" / "suites" / "tiny.toml").read_text()
    text = text.replace('"../tiny/', f'"{ROOT}/instances/tiny/')
    (base / "tiny.toml").write_text(text)
    out = base / "runs"
    suite = load_suite(base / "tiny.toml")
    suite.entries = [e for e in suite.entries if not e.name.endswith("-per-layer")]
    specs = suite.specs(["naive", "sorted", "cpsat"], [0, 1], 10.0)
    summary = run_specs(specs, out, jobs=2, progress=lambda s: None)
    assert summary.errors == 0
    return out


def test_best_known_file_takes_only_verified_improvements(tiny_runs: Path, tmp_path: Path
                                                          ) -> None:
    records = load_records(tiny_runs)
    suite_file = Path(records[0]["spec"]["suite_file"])
    path = best_path(suite_file)
    path.unlink(missing_ok=True)
    dry = update_best(records, dry_run=True)
    assert not path.exists() and len(dry[path]) == 6  # objective and bound of 3 instances
    update_best(records)
    entries = load_best(path)
    assert len(entries) == 3
    for e in entries.values():
        assert e["objective"]["method"] == "cpsat"  # the only method that reaches the optimum
        assert e["objective"]["value"] == e["bound"]["value"]  # proven
    # a second update with the same records changes nothing
    assert update_best(records)[path] == []
    # an unverified or failed record never enters
    fake = copy.deepcopy(next(r for r in records if r["method"] == "naive"))
    fake["objective"] = 1.0
    fake["verification"]["verified"] = False
    assert update_best([fake])[path] == []
    fake["verification"]["verified"] = True
    fake["status"] = "error"
    assert update_best([fake])[path] == []


def test_objective_below_bound_is_refused() -> None:
    rec: dict[str, Any] = {"run_id": "a", "method": "m", "seed": 0, "status": "feasible",
                           "objective": 100.0, "bound": 90.0, "objective_name": "programming",
                           "verification": {"verified": True},
                           "instance": {"name": "n", "sha256": "h"}, "spec": {}}
    entries: dict[str, Any] = {}
    merge_best(entries, [rec])
    other = dict(rec, run_id="b", objective=120.0, bound=110.0)
    with pytest.raises(PimoptError, match="below the bound"):
        merge_best(entries, [other])


def test_layout_runs_are_another_problem_and_give_no_bound() -> None:
    rec: dict[str, Any] = {"run_id": "a", "method": "m", "seed": 0, "status": "feasible",
                           "objective": 100.0, "bound": 90.0, "objective_name": "programming",
                           "verification": {"verified": True},
                           "instance": {"name": "n", "sha256": "h"}, "spec": {}}
    laid = dict(rec, run_id="b", objective=80.0, bound=70.0,
                spec={"options": {"layout": "auto"}})
    assert problem_key(laid) == problem_key(rec) + "|layout=auto"
    entries: dict[str, Any] = {}
    merge_best(entries, [rec, laid])  # 80 < 90 is no contradiction: other tiles
    e = entries[problem_key(laid)]
    assert e["objective"]["value"] == 80.0 and e["bound"] is None


def _check_png(path: Path) -> None:
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 300
    assert float(np.std(img[..., :3])) > 0.05  # not blank


def test_report_tables_and_plots(tiny_runs: Path, tmp_path: Path) -> None:
    import matplotlib

    before = matplotlib.get_backend()
    matplotlib.use("pdf")  # the caller's backend: the report never switches it
    try:
        report, plots = write_report(tiny_runs, tmp_path / "rep")
        assert matplotlib.get_backend() == "pdf"
    finally:
        matplotlib.use(before)
    text = report.read_text()
    assert "## Methods" in text and "| method | runs | solved | optimal |" in text
    assert "### tiny-fc2" in text and "gap to best-known" in text
    # every number a person reads has its unit, and none is in exponent notation
    assert "| objective (ns) | run bound (ns) |" in text
    assert re.search(r"best-known objective [\d,]+\.\d\d ns", text)
    assert not re.search(r"\d\.\d+e[+-]\d", text), "a number in exponent notation"
    # cpsat wins every (instance, seed) group and is proven optimal on each
    row = next(line for line in text.splitlines() if line.startswith("| cpsat |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1:4] == ["6", "6", "6"] and cells[6] == "6"
    naive_row = next(line for line in text.splitlines() if line.startswith("| naive |"))
    assert [c.strip() for c in naive_row.strip("|").split("|")][7] == "1"  # ratio vs itself
    names = {p.path.name for p in plots}
    assert names == {"gap.png", "breakdown.png", "runtime_quality.png"}
    for p in plots:
        _check_png(p.path)
        assert p.title and p.xlabel and p.ylabel and p.legend
        assert "(" in p.xlabel + p.ylabel  # a unit or a scale is named
        assert f"]({p.path.name})" in text


def test_report_without_records_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no run records"):
        write_report(tmp_path)
    assert main(["report", str(tmp_path)]) == 2


SWEEP = """
name = "t"
methods = ["naive", "sorted"]
seeds = [0]
time_limit = 5
objective = "makespan"
[network]
generate = "synthetic"
layers = "64x32:4,32x16:4"
seed = 2
[arch]
preset = "default"
rows = 64
cols = 64
[options]
functional_samples = 2
[grid]
crossbars = [1, 2]
input_scale = [1, 8]
"""


def test_sweep_expands_runs_and_reports_ablation(tmp_path: Path) -> None:
    cfg = tmp_path / "t.toml"
    cfg.write_text(SWEEP)
    sw = load_sweep(cfg)
    assert len(sw.points) == 4 and len(sw.specs) == 8
    assert {s.arch["crossbars"] for s in sw.specs} == {1, 2}
    assert all(s.arch["rows"] == 64 and s.arch["max_programming_crossbars"] is None
               for s in sw.specs)  # the write budget follows the crossbar count
    assert main(["sweep", str(cfg), "--out", str(tmp_path / "o"), "--jobs", "2"]) == 0
    recs = load_records(tmp_path / "o")
    assert len(recs) == 8 and all(r["verification"]["verified"] for r in recs)
    small = [r for r in recs if r["spec"]["params"]["input_scale"] == 1]
    large = [r for r in recs if r["spec"]["params"]["input_scale"] == 8]
    # more input vectors: programming is a smaller share of the inference
    assert max(r["metrics"]["programming_exposed_share"] for r in large) < \
        min(r["metrics"]["programming_exposed_share"] for r in small)
    report, plots = write_report(tmp_path / "o")
    assert "## Ablation" in report.read_text()
    abl = next(p for p in plots if p.path.name == "ablation.png")
    _check_png(abl.path)
    assert abl.title and "(" in abl.ylabel and abl.legend == ["naive", "sorted"]


@pytest.mark.parametrize("edit, match", [
    (("[grid]", "[grid]\ncolour = [1]"), "grid key 'colour' is unknown"),
    (("crossbars = [1, 2]", "ou_rows = [8, 24]"), "point ou_rows=24"),
    (("[arch]", "[arch]\nspeed = 3"), r"\[arch\] key\(s\) speed unknown"),
    (('generate = "synthetic"', 'generate = "magic"'), "generate = 'real' | 'synthetic'"),
    (('methods = ["naive", "sorted"]', 'methods = ["best"]'), "unknown method"),
    (("seeds = [0]", "seeds = [0.5]"), "'seeds' must be"),
])
def test_bad_sweeps_are_named(tmp_path: Path, edit: tuple[str, str], match: str) -> None:
    cfg = tmp_path / "t.toml"
    cfg.write_text(SWEEP.replace(*edit))
    with pytest.raises(InputError, match=match):
        load_sweep(cfg)


def test_bundled_sweep_and_suites_parse() -> None:
    sw = load_sweep(ROOT / "instances" / "sweeps" / "ablation.toml")
    assert len(sw.points) == 12
    keys = set(sw.points[0])
    assert keys == {"dataset", "crossbars", "max_programming_crossbars"}
    assert json.loads(json.dumps(sw.specs[0].to_dict()))["params"] == sw.points[0]


def test_best_command(tiny_runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
                      ) -> None:
    copy_dir = tmp_path / "runs"
    shutil.copytree(tiny_runs, copy_dir)
    assert main(["best", str(copy_dir), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "tiny.best.json" in out


def test_the_documented_sweep_example_is_valid(tmp_path: Path) -> None:
    """The complete example of instances/sweeps/README.md parses and expands."""
    from pimopt.bench.sweep import load_sweep

    root = Path(__file__).resolve().parents[1]
    text = (root / "instances" / "sweeps" / "README.md").read_text(encoding="utf-8")
    example = text.split("```toml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "s.toml").write_text(example, encoding="utf-8")
    sw = load_sweep(tmp_path / "s.toml")
    assert len(sw.points) == 12 and len(sw.specs) == 36
