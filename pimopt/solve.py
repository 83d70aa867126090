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
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from pimopt import interrupt
from pimopt.baselines import naive_mapping
from pimopt.bounds import layered_ap_bound
from pimopt.errors import InputError, Refused, VerificationError
from pimopt.exact import MIN_SOLVER_S, solve_cpsat, solve_milp
from pimopt.heuristics import (
    assignment_chains,
    granular_chains,
    greedy_chains,
    local_search,
    relaxation_chains,
    sorted_chains,
)
from pimopt.instance import Instance
from pimopt.interrupt import seconds_left
from pimopt.latency import pair_costs, write_floor
from pimopt.layout import Layout, laid_out, layout_info, make_layout
from pimopt.lns import lns_chains
from pimopt.makespan.bound import MakespanBound, makespan_bound, with_proven_programming
from pimopt.mapping import Mapping
from pimopt.objectives import OBJECTIVES, mapping_objectives
from pimopt.options import DEFAULT_METHOD, DEFAULTS, Options
from pimopt.problem import DENSE_LIMIT, ChainProblem, Chains, min_rounds
from pimopt.provenance import versions
from pimopt.schedule import Schedule
from pimopt.scheduler import PREFETCH_OPS_LIMIT, list_schedule
from pimopt.stop import (
    BOUND_CAP_S,
    BOUND_SHARE,
    CANDIDATES_PER_BLOCK_S,
    LAYOUT_CAP_S,
    LAYOUT_SHARE,
    MAKESPAN_MAP_PER_BLOCK_S,
    MAP_OVERHEAD_PER_BLOCK_S,
    WARM_SHARE,
    Deadline,
    Stage,
)
from pimopt.verify import Report, verify

log = logging.getLogger(__name__)

class Status(StrEnum):
    """How a solve ended (str-valued: compares and serialises as its text)."""

    OPTIMAL = "optimal"  # the objective equals a valid lower bound (proven)
    FEASIBLE = "feasible"  # verified, not proven optimal
    INFEASIBLE = "infeasible"
    TIMEOUT = "timeout"  # no solution within the time limit
    INTERRUPTED = "interrupted"  # stopped by Ctrl-C: the best solution so far, verified


STATUSES = tuple(s.value for s in Status)


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
        end = time.perf_counter() + o.time_limit  # the warm start comes out of the budget
        warm = _warm(p, o)  # the heuristics keep the round limit: a good, feasible start
        if interrupt.requested():  # Ctrl-C: no model is built, the warm start stands
            return Outcome(warm, "feasible", None, {"warm_start": o.initial,
                                                    "used": "warm start (interrupted)"})
        # the model itself has no round limit, so its optimum and bound are those of the
        # problem as DESIGN states it, not of the heuristics' restriction
        true = p.uncapped()
        left = max(MIN_SOLVER_S, end - time.perf_counter())
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
METHODS: tuple[str, ...] = ("naive", *CHAIN_METHODS, "balanced")


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
    options, info
        The solve's options; what each stage reported (``info["aims_at"]`` says
        what the mapping minimised, ``info["makespan_bound"]`` the bound's terms).
    stages
        Every stage run (bound, map, improve, schedule, retime, verify) with its
        budget, time taken and whether the time limit cut it short.
    makespan_bound_ns
        The makespan lower bound (:mod:`pimopt.makespan.bound`), reported with
        every result unless ``bound=False``; ``metrics`` gives the makespan's gap to it.
    instance
        The instance solved (for :meth:`summary`, :meth:`to_json`, :meth:`dumps`).
    """

    method: str
    objective_name: str
    status: Status
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
    stages: list[Stage] = field(default_factory=list)
    makespan_bound_ns: float | None = None
    instance: Instance | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.status = Status(self.status)

    @property
    def unit(self) -> str:
        """The objective's unit."""
        return {"cell_writes": "cells", "energy": "pJ"}.get(self.objective_name, "ns")

    def __repr__(self) -> str:
        unit = self.unit
        bound = "None" if self.bound is None else f"{self.bound:g} {unit}"
        gap = "None" if self.gap is None else f"{100 * self.gap:.2f}%"
        return (f"Result(method={self.method!r}, status={self.status.value!r}, "
                f"{self.objective_name}={self.objective:g} {unit}, bound={bound}, gap={gap}, "
                f"runtime={self.runtime_s:.2f} s)")

    def _inst(self, inst: Instance | None) -> Instance:
        got = inst if inst is not None else self.instance
        if got is None:
            raise InputError("this Result carries no instance: pass the instance solved")
        return got

    def _work(self, inst: Instance) -> Instance:
        """The instance whose blocks the mapping names (``inst`` after the layout)."""
        return laid_out(inst, self.mapping.layout)

    def summary(self, inst: Instance | None = None) -> str:
        """A readable table of the result: every number with its unit."""
        inst = self._work(self._inst(inst))
        m = self.metrics
        ru = reuse_counts(inst, self.mapping, self.schedule)
        a = inst.arch

        def pct(x: float) -> str:  # small shares keep enough digits not to read as 0
            return f"{100 * x:.3g}%" if 0 < abs(x) < 0.001 else f"{100 * x:.1f}%"

        unit = self.unit
        obj = (f"{self.objective:,.2f} {unit}" if unit != "cells"
               else f"{int(self.objective):,} {unit}")
        rows = [
            ("instance", f"{inst.network.name} ({inst.network.source or 'no source recorded'})"),
            ("arch", f"{a.name}: {a.crossbars} crossbars x {a.slots_per_crossbar} OU slots of "
                     f"{a.ou_rows}x{a.ou_cols} cells"),
            ("method", f"{self.method} (status {self.status.value}, {self.runtime_s:.2f} s; "
                       f"aimed at {self.info.get('aims_at', '?')})"),
            ("blocks", f"{inst.n_blocks:,} total, {inst.n_blocks - inst.n_nonzero:,} zero, "
                       f"{inst.n_distinct_nonzero:,} distinct non-zero patterns"
             + ("" if self.mapping.layout is None else
                f" after layout {self.mapping.layout.method!r} (before: "
                f"{self.info['layout']['before']['zero']:,} zero, "
                f"{self.info['layout']['before']['distinct_nonzero']:,} distinct)")),
            ("reuse", f"{ru['blocks_sharing_a_load']:,} blocks share a load, "
                      f"{ru['loads_already_resident']:,} loads already resident: "
                      f"{ru['writes_saved']:,} slot writes saved ({ru['slot_writes']:,} made"
                      + (f"; {ru['split_loads']:,} extra loads from input splitting)"
                         if ru["split_loads"] else ")")),
            ("makespan", f"{m['makespan_ns']:,.2f} ns (inference latency)"
             + ("" if self.makespan_bound_ns is None else
                f"; bound {self.makespan_bound_ns:,.2f} ns, gap {pct(m['makespan_gap'])} "
                "(docs/bounds.md section 6)")),
            ("programming", f"{m['programming_ns']:,.2f} ns in {int(m['program_ops']):,} "
                            f"program operations; exposed (no OU computing) "
                            f"{m['programming_exposed_ns']:,.2f} ns = "
                            f"{pct(m['programming_exposed_share'])} of the makespan"),
            ("writes", f"{int(m['cell_writes']):,} cells changed in {int(m['write_passes']):,} "
                       f"write passes (one row segment, one direction each); energy "
                       f"{m['energy_pj']:,.1f} pJ"),
            ("critical path", f"{m['critical_path_ns']:,.2f} ns (programming round by round, "
                              "crossbars in parallel)"),
            ("objective", f"{self.objective_name} = {obj}"
             + ("" if self.bound is None else
                f", bound {self.bound:,.2f} {unit}, gap {pct(self.gap or 0.0)}")
             + ("" if self.objective_name != "makespan" else " (the makespan bound above)")),
            *self._search_rows(),
            ("stages", ", ".join(f"{st.name} {st.seconds:.2f} s"
                                 + (" (cut short)" if st.cut_short else "")
                                 for st in self.stages)),
            ("check", "schedule verified by replay (timing, capacity, write budget, "
                      "bit-exact outputs)" if self.report.ok else self.report.first()),
        ]
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)

    def _search_rows(self) -> list[tuple[str, str]]:
        """Summary rows for the candidates kept and the schedule-driven search, if any."""
        rows = []
        if "candidates_skipped" in self.info:
            rows.append(("candidates", f"skipped: {self.info['candidates_skipped']}"))
        cand = self.info.get("candidates")
        if cand:
            tried = ", ".join(f"{k} {v / 1000:,.2f} ns" for k, v in cand["makespan_ps"].items())
            rows.append(("candidates", f"{tried}; kept {cand['kept']}"))
        search = self.info.get("search", {})
        if "makespan_ps" in search:
            rows.append(("search", f"{search['evaluations']:,} schedules evaluated, makespan "
                                   f"{search['start_makespan_ps'] / 1000:,.2f} -> "
                                   f"{search['makespan_ps'] / 1000:,.2f} ns"))
        return rows

    @property
    def metrics(self) -> dict[str, float]:
        """Metrics recomputed by the verifier plus the mapping objectives and the
        makespan bound with the makespan's gap to it."""
        m = _metrics(self.report, self.objectives)
        if self.makespan_bound_ns is not None:
            mk = m["makespan_ns"]
            m["makespan_bound_ns"] = self.makespan_bound_ns
            m["makespan_gap"] = (mk - self.makespan_bound_ns) / mk if mk > 0 else 0.0
        return m

    def to_json(self, inst: Instance | None = None) -> dict[str, Any]:
        """The content of ``metrics.json`` (the instance defaults to the one solved;
        ``blocks`` counts the laid-out tiles, ``info["layout"]`` both)."""
        inst = self._inst(inst)
        work = self._work(inst)
        return {
            "method": self.method, "objective_name": self.objective_name,
            "objective_unit": self.unit,
            "status": self.status, "objective": self.objective, "bound": self.bound,
            "gap": self.gap, "runtime_s": self.runtime_s, "seed": self.seed,
            "options": self.options, "versions": self.versions,
            "instance": {"name": inst.network.name, "sha256": inst.content_hash(),
                         "network_sha256": inst.network.content_hash(),
                         "source": inst.network.source},
            "architecture": inst.arch.to_dict(),
            "blocks": {"total": work.n_blocks, "nonzero": work.n_nonzero,
                       "zero": work.n_blocks - work.n_nonzero,
                       "distinct_nonzero_patterns": work.n_distinct_nonzero,
                       "reused_patterns": work.n_nonzero - work.n_distinct_nonzero,
                       **reuse_counts(work, self.mapping, self.schedule)},
            "verification": {"verified": self.report.ok,
                             "violations": [str(v) for v in self.report.violations]},
            "metrics": self.metrics,
            "objectives": self.objectives,
            "stages": [st.to_dict() for st in self.stages],
            "info": self.info,
        }

    def dumps(self, inst: Instance | None = None) -> str:
        """``metrics.json`` text (the instance defaults to the one solved)."""
        return json.dumps(self.to_json(inst), indent=1, default=str) + "\n"


def reuse_counts(inst: Instance, mapping: Mapping, sched: Schedule) -> dict[str, int]:
    """What pattern reuse saved: loads shared by blocks, loads with no write, writes saved.

    ``loads``: loads in the mapping; ``split_loads``: mapping rows beyond one
    per non-zero block (input splitting gives a block a second load);
    ``blocks_sharing_a_load``: rows served by a load another row (a block of the
    same pattern) also uses; ``loads_already_resident``: loads whose pattern
    was still in the slot (within or across layers), so no write was needed;
    ``slot_writes``: writes in the schedule; ``writes_saved``: rows minus slot
    writes (one write per row is what no reuse would make). All are >= 0.
    """
    rows = len(mapping)
    loads = len(mapping.loads(inst))
    writes = int(sched.write_op.size)
    return {"loads": loads, "split_loads": rows - inst.n_nonzero,
            "blocks_sharing_a_load": rows - loads,
            "loads_already_resident": loads - writes, "slot_writes": writes,
            "writes_saved": rows - writes}


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
    n_slots = inst.arch.total_slots
    pos = np.zeros(n_slots, dtype=np.int64)
    parts: list[NDArray[np.int64]] = []
    for li, chains in zip(layers, per_layer, strict=True):
        # every item's slot and position, vectorised over the chains
        lengths = np.fromiter((len(c) for c in chains), dtype=np.int64, count=n_slots)
        flat = np.fromiter((v for c in chains for v in c), dtype=np.int64,
                           count=int(lengths.sum()))
        g = np.repeat(np.arange(n_slots, dtype=np.int64), lengths)
        within = np.arange(flat.size, dtype=np.int64) - np.repeat(np.cumsum(lengths) - lengths,
                                                                  lengths)
        item_slot = np.empty(len(li.patterns), dtype=np.int64)
        item_pos = np.empty(len(li.patterns), dtype=np.int64)
        item_slot[flat] = g
        item_pos[flat] = pos[g] + within
        pos += lengths
        slot, position = item_slot[li.item_of_block], item_pos[li.item_of_block]
        # rows slot by slot, position by position, a load's blocks in layer order
        order = np.lexsort((np.arange(li.blocks.size), position, slot))
        parts.append(np.stack([li.blocks[order], slot[order] // spc, slot[order] % spc,
                               position[order]], axis=1))
    arr = np.concatenate(parts) if parts else np.zeros((0, 4), dtype=np.int64)
    return Mapping(block=arr[:, 0], crossbar=arr[:, 1], slot=arr[:, 2], position=arr[:, 3])


def _split(chains: Chains, sizes: list[int], offsets: list[int]) -> list[Chains]:
    """Split whole-network chains (global item ids) into per-layer chains (local ids)."""
    out: list[Chains] = []
    for off, size in zip(offsets, sizes, strict=True):
        out.append([[v - off for v in ch if off <= v < off + size] for ch in chains])
    return out


def _map(inst: Instance, method: str, metric: str, opts: ChainOptions, decomposition: str,
         info: dict[str, Any], reuse: bool = True) -> tuple[Mapping, str, float | None, int]:
    """Run a chain method; returns (mapping, status, bound of the method, claimed cost).

    The methods get ``opts.time_limit`` minus the time this function itself
    takes around them (items, and the mapping built from the chains, estimated
    at :data:`MAP_OVERHEAD_PER_BLOCK_S`); with the layer decomposition each
    layer gets the time left in proportion to its share of the items left, so
    an overrun of one layer shortens the next ones instead of the limit.
    """
    t_start = time.perf_counter()
    deadline = t_start + opts.time_limit - MAP_OVERHEAD_PER_BLOCK_S * inst.n_nonzero
    layers = layer_items(inst, reuse)
    arch = inst.arch
    s = arch.total_slots
    fn = CHAIN_METHODS[method]
    if decomposition == "whole":
        opts = ChainOptions(max(seconds_left(deadline), 0.05), opts.seed, opts.workers,
                       opts.initial)
        items = np.concatenate([li.patterns for li in layers])
        lay = np.concatenate([np.full(len(li.patterns), li.layer) for li in layers])
        cap = {li.layer: min_rounds(len(li.patterns), s) for li in layers}
        p = ChainProblem(arch, np.zeros((s, arch.ou_rows, arch.ou_cols), np.uint8), items, lay,
                         cap, metric)
        out = fn(p, opts)
        # exact models solve the problem without the round limit (see _exact)
        p.check_solution(out.chains, method, round_limit=method not in EXACT_MODELS)
        sizes = [len(li.patterns) for li in layers]
        offsets = list(np.cumsum([0, *sizes[:-1]]))
        info["layers"] = [{"status": out.status, "bound": out.bound, **out.info}]
        return (chains_to_mapping(inst, layers, _split(out.chains, sizes, offsets)),
                out.status, out.bound, p.evaluate(out.chains))
    starts = np.zeros((s, arch.ou_rows, arch.ou_cols), np.uint8)
    per_layer: list[Chains] = []
    claimed = 0
    info["layers"] = []
    items_left = sum(len(li.patterns) for li in layers)
    for li in layers:
        n = len(li.patterns)
        p = ChainProblem(arch, starts, li.patterns, np.zeros(n, np.int64),
                         {0: min_rounds(n, s)}, metric)
        left = seconds_left(deadline)
        share = ChainOptions(max(left * n / items_left, 0.05), opts.seed, opts.workers,
                        opts.initial)
        items_left -= n
        t0 = time.perf_counter()
        out = fn(p, share)
        p.check_solution(out.chains, method, round_limit=method not in EXACT_MODELS)
        cost = p.evaluate(out.chains)
        claimed += cost
        info["layers"].append({"layer": inst.network.layers[li.layer].name, "items": n,
                               "cost": cost, "status": out.status, "bound": out.bound,
                               "seconds": time.perf_counter() - t0, **out.info})
        per_layer.append(out.chains)
        starts = p.final_patterns(out.chains)
    # per-layer optimality is conditional on the starts: never global optimality
    return chains_to_mapping(inst, layers, per_layer), "feasible", None, claimed


@dataclass(frozen=True)
class InstanceBound:
    """The layered assignment bound on a mapping objective (:func:`instance_bound`).

    Attributes
    ----------
    value
        The bound (ps for latency, cells for cell writes).
    complete
        Every layer got its assignment bound; ``False``: some layers kept the
        segment-distance floor (too large, or the time limit ran out).
    seconds
        Time it took to compute.
    """

    value: float
    complete: bool
    seconds: float


_BOUND_CACHE: dict[tuple[str, str], InstanceBound] = {}


def instance_bound(inst: Instance, metric: str, time_limit: float | None = None,
                   source: dict[str, str] | None = None) -> InstanceBound:
    """Best valid bound on the total mapping objective (layered assignment bound).

    Every layer gets at least a floor (docs/bounds.md), so there is a bound at
    every size. Cached per instance content and metric, in memory and on disk
    (:mod:`pimopt.cache`): it does not depend on the method. A complete bound
    is reused as is; an incomplete one only by runs with no more time for it.

    Parameters
    ----------
    inst
        The instance.
    metric
        ``"latency"`` (ps) or ``"cell_writes"``.
    time_limit
        Seconds it may take (``None``: no limit).
    source
        If given, ``source["instance"]`` says where the bound came from
        (``"cache"`` or ``"computed"``).
    """
    if source is None:
        source = {}
    key = inst.content_hash()
    bound, source["instance"] = _cached_bound(
        f"instance-bound-{metric}", key, _BOUND_CACHE, (key, metric), time_limit,
        lambda: _computed_instance_bound(inst, metric, time_limit),
        lambda rec: InstanceBound(float(rec["value"]), bool(rec["complete"]),
                                  float(rec["seconds"])),
        lambda b: {"value": b.value, "complete": b.complete, "seconds": b.seconds},
        lambda b: b.value)
    return bound


def _computed_instance_bound(inst: Instance, metric: str,
                             time_limit: float | None) -> InstanceBound:
    t0 = time.perf_counter()
    report: dict[str, Any] = {}
    value = _instance_bound(inst, metric, None if time_limit is None else t0 + time_limit,
                            report)
    return InstanceBound(value, bool(report["complete"]), time.perf_counter() - t0)


BoundT = TypeVar("BoundT", InstanceBound, MakespanBound)


def _cached_bound(name: str, key: str, memo: dict[Any, BoundT], memo_key: Any,
                  time_limit: float | None, compute: Callable[[], BoundT],
                  from_record: Callable[[dict[str, Any]], BoundT],
                  to_record: Callable[[BoundT], dict[str, Any]],
                  value: Callable[[BoundT], float]) -> tuple[BoundT, str]:
    """A bound from memory, the disk cache (:mod:`pimopt.cache`) or ``compute()``, and
    where it came from (``"cache"`` or ``"computed"``).

    A complete cached bound is reused as is; a cut one only by runs with no more time
    for it (``time_limit`` <= the seconds it took). A new bound weaker than the cached
    one leaves the cached. A bound cut by Ctrl-C is not stored: it is not what its time
    can give.
    """
    from pimopt import cache

    old = memo.get(memo_key)
    if old is None:
        rec = cache.load(name, key)
        if rec is not None:
            old = memo[memo_key] = from_record(rec)
    if old is not None and (old.complete or (time_limit is not None
                                             and time_limit <= old.seconds)):
        log.info("%s from the cache: %g", name, value(old))
        return old, "cache"
    new = compute()
    if old is not None and value(new) < value(old):
        return old, "cache"
    if new.complete or not interrupt.requested():
        memo[memo_key] = new
        cache.store(name, key, to_record(new))
    return new, "computed"


def _instance_bound(inst: Instance, metric: str, deadline: float | None,
                    report: dict[str, Any]) -> float:
    layers = layer_items(inst)
    arch = inst.arch
    s = arch.total_slots
    zero = np.zeros((1, arch.ou_rows, arch.ou_cols), np.uint8)
    # floors: every distinct pattern of the network is a possible source, so a segment
    # unique among them is unique among any item's real sources
    nz = inst.nonzero_blocks
    pids, first = np.unique(inst.pattern_id[nz], return_index=True)
    floor_end = None if deadline is None else time.perf_counter() + 0.3 * max(
        0.0, seconds_left(deadline))
    floor_of = np.zeros(int(pids.max(initial=-1)) + 1, dtype=np.int64)  # by pattern id
    floor_of[pids] = write_floor(arch, inst.patterns[nz[first]], metric, floor_end)
    seen = np.zeros(floor_of.size, dtype=bool)  # patterns an earlier layer has
    problems, earlier, floors = [], [], []
    prev = [zero]
    for li in layers:
        n = len(li.patterns)
        # no round limit: the sparse bound's chain-count row must hold for the problem
        # as DESIGN states it (any number of a layer's loads per slot)
        problems.append(ChainProblem(arch, np.zeros((s, arch.ou_rows, arch.ou_cols), np.uint8),
                                     li.patterns, np.zeros(n, np.int64), {0: n}, metric))
        earlier.append(np.concatenate(prev))
        item_pid = np.zeros(n, dtype=np.int64)
        item_pid[li.item_of_block] = inst.pattern_id[li.blocks]
        cost0 = pair_costs(arch, np.repeat(zero, n, axis=0), li.patterns)
        from_zero = cost0.latency_ps if metric == "latency" else cost0.cell_writes
        # an earlier layer's equal pattern may stay loaded: that item's floor is 0
        floor = np.where(seen[item_pid], 0, floor_of[item_pid])
        floors.append(np.minimum(floor, np.asarray(from_zero, dtype=np.int64)))
        seen[item_pid] = True
        prev.append(li.patterns)
    value = layered_ap_bound(problems, earlier, floors=floors, deadline=deadline, report=report)
    assert value is not None  # every layer has a floor
    return value


# ---------------------------------------------------------------------- stages
BASELINES = ("naive", "sorted")


def _check_arguments(inst: Instance, method: str, opts: Options) -> None:
    """What the option schema cannot check alone: the method, the instance, a layout."""
    if method not in METHODS:
        raise InputError(f"method {method!r} is unknown: one of {', '.join(METHODS)}")
    if isinstance(opts.layout, Layout):
        opts.layout.check(inst.network)
    if inst.n_nonzero == 0:
        raise InputError(f"network {inst.network.name!r} has only all-zero blocks: "
                         "nothing to program or compute")


def _check_size(inst: Instance, method: str, decomposition: str, reuse: bool) -> None:
    """Refuse, before any work, a method whose model would exceed its size limit.

    The limits are those the methods enforce (round-based heuristics: slot-item
    pairs; exact models: arcs, at least ``n * (min(S, n) + n)`` after
    interchangeable slots are merged); checked on every problem the mapping
    stage would build, so a run is never refused after minutes on earlier layers.
    """
    from pimopt.exact import EXACT_ARC_LIMIT

    layers = layer_items(inst, reuse)
    sizes = [len(li.patterns) for li in layers]
    s = inst.arch.total_slots
    problems = [("the whole network", sum(sizes))] if decomposition == "whole" else [
        (f"layer {inst.network.layers[li.layer].name!r}", n)
        for li, n in zip(layers, sizes, strict=True)]
    for name, n in problems:
        if method in ("greedy", "assignment"):
            # whole: each layer keeps its own round limit; the largest layer decides
            cap = max(min_rounds(k, s) for k in sizes) if decomposition == "whole" \
                else min_rounds(n, s)
            pairs = s * n * cap
            if pairs > ROUND_PAIR_LIMIT:
                raise Refused(f"method {method!r} would evaluate {pairs} slot-item pairs on "
                              f"{name} ({n} items, {s} slots), more than {ROUND_PAIR_LIMIT}: "
                              "use 'granular' or 'balanced' for layers this large")
        if method in EXACT_MODELS:
            arcs = n * (min(s, n) + n)
            if arcs > EXACT_ARC_LIMIT:
                raise Refused(f"method {method!r} would build a model of at least {arcs} "
                              f"arcs on {name} ({n} items), more than {EXACT_ARC_LIMIT}: "
                              "use a heuristic ('lns' keeps exact moves on small windows)")


def _resolve_decomposition(inst: Instance, method: str, decomposition: str, reuse: bool
                           ) -> str:
    """``auto``: one whole-network model for the exact methods where it fits their size
    limit (the only way they prove a network optimum), else one problem per layer."""
    from pimopt.exact import EXACT_ARC_LIMIT

    if decomposition != "auto":
        return decomposition
    if method not in EXACT_MODELS or not reuse:  # without reuse no bound covers the run
        return "layer"
    n = sum(len(li.patterns) for li in layer_items(inst, reuse))
    return "whole" if n * (min(inst.arch.total_slots, n) + n) <= EXACT_ARC_LIMIT else "layer"


def _aims_at(method: str, objective: str, decomposition: str) -> str:
    """What the mapping stage minimises for this method and objective (reported in info)."""
    if method == "naive":
        return "nothing (baseline)"
    if method == "sorted":
        return "programming (weight-sorting baseline)"
    if method == "balanced" or (objective == "makespan" and decomposition == "layer"):
        return "makespan"
    if objective == "makespan" and method in EXACT_MODELS:
        return ("programming (whole-network exact model: its proven optimum raises the "
                "makespan bound)")
    if objective == "makespan":
        return "programming (decomposition 'whole' has no makespan-aware model)"
    return "cell_writes" if objective == "cell_writes" else "programming"


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


def _map_stage(inst: Instance, method: str, metric: str, opts: ChainOptions, decomposition: str,
               reuse: bool, makespan: bool, info: dict[str, Any],
               schedule: Callable[[Mapping], Schedule] | None) -> MapOutput:
    """Map: a baseline, the makespan-aware pipeline, or a chain method on chain problems.

    With ``schedule`` (the makespan objective, a method other than the baselines)
    the weight-sorted and naive mappings are made and scheduled first (linear in
    the blocks): they are candidates on every instance, however short the time
    limit, and their time comes out of the method's own.
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
        srt, _, _, srt_cost = _map(inst, "sorted", metric, opts, "layer", {}, reuse)
        alternatives.append(("sorted", srt, srt_cost, schedule(srt)))
        # and the naive one: where the write budget binds, crossbars kept in step can
        # queue for it whatever the chains (ddddocr-det `multi-ou`: 24% less
        # programming than before, 11% longer)
        nv = naive_mapping(inst)
        alternatives.append(("naive", nv, None, schedule(nv)))
    left = max(1e-3, opts.time_limit - (time.perf_counter() - t0))
    opts = ChainOptions(left, opts.seed, opts.workers, opts.initial)
    if makespan and method not in BASELINES:
        from pimopt.makespan.balanced import balanced_mapping

        inner = "assignment or sorted, then granular" if method == "balanced" else method

        def solver(p: ChainProblem, seconds: float) -> Chains:
            o = ChainOptions(max(seconds, 0.05), opts.seed, opts.workers, opts.initial)
            if method == "balanced":
                return _sorted_granular(p, o)
            return CHAIN_METHODS[inner](p, o).chains

        info["per_crossbar_method"] = inner
        mapping, claimed = balanced_mapping(inst, solver, metric=metric,
                                            time_limit=opts.time_limit, reuse=reuse, info=info,
                                            round_limit=method not in EXACT_MODELS)
        return MapOutput(mapping, "feasible", None, claimed, alternatives)
    mapping, status, bound, claimed = _map(inst, method, metric, opts, decomposition, info,
                                           reuse)
    return MapOutput(mapping, status, bound, claimed, alternatives)


GRANULAR_S_PER_ITEM = 5e-5  # candidate lists and a first descent, per item (measured)
PAIRS_PER_S = 1_000_000  # latency-model pair evaluations per second, a safe estimate


def _sorted_granular(p: ChainProblem, o: ChainOptions) -> Chains:
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


@dataclass
class RetimeOutput:
    """What the retime stage returns (``changed``: a new mapping or schedule to keep)."""

    mapping: Mapping
    schedule: Schedule
    changed: bool
    notes: list[str]


def _retime_stage(inst: Instance, mapping: Mapping, sched: Schedule, *, split: bool,
                  scheduler: str, granularity: str, overlap: bool, time_limit: float, seed: int,
                  workers: int, method: str, info: dict[str, Any], bound_ps: int = 0
                  ) -> RetimeOutput:
    """Input splitting, then CP-SAT re-timing or joint mapping and scheduling (``bound_ps``:
    the makespan bound, a constraint of the joint model)."""
    out = RetimeOutput(mapping, sched, False, [])
    t0 = time.perf_counter()
    if split:
        from pimopt.split import split_inputs

        so = split_inputs(inst, mapping, granularity=granularity, overlap=overlap,
                          time_limit=time_limit, method=method)
        info["split"] = so.info
        out.notes.append(f"split {so.info['splits']}")
        if so.info["splits"]:
            out.mapping, out.schedule, out.changed = so.mapping, so.schedule, True
    left = max(0.5, time_limit - (time.perf_counter() - t0))
    if scheduler in ("cpsat", "joint"):
        from pimopt.cpsat_schedule import cpsat_schedule

        share = left if scheduler == "cpsat" else left / 3
        timed = cpsat_schedule(inst, out.schedule, time_limit=share, seed=seed,
                               workers=workers)
        info["scheduler"] = {"status": timed.status, "makespan_ps": timed.makespan_ps,
                             "bound_ps": timed.bound_ps,
                             "list_makespan_ps": out.schedule.makespan_ps(), **timed.info}
        out.schedule, out.changed = timed.schedule, True
        out.notes.append(f"cpsat scheduler {timed.status}")
        if scheduler == "joint":
            from pimopt.joint import joint_schedule

            # the two-stage solution (this mapping, CP-SAT timing) is the joint model's hint
            two_stage = out.schedule.makespan_ps()
            jo = joint_schedule(inst, out.mapping, out.schedule, time_limit=left - share,
                                seed=seed, workers=workers, lower_bound_ps=bound_ps)
            info["joint"] = {"status": jo.status, "makespan_ps": jo.makespan_ps,
                             "bound_ps": jo.bound_ps, "two_stage_makespan_ps": two_stage,
                             "two_stage_loss": (two_stage - jo.makespan_ps) / two_stage
                             if two_stage else 0.0, **jo.info}
            out.mapping, out.schedule = jo.mapping, jo.schedule
            out.notes.append(f"joint {jo.status}")
    return out


def _check_claims(method: str, chain_metric: str, claimed: int | None, objs: dict[str, int],
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


def _mapping_bound(inst: Instance, objective: str, method_bound: float | None,
                   ib: InstanceBound | None, granularity: str) -> float | None:
    """Best bound on a mapping objective (programming, cell writes, critical path).

    The bounds are on loads costed alone. Whole-crossbar program operations
    let up to ``k = write_width / ou_cols`` slots share a write segment, and
    such an operation lasts at least the average of its slots written alone
    (docs/bounds.md section 6), so the programming bound is divided by ``k``.
    """
    unit = 1.0 if objective == "cell_writes" else 1000.0
    candidates = [b for b in (method_bound,) if b is not None]
    if ib is not None:
        candidates.append(ib.value)
    if objective == "critical_path":
        from pimopt.balance import critical_path_bound

        candidates = [critical_path_bound(b, inst.arch.crossbars) for b in candidates]
    share = inst.arch.slots_per_write_segment
    if objective == "programming" and granularity == "crossbar" and share > 1:
        candidates = [b / share for b in candidates]
    return max(candidates) / unit if candidates else None


_MAKESPAN_BOUNDS: dict[str, MakespanBound] = {}


def cached_makespan_bound(inst: Instance, time_limit: float,
                          source: dict[str, str] | None = None) -> MakespanBound:
    """The makespan bound, cached per instance content in memory and on disk
    (:mod:`pimopt.cache`); a complete one is reused as is, a cut one only by runs
    with no more time for it. ``source["makespan"]`` says which ("cache" or
    "computed"; a computed bound smaller than the cached one leaves the cached)."""
    if source is None:
        source = {}

    def from_record(rec: dict[str, Any]) -> MakespanBound:
        return MakespanBound(**{k: v for k, v in rec.items() if k != "key"})

    bound, source["makespan"] = _cached_bound(
        # "-4": bounds cached before the layer-window and tail terms (and "-3" the
        # agreement search, "-2" the flow term) are weaker, some marked complete
        "makespan-bound-4", inst.content_hash(), _MAKESPAN_BOUNDS, inst.content_hash(),
        time_limit, lambda: makespan_bound(inst, time_limit=time_limit), from_record,
        MakespanBound.to_dict, lambda b: b.value_ps)
    return bound


@interrupt.interruptible
def solve(inst: Instance, method: str = DEFAULT_METHOD, *,
          objective: str = DEFAULTS.objective, time_limit: float = DEFAULTS.time_limit,
          seed: int = DEFAULTS.seed, workers: int = DEFAULTS.workers,
          initial: str = DEFAULTS.initial, decomposition: str = DEFAULTS.decomposition,
          granularity: str = DEFAULTS.granularity, overlap: bool = DEFAULTS.overlap,
          scheduler: str = DEFAULTS.scheduler,
          functional_samples: int | None = DEFAULTS.functional_samples,
          bound: bool = DEFAULTS.bound, reuse: bool = DEFAULTS.reuse,
          split: bool = DEFAULTS.split, layout: str | Layout = DEFAULTS.layout,
          stop: Deadline | None = None) -> Result:
    """Map, schedule and verify an instance with one method.

    Parameters
    ----------
    inst
        The instance.
    method
        ``naive``, ``balanced`` (makespan-aware, scales to 10^6 blocks: every
        layer's compute spread over all OUs, programming minimised inside each
        crossbar as its time share affords; the sorted mapping is a second
        candidate, the shorter schedule is kept) or a chain method: ``sorted``,
        ``greedy``, ``assignment``, ``ls``
        (assignment + local search; granular above the dense limit), ``granular``
        (candidate-based, for large layers), ``relax`` (heads chosen by the sparse
        assignment LP, then rounds and granular moves), ``lns`` (CP-SAT large-neighbourhood
        search from ``initial``), ``cpsat``, ``milp-cbc``, ``milp-highs``.
    objective
        What the result reports as objective: ``makespan``, ``programming``,
        ``critical_path``, ``cell_writes`` or ``energy``. With ``makespan`` (and
        ``decomposition="layer"``) every method except the baselines ``naive``
        and ``sorted`` runs the makespan-aware pipeline
        (:mod:`pimopt.makespan.balanced`) and minimises programming inside each
        crossbar; otherwise methods minimise the total programming latency, or
        cell writes for ``cell_writes``. ``info["aims_at"]`` says which.
    time_limit
        Wall-clock seconds for the whole solve: the bound, mapping, improvement
        and retiming stages share it, and time for scheduling and verification
        (linear in the blocks) is kept back; ``Result.stages`` reports each.
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
        Compute the makespan bound (always, within its share of the time limit)
        and, for mapping objectives, the layered assignment bound.
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
    layout
        The layout stage (:mod:`pimopt.layout`): ``none`` (the tiles as
        imported), ``magnitude``, ``similarity``, ``auto``, or a
        :class:`~pimopt.layout.Layout`. The method then maps the laid-out tiles;
        the mapping and schedule record the permutations and the verifier checks
        the function on the original weights. Bounds are those of the laid-out
        tiles (``info["bound_scope"]``), and ``optimal`` is not claimed after a
        layout: the permutations themselves are not proven best.

    stop
        The :class:`~pimopt.stop.Deadline` to keep instead of ``time_limit``
        seconds from now (the CLI starts it before loading the instance, so
        that loading and writing the files count too).

    Returns
    -------
    Result
        Only returned when the verifier accepts the schedule and the method's
        claimed cost equals the cost recomputed from the schedule.

    Notes
    -----
    Called from the main thread, a first Ctrl-C (SIGINT) ends every
    time-limited stage as if its time were up: the mapping found so far is
    scheduled and verified and returned with status ``interrupted`` (unless it
    is proven optimal), and ``Result.stages`` marks the stages it cut short. A
    second Ctrl-C raises ``KeyboardInterrupt``.
    """
    # the keywords are the option schema's fields (pimopt.options), checked there
    opts = Options(objective=objective, time_limit=time_limit, seed=seed, workers=workers,
                   initial=initial, decomposition=decomposition, granularity=granularity,
                   overlap=overlap, scheduler=scheduler,
                   functional_samples=functional_samples, bound=bound, reuse=reuse,
                   split=split, layout=layout)
    _check_arguments(inst, method, opts)
    decomposition = _resolve_decomposition(inst, method, decomposition, reuse)
    if _aims_at(method, objective, decomposition) != "makespan":
        _check_size(inst, method, decomposition, reuse)
    metric_name, chain_metric = OBJECTIVES[objective]
    clock = stop if stop is not None else Deadline(time_limit)
    clock.keep_back(inst.n_nonzero)
    info: dict[str, Any] = {}
    stages: list[Stage] = []
    # under the makespan objective every method but the baselines also schedules the
    # sorted and naive mappings (candidates, paid from its map stage)
    candidates = objective == "makespan" and method not in BASELINES
    extra = (CANDIDATES_PER_BLOCK_S if candidates else 0.0) + (
        MAKESPAN_MAP_PER_BLOCK_S if _aims_at(method, objective, decomposition) == "makespan"
        else 0.0)
    note = clock.too_short(inst.n_nonzero, extra)
    if note is not None:  # said now, not only afterwards
        info["time_limit_note"] = note
        log.warning("%s", note)

    original = inst
    lay: Layout | None = None
    if not (isinstance(layout, str) and layout == "none"):
        with clock.stage("layout", clock.share(LAYOUT_SHARE, LAYOUT_CAP_S), stages) as st:
            lay = layout if isinstance(layout, Layout) else make_layout(
                inst.network, inst.arch, layout, time_limit=st.budget, seed=seed)
            st.cut_short = bool((lay.info or {}).get("cut_short"))
            st.note = f"layout {lay.method}"
            if lay.is_identity:
                lay = None
            else:
                inst = laid_out(original, lay)
            info["layout"] = layout_info(original, lay)  # builds the laid-out tiles
        info["bound_scope"] = ("the tiles as imported" if lay is None else
                               f"the tiles of layout {lay.method!r} (fixed before mapping)")

    # bounds first, within their own share of the time limit: the makespan bound, and for
    # mapping objectives the layered assignment bound (it assumes shared loads: reuse)
    mb: MakespanBound | None = None
    ib: InstanceBound | None = None
    if bound:
        with clock.stage("bound", clock.share(BOUND_SHARE, BOUND_CAP_S), stages) as st:
            mapping_objective = objective != "makespan" and reuse
            t_b = time.perf_counter()
            bound_source: dict[str, str] = {}
            info["bound_source"] = bound_source  # a cached bound may be tighter than a new one
            mb = cached_makespan_bound(inst, st.budget / 2 if mapping_objective else st.budget,
                                       bound_source)
            st.note = f"makespan bound {mb.programming_term} programming term"
            st.cut_short = not mb.complete
            if mapping_objective:
                left = seconds_left(t_b + st.budget)
                ib = instance_bound(inst, chain_metric, max(left, 0.0), bound_source)
                st.note += ("; layered assignment bound" if ib.complete else
                            "; layered assignment bound (some layers floored)")
                st.cut_short = st.cut_short or not ib.complete

    def timeline(m: Mapping) -> Schedule:
        """The list schedule; ``balanced`` also tries prefetch into idle crossbar time
        (where it applies) and keeps the shorter."""
        plain = list_schedule(inst, m, granularity=granularity, overlap=overlap, method=method)
        if method != "balanced" or not (inst.arch.block_whole_crossbar and overlap) \
                or len(m) > PREFETCH_OPS_LIMIT:
            return plain
        pre = list_schedule(inst, m, granularity=granularity, overlap=overlap, method=method,
                            prefetch=True)
        return pre if pre.makespan_ps() < plain.makespan_ps() else plain

    # map (and, for critical_path, improve): the method's own time share
    aims = _aims_at(method, objective, decomposition)
    info["aims_at"] = aims
    balance = objective == "critical_path" and method != "naive"
    # the improve or retime stage that follows gets the other half
    map_share = clock.left() / 2 if balance or split or scheduler != "list" else clock.left()
    with clock.stage("map", map_share, stages) as st:
        mo = _map_stage(inst, method, chain_metric, ChainOptions(max(st.budget, 1e-3), seed,
                                                            workers, initial),
                        decomposition, reuse, aims == "makespan", info,
                        timeline if candidates else None)
        st.note = aims
    mapping, status, method_bound, claimed = mo.mapping, mo.status, mo.bound, mo.claimed
    if mb is not None and objective == "makespan" and decomposition == "whole" and reuse \
            and method in EXACT_MODELS and status == "optimal" and chain_metric == "latency" \
            and claimed is not None:
        # the proven least total programming raises the makespan bound (docs/bounds.md 7)
        mb = with_proven_programming(mb, inst, claimed)
    alternatives = mo.alternatives
    if balance:
        from pimopt.balance import balance_rounds

        with clock.stage("improve", clock.left(), stages) as st:
            mapping, info["balance"] = balance_rounds(inst, mapping, time_limit=st.budget,
                                                      seed=seed)
        claimed = None  # loads moved: the method's total no longer applies
        method_bound = None  # and its bound was on the total, not on the critical path
    if objective not in ("programming", "cell_writes") or granularity != "slot":
        # a method's proven optimum is for the mapping objective it minimised (slot
        # operations); for any other objective only a bound below can prove optimality
        status = "feasible"

    # not time-limited: linear in the operations, paid from the time kept back
    with clock.stage("schedule", None, stages) as st:
        sched = timeline(mapping)
        if alternatives:
            tried = {"own": sched.makespan_ps()}
            for name, alt, alt_claimed, other in alternatives:
                tried[name] = other.makespan_ps()
                if other.makespan_ps() < sched.makespan_ps():
                    mapping, sched, claimed = alt, other, alt_claimed
            kept = min(tried, key=lambda k: tried[k])
            info["candidates"] = {"makespan_ps": tried, "kept": kept}
            st.note = f"candidates {', '.join(tried)}; kept {kept}"
    schedule_s = stages[-1].seconds  # what one more schedule of this instance takes
    if method == "balanced" and aims == "makespan":
        # the schedule-driven search, on whatever time the method left (half of it when
        # a re-timing stage follows)
        share = clock.left() / 2 if split or scheduler != "list" else clock.left()
        with clock.stage("search", share, stages) as st:
            from pimopt.makespan.search import makespan_search

            so = makespan_search(inst, mapping, sched, time_limit=st.budget, seed=seed,
                                 schedule=timeline, bound_ps=0 if mb is None else mb.value_ps,
                                 eval_seconds=schedule_s)
            info["search"] = so.info
            st.note = (so.info.get("skipped") or
                       f"{so.info['evaluations']} evaluations, makespan "
                       f"{so.info['start_makespan_ps'] / 1000:,.0f} -> "
                       f"{so.info['makespan_ps'] / 1000:,.0f} ns")
        if so.improved:
            mapping, sched = so.mapping, so.schedule
            claimed = None  # loads moved: the method's programming claim no longer applies
    if split or scheduler != "list":
        with clock.stage("retime", clock.left(), stages) as st:
            rt = _retime_stage(inst, mapping, sched, split=split, scheduler=scheduler,
                               granularity=granularity, overlap=overlap,
                               time_limit=max(st.budget, 0.5), seed=seed, workers=workers,
                               method=method, info=info,
                               bound_ps=0 if mb is None else mb.value_ps)
            st.note = ", ".join(rt.notes)
        if rt.changed:
            mapping, sched = rt.mapping, rt.schedule
            claimed = None  # extra loads or a new mapping: the method's cost no longer applies
            status = "feasible"

    if mb is not None and not mb.complete and objective == "makespan" \
            and clock.left() > 2 * mb.seconds + 0.5:
        # the bound stage was cut short but the method left time: the bound gets it (a new
        # bound on more time; the larger of the two is kept, both are valid)
        with clock.stage("rebound", clock.left(), stages) as st:
            more = cached_makespan_bound(inst, st.budget, info.get("bound_source"))
            st.note = f"makespan bound {more.programming_term} programming term"
            if more.value_ps > mb.value_ps:
                mb = more
            st.cut_short = not mb.complete
    if lay is not None:  # the solution records its layout; its instance is the original
        sched.layout = lay
        sched.meta["instance"] = {"name": original.network.name,
                                  "sha256": original.content_hash(),
                                  "network_sha256": original.network.content_hash()}
        mapping = replace(mapping, layout=lay)
    with clock.stage("verify", None, stages):
        # the original instance: the verifier applies the layout itself
        report = verify(original, sched, functional_samples=functional_samples, seed=seed)
        if not report.ok:
            raise VerificationError(f"method {method!r} produced an invalid schedule: "
                                    f"{report.first()}")
        objs = mapping_objectives(inst, mapping)
        _check_claims(method, chain_metric, claimed, objs, report, sched, granularity)

    value = float(_metrics(report, objs)[metric_name])
    best_bound: float | None = None
    if objective == "makespan" and mb is not None:
        best_bound = mb.value_ps / 1000.0
    elif objective in ("programming", "cell_writes", "critical_path"):
        best_bound = _mapping_bound(inst, objective, method_bound, ib, granularity)
    if best_bound is not None:
        if value < best_bound - 1e-6 * max(1.0, abs(best_bound)):
            raise VerificationError(f"objective {value} is below the lower bound {best_bound}: "
                                    "a bound or a cost is wrong")
        if value <= best_bound + 1e-9:
            status = "optimal"
    if lay is not None and status == "optimal":  # optimal for these tiles, not over layouts
        status = "feasible"
        info["layout"]["note"] = ("optimal for the tiles of this layout; the layout itself "
                                  "is not proven best")
    if interrupt.requested() and status != "optimal":  # a proof stands; anything else stopped
        status = "interrupted"
    gap = None if best_bound is None else (
        (value - best_bound) / value if value > 0 else 0.0)
    if mb is not None:
        info["makespan_bound"] = mb.to_dict()
    return Result(method=method, objective_name=objective, status=Status(status), objective=value,
                  bound=best_bound, gap=gap, runtime_s=clock.elapsed(), seed=seed,
                  versions=versions(), mapping=mapping, schedule=sched, report=report,
                  objectives=objs,
                  options=dict(opts.to_dict(), decomposition=decomposition),  # as run
                  info=info, stages=stages,
                  makespan_bound_ns=None if mb is None else mb.value_ps / 1000.0,
                  instance=original)
