"""CP-SAT plumbing: one way to set a solver up, run it under pimopt's interrupt and read
whether its log confirmed the hint (the chain model and the scheduler share it)."""

from __future__ import annotations

from typing import Any

from pimopt.interrupt import run_cancellable

HINT_OK = "hint is complete and is feasible"  # what CP-SAT logs when a hint is complete


def make_solver(seconds: float, seed: int, workers: int, *, log: bool = True,
                deterministic_time: float | None = None) -> tuple[Any, list[str]]:
    """A ``CpSolver`` with its time limit, seed and workers recorded, and the list its log
    lines go to (``log``: search progress into it, never to stdout)."""
    from ortools.sat.python import cp_model

    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(seconds)
    if deterministic_time is not None:
        solver.parameters.max_deterministic_time = float(deterministic_time)
    solver.parameters.random_seed = int(seed)
    solver.parameters.num_workers = int(workers)
    lines: list[str] = []
    if log:
        solver.parameters.log_search_progress = True
        solver.parameters.log_to_stdout = False
        solver.log_callback = lines.append
    return solver, lines


def run_cpsat(solver: Any, model: Any) -> int:
    """``solver.solve(model)``, stopped early (as by its time limit) on an interrupt request.

    CP-SAT's own SIGINT catching is off: :mod:`pimopt.interrupt` owns Ctrl-C,
    so the result can say it was interrupted.
    """
    solver.parameters.catch_sigint_signal = False
    return int(run_cancellable(lambda: solver.solve(model), solver.stop_search))


def hint_confirmed(lines: list[str]) -> bool:
    """True if the solver's log says the hint was complete and feasible."""
    return HINT_OK in "\n".join(lines)
