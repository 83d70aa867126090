"""HiGHS plumbing: its C++ banner silenced, runs cancelled on an interrupt, PuLP's HiGHS
interface with a MIP start, and the checks that what HiGHS reports is what its solution
has (the chain MILP and the programming bound's LP share them)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from pimopt.interrupt import run_cancellable


@contextmanager
def quiet_stdout() -> Iterator[None]:
    """Silence the process's standard output (HiGHS prints a banner from C++ on creation)."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def run_highs(h: Any) -> Any:
    """``h.run()`` on a ``highspy.Highs``, cancelled on an interrupt request."""
    h.HandleUserInterrupt = True  # HiGHS polls the cancel flag in its interrupt callbacks
    return run_cancellable(h.run, h.cancelSolve)


def _solution_objective(prob: Any, h: Any) -> float:
    """Objective of the solution HiGHS returns (recomputed from its column values)."""
    col = list(h.getSolution().col_value)
    return float(sum(coef * col[v.index] for v, coef in prob.objective.items())
                 + (prob.objective.constant or 0.0))


def _solution_matches(prob: Any, h: Any) -> bool:
    """True if HiGHS's objective value is the objective of the solution it returns."""
    if h.getInfo().primal_solution_status != 2:
        return True  # no solution: nothing to contradict
    reported = float(h.getObjectiveValue())
    return abs(_solution_objective(prob, h) - reported) <= 1e-6 * max(1.0, abs(reported))


def solve_pulp_highs(prob: Any, seconds: Callable[[], float], mip_start: bool, threads: int,
                     info: dict[str, Any]) -> tuple[str, float | None, float | None]:
    """Solve the PuLP problem ``prob`` with HiGHS for ``seconds()``, starting from the
    variables' initial values (``mip_start``), a second run without them included:
    (status, objective, bound), never an objective the returned solution does not have."""
    import highspy
    import pulp

    class _HiGHSWarm(pulp.HiGHS):
        """PuLP's HiGHS interface plus a MIP start from the variables' initial values."""

        def createAndConfigureSolver(self, lp: Any) -> None:
            with quiet_stdout():
                super().createAndConfigureSolver(lp)

        def callSolver(self, lp: Any) -> None:
            if start:
                sol = highspy.HighsSolution()
                values = [0.0] * len(lp.variables())
                for var in lp.variables():
                    init = var.varValue if var.varValue is not None else 0.0
                    values[var.index] = float(init)
                sol.col_value = values
                sol.value_valid = True
                lp.solverModel.setSolution(sol)
            run_highs(lp.solverModel)

    start = mip_start
    cmd = _HiGHSWarm(msg=False, timeLimit=seconds(), threads=threads)
    # HiGHS keeps one thread scheduler per process: after any earlier HiGHS run with
    # another thread count (the sparse LP bound uses the default), a run with
    # `threads` would stop at once with status "Not Set"; start a fresh scheduler
    highspy.Highs.resetGlobalScheduler(True)
    prob.solve(cmd)
    h = prob.solverModel
    if start and not _solution_matches(prob, h):
        # HiGHS 1.16 can report a better objective than the solution it returns after a
        # MIP start (getSolution() gives the start back): solve again without the start
        info["highs_solution_mismatch"] = _solution_objective(prob, h)
        start = False
        cmd = _HiGHSWarm(msg=False, timeLimit=seconds(), threads=threads)
        highspy.Highs.resetGlobalScheduler(True)
        prob.solve(cmd)
        h = prob.solverModel
    model_status = h.getModelStatus()
    hinfo = h.getInfo()
    info["highs_status"] = h.modelStatusToString(model_status)
    info["highs_version"] = h.version()
    ms = highspy.HighsModelStatus
    primal_ok = hinfo.primal_solution_status == 2  # kSolutionStatusFeasible
    objective = float(h.getObjectiveValue()) if primal_ok else None
    is_mip = any(var.cat == pulp.LpInteger for var in prob.variables())
    bound = float(hinfo.mip_dual_bound) if is_mip else None
    if objective is not None and not _solution_matches(prob, h):
        # never report an objective (or "optimal") that the returned solution does not have
        info["highs_solution_mismatch"] = objective
        objective = _solution_objective(prob, h)
        return "feasible", objective, (None if bound is None or not np.isfinite(bound)
                                       else bound)
    if model_status == ms.kOptimal:
        return "optimal", objective, (bound if is_mip else objective)
    if model_status in (ms.kInfeasible, ms.kUnboundedOrInfeasible):
        return "infeasible", None, None
    if bound is not None and not np.isfinite(bound):
        bound = None
    return ("feasible" if objective is not None else "timeout"), objective, bound
