"""One entry point for every method: :func:`solve` returns a verified :class:`Result`.

A method maps blocks to slots; the list scheduler turns the mapping into a
timeline; the verifier replays it. Mapping methods work on chain problems
(:mod:`pimopt.problem`), either layer by layer (``decomposition="layer"``,
each layer's start patterns are what the previous layer left) or as one
whole-network model (``decomposition="whole"``, small instances). Blocks of a
layer with identical patterns are one item: they share a load.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pimopt.baselines import naive_mapping
from pimopt.bounds import layered_ap_bound
from pimopt.errors import InputError, PimoptError
from pimopt.exact import solve_cpsat, solve_milp
from pimopt.heuristics import (
    assignment_chains,
    granular_chains,
    greedy_chains,
    local_search,
    relaxation_chains,
    sorted_chains,
)
from pimopt.instance import Instance
from pimopt.lns import lns_chains
from pimopt.mapping import Mapping
from pimopt.objectives import mapping_objectives
from pimopt.problem import DENSE_LIMIT, ChainProblem, Chains, min_rounds
from pimopt.provenance import versions
from pimopt.schedule import Schedule
from pimopt.scheduler import list_schedule
from pimopt.verify import Report, verify

# objective name -> (verifier metric, chain-problem metric the methods minimise)
OBJECTIVES: dict[str, tuple[str, str]] = {
    "makespan": ("makespan_ns", "latency"),
    "programming": ("programming_ns", "latency"),
    "critical_path": ("critical_path_ns", "latency"),
    "cell_writes": ("cell_writes", "cell_writes"),
    "energy": ("energy_pj", "latency"),
}
STATUSES = ("optimal", "feasible", "infeasible", "timeout")
DECOMPOSITIONS = ("layer", "whole")
SCHEDULERS = ("list", "cpsat", "joint")


class VerificationError(PimoptError):
    """A method produced a schedule the verifier rejects (a bug in that method)."""


@dataclass
class Options:
    """Settings shared by every method of one solve."""

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


ChainMethod = Callable[[ChainProblem, Options], Outcome]


def _heuristic(fn: Callable[[ChainProblem], Chains]) -> ChainMethod:
    return lambda p, o: Outcome(fn(p))


ROUND_PAIR_LIMIT = 200_000_000  # slot-item pairs the round-based heuristics may evaluate


def _round_based(fn: Callable[[ChainProblem], Chains], name: str) -> ChainMethod:
    def run(p: ChainProblem, o: Options) -> Outcome:
        pairs = p.n_slots * p.n_items * max(p.capacity.values())
        if pairs > ROUND_PAIR_LIMIT:
            raise InputError(f"the {name} heuristic would evaluate {pairs} slot-item pairs "
                             f"(limit {ROUND_PAIR_LIMIT}): use 'granular' for layers this large")
        return Outcome(fn(p))
    return run


def _ls(p: ChainProblem, o: Options) -> Outcome:
    if p.n_items > DENSE_LIMIT:  # dense moves need n x n costs: use the granular search
        out = _granular(p, o)
        out.info["local_search"] = "granular (items above the dense limit)"
        return out
    start = assignment_chains(p)
    return Outcome(local_search(p, start, time_limit=o.time_limit, seed=o.seed))


def _granular(p: ChainProblem, o: Options) -> Outcome:
    start = None
    if p.n_slots * p.n_items * max(p.capacity.values()) <= ROUND_PAIR_LIMIT:
        start = assignment_chains(p)  # the better construction, where affordable
    return Outcome(granular_chains(p, time_limit=o.time_limit, seed=o.seed, initial=start),
                   info={"construction": "assignment" if start else "candidate matching"})


def _warm(p: ChainProblem, o: Options) -> Chains:
    if o.initial not in CHAIN_METHODS or o.initial in EXACT:
        raise InputError(f"initial = {o.initial!r} is invalid: a heuristic, one of "
                         f"{', '.join(m for m in CHAIN_METHODS if m not in EXACT)}")
    return CHAIN_METHODS[o.initial](p, Options(o.time_limit / 4, o.seed, o.workers)).chains


def _exact(kind: str) -> ChainMethod:
    def run(p: ChainProblem, o: Options) -> Outcome:
        warm = _warm(p, o)
        if kind == "cpsat":
            out = solve_cpsat(p, time_limit=o.time_limit, seed=o.seed, workers=o.workers,
                              hint=warm)
        else:
            out = solve_milp(p, solver=kind, time_limit=o.time_limit, warm=warm)
        info = dict(out.info, warm_start=o.initial, warm_objective=p.evaluate(warm))
        if out.chains is None or p.evaluate(out.chains) > p.evaluate(warm):
            # no solution in time (or a worse one): the warm start stands
            return Outcome(warm, "feasible", out.bound, dict(info, used="warm start"))
        return Outcome(out.chains, out.status, out.bound, info)
    return run


def _relax(p: ChainProblem, o: Options) -> Outcome:
    info: dict[str, list[float]] = {}
    return Outcome(relaxation_chains(p, time_limit=o.time_limit, seed=o.seed, info=info),
                   info=dict(info))


def _lns(p: ChainProblem, o: Options) -> Outcome:
    t0 = time.perf_counter()
    warm = _warm(p, o)
    info: dict[str, Any] = {"warm_start": o.initial, "warm_objective": p.evaluate(warm)}
    left = max(0.5, o.time_limit - (time.perf_counter() - t0))
    chains = lns_chains(p, warm, time_limit=left, seed=o.seed, workers=o.workers, info=info)
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
METHODS: tuple[str, ...] = ("naive", *CHAIN_METHODS)


@dataclass
class Result:
    """A verified solution and everything needed to report it (DESIGN section 5).

    Attributes
    ----------
    method, objective_name, status
        What ran, what is reported as objective, and how it ended.
    objective
        The objective recomputed from the solution (verifier and mapping metrics).
    bound, gap
        Best valid lower bound known for the objective (``None`` if none) and
        ``(objective - bound) / objective``.
    runtime_s, seed, versions
        Wall time of the whole solve (verification included), seed, versions.
    mapping, schedule, report
        The solution and the verifier's report (always ``ok``).
    objectives
        The three mapping objectives (programming, critical path, cell writes).
    """

    method: str
    objective_name: str
    status: str
    objective: float
    bound: float | None
    gap: float | None
    runtime_s: float
    seed: int
    versions: dict[str, str]
    mapping: Mapping
    schedule: Schedule
    report: Report
    objectives: dict[str, int] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def metrics(self) -> dict[str, float]:
        """Metrics recomputed by the verifier plus the mapping objectives."""
        return _metrics(self.report, self.objectives)

    def to_json(self, inst: Instance) -> dict[str, Any]:
        """The content of ``metrics.json``."""
        return {
            "method": self.method, "objective_name": self.objective_name,
            "status": self.status, "objective": self.objective, "bound": self.bound,
            "gap": self.gap, "runtime_s": self.runtime_s, "seed": self.seed,
            "options": self.options, "versions": self.versions,
            "instance": {"name": inst.network.name, "sha256": inst.content_hash(),
                         "network_sha256": inst.network.content_hash(),
                         "source": inst.network.source},
            "architecture": inst.arch.to_dict(),
            "blocks": {"total": inst.n_blocks, "nonzero": inst.n_nonzero,
                       "zero": inst.n_blocks - inst.n_nonzero,
                       "distinct_nonzero_patterns": inst.n_distinct_nonzero,
                       "reused_patterns": inst.n_nonzero - inst.n_distinct_nonzero,
                       **reuse_counts(inst, self.mapping, self.schedule)},
            "verification": {"verified": self.report.ok,
                             "violations": [str(v) for v in self.report.violations]},
            "metrics": self.metrics,
            "objectives": self.objectives,
            "info": self.info,
        }

    def dumps(self, inst: Instance) -> str:
        """``metrics.json`` text."""
        return json.dumps(self.to_json(inst), indent=1, default=str) + "\n"


def reuse_counts(inst: Instance, mapping: Mapping, sched: Schedule) -> dict[str, int]:
    """What pattern reuse saved: loads shared by blocks, loads with no write, writes saved.

    ``loads``: loads in the mapping; ``blocks_sharing_a_load``: non-zero blocks
    served by a load another block of the same pattern also uses;
    ``loads_already_resident``: loads whose pattern was still in the slot
    (within or across layers), so no write was needed; ``slot_writes``: writes
    in the schedule; ``writes_saved``: non-zero blocks minus slot writes.
    """
    loads = len(mapping.loads(inst))
    writes = int(sched.write_op.size)
    return {"loads": loads, "blocks_sharing_a_load": inst.n_nonzero - loads,
            "loads_already_resident": loads - writes, "slot_writes": writes,
            "writes_saved": inst.n_nonzero - writes}


def _metrics(report: Report, objectives: dict[str, int]) -> dict[str, float]:
    """The verifier's metrics and the critical-path programming latency (ns)."""
    return {**report.metrics,
            "critical_path_ns": objectives.get("critical_path_ps", 0) / 1000.0}


# ---------------------------------------------------------------------- problems
@dataclass
class LayerItems:
    """The items (distinct non-zero patterns) of one layer and the blocks each serves."""

    layer: int
    blocks: NDArray[np.int64]  # non-zero blocks of the layer
    item_of_block: NDArray[np.int64]  # item index (within the layer) of each block
    patterns: NDArray[np.uint8]  # (items, ou_rows, ou_cols)


def layer_items(inst: Instance, reuse: bool = True) -> list[LayerItems]:
    """Items of every layer that has non-zero blocks, in layer order.

    With ``reuse`` the blocks of a layer with identical patterns are one item
    (one load serves them all); without it every block is an item of its own.
    """
    out = []
    nz = inst.nonzero_blocks
    for layer in range(len(inst.network.layers)):
        blocks = nz[inst.block_layer[nz] == layer].astype(np.int64)
        if blocks.size == 0:
            continue
        if not reuse:
            out.append(LayerItems(layer, blocks, np.arange(blocks.size, dtype=np.int64),
                                  inst.patterns[blocks]))
            continue
        _, first, inv = np.unique(inst.pattern_id[blocks], return_index=True,
                                     return_inverse=True)
        out.append(LayerItems(layer, blocks, inv.ravel().astype(np.int64),
                              inst.patterns[blocks[first]]))
    return out


def chains_to_mapping(inst: Instance, layers: list[LayerItems],
                      per_layer: list[Chains]) -> Mapping:
    """Turn per-layer chains (item indices) into a mapping; positions continue across layers."""
    spc = inst.arch.slots_per_crossbar
    pos = np.zeros(inst.arch.total_slots, dtype=np.int64)
    rows: list[tuple[int, int, int, int]] = []
    for li, chains in zip(layers, per_layer, strict=True):
        blocks_of: list[list[int]] = [[] for _ in range(len(li.patterns))]
        for b, it in zip(li.blocks.tolist(), li.item_of_block.tolist(), strict=True):
            blocks_of[it].append(b)
        for g, chain in enumerate(chains):
            xb, slot = divmod(g, spc)
            for item in chain:
                p = int(pos[g])
                rows.extend((b, xb, slot, p) for b in blocks_of[item])
                pos[g] += 1
    arr = np.array(rows, dtype=np.int64).reshape(-1, 4)
    return Mapping(block=arr[:, 0], crossbar=arr[:, 1], slot=arr[:, 2], position=arr[:, 3])


def _split(chains: Chains, sizes: list[int], offsets: list[int]) -> list[Chains]:
    """Split whole-network chains (global item ids) into per-layer chains (local ids)."""
    out: list[Chains] = []
    for off, size in zip(offsets, sizes, strict=True):
        out.append([[v - off for v in ch if off <= v < off + size] for ch in chains])
    return out


def _map(inst: Instance, method: str, metric: str, opts: Options, decomposition: str,
         info: dict[str, Any], reuse: bool = True) -> tuple[Mapping, str, float | None, int]:
    """Run a chain method; returns (mapping, status, bound of the method, claimed cost)."""
    layers = layer_items(inst, reuse)
    arch = inst.arch
    s = arch.total_slots
    total_items = sum(len(li.patterns) for li in layers)
    fn = CHAIN_METHODS[method]
    if decomposition == "whole":
        items = np.concatenate([li.patterns for li in layers])
        lay = np.concatenate([np.full(len(li.patterns), li.layer) for li in layers])
        cap = {li.layer: min_rounds(len(li.patterns), s) for li in layers}
        p = ChainProblem(arch, np.zeros((s, arch.ou_rows, arch.ou_cols), np.uint8), items, lay,
                         cap, metric)
        out = fn(p, opts)
        p.check(out.chains)
        sizes = [len(li.patterns) for li in layers]
        offsets = list(np.cumsum([0, *sizes[:-1]]))
        info["layers"] = [{"status": out.status, "bound": out.bound, **out.info}]
        return (chains_to_mapping(inst, layers, _split(out.chains, sizes, offsets)),
                out.status, out.bound, p.evaluate(out.chains))
    starts = np.zeros((s, arch.ou_rows, arch.ou_cols), np.uint8)
    per_layer: list[Chains] = []
    claimed = 0
    info["layers"] = []
    for li in layers:
        n = len(li.patterns)
        p = ChainProblem(arch, starts, li.patterns, np.zeros(n, np.int64),
                         {0: min_rounds(n, s)}, metric)
        share = Options(max(1.0, opts.time_limit * n / total_items), opts.seed, opts.workers,
                        opts.initial)
        t0 = time.perf_counter()
        out = fn(p, share)
        p.check(out.chains)
        cost = p.evaluate(out.chains)
        claimed += cost
        info["layers"].append({"layer": inst.network.layers[li.layer].name, "items": n,
                               "cost": cost, "status": out.status, "bound": out.bound,
                               "seconds": time.perf_counter() - t0, **out.info})
        per_layer.append(out.chains)
        starts = p.final_patterns(out.chains)
    # per-layer optimality is conditional on the starts: never global optimality
    return chains_to_mapping(inst, layers, per_layer), "feasible", None, claimed


_BOUND_CACHE: dict[tuple[str, str], float | None] = {}


def instance_bound(inst: Instance, metric: str) -> float | None:
    """Best valid bound on the total mapping objective (layered AP), or ``None`` if too large.

    Cached per instance content and metric (it does not depend on the method).
    """
    key = (inst.content_hash(), metric)
    if key not in _BOUND_CACHE:
        _BOUND_CACHE[key] = _instance_bound(inst, metric)
    return _BOUND_CACHE[key]


def _instance_bound(inst: Instance, metric: str) -> float | None:
    layers = layer_items(inst)
    arch = inst.arch
    s = arch.total_slots
    problems, earlier = [], []
    prev = [np.zeros((1, arch.ou_rows, arch.ou_cols), np.uint8)]
    for li in layers:
        n = len(li.patterns)
        problems.append(ChainProblem(arch, np.zeros((s, arch.ou_rows, arch.ou_cols), np.uint8),
                                     li.patterns, np.zeros(n, np.int64),
                                     {0: min_rounds(n, s)}, metric))
        earlier.append(np.concatenate(prev))
        prev.append(li.patterns)
    return layered_ap_bound(problems, earlier)


def solve(inst: Instance, method: str = "naive", *, objective: str = "makespan",
          time_limit: float = 60.0, seed: int = 0, workers: int = 2, initial: str = "ls",
          decomposition: str = "layer", granularity: str = "slot", overlap: bool = True,
          scheduler: str = "list", functional_samples: int | None = 16,
          bound: bool = True, reuse: bool = True, split: bool = False) -> Result:
    """Map, schedule and verify an instance with one method.

    Parameters
    ----------
    inst
        The instance.
    method
        ``naive`` or a chain method: ``sorted``, ``greedy``, ``assignment``, ``ls``
        (assignment + local search; granular above the dense limit), ``granular``
        (candidate-based, for large layers), ``relax`` (heads chosen by the sparse
        assignment LP, then rounds and granular moves), ``lns`` (CP-SAT large-neighbourhood
        search from ``initial``), ``cpsat``, ``milp-cbc``, ``milp-highs``.
    objective
        What the result reports as objective: ``makespan``, ``programming``,
        ``critical_path``, ``cell_writes`` or ``energy``. Methods minimise the
        total programming latency, or cell writes for ``cell_writes``.
    time_limit
        Seconds for time-limited methods (split over layers by item count).
    seed, workers
        Seed of every randomised step; CP-SAT workers.
    initial
        Heuristic that warm-starts the exact methods.
    decomposition
        ``layer`` (default) or ``whole`` (one model for the network).
    granularity, overlap
        List-scheduler options (see :func:`pimopt.scheduler.list_schedule`).
    scheduler
        ``list`` (default) or ``cpsat``: the CP-SAT model re-times the list
        schedule's operations for minimum makespan (``time_limit`` seconds).
    functional_samples
        Input vectors per layer in the bit-exact functional check (``None``: all).
    bound
        Compute the layered assignment bound (skipped above the dense limit).
    reuse
        Pattern reuse: blocks of a layer with identical patterns share one load
        (default). Across layers reuse is automatic: a load whose pattern is
        still resident in its slot needs no write, and the mapping methods see
        it as a free transition. ``False``: every block gets a load of its own
        (the bound then no longer covers the run and is not reported).
    split
        Input splitting (:mod:`pimopt.split`): after mapping, move the second
        half of bottleneck computes' inputs to new loads on other crossbars
        while the list-scheduled makespan drops (up to ``time_limit`` seconds).

    Returns
    -------
    Result
        Only returned when the verifier accepts the schedule and the method's
        claimed cost equals the cost recomputed from the schedule.
    """
    if method not in METHODS:
        raise InputError(f"method {method!r} is unknown: one of {', '.join(METHODS)}")
    if objective not in OBJECTIVES:
        raise InputError(f"objective {objective!r} is unknown: one of {', '.join(OBJECTIVES)}")
    if decomposition not in DECOMPOSITIONS:
        raise InputError(f"decomposition {decomposition!r} is unknown: one of "
                         f"{DECOMPOSITIONS}")
    if scheduler not in SCHEDULERS:
        raise InputError(f"scheduler {scheduler!r} is unknown: one of {', '.join(SCHEDULERS)}")
    if scheduler == "joint" and granularity != "slot":
        raise InputError("scheduler 'joint' needs granularity 'slot'")
    if scheduler == "joint" and split:
        raise InputError("scheduler 'joint' takes whole blocks: use split=False")
    if not time_limit > 0:
        raise InputError(f"time_limit = {time_limit!r} is invalid: a positive number of seconds")
    if inst.n_nonzero == 0:
        raise InputError(f"network {inst.network.name!r} has only all-zero blocks: "
                         "nothing to program or compute")
    metric_name, chain_metric = OBJECTIVES[objective]
    opts = Options(time_limit, seed, workers, initial)
    info: dict[str, Any] = {}
    t0 = time.perf_counter()
    claimed: int | None = None
    method_bound: float | None = None
    balance = objective == "critical_path" and method != "naive"
    if balance:  # half the time maps for the total, half balances the rounds
        opts = Options(time_limit / 2, seed, workers, initial)
    if method == "naive":
        mapping, status = naive_mapping(inst), "feasible"
    else:
        mapping, status, method_bound, claimed = _map(inst, method, chain_metric, opts,
                                                      decomposition, info, reuse)
    if balance:
        from pimopt.balance import balance_rounds

        mapping, info["balance"] = balance_rounds(inst, mapping, time_limit=time_limit / 2,
                                                  seed=seed)
        claimed = None  # loads moved: the method's total no longer applies
        method_bound = None  # and its bound was on the total, not on the critical path
    if objective not in ("programming", "cell_writes") or granularity != "slot":
        # a method's proven optimum is for the mapping objective it minimised (slot
        # operations); for any other objective only a bound below can prove optimality
        status = "feasible"
    sched = list_schedule(inst, mapping, granularity=granularity, overlap=overlap,
                          method=method)
    if split:
        from pimopt.split import split_inputs

        so = split_inputs(inst, mapping, granularity=granularity, overlap=overlap,
                          time_limit=time_limit, method=method)
        info["split"] = so.info
        if so.info["splits"]:
            mapping, sched = so.mapping, so.schedule
            claimed = None  # extra loads: the method's programming cost no longer applies
            status = "feasible"
    if scheduler in ("cpsat", "joint"):
        from pimopt.cpsat_schedule import cpsat_schedule

        share = time_limit if scheduler == "cpsat" else time_limit / 3
        timed = cpsat_schedule(inst, sched, time_limit=share, seed=seed, workers=workers)
        info["scheduler"] = {"status": timed.status, "makespan_ps": timed.makespan_ps,
                             "bound_ps": timed.bound_ps, "list_makespan_ps": sched.makespan_ps(),
                             **timed.info}
        sched = timed.schedule
    if scheduler == "joint":
        from pimopt.joint import joint_schedule

        # the two-stage solution (this mapping, CP-SAT timing) is the joint model's hint
        two_stage = sched.makespan_ps()
        jo = joint_schedule(inst, mapping, sched, time_limit=time_limit - share, seed=seed,
                            workers=workers)
        info["joint"] = {"status": jo.status, "makespan_ps": jo.makespan_ps,
                         "bound_ps": jo.bound_ps, "two_stage_makespan_ps": two_stage,
                         "two_stage_loss": (two_stage - jo.makespan_ps) / two_stage
                         if two_stage else 0.0, **jo.info}
        mapping, sched = jo.mapping, jo.schedule
        claimed = None  # the mapping changed: the method's programming cost no longer applies
    report = verify(inst, sched, functional_samples=functional_samples, seed=seed)
    if not report.ok:
        raise VerificationError(f"method {method!r} produced an invalid schedule: "
                                f"{report.first()}")
    objs = mapping_objectives(inst, mapping)
    if report.metrics["makespan_ns"] * 1000 != sched.makespan_ps():
        raise VerificationError("the scheduler's makespan differs from the verifier's")
    if claimed is not None:
        recomputed = objs["programming_ps"] if chain_metric == "latency" else objs["cell_writes"]
        if claimed != recomputed:
            raise VerificationError(f"method {method!r} claims cost {claimed}, the mapping "
                                    f"costs {recomputed}")
    if granularity == "slot" and objs["programming_ps"] != round(
            report.metrics["programming_ns"] * 1000):
        raise VerificationError("mapping programming cost differs from the schedule's")
    value = float(_metrics(report, objs)[metric_name])
    best_bound: float | None = None
    if objective in ("programming", "cell_writes", "critical_path"):
        unit = 1.0 if objective == "cell_writes" else 1000.0
        candidates = [b for b in (method_bound,) if b is not None]
        if bound and reuse:  # the instance bound assumes shared loads are allowed
            ib = instance_bound(inst, chain_metric)
            if ib is not None:
                candidates.append(ib)
        if objective == "critical_path":
            from pimopt.balance import critical_path_bound

            candidates = [critical_path_bound(b, inst.arch.crossbars) for b in candidates]
        if candidates:
            best_bound = max(candidates) / unit
            if value <= best_bound + 1e-9:
                status = "optimal"
    gap = None if best_bound is None else (
        (value - best_bound) / value if value > 0 else 0.0)
    return Result(method=method, objective_name=objective, status=status, objective=value,
                  bound=best_bound, gap=gap, runtime_s=time.perf_counter() - t0, seed=seed,
                  versions=versions(), mapping=mapping, schedule=sched, report=report,
                  objectives=objs,
                  options={"time_limit": time_limit, "workers": workers, "initial": initial,
                           "decomposition": decomposition, "granularity": granularity,
                           "overlap": overlap, "scheduler": scheduler,
                           "functional_samples": functional_samples, "reuse": reuse,
                           "split": split},
                  info=info)
