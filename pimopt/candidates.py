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

import numpy as np
from numpy.typing import NDArray


def candidate_lists(patterns: NDArray[np.uint8], k: int = 16, projections: int = 4,
                    seed: int = 0) -> NDArray[np.int64]:
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
    """
    n = len(patterns)
    flat = patterns.reshape(n, -1).astype(np.int16)
    rng = np.random.default_rng(seed)
    orders = [np.lexsort(flat.T[::-1])]
    for _ in range(projections):
        key = flat @ rng.normal(size=flat.shape[1])
        orders.append(np.argsort(key, kind="stable"))
    window = max(1, k // 2)
    pool = []
    for order in orders:
        pos = np.empty(n, dtype=np.int64)
        pos[order] = np.arange(n)
        for off in range(-window, window + 1):
            if off == 0:
                continue
            j = pos + off
            valid = (j >= 0) & (j < n)
            pool.append(np.where(valid, order[np.clip(j, 0, n - 1)], -1))
    cand = np.stack(pool, axis=1)  # n, pool
    # rank the pool by L1 distance of the levels, drop duplicates and self
    dist = np.full(cand.shape, np.iinfo(np.int32).max, dtype=np.int64)
    for c in range(cand.shape[1]):
        ok = (cand[:, c] >= 0) & (cand[:, c] != np.arange(n))
        idx = np.flatnonzero(ok)
        dist[idx, c] = np.abs(flat[idx] - flat[cand[idx, c]]).sum(axis=1)
    order = np.lexsort((cand, dist), axis=1)  # by distance, equal candidates adjacent
    cand = np.take_along_axis(cand, order, axis=1)
    dist = np.take_along_axis(dist, order, axis=1)
    valid = dist < np.iinfo(np.int32).max
    valid[:, 1:] &= cand[:, 1:] != cand[:, :-1]
    first = np.argsort(~valid, axis=1, kind="stable")[:, :k]  # valid ones first, in order
    out = np.take_along_axis(cand, first, axis=1)
    out[~np.take_along_axis(valid, first, axis=1)] = -1
    if out.shape[1] < k:
        out = np.pad(out, ((0, 0), (0, k - out.shape[1])), constant_values=-1)
    return out
