"""The list scheduler: turns any valid mapping into a timeline obeying docs/model.md, *Hardware*.

Priority rule (documented in ``docs/model.md``): operations are taken in the
order (layer, rank of the load among its layer's loads in its slot, program
before compute, crossbar, slot), or with ``priority="position"`` the load's
position in its slot instead of its rank; either is a topological order of
all precedences (program -> compute of a load; compute of a load -> program
of the next load of that slot; layer barrier). Each operation starts at the
earliest time its precedences and resources allow, with resources tracked
append-only:

- a crossbar's programming is serial; with ``block_whole_crossbar`` it starts
  after every compute already placed on that crossbar (with ``prefetch``, in
  the earliest stretch of the crossbar free of them), and computes start
  after the crossbar's last program operation;
- at most ``ous_per_crossbar`` computes per crossbar (one channel per OU);
- at most ``max_programming_crossbars`` program operations at once: a
  profile of how many crossbars program over time (:class:`_WriteBudget`)
  finds the earliest gap, so an operation placed late in the priority order
  can still use an earlier idle stretch of the budget;
- ``overlap=False`` additionally keeps all programming and all computing of
  the chip apart in time (no programming hidden behind compute anywhere).

Program operations are one slot each (``granularity="slot"``, OU-granular
reload) or all slots of one crossbar that load the same position (or rank,
with ``priority="layer"``) for the same layer (``granularity="crossbar"``,
whole-crossbar reload, which lets wide write segments share passes). A load
whose pattern is already in the slot needs no program operation.
"""

from __future__ import annotations

import bisect
import heapq
from typing import Any

import numpy as np

from pimopt.errors import InputError
from pimopt.instance import Instance
from pimopt.latency import operation_costs
from pimopt.mapping import Mapping
from pimopt.schedule import Schedule
from pimopt.windows import RULES

GRANULARITIES = ("slot", "crossbar")
PRIORITIES = ("layer", "position")
PREFETCH_OPS_LIMIT = 10_000  # program operations up to which ``prefetch`` applies


def list_schedule(inst: Instance, mapping: Mapping, *, granularity: str = "slot",
                  overlap: bool = True, method: str = "", prefetch: bool = False,
                  priority: str = "layer", dependencies: str = "barrier") -> Schedule:
    """Schedule a mapping with the list scheduler.

    Parameters
    ----------
    inst
        The instance.
    mapping
        A mapping valid for ``inst`` (checked here).
    granularity
        ``"slot"`` or ``"crossbar"`` program operations.
    overlap
        Allow programming of some crossbars while others compute.
    method
        Name recorded in the schedule.
    prefetch
        With ``block_whole_crossbar`` and ``overlap``, on instances of at most
        :data:`PREFETCH_OPS_LIMIT` program operations: a program operation
        takes the earliest stretch of its crossbar free of every operation
        placed there before it (so a later layer's load is written while its
        crossbar idles during earlier layers), instead of starting after all
        of them. Its cost grows with the operations squared.
    priority
        The order operations are taken in: ``"layer"`` (layer, rank of the load
        among its layer's loads in its slot, program before compute, crossbar,
        slot) or ``"position"`` (the load's position in its slot instead of its
        rank). They differ where slots enter a layer at different positions:
        ``"position"`` writes a slot's first load of the layer only after the
        crossbar's computes of lower positions (ResNet-20 on ``multi-ou``:
        15.0 ms against 12.8 ms), which sometimes staggers crossbars usefully
        (digits models: 1-4% shorter).
    dependencies
        ``"barrier"`` (a layer computes after the layers it depends on have
        finished) or ``"window"`` (a compute over inputs ``[first, last)`` waits
        only for the producer outputs ``need[last - 1]`` of the layer's windows,
        :mod:`pimopt.windows`). Under ``"window"`` the computes of one load
        (input chunks, :func:`pimopt.scheduling.pipelining.chunk_rows`) are taken
        in *waves* before layers (:func:`_waves`): chunk ``c`` of every layer as
        soon as what it needs is placed, so that layers interleave on the OUs.

    Returns
    -------
    Schedule
        The timeline (not yet verified).
    """
    if granularity not in GRANULARITIES:
        raise InputError(f"granularity = {granularity!r} is invalid: one of {GRANULARITIES}")
    if priority not in PRIORITIES:
        raise InputError(f"priority = {priority!r} is invalid: one of {PRIORITIES}")
    if dependencies not in RULES:
        raise InputError(f"dependencies = {dependencies!r} is invalid: one of {RULES}")
    mapping.validate(inst)
    a = inst.arch
    spc = a.slots_per_crossbar
    loads = mapping.loads(inst)
    n_loads = len(loads)
    old, new = loads.transitions(inst)
    changed = (old != new).reshape(n_loads, -1).any(axis=1)
    wl = np.flatnonzero(changed)  # loads that need writing
    l_xb, l_slot = np.divmod(loads.global_slot, spc)

    # the second key: the load's position in its slot, or its rank among the loads of
    # its layer in that slot (then a slot's first load of a layer is written with every
    # other slot's first load of that layer, not after the crossbar's earlier computes)
    rank = loads.position if priority == "position" else _rank_in_layer(
        loads.global_slot, loads.min_layer)

    if granularity == "slot":
        op_of_write = np.arange(wl.size)
    else:
        key = np.stack([l_xb[wl], rank[wl], loads.min_layer[wl]], axis=1)
        _, op_of_write = np.unique(key, axis=0, return_inverse=True)
        op_of_write = op_of_write.ravel()
    n_ops = int(op_of_write.max()) + 1 if wl.size else 0
    cost = operation_costs(a, op_of_write, l_slot[wl], old[wl], new[wl], n_ops)
    op_xb = np.zeros(n_ops, dtype=np.int64)
    op_xb[op_of_write] = l_xb[wl]
    op_layer = np.full(n_ops, np.iinfo(np.int64).max)
    np.minimum.at(op_layer, op_of_write, loads.min_layer[wl])
    op_slot = np.full(n_ops, spc, dtype=np.int64)
    np.minimum.at(op_slot, op_of_write, l_slot[wl])
    op_writes: list[list[int]] = [[] for _ in range(n_ops)]
    for w, o in enumerate(op_of_write.tolist()):
        op_writes[o].append(int(loads.global_slot[wl[w]]))

    # computes: one per mapping row, on its load's slot, the row's inputs at once
    c_load = loads.load_of_row
    c_block = mapping.block
    c_first, c_last = mapping.ranges(inst)
    c_layer = inst.block_layer[c_block].astype(np.int64)
    c_dur = a.compute_ps(1) * (c_last - c_first)

    op_pos = np.zeros(n_ops, dtype=np.int64)
    op_pos[op_of_write] = rank[wl]
    # event order: (layer, position or rank, kind, [chunk,] crossbar, slot, index); under
    # windows a load's computes (its input chunks) go chunk by chunk across the slots
    kinds = np.r_[np.zeros(n_ops, dtype=np.int64), np.ones(c_block.size, dtype=np.int64)]
    chunk = _chunk_of_row(c_load, c_first) if dependencies == "window" else np.zeros(
        c_block.size, dtype=np.int64)
    op_wave = np.zeros(n_ops, dtype=np.int64)
    c_wave = np.zeros(c_block.size, dtype=np.int64)
    windows = inst.network.windows(dependencies)
    if dependencies == "window" and granularity == "slot":
        op_wave[op_of_write], c_wave = _waves(loads, c_load, c_first, c_last, chunk, c_layer,
                                              windows, wl)
    order = np.lexsort((
        np.r_[np.arange(n_ops), np.arange(c_block.size)],
        np.r_[op_slot, l_slot[c_load]],
        np.r_[op_xb, l_xb[c_load]],
        np.r_[np.zeros(n_ops, dtype=np.int64), chunk],
        kinds,
        np.r_[op_pos, rank[c_load]],
        np.r_[op_layer, c_layer],
        np.r_[op_wave, c_wave],
    ))

    n_layers = len(windows)  # one entry per layer: its producers and their windows
    need_of = [[(d, None if w is None else w.tolist()) for d, w in ws] for ws in windows]
    # per producer, the latest end of its placed computes by first input (a prefix-max
    # Fenwick tree): in wave order only the computes a consumer needs are placed yet
    ready = {d: _PrefixMax(inst.network.layers[d].n_inputs)
             for ws in need_of for d, w in ws if w is not None}
    c_last_l = c_last.tolist()
    c_first_l = c_first.tolist()
    layer_end = [0] * n_layers
    slot_free = [0] * (a.crossbars * spc)  # end of the last compute on a slot
    slot_content = [0] * (a.crossbars * spc)  # end of the last program of a slot
    xb_prog_end = [0] * a.crossbars
    xb_comp_end = [0] * a.crossbars
    ou_free = [[0] * a.ous_per_crossbar for _ in range(a.crossbars)]
    gaps = prefetch and a.block_whole_crossbar and overlap and n_ops <= PREFETCH_OPS_LIMIT
    budget = _WriteBudget(int(a.max_programming_crossbars or a.crossbars), op_xb, a.crossbars,
                          prune=not gaps)
    busy = [_Busy() for _ in range(a.crossbars)] if gaps else []
    global_prog_end = 0
    global_comp_end = 0
    block_whole = a.block_whole_crossbar
    op_dur = cost.latency_ps.tolist()
    op_xb_l = op_xb.tolist()
    prog_start = [0] * n_ops
    comp_start = [0] * c_block.size
    c_dur_l = c_dur.tolist()
    c_xb_l = l_xb[c_load].tolist()
    c_gs_l = loads.global_slot[c_load].tolist()
    c_layer_l = c_layer.tolist()

    for ev in order.tolist():
        if ev < n_ops:
            xb = op_xb_l[ev]
            t = 0 if gaps else xb_prog_end[xb]
            for gs in op_writes[ev]:
                t = max(t, slot_free[gs])
            if gaps:
                # the earliest stretch free on the crossbar and within the write budget
                dur = op_dur[ev]
                while True:
                    t = busy[xb].earliest(t, dur)
                    t_budget = budget.earliest(t, dur)
                    if t_budget == t:
                        break
                    t = t_budget
                budget.place(xb, t, dur, xb_prog_end)
                busy[xb].add(t, t + dur)
            else:
                if block_whole:
                    t = max(t, xb_comp_end[xb])
                if not overlap:
                    t = max(t, global_comp_end)
                t = budget.place(xb, t, op_dur[ev], xb_prog_end)
            end = t + op_dur[ev]
            prog_start[ev] = t
            xb_prog_end[xb] = max(xb_prog_end[xb], end)
            for gs in op_writes[ev]:
                slot_content[gs] = end
            global_prog_end = max(global_prog_end, end)
        else:
            i = ev - n_ops
            xb, gs, layer = c_xb_l[i], c_gs_l[i], c_layer_l[i]
            ous = ou_free[xb]
            t = max(slot_content[gs], slot_free[gs], ous[0])
            for d, need in need_of[layer]:
                if need is None:
                    t = max(t, layer_end[d])
                    continue
                t = max(t, ready[d].query(need[c_last_l[i] - 1]))
            if block_whole:
                t = max(t, xb_prog_end[xb])
            if not overlap:
                t = max(t, global_prog_end)
            end = t + c_dur_l[i]
            if gaps:
                busy[xb].add(t, end)
            heapq.heapreplace(ous, end)
            comp_start[i] = t
            if layer in ready:
                ready[layer].update(c_first_l[i], end)
            slot_free[gs] = end
            xb_comp_end[xb] = max(xb_comp_end[xb], end)
            layer_end[layer] = max(layer_end[layer], end)
            global_comp_end = max(global_comp_end, end)

    ps = np.array(prog_start, dtype=np.int64)
    cs = np.array(comp_start, dtype=np.int64)
    meta = {"instance": {"name": inst.network.name, "sha256": inst.content_hash(),
                         "network_sha256": inst.network.content_hash()},
            "architecture": a.to_dict(),
            "scheduler": {"name": "list", "granularity": granularity, "overlap": overlap,
                          "priority": priority, "prefetch": bool(gaps)},
            "dependencies": dependencies}
    return Schedule(
        prog_crossbar=op_xb, prog_start=ps, prog_end=ps + cost.latency_ps,
        write_op=op_of_write, write_slot=l_slot[wl], write_block=loads.block[wl],
        write_levels=new[wl],
        comp_crossbar=l_xb[c_load], comp_slot=l_slot[c_load], comp_block=c_block,
        comp_first=c_first, comp_last=c_last, comp_start=cs, comp_end=cs + c_dur,
        method=method, meta=meta)


def _chunk_of_row(load: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Ordinal of every compute row among its load's rows, by first input (0, 1, ...)."""
    n = load.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort((first, load))
    new = np.r_[True, load[order][1:] != load[order][:-1]]
    start = np.maximum.accumulate(np.where(new, np.arange(n), 0))
    out = np.empty(n, dtype=np.int64)
    out[order] = np.arange(n) - start
    return out


class _PrefixMax:
    """Latest end among a layer's placed computes whose range starts below ``n``: its first
    ``n`` outputs are complete then, once every compute starting below ``n`` is placed
    (every block covers each output exactly once). A Fenwick tree of maxima."""

    def __init__(self, n: int) -> None:
        self.tree = [0] * (n + 1)

    def update(self, first: int, end: int) -> None:
        i, tree = first + 1, self.tree
        while i < len(tree):
            if tree[i] < end:
                tree[i] = end
            i += i & -i

    def query(self, n: int) -> int:
        out, tree = 0, self.tree
        while n > 0:
            if tree[n] > out:
                out = tree[n]
            n -= n & -n
        return out


def _waves(loads: Any, c_load: np.ndarray, c_first: np.ndarray, c_last: np.ndarray,
           chunk: np.ndarray, c_layer: np.ndarray,
           windows: list[list[tuple[int, np.ndarray | None]]], wl: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """Wave of every write and compute under the window rule: the primary sort key.

    A compute's wave is at least its chunk index, its load's program wave, and the
    waves of the producer computes it needs (those starting below ``need[last - 1]``,
    all of a producer without a window); a load's program wave is at least the waves
    of the previous load's computes in its slot. With ties broken by layer, then rank,
    program before compute, the order is topological: what a compute needs, and what
    a write must follow, comes earlier. Loads are visited by (layer, position), so
    every wave is known when it is needed.
    """
    n_loads = len(loads)
    rows_of: list[list[int]] = [[] for _ in range(n_loads)]
    for i, ld in enumerate(c_load.tolist()):
        rows_of[ld].append(i)
    rows_of_layer: dict[int, list[int]] = {}
    for i, la in enumerate(c_layer.tolist()):
        rows_of_layer.setdefault(la, []).append(i)
    prog = np.zeros(n_loads, dtype=np.int64)
    c_wave = [0] * c_load.size
    first_l, last_l, chunk_l, layer_l = (c_first.tolist(), c_last.tolist(), chunk.tolist(),
                                         c_layer.tolist())
    done: dict[int, tuple[list[int], list[int]]] = {}  # layer: (sorted firsts, cum. waves)

    def finish(lay: int) -> None:
        sel = sorted(rows_of_layer.get(lay, []), key=lambda i: first_l[i])
        acc, waves = 0, []
        for i in sel:
            acc = max(acc, c_wave[i])
            waves.append(acc)
        done[lay] = ([first_l[i] for i in sel], waves)

    slot = loads.global_slot.tolist()
    current = -1
    for ld in np.lexsort((loads.position, loads.min_layer)).tolist():
        la = int(loads.min_layer[ld])
        if la != current:  # every load of the layers before is visited: their waves stand
            for lay in range(max(current, 0), la):
                if lay not in done:
                    finish(lay)
            current = la
        w = 0
        if ld > 0 and slot[ld - 1] == slot[ld]:
            w = max((c_wave[i] for i in rows_of[ld - 1]), default=0)
        prog[ld] = w
        for i in rows_of[ld]:
            cw = max(w, chunk_l[i])
            for d, need in windows[layer_l[i]]:
                if d not in done:
                    finish(d)
                firsts, waves = done[d]
                k = len(firsts) if need is None else bisect.bisect_left(
                    firsts, int(need[last_l[i] - 1]))
                if k:
                    cw = max(cw, waves[k - 1])
            c_wave[i] = cw
    return prog[wl], np.asarray(c_wave, dtype=np.int64)


def _rank_in_layer(gslot: np.ndarray, layer: np.ndarray) -> np.ndarray:
    """Rank of every load among the loads of its layer in its slot (loads sorted by
    slot and position, layers ascending along a slot)."""
    n = gslot.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    new_run = np.r_[True, (gslot[1:] != gslot[:-1]) | (layer[1:] != layer[:-1])]
    start = np.maximum.accumulate(np.where(new_run, np.arange(n), 0))
    return np.arange(n) - start


class _WriteBudget:
    """At most ``limit`` crossbars programming at once, for operations placed in any time order.

    A skyline: ``times[i]`` starts a stretch with ``count[i]`` operations in
    progress (the last stretch, to infinity, has none). A crossbar programs
    serially and never before its previous operation's end, so stretches that
    end before every crossbar's last programming end can no longer matter and
    are dropped now and then (memory stays proportional to the operations in
    flight). With ``limit >= crossbars`` the budget can never bind and is not tracked.
    """

    PRUNE_EVERY = 512

    def __init__(self, limit: int, op_xb: np.ndarray, crossbars: int, prune: bool = True
                 ) -> None:
        self.limit = limit
        self.active = limit < crossbars
        self.prune = prune  # only while every crossbar programs after its previous operation
        self.times: list[int] = [0]
        self.count: list[int] = [0]
        self.left = np.bincount(op_xb, minlength=crossbars).tolist()  # ops still to place
        self.placed = 0

    def earliest(self, t0: int, dur: int) -> int:
        """Earliest start ``>= t0`` with budget for ``dur`` (nothing recorded)."""
        if not self.active or dur == 0:
            return t0
        times, count = self.times, self.count
        t = t0
        j = bisect.bisect_right(times, t) - 1
        while j < len(times) and times[j] < t + dur:
            if count[j] >= self.limit:  # full: try again from the end of this stretch
                t = times[j + 1]
            j += 1
        # t is now clear of every full stretch it met; the loop only moves forward
        return t

    def place(self, xb: int, t0: int, dur: int, xb_prog_end: list[int]) -> int:
        """Earliest start ``>= t0`` with budget for ``dur``; records the operation there."""
        self.left[xb] -= 1
        if not self.active or dur == 0:
            return t0
        t = self.earliest(t0, dur)
        lo, hi = self._split(t), self._split(t + dur)
        for k in range(lo, hi):
            self.count[k] += 1
        self.placed += 1
        if self.prune and self.placed % self.PRUNE_EVERY == 0:
            self._prune(xb_prog_end)
        return t

    def _split(self, x: int) -> int:
        """Index of the stretch starting at ``x`` (made if needed)."""
        idx = bisect.bisect_left(self.times, x)
        if idx < len(self.times) and self.times[idx] == x:
            return idx
        self.times.insert(idx, x)
        self.count.insert(idx, self.count[idx - 1])
        return idx

    def _prune(self, xb_prog_end: list[int]) -> None:
        pending = [e for e, n in zip(xb_prog_end, self.left, strict=True) if n > 0]
        if not pending:
            return
        i = bisect.bisect_right(self.times, min(pending)) - 1
        if i > 0:
            del self.times[:i]
            del self.count[:i]


class _Busy:
    """The busy stretches of one crossbar, merged: disjoint ``[starts[i], ends[i])``."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []

    def earliest(self, t: int, dur: int) -> int:
        """Earliest start ``>= t`` of a stretch of length ``dur`` overlapping none."""
        starts, ends = self.starts, self.ends
        i = bisect.bisect_right(starts, t) - 1
        if i >= 0 and ends[i] > t:
            t = ends[i]
        i += 1
        while i < len(starts) and starts[i] < t + dur:
            t = ends[i]
            i += 1
        return t

    def add(self, s: int, e: int) -> None:
        """Mark ``[s, e)`` busy (merged with the stretches it touches)."""
        if e <= s:
            return
        starts, ends = self.starts, self.ends
        lo = bisect.bisect_left(ends, s)  # first stretch ending at or after s
        hi = bisect.bisect_right(starts, e)  # stretches starting at or before e
        if lo < hi:
            s = min(s, starts[lo])
            e = max(e, ends[hi - 1])
        starts[lo:hi] = [s]
        ends[lo:hi] = [e]
