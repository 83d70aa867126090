"""The chain methods' runners: each turns a chain problem and its time share into
chains (warm starts, size refusals and fallbacks included).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pimopt import interrupt
from pimopt.chains import exact
from pimopt.chains.construct import assignment_chains, greedy_chains, sorted_chains
from pimopt.chains.exact import MIN_SOLVER_S, solve_cpsat, solve_milp
from pimopt.chains.granular import GRANULAR_S_PER_ITEM, granular_chains
from pimopt.chains.lns import lns_chains
from pimopt.chains.local_search import local_search
from pimopt.chains.problem import DENSE_LIMIT, ChainProblem, Chains
from pimopt.errors import InputError, Refused
from pimopt.methods.relax import relaxation_chains
from pimopt.stop import MODEL_BUILD_S_PER_ARC, WARM_SHARE


@dataclass
class ChainOptions:
    """What a chain method gets from the solve: its time share, seed, workers, warm start."""

    time_limit: float = 60.0
    seed: int = 0
    workers: int = 2
    initial: str = "ls"


@dataclass
class Outcome:
    """What a chain method returns for one chain problem."""

    chains: Chains
    status: str = "feasible"
    bound: float | None = None
    info: dict[str, Any] = field(default_factory=dict)


ChainMethod = Callable[[ChainProblem, ChainOptions], Outcome]


def _heuristic(fn: Callable[[ChainProblem], Chains]) -> ChainMethod:
    return lambda p, o: Outcome(fn(p))


ROUND_PAIR_LIMIT = 200_000_000  # slot-item pairs the round-based heuristics may evaluate


def _round_based(fn: Callable[[ChainProblem], Chains], name: str) -> ChainMethod:
    def run(p: ChainProblem, o: ChainOptions) -> Outcome:
        pairs = p.n_slots * p.n_items * max(p.capacity.values())
        if pairs > ROUND_PAIR_LIMIT:
            raise Refused(f"the {name} heuristic would evaluate {pairs} slot-item pairs "
                          f"(limit {ROUND_PAIR_LIMIT}): use 'granular' for layers this large")
        return Outcome(fn(p))
    return run


def _ls(p: ChainProblem, o: ChainOptions) -> Outcome:
    if p.n_items > DENSE_LIMIT:  # dense moves need n x n costs: use the granular search
        out = _granular(p, o)
        out.info["local_search"] = "granular (items above the dense limit)"
        return out
    start, _ = _construction(p)
    return Outcome(local_search(p, start, time_limit=o.time_limit, seed=o.seed))


def _construction(p: ChainProblem) -> tuple[Chains, str]:
    """The assignment construction, or plain sorting once Ctrl-C asked to stop (the
    assignment's costs take seconds on layers of thousands of items); and its name."""
    if interrupt.requested():
        return sorted_chains(p), "sorted (interrupted)"
    return assignment_chains(p), "assignment"


def _granular(p: ChainProblem, o: ChainOptions) -> Outcome:
    start, how = None, "candidate matching"
    if p.n_slots * p.n_items * max(p.capacity.values()) <= ROUND_PAIR_LIMIT:
        start, how = _construction(p)  # the better construction, where affordable
    return Outcome(granular_chains(p, time_limit=o.time_limit, seed=o.seed, initial=start),
                   info={"construction": how})


def _warm(p: ChainProblem, o: ChainOptions) -> Chains:
    if o.initial not in CHAIN_METHODS or o.initial in EXACT:
        raise InputError(f"initial = {o.initial!r} is invalid: a heuristic, one of "
                         f"{', '.join(m for m in CHAIN_METHODS if m not in EXACT)}")
    share = ChainOptions(WARM_SHARE * o.time_limit, o.seed, o.workers)
    return CHAIN_METHODS[o.initial](p, share).chains


def _exact(kind: str) -> ChainMethod:
    def run(p: ChainProblem, o: ChainOptions) -> Outcome:
        arcs = exact.least_arcs(p.n_items, p.n_slots)
        if arcs > exact.EXACT_ARC_LIMIT:  # at least this many arcs: refuse now
            raise Refused(f"method {kind!r}: a model of {p.n_items} items would have at least "
                          f"{arcs} arcs, more than {exact.EXACT_ARC_LIMIT}")
        end = time.perf_counter() + o.time_limit  # the warm start comes out of the budget
        warm = _warm(p, o)  # the heuristics keep the round limit: a good, feasible start
        if interrupt.requested():  # Ctrl-C: no model is built, the warm start stands
            return Outcome(warm, "feasible", None, {"warm_start": o.initial,
                                                    "used": "warm start (interrupted)"})
        # the model itself has no round limit, so its optimum and bound are those of the
        # problem as docs/model.md states it, not of the heuristics' restriction
        true = p.uncapped()
        left = max(MIN_SOLVER_S, end - time.perf_counter())
        build = arcs * MODEL_BUILD_S_PER_ARC[kind]
        if build > left:  # the model could not even be built in time: the warm start stands
            return Outcome(warm, "feasible", None, {
                "warm_start": o.initial, "warm_objective": p.evaluate(warm),
                "used": f"warm start (building the model takes about {build:.1f} s, "
                        f"{left:.1f} s left)"})
        if kind == "cpsat":
            out = solve_cpsat(true, time_limit=left, seed=o.seed, workers=o.workers, hint=warm)
        else:
            out = solve_milp(true, solver=kind, time_limit=left, warm=warm)
        info = dict(out.info, warm_start=o.initial, warm_objective=p.evaluate(warm))
        if out.chains is None or p.evaluate(out.chains) > p.evaluate(warm):
            # no solution in time (or a worse one): the warm start stands
            return Outcome(warm, "feasible", out.bound, dict(info, used="warm start"))
        status = out.status
        if status == "optimal" and (out.objective is None
                                    or abs(p.evaluate(out.chains) - out.objective) > 0.5):
            # the solver's optimum is not the solution it returned: never claim it
            status = "feasible"
            info["optimal_dropped"] = f"solver objective {out.objective}, solution costs " \
                                      f"{p.evaluate(out.chains)}"
        return Outcome(out.chains, status, out.bound, info)
    return run


def _relax(p: ChainProblem, o: ChainOptions) -> Outcome:
    info: dict[str, list[float]] = {}
    return Outcome(relaxation_chains(p, time_limit=o.time_limit, seed=o.seed, info=info),
                   info=dict(info))


def _lns(p: ChainProblem, o: ChainOptions) -> Outcome:
    t0 = time.perf_counter()
    warm = _warm(p, o)
    info: dict[str, Any] = {"warm_start": o.initial, "warm_objective": p.evaluate(warm)}
    plain = sorted_chains(p)  # on huge layers a cut warm start can lose to plain sorting
    if p.evaluate(plain) < info["warm_objective"]:
        warm = plain
        info.update(warm_start="sorted", warm_objective=p.evaluate(plain))
    left = max(0.5, o.time_limit - (time.perf_counter() - t0))
    chains = lns_chains(p, warm, time_limit=left, seed=o.seed, workers=o.workers, info=info)
    left = o.time_limit - (time.perf_counter() - t0)
    if info.get("lns_neighbourhoods", 1) == 0 and left > 0.5 \
            and np.unique(p.item_layer).size == 1:
        # every chain is too long for an exact window: the time goes to granular moves
        chains = granular_chains(p, time_limit=left, seed=o.seed, initial=chains)
        info["after_lns"] = "granular search (chains too long for exact windows)"
    return Outcome(chains, info=info)


CHAIN_METHODS: dict[str, ChainMethod] = {
    "sorted": _heuristic(sorted_chains),
    "greedy": _round_based(greedy_chains, "greedy"),
    "assignment": _round_based(assignment_chains, "assignment"),
    "ls": _ls,
    "granular": _granular,
    "relax": _relax,
    "lns": _lns,
    "cpsat": _exact("cpsat"),
    "milp-cbc": _exact("cbc"),
    "milp-highs": _exact("highs"),
}
EXACT = ("cpsat", "milp-cbc", "milp-highs", "lns")  # methods that need a warm start
EXACT_MODELS = ("cpsat", "milp-cbc", "milp-highs")  # solved without the round limit

PAIRS_PER_S = 1_000_000  # latency-model pair evaluations per second, a safe estimate


def sorted_granular(p: ChainProblem, o: ChainOptions) -> Chains:
    """``balanced``'s chains inside one crossbar, as good as its time share affords.

    Where the round-by-round assignment's pair evaluations fit in half the
    share: the assignment, then granular moves on ranked candidate lists if the
    share affords them. Otherwise granular search on window candidate lists,
    from the cheaper of the sorted and greedy-edge chains: those lists cost a
    fraction of ranked ones, and on trained layers they gave 5-19% less
    programming at 20-250 us an item (``scripts/bench_chains.py``), the range
    crossbars of 10^5-10^6-block networks get.
    """
    pairs = p.n_slots * p.n_items * max(p.capacity.values())
    if pairs <= min(ROUND_PAIR_LIMIT, PAIRS_PER_S * o.time_limit / 2):
        start = assignment_chains(p)
        if p.n_items < 2 or o.time_limit < GRANULAR_S_PER_ITEM * p.n_items:
            return start
        return granular_chains(p, time_limit=o.time_limit, seed=o.seed, initial=start)
    if p.n_items < 2:
        return sorted_chains(p)
    return granular_chains(p, time_limit=o.time_limit, seed=o.seed, candidates="window")
