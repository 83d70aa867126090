"""The stages of a solve after the bounds: map (with the baseline candidates) and
retime (input splitting, CP-SAT re-timing, joint model), and the claims check.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pimopt.chains.problem import ChainProblem, Chains
from pimopt.errors import Refused, VerificationError
from pimopt.instance import Instance
from pimopt.mapping import Mapping
from pimopt.methods.balanced import balanced_mapping
from pimopt.methods.baselines import naive_mapping
from pimopt.methods.chain_methods import CHAIN_METHODS, EXACT_MODELS, ChainOptions, sorted_granular
from pimopt.methods.decompose import map_chains
from pimopt.methods.registry import BASELINES
from pimopt.schedule import Schedule
from pimopt.scheduling.cpsat import cpsat_schedule
from pimopt.scheduling.joint import joint_schedule
from pimopt.scheduling.split import split_inputs
from pimopt.stop import CANDIDATES_PER_BLOCK_S
from pimopt.verify import Report

log = logging.getLogger("pimopt.solve")


@dataclass
class MapOutput:
    """What the map stage returns.

    ``alternatives``: further candidate mappings, already scheduled (name,
    mapping, claimed cost, schedule); the schedule stage keeps the shortest
    makespan among them and the method's own mapping.
    """

    mapping: Mapping
    status: str
    bound: float | None
    claimed: int | None
    alternatives: list[tuple[str, Mapping, int | None, Schedule]] = field(default_factory=list)


def map_stage(inst: Instance, method: str, metric: str, opts: ChainOptions, decomposition: str,
              reuse: bool, makespan: bool, info: dict[str, Any],
              schedule: Callable[[Mapping], Schedule] | None) -> MapOutput:
    """Map: a baseline, the makespan-aware pipeline, or a chain method on chain problems.

    With ``schedule`` (the makespan objective, a method other than the baselines)
    the weight-sorted and naive mappings are made and scheduled first (linear in
    the blocks): they are candidates wherever the stage's budget holds their
    estimated time (else skipped, and said so), and their time comes out of the
    method's own.
    """
    if method == "naive":
        return MapOutput(naive_mapping(inst), "feasible", None, None)
    t0 = time.perf_counter()
    alternatives: list[tuple[str, Mapping, int | None, Schedule]] = []
    if schedule is not None and opts.time_limit < CANDIDATES_PER_BLOCK_S * inst.n_nonzero:
        info["candidates_skipped"] = (f"the map stage's {opts.time_limit:.1f} s cannot hold "
                                      f"the candidates' schedules of {inst.n_nonzero:,} "
                                      "blocks (a longer time limit makes them)")
        log.warning("baseline candidates skipped: %s", info["candidates_skipped"])
    elif schedule is not None and method not in BASELINES:
        # the weight-sorted mapping is a candidate: where it schedules shorter
        # (budget-bound chips can overlap one layer's programming with another's
        # compute on crossbars the layer does not use) it is kept
        srt, _, _, srt_cost = map_chains(inst, "sorted", metric, opts, "layer", {}, reuse)
        alternatives.append(("sorted", srt, srt_cost, schedule(srt)))
        # and the naive one: where the write budget binds, crossbars kept in step can
        # queue for it whatever the chains (ddddocr-det `multi-ou`: 24% less
        # programming than before, 11% longer)
        nv = naive_mapping(inst)
        alternatives.append(("naive", nv, None, schedule(nv)))
    left = max(1e-3, opts.time_limit - (time.perf_counter() - t0))
    opts = ChainOptions(left, opts.seed, opts.workers, opts.initial)
    if makespan and method not in BASELINES:
        inner = "assignment or sorted, then granular" if method == "balanced" else method

        fallbacks = [0]

        def solver(p: ChainProblem, seconds: float) -> Chains:
            o = ChainOptions(max(seconds, 0.05), opts.seed, opts.workers, opts.initial)
            if method == "balanced":
                return sorted_granular(p, o)
            try:
                return CHAIN_METHODS[inner](p, o).chains
            except Refused:  # a crossbar too large for the method's model: balanced's own
                fallbacks[0] += 1
                info["per_crossbar_fallbacks"] = fallbacks[0]
                return sorted_granular(p, o)

        info["per_crossbar_method"] = inner
        mapping, claimed = balanced_mapping(inst, solver, metric=metric,
                                            time_limit=opts.time_limit, reuse=reuse, info=info,
                                            round_limit=method not in EXACT_MODELS,
                                            # other chain methods solve every crossbar
                                            # themselves (step 5 of docs/methods.md)
                                            assign=method == "balanced", seed=opts.seed)
        return MapOutput(mapping, "feasible", None, claimed, alternatives)
    mapping, status, bound, claimed = map_chains(inst, method, metric, opts, decomposition, info,
                                           reuse)
    return MapOutput(mapping, status, bound, claimed, alternatives)



@dataclass
class RetimeOutput:
    """What the retime stage returns (``changed``: a new mapping or schedule to keep)."""

    mapping: Mapping
    schedule: Schedule
    changed: bool
    notes: list[str]


def retime_stage(inst: Instance, mapping: Mapping, sched: Schedule, *, split: bool,
                 scheduler: str, granularity: str, overlap: bool, time_limit: float, seed: int,
                 workers: int, method: str, info: dict[str, Any], bound_ps: int = 0,
                 dependencies: str = "barrier") -> RetimeOutput:
    """Input splitting, then CP-SAT re-timing or joint mapping and scheduling (``bound_ps``:
    the makespan bound valid under ``dependencies``, a constraint of the joint model; the
    joint model schedules under ``dependencies``, the CP-SAT re-timing under the barrier,
    which obeys every window too)."""
    out = RetimeOutput(mapping, sched, False, [])
    t0 = time.perf_counter()
    if split:
        so = split_inputs(inst, mapping, granularity=granularity, overlap=overlap,
                          time_limit=time_limit, method=method)
        info["split"] = so.info
        out.notes.append(f"split {so.info['splits']}")
        if so.info["splits"]:
            out.mapping, out.schedule, out.changed = so.mapping, so.schedule, True
    left = max(0.5, time_limit - (time.perf_counter() - t0))
    if scheduler in ("cpsat", "joint"):
        share = left if scheduler == "cpsat" else left / 3
        # the CP-SAT re-timing keeps the rule of the schedule it is given (a pipelined
        # one under windows, pimopt.pipeline); the joint model takes whole blocks
        rule = out.schedule.meta.get("dependencies", "barrier")
        timed = cpsat_schedule(inst, out.schedule, time_limit=share, seed=seed,
                               workers=workers, dependencies=rule)
        info["scheduler"] = {"status": timed.status, "makespan_ps": timed.makespan_ps,
                             "bound_ps": timed.bound_ps,
                             "list_makespan_ps": out.schedule.makespan_ps(), **timed.info}
        out.schedule, out.changed = timed.schedule, True
        out.notes.append(f"cpsat scheduler {timed.status}")
        if scheduler == "joint":
            # the two-stage solution (this mapping, CP-SAT timing) is the joint model's hint
            two_stage = out.schedule.makespan_ps()
            jo = joint_schedule(inst, out.mapping, out.schedule, time_limit=left - share,
                                seed=seed, workers=workers, lower_bound_ps=bound_ps,
                                dependencies=dependencies)
            info["joint"] = {"status": jo.status, "makespan_ps": jo.makespan_ps,
                             "bound_ps": jo.bound_ps, "two_stage_makespan_ps": two_stage,
                             "two_stage_loss": (two_stage - jo.makespan_ps) / two_stage
                             if two_stage else 0.0, **jo.info}
            out.mapping, out.schedule = jo.mapping, jo.schedule
            out.notes.append(f"joint {jo.status}")
    return out


def check_claims(method: str, chain_metric: str, claimed: int | None, objs: dict[str, int],
                 report: Report, sched: Schedule, granularity: str) -> None:
    """The method's claimed cost and the scheduler's makespan equal what the verifier found."""
    # the metric is ns (a float): compare in integer ps after rounding, since
    # x / 1000 * 1000 need not give x back in floating point
    if round(report.metrics["makespan_ns"] * 1000) != sched.makespan_ps():
        raise VerificationError("the scheduler's makespan differs from the verifier's")
    if claimed is not None:
        recomputed = objs["programming_ps"] if chain_metric == "latency" else objs["cell_writes"]
        if claimed != recomputed:
            raise VerificationError(f"method {method!r} claims cost {claimed}, the mapping "
                                    f"costs {recomputed}")
    if granularity == "slot" and objs["programming_ps"] != round(
            report.metrics["programming_ns"] * 1000):
        raise VerificationError("mapping programming cost differs from the schedule's")
