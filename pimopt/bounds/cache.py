"""The bounds a solve reports, per instance: computed within a time limit and cached in
memory and on disk (:mod:`pimopt.cache`).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from pimopt import cache, interrupt
from pimopt.bounds.makespan import MakespanBound, makespan_bound
from pimopt.bounds.programming import critical_path_bound, layered_ap_bound
from pimopt.chains.problem import ChainProblem, layer_items
from pimopt.instance import Instance
from pimopt.interrupt import seconds_left
from pimopt.latency import pair_costs, write_floor

log = logging.getLogger("pimopt.solve")


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
        _instance_from_record,
        lambda b: {"value": b.value, "complete": b.complete, "seconds": b.seconds},
        lambda b: b.value)
    return bound


def fresh_instance_bound(inst: Instance, metric: str, time_limit: float | None
                         ) -> InstanceBound:
    """:func:`instance_bound` computed now, without the cache (and not stored)."""
    return _computed_instance_bound(inst, metric, time_limit)


def _computed_instance_bound(inst: Instance, metric: str,
                             time_limit: float | None) -> InstanceBound:
    t0 = time.perf_counter()
    report: dict[str, Any] = {}
    value = _instance_bound(inst, metric, None if time_limit is None else t0 + time_limit,
                            report)
    return InstanceBound(value, bool(report["complete"]), time.perf_counter() - t0)


BoundT = TypeVar("BoundT", InstanceBound, MakespanBound)


def _finite(x: object, kind: type | tuple[type, ...]) -> bool:
    """``x`` is a finite, non-negative number of ``kind`` (never a bool)."""
    return (isinstance(x, kind) and not isinstance(x, bool)
            and math.isfinite(float(x)) and float(x) >= 0)  # type: ignore[arg-type]


def _instance_from_record(rec: dict[str, Any]) -> InstanceBound | None:
    """The cached layered assignment bound, or ``None`` if any value is not what
    :class:`InstanceBound` holds."""
    if set(rec) != {"key", "value", "complete", "seconds"} \
            or not _finite(rec["value"], (int, float)) \
            or not isinstance(rec["complete"], bool) or not _finite(rec["seconds"], (int, float)):
        return None
    return InstanceBound(float(rec["value"]), rec["complete"], float(rec["seconds"]))


def _cached_bound(name: str, key: str, memo: dict[Any, BoundT], memo_key: Any,
                  time_limit: float | None, compute: Callable[[], BoundT],
                  from_record: Callable[[dict[str, Any]], BoundT | None],
                  to_record: Callable[[BoundT], dict[str, Any]],
                  value: Callable[[BoundT], float]) -> tuple[BoundT, str]:
    """A bound from memory, the disk cache (:mod:`pimopt.cache`) or ``compute()``, and
    where it came from (``"cache"`` or ``"computed"``).

    A complete cached bound is reused as is; a cut one only by runs with no more time
    for it (``time_limit`` <= the seconds it took). A new bound weaker than the cached
    one leaves the cached. A bound cut by Ctrl-C is not stored: it is not what its time
    can give.
    """
    old = _recall(name, key, memo, memo_key, from_record)
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


def _recall(name: str, key: str, memo: dict[Any, BoundT], memo_key: Any,
            from_record: Callable[[dict[str, Any]], BoundT | None]) -> BoundT | None:
    """The bound held in memory, else the one on disk (kept in memory), else ``None``
    (a record :func:`from_record` rejects is a miss)."""
    old = memo.get(memo_key)
    if old is None:
        rec = cache.load(name, key)
        old = None if rec is None else from_record(rec)
        if old is not None:
            memo[memo_key] = old
    return old


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
        # as docs/model.md states it (any number of a layer's loads per slot)
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



def mapping_bound(inst: Instance, objective: str, method_bound: float | None,
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
        candidates = [critical_path_bound(b, inst.arch.crossbars) for b in candidates]
    share = inst.arch.slots_per_write_segment
    if objective == "programming" and granularity == "crossbar" and share > 1:
        candidates = [b / share for b in candidates]
    return max(candidates) / unit if candidates else None


_MAKESPAN_BOUNDS: dict[str, MakespanBound] = {}
# bounds cached before the layer order and the writes after a window opens ("-5"), the
# layer-window and tail terms ("-4"), the agreement search ("-3") and the flow term
# ("-2") are weaker, some marked complete
_MAKESPAN_NAME = "makespan-bound-5"


def _makespan_from_record(rec: dict[str, Any]) -> MakespanBound | None:
    """The cached makespan bound, or ``None`` if a field is missing, extra or not what
    :class:`MakespanBound` holds, or its value is not the largest of its terms."""
    fields = {f.name: f.type for f in dataclasses.fields(MakespanBound)}
    body = {k: v for k, v in rec.items() if k != "key"}
    if set(body) != set(fields):
        return None
    for name, kind in fields.items():
        v = body[name]
        ok = (isinstance(v, bool) if kind == "bool" else isinstance(v, str) if kind == "str"
              else _finite(v, int) if kind == "int" else _finite(v, (int, float)))
        if not ok:
            return None
    mb = MakespanBound(**body)
    if mb.value_ps != max(mb.path_ps, mb.resource_ps, mb.window_ps):
        return None
    return mb


def cached_makespan_bound(inst: Instance, time_limit: float,
                          source: dict[str, str] | None = None) -> MakespanBound:
    """The makespan bound, cached per instance content in memory and on disk
    (:mod:`pimopt.cache`); a complete one is reused as is, a cut one only by runs
    with no more time for it. ``source["makespan"]`` says which ("cache" or
    "computed"; a computed bound smaller than the cached one leaves the cached)."""
    if source is None:
        source = {}
    bound, source["makespan"] = _cached_bound(
        _MAKESPAN_NAME, inst.content_hash(), _MAKESPAN_BOUNDS, inst.content_hash(),
        time_limit, lambda: makespan_bound(inst, time_limit=time_limit),
        _makespan_from_record, MakespanBound.to_dict, lambda b: b.value_ps)
    return bound


def complete_makespan_bound(inst: Instance) -> MakespanBound | None:
    """The cached makespan bound of ``inst`` if it is complete (nothing cut), else ``None``."""
    key = inst.content_hash()
    old = _recall(_MAKESPAN_NAME, key, _MAKESPAN_BOUNDS, key, _makespan_from_record)
    return old if old is not None and old.complete else None


def remember_makespan_bound(inst: Instance, mb: MakespanBound) -> None:
    """Cache ``mb`` (computed elsewhere, e.g. in a background process) unless the
    cache holds a larger bound of ``inst`` already."""
    key = inst.content_hash()
    old = _recall(_MAKESPAN_NAME, key, _MAKESPAN_BOUNDS, key, _makespan_from_record)
    if old is not None and (old.value_ps > mb.value_ps
                            or (old.value_ps == mb.value_ps and old.complete)):
        return
    _MAKESPAN_BOUNDS[key] = mb
    cache.store(_MAKESPAN_NAME, key, mb.to_dict())
