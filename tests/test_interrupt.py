"""Ctrl-C: a solve returns its best verified solution as ``interrupted``; a bench stops
cleanly. The CLI tests spawn pimopt in a session of its own and signal its process group,
as a terminal's Ctrl-C does, once its log says the stage to interrupt has started."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from pimopt import interrupt
from pimopt.bench import load_records

ROOT = Path(__file__).resolve().parent.parent
DIGITS = ROOT / "instances" / "trained" / "digits-mlp.json"


def _load_attack() -> Any:
    """scripts/attack.py, whose process helpers these tests share (one copy of each)."""
    spec = importlib.util.spec_from_file_location("attack", ROOT / "scripts" / "attack.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


attack = _load_attack()


# --- the module ------------------------------------------------------------------------

def test_run_cancellable_passes_results_and_errors_through() -> None:
    interrupt.clear()
    assert interrupt.run_cancellable(lambda: 42, lambda: None) == 42

    def boom() -> int:
        raise ValueError("from the solver thread")
    with pytest.raises(ValueError, match="solver thread"):
        interrupt.run_cancellable(boom, lambda: None)


def test_run_cancellable_cancels_on_request() -> None:
    interrupt.clear()
    stop = threading.Event()

    def solver() -> str:  # a solver that runs until told to stop
        return "stopped" if stop.wait(30) else "ran to its limit"
    threading.Timer(0.2, interrupt.request).start()
    t = time.perf_counter()
    try:
        assert interrupt.run_cancellable(solver, stop.set) == "stopped"
    finally:
        interrupt.clear()
    assert time.perf_counter() - t < 5


def test_expired_and_seconds_left_follow_the_flag() -> None:
    interrupt.clear()
    later = time.perf_counter() + 100
    assert not interrupt.expired(later) and not interrupt.expired(None)
    assert interrupt.expired(later, margin=200)
    assert interrupt.seconds_left(later) > 99
    interrupt.request()
    try:
        assert interrupt.expired(later) and interrupt.expired(None)
        assert interrupt.seconds_left(later) == 0.0
    finally:
        interrupt.clear()


def test_first_sigint_sets_the_flag_second_raises() -> None:
    with interrupt.catch_sigint():
        signal.raise_signal(signal.SIGINT)
        assert interrupt.requested()  # no KeyboardInterrupt: the work goes on, and stops
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert not interrupt.requested()  # later work is not cut short by an old Ctrl-C


def test_a_caller_that_ignores_sigint_keeps_doing_so() -> None:
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a bench worker does
    try:
        with interrupt.catch_sigint():
            signal.raise_signal(signal.SIGINT)
            assert not interrupt.requested()
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, old)


# --- the CLI ---------------------------------------------------------------------------

def _interrupt_at(cmd: list[str], marker: str, *, after: float = 1.0,
                  timeout: float = 120, sig: int = signal.SIGINT, group: bool = True,
                  env: dict[str, str] | None = None) -> tuple[int, str, float, int]:
    """Run ``pimopt -v CMD`` in a session of its own; send ``sig`` to its process group
    (``group=False``: to the pimopt process alone, as ``kill PID`` does) ``after`` seconds
    past the first output line containing ``marker``.

    Returns the exit code, the output (stdout and stderr), the seconds from the signal to
    the exit, and the process group.
    """
    proc = subprocess.Popen([sys.executable, "-m", "pimopt", "-v", *cmd], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True, cwd=ROOT, preexec_fn=attack.default_sigint,
                            env=None if env is None else {**os.environ, **env})
    assert proc.stdout is not None
    seen: list[str] = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if marker in line:
                break
        else:
            raise AssertionError(f"{marker!r} never appeared:\n{''.join(seen)}")
        time.sleep(after)
        if group:
            os.killpg(proc.pid, sig)
        else:
            os.kill(proc.pid, sig)
        t = time.perf_counter()
        rest, _ = proc.communicate(timeout=timeout)
        took = time.perf_counter() - t
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode, "".join(seen) + rest, took, proc.pid


def _pimopt(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pimopt", *args], capture_output=True,
                          text=True, timeout=300, cwd=ROOT)


def _check_interrupted_solve(code: int, text: str, took: float, out: Path,
                             cut: str) -> dict[str, Any]:
    assert code == 130, text
    assert "Traceback" not in text
    assert "status interrupted" in text
    assert "best solution found so far is verified and written" in text
    assert took < 30, f"{took:.1f} s from Ctrl-C to exit"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "interrupted"
    stages = {s["name"]: s for s in metrics["stages"]}
    assert stages[cut]["cut_short"] and "interrupted" in stages[cut]["note"]
    # the written solution is whole: the verifier replays it against the instance
    check = _pimopt("verify", str(DIGITS), str(out), "--arch", "small-chip")
    assert check.returncode == 0, check.stdout + check.stderr
    return metrics


@pytest.mark.parametrize("method", ["lns", "milp-cbc", "milp-highs", "cpsat"])
def test_ctrl_c_during_mapping_writes_the_best_verified_solution(tmp_path: Path,
                                                                 method: str) -> None:
    """Each kind of solver stops within seconds of Ctrl-C: the heuristics' deadline checks,
    CBC (a child process), HiGHS and CP-SAT (threads of this process)."""
    out = tmp_path / "out"
    code, text, took, _ = _interrupt_at(
        ["solve", str(DIGITS), "--arch", "small-chip", "--method", method, "--objective",
         "programming", "--time-limit", "300", "--out", str(out)], "stage map: started")
    metrics = _check_interrupted_solve(code, text, took, out, "map")
    assert metrics["runtime_s"] < 100  # far from the 300 s limit


@pytest.mark.parametrize("method", [pytest.param("lns", marks=pytest.mark.slow), "milp-cbc"])
def test_sigterm_is_handled_like_ctrl_c(tmp_path: Path, method: str) -> None:
    """``kill PID`` (SIGTERM to pimopt alone): the best solution so far is verified and
    written, exit 143 with a line that says so; CBC, a child process, ends with it and
    leaves no file in the temporary folder."""
    out, tmp = tmp_path / "out", tmp_path / "tmp"
    tmp.mkdir()
    code, text, took, group = _interrupt_at(
        ["solve", str(DIGITS), "--arch", "small-chip", "--method", method, "--objective",
         "programming", "--time-limit", "300", "--out", str(out)], "stage map: started",
        sig=signal.SIGTERM, group=False, env={"TMPDIR": str(tmp)})
    assert code == 143, text
    assert "Traceback" not in text
    assert "terminated (SIGTERM): the best solution found so far is verified and written" \
        in text
    assert took < 30, f"{took:.1f} s from SIGTERM to exit"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "interrupted"
    check = _pimopt("verify", str(DIGITS), str(out), "--arch", "small-chip")
    assert check.returncode == 0, check.stdout + check.stderr
    time.sleep(0.5)
    left = [p.pid for p in psutil.process_iter() if _pgid(p.pid) == group and _running(p)]
    assert not left, f"process(es) {left} outlived pimopt"
    assert not list(tmp.iterdir()), f"left in TMPDIR: {sorted(tmp.iterdir())}"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")
def test_cbc_dies_with_a_killed_pimopt(tmp_path: Path) -> None:
    """SIGKILL leaves pimopt no clean-up: CBC's parent-death signal ends it anyway (it ran
    to its own time limit, orphaned, before)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pimopt", "-v", "solve", str(DIGITS), "--arch", "small-chip",
         "--method", "milp-cbc", "--objective", "programming", "--time-limit", "300",
         "--out", str(tmp_path / "out")], text=True, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT,
        preexec_fn=attack.default_sigint)
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            if "stage map: started" in line:
                break
        cbc: list[psutil.Process] = []
        for _ in range(600):  # CBC starts once the model is written (seconds under load)
            cbc = [c for c in psutil.Process(proc.pid).children(recursive=True)
                   if "cbc" in c.name().lower()]
            if cbc:
                break
            time.sleep(0.1)
        assert cbc, "CBC never started"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        _, alive = psutil.wait_procs(cbc, timeout=5)
        assert not [p for p in alive if _running(p)], "CBC outlived pimopt"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_ctrl_c_during_cpsat_retiming(tmp_path: Path) -> None:
    """The CP-SAT scheduler stops too, and the result is not a normal 'feasible' one."""
    out = tmp_path / "out"
    code, text, took, _ = _interrupt_at(
        ["solve", str(DIGITS), "--arch", "small-chip", "--method", "sorted", "--scheduler",
         "cpsat", "--time-limit", "300", "--out", str(out)], "stage retime: started")
    _check_interrupted_solve(code, text, took, out, "retime")


def test_ctrl_c_stops_a_bench_and_it_resumes(tmp_path: Path) -> None:
    """No new run starts, running ones are dropped (never recorded as finished), every
    worker ends, the resume command is printed, exit 130; the next call runs the rest."""
    suite = tmp_path / "s.toml"
    suite.write_text(f'name = "s"\n[[instances]]\nnetwork = "{DIGITS}"\narch = "small-chip"\n',
                     encoding="utf-8")
    out = tmp_path / "out"
    cmd = ["bench", "--suite", str(suite), "--methods", "sorted,lns", "--seeds", "0,1,2",
           "--time-limit", "4", "--jobs", "2", "--no-bound", "--out", str(out)]
    # once a run has finished: its progress line
    code, text, took, group = _interrupt_at(cmd, "[1/6]", after=0.3, timeout=60)
    assert code == 130, text
    assert "Traceback" not in text
    assert "interrupted:" in text and "run the same command again to resume" in text
    assert took < 20
    runs = out / "runs"
    assert not list(runs.glob(".*.tmp"))
    done = load_records(out)
    assert 1 <= len(done) < 6
    assert all(r["status"] in ("feasible", "optimal") for r in done)
    # no process of the bench's group is left running (its pool workers included); a
    # container's init may leave the dead ones as zombies
    time.sleep(0.5)
    left = [p.pid for p in psutil.process_iter() if _pgid(p.pid) == group and _running(p)]
    assert not left, f"process(es) {left} outlived the bench"
    again = _pimopt(*cmd)
    assert again.returncode == 0, again.stderr
    assert f"{len(done)} finished earlier (skipped), {6 - len(done)} to run" in again.stdout
    assert len(load_records(out)) == 6


def _pgid(pid: int) -> int:
    try:
        return os.getpgid(pid)
    except OSError:  # gone meanwhile
        return -1


def _running(p: psutil.Process) -> bool:
    try:
        return p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:  # gone meanwhile
        return False


def test_each_solve_has_its_own_flag() -> None:
    """Two solves in two threads: one's request is not seen, nor cleared, by the other."""
    a_requested, b_started, seen = threading.Event(), threading.Event(), {}

    def solve_a() -> None:
        with interrupt.catch_sigint():
            interrupt.request()
            a_requested.set()
            b_started.wait(5)  # b has entered its own block (the old flag was cleared then)
            seen["a"] = interrupt.requested()

    def solve_b() -> None:
        a_requested.wait(5)
        with interrupt.catch_sigint():
            b_started.set()
            seen["b"] = interrupt.requested()

    threads = [threading.Thread(target=solve_a), threading.Thread(target=solve_b)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(10)
    assert seen == {"a": True, "b": False}
    assert not interrupt.requested()  # and nothing leaks outside the solves


# --- bench: a dead worker, a second writer ---------------------------------------------

def _bench_cmd(suite: Path, out: Path, methods: str, seeds: str = "0,1,2") -> list[str]:
    return [sys.executable, "-m", "pimopt", "bench", "--suite", str(suite), "--methods",
            methods, "--seeds", seeds, "--time-limit", "3", "--jobs", "2", "--no-bound",
            "--out", str(out)]


def test_a_killed_worker_fails_its_own_run_only(tmp_path: Path) -> None:
    """SIGKILL of one worker of ``bench --jobs 2`` broke the pool: 5 of 6 runs were recorded
    failed, runs never started included, in records that broke the schema."""
    out = tmp_path / "out"
    cmd = _bench_cmd(attack.write_suite(tmp_path), out, "lns")
    proc = subprocess.Popen(cmd, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True, cwd=ROOT, preexec_fn=attack.default_sigint)
    try:
        marker = attack.wait_file(out / "runs", ".*.pid")
        victim = marker.name[1:-len(".pid")]
        time.sleep(0.5)  # well inside the 4 s run
        os.kill(int(marker.read_text()), signal.SIGKILL)
        text, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode in (0, 1), text
    assert "Traceback" not in text
    records = load_records(out)  # every record matches the schema
    failed = [r for r in records if r["status"] == "error"]
    assert [r["run_id"] for r in failed] == [victim], text
    assert "died (signal SIGKILL)" in failed[0]["error"]
    assert sum(r["status"] in ("feasible", "optimal") for r in records) == 2
    assert not list((out / "runs").glob(".*"))
    report = _pimopt("report", str(out))
    assert report.returncode == 0, report.stderr
    again = _pimopt(*cmd[3:])  # resume: the failed run alone runs again
    assert again.returncode == 0, again.stdout + again.stderr
    assert "2 finished earlier (skipped), 1 to run" in again.stdout


def test_a_second_bench_on_one_folder_is_refused(tmp_path: Path) -> None:
    """The second writer deleted the first's in-flight temporary record before."""
    out = tmp_path / "out"
    suite = attack.write_suite(tmp_path)
    first = subprocess.Popen(_bench_cmd(suite, out, "lns", "0,1"), text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        attack.wait_file(out / "runs", ".*.pid")
        second = _pimopt(*_bench_cmd(suite, out, "sorted", "0")[3:])
        assert second.returncode == 2, second.stdout + second.stderr
        assert f"{out} is in use by another bench or sweep (pid {first.pid})" in second.stderr
        text, _ = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0, text
    assert len(load_records(out)) == 2
    after = _pimopt(*_bench_cmd(suite, out, "sorted", "0")[3:])  # the lock ends with its holder
    assert after.returncode == 0, after.stderr


@pytest.mark.parametrize(("sig", "code"), [
    (signal.SIGTERM, 143),
    # Ctrl-C of a bench: also test_ctrl_c_stops_a_bench_and_it_resumes (by default)
    pytest.param(signal.SIGINT, 130, marks=pytest.mark.slow)])
def test_a_signalled_bench_ends_its_workers_quietly(tmp_path: Path, sig: int,
                                                    code: int) -> None:
    """SIGTERM to the bench (``kill PID``) or Ctrl-C to its group: workers end, no
    resource-tracker warning, no traceback, the resume line."""
    out = tmp_path / "out"
    cmd = _bench_cmd(attack.write_suite(tmp_path), out, "lns")
    proc = subprocess.Popen(cmd, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True, cwd=ROOT, preexec_fn=attack.default_sigint)
    try:
        attack.wait_file(out / "runs", ".*.pid")
        if sig == signal.SIGTERM:
            os.kill(proc.pid, sig)
        else:
            os.killpg(proc.pid, sig)
        text, _ = proc.communicate(timeout=60)  # until every holder of the pipe is gone
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == code, text
    assert "Traceback" not in text and "resource_tracker" not in text and "leaked" not in text
    assert "run the same command again to resume" in text
    time.sleep(0.5)
    left = [p.pid for p in psutil.process_iter() if _pgid(p.pid) == proc.pid and _running(p)]
    assert not left, f"process(es) {left} outlived the bench"
