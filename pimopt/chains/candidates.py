"""Candidate lists of similar patterns, without all pairs (for large layers).

Programming cost grows with the rows and cells that differ, so patterns whose
cell levels are close are good neighbours in a slot's chain. Candidate lists
come from several orders in which close patterns tend to be adjacent: the
lexicographic order of the cells (patterns sharing leading rows) and seeded
random projections of the level vector; each item takes the items within a
window on either side in every order. This is O(n log n) time and O(n K)
memory, never n x n; the true costs of the candidate arcs then come from the
latency model.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import numpy as np
from numpy.typing import NDArray

from pimopt.chains.problem import ChainProblem
from pimopt.interrupt import expired

_ROWS = 1 << 14  # items per chunk: temporary memory O(_ROWS * window * cells)
_FAR = np.iinfo(np.int32).max


def candidate_lists(patterns: NDArray[np.uint8], k: int = 16, projections: int = 4,
                    seed: int = 0, deadline: float | None = None) -> NDArray[np.int64]:
    """Up to ``k`` candidate neighbours of every pattern, (n, k), ``-1``-padded.

    Parameters
    ----------
    patterns
        (n, ou_rows, ou_cols) cell levels.
    k
        Candidates per item (closest first by L1 distance of the levels).
    projections
        Random projection orders besides the lexicographic one.
    seed
        Seed of the projections.
    deadline
        ``time.perf_counter()`` value after which no further order is merged in,
        and the items of the lexicographic order not reached yet take their
        nearest positions in it unranked: the lists stay valid, only coarser.
        Memory stays O(n k) whatever ``n``: each order is merged in chunks of
        items.
    """
    n = len(patterns)
    flat = patterns.reshape(n, -1).astype(np.int16)
    rng = np.random.default_rng(seed)
    window = max(1, k // 2)
    best = np.full((n, k), -1, dtype=np.int64)
    dist = np.full((n, k), _FAR, dtype=np.int64)
    last = 0.0  # seconds the previous order took: one that cannot finish is not started
    for j in range(projections + 1):
        t0 = time.perf_counter()
        if j and expired(deadline, last):
            break
        if j == 0:
            order = np.lexsort(flat.T[::-1])
        else:
            order = np.argsort(flat @ rng.normal(size=flat.shape[1]), kind="stable")
        pos = np.empty(n, dtype=np.int64)
        pos[order] = np.arange(n)
        offsets = np.r_[np.arange(-window, 0), np.arange(1, window + 1)]
        for lo in range(0, n, _ROWS):
            late = expired(deadline)
            if late and j:
                break  # the items merged so far keep the richer lists
            rows = np.arange(lo, min(n, lo + _ROWS))
            at = pos[rows, None] + offsets
            valid = (at >= 0) & (at < n)
            cand = np.where(valid, order[np.clip(at, 0, n - 1)], -1)
            if late:  # first order, out of time: the nearest positions, unranked
                near = np.argsort(np.abs(offsets), kind="stable")[:k]
                best[rows] = cand[:, near]
                continue
            d = np.abs(flat[rows, None, :] - flat[np.maximum(cand, 0)]).sum(axis=2,
                                                                          dtype=np.int64)
            d[~valid] = _FAR
            best[rows], dist[rows] = _merge(best[rows], dist[rows], cand, d, rows, k)
        last = time.perf_counter() - t0
    return best


def _merge(c1: NDArray[np.int64], d1: NDArray[np.int64], c2: NDArray[np.int64],
           d2: NDArray[np.int64], rows: NDArray[np.int64], k: int
           ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """The ``k`` closest distinct candidates (not the item itself) of two lists per row."""
    cand = np.concatenate([c1, c2], axis=1)
    dist = np.concatenate([d1, d2], axis=1)
    dist[(cand < 0) | (cand == rows[:, None])] = _FAR
    order = np.lexsort((cand, dist), axis=1)  # by distance, equal candidates adjacent
    cand = np.take_along_axis(cand, order, axis=1)
    dist = np.take_along_axis(dist, order, axis=1)
    valid = dist < _FAR
    valid[:, 1:] &= cand[:, 1:] != cand[:, :-1]
    first = np.argsort(~valid, axis=1, kind="stable")[:, :k]  # valid ones first, in order
    out = np.take_along_axis(cand, first, axis=1)
    out_d = np.take_along_axis(dist, first, axis=1)
    keep = np.take_along_axis(valid, first, axis=1)
    out[~keep] = -1
    out_d[~keep] = _FAR
    return out, out_d


def window_orders(patterns: NDArray[np.uint8], window: int = 1, seed: int = 0
                  ) -> Iterator[NDArray[np.int64]]:
    """Window candidates order by order: for each lexicographic order of the cells,
    the ``window`` items on either side of every item, (n, 2 window), ``-1``-padded.

    The first order compares the cells in their own order (the order
    :func:`~pimopt.chains.construct.sorted_chains` follows); each further one compares
    them in a seeded random permutation, so that items agreeing in other cells
    become neighbours too. A write costs by the rows and cells that change, and
    patterns adjacent in such an order agree in their leading cells. The
    iterator never ends: the caller takes as many orders as its time affords,
    each O(n log n) time and O(n window) memory.
    """
    n = len(patterns)
    flat = patterns.reshape(n, -1)
    rng = np.random.default_rng(seed)
    offsets = np.r_[np.arange(1, window + 1), -np.arange(1, window + 1)]
    for j in itertools.count():
        cells = np.arange(flat.shape[1]) if j == 0 else rng.permutation(flat.shape[1])
        order = np.lexsort(flat.T[cells[::-1]])  # lexsort's last key is the primary one
        pos = np.empty(n, dtype=np.int64)
        pos[order] = np.arange(n)
        out = np.full((n, offsets.size), -1, dtype=np.int64)
        for c, d in enumerate(offsets.tolist()):
            at = pos + d
            ok = (at >= 0) & (at < n)
            out[ok, c] = order[at[ok]]
        yield out


def node_candidates(p: ChainProblem, k: int, seed: int,
                     deadline: float | None = None) -> NDArray[np.int64]:
    """The ``k`` cheapest successor candidates of every node (starts and items).

    A pool of ``4 k`` close patterns per node (:func:`candidate_lists`) is ranked
    by the true cost of the arc node -> item (the latency model), in chunks of
    nodes. After ``deadline`` no further projection order is merged into the
    pool and the nodes not yet ranked keep the pool's L1 order: the lists stay
    valid, only coarser, and the caller's time limit holds.
    """
    rep, group = p.start_groups()
    g = rep.size
    s = p.n_slots
    pats = np.concatenate([p.starts[rep], p.items])
    pool = candidate_lists(pats, k=4 * k, seed=seed, deadline=deadline)
    pool = np.where(pool >= g, pool - g, -1)  # items only, as item indices
    node = np.r_[rep, s + np.arange(p.n_items)]  # node of every row of the pool
    cand = pool[:, :k].copy()
    rows_per = max(1, (1 << 20) // pool.shape[1])
    for lo in range(0, len(pool), rows_per):
        if expired(deadline):
            break
        part = pool[lo: lo + rows_per]
        rows, cols = np.nonzero(part >= 0)
        cost = np.full(part.shape, np.iinfo(np.int64).max, dtype=np.int64)
        cost[rows, cols] = p.arc_costs(node[lo + rows], part[rows, cols])
        order = np.argsort(cost, axis=1, kind="stable")[:, :k]
        c = np.take_along_axis(part, order, axis=1)
        c[np.take_along_axis(cost, order, axis=1) == np.iinfo(np.int64).max] = -1
        cand[lo: lo + len(part)] = c
    return np.concatenate([cand[:g][group], cand[g:]])
