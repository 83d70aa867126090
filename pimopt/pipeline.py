"""One entry point for every method: :func:`solve` returns a verified :class:`Result`.

A method maps blocks to slots; the list scheduler turns the mapping into a
timeline; the verifier replays it. Mapping methods work on chain problems
(:mod:`pimopt.chains.problem`), either layer by layer (``decomposition="layer"``,
each layer's start patterns are what the previous layer left) or as one
whole-network model (``decomposition="whole"``, small instances). Blocks of a
layer with identical patterns are one item: they share a load.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any

from pimopt import interrupt
from pimopt.bounds import background
from pimopt.bounds.cache import (
    InstanceBound,
    cached_makespan_bound,
    complete_makespan_bound,
    fresh_instance_bound,
    instance_bound,
    mapping_bound,
    remember_makespan_bound,
)
from pimopt.bounds.makespan import (
    MakespanBound,
    full_bound_seconds,
    makespan_bound,
    under_rule,
    with_proven_programming,
)
from pimopt.errors import InputError, Refused, VerificationError
from pimopt.instance import Instance
from pimopt.interrupt import seconds_left
from pimopt.layout import Layout, laid_out, layout_info, make_layout
from pimopt.mapping import Mapping
from pimopt.memory import check_fits, solve_bytes
from pimopt.methods.chain_methods import CHAIN_METHODS, EXACT, EXACT_MODELS, ChainOptions
from pimopt.methods.registry import BASELINES, METHODS
from pimopt.methods.search import makespan_search
from pimopt.objectives import OBJECTIVES, mapping_objectives
from pimopt.options import DEFAULT_METHOD, DEFAULTS, Options
from pimopt.provenance import versions
from pimopt.result import Result, Status, metrics_of
from pimopt.schedule import Schedule
from pimopt.scheduling.balance import balance_rounds
from pimopt.scheduling.list_scheduler import PREFETCH_OPS_LIMIT, list_schedule
from pimopt.scheduling.pipelining import pipeline_schedule
from pimopt.stages import check_claims, map_stage, retime_stage
from pimopt.stop import (
    BACKGROUND_BOUND_SHARE,
    BOUND_CAP_S,
    BOUND_SHARE,
    CANDIDATES_PER_BLOCK_S,
    FOREGROUND_BOUND_SHARE,
    LAYOUT_CAP_S,
    LAYOUT_SHARE,
    MAKESPAN_MAP_PER_BLOCK_S,
    PIPELINE_SCHEDULES,
    REBOUND_SHARE,
    Deadline,
    Stage,
)
from pimopt.verify import verify

log = logging.getLogger("pimopt.solve")


def _check_arguments(inst: Instance, method: str, opts: Options) -> None:
    """What the option schema cannot check alone: the method, the instance, a layout."""
    if not isinstance(inst, Instance):
        raise InputError(f"solve: inst must be an Instance (pimopt.load_instance(path, arch) "
                         f"makes one), got {type(inst).__name__}")
    if not isinstance(method, str) or method not in METHODS:
        raise InputError(f"method {method!r} is unknown: one of {', '.join(METHODS)}")
    if opts.initial not in CHAIN_METHODS or opts.initial in EXACT:
        raise InputError(f"initial = {opts.initial!r} is invalid: a heuristic, one of "
                         f"{', '.join(m for m in CHAIN_METHODS if m not in EXACT)}")
    if isinstance(opts.layout, Layout):
        opts.layout.check(inst.network)
    if inst.n_nonzero == 0:
        raise InputError(f"network {inst.network.name!r} has only all-zero blocks: "
                         "nothing to program or compute")
    a = inst.arch
    check_fits(solve_bytes(a.total_slots, a.ou_rows * a.ou_cols, inst.n_blocks),
               f"solving {inst.network.name!r} on {a.name!r} ({a.total_slots:,} slots of "
               f"{a.ou_rows}x{a.ou_cols} cells, {inst.n_blocks:,} blocks)",
               "use fewer or smaller crossbars, or a smaller network")  # before allocating



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
          dependencies: str = DEFAULTS.dependencies,
          stop: Deadline | None = None, display: bool = False) -> Result:
    """Map, schedule and verify an instance with one method.

    Parameters
    ----------
    inst
        The instance.
    method
        A name in :data:`pimopt.METHODS` (default ``balanced``; the defaults of
        every keyword below are those of :class:`pimopt.Options`, the one option
        schema). ``naive``, ``balanced`` (makespan-aware, scales to 10^6 blocks: every
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
        (:mod:`pimopt.methods.balanced`) and minimises programming inside each
        crossbar; otherwise methods minimise the total programming latency, or
        cell writes for ``cell_writes``. ``info["aims_at"]`` says which.
    time_limit
        Wall-clock seconds for the whole solve: the bound, mapping, improvement
        and retiming stages share it, and time for scheduling and verification
        (linear in the blocks) is kept back; ``Result.stages`` reports each.
    seed, workers
        Seed of every randomised step; CP-SAT workers.
    initial
        Heuristic that warm-starts the exact methods and ``lns`` (out of their time).
    decomposition
        ``auto`` (default: ``whole`` for the exact models where their
        whole-network model fits, else ``layer``), ``layer`` or ``whole`` (one
        model for the network).
    granularity, overlap
        List-scheduler options (see :func:`pimopt.scheduling.list_scheduler.list_schedule`).
    scheduler
        ``list`` (default), ``cpsat`` (the CP-SAT model re-times the list
        schedule's operations for minimum makespan) or ``joint`` (CP-SAT maps and
        schedules small instances in one model).
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
        Input splitting (:mod:`pimopt.scheduling.split`): after mapping, move the second
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
    dependencies
        Rule 5 (:mod:`pimopt.windows`): ``barrier`` (default) or ``window``. Under
        ``window`` the mapping is the method's; a last stage
        (:func:`pimopt.scheduling.pipelining.pipeline_schedule`) cuts its computes into
        input chunks and list-schedules them so that layers start on the outputs their
        producers have finished, keeping the shorter schedule; the schedule records the
        rule, the verifier checks it, and the makespan bound is the one valid under it
        (docs/bounds.md, section 8).

    stop
        The :class:`~pimopt.stop.Deadline` to keep instead of ``time_limit``
        seconds from now (the CLI starts it before loading the instance, so
        that loading and writing the files count too).
    display
        Print one line per stage as it starts and as it ends (its time, whether
        it was cut short, what it did) to stdout; ``False`` (default): quiet.

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
                   split=split, layout=layout, dependencies=dependencies)
    _check_arguments(inst, method, opts)
    if not isinstance(display, bool):
        raise InputError(f"display = {display!r} is invalid: True or False")
    runner = METHODS[method]  # the registry object
    decomposition = runner.decomposition_for(inst, decomposition, reuse)
    refusal = runner.fits(inst, objective, decomposition, reuse)
    if refusal is not None:  # before any work
        raise Refused(refusal)
    aims = runner.aims_at(objective, decomposition)
    metric_name, chain_metric = OBJECTIVES[objective]
    clock = stop if stop is not None else Deadline(time_limit)
    if display:  # a line per stage as it starts and ends (PyVRP's display=True)
        clock.display = lambda line: print(line, flush=True)
    clock.keep_back(inst.n_nonzero)
    info: dict[str, Any] = {}
    stages: list[Stage] = []
    # under the makespan objective every method but the baselines also schedules the
    # sorted and naive mappings (candidates, paid from its map stage)
    candidates = objective == "makespan" and method not in BASELINES
    extra = (CANDIDATES_PER_BLOCK_S if candidates else 0.0) + (
        MAKESPAN_MAP_PER_BLOCK_S if aims == "makespan" else 0.0)
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
    bg: background.BackgroundBound | None = None
    if bound:
        with clock.stage("bound", clock.share(BOUND_SHARE, BOUND_CAP_S), stages) as st:
            mapping_objective = objective != "makespan" and reuse
            t_b = time.perf_counter()
            bound_source: dict[str, str] = {}
            info["bound_source"] = bound_source  # a cached bound may be tighter than a new one
            # a bound the stage would cut runs beside the method on a spare core, for
            # nearly the whole limit; here only a quick one (the search's and the joint
            # model's floor), and the larger of the two is kept
            busy = workers if (method in EXACT_MODELS or method == "lns"
                               or scheduler != "list") else 1
            here = st.budget / 2 if mapping_objective else st.budget
            if (objective == "makespan" and complete_makespan_bound(inst) is None
                    and full_bound_seconds(inst) > here and background.available(busy)
                    and BACKGROUND_BOUND_SHARE * clock.left() >= background.MIN_SECONDS):
                bg = background.BackgroundBound(inst, BACKGROUND_BOUND_SHARE * clock.left())
                here = min(here, FOREGROUND_BOUND_SHARE * clock.limit)
                info["bound_background"] = {"time_limit_s": round(bg.time_limit, 3)}
            mb = cached_makespan_bound(inst, here, bound_source)
            st.note = f"makespan bound {mb.programming_term} programming term"
            if bg is not None:
                st.note += " (quick; the full one runs in a second process)"
            st.cut_short = not mb.complete
            if mapping_objective:
                left = seconds_left(t_b + st.budget)
                ib = instance_bound(inst, chain_metric, max(left, 0.0), bound_source)
                st.note += ("; layered assignment bound" if ib.complete else
                            "; layered assignment bound (some layers floored)")
                st.cut_short = st.cut_short or not ib.complete

    def timeline(m: Mapping) -> Schedule:
        """The list schedule; up to :data:`PREFETCH_OPS_LIMIT` loads (where one schedule
        is cheap) also by position, and for ``balanced`` with prefetch into idle
        crossbar time (where it applies); the shortest is kept (docs/model.md)."""
        best = list_schedule(inst, m, granularity=granularity, overlap=overlap, method=method)
        if len(m) > PREFETCH_OPS_LIMIT:
            return best
        variants: list[dict[str, Any]] = [{"priority": "position"}]
        if method == "balanced" and inst.arch.block_whole_crossbar and overlap:
            variants.append({"priority": "position", "prefetch": True})
        for kw in variants:
            other = list_schedule(inst, m, granularity=granularity, overlap=overlap,
                                  method=method, **kw)
            if other.makespan_ps() < best.makespan_ps():
                best = other
        return best

    def rule_bound_ps() -> int:
        """The makespan bound valid under the dependency rule (0: none)."""
        return 0 if mb is None else under_rule(mb, inst, dependencies).value_ps

    # map (and, for critical_path, improve): the method's own time share
    info["aims_at"] = aims
    balance = objective == "critical_path" and method != "naive"
    # the improve or retime stage that follows gets the other half
    map_share = clock.left() / 2 if balance or split or scheduler != "list" else clock.left()
    with clock.stage("map", map_share, stages) as st:
        chain_opts = ChainOptions(max(st.budget, 1e-3), seed, workers, initial)
        mo = map_stage(inst, method, chain_metric, chain_opts, decomposition, reuse,
                       aims == "makespan", info, timeline if candidates else None)
        st.note = aims
    mapping, status, method_bound, claimed = mo.mapping, mo.status, mo.bound, mo.claimed
    if mb is not None and objective == "makespan" and decomposition == "whole" and reuse \
            and method in EXACT_MODELS and status == "optimal" and chain_metric == "latency" \
            and claimed is not None:
        # the proven least total programming raises the makespan bound (docs/bounds.md 7)
        mb = with_proven_programming(mb, inst, claimed)
    alternatives = mo.alternatives
    if balance:
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
        if dependencies == "window" and scheduler == "list":
            # what the pipelining stage after it needs, at most half
            share = clock.left() - min(clock.left() / 2, PIPELINE_SCHEDULES * schedule_s)
        with clock.stage("search", share, stages) as st:
            so = makespan_search(inst, mapping, sched, time_limit=st.budget, seed=seed,
                                 schedule=timeline, bound_ps=rule_bound_ps(),
                                 eval_seconds=schedule_s)
            info["search"] = so.info
            st.note = (so.info.get("skipped") or
                       f"{so.info['evaluations']} evaluations, makespan "
                       f"{so.info['start_makespan_ps'] / 1000:,.0f} -> "
                       f"{so.info['makespan_ps'] / 1000:,.0f} ns")
        if so.improved:
            mapping, sched = so.mapping, so.schedule
            claimed = None  # loads moved: the method's programming claim no longer applies

    def pipelined(mapping: Mapping, sched: Schedule, budget: float, finest: bool = False
                  ) -> tuple[Mapping, Schedule, bool]:
        """The pipelining stage (window rule): input chunks list-scheduled across layers;
        every schedule before it obeys the barrier, and so every window."""
        with clock.stage("pipeline", budget, stages) as st:
            before = sched.makespan_ps()
            piped_m, piped = pipeline_schedule(
                inst, mapping, sched, granularity=granularity, method=method,
                deadline=time.perf_counter() + st.budget,
                seconds_per_row=schedule_s / max(len(mapping), 1), finest=finest)
            chunked = piped is not sched
            info["pipeline"] = {"makespan_before_ps": before, "makespan_ps": piped.makespan_ps(),
                                "chunked": chunked}
            st.note = (f"window rule: makespan {before / 1000:,.0f} -> "
                       f"{piped.makespan_ps() / 1000:,.0f} ns" if chunked else
                       "window rule: no chunking shortened the schedule")
        return piped_m, piped, chunked

    if dependencies == "window" and scheduler == "cpsat":
        # pipeline first: the CP-SAT re-timing then keeps the windows of its chunks
        mapping, sched, chunked = pipelined(mapping, sched, clock.left() / 2, finest=True)
        if chunked:
            claimed = None
    if split or scheduler != "list":
        with clock.stage("retime", clock.left(), stages) as st:
            rt = retime_stage(inst, mapping, sched, split=split, scheduler=scheduler,
                               granularity=granularity, overlap=overlap,
                               time_limit=max(st.budget, 0.5), seed=seed, workers=workers,
                               method=method, info=info, bound_ps=rule_bound_ps(),
                               dependencies=dependencies)
            st.note = ", ".join(rt.notes)
        if rt.changed:
            mapping, sched = rt.mapping, rt.schedule
            claimed = None  # extra loads or a new mapping: the method's cost no longer applies
            status = "feasible"

    if dependencies == "window" and scheduler == "list":
        mapping, sched, chunked = pipelined(mapping, sched, clock.left())
        if chunked:
            claimed = None  # input chunks: one load, several computes (same writes)
    sched.meta["dependencies"] = dependencies
    if bg is not None and mb is not None:
        # the background bound: it was given less than the time left then, so waiting for
        # it keeps the limit (the reserve for schedule, verify and files is kept back)
        with clock.stage("bound (background)", clock.left(), stages) as st:
            more = bg.result(wait=clock.left())
            if more is None:
                info["bound_background"]["error"] = bg.error
                st.note = f"no background bound ({bg.error})"
            else:
                remember_makespan_bound(inst, more)
                info["bound_background"].update(value_ps=more.value_ps,
                                                complete=more.complete,
                                                seconds=round(more.seconds, 3))
                st.note = f"makespan bound {more.programming_term} programming term"
                if more.value_ps > mb.value_ps:
                    mb = more
                    info["bound_source"]["makespan"] = "computed (background)"
            st.cut_short = not mb.complete
    elif mb is not None and not mb.complete and objective == "makespan" \
            and clock.left() > 2 * mb.seconds + 0.5:
        # the bound stage was cut short but the method left time: the bound gets it (a new
        # bound on more time; the larger of the two is kept, both are valid)
        # most of what is left: the bound's last step can run past its limit
        with clock.stage("rebound", REBOUND_SHARE * clock.left(), stages) as st:
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
        check_claims(method, chain_metric, claimed, objs, report, sched, granularity)

    value = float(metrics_of(report, objs)[metric_name])
    if mb is not None:  # the bound valid under the schedule's dependency rule
        mb = under_rule(mb, inst, dependencies)
    best_bound: float | None = None
    if objective == "makespan" and mb is not None:
        best_bound = mb.value_ps / 1000.0
    elif objective in ("programming", "cell_writes", "critical_path"):
        best_bound = mapping_bound(inst, objective, method_bound, ib, granularity)
    sources = info.get("bound_source", {})
    cached = (sources.get("makespan") == "cache" and mb is not None
              and mb.programming_term != "proven optimum") if objective == "makespan" \
        else sources.get("instance") == "cache"
    if best_bound is not None and cached and value <= best_bound + 1e-9:
        # a cached bound never proves optimality (nor fails a run) alone: it is
        # recomputed, and the recomputed one decides (cut by the time left, it proves
        # less, never more)
        with clock.stage("bound (check)", None, stages) as st:
            if objective == "makespan":
                mb = under_rule(makespan_bound(inst, time_limit=max(clock.left(), 0.2)), inst,
                                dependencies)
                best_bound = mb.value_ps / 1000.0
            else:
                ib = fresh_instance_bound(inst, chain_metric, max(clock.left(), 0.2))
                best_bound = mapping_bound(inst, objective, method_bound, ib, granularity)
            sources["checked"] = "the cached bound met the objective: recomputed"
            st.note = "cached bound recomputed"
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

