"""CBC through PuLP as a child process that cannot outlive pimopt or leave files behind.

PuLP runs the CBC binary with ``subprocess.Popen`` and writes its model, MIP
start and solution files into ``tmpDir``; when CBC is stopped or crashes the
files stay (52-64 MB for a 443-item layer), and a pimopt killed with SIGKILL
leaves CBC running to its own time limit. Here every CBC run

- writes its files into a private temporary folder that is always removed;
- starts in a process group of its own (a terminal's Ctrl-C reaches pimopt,
  which decides: :func:`stop_children`) and, on Linux, with a parent-death
  signal (``prctl(PR_SET_PDEATHSIG, SIGKILL)``), so it dies with pimopt
  however pimopt ends.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from pimopt.interrupt import requested, run_cancellable

_PR_SET_PDEATHSIG = 1


def _libc_prctl() -> Any | None:
    if not sys.platform.startswith("linux"):
        return None
    try:  # loaded in the parent: the child only calls a function pointer
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _libc_prctl()


def _child_setup(parent: int) -> None:
    """In the CBC child before exec: own process group, killed when pimopt dies."""
    os.setpgid(0, 0)
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


_owner = threading.local()  # .pids: the set the CBC processes this thread starts go to
_lock = threading.Lock()


class _TrackedPopen(subprocess.Popen[bytes]):
    """``subprocess.Popen`` for PuLP's CBC: set up by :func:`_child_setup`, and
    remembered while it runs in the set of the solve that started it (so that
    stopping one solve never ends another's CBC)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("preexec_fn", functools.partial(_child_setup, os.getpid()))
        super().__init__(*args, **kwargs)
        self._owned: set[int] | None = getattr(_owner, "pids", None)
        if self._owned is not None:
            with _lock:
                self._owned.add(self.pid)

    def wait(self, timeout: float | None = None) -> int:
        try:
            return super().wait(timeout)
        finally:
            if self.returncode is not None and self._owned is not None:
                with _lock:
                    self._owned.discard(self.pid)


def _solve_owned(prob: Any, cmd: Any, pids: set[int]) -> Any:
    """``prob.solve(cmd)`` with the CBC processes it starts recorded in ``pids``."""
    _owner.pids = pids
    try:
        return prob.solve(cmd)
    finally:
        _owner.pids = None


def _install() -> None:
    """Make PuLP's CBC module start its processes through :class:`_TrackedPopen`."""
    from pulp.apis import coin_api

    if isinstance(getattr(coin_api, "subprocess", None), SimpleNamespace):
        return
    coin_api.subprocess = SimpleNamespace(**{**vars(subprocess), "Popen": _TrackedPopen})


def stop_children(pids: set[int]) -> None:
    """End the CBC processes in ``pids`` that still run (SIGKILL to each one's group: CBC
    ignores SIGTERM and SIGINT while it generates cuts at the root)."""
    with _lock:
        running = list(pids)
    for pid in running:
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)


def command(time_limit: float, warm: bool, threads: int, log_path: str, tmp_dir: str) -> Any:
    """A PuLP CBC command: the binary of ``cbcbox`` (PuLP's ``cbc`` extra) when installed,
    else the CBC that PuLP bundles; its files go to ``tmp_dir``."""
    import pulp

    _install()
    try:
        import cbcbox

        cmd = pulp.COIN_CMD(path=cbcbox.cbc_bin_path(), msg=False, timeLimit=time_limit,
                            warmStart=warm, threads=threads, logPath=log_path)
    except ImportError:
        cmd = pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit, warmStart=warm,
                                threads=threads, logPath=log_path)
    cmd.tmpDir = tmp_dir
    return cmd


@contextlib.contextmanager
def private_folder() -> Iterator[Path]:
    """A temporary folder for one CBC run (model, start, solution and log), removed on
    exit whatever happens."""
    folder = Path(tempfile.mkdtemp(prefix="pimopt-cbc-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


_CBC_FIELD = re.compile(r"^(Objective value|Lower bound|Gap):\s+(\S+)", re.MULTILINE)


def solve_pulp_cbc(prob: Any, seconds: Callable[[], float], warm: bool, threads: int,
                   info: dict[str, Any]) -> tuple[str, float | None, float | None]:
    """Solve the PuLP problem ``prob`` with CBC for ``seconds()`` (asked again for a second
    run), a crashed MIP start included: (status, objective, bound), CBC's result, version
    and binary in ``info``."""
    import pulp

    pids: set[int] = set()  # this solve's CBC processes, which an interrupt ends
    with private_folder() as folder:
        log_path = str(folder / "cbc.log")
        cmd = command(seconds(), warm, threads, log_path, str(folder))
        try:
            run_cancellable(lambda: _solve_owned(prob, cmd, pids), lambda: stop_children(pids))
        except pulp.PulpSolverError as exc:
            if requested():  # stopped for Ctrl-C: no solution file; the warm start stands
                info["cbc_error"] = "CBC stopped by an interrupt"
                return "timeout", None, None
            # a CBC binary may crash (PuLP's bundled 2.10.3 does, with SIGSEGV, when the
            # time limit falls while it reads a MIP start): solve again without the start
            if not warm:
                info["cbc_error"] = f"CBC failed: {exc}"
                return "timeout", None, None
            info["cbc_error"] = "CBC crashed with the MIP start; re-solved without it"
            cmd = command(seconds(), False, threads, log_path, str(folder))
            try:
                run_cancellable(lambda: _solve_owned(prob, cmd, pids), lambda: stop_children(pids))
            except pulp.PulpSolverError:
                return "timeout", None, None
        try:
            with open(log_path, encoding="utf-8", errors="replace") as fh:
                text = fh.read()
        except FileNotFoundError:
            text = ""
    result = re.search(r"^Result - (.*)$", text, re.MULTILINE)
    fields = {k: v for k, v in _CBC_FIELD.findall(text)}
    info["cbc_result"] = result.group(1).strip() if result else None
    info["cbc_version"] = (re.search(r"(?:Version:\s*|CBC )(\S+)", text) or [None, None])[1]
    info["cbc_binary"] = getattr(cmd, "path", None)
    objective = pulp.value(prob.objective)
    res = info["cbc_result"] or ""
    if not result and re.search(r"^Optimal - objective value", text, re.MULTILINE):
        res = "Optimal solution found"  # a pure LP: CLP's own optimality line
    if res.startswith("Optimal solution found"):
        status = "optimal"
        bound = objective
    elif "infeasible" in res.lower():
        return "infeasible", None, None
    else:  # stopped on time or nodes: read the solution status, not PuLP's label
        has_sol = prob.sol_status in (pulp.LpSolutionIntegerFeasible, pulp.LpSolutionOptimal)
        status = "feasible" if has_sol and objective is not None else "timeout"
        lb = fields.get("Lower bound")
        bound = float(lb) if lb not in (None, "-1e+50") else None
    if status == "optimal" and objective is None:
        status = "timeout"
    return status, (float(objective) if objective is not None else None), bound
