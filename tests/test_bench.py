"""The benchmark runner: records, resuming after a kill, Dask, errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from pimopt.bench.runner import (
    FINISHED,
    RunSpec,
    Suite,
    load_records,
    load_suite,
    methods_arg,
    network_from_recipe,
    run_one,
    run_specs,
)
from pimopt.cli import main
from pimopt.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "instances" / "suites" / "tiny.toml"
DETERMINISTIC = ["naive", "sorted", "greedy", "assignment"]


def _tiny3() -> Suite:
    """The tiny suite's whole-network entries (its per-layer twins left out)."""
    suite = load_suite(TINY)
    suite.entries = [e for e in suite.entries if not e.name.endswith("-per-layer")]
    return suite


def _slow_suite(tmp_path: Path) -> Path:
    p = tmp_path / "slow.toml"
    p.write_text('name = "slow"\n[[instances]]\nnetwork = '
                 f'"{ROOT / "instances" / "trained" / "digits-mlp.json"}"\n', encoding="utf-8")
    return p


def test_suites_load_and_name_their_instances() -> None:
    tiny = load_suite(TINY)
    assert [e.name for e in tiny.entries][:3] == ["tiny-fc2", "tiny-conv", "tiny-mlp3"]
    assert [e.options["decomposition"] for e in tiny.entries] == ["whole"] * 3 + ["layer"] * 3
    assert all(e.arch.total_slots == 4 for e in tiny.entries)
    bundled = load_suite(ROOT / "instances" / "suites" / "bundled.toml")
    assert "lenet5" in [e.name for e in bundled.entries]
    assert all(e.network.exists() for e in bundled.entries)
    default = load_suite(ROOT / "pimopt" / "data" / "suites" / "default.toml")
    assert default.entries[0].network.exists()
    # every suite states its objective; the default one measures the headline (makespan)
    assert default.entries[0].objective == "makespan"
    assert tiny.entries[0].objective == bundled.entries[0].objective == "programming"


def test_run_record_is_verified_and_complete(tmp_path: Path) -> None:
    spec = _tiny3().specs(["assignment"], [3], 5.0)[0]
    rec = run_one(spec.to_dict())
    assert rec["status"] == "feasible" and rec["verification"]["verified"]
    assert rec["objective"] == rec["metrics"]["programming_ns"]
    assert rec["run_id"] == spec.run_id and rec["seed"] == 3
    for key in ("versions", "machine", "host", "started", "finished", "instance", "bound", "gap",
                "runtime_s"):
        assert rec[key] is not None, key
    assert rec["instance"]["sha256"] and rec["versions"]["ortools"]


def test_run_id_changes_with_what_defines_the_run() -> None:
    a = _tiny3().specs(["sorted"], [0], 5.0)
    b = _tiny3().specs(["sorted"], [0], 6.0)
    assert a[0].run_id != b[0].run_id
    assert a[0].run_id == _tiny3().specs(["sorted"], [0], 5.0)[0].run_id
    c = _tiny3().specs(["sorted"], [0], 5.0, {"overlap": False})
    assert c[0].run_id != a[0].run_id


def test_second_call_skips_finished_runs(tmp_path: Path) -> None:
    specs = _tiny3().specs(["naive", "sorted"], [0, 1], 5.0)
    lines: list[str] = []
    first = run_specs(specs, tmp_path, jobs=2, progress=lines.append)
    assert (first.total, first.ran, first.skipped, first.errors) == (12, 12, 0, 0)
    before = {p.name: p.read_text() for p in (tmp_path / "runs").glob("*.json")}
    assert len(before) == 12 and any("[12/12]" in s for s in lines)
    more = _tiny3().specs(["naive", "sorted", "assignment"], [0, 1], 5.0)
    second = run_specs(more, tmp_path, jobs=1, progress=lines.append)
    assert (second.ran, second.skipped) == (6, 12)
    after = {p.name: p.read_text() for p in (tmp_path / "runs").glob("*.json")}
    assert all(after[k] == v for k, v in before.items())  # not redone
    assert len(load_records(tmp_path)) == 18


def test_refused_run_is_recorded_and_not_retried(tmp_path: Path) -> None:
    spec = _tiny3().specs(["naive"], [0], 5.0)[0]
    bad = RunSpec.from_dict({**spec.to_dict(), "network": {"path": str(tmp_path / "none.json"),
                                                           "sha256": "x"}})
    out = run_specs([bad], tmp_path, progress=lambda s: None)
    rec = out.records[0]
    assert rec["status"] == "not run" and "does not exist" in rec["error"]
    again = run_specs([bad], tmp_path, progress=lambda s: None)
    assert again.ran == 0 and again.skipped == 1


def test_a_method_refusal_is_recorded_as_such(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A model above its size limit is 'refused' (final, with the reason); a bug in a method
    is never recorded as refused or 'not run'."""
    import pimopt.chains.exact

    monkeypatch.setattr(pimopt.chains.exact, "EXACT_ARC_LIMIT", 1)
    spec = _tiny3().specs(["cpsat"], [0], 5.0)[0]
    rec = run_one(spec.to_dict())  # in this process (run_specs runs it in a worker)
    assert rec["status"] == "refused" and "arcs" in rec["error"]
    assert "refused" in FINISHED  # final: not retried


def test_killed_bench_resumes_without_losing_or_redoing_runs(tmp_path: Path) -> None:
    suite = _slow_suite(tmp_path)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "pimopt", "bench", "--suite", str(suite), "--methods", "lns",
           "--seeds", "0,1,2,3,4,5", "--time-limit", "1", "--jobs", "1", "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    runs = out / "runs"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(runs.glob("*.json"))) < 2:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the runner and its worker processes, mid-suite
    proc.wait()
    done = {p.name: p.read_text() for p in runs.glob("*.json")}
    assert 2 <= len(done) < 6, "the kill should land part way through the suite"
    for text in done.values():
        assert json.loads(text)["status"] == "feasible"  # every record is whole
    (runs / ".half-written.json.abc.tmp").write_text("{")  # as a kill mid-write leaves
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert f"{len(done)} finished earlier (skipped), {6 - len(done)} to run" in res.stdout
    after = {p.name: p.read_text() for p in runs.glob("*.json")}
    assert len(after) == 6
    assert all(after[name] == text for name, text in done.items())
    assert sorted(r["seed"] for r in load_records(out)) == [0, 1, 2, 3, 4, 5]
    assert not list(runs.glob(".*.tmp"))  # the resumed bench removed the stale file


def test_dask_local_cluster_gives_the_local_pool_objectives(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI's --scheduler on a LocalCluster on loopback: same verified objectives."""
    distributed = pytest.importorskip("distributed")
    suite = tmp_path / "tiny3.toml"
    text = TINY.read_text().split("\n[[instances]]  # the same network")[0]
    suite.write_text(text.replace('"../tiny/', f'"{ROOT}/instances/tiny/'))
    args = ["bench", "--suite", str(suite), "--methods", ",".join(DETERMINISTIC),
            "--seeds", "0", "--time-limit", "5"]
    assert main([*args, "--jobs", "2", "--out", str(tmp_path / "local")]) == 0
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1",
                                  processes=True, dashboard_address=":0") as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        assert main([*args, "--scheduler", cluster.scheduler_address,
                     "--out", str(tmp_path / "dask")]) == 0
    assert "on Dask cluster tcp://127.0.0.1:" in capsys.readouterr().out
    local = {r["run_id"]: r for r in load_records(tmp_path / "local")}
    dask = load_records(tmp_path / "dask")
    assert len(dask) == len(local) == 3 * len(DETERMINISTIC)
    for r in dask:
        assert r["verification"]["verified"] and r["status"] in ("feasible", "optimal")
        assert r["objective"] == local[r["run_id"]]["objective"]
        assert r["objectives"] == local[r["run_id"]]["objectives"]


def test_unreachable_scheduler_is_a_clear_error(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    specs = _tiny3().specs(["naive"], [0], 5.0)
    with pytest.raises(InputError, match="cannot reach the Dask scheduler"):
        run_specs(specs, tmp_path, scheduler="tcp://127.0.0.1:9", connect_timeout=1.0)


@pytest.mark.parametrize("text, match", [
    ('name = "x"\n', "'instances' must be a non-empty array"),
    ('instances = [{network = "a.json", colour = 1}]\n', "unknown key.*colour"),
    ('[[instances]]\narch = "default"\n', "needs a 'network' path"),
    ('[options]\nspeed = 1\n[[instances]]\nnetwork = "a.json"\n', "option 'speed' is unknown"),
    ('[options]\noverlap = 1\n[[instances]]\nnetwork = "a.json"\n', "overlap = 1 is invalid"),
    ('name = \n', "not valid TOML"),
])
def test_bad_suites_are_named(tmp_path: Path, text: str, match: str) -> None:
    p = tmp_path / "s.toml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=match):
        load_suite(p)


def test_unknown_suite_and_method_are_named() -> None:
    with pytest.raises(InputError, match="known names"):
        load_suite("no-such-suite")
    with pytest.raises(InputError, match=r"unknown method.*fastest"):
        methods_arg("naive,fastest")
    assert methods_arg("all")[0] == "naive"


def test_cli_bench_then_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "b"
    assert main(["bench", "--suite", str(TINY), "--methods", "naive,cpsat", "--seeds", "0",
                 "--time-limit", "5", "--out", str(out)]) == 0
    assert "done: 12 run now" in capsys.readouterr().out
    assert main(["report", str(out)]) == 0
    text = (out / "report.md").read_text()
    # six runs, all solved; the three whole-network models proven optimal (per layer: not)
    assert "| cpsat | 6 | 6 | 3 |" in text
    assert main(["bench", "--suite", "nope", "--out", str(out)]) == 2
    assert "suite 'nope'" in capsys.readouterr().err


def test_generated_network_recipes() -> None:
    net = network_from_recipe({"generate": "synthetic", "layers": "32x16:4", "seed": 1})
    assert net.layers[0].weights.shape == (32, 16) and net.layers[0].n_inputs == 4
    scaled = network_from_recipe({"generate": "synthetic", "layers": "32x16:4", "seed": 1,
                                  "input_scale": 3})
    assert scaled.layers[0].n_inputs == 12
    assert (scaled.layers[0].weights == net.layers[0].weights).all()
    with pytest.raises(InputError, match="'path' or 'generate'"):
        network_from_recipe({"generate": "magic"})


def test_workers_die_with_a_killed_bench(tmp_path: Path) -> None:
    """SIGKILL of the bench's main process alone (no clean-up runs): its pool workers
    notice they lost their parent and exit instead of solving on for nobody."""
    psutil = pytest.importorskip("psutil")
    suite = _slow_suite(tmp_path)
    cmd = [sys.executable, "-m", "pimopt", "bench", "--suite", str(suite), "--methods", "lns",
           "--seeds", "0,1,2,3,4,5", "--time-limit", "1", "--jobs", "2",
           "--out", str(tmp_path / "out")]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    workers: list[Any] = []
    try:
        parent = psutil.Process(proc.pid)
        deadline = time.monotonic() + 120
        workers = []
        while time.monotonic() < deadline and len(workers) < 2:
            assert proc.poll() is None
            workers = [c for c in parent.children(recursive=True)
                       if "spawn_main" in " ".join(c.cmdline())]
            time.sleep(0.1)
        assert len(workers) >= 2, "the pool's workers never started"
        os.kill(proc.pid, signal.SIGKILL)  # the main process only, not its group
        proc.wait()
        _, alive = psutil.wait_procs(workers, timeout=20)
        assert not alive, f"{len(alive)} worker(s) outlived their parent"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        for w in workers:  # whatever outlived the test
            if w.is_running():
                w.kill()


def test_run_records_follow_the_published_json_schema(tmp_path: Path) -> None:
    """Solved, refused and failed records validate; broken ones are named field by field;
    every committed reference record validates."""
    from pimopt.bench.runner import RECORD_SCHEMA, validate_record

    assert RECORD_SCHEMA.is_file()
    spec = _tiny3().specs(["assignment"], [0], 5.0)[0]
    out = run_specs([spec], tmp_path, progress=lambda s: None)
    solved = json.loads(next((tmp_path / "runs").glob("*.json")).read_text())
    validate_record(solved)
    assert solved["version"] == 2 and solved["objective_unit"] == "ns" and solved["stages"]
    bad = RunSpec.from_dict({**spec.to_dict(), "network": {"path": str(tmp_path / "x.json"),
                                                           "sha256": "x"}})
    validate_record(run_specs([bad], tmp_path / "b", progress=lambda s: None).records[0])
    assert out.errors == 0
    for field, value, words in (("metrics", None, "metrics"),
                                ("status", "done", "status"),
                                ("stages", [{"name": "map"}], r"stages\[0\]")):
        broken = {**solved, field: value} if value is not None else {
            k: v for k, v in solved.items() if k != field}
        with pytest.raises(InputError, match=words):
            validate_record(broken, "my record")
    unverified = {**solved, "verification": {"verified": False, "violations": ["x"]}}
    with pytest.raises(InputError, match=r"verification\.verified = false"):
        validate_record(unverified)
    assert len(load_records(ROOT / "results")) > 100  # committed records: all valid


def test_bench_and_sweep_without_bounds(tmp_path: Path) -> None:
    assert main(["bench", "--suite", str(TINY), "--methods", "sorted", "--time-limit", "5",
                 "--no-bound", "--out", str(tmp_path / "b")]) == 0
    recs = load_records(tmp_path / "b")
    assert recs and all(r["bound"] is None and r["gap"] is None for r in recs)
    assert all("bound" not in [st["name"] for st in r["stages"]] for r in recs)
    assert all(r["spec"]["options"]["bound"] is False for r in recs)


def test_unreachable_cluster_leaves_no_output_folder(tmp_path: Path) -> None:
    specs = _tiny3().specs(["naive"], [0], 5.0)
    with pytest.raises(InputError, match="cannot reach the Dask scheduler"):
        run_specs(specs, tmp_path / "out", scheduler="tcp://127.0.0.1:9", connect_timeout=1.0,
                  progress=lambda s: None)
    assert not (tmp_path / "out").exists()


def test_long_runs_show_they_are_alive_and_lines_name_the_unit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pimopt.bench.runner as bench

    monkeypatch.setattr(bench, "HEARTBEAT_S", 0.2)
    suite = load_suite(_slow_suite(tmp_path))
    lines: list[str] = []
    run_specs(suite.specs(["lns"], [0], 3.0), tmp_path / "o", progress=lines.append)
    assert any(line.startswith("... 1 run(s) going") for line in lines)
    assert any(" ns" in line and "[1/1]" in line for line in lines)
