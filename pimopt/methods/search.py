"""Schedule-driven search: move loads between slots, judged by the list schedule's makespan.

The mapping pipelines minimise programming inside a partition chosen by a
crossbar-time model; where programming binds (few crossbars, a binding write
budget) that model misjudges which crossbar waits for which, and less
programming does not always mean a shorter schedule. This search works on
the loads of a finished mapping (a load: the rows one slot holds at one
position, with their input ranges) and judges every move by the list
scheduler itself, the same scheduler whose schedule is verified:

- **relocate**: a load leaves its slot and is inserted into any slot at any
  position that keeps that slot's loads in layer order;
- **swap**: two loads of one layer exchange their slot and position.

A move is kept by late acceptance hill climbing (Burke and Bykov, 2017): it
is accepted when its cost is at most the current one or the one of
``HISTORY`` iterations ago, which lets the search cross plateaus of equal
makespan. The cost is ``(makespan, sum of layer ends)``: the second term
rewards finishing layers early where the makespan does not yet change. The
best schedule seen is returned, never one worse than the start.

Every evaluation is one full list schedule, so the search suits instances of
up to a few thousand loads; it stops when the next evaluation would pass its
time limit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pimopt.instance import Instance
from pimopt.interrupt import expired
from pimopt.mapping import Mapping
from pimopt.schedule import Schedule
from pimopt.scheduling.list_scheduler import list_schedule

HISTORY = 50  # late-acceptance history length
# evaluations without a new best after which the search stops: PATIENCE_PER_LOAD a load,
# within these limits (measured on the tiny-pb instances of 8-12 loads)
PATIENCE_PER_LOAD = 50
PATIENCE_MIN, PATIENCE_MAX = 200, 2000
MIN_EVALUATIONS = 20  # below this many affordable evaluations the search does not start


@dataclass
class SearchOutcome:
    """The best mapping and schedule found, and what the search did."""

    mapping: Mapping
    schedule: Schedule
    improved: bool
    info: dict[str, Any] = field(default_factory=dict)


class _Loads:
    """Loads as per-slot sequences; builds the mapping of any arrangement."""

    def __init__(self, inst: Instance, mapping: Mapping) -> None:
        loads = mapping.loads(inst)
        self.mapping = mapping
        self.spc = inst.arch.slots_per_crossbar
        self.n = len(loads)
        self.lo = loads.min_layer.tolist()
        self.hi = loads.max_layer.tolist()
        self.load_of_row = loads.load_of_row
        self.seq: list[list[int]] = [[] for _ in range(inst.arch.total_slots)]
        for j in range(self.n):  # loads come sorted by (slot, position)
            self.seq[int(loads.global_slot[j])].append(j)
        self.where = [0] * self.n  # global slot of every load
        for g, s in enumerate(self.seq):
            for j in s:
                self.where[j] = g

    def target(self, rng: np.random.Generator) -> int:
        """A random slot to insert into: any used slot, or the first empty slot of a
        crossbar (a crossbar's empty slots are interchangeable)."""
        spc = self.spc
        options = []
        for xb in range(len(self.seq) // spc):
            empty_seen = False
            for g in range(xb * spc, (xb + 1) * spc):
                if self.seq[g]:
                    options.append(g)
                elif not empty_seen:
                    options.append(g)
                    empty_seen = True
        return options[int(rng.integers(len(options)))]

    def build(self) -> Mapping:
        gslot = np.empty(self.n, dtype=np.int64)
        pos = np.empty(self.n, dtype=np.int64)
        for g, s in enumerate(self.seq):
            for p, j in enumerate(s):
                gslot[j] = g
                pos[j] = p
        g_row = gslot[self.load_of_row]
        m = self.mapping
        return Mapping(block=m.block, crossbar=g_row // self.spc, slot=g_row % self.spc,
                       position=pos[self.load_of_row], first=m.first, last=m.last,
                       layout=m.layout)

    def insert_range(self, g: int, j: int) -> tuple[int, int]:
        """Positions ``[lo, hi]`` of slot ``g`` where load ``j`` keeps the slot in layer
        order: every load before it ends at or before its first layer, every load after
        it starts at or after its last layer (empty when ``hi < lo``)."""
        s = self.seq[g]
        hi = sum(1 for k in s if self.hi[k] <= self.lo[j])  # layers ascend along a slot
        lo = sum(1 for k in s if self.lo[k] < self.hi[j])
        return lo, hi


def _cost(inst: Instance, sched: Schedule) -> tuple[int, int]:
    """(makespan, sum over layers of their last compute end), in ps."""
    n_layers = len(inst.network.layers)
    ends = np.zeros(n_layers, dtype=np.int64)
    np.maximum.at(ends, inst.block_layer[sched.comp_block], sched.comp_end)
    return sched.makespan_ps(), int(ends.sum())


def makespan_search(inst: Instance, mapping: Mapping, sched: Schedule, *, time_limit: float,
                    seed: int = 0, schedule: Callable[[Mapping], Schedule] | None = None,
                    bound_ps: int = 0, eval_seconds: float | None = None) -> SearchOutcome:
    """Improve ``mapping`` (scheduled as ``sched``) for the list schedule's makespan.

    Parameters
    ----------
    inst, mapping, sched
        The instance, a valid mapping and its list schedule.
    time_limit
        Seconds; no evaluation starts that would end after it. The search also
        stops after :data:`PATIENCE_PER_LOAD` evaluations a load (within
        :data:`PATIENCE_MIN` and :data:`PATIENCE_MAX`) without a new best, and at
        ``bound_ps`` (a makespan lower bound: nothing shorter exists).
    seed
        Seeds the move choice.
    schedule
        Mapping -> schedule, the scheduler that judges every move (default: the
        list scheduler with slot operations).
    eval_seconds
        What one ``schedule`` call takes, if the caller has timed it: the search
        then does not start where fewer than :data:`MIN_EVALUATIONS` fit, without
        spending one evaluation to find out.
    """
    if schedule is None:
        def schedule(m: Mapping) -> Schedule:
            return list_schedule(inst, m)

    t0 = time.perf_counter()
    deadline = t0 + time_limit
    if eval_seconds is not None and eval_seconds * MIN_EVALUATIONS > time_limit:
        info0: dict[str, Any] = {"evaluations": 0, "accepted": 0,
                                 "skipped": f"time for fewer than {MIN_EVALUATIONS} "
                                            "evaluations"}
        return SearchOutcome(mapping, sched, False, info0)
    st = _Loads(inst, mapping)
    info: dict[str, Any] = {"loads": st.n, "evaluations": 0, "accepted": 0}
    best_sched, best_map = sched, mapping
    cur = best = _cost(inst, sched)
    info["start_makespan_ps"] = best[0]
    if st.n < 2:
        return SearchOutcome(mapping, sched, False, info)
    # one evaluation measured, so that the search starts only where it can do some work
    t_eval = time.perf_counter()
    schedule(st.build())
    t_eval = time.perf_counter() - t_eval
    if t_eval * MIN_EVALUATIONS > deadline - time.perf_counter():
        info["skipped"] = f"time for fewer than {MIN_EVALUATIONS} evaluations"
        return SearchOutcome(mapping, sched, False, info)
    rng = np.random.default_rng(seed)
    same_layer: dict[int, list[int]] = {}
    for j in range(st.n):
        if st.lo[j] == st.hi[j]:
            same_layer.setdefault(st.lo[j], []).append(j)
    layers = [v for v in same_layer.values() if len(v) > 1]
    history = [cur] * HISTORY
    it = 0
    since_best = 0
    patience = min(PATIENCE_MAX, max(PATIENCE_MIN, PATIENCE_PER_LOAD * st.n))
    while (not expired(deadline) and time.perf_counter() + t_eval < deadline
           and since_best < patience and best[0] > bound_ps):
        undo = _move(st, rng, layers)
        if undo is None:
            it += 1
            if it > 100 * st.n and info["evaluations"] == 0:
                break  # no move exists
            continue
        t_eval_start = time.perf_counter()
        m = st.build()
        s = schedule(m)
        t_eval = 0.5 * t_eval + 0.5 * (time.perf_counter() - t_eval_start)  # running mean
        cost = _cost(inst, s)
        info["evaluations"] += 1
        since_best += 1
        v = it % HISTORY
        if cost <= cur or cost <= history[v]:
            cur = cost
            info["accepted"] += 1
            if cost < best:
                best, best_map, best_sched = cost, m, s
                since_best = 0
        else:
            undo()
        history[v] = cur
        it += 1
    info["makespan_ps"] = best[0]
    info["seconds"] = time.perf_counter() - t0
    return SearchOutcome(best_map, best_sched, best_sched is not sched, info)


def _move(st: _Loads, rng: np.random.Generator, layers: list[list[int]]) -> Any:
    """Apply a random relocate or swap; return a function that undoes it (None: no move)."""
    if layers and rng.random() < 0.5:  # swap two loads of one layer
        group = layers[int(rng.integers(len(layers)))]
        a, b = (int(x) for x in rng.choice(group, 2, replace=False))
        ga, gb = st.where[a], st.where[b]
        ia, ib = st.seq[ga].index(a), st.seq[gb].index(b)
        st.seq[ga][ia], st.seq[gb][ib] = b, a
        st.where[a], st.where[b] = gb, ga

        def undo_swap() -> None:
            st.seq[ga][ia], st.seq[gb][ib] = a, b
            st.where[a], st.where[b] = ga, gb
        return undo_swap
    j = int(rng.integers(st.n))
    g_old = st.where[j]
    i_old = st.seq[g_old].index(j)
    del st.seq[g_old][i_old]
    g = st.target(rng)
    lo, hi = st.insert_range(g, j)
    if hi < lo:
        st.seq[g_old].insert(i_old, j)
        return None
    p = int(rng.integers(lo, hi + 1))
    if g == g_old and p == i_old:
        st.seq[g_old].insert(i_old, j)
        return None
    st.seq[g].insert(p, j)
    st.where[j] = g

    def undo_relocate() -> None:
        del st.seq[g][p]
        st.seq[g_old].insert(i_old, j)
        st.where[j] = g_old
    return undo_relocate


__all__ = ["SearchOutcome", "makespan_search"]

