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
  part of any solution; the layers' parts add up to the total.
- :func:`lp_bound`: the LP relaxation of the MILP in :mod:`pimopt.exact`; its
  constraints include the assignment's, so it is at least the AP bound.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

from pimopt.errors import InputError
from pimopt.exact import solve_milp
from pimopt.latency import pair_costs
from pimopt.problem import DENSE_LIMIT, FORBIDDEN, ChainProblem

_PAIR_CHUNK = 1 << 16


def ap_bound(p: ChainProblem) -> float:
    """Assignment-relaxation bound of one chain problem (dense; up to the dense limit)."""
    if p.n_items == 0:
        return 0.0
    d = p.dense()  # (S + n) x n
    rows, cols = linear_sum_assignment(d.T)
    return float(d.T[rows, cols].sum())


def _min_incoming(arch: object, sources: NDArray[np.uint8], targets: NDArray[np.uint8],
                  metric: str) -> NDArray[np.int64]:
    """For each target, the least cost of writing it over any source (streamed in chunks)."""
    best = np.full(len(targets), np.iinfo(np.int64).max, dtype=np.int64)
    per = max(1, _PAIR_CHUNK // max(1, len(targets)))
    for lo in range(0, len(sources), per):
        src = sources[lo: lo + per]
        c = pair_costs(arch, np.repeat(src, len(targets), axis=0),  # type: ignore[arg-type]
                       np.tile(targets, (len(src), 1, 1)))
        vals = c.latency_ps if metric == "latency" else c.cell_writes
        best = np.minimum(best, np.asarray(vals).reshape(len(src), len(targets)).min(axis=0))
    return best


def layered_ap_bound(problems: list[ChainProblem],
                     earlier: list[NDArray[np.uint8]]) -> float | None:
    """Valid bound on the total over all layers, whatever the decomposition.

    Parameters
    ----------
    problems
        One single-layer chain problem per layer, in layer order (their starts
        are ignored: the bound does not depend on earlier decisions).
    earlier
        For each layer, the patterns a slot may hold before it (zero plus every
        item pattern of earlier layers).

    Returns
    -------
    float or None
        The bound, or ``None`` if a layer exceeds the dense limit.
    """
    total = 0.0
    for p, prev in zip(problems, earlier, strict=True):
        n, s = p.n_items, p.n_slots
        if n == 0:
            continue
        if n > DENSE_LIMIT:
            return None
        c0 = _min_incoming(p.arch, prev, p.items, p.metric)
        within = ChainProblem(p.arch, np.zeros((1, *p.items.shape[1:]), np.uint8), p.items,
                              np.zeros(n, np.int64), {0: n}, p.metric).dense()[1:]
        cols = min(s, n)  # more than n identical start columns never help
        m = np.empty((n, cols + n), dtype=np.int64)
        m[:, :cols] = c0[:, None]
        m[:, cols:] = within.T
        rows, cc = linear_sum_assignment(m)
        total += float(m[rows, cc].sum())
    return total


def lp_bound(p: ChainProblem, *, time_limit: float = 60.0) -> float | None:
    """LP-relaxation bound of the MILP (HiGHS); ``None`` if the LP did not finish."""
    if p.n_items > DENSE_LIMIT:
        raise InputError(f"{p.n_items} items exceed the dense limit of the LP bound")
    out = solve_milp(p, solver="highs", time_limit=time_limit, relax=True)
    return out.bound


__all__ = ["FORBIDDEN", "ap_bound", "layered_ap_bound", "lp_bound"]
