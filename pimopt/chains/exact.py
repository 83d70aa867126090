"""Exact models of the chain problem: OR-Tools CP-SAT and a MILP through PuLP (CBC, HiGHS).

Both models solve the same :class:`~pimopt.chains.problem.ChainProblem` (every item
loaded once, layer order along chains, per-layer capacity per chain) and
accept a warm start. They return an :class:`ExactOutcome` whose status is
read from the solver itself (PuLP labels a time-limited HiGHS run "Optimal";
that label is never trusted).

CP-SAT: one ``AddMultipleCircuit`` over a depot (node 0), the slots' start
nodes and the items. The depot's arcs go only to start nodes and start nodes
are entered only from the depot, so every route holds exactly one start
node: route = slot, its items = the slot's chain. ``start -> depot`` is the
empty chain. Ranks (position of an item within its layer's run of the chain)
enforce the per-layer capacity.

MILP: arc variables ``x[u, v]`` (u a start or item, v an item): every item has
one predecessor, every node at most one successor; MTZ ranks on same-layer
arcs exclude cycles and bound each layer's run by its capacity.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pimopt.chains.problem import (
    FORBIDDEN,
    ChainProblem,
    Chains,
    expand_chains,
    reduce_starts,
    restrict_chains,
)
from pimopt.errors import InputError, Refused
from pimopt.solvers import cbc
from pimopt.solvers.cpsat import hint_confirmed, make_solver, run_cpsat
from pimopt.solvers.highs import solve_pulp_highs

MILP_SOLVERS = ("cbc", "highs")
EXACT_ARC_LIMIT = 250_000  # largest model (arcs) the exact methods build


def least_arcs(n_items: int, n_slots: int) -> int:
    """Arcs an exact model of ``n_items`` items on ``n_slots`` slots has at least: every
    item's arcs from the other items and from the slots left after interchangeable ones
    are merged (at most ``n_items`` of them)."""
    return n_items * (min(n_slots, n_items) + n_items)


def _prepare(p: ChainProblem, warm: Chains | None
             ) -> tuple[ChainProblem, NDArray[np.int64], Chains | None]:
    """Reduce interchangeable slots, check the size limit, carry the warm start over."""
    sub, kept = reduce_starts(p)
    arcs = sub.n_items * (sub.n_slots + sub.n_items)
    if arcs > EXACT_ARC_LIMIT:
        raise Refused(f"the exact model would have {arcs} arcs ({sub.n_items} items, "
                      f"{sub.n_slots} useful slots), more than {EXACT_ARC_LIMIT}: use a "
                      "heuristic or a smaller instance")
    sub_warm = None
    if warm is not None:
        p.check_solution(warm, "the warm start")
        sub_warm = restrict_chains(p, warm, kept)
    return sub, kept, sub_warm


@dataclass
class ExactOutcome:
    """What an exact model returns.

    Attributes
    ----------
    chains
        Best solution found (``None`` if none).
    status
        ``optimal``, ``feasible``, ``infeasible`` or ``timeout`` (no solution in time).
    objective
        The solver's objective value of ``chains``.
    bound
        The solver's proven lower bound.
    info
        Solver details: name, version, seed, workers, wall time, log facts.
    """

    chains: Chains | None
    status: str
    objective: float | None
    bound: float | None
    info: dict[str, Any] = field(default_factory=dict)


def _allowed(p: ChainProblem, d: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """All arcs (u, v) a solution may use."""
    u, v = np.nonzero(d < FORBIDDEN)
    return u.astype(np.int64), v.astype(np.int64)


def _ranks(p: ChainProblem, chains: Chains) -> dict[int, int]:
    """Rank of every item within its layer's run of its chain (1-based)."""
    rank: dict[int, int] = {}
    for chain in chains:
        prev_layer, r = None, 0
        for v in chain:
            la = int(p.item_layer[v])
            r = r + 1 if la == prev_layer else 1
            prev_layer = la
            rank[v] = r
    return rank


MIN_SOLVER_S = 0.05  # a solver always gets this much, so that it can return its hint


def _solver_seconds(end: float) -> float:
    """Seconds a solver may run so that it ends by ``end`` (at least :data:`MIN_SOLVER_S`)."""
    return max(MIN_SOLVER_S, end - time.perf_counter())


# ---------------------------------------------------------------------- CP-SAT
def solve_cpsat(p: ChainProblem, *, time_limit: float = 60.0, seed: int = 0, workers: int = 2,
                hint: Chains | None = None, fix_to_hint: bool = False,
                log: bool = False, deterministic_time: float | None = None) -> ExactOutcome:
    """Solve the chain problem with CP-SAT (see :func:`_cpsat` for the parameters).

    ``deterministic_time`` (CP-SAT's ``max_deterministic_time``, machine
    independent) cuts the search as well as the wall-clock ``time_limit``: tests
    use it so that their outcome does not depend on the machine's load. When
    the solver returns no solution but a hint was given, the hint is returned
    (status ``feasible``, ``info["used"] = "hint"``).
    """
    end = time.perf_counter() + time_limit  # building the model is part of the time limit
    sub, kept, sub_hint = _prepare(p, hint)
    out = _cpsat(sub, time_limit=_solver_seconds(end), seed=seed, workers=workers, hint=sub_hint,
                 fix_to_hint=fix_to_hint, log=log, deterministic_time=deterministic_time)
    out = _or_warm(sub, out, sub_hint, "hint")
    if out.chains is not None:
        out.chains = expand_chains(out.chains, kept, p.n_slots)
    out.info["useful_slots"] = int(kept.size)
    return out


def _or_warm(p: ChainProblem, out: ExactOutcome, warm: Chains | None, name: str
             ) -> ExactOutcome:
    """The warm start (feasible, checked) when the solver found nothing in time."""
    if out.chains is not None or warm is None or out.status == "infeasible":
        return out
    p.check_solution(warm, "the warm start")
    cost = p.evaluate(warm)
    bound = out.bound if out.bound is not None and out.bound <= cost + 1e-6 else None
    return ExactOutcome([list(c) for c in warm], "feasible", float(cost), bound,
                        dict(out.info, used=name, solver_status=out.status))


def _cpsat(p: ChainProblem, *, time_limit: float, seed: int, workers: int,
           hint: Chains | None, fix_to_hint: bool, log: bool,
           deterministic_time: float | None = None) -> ExactOutcome:
    """Solve the chain problem with CP-SAT.

    Parameters
    ----------
    p
        The problem (dense limit applies).
    time_limit, seed, workers
        CP-SAT parameters (recorded in ``info``).
    hint
        A feasible solution: given to CP-SAT as a complete hint (every arc
        literal and every rank).
    fix_to_hint
        Fix every variable to its hinted value (to prove the hint feasible).
    log
        Keep the solver log in ``info["log"]``.
    """
    from importlib.metadata import version

    from ortools.sat.python import cp_model

    ortools_version = version("ortools")
    stop_at = time.perf_counter() + time_limit  # building the model counts

    d = p.dense()
    s, n = p.n_slots, p.n_items
    uu, vv = _allowed(p, d)
    model = cp_model.CpModel()
    arcs: list[tuple[int, int, Any]] = []
    lit: dict[tuple[int, int], Any] = {}
    cost_terms: list[tuple[Any, int]] = []

    def node_of(u: int) -> int:  # chain-problem node -> circuit node
        return 1 + u

    for k in range(s):  # depot -> start k is forced: starts are entered only from the depot
        arcs.append((0, node_of(k), model.new_constant(1)))
        empty = model.new_bool_var(f"empty{k}")
        lit[(k, -1)] = empty
        arcs.append((node_of(k), 0, empty))
    for v in range(n):
        end = model.new_bool_var(f"end{v}")
        lit[(s + v, -1)] = end
        arcs.append((node_of(s + v), 0, end))
    for u, v in zip(uu.tolist(), vv.tolist(), strict=True):
        x = model.new_bool_var(f"x{u}_{v}")
        lit[(u, v)] = x
        arcs.append((node_of(u), node_of(s + v), x))
        if d[u, v]:
            cost_terms.append((x, int(d[u, v])))
    model.add_multiple_circuit(arcs)
    cap = np.array([p.capacity[int(la)] for la in p.item_layer], dtype=np.int64)
    rank = [model.new_int_var(1, int(cap[v]), f"r{v}") for v in range(n)]
    for (u, v), x in lit.items():
        if v < 0:
            continue
        if u < s or p.item_layer[u - s] != p.item_layer[v]:
            model.add(rank[v] == 1).only_enforce_if(x)
        else:
            model.add(rank[v] == rank[u - s] + 1).only_enforce_if(x)
    model.minimize(sum(c * x for x, c in cost_terms))

    if hint is not None:
        p.check_solution(hint, "the CP-SAT hint")
        model.clear_hints()
        used = set()
        for k, chain in enumerate(hint):
            prev = k
            for v in chain:
                used.add((prev, v))
                prev = s + v
            used.add((prev, -1))
        for key, x in lit.items():
            model.add_hint(x, key in used)
        for v, r in _ranks(p, hint).items():
            model.add_hint(rank[v], r)
        if fix_to_hint:
            for key, x in lit.items():
                model.add(x == int(key in used))

    solver, lines = make_solver(_solver_seconds(stop_at), seed, workers,
                                log=log or hint is not None,
                                deterministic_time=deterministic_time)
    t0 = time.perf_counter()
    code = run_cpsat(solver, model)
    wall = time.perf_counter() - t0
    info: dict[str, Any] = {"solver": "cp-sat", "ortools": ortools_version, "seed": seed,
                            "workers": workers, "time_limit": time_limit, "wall_s": wall,
                            "variables": len(model.proto.variables)}
    if hint is not None:
        info["hint_complete_feasible"] = hint_confirmed(lines)
    if log:
        info["log"] = "\n".join(lines)
    if code in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        chains: Chains = []
        for k in range(s):
            chain, cur = [], k
            while True:
                nxt = [v for v in range(n) if (cur, v) in lit and solver.value(lit[(cur, v)])]
                if not nxt:
                    break
                chain.append(nxt[0])
                cur = s + nxt[0]
            chains.append(chain)
        status = "optimal" if code == cp_model.OPTIMAL else "feasible"
        return ExactOutcome(chains, status, solver.objective_value,
                            solver.best_objective_bound, info)
    if code == cp_model.INFEASIBLE:
        return ExactOutcome(None, "infeasible", None, None, info)
    bound = solver.best_objective_bound
    return ExactOutcome(None, "timeout", None, bound if np.isfinite(bound) else None, info)


# ---------------------------------------------------------------------- MILP
def solve_milp(p: ChainProblem, *, solver: str = "cbc", time_limit: float = 60.0,
               warm: Chains | None = None, relax: bool = False,
               threads: int = 1) -> ExactOutcome:
    """Solve the chain problem (or its LP relaxation) as a MILP (see :func:`_milp`)."""
    if solver not in MILP_SOLVERS:
        raise InputError(f"MILP solver {solver!r} is unknown: one of {MILP_SOLVERS}")
    end = time.perf_counter() + time_limit  # building the model is part of the time limit
    sub, kept, sub_warm = _prepare(p, warm)
    out = _milp(sub, solver=solver, time_limit=_solver_seconds(end), warm=sub_warm, relax=relax,
                threads=threads)
    if not relax:
        out = _or_warm(sub, out, sub_warm, "warm start")
    if out.chains is not None:
        out.chains = expand_chains(out.chains, kept, p.n_slots)
    out.info["useful_slots"] = int(kept.size)
    return out


def _milp(p: ChainProblem, *, solver: str, time_limit: float, warm: Chains | None,
          relax: bool, threads: int) -> ExactOutcome:
    """Solve the chain problem (or its LP relaxation) as a MILP through PuLP.

    Parameters
    ----------
    p
        The problem (dense limit applies).
    solver
        ``"cbc"`` (PuLP's bundled CBC) or ``"highs"`` (highspy).
    time_limit
        Seconds.
    warm
        A feasible solution used as MIP start.
    relax
        Solve the LP relaxation: its optimum is a valid lower bound.
    threads
        Solver threads.
    """
    import pulp

    end = time.perf_counter() + time_limit
    d = p.dense()
    s, n = p.n_slots, p.n_items
    uu, vv = _allowed(p, d)
    cat = "Continuous" if relax else "Binary"
    prob = pulp.LpProblem("chains", pulp.LpMinimize)
    x = {(u, v): prob.add_variable(f"x_{u}_{v}", 0, 1, cat)
         for u, v in zip(uu.tolist(), vv.tolist(), strict=True)}
    cap = np.array([p.capacity[int(la)] for la in p.item_layer], dtype=np.int64)
    rank = [prob.add_variable(f"r_{v}", 1, int(cap[v])) for v in range(n)]
    prob += pulp.lpSum(int(d[u, v]) * var for (u, v), var in x.items())
    ins: list[list[Any]] = [[] for _ in range(n)]
    outs: list[list[Any]] = [[] for _ in range(s + n)]
    for (u, v), var in x.items():
        ins[v].append(var)
        outs[u].append(var)
    for v in range(n):
        prob += pulp.lpSum(ins[v]) == 1, f"in_{v}"
    for u in range(s + n):
        if outs[u]:
            prob += pulp.lpSum(outs[u]) <= 1, f"out_{u}"
    for (u, v), var in x.items():
        if u >= s and p.item_layer[u - s] == p.item_layer[v]:
            big = int(cap[v])
            prob += rank[v] >= rank[u - s] + 1 - big * (1 - var), f"mtz_{u}_{v}"
    if warm is not None and not relax:
        p.check_solution(warm, "the MIP start")
        used = set(zip(*p.arcs_of(warm), strict=True))
        for (u, v), var in x.items():
            var.setInitialValue(1 if (u, v) in used else 0)
        for v, r in _ranks(p, warm).items():
            rank[v].setInitialValue(r)
    t0 = time.perf_counter()
    info: dict[str, Any] = {"solver": f"milp-{solver}", "pulp": pulp.__version__,
                            "time_limit": time_limit, "relax": relax, "threads": threads,
                            "variables": len(x) + n}
    if solver == "cbc":
        status, objective, bound = cbc.solve_pulp_cbc(
            prob, lambda: _solver_seconds(end), warm is not None and not relax, threads, info)
    else:
        status, objective, bound = solve_pulp_highs(
            prob, lambda: _solver_seconds(end), warm is not None and not relax, threads, info)
    info["wall_s"] = time.perf_counter() - t0
    if relax:
        return ExactOutcome(None, status, objective, objective if status == "optimal" else None,
                            info)
    if status in ("optimal", "feasible"):
        succ = {u: v for (u, v), var in x.items() if (var.value() or 0) > 0.5}
        chains: Chains = []
        for k in range(s):
            chain, cur = [], k
            while cur in succ:
                chain.append(succ[cur])
                cur = s + succ[cur]
            chains.append(chain)
        return ExactOutcome(chains, status, objective, bound, info)
    return ExactOutcome(None, status, None, bound, info)


