"""Every pattern's cheapest write, bounded from below at 10^6 patterns.

The makespan bound needs, for every distinct pattern ``v``, a lower bound on
the cheapest write of ``v`` over any other content a slot can hold (another
pattern of the network, or the erased state). All pairs are affordable up to
about 10^5 patterns (:func:`pimopt.bounds.makespan.makespan_bound`); the real
networks have 10^6. This module searches the pairs that can be cheap and
proves the others are not (docs/bounds.md section 6, "Agreement search").

A write's latency is the sum over the pattern's ``P`` segment places of a
segment latency that is zero where source and target agree
(:class:`pimopt.latency.SegmentTable`). Let ``m_s(v)`` be the cheapest change
into ``v``'s content at place ``s`` from any *other* content found at that
place, and ``cs_j(v)`` the sum of the ``j`` smallest ``m_s(v)``. A source that
differs from ``v`` in at least ``j`` places costs at least ``cs_j(v)``.

Level ``d = 1, 2, ...``: for every set ``M`` of ``d`` places, the nodes are
grouped by their contents outside ``M`` (a 64-bit hash of the segment ids), and
every source is evaluated against every target of its group, on the places of
``M`` only (the others agree). A source that differs from ``v`` in at most
``d`` places agrees with it outside some such ``M``, so once level ``d`` is
complete for ``v`` every source not evaluated costs at least
``cs_{d+1}(v)`` and

    cheapest write of v  >=  min(best evaluated, cs_{d+1}(v)).

Both parts are valid at every moment: a hash collision only puts more sources
in a group (evaluated on the places of ``M``, so at most their true cost), and
a group too large to evaluate leaves its targets at the previous level. A
target is settled (exact) once its best evaluated write is at most its
``cs_{d+1}``; the search stops when all are settled, at level ``P`` (all
pairs: exact), or at the deadline.
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pimopt.interrupt import expired
from pimopt.latency import masked_groups, place_hashes

log = logging.getLogger(__name__)

MAX_GROUP_PAIRS = 50_000_000  # a larger group leaves its targets at the previous level
CHUNK_PAIRS = 1 << 22  # pairs per vectorised batch


@dataclass(frozen=True)
class AgreementBound:
    """Result of :func:`agreement_nearest`.

    Attributes
    ----------
    lower
        (n,) lower bound on each pattern's cheapest write (ps).
    level
        (n,) the level ``d`` completed for each pattern (0: none).
    settled
        (n,) the lower bound is the exact cheapest write.
    pairs
        Source-target pairs evaluated.
    complete
        Every pattern is settled.
    """

    lower: NDArray[np.int64]
    level: NDArray[np.int64]
    settled: NDArray[np.bool_]
    pairs: int
    complete: bool


def place_minima(ids: NDArray[np.int32], table: NDArray[np.int64]) -> NDArray[np.int64]:
    """(n, P) ``m_s(v)`` for the targets ``ids[1:]``: the cheapest write of each
    target's segment content at place ``s`` from another content found there."""
    places = ids.shape[1]
    m = table.shape[0]
    big = np.iinfo(np.int64).max
    mins = np.empty((places, m), dtype=np.int64)
    for s in range(places):
        present = np.zeros(m, dtype=bool)
        present[ids[:, s]] = True
        t = np.where(present[:, None], table, big)
        np.fill_diagonal(t, big)
        mins[s] = t.min(axis=0)
    out: NDArray[np.int64] = mins[np.arange(places)[None, :], ids[1:]]
    return out


def _pairs_of(order: NDArray[np.int64], starts: NDArray[np.int64], sizes: NDArray[np.int64],
              open_: NDArray[np.bool_]) -> tuple[NDArray[np.int64], NDArray[np.int64],
                                                 NDArray[np.int64]]:
    """Targets (open patterns, node >= 1) of the groups ``starts``/``sizes`` of ``order``,
    with the start and size of each target's group."""
    member = np.repeat(np.arange(starts.size), sizes)
    pos = np.repeat(starts, sizes) + (np.arange(sizes.sum())
                                       - np.repeat(np.cumsum(sizes) - sizes, sizes))
    node = order[pos]
    is_t = node > 0
    is_t[is_t] = open_[node[is_t] - 1]
    return node[is_t], starts[member[is_t]], sizes[member[is_t]]


def agreement_nearest(ids: NDArray[np.int32], table: NDArray[np.int64],
                      from_zero: NDArray[np.int64], deadline: float | None = None
                      ) -> AgreementBound:
    """Lower bound on every pattern's cheapest write (see the module docstring).

    Parameters
    ----------
    ids
        (n + 1, P) segment ids of the nodes; node 0 is the erased slot, nodes
        1..n the distinct patterns (pairwise different).
    table
        (m, m) segment latency of writing content ``b`` over ``a`` (ps), zero
        on the diagonal.
    from_zero
        (n,) each pattern's write into an erased slot (ps).
    deadline
        ``time.perf_counter`` value: the level in progress stops there (its
        finished groups still count); ``None``: run to the end.
    """
    nodes, places = ids.shape
    n = nodes - 1
    best = np.asarray(from_zero, dtype=np.int64).copy()
    level = np.zeros(n, dtype=np.int64)
    per = np.sort(place_minima(ids, table), axis=1)
    cs = np.concatenate([np.zeros((n, 1), np.int64), np.cumsum(per, axis=1)], axis=1)
    rows = np.arange(n)
    settled = best <= cs[:, 1]
    pairs = 0
    if n == 0:
        return AgreementBound(best, level, settled, 0, True)
    hashed = place_hashes(ids)
    total = hashed.sum(axis=1, dtype=np.uint64)
    flat = table.ravel()
    m = table.shape[0]
    index = np.int32 if m * m < 2**31 else np.int64  # table positions: int32 gathers are faster
    cut = False
    grouping = 0.0  # seconds the last mask took to group the nodes
    for d in range(1, places + 1):
        t_level, pairs_before = time.perf_counter(), pairs
        done = ~settled  # the open targets that complete this level
        for masked in itertools.combinations(range(places), d):
            # grouping a mask takes a sort of all nodes: start one only if it fits
            if expired(deadline, grouping):
                cut = True
                break
            t_mask = time.perf_counter()
            order, starts, sizes = masked_groups(hashed, total, masked)
            grp = sizes >= 2
            tgt, t_start, t_size = _pairs_of(order, starts[grp], sizes[grp], ~settled)
            # a group too large to evaluate: its targets stay at the previous level
            g = np.searchsorted(starts, t_start)
            over = t_size * np.bincount(g, minlength=starts.size)[g] > MAX_GROUP_PAIRS
            done[tgt[over] - 1] = False
            tgt, t_start, t_size = tgt[~over], t_start[~over], t_size[~over]
            cols = np.asarray(masked, dtype=np.int64)
            grouping = time.perf_counter() - t_mask
            # per mask, once: the masked ids of the grouped order as table row offsets
            src_rows = ids[order][:, cols].astype(index) * m
            ends = np.cumsum(t_size)
            lo = 0
            while lo < tgt.size:
                if expired(deadline):
                    cut = True
                    break
                hi = int(np.searchsorted(ends, ends[lo] - t_size[lo] + CHUNK_PAIRS,
                                         side="right"))
                hi = max(hi, lo + 1)
                tg, st, sz = tgt[lo:hi], t_start[lo:hi], t_size[lo:hi]
                k = int(sz.sum())
                pos = np.repeat(st, sz) + (np.arange(k) - np.repeat(np.cumsum(sz) - sz, sz))
                # only the masked places can differ inside a group
                at = src_rows[pos] + np.repeat(ids[tg][:, cols].astype(index), sz, axis=0)
                c = flat[at[:, 0]]
                for j in range(1, d):
                    c += flat[at[:, j]]
                c[order[pos] == np.repeat(tg, sz)] = np.iinfo(np.int64).max
                first = np.r_[0, np.cumsum(sz)[:-1]]
                best[tg - 1] = np.minimum(best[tg - 1], np.minimum.reduceat(c, first))
                pairs += k
                lo = hi
            if cut:
                break
        if cut:
            break
        level[done] = d
        unseen = cs[rows, np.minimum(level + 1, places)]
        settled = settled | (best <= unseen) | (level >= places)
        log.debug("level %d: %d pairs in %.1f s, %d of %d patterns settled", d,
                  pairs - pairs_before, time.perf_counter() - t_level, settled.sum(), n)
        if settled.all():
            break
    unseen = np.where(level >= places, best, cs[rows, np.minimum(level + 1, places)])
    return AgreementBound(np.minimum(best, unseen), level, settled, pairs,
                          bool(settled.all()))
