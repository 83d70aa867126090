"""A lower bound on the makespan, valid for every mapping and every schedule.

The proof is in ``docs/bounds.md`` (section "Makespan"); in short, with
``u`` the latency of one input vector on one OU (``input_bits * t_ou``),
``U_L`` the (block, input vector) pairs of layer ``L`` (non-zero blocks times
``n_inputs``), ``X`` crossbars and ``o`` OUs computing at once per crossbar:

- **path**: along any path of the layer DAG the layers compute one after the
  other (layer barrier), and layer ``L`` keeps at most ``X * o`` OUs busy, each
  computing whole input vectors, so it lasts at least
  ``ceil(U_L / (X * o)) * u``. Nothing computes before the first write ends,
  which takes at least ``p0``, the cheapest write of any non-zero pattern into
  an erased slot. ``M >= p0 + longest path``.
- **resource**: with ``block_whole_crossbar`` a crossbar computes on at most
  ``o`` OUs and not at all while it programs, so ``X * M >= P + C / o`` with
  ``C`` all compute work and ``P`` all programming. Every distinct non-zero
  pattern is written at least once, from a slot holding something else, so
  ``P >= sum_v lb(v) / k`` where ``lb(v)`` is the cheapest write of ``v`` from
  the erased state or any other pattern of the network (computed exactly
  where all pairs fit the time limit, by segment table look-ups where a
  table fits; else by the agreement search of :mod:`pimopt.bounds.agreement`,
  which evaluates the pairs that can be cheap and bounds the others, where
  the segment contents fit a table; else one pass per write segment in which
  ``v`` differs from the pattern nearest to it in differing segments,
  :func:`pimopt.latency.segment_distances`), and ``k`` the slots that
  can share one write segment (``write_width / ou_cols``). Without
  ``block_whole_crossbar``: ``X * o * M >= C``.
- **write budget**: a crossbar's program operations are serial and at most
  ``B = max_programming_crossbars`` crossbars program at once, and at least
  one input vector computes after the last write that a compute uses, so
  ``M >= P / B`` and ``M >= sum_v lb(v) / (k * B) + u``.
- **layer windows** (:func:`_window_term`): along a path of the layer DAG the
  layers' compute windows are disjoint. At the start of layer ``L``'s window
  at most ``S`` (all slots) of its ``D_L`` distinct patterns are in a slot, so
  writes of at least ``D_L - S`` of them lie inside the window; the window
  holds them and the layer's compute on ``X`` crossbars under the write
  budget. All programming not inside a window of the path lies outside them,
  which lengthens the makespan too; the least total over the windows and the
  time outside them is a small convex problem solved exactly by filling the
  cheapest slack first. At most ``S`` of the patterns used from a window's
  opening on can be in a slot then, so the writes of the others lie after it
  (:func:`_suffix_writes`): with that constraint for every window the problem
  is a small LP (:func:`_window_lp`).
- **layer order** (where the latency model is subadditive): a slot never holds
  a content of a layer and then one of a layer it comes after in the DAG
  (once the writes no compute uses are dropped, which costs nothing), so the
  programming term's flow uses only the other writes (:func:`_layer_order`).

Input splitting, pattern reuse, any slot order and any granularity are
allowed by this argument: the bound holds for the problem as docs/model.md states it.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pimopt.bounds.agreement import agreement_nearest
from pimopt.instance import Instance
from pimopt.interrupt import expired, seconds_left
from pimopt.latency import (
    SegmentTable,
    latency_from_codes,
    pair_costs,
    segment_codes,
    segment_distances,
    segment_table,
    single_pass_ps,
    subadditive,
)

EXACT_PAIR_LIMIT = 40_000_000  # pattern pairs the exact nearest-write term may evaluate
# with a segment lookup table (latency.segment_table) the pairs are ~100x cheaper
TABLE_PAIR_LIMIT = 200_000_000_000
TABLE_MIN_PAIRS = 1_000_000  # below this the table is not worth building
TABLE_PAIRS_PER_S = 80_000_000  # conservative (measured 1.2e8 on 2 cores): exact starts if it fits
_PAIRS = 1 << 20  # pairs per vectorised batch
FLOW_ARCS = 16  # cheapest incoming writes per pattern kept for the flow term
FLOW_S_PER_ARC = 3e-5  # conservative: the flow term starts only if this much time is left


def full_bound_seconds(inst: Instance) -> float:
    """Rough seconds :func:`makespan_bound` needs to complete on ``inst`` (its all-pairs
    pass at the conservative table rate, and the flow term); ``inf`` where only the
    agreement search can run (it is complete only where it settles every pattern)."""
    n = int(inst.n_distinct_nonzero)
    pairs = n * (n + 1)
    if pairs > TABLE_PAIR_LIMIT:
        return float("inf")
    return pairs / TABLE_PAIRS_PER_S + FLOW_S_PER_ARC * FLOW_ARCS * n


@dataclass(frozen=True)
class MakespanBound:
    """The makespan bound and its terms (all times in ps).

    Attributes
    ----------
    value_ps
        ``max(path_ps, resource_ps)``: the bound.
    path_ps
        First write plus the longest path of per-layer compute lower bounds.
    resource_ps
        Crossbar-time bound (compute, plus programming under
        ``block_whole_crossbar``) or write-budget bound, whichever is larger.
    first_write_ps
        ``p0``, the cheapest write of any non-zero pattern into an erased slot.
    compute_ps
        All compute work ``C`` (one OU).
    programming_lb_ps
        Lower bound on all programming ``P`` used in ``resource_ps``.
    programming_term
        ``"exact"`` (nearest write computed over all pattern pairs),
        ``"agreement"`` (the agreement search: exact for the patterns it
        settled, a bound by differing places for the others),
        ``"segment distance"`` (a pass per write segment in which the pattern
        differs from its nearest pattern) or ``"mixed"`` (the exact term was
        cut by its time limit part-way; the others keep the segment distance).
    complete
        No part of the programming term was cut by the time limit (a cut
        term is still valid, only weaker).
    seconds
        Time spent computing the bound.
    flow
        The programming term is the min-cost flow over all writes (every write
        consumes its slot's content; see ``_flow_term``), not only the sum of
        each pattern's cheapest write. Needs the exact pass.
    window_ps
        The layer-window term (:func:`_window_term`): per-layer windows along
        the longest path, each holding the writes its layer cannot find
        preloaded and its compute, plus all other programming.
    rule
        The dependency rule the bound is valid under (:func:`under_rule`).
    """

    value_ps: int
    path_ps: int
    resource_ps: int
    first_write_ps: int
    compute_ps: int
    programming_lb_ps: int
    programming_term: str
    complete: bool
    seconds: float
    flow: bool = False
    window_ps: int = 0
    rule: str = "barrier"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _costs(arch: Any, codes: NDArray[np.uint64] | None, pats: NDArray[np.uint8],
           u: NDArray[np.int64], v: NDArray[np.int64]) -> NDArray[np.int64]:
    """Single-slot write latency from node ``u`` to node ``v`` (node 0: erased)."""
    if codes is not None:
        return latency_from_codes(arch, codes[u], codes[v])
    return np.asarray(pair_costs(arch, pats[u], pats[v]).latency_ps, dtype=np.int64)


def makespan_bound(inst: Instance, *, time_limit: float | None = 10.0) -> MakespanBound:
    """Lower bound on the makespan of every valid schedule of ``inst`` (ps).

    Parameters
    ----------
    inst
        The instance.
    time_limit
        Seconds for the programming term (segment distances, then the exact
        nearest writes where affordable); when it runs out the term keeps what
        it has (still valid, weaker). ``None``: no limit (deterministic; the
        term is exact whenever the instance is below :data:`EXACT_PAIR_LIMIT`
        pattern pairs, or :data:`TABLE_PAIR_LIMIT` with a segment table).

    Returns
    -------
    MakespanBound
        The bound and its terms.
    """
    t0 = time.perf_counter()
    a = inst.arch
    nz = inst.nonzero_blocks
    n_layers = len(inst.network.layers)
    per_layer = np.bincount(inst.block_layer[nz], minlength=n_layers).astype(np.int64)
    n_inputs = np.array([la.n_inputs for la in inst.network.layers], dtype=np.int64)
    unit = a.compute_ps(1)
    channels = a.crossbars * a.ous_per_crossbar
    work = [int(c) * int(n) for c, n in zip(per_layer.tolist(), n_inputs.tolist(), strict=True)]
    compute = sum(work) * unit

    # distinct non-zero patterns; node 0 is the erased slot
    pid = inst.pattern_id[nz]
    _, first = np.unique(pid, return_index=True)
    distinct = inst.patterns[nz[first]]
    pats = np.concatenate([np.zeros((1, a.ou_rows, a.ou_cols), np.uint8), distinct])
    codes = segment_codes(a, pats)
    n = len(distinct)
    nodes = np.arange(1, n + 1, dtype=np.int64)
    from_zero = np.concatenate([_costs(a, codes, pats, np.zeros(len(c), np.int64), c)
                                for c in np.array_split(nodes, max(1, n // _PAIRS + 1))])
    p0 = int(from_zero.min()) if n else 0

    # longest path of per-layer compute bounds through the layer DAG
    deps = inst.network.dependencies()
    compute_path = _longest_path([_ceil_div(w, channels) * unit for w in work], deps)
    path = p0 + sum(_ceil_div(work[i], channels) * unit for i in compute_path)

    # programming no crossbar can compute through: every pattern's cheapest write, exact
    # (all pairs) where affordable, else one pass per segment it differs in from its
    # nearest pattern (the floor also stands in for patterns the exact term cannot reach)
    pairs = n * (n + 1)
    # all pairs by table look-ups where they fit (no time limit: up to TABLE_PAIR_LIMIT)
    fits = pairs <= TABLE_PAIR_LIMIT and (time_limit is None or (
        pairs / TABLE_PAIRS_PER_S <= 0.7 * time_limit - (time.perf_counter() - t0)))
    table = segment_table(a, pats) if TABLE_MIN_PAIRS < pairs and fits else None
    exact = table is not None or 0 < pairs <= EXACT_PAIR_LIMIT
    # too many pairs for all of them: the agreement search evaluates the pairs that can
    # be cheap and bounds the rest (agreement.py), where the segment contents fit a table
    search = None if exact or n < 2 else segment_table(a, pats)
    deadline = float("inf") if time_limit is None else t0 + time_limit
    if search is not None:
        found = agreement_nearest(search.ids, search.table, from_zero, deadline)
        lb, complete, term = found.lower, found.complete, "agreement"
    else:
        floor_end = None if time_limit is None else t0 + time_limit * (0.3 if exact else 1.0)
        seg_dist, complete = segment_distances(a, distinct, floor_end)
        lb = np.minimum(from_zero, seg_dist * single_pass_ps(a))
        term = "segment distance"
    upid = np.unique(pid)
    if exact:
        order = _layer_order(inst, upid, pid, inst.block_layer[nz])
        lb, allowed, term, arcs = _nearest_writes(a, codes, pats, from_zero, lb, deadline,
                                                  table, order)
        complete = term == "exact"
        # the flow solve cannot be stopped: it starts only if it fits (measured ~7 us/arc)
        flow = seconds_left(deadline) >= FLOW_S_PER_ARC * arcs.src.size
        total = _flow_term(a, arcs, from_zero, allowed) if flow else int(allowed.sum())
        complete = complete and flow
    else:
        total, flow = int(lb.sum()), False
    prog = total // a.slots_per_write_segment
    # the writes computes use cost at least the per-pattern minima (see _resource_term)
    used = int(lb.sum()) // a.slots_per_write_segment
    resource = _resource_term(a, prog, used, compute)
    # distinct patterns of every layer, as indices into ``lb`` (pattern ids are sorted)
    layer_nodes = [np.searchsorted(upid, np.unique(pid[inst.block_layer[nz] == i]))
                   for i in range(n_layers)]
    window = _window_term(a, lb, layer_nodes, work, deps, prog, p0)
    return MakespanBound(value_ps=max(path, resource, window), path_ps=path,
                         resource_ps=resource, first_write_ps=p0, compute_ps=compute,
                         programming_lb_ps=prog, programming_term=term,
                         complete=bool(complete), seconds=time.perf_counter() - t0, flow=flow,
                         window_ps=window)


def _resource_term(a: Any, prog: int, used: int, compute: int) -> int:
    """Crossbar-time and write-budget terms (ps) for all programming ``prog``, the writes
    computes use ``used`` (both already divided by the slots sharing a segment) and all
    compute ``compute``."""
    if a.block_whole_crossbar:
        resource = _ceil_div(prog * a.ous_per_crossbar + compute,
                             a.crossbars * a.ous_per_crossbar)
    else:
        resource = _ceil_div(compute, a.crossbars * a.ous_per_crossbar)
    budget = min(int(a.max_programming_crossbars or a.crossbars), a.crossbars)
    # the used writes end by the last of them, after which one input vector computes
    # (docs/bounds.md, "Write-budget term"; ``prog`` may count writes no compute uses, so
    # it has no such tail)
    return max(resource, _ceil_div(prog, budget),
               _ceil_div(used, budget) + (a.compute_ps(1) if used > 0 else 0))


def with_proven_programming(mb: MakespanBound, inst: Instance, least_ps: int
                            ) -> MakespanBound:
    """The bound with its programming term raised to a proven least total programming.

    ``least_ps`` is the proven optimum of the whole-network chain model (slot
    writes, no round limit, one load per distinct pattern of a layer). Where the
    latency model is subadditive (:func:`pimopt.latency.subadditive`) a second
    load of a pattern never lowers the total, so every schedule, input splitting
    and either granularity included, programs at least ``least_ps / k``
    (docs/bounds.md, section 7). Elsewhere the bound is returned unchanged.
    """
    a = inst.arch
    prog = least_ps // a.slots_per_write_segment
    if not subadditive(a) or prog <= mb.programming_lb_ps:
        return mb
    resource = max(mb.resource_ps, _resource_term(a, prog, 0, mb.compute_ps))
    return replace(mb, value_ps=max(mb.value_ps, resource), resource_ps=resource,
                   programming_lb_ps=prog, programming_term="proven optimum")


def under_rule(mb: MakespanBound, inst: Instance, rule: str) -> MakespanBound:
    """The bound valid under dependency ``rule`` (docs/bounds.md, section 8).

    Under the barrier it is ``mb``. Under ``window`` a layer may start before the
    layers it depends on have finished, so the path and layer-window terms (which
    order the layers' compute windows) are dropped. The crossbar-time and
    write-budget terms hold for any order of the computes; and every compute
    starts after the first write ends and at most ``X * o`` run at once, so the
    makespan is at least ``p0 + ceil(sum U / (X * o)) * u`` (kept as ``path_ps``).
    """
    if rule == "barrier":
        return mb
    a = inst.arch
    u = a.compute_ps(1)
    work = mb.compute_ps // u  # (block, input vector) pairs of the whole network
    spread = mb.first_write_ps + _ceil_div(work, a.crossbars * a.ous_per_crossbar) * u
    return replace(mb, value_ps=max(mb.resource_ps, spread), path_ps=spread, window_ps=0,
                   rule=rule)


def _longest_path(length: list[Any], deps: list[list[int]]) -> list[int]:
    """The layers of a longest path of the layer DAG (layers in topological order,
    ``deps[i]`` the layers ``i`` depends on), weighted by ``length``; empty without
    layers."""
    dist: list[Any] = [0] * len(length)
    pred = [-1] * len(length)
    for i, here in enumerate(length):
        best = max(deps[i], key=lambda d: dist[d], default=-1)
        dist[i] = here + (dist[best] if best >= 0 else 0)
        pred[i] = best
    path: list[int] = []
    i = max(range(len(dist)), key=lambda k: dist[k], default=-1)
    while i >= 0:
        path.append(i)
        i = pred[i]
    return path


def _window_term(arch: Any, lb: NDArray[np.int64], layer_nodes: list[NDArray[np.int64]],
                 work: list[int], deps: list[list[int]], prog: int, p0: int) -> int:
    """The layer-window bound (ps); proof in docs/bounds.md, "Layer windows".

    Layer ``L``'s window (first compute start to last compute end) holds its
    compute and, since at most ``S`` slots hold patterns when it opens, writes
    of at least ``D_L - S`` of its distinct patterns: ``m_L``, the sum of the
    smallest such ``lb`` over ``k`` slots sharing a segment. With ``q`` the
    programming inside a window, it lasts at least
    ``T_L(q) = max(a_L, (q + C_L / o) / X, q / B)`` (``a_L`` the path term's
    compute bound; without ``block_whole_crossbar``, ``max(a_L, q / B)``), and
    the time outside the path's windows at least ``max(p0, q_out / B)``. All
    programming ``P`` is inside a window or outside, so the makespan is at
    least the minimum of the sum over ``q_L >= m_L``, ``q_out >= 0``, with
    ``sum q = P``. Every ``T`` is convex piecewise linear with slopes 0,
    ``1 / X`` and ``1 / B``: the programming left over after the ``m_L`` goes
    to the cheapest slopes first, which is that minimum. The path is the
    longest by ``T_L(m_L)``; any path gives a valid bound.
    """
    x = int(arch.crossbars)
    b = min(int(arch.max_programming_crossbars or x), x)
    o = int(arch.ous_per_crossbar)
    k = int(arch.slots_per_write_segment)
    slots = int(arch.total_slots)
    unit = int(arch.compute_ps(1))
    whole = bool(arch.block_whole_crossbar)
    n = len(work)
    mand = np.zeros(n, dtype=np.float64)
    for i, nodes in enumerate(layer_nodes):
        extra = nodes.size - slots
        if extra > 0:  # the cheapest D_L - S writes of the layer's patterns
            mand[i] = float(np.sort(lb[nodes])[:extra].sum()) / k
    a_l = np.array([_ceil_div(w, x * o) * unit for w in work], dtype=np.float64)
    c_l = np.array([w * unit / o for w in work], dtype=np.float64)
    t0 = np.maximum(a_l, mand / b)
    if whole:
        t0 = np.maximum(t0, (mand + c_l) / x)
    if n == 0:
        return 0
    idx = np.array(_longest_path(t0.tolist(), deps), dtype=np.int64)  # by T_L(m_L)
    # slack of every window at slope 0 and at slope 1 / X before 1 / B
    if whole:
        free0 = np.minimum(x * t0[idx] - c_l[idx], b * t0[idx]) - mand[idx]
        free1 = (np.maximum(b * c_l[idx] / (x - b), b * t0[idx]) - mand[idx] - free0
                 if x > b else np.full(idx.size, np.inf))
    else:
        free0 = b * t0[idx] - mand[idx]
        free1 = np.zeros(idx.size)
    free0 = np.maximum(free0, 0.0)
    free1 = np.maximum(free1, 0.0)
    left = max(0.0, float(prog) - float(mand[idx].sum()))
    outside0 = float(b * p0)  # programming outside the windows while the first write runs
    cost = 0.0
    take = min(left, float(free0.sum()) + outside0)
    left -= take
    take = min(left, float(free1.sum()))
    left -= take
    cost += take / x
    cost += left / b
    value = p0 + float(t0[idx].sum()) + cost
    # floating point: stay below the exact value (integers in ps, at most ~1e13)
    greedy = max(0, int(np.floor(value * (1.0 - 1e-12))) - 1)
    suffix = _suffix_writes(lb, layer_nodes, deps, idx[::-1], slots) / k
    if not np.any(suffix > 0):
        return greedy
    lp = _window_lp(x, b, whole, p0, a_l[idx[::-1]], c_l[idx[::-1]], mand[idx[::-1]], suffix,
                    float(prog))
    # the LP's optimum within the solver's tolerance (relative 1e-9 on values that fit
    # in 1e7 us): a relative margin keeps the value below the exact minimum
    return max(greedy, int(np.floor(lp * (1.0 - 1e-6))) - 1)


def _strictly_after(deps: list[list[int]]) -> NDArray[np.bool_]:
    """``after[i, j]``: layer ``i`` depends on layer ``j``, directly or through others
    (layers in topological order, ``deps[i]`` the layers ``i`` depends on), so under
    the layer barrier every compute of ``i`` starts after every compute of ``j``."""
    n_layers = len(deps)
    after = np.zeros((n_layers, n_layers), dtype=bool)
    for i in range(n_layers):
        for d in deps[i]:
            after[i, d] = True
            after[i] |= after[d]
    return after


def _suffix_writes(lb: NDArray[np.int64], layer_nodes: list[NDArray[np.int64]],
                   deps: list[list[int]], path: NDArray[np.int64], slots: int
                   ) -> NDArray[np.float64]:
    """Per layer ``L_j`` of ``path`` (in order): the least cost of the writes that start
    at or after its window opens (docs/bounds.md, "Writes after a window opens").

    Every pattern used by ``L_j`` or a layer after it in the DAG is computed on at or
    after ``t_j``; at most ``slots`` of them are in a slot (or being written) at
    ``t_j``, so the others each have a write starting at or after ``t_j``: the sum
    of all but the ``slots`` largest ``lb`` of those patterns.
    """
    n_layers = len(deps)
    from_or_after = _strictly_after(deps) | np.eye(n_layers, dtype=bool)
    # last[l]: the last position j of the path whose layer l is at or after
    hits = from_or_after[:, path]  # (layers, m)
    last = np.where(hits.any(axis=1), hits.shape[1] - 1 - np.argmax(hits[:, ::-1], axis=1), -1)
    # each pattern counts for the positions up to the largest last of its layers
    until = np.full(lb.size, -1, dtype=np.int64)
    for layer, nodes in enumerate(layer_nodes):
        if nodes.size:
            np.maximum.at(until, nodes, last[layer])
    # from the last window back, the set only grows: keep its ``slots`` largest values
    # (preloaded) and the sum of all, so each step costs its new patterns plus ``slots``
    by_until = np.argsort(until, kind="stable")
    starts = np.searchsorted(until[by_until], np.arange(path.size + 1))
    values = lb[by_until].astype(np.int64)
    out = np.zeros(path.size, dtype=np.float64)
    total = 0
    top = np.zeros(0, dtype=np.int64)
    for j in range(path.size - 1, -1, -1):
        new = values[starts[j]:starts[j + 1]]
        total += int(new.sum())
        cand = np.concatenate([top, new])
        top = cand if cand.size <= slots else np.partition(cand, cand.size - slots)[-slots:]
        out[j] = float(total - int(top.sum()))
    return out


def _window_lp(x: int, b: int, whole: bool, p0: int, a_l: NDArray[np.float64],
               c_l: NDArray[np.float64], mand: NDArray[np.float64],
               suffix: NDArray[np.float64], prog: float) -> float:
    """The layer-window bound with the writes after each window's opening (ps).

    Along the path (in order) window ``j`` holds programming ``q_j >= m_j`` and
    lasts ``T_j >= a_j``, ``T_j >= q_j / B`` and (``whole``) ``X T_j >= q_j +
    C_j / o``; the gap after it (and the one before the first window) holds
    ``g`` and lasts ``G >= g / B`` (the first ``G >= p0``). All programming is
    at least ``P``, and the programming from window ``j`` on at least
    ``suffix[j]``. The least ``sum T + sum G`` is a small LP (HiGHS).
    """
    from scipy.optimize import linprog

    m = a_l.size
    scale = 1e-6  # ps -> us: moderate magnitudes for the solver
    # variables: q (m), T (m), g (m + 1, gap before window 0 first), G (m + 1)
    nv = 4 * m + 2
    q, t, g, gg = 0, m, 2 * m, 3 * m + 1
    c = np.zeros(nv)
    c[t:t + m] = 1.0
    c[gg:gg + m + 1] = 1.0
    rows, rhs = [], []
    for j in range(m):
        if whole:
            r = np.zeros(nv)
            r[q + j], r[t + j] = 1.0 / x, -1.0
            rows.append(r)
            rhs.append(-c_l[j] * scale / x)
        r = np.zeros(nv)
        r[q + j], r[t + j] = 1.0 / b, -1.0
        rows.append(r)
        rhs.append(0.0)
    for j in range(m + 1):
        r = np.zeros(nv)
        r[g + j], r[gg + j] = 1.0 / b, -1.0
        rows.append(r)
        rhs.append(0.0)
    r = np.zeros(nv)
    r[q:q + m], r[g:g + m + 1] = -1.0, -1.0
    rows.append(r)
    rhs.append(-prog * scale)
    for j in range(m):
        r = np.zeros(nv)
        r[q + j:q + m] = -1.0
        r[g + j + 1:g + m + 1] = -1.0  # the gaps after windows j, j + 1, ...
        rows.append(r)
        rhs.append(-suffix[j] * scale)
    bounds = ([(mand[j] * scale, None) for j in range(m)]
              + [(a_l[j] * scale, None) for j in range(m)]
              + [(0.0, None)] * (m + 1) + [(p0 * scale, None)] + [(0.0, None)] * m)
    res = linprog(c, A_ub=np.array(rows), b_ub=np.array(rhs), bounds=bounds, method="highs")
    if res.status != 0:  # cannot happen (always feasible, bounded below); never a guess
        return 0.0
    return float(res.fun) / scale


def _nearest_writes(arch: Any, codes: NDArray[np.uint64] | None, pats: NDArray[np.uint8],
                    from_zero: NDArray[np.int64], weak: NDArray[np.int64], deadline: float,
                    table: SegmentTable | None = None, order: _Order | None = None
                    ) -> tuple[NDArray[np.int64], NDArray[np.int64], str, _Arcs]:
    """Cheapest write of every pattern from the erased slot or any other pattern.

    Streams all pairs in batches (by segment table look-ups when ``table`` is
    given); patterns not reached before ``deadline`` keep ``weak`` (the valid
    segment-distance value). Returns the cheapest write from any source, the
    cheapest from a source that ``order`` allows (the same without it) and the
    ``FLOW_ARCS`` cheapest allowed arcs into every pattern.
    """
    n = len(pats) - 1
    best = weak.copy()  # only a floor until the exact minimum replaces it
    allowed_best = weak.copy()
    done = np.zeros(n, dtype=bool)
    k = min(FLOW_ARCS, n - 1)
    arc_src = np.zeros((n, max(k, 0)), dtype=np.int64)  # the k cheapest sources per target
    arc_cost = np.zeros((n, max(k, 0)), dtype=np.int64)
    # targets per batch, against all sources (the general latency model is ~5x slower
    # than the thermometer codes: smaller batches keep the deadline)
    batch = _PAIRS << 2 if table is not None else _PAIRS if codes is not None else _PAIRS >> 3
    per = max(1, batch // n)
    src = np.arange(1, n + 1, dtype=np.int64)
    never = np.iinfo(np.int64).max
    for lo in range(0, n, per):
        if expired(deadline):
            break
        tgt = np.arange(lo + 1, min(n, lo + per) + 1, dtype=np.int64)
        if table is not None:
            c = table.from_all(tgt, src)
        else:
            c = _costs(arch, codes, pats, np.tile(src, tgt.size), np.repeat(tgt, n))
            c = c.reshape(tgt.size, n)
        c[np.arange(tgt.size), tgt - 1] = never  # not from itself
        best[tgt - 1] = np.minimum(from_zero[tgt - 1], c.min(axis=1))
        if order is not None:
            c[order.forbidden(tgt - 1)] = never
            allowed_best[tgt - 1] = np.minimum(from_zero[tgt - 1], c.min(axis=1))
        if k > 0:
            idx = np.argpartition(c, k - 1, axis=1)[:, :k]
            cost = np.take_along_axis(c, idx, axis=1)
            # fewer than k allowed sources: the rest become writes from the erased slot
            # (arcs that exist anyway, so the relaxation keeps every real arc)
            none = cost == never
            arc_src[tgt - 1] = np.where(none, 0, idx + 1)
            arc_cost[tgt - 1] = np.where(none, from_zero[tgt - 1][:, None], cost)
        done[tgt - 1] = True
    if order is None:
        allowed_best = best
    arcs = _Arcs(arc_src, arc_cost, done)
    term = "exact" if done.all() else "mixed" if done.any() else "segment distance"
    return best, allowed_best, term, arcs


@dataclass(frozen=True)
class _Order:
    """Which writes the layer barrier rules out between patterns used by computes.

    ``layer[v]`` is the one layer using pattern ``v`` (-1: several layers, never
    ruled out); ``after_row[j, u]``: pattern ``u``'s layer is a strict descendant
    of layer ``j``, so every compute on ``u`` starts after every compute of ``j``
    has ended and a slot never holds ``u`` and then a pattern computed on by
    ``j`` (docs/bounds.md, section 6, "Writes in layer order"). Row ``-1``
    (targets used by several layers) rules nothing out.
    """

    layer: NDArray[np.int64]
    after_row: NDArray[np.bool_]

    def forbidden(self, targets: NDArray[np.int64]) -> NDArray[np.bool_]:
        """(len(targets), n): writes into ``targets`` from each source that are ruled out."""
        out: NDArray[np.bool_] = self.after_row[self.layer[targets]]
        return out


def _layer_order(inst: Instance, upid: NDArray[np.integer[Any]], pid: NDArray[np.integer[Any]],
                 block_layer: NDArray[np.integer[Any]]) -> _Order | None:
    """The :class:`_Order` of the distinct patterns ``upid`` (``pid``/``block_layer``:
    pattern and layer of every non-zero block), or ``None`` where it rules nothing out
    or the latency model is not subadditive (the shortcut argument needs it)."""
    deps = inst.network.dependencies()
    n_layers = len(deps)
    if not subadditive(inst.arch) or n_layers < 2:
        return None
    after = _strictly_after(deps)
    if not after.any():
        return None
    node = np.searchsorted(upid, pid)
    lo = np.full(upid.size, n_layers, dtype=np.int64)
    hi = np.full(upid.size, -1, dtype=np.int64)
    np.minimum.at(lo, node, block_layer)
    np.maximum.at(hi, node, block_layer)
    layer = np.where(lo == hi, lo, -1)
    single = layer >= 0
    after_row = np.zeros((n_layers + 1, upid.size), dtype=bool)
    after_row[:-1, single] = after[layer[single]].T  # row j: sources after layer j
    return _Order(layer, after_row)


@dataclass
class _Arcs:
    """The cheapest incoming writes of the patterns the exact pass reached."""

    src: NDArray[np.int64]  # (n, k) source node of each kept arc (0: the erased slot)
    cost: NDArray[np.int64]  # (n, k) its latency
    done: NDArray[np.bool_]  # targets whose k cheapest arcs are known


def _flow_term(arch: Any, arcs: _Arcs, from_zero: NDArray[np.int64],
               lb: NDArray[np.int64]) -> int:
    """Least total single-slot write latency of any schedule, as a min-cost flow.

    Every write turns its slot's content ``u`` into a pattern ``v != u`` and
    costs at least ``d(u, v)``. Follow the contents: each slot starts with one
    erased content (the zero node supplies at most ``total_slots`` units), a
    write consumes the slot's content and creates one of ``v``, so ``v`` passes
    on at most as many contents as it received writes, and every distinct
    pattern receives at least one write. The writes of any schedule are thus
    an integral flow with in(v) >= 1 and out(v) <= in(v), and its cost is the
    total write latency. Relaxation: of the arcs into ``v`` only the ``k``
    cheapest are kept; every other arc into ``v`` costs at least the largest
    kept one, so it is replaced by an arc of that cost from a free source ``Z``
    (for patterns the exact pass did not reach: of cost ``lb(v)``, the valid
    per-pattern floor). Any schedule's flow maps to a relaxed flow of no larger
    cost (a rerouted unit's source sends one fewer, which keeps
    out <= in), so the relaxed minimum is at most every schedule's write
    latency. Min-cost flow is integral, so OR-Tools' network simplex gives the
    relaxation's exact minimum. (Cycles are allowed, so it is only at least
    the sum of the per-pattern minima ``lb``, not much more.)
    """
    from ortools.graph.python import min_cost_flow

    n, k = arcs.src.shape
    if n == 0:
        return 0
    # nodes: 0 erased, 1..n pattern contents (out), n+1..2n writes of a pattern (in),
    # 2n+1 the end, 2n+2 the free source Z
    end, free = 2 * n + 1, 2 * n + 2
    slots = int(arch.total_slots)
    cap = slots + n
    v = np.arange(1, n + 1, dtype=np.int64)
    ok = np.repeat(arcs.done, k)
    tails = np.concatenate([arcs.src.ravel()[ok], np.zeros(n, np.int64), np.full(n, free),
                            v + n, v, [0, free]])
    heads = np.concatenate([np.repeat(v, k)[ok] + n, v + n, v + n, v, np.full(n, end),
                            [end, end]])
    z_cost = np.where(arcs.done, arcs.cost.max(axis=1) if k else lb, lb)
    costs = np.concatenate([arcs.cost.ravel()[ok], from_zero, z_cost,
                            np.zeros(2 * n + 2, np.int64)])
    f = min_cost_flow.SimpleMinCostFlow()
    f.add_arcs_with_capacity_and_unit_cost(tails, heads, np.full(tails.size, cap, np.int64),
                                           costs)
    # Z supplies n units: dropping a write into v while in(v) > max(1, out(v)) never
    # raises the cost, and then sum in = sum max(1, out) <= n + sum out, so the units
    # entering from 0 and Z together are at most n
    supply = np.zeros(2 * n + 3, dtype=np.int64)
    supply[0], supply[free], supply[end] = slots, n, -(slots + n)
    supply[1:n + 1], supply[n + 1:2 * n + 1] = 1, -1  # in(v) >= 1: one unit passes through
    f.set_nodes_supplies(np.arange(2 * n + 3), supply)
    if f.solve() != f.OPTIMAL:  # cannot happen (always feasible); never a guess
        return int(lb.sum())
    return max(int(f.optimal_cost()), int(lb.sum()))
