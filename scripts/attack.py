"""Attack pimopt end to end: signals, concurrent writers and resource limits.

Each case runs the ``pimopt`` command line in processes of its own, does to it
what a user, a scheduler or a bad day does (Ctrl-C, ``kill``, SIGKILL of a
worker, a second writer, an address-space limit, an absurd architecture, a
huge sweep, a decompression bomb) and checks what it must do: exit with the
documented code and one clear line, write the best verified solution or
nothing partial, leave no process and no temporary file behind, keep every
record readable and resumable.

Usage::

    python scripts/attack.py [--only NAME[,NAME]] [--list]

Prints a table (case, expected, observed, pass) and exits 1 if a case fails.
The signal and concurrency cases are also tests (tests/test_interrupt.py,
tests/test_memory.py, tests/test_fileio.py); this script runs them together,
end to end, on the machine at hand (about two minutes on two cores).
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parent.parent
DIGITS = ROOT / "instances" / "trained" / "digits-mlp.json"
PIMOPT = [sys.executable, "-m", "pimopt"]


def default_sigint() -> None:
    """Child set-up: the default SIGINT (a shell's background job inherits it ignored,
    which pimopt rightly keeps)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(args: list[str], env: dict[str, str] | None = None,
           preexec: Callable[[], None] | None = None) -> subprocess.Popen[str]:
    def setup() -> None:
        default_sigint()
        if preexec is not None:
            preexec()
    return subprocess.Popen([*PIMOPT, *args], text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT,
                            preexec_fn=setup, env={**os.environ, **(env or {})})


def _until(proc: subprocess.Popen[str], marker: str) -> str:
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if marker in line:
            return "".join(seen)
    raise RuntimeError(f"{marker!r} never appeared: {''.join(seen)[-500:]}")


def wait_file(folder: Path, pattern: str, timeout: float = 60) -> Path:
    """The first file of ``folder`` matching ``pattern``, waited for (a run's marker)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = sorted(folder.glob(pattern)) if folder.is_dir() else []
        if found:
            return found[0]
        time.sleep(0.05)
    raise RuntimeError(f"no {pattern} in {folder}")


def _finish(proc: subprocess.Popen[str], head: str = "", timeout: float = 120) -> str:
    try:
        rest, _ = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return head + (rest or "")


def _left(group: int) -> list[int]:
    time.sleep(0.5)
    out = []
    for p in psutil.process_iter():
        try:
            if os.getpgid(p.pid) == group and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p.pid)
        except (psutil.Error, ProcessLookupError):
            continue
    return out


def _verified(folder: Path) -> bool:
    r = subprocess.run([*PIMOPT, "verify", str(DIGITS), str(folder), "--arch", "small-chip"],
                       capture_output=True, text=True, cwd=ROOT)
    return r.returncode == 0


def _solve_args(out: Path, method: str) -> list[str]:
    return ["-v", "solve", str(DIGITS), "--arch", "small-chip", "--method", method,
            "--objective", "programming", "--time-limit", "300", "--out", str(out)]


Result = tuple[str, str, bool]  # expected, observed, pass


def case_solve_ctrl_c(tmp: Path) -> Result:
    out = tmp / "out"
    proc = _start(_solve_args(out, "lns"))
    head = _until(proc, "stage map: started")
    time.sleep(1)
    os.killpg(proc.pid, signal.SIGINT)
    t = time.perf_counter()
    text = _finish(proc, head)
    took = time.perf_counter() - t
    status = json.loads((out / "metrics.json").read_text())["status"] \
        if (out / "metrics.json").is_file() else None
    ok = proc.returncode == 130 and status == "interrupted" and _verified(out) and \
        "Traceback" not in text and took < 30
    return ("exit 130, best solution verified and written (interrupted), < 30 s",
            f"exit {proc.returncode}, status {status}, {took:.1f} s", ok)


def _sigterm_solve(tmp: Path, method: str) -> Result:
    out, tmpdir = tmp / "out", tmp / "tmp"
    tmpdir.mkdir()
    proc = _start(_solve_args(out, method), env={"TMPDIR": str(tmpdir)})
    head = _until(proc, "stage map: started")
    time.sleep(1)
    os.kill(proc.pid, signal.SIGTERM)
    t = time.perf_counter()
    text = _finish(proc, head)
    took = time.perf_counter() - t
    left, files = _left(proc.pid), sorted(p.name for p in tmpdir.iterdir())
    said = "terminated (SIGTERM)" in text
    ok = proc.returncode == 143 and said and _verified(out) and not left and not files and \
        "Traceback" not in text and took < 30
    return ("exit 143 and a line saying so, solution verified, no process or temp file left",
            f"exit {proc.returncode}, line {'yes' if said else 'no'}, {len(left)} process(es),"
            f" {len(files)} temp file(s), {took:.1f} s", ok)


def case_solve_sigterm(tmp: Path) -> Result:
    return _sigterm_solve(tmp, "lns")


def case_solve_sigterm_cbc(tmp: Path) -> Result:
    return _sigterm_solve(tmp, "milp-cbc")


def case_solve_sigkill_cbc(tmp: Path) -> Result:
    proc = _start(_solve_args(tmp / "out", "milp-cbc"))
    _until(proc, "stage map: started")
    cbc: list[psutil.Process] = []
    for _ in range(600):
        cbc = [c for c in psutil.Process(proc.pid).children(recursive=True)
               if "cbc" in c.name().lower()]
        if cbc:
            break
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    _finish(proc)
    _, alive = psutil.wait_procs(cbc, timeout=5)
    alive = [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]
    return ("CBC (a child) dies with a SIGKILLed pimopt",
            f"CBC started: {bool(cbc)}, alive 5 s later: {len(alive)}", bool(cbc) and not alive)


def write_suite(tmp: Path) -> Path:
    """A one-instance suite (trained digits-mlp on small-chip) in ``tmp``."""
    suite = tmp / "s.toml"
    suite.write_text(f'name = "s"\n[[instances]]\nnetwork = "{DIGITS}"\narch = "small-chip"\n',
                     encoding="utf-8")
    return suite


def _bench(tmp: Path, out: Path, methods: str = "lns") -> list[str]:
    return ["bench", "--suite", str(write_suite(tmp)), "--methods", methods, "--seeds", "0,1,2",
            "--time-limit", "4", "--jobs", "2", "--no-bound", "--out", str(out)]


def _signal_bench(tmp: Path, sig: int, code: int) -> Result:
    out = tmp / "out"
    proc = _start(_bench(tmp, out))
    wait_file(out / "runs", ".*.pid")
    if sig == signal.SIGINT:
        os.killpg(proc.pid, sig)
    else:
        os.kill(proc.pid, sig)
    text = _finish(proc)
    left = _left(proc.pid)
    noisy = any(w in text for w in ("Traceback", "resource_tracker", "leaked"))
    again = subprocess.run([*PIMOPT, *_bench(tmp, out)], capture_output=True, text=True,
                           cwd=ROOT)
    resumed = again.returncode == 0 and "done: " in again.stdout
    ok = proc.returncode == code and not left and not noisy and resumed and \
        "run the same command again to resume" in text
    return (f"exit {code}, workers gone, no warning or traceback, the resume completes",
            f"exit {proc.returncode}, {len(left)} process(es) left, "
            f"{'noisy' if noisy else 'quiet'}, resume exit {again.returncode}", ok)


def case_bench_ctrl_c(tmp: Path) -> Result:
    return _signal_bench(tmp, signal.SIGINT, 130)


def case_bench_sigterm(tmp: Path) -> Result:
    return _signal_bench(tmp, signal.SIGTERM, 143)


def case_bench_worker_sigkill(tmp: Path) -> Result:
    from pimopt.bench import load_records

    out = tmp / "out"
    proc = _start(_bench(tmp, out))
    marker = wait_file(out / "runs", ".*.pid")
    victim = marker.name[1:-4]
    time.sleep(0.5)
    os.kill(int(marker.read_text()), signal.SIGKILL)
    _finish(proc)
    records = load_records(out)  # raises if a record breaks the schema
    failed = [r["run_id"] for r in records if r["status"] == "error"]
    report = subprocess.run([*PIMOPT, "report", str(out)], capture_output=True, cwd=ROOT)
    again = subprocess.run([*PIMOPT, *_bench(tmp, out)], capture_output=True, text=True,
                           cwd=ROOT)
    ok = failed == [victim] and len(records) == 3 and report.returncode == 0 and \
        "1 to run" in again.stdout
    return ("only the killed worker's run fails, records match the schema, the resume "
            "reruns it", f"{len(failed)} failed ({'the victim' if failed == [victim] else failed})"
            f" of {len(records)}, report exit {report.returncode}, resume "
            f"{'reran 1' if '1 to run' in again.stdout else again.stdout[-80:]}", ok)


def case_two_benches(tmp: Path) -> Result:
    out = tmp / "out"
    first = _start(_bench(tmp, out))
    wait_file(out / "runs", ".*.pid")
    second = subprocess.run([*PIMOPT, *_bench(tmp, out, "sorted")], capture_output=True,
                            text=True, cwd=ROOT)
    _finish(first)
    in_use = "is in use by another bench or sweep" in second.stderr
    ok = second.returncode == 2 and in_use and first.returncode == 0
    return ("the second writer exits 2 naming the first; the first finishes",
            f"second exit {second.returncode} ({'in use' if in_use else second.stderr[-80:]}),"
            f" first exit {first.returncode}", ok)


def _limit_as(n_bytes: int) -> Callable[[], None]:
    return lambda: resource.setrlimit(resource.RLIMIT_AS, (n_bytes, n_bytes))


def case_ulimit(tmp: Path) -> Result:
    """A network of ~10^6 blocks under a 1.5 GB address-space limit."""
    net = tmp / "big"
    r = subprocess.run([*PIMOPT, "generate", "synthetic", "--layers", "4096x4096,4096x4096",
                        "-o", str(net)], capture_output=True, text=True, cwd=ROOT)
    if r.returncode != 0:
        return ("a generated 2-layer network", r.stderr[-120:], False)
    out = tmp / "out"
    proc = _start(["solve", str(net) + ".json", "--time-limit", "20", "--out", str(out)],
                  preexec=_limit_as(1_500_000_000))
    text = _finish(proc, timeout=300)
    last = text.strip().splitlines()[-1] if text.strip() else ""
    ok = proc.returncode == 2 and "Traceback" not in text and last.startswith(
        "pimopt: error:") and not out.exists()
    return ("exit 2, one line naming what to reduce, nothing written",
            f"exit {proc.returncode}: {last[:110]}", ok)


def case_huge_architecture(tmp: Path) -> Result:
    arch = tmp / "a.toml"
    arch.write_text("crossbars = 1048576\nrows = 16384\ncols = 16384\n")
    r = subprocess.run([*PIMOPT, "solve", "--arch", str(arch), "--time-limit", "5", "--out",
                        str(tmp / "out")], capture_output=True, text=True, cwd=ROOT)
    ok = r.returncode == 2 and "needs at least" in r.stderr and "Traceback" not in r.stderr \
        and not (tmp / "out").exists()
    return ("exit 2 before allocating: the size and the memory available",
            f"exit {r.returncode}: {r.stderr.strip()[:110]}", ok)


def case_huge_sweep(tmp: Path) -> Result:
    values = ", ".join(str(i) for i in range(1, 801))
    sweep = tmp / "s.toml"
    sweep.write_text(f'name = "huge"\nmethods = ["naive"]\n[network]\ngenerate = "synthetic"\n'
                     f"[grid]\ncrossbars = [{values}]\nrows = [{values}]\n"
                     f"t_set = [{values}]\n")
    t = time.perf_counter()
    r = subprocess.run([*PIMOPT, "sweep", str(sweep), "--dry-run", "--out", str(tmp / "o")],
                       capture_output=True, text=True, cwd=ROOT)
    took = time.perf_counter() - t
    ok = r.returncode == 2 and "above the limit" in r.stderr and took < 20
    return ("a 5x10^8-run grid refused before it is expanded (< 20 s)",
            f"exit {r.returncode} in {took:.1f} s: {r.stderr.strip()[:90]}", ok)


def _solved_folder(tmp: Path, fmt: str) -> Path:
    sol = tmp / "sol"
    r = subprocess.run([*PIMOPT, "solve", str(DIGITS), "--method", "naive", "--format", fmt,
                        "--baseline", "none", "--time-limit", "5", "--out", str(sol)],
                       capture_output=True, text=True, cwd=ROOT)
    if r.returncode != 0:
        raise RuntimeError(f"the base solve failed: {r.stderr[-200:]}")
    return sol


def _verify_peak(sol: Path) -> tuple[int, str, float]:
    """(exit code, output, peak RSS in MB) of ``pimopt verify`` on ``sol``."""
    proc = subprocess.Popen([*PIMOPT, "verify", str(DIGITS), str(sol)], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT)
    text = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, text, usage.ru_maxrss / 1024


def _refused_lightly(sol: Path, says: str) -> tuple[bool, str]:
    """(pass, observed) of ``pimopt verify`` on a folder holding a bomb: exit 2 with a
    line containing ``says``, no traceback, peak memory under 1 GB."""
    code, text, peak = _verify_peak(sol)
    ok = code == 2 and says in text and peak < 1000 and "Traceback" not in text
    return ok, f"exit {code}, peak {peak:,.0f} MB"


def _npy_header(shape: tuple[int, ...]) -> bytes:
    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(head, {"descr": "<i8", "fortran_order": False,
                                                "shape": shape})
    return head.getvalue()


def case_npz_lying_header(tmp: Path) -> Result:
    """A schedule NPZ member whose header claims 8 GB but holds 1 MB."""
    sol = _solved_folder(tmp, "npz")
    with zipfile.ZipFile(sol / "schedule.npz", "a", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("bomb.npy", _npy_header((10**9,)) + bytes(1 << 20))
    ok, seen = _refused_lightly(sol, "declares (1000000000,) int64")
    return ("exit 2 naming the member, peak memory < 1 GB", seen, ok)


def case_npz_bomb(tmp: Path) -> Result:
    """A genuine bomb: 8 GB of zeros deflated into a 35 MB schedule.npz."""
    sol = _solved_folder(tmp, "npz")
    chunk = bytes(64 << 20)
    total = 8 * 10**9
    with zipfile.ZipFile(sol / "schedule.npz", "w", compression=zipfile.ZIP_DEFLATED,
                         compresslevel=1) as zf, \
            zf.open("comp_start.npy", "w", force_zip64=True) as fh:
        fh.write(_npy_header((total // 8,)))
        for _ in range(total // len(chunk)):
            fh.write(chunk)
        fh.write(bytes(total % len(chunk)))
    size = (sol / "schedule.npz").stat().st_size
    ok, seen = _refused_lightly(sol, "above the limit")
    return ("exit 2 before inflating (above the limit), peak memory < 1 GB",
            f"{size / 1e6:.0f} MB file: {seen}", ok)


def case_gzip_bomb(tmp: Path) -> Result:
    """2 GB of spaces gzip-compressed into a schedule.json.gz of a few MB."""
    sol = _solved_folder(tmp, "gz")
    chunk = b" " * (64 << 20)
    with gzip.open(sol / "schedule.json.gz", "wb", compresslevel=1) as fh:
        for _ in range(32):
            fh.write(chunk)
    size = (sol / "schedule.json.gz").stat().st_size
    ok, seen = _refused_lightly(sol, "above the limit")
    return ("exit 2 after reading at most the text limit, peak memory < 1 GB",
            f"{size / 1e6:.1f} MB file: {seen}", ok)


CASES: dict[str, Callable[[Path], Result]] = {
    "solve Ctrl-C": case_solve_ctrl_c,
    "solve SIGTERM": case_solve_sigterm,
    "solve SIGTERM with CBC": case_solve_sigterm_cbc,
    "solve SIGKILL with CBC": case_solve_sigkill_cbc,
    "bench Ctrl-C": case_bench_ctrl_c,
    "bench SIGTERM": case_bench_sigterm,
    "bench worker SIGKILL": case_bench_worker_sigkill,
    "two benches, one --out": case_two_benches,
    "ulimit -v 1.5 GB": case_ulimit,
    "2^20 crossbars of 16384^2": case_huge_architecture,
    "sweep of 5x10^8 runs": case_huge_sweep,
    "NPZ member claiming 8 GB": case_npz_lying_header,
    "8 GB NPZ bomb": case_npz_bomb,
    "2 GB gzip bomb": case_gzip_bomb,
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="comma-separated case names (see --list)")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    args = ap.parse_args()
    if args.list:
        print("\n".join(CASES))
        return 0
    names = list(CASES) if not args.only else [n.strip() for n in args.only.split(",")]
    unknown = [n for n in names if n not in CASES]
    if unknown:
        ap.error(f"unknown case(s) {unknown}; --list shows them")
    rows = []
    t0 = time.perf_counter()
    for name in names:
        with tempfile.TemporaryDirectory(prefix="pimopt-attack-") as tmp:
            t = time.perf_counter()
            try:
                expected, observed, ok = CASES[name](Path(tmp))
            except Exception as exc:  # a case that cannot even run fails
                expected, observed, ok = "the case runs", f"{type(exc).__name__}: {exc}", False
            rows.append((name, expected, observed, ok, time.perf_counter() - t))
            print(f"{'pass' if ok else 'FAIL'}  {name} ({rows[-1][4]:.1f} s)", flush=True)
    print()
    print("| case | expected | observed | pass |")
    print("|---|---|---|---|")
    for name, expected, observed, ok, _ in rows:
        print(f"| {name} | {expected} | {observed.replace('|', '/')} | "
              f"{'yes' if ok else '**no**'} |")
    passed = sum(r[3] for r in rows)
    print(f"\n{passed} of {len(rows)} cases pass ({time.perf_counter() - t0:.0f} s)")
    return 0 if passed == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
