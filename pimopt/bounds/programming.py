"""Lower bounds on the mapping objective (total programming latency or cell writes).

Proofs of validity are in ``docs/bounds.md``; in short:

- :func:`ap_bound` (assignment relaxation of one chain problem): in every
  feasible solution each item has exactly one predecessor (a start node or
  another item, never itself) and each node at most one successor, so the
  solution's arcs form a feasible assignment of the same cost; the minimum
  assignment is therefore at most the optimum.
- :func:`layered_ap_bound` (for a whole instance, any decomposition): before
  layer L a slot holds the zero pattern or a pattern of an earlier layer, so
  the first load of each slot's layer-L run costs at least
  ``c0(v) = min over those patterns of d(u, v)``; every other load of layer L
  has a layer-L predecessor. The assignment of layer L's items to S start
  columns of cost ``c0`` and to its own items is thus a relaxation of layer L's
  part of any solution; the layers' parts add up to the total. A layer too
  large for the assignment, or reached after the bound's deadline, adds a
  floor instead: per item, its cheapest write from the erased slot or the
  segment-distance floor of :func:`pimopt.latency.write_floor` (0 if an earlier
  layer has the same pattern), which every incoming arc costs at least.
- :func:`lp_bound`: the LP relaxation of the MILP in :mod:`pimopt.chains.exact`; its
  constraints include the assignment's, so it is at least the AP bound.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

from pimopt.architecture import Architecture
from pimopt.chains.candidates import node_candidates
from pimopt.chains.exact import solve_milp
from pimopt.chains.problem import DENSE_LIMIT, FORBIDDEN, ChainProblem
from pimopt.errors import InputError
from pimopt.interrupt import expired, seconds_left
from pimopt.latency import latency_from_codes, pair_costs, segment_codes
from pimopt.solvers.highs import quiet_stdout, run_highs

_PAIR_CHUNK = 1 << 19


def ap_bound(p: ChainProblem) -> float:
    """Assignment-relaxation bound of one chain problem (dense; up to the dense limit)."""
    if p.n_items == 0:
        return 0.0
    d = p.dense()  # (S + n) x n
    rows, cols = linear_sum_assignment(d.T)
    return float(d.T[rows, cols].sum())


def _min_incoming(arch: Architecture, sources: NDArray[np.uint8], targets: NDArray[np.uint8],
                  metric: str, deadline: float | None = None) -> NDArray[np.int64] | None:
    """For each target, the least cost of writing it over any source (streamed in chunks).

    ``None`` if ``deadline`` (a ``time.perf_counter()`` value) passes before every
    source is seen: a partial minimum is not a lower bound.
    """
    best = np.full(len(targets), np.iinfo(np.int64).max, dtype=np.int64)
    codes = segment_codes(arch, np.concatenate([sources, targets])) if metric == "latency" \
        else None
    per = max(1, _PAIR_CHUNK // max(1, len(targets)))
    for lo in range(0, len(sources), per):
        if expired(deadline):
            return None
        hi = min(len(sources), lo + per)
        if codes is not None:  # thermometer codes: ~5x faster than the general model
            src, tgt = codes[lo:hi], codes[len(sources):]
            vals = latency_from_codes(arch, np.repeat(src, len(targets), axis=0),
                                      np.tile(tgt, (hi - lo, 1, 1)))
        else:
            c = pair_costs(arch, np.repeat(sources[lo:hi], len(targets), axis=0),
                           np.tile(targets, (hi - lo, 1, 1)))
            vals = c.latency_ps if metric == "latency" else c.cell_writes
        best = np.minimum(best, np.asarray(vals).reshape(hi - lo, len(targets)).min(axis=0))
    return best


# conservative arc-cost rates (pairs/s; measured 6.3 M/s and 1.4 M/s on the reference
# machine) used to decide whether a pass fits: thermometer codes, general latency model
PAIRS_PER_S = {True: 4_000_000, False: 1_000_000}


def _fits(pairs: int, deadline: float | None, fast: bool) -> bool:
    """Whether ``pairs`` cost evaluations fit before ``deadline`` (``fast``: codes apply)."""
    return not expired(deadline, pairs / PAIRS_PER_S[fast])


def layered_ap_bound(problems: list[ChainProblem], earlier: list[NDArray[np.uint8]],
                     sparse_limit: int = 20_000, *, floors: list[NDArray[np.int64]] | None = None,
                     deadline: float | None = None,
                     report: dict[str, Any] | None = None) -> float | None:
    """Valid bound on the total over all layers, whatever the decomposition.

    Parameters
    ----------
    problems
        One single-layer chain problem per layer, in layer order (their starts
        are ignored: the bound does not depend on earlier decisions).
    earlier
        For each layer, the patterns a slot may hold before it (zero plus every
        item pattern of earlier layers).
    sparse_limit
        Largest layer (items) given the assignment bound: above the dense limit
        the sparse bound (:func:`sparse_ap_bound`, O(n^2) time) is used up to
        this size.
    floors
        For each layer, a valid lower bound on every item's incoming arc (its
        cheapest write from any pattern a slot may hold before it). A layer
        above ``sparse_limit``, or reached after ``deadline``, adds the sum of
        its floors; every layer adds at least that.
    deadline
        ``time.perf_counter()`` value after which no layer starts its assignment
        bound (the one running is cut where it can be: the start-cost scan and
        the sparse bound's pricing passes).
    report
        If given, filled with ``complete`` (every layer got its assignment
        bound) and ``floored`` (layers that kept only their floors).

    Returns
    -------
    float or None
        The bound; ``None`` if a layer needs its floor and ``floors`` is not given.
    """
    total = 0.0
    floored: list[int] = []
    for i, (p, prev) in enumerate(zip(problems, earlier, strict=True)):
        n, s = p.n_items, p.n_slots
        if n == 0:
            continue
        floor = 0.0 if floors is None else float(floors[i].sum())
        late = expired(deadline)
        fast = p.metric == "latency" and segment_codes(p.arch, p.items[:1]) is not None
        skip = late or n > sparse_limit or not _fits(len(prev) * n + n * n, deadline, fast)
        c0 = None if skip else _min_incoming(p.arch, prev, p.items, p.metric, deadline)
        if c0 is None:
            if floors is None:
                return None
            floored.append(i)
            total += floor
            continue
        if not _fits(n * n, deadline, fast):  # one pass over the layer's arcs would overrun
            floored.append(i)
            total += floor
            continue
        if n > DENSE_LIMIT:

            sparse = sparse_ap_bound(p, node_candidates(p, 16, 0), c0=c0, deadline=deadline)
            if not np.isfinite(sparse):
                floored.append(i)
            total += max(sparse, floor)
            continue
        within = ChainProblem(p.arch, np.zeros((1, *p.items.shape[1:]), np.uint8), p.items,
                              np.zeros(n, np.int64), {0: n}, p.metric).dense()[1:]
        cols = min(s, n)  # more than n identical start columns never help
        m = np.empty((n, cols + n), dtype=np.int64)
        m[:, :cols] = c0[:, None]
        m[:, cols:] = within.T
        rows, cc = linear_sum_assignment(m)
        total += max(float(m[rows, cc].sum()), floor)
    if report is not None:
        report["complete"] = not floored
        report["floored"] = floored
    return total


START_ARC_LIMIT = 2_000_000  # start arcs the sparse LP holds at first (memory)


def _start_arcs(p: ChainProblem, start_nodes: NDArray[np.int64], per_item: int
                ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """(start index, item, cost) of each item's ``per_item`` cheapest start arcs.

    Streams the start groups in chunks, so memory is O(n per_item) however many
    distinct starts there are.
    """
    n, g = p.n_items, len(start_nodes)
    keep = min(per_item, g)
    top_u = np.zeros((0, n), dtype=np.int64)
    top_c = np.zeros((0, n), dtype=np.int64)
    per = max(1, (1 << 20) // n)
    for lo in range(0, g, per):
        js = np.arange(lo, min(g, lo + per))
        c = p.arc_costs(np.repeat(start_nodes[js], n), np.tile(np.arange(n), js.size))
        cu = np.r_[top_u, np.repeat(js, n).reshape(js.size, n)]
        cc = np.r_[top_c, np.asarray(c, dtype=np.int64).reshape(js.size, n)]
        if len(cc) > keep:
            pick = np.argpartition(cc, keep - 1, axis=0)[:keep]
            cu = np.take_along_axis(cu, pick, axis=0)
            cc = np.take_along_axis(cc, pick, axis=0)
        top_u, top_c = cu, cc
    items = np.broadcast_to(np.arange(n), top_u.shape)
    return top_u.ravel(), items.ravel().copy(), top_c.ravel()


def sparse_ap_bound(p: ChainProblem, cand: NDArray[np.int64],
                    c0: NDArray[np.int64] | None = None, rounds: int = 15,
                    heads: list[NDArray[np.int64]] | None = None,
                    deadline: float | None = None) -> float:
    """Assignment bound for large problems: sparse LP duals repaired against all arcs.

    The assignment LP is solved (HiGHS) on candidate arcs only, plus an
    artificial start with unlimited capacity that keeps it feasible. Its duals
    ``alpha_v`` (items) and ``beta_u <= 0`` (nodes) are then made feasible for
    the full problem: ``alpha_v <- min(alpha_v, min_u d(u, v) - beta_u)`` over
    every real predecessor ``u`` (streamed in chunks, never stored). By weak
    duality ``sum alpha + sum cap_u beta_u`` is then a valid lower bound on the
    full assignment problem, hence on the optimum. Time O(n^2) cost
    evaluations, memory O(n k).

    Parameters
    ----------
    p
        A single-layer chain problem.
    cand
        Successor candidates of every node, (S + n, k) item indices, ``-1``-padded.
    c0
        If given, the starts are one virtual node of capacity S whose arc to item
        ``v`` costs ``c0[v]`` (the layered bound); otherwise the real starts.
    rounds
        Pricing passes at most (it stops when no arc prices out): after each, the
        arcs whose reduced cost is negative are added to the LP (column
        generation) and it is solved again. Every pass yields a valid bound; the
        best is returned.
    heads
        If a list is given, the items whose LP predecessor is a real start
        (value at least 0.5 in the last LP) are appended to it: the relaxation's
        choice of chain heads, which a construction heuristic can use.
    deadline
        ``time.perf_counter()`` value after which no further pricing pass starts;
        a pass it interrupts is dropped (``-inf`` if it was the first). Every
        completed pass gives a valid bound.
    """
    import highspy

    n, s = p.n_items, p.n_slots
    if n == 0:
        return 0.0
    big = float(FORBIDDEN)
    if c0 is None:
        rep, group = p.start_groups()
        caps = np.bincount(group, minlength=rep.size).astype(np.float64)
        start_nodes = rep
    else:
        caps = np.array([float(s)])
        start_nodes = np.array([-1])
    g = len(start_nodes)
    # arcs: start u -> item (all g x n, or each item's cheapest START_ARC_LIMIT / n when
    # that is too many: pricing adds the others it needs), item candidates, artificial
    # start -> every item
    if c0 is None:
        su, sv, sc = _start_arcs(p, start_nodes, max(4, START_ARC_LIMIT // n))
    else:
        su, sv, sc = np.zeros(n, np.int64), np.arange(n), c0
    iu, slot = np.nonzero(cand[s:] >= 0)
    iv = cand[s:][iu, slot]
    ic = p.arc_costs(s + iu, iv)
    # node numbering in the LP: 0..g-1 starts, g..g+n-1 items, g+n artificial
    col_u = np.r_[su, g + iu, np.full(n, g + n)]
    col_v = np.r_[sv, iv, np.arange(n)]
    cost = np.r_[sc, ic, np.full(n, big)].astype(np.float64)
    with quiet_stdout():
        h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    m = len(cost)
    inf = highspy.kHighsInf
    h.addVars(m, np.zeros(m), np.ones(m))
    h.changeColsCost(m, np.arange(m, dtype=np.int32), cost)
    # rows: item v gets exactly one predecessor; node u has at most cap_u successors; at
    # least ceil(n / capacity) chains start from a real start (capacity per chain)
    min_starts = -(-n // max(p.capacity.values()))
    nrows = n + g + n + 1
    real_start = np.flatnonzero(col_u < g)
    row = np.r_[col_v, n + col_u[col_u < g + n], np.full(real_start.size, nrows - 1)]
    colidx = np.r_[np.arange(m), np.flatnonzero(col_u < g + n), real_start]
    lower = np.r_[np.ones(n), np.full(g + n, -inf), float(min_starts)]
    upper = np.r_[np.ones(n), caps, np.ones(n), inf]
    order = np.lexsort((colidx, row))
    starts = np.searchsorted(row[order], np.arange(nrows))
    h.addRows(nrows, lower, upper, len(order), starts.astype(np.int32),
              colidx[order].astype(np.int32), np.ones(len(order)))
    best_bound = -np.inf
    for _ in range(max(1, rounds)):
        if deadline is not None:  # an LP stopped early still has duals: repaired, they bound
            h.setOptionValue("time_limit", max(seconds_left(deadline), 0.1))
        run_highs(h)
        duals = np.asarray(h.getSolution().row_dual, dtype=np.float64)
        duals[~np.isfinite(duals)] = 0.0  # any duals give a bound once repaired
        alpha = duals[:n]
        beta = np.minimum(duals[n: n + g + n], 0.0)  # the sign of <= rows (minimisation)
        gamma = max(float(duals[nrows - 1]), 0.0)  # the sign of a >= row
        # price every real arc u -> v: best[v] = min_u d(u, v) - beta_u (- gamma for
        # starts), streamed
        best = np.full(n, np.inf)
        arg = np.full(n, -1, dtype=np.int64)  # LP node of the minimiser
        if c0 is None:
            for j, u in enumerate(start_nodes.tolist()):
                c = p.arc_costs(np.full(n, u), np.arange(n)) - beta[j] - gamma
                better = c < best
                best[better], arg[better] = c[better], j
        else:
            best, arg = c0 - beta[0] - gamma, np.zeros(n, dtype=np.int64)
        per = max(1, _PAIR_CHUNK // n)
        cut = False
        for lo in range(0, n, per):
            if deadline is not None and lo and expired(deadline):
                cut = True  # a pass priced on part of the arcs proves nothing
                break
            us = np.arange(lo, min(n, lo + per))
            c = p.arc_costs(s + np.repeat(us, n), np.tile(np.arange(n), us.size))
            c = c.reshape(us.size, n).astype(np.float64) - beta[g + us][:, None]
            c[np.arange(us.size), us] = np.inf  # no self arcs
            i = c.argmin(axis=0)
            cmin = c[i, np.arange(n)]
            better = cmin < best
            best[better], arg[better] = cmin[better], g + us[i[better]]
        if cut:
            break
        # repaired duals are feasible for the full problem: a valid bound
        bound = float(np.minimum(alpha, best).sum() + (caps * beta[:g]).sum()
                      + beta[g: g + n].sum() + gamma * min_starts)
        best_bound = max(best_bound, bound)
        price = np.flatnonzero(best < alpha - 1e-6)  # arcs with negative reduced cost
        if price.size == 0 or (expired(deadline)):
            break
        # column generation: add each violated item's best arc and solve again
        new_u = arg[price]
        is_start = new_u < g
        new_cost = best[price] + beta[new_u] + np.where(is_start, gamma, 0.0)
        k = price.size
        nnz = 2 + is_start.astype(np.int64)
        col_start = np.r_[0, np.cumsum(nnz)[:-1]].astype(np.int32)
        idx = np.full((k, 3), -1, dtype=np.int64)
        idx[:, 0], idx[:, 1] = price, n + new_u
        idx[is_start, 2] = nrows - 1
        flat = idx[idx >= 0]
        h.addCols(k, new_cost, np.zeros(k), np.ones(k), int(nnz.sum()), col_start,
                  flat.astype(np.int32), np.ones(flat.size))
        col_u = np.r_[col_u, new_u]
        col_v = np.r_[col_v, price]
    if heads is not None:
        if deadline is not None:
            h.setOptionValue("time_limit", max(seconds_left(deadline), 0.1))
        run_highs(h)
        x = np.asarray(h.getSolution().col_value)
        from_start = (col_u[: x.size] < g) & (x > 0.5)
        heads.append(np.unique(col_v[: x.size][from_start]))
    return best_bound


def lp_bound(p: ChainProblem, *, time_limit: float = 60.0) -> float | None:
    """LP-relaxation bound of the MILP (HiGHS); ``None`` if the LP did not finish."""
    if p.n_items > DENSE_LIMIT:
        raise InputError(f"{p.n_items} items exceed the dense limit of the LP bound")
    out = solve_milp(p, solver="highs", time_limit=time_limit, relax=True)
    return out.bound


__all__ = ["ap_bound", "layered_ap_bound", "lp_bound", "sparse_ap_bound"]


def critical_path_bound(total_bound: float, crossbars: int) -> float:
    """Lower bound on the critical path from a lower bound on the total (same unit): every
    round's maximum over the crossbars is at least its mean (docs/bounds.md)."""
    return total_bound / crossbars
