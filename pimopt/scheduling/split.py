"""Input splitting: part of a block's inputs computed on a second load, if the makespan drops.

A block's compute occupies one OU of its crossbar for ``n_inputs`` input
vectors. When one crossbar finishes a layer long after the others (its OUs
are the bottleneck), the block can compute the first part of its inputs on
its own load and the rest on a second load of the same pattern in a slot of
another crossbar: more programming, less compute on the bottleneck.

:func:`split_inputs` is a first-improvement search over such splits: layer
by layer (longest compute span first) it takes the crossbar that finishes
the layer last, the longest splittable computes there, and tries moving the
second half of a compute's inputs to a new load appended (within that
layer's part of the sequence) to the earliest-free slot of one of the two
crossbars that finish the layer first. Each candidate is scheduled by the
list scheduler and kept only if the makespan drops, so the result is never
worse than the unsplit schedule; the verifier checks it like any other.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pimopt.instance import Instance
from pimopt.interrupt import expired
from pimopt.mapping import Mapping
from pimopt.schedule import Schedule
from pimopt.scheduling.list_scheduler import list_schedule


@dataclass
class SplitOutcome:
    """The mapping with input ranges, its list schedule and what the search did."""

    mapping: Mapping
    schedule: Schedule
    info: dict[str, Any] = field(default_factory=dict)


def _with_split(inst: Instance, m: Mapping, row: int, xb: int, slot: int) -> Mapping | None:
    """``m`` with the second half of ``row``'s inputs on a new load in (xb, slot)."""
    first, last = m.ranges(inst)
    f, la = int(first[row]), int(last[row])
    if la - f < 2:
        return None
    mid = f + (la - f) // 2
    layer = inst.block_layer[m.block]
    lay = int(layer[row])
    here = (m.crossbar == xb) & (m.slot == slot)
    # the new load goes after the slot's last load of a layer <= lay (layer order holds)
    before = here & (layer <= lay)
    pos = int(m.position[before].max()) + 1 if before.any() else 0
    later = here & (m.position >= pos)
    if later.any() and int(layer[later].min()) < lay:
        return None
    position = m.position.copy()
    position[later] += 1
    new_first = np.r_[first, mid].astype(np.int64)
    new_last = np.r_[last, la].astype(np.int64)
    new_last[row] = mid
    return Mapping(block=np.r_[m.block, m.block[row]], crossbar=np.r_[m.crossbar, xb],
                   slot=np.r_[m.slot, slot], position=np.r_[position, pos],
                   first=new_first, last=new_last)


def split_inputs(inst: Instance, mapping: Mapping, *, granularity: str = "slot",
                 overlap: bool = True, time_limit: float = 10.0, max_splits: int = 256,
                 candidates: int = 4, method: str = "") -> SplitOutcome:
    """Split inputs of bottleneck computes across loads while the makespan drops.

    Parameters
    ----------
    inst, mapping
        The instance and a valid mapping (with or without input ranges).
    granularity, overlap
        List-scheduler options (every candidate is scheduled with them).
    time_limit
        Seconds for the search.
    max_splits
        Splits kept at most.
    candidates
        Computes tried per step (the longest on the bottleneck crossbar).
    method
        Name recorded in the schedule.
    """
    t0 = time.perf_counter()
    best_map = mapping
    best = list_schedule(inst, mapping, granularity=granularity, overlap=overlap, method=method)
    start_ms = best.makespan_ps()
    kept, tried = 0, 0
    while kept < max_splits and not expired(t0 + time_limit):
        improved = False
        for row, targets in _candidates(inst, best_map, best, candidates):
            for xb, sl in targets:
                cand = _with_split(inst, best_map, row, xb, sl)
                if cand is None:
                    continue
                tried += 1
                sched = list_schedule(inst, cand, granularity=granularity, overlap=overlap,
                                      method=method)
                if sched.makespan_ps() < best.makespan_ps():
                    best_map, best, improved = cand, sched, True
                    kept += 1
                    break
                if expired(t0 + time_limit):
                    break
            if improved or expired(t0 + time_limit):
                break
        if not improved:
            break
    info = {"splits": kept, "candidates_scheduled": tried,
            "makespan_before_ps": start_ms, "makespan_after_ps": best.makespan_ps(),
            "seconds": time.perf_counter() - t0}
    return SplitOutcome(best_map, best, info)


def _candidates(inst: Instance, m: Mapping, s: Schedule, per_layer: int
                ) -> list[tuple[int, list[tuple[int, int]]]]:
    """(mapping row, target slots) to try: the longest splittable computes on each layer's
    bottleneck crossbar, layers with the longest compute span first; targets are, for
    the two crossbars that finish the layer first, their slot that is free earliest."""
    a = inst.arch
    layer_of = inst.block_layer[s.comp_block]
    splittable = (s.comp_last - s.comp_first) >= 2
    slot_free = np.zeros(a.total_slots, dtype=np.int64)
    spans = []
    for lay in np.unique(layer_of[splittable]).tolist():
        sel = np.flatnonzero(layer_of == lay)
        spans.append((int(s.comp_end[sel].max() - s.comp_start[sel].min()), lay, sel))
    out: list[tuple[int, list[tuple[int, int]]]] = []
    for _, _lay, sel in sorted(spans, key=lambda t: -t[0]):
        ends = np.zeros(a.crossbars, dtype=np.int64)
        np.maximum.at(ends, s.comp_crossbar[sel], s.comp_end[sel])
        bottleneck = int(np.argmax(ends))
        on_b = sel[(s.comp_crossbar[sel] == bottleneck) & splittable[sel]]
        if on_b.size == 0:
            continue
        slot_free[:] = 0
        np.maximum.at(slot_free, s.comp_crossbar[sel] * a.slots_per_crossbar + s.comp_slot[sel],
                      s.comp_end[sel])
        targets: list[tuple[int, int]] = []
        for xb in np.argsort(ends, kind="stable").tolist():
            if xb != bottleneck and len(targets) < 2:
                lo = xb * a.slots_per_crossbar
                targets.append((xb, int(np.argmin(slot_free[lo: lo + a.slots_per_crossbar]))))
        longest = on_b[np.argsort(-(s.comp_end[on_b] - s.comp_start[on_b]), kind="stable")]
        for row in _rows_of_computes(m, inst, s, longest[:per_layer]):
            out.append((row, targets))
    return out


def _rows_of_computes(m: Mapping, inst: Instance, s: Schedule,
                      comps: np.ndarray) -> list[int]:
    """Mapping rows of the given compute operations (same block, same input range)."""
    first, _ = m.ranges(inst)
    key = {(int(b), int(f)): r for r, (b, f) in enumerate(zip(m.block.tolist(),
                                                              first.tolist(), strict=True))}
    return [key[(int(s.comp_block[c]), int(s.comp_first[c]))] for c in comps.tolist()]
