"""The latency model of programming (docs/model.md, *Hardware*): the one copy of its arithmetic.

A programming operation writes one or more OU slots of one crossbar. For
every crossbar row it touches, each write segment (``write_width`` cells,
aligned to multiples of ``write_width`` in the crossbar's columns) needs:

- SET passes for the cells whose level rises and, separately, RESET passes
  for the cells whose level falls (SET and RESET never share a pass);
- at most ``write_parallel`` cells per pass, so ``ceil(n / write_parallel)``
  passes per direction;
- per pass ``t_set`` (or ``t_reset``) times its pulses, plus ``t_verify``.
  Pulses: ``single`` mode, 1; ``incremental`` mode, the largest level change
  of the cells in the pass. Cells are grouped into passes by decreasing level
  change, which minimises the sum of the per-pass maxima.

A row segment with no change costs nothing. Passes of one crossbar are
serial, so an operation's latency is the sum over its segments. Cell writes
count changed cells; the energy is ``e_set`` (``e_reset``) per pulse per
changed cell (1 pulse in ``single`` mode, ``|level change|`` pulses in
``incremental`` mode).

Every function is vectorised over many writes at once with numpy; all
optimisers, the scheduler, the metrics and the verifier call this module.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pimopt.architecture import Architecture, ns_to_ps
from pimopt.interrupt import expired

_CHUNK = 1 << 15  # writes per vectorised batch: bounds temporary memory


@dataclass(frozen=True)
class WriteCost:
    """Costs of a batch of writes or operations (one entry each).

    Attributes
    ----------
    passes
        Write passes (SET and RESET).
    latency_ps
        Programming latency, ps.
    cell_writes
        Cells whose level changes.
    energy_pj
        Programming energy, pJ.
    """

    passes: NDArray[np.int64]
    latency_ps: NDArray[np.int64]
    cell_writes: NDArray[np.int64]
    energy_pj: NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.passes.size)


def _segment_costs(arch: Architecture, delta: NDArray[np.int8]) -> WriteCost:
    """Costs of groups of row segments; ``delta`` (new - old) is (groups, rows, segments, width)."""
    par = int(arch.write_parallel or 1)
    width = delta.shape[-1]
    incremental = arch.pulse_mode == "incremental"
    g = delta.shape[0]
    passes = np.zeros(g, dtype=np.int64)
    latency = np.zeros(g, dtype=np.int64)
    energy = np.zeros(g, dtype=np.float64)
    for mags, t_ns, e_pj in ((np.maximum(delta, 0), arch.t_set, arch.e_set),
                             (np.maximum(-delta, 0), arch.t_reset, arch.e_reset)):
        if par >= width:
            chunk_max = mags.max(axis=-1)
        else:
            # passes take cells by decreasing change: chunk maxima are every par-th value
            chunk_max = -np.sort(-mags, axis=-1)[..., ::par]
        chunk_max = chunk_max.reshape(g, -1)
        dir_passes = (chunk_max > 0).sum(axis=1, dtype=np.int64)
        if incremental:
            pulses = chunk_max.sum(axis=1, dtype=np.int64)
            cell_pulses = mags.reshape(g, -1).sum(axis=1, dtype=np.int64)
        else:
            pulses = dir_passes
            cell_pulses = (mags.reshape(g, -1) > 0).sum(axis=1, dtype=np.int64)
        passes += dir_passes
        latency += pulses * ns_to_ps(t_ns)
        energy += cell_pulses * e_pj
    latency += passes * ns_to_ps(arch.t_verify)
    writes = (delta.reshape(g, -1) != 0).sum(axis=1, dtype=np.int64)
    return WriteCost(passes, latency, writes, energy)


def subadditive(arch: Architecture) -> bool:
    """Whether a write never costs more than two writes through any pattern in between:
    ``d(x, z) <= d(x, y) + d(y, z)`` for single-slot writes (latency and cell writes).

    It holds with ``single`` pulses, or when one pass takes every cell of a row
    segment that changes (``write_parallel`` at least the segment width): a cell
    that rises (falls) from ``x`` to ``z`` rises (falls) in one of the two steps,
    so each pass count and each largest level change is at most the sum of the
    two steps' (``ceil`` is subadditive). With ``incremental`` pulses and
    narrower passes the grouping of cells by decreasing change can make the
    direct write dearer (docs/bounds.md, section 7). Cell writes are always
    subadditive; this answers for the latency.
    """
    seg = min(int(arch.write_width or arch.ou_cols), arch.ou_cols)
    return arch.pulse_mode == "single" or int(arch.write_parallel or seg) >= seg


def _concat(parts: list[WriteCost]) -> WriteCost:
    if not parts:
        e = np.zeros(0, dtype=np.int64)
        return WriteCost(e, e.copy(), e.copy(), np.zeros(0))
    return WriteCost(*(np.concatenate([getattr(p, f) for p in parts])
                       for f in ("passes", "latency_ps", "cell_writes", "energy_pj")))


def pair_costs(arch: Architecture, old: NDArray[np.integer],
               new: NDArray[np.integer]) -> WriteCost:
    """Costs of single-slot programming operations ``old -> new``.

    Parameters
    ----------
    arch
        The architecture (write width, parallelism, pulse mode, latencies).
    old, new
        Cell levels, shape (n, ou_rows, ou_cols) (or one pattern, (ou_rows, ou_cols)).

    Returns
    -------
    WriteCost
        One entry per pair.
    """
    o = np.asarray(old)
    n_ = np.asarray(new)
    if o.ndim == 2:
        o, n_ = o[None], n_[None]
    o, n_ = np.broadcast_arrays(o, n_)
    count, r, c = o.shape
    seg = min(int(arch.write_width or c), c)  # a slot alone never shares a segment
    parts = []
    for lo in range(0, count, _CHUNK):
        d = n_[lo: lo + _CHUNK].astype(np.int8) - o[lo: lo + _CHUNK].astype(np.int8)
        parts.append(_segment_costs(arch, d.reshape(d.shape[0], r, c // seg, seg)))
    return _concat(parts)


def operation_costs(arch: Architecture, op: NDArray[np.integer], slot: NDArray[np.integer],
                    old: NDArray[np.integer], new: NDArray[np.integer],
                    n_ops: int) -> WriteCost:
    """Costs of programming operations that may write several slots of one crossbar.

    Slots of one operation that lie in the same crossbar row band and the same
    ``write_width`` column segment share write passes.

    Parameters
    ----------
    arch
        The architecture.
    op
        Operation index of every write, in ``0 .. n_ops-1``.
    slot
        Slot (inside its crossbar) of every write; distinct within an operation.
    old, new
        Levels before and after every write, shape (writes, ou_rows, ou_cols).
    n_ops
        Number of operations.

    Returns
    -------
    WriteCost
        One entry per operation.
    """
    op_ = np.asarray(op, dtype=np.int64)
    slot_ = np.asarray(slot, dtype=np.int64)
    r, c = arch.ou_rows, arch.ou_cols
    ww = int(arch.write_width or c)
    per_group = arch.slots_per_write_segment  # slots sharing one segment column band
    if per_group == 1:
        return _sum_by(op_, pair_costs(arch, old, new), n_ops)
    srow, scol = np.divmod(slot_, arch.slot_cols)
    key = np.stack([op_, srow, scol // per_group], axis=1)
    uniq, group = np.unique(key, axis=0, return_inverse=True)
    group = group.ravel()
    offset = (scol % per_group) * c
    parts = []
    for lo in range(0, len(uniq), _CHUNK):
        sel = np.flatnonzero((group >= lo) & (group < lo + _CHUNK))
        delta = np.zeros((min(_CHUNK, len(uniq) - lo), r, per_group * c), dtype=np.int8)
        d = np.asarray(new)[sel].astype(np.int8) - np.asarray(old)[sel].astype(np.int8)
        cols = offset[sel, None] + np.arange(c)
        delta[group[sel, None, None] - lo, np.arange(r)[None, :, None], cols[:, None, :]] = d
        g = delta.shape[0]
        parts.append(_segment_costs(arch, delta.reshape(g, r, per_group * c // ww, ww)))
    return _sum_by(uniq[:, 0].astype(np.int64), _concat(parts), n_ops)


def _sum_by(index: NDArray[np.int64], costs: WriteCost, n: int) -> WriteCost:
    """Add up the entries of ``costs`` that share an index (exact integer sums)."""
    out = [np.zeros(n, dtype=np.int64) for _ in range(3)]
    for acc, part in zip(out, (costs.passes, costs.latency_ps, costs.cell_writes), strict=True):
        np.add.at(acc, index, part)
    energy = np.bincount(index, weights=costs.energy_pj, minlength=n).astype(np.float64)
    return WriteCost(out[0], out[1], out[2], energy)


def segment_codes(arch: Architecture, patterns: NDArray[np.integer]) -> NDArray[np.uint64] | None:
    """Thermometer codes of every row segment of single-slot writes, or ``None``.

    A cell at level ``L`` sets bits ``0 .. L-1`` of its ``levels - 1`` bits, so
    a segment has a SET (RESET) when the new (old) code has a bit the other
    lacks. With single pulses and ``write_parallel`` at least the segment
    width, each direction needs exactly one pass when it has any cell, so
    :func:`latency_from_codes` gives the same latency as :func:`pair_costs` from
    a few word operations per row. ``None`` when that does not hold or a
    segment needs more than 64 bits.
    """
    p = np.asarray(patterns)
    c = arch.ou_cols
    seg = min(int(arch.write_width or c), c)
    lv = arch.levels - 1
    if arch.pulse_mode != "single" or int(arch.write_parallel or 1) < seg or lv * seg > 64:
        return None
    n, r = p.shape[0], p.shape[1]
    cells = p.reshape(n, r, c // seg, seg)
    code = np.zeros((n, r, c // seg), dtype=np.uint64)
    for cell in range(seg):
        for j in range(lv):
            bit = (cells[..., cell] > j).astype(np.uint64)
            code |= bit << np.uint64(cell * lv + j)
    return code


def latency_from_codes(arch: Architecture, old: NDArray[np.uint64],
                       new: NDArray[np.uint64]) -> NDArray[np.int64]:
    """Programming latency (ps) of single-slot writes from :func:`segment_codes` (vectorised)."""
    n = old.shape[0]
    up = ((new & ~old) != 0).reshape(n, old[0].size if n else 0).sum(axis=1, dtype=np.int64)
    down = ((old & ~new) != 0).reshape(n, old[0].size if n else 0).sum(axis=1, dtype=np.int64)
    tv = ns_to_ps(arch.t_verify)
    return up * (ns_to_ps(arch.t_set) + tv) + down * (ns_to_ps(arch.t_reset) + tv)


SEGMENT_TABLE_MAX = 4096  # distinct segment contents a lookup table may hold (m^2 entries)


@dataclass(frozen=True)
class SegmentTable:
    """Single-slot write latency as a lookup table over segment contents.

    An operation's latency is the sum over its row segments of each segment's
    latency (passes of one crossbar are serial), and a segment's latency
    depends only on its old and new cells. So with every distinct segment
    content given an id, a single-slot write ``u -> v`` costs
    ``sum_j table[ids[u, j], ids[v, j]]`` over the ``places`` segments of a
    pattern: a few table look-ups instead of the cell arithmetic.

    Attributes
    ----------
    ids
        (n, places) id of each pattern's segment content at each place.
    table
        (m, m) latency (ps) of writing segment content ``b`` over ``a``,
        computed by :func:`pair_costs` (the one copy of the arithmetic).
    """

    ids: NDArray[np.int32]
    table: NDArray[np.int64]

    def latency(self, old: NDArray[np.int64], new: NDArray[np.int64]) -> NDArray[np.int64]:
        """Latency (ps) of the single-slot writes ``old[i] -> new[i]`` (pattern indices)."""
        return self.table[self.ids[old], self.ids[new]].sum(axis=-1)

    def from_all(self, new: NDArray[np.int64], old: NDArray[np.int64]) -> NDArray[np.int64]:
        """(len(new), len(old)) latency of writing each ``new`` over each ``old`` pattern."""
        out = np.zeros((new.size, old.size), dtype=np.int64)
        for j in range(self.ids.shape[1]):
            rows = self.table[:, self.ids[new, j]].T  # (new, m): cost from content a
            out += np.take(rows, self.ids[old, j], axis=1)
        return out


def segment_table(arch: Architecture, patterns: NDArray[np.integer],
                  max_values: int = SEGMENT_TABLE_MAX) -> SegmentTable | None:
    """The :class:`SegmentTable` of ``patterns`` (n, ou_rows, ou_cols), or ``None``
    when they hold more than ``max_values`` distinct segment contents."""
    values, ids = segment_ids(arch, patterns)
    m = values.shape[0]
    if m > max_values:
        return None
    a = np.repeat(np.arange(m), m)
    b = np.tile(np.arange(m), m)
    return SegmentTable(ids, _content_latency(arch, values, a, b).reshape(m, m))


def _content_latency(arch: Architecture, values: NDArray[np.uint8], a: NDArray[np.int64],
                     b: NDArray[np.int64]) -> NDArray[np.int64]:
    """Latency (ps) of writing segment content ``values[b]`` over ``values[a]``."""
    # a (1, seg) pattern is one segment: pair_costs gives exactly that segment's latency
    lat = pair_costs(arch, values[a][:, None, :], values[b][:, None, :]).latency_ps
    return np.asarray(lat, dtype=np.int64)


def segment_ids(arch: Architecture, patterns: NDArray[np.integer]
                ) -> tuple[NDArray[np.uint8], NDArray[np.int32]]:
    """The distinct contents of single-slot write segments (``min(write_width,
    ou_cols)`` cells of a row) in ``patterns`` (n, ou_rows, ou_cols), and the id
    of each pattern's content at each of its segment places, (n, places): two
    patterns agree in a segment exactly when their ids there are equal."""
    p = np.asarray(patterns, dtype=np.uint8)
    n, r, c = p.shape
    seg = min(int(arch.write_width or c), c)
    places = r * (c // seg)
    # one opaque item per segment: np.unique on it is ~10x faster than with axis=0
    items = np.ascontiguousarray(p.reshape(n * places, seg)).view(np.dtype((np.void, seg)))
    values, inv = np.unique(items.ravel(), return_inverse=True)
    return values.view(np.uint8).reshape(-1, seg), inv.reshape(n, places).astype(np.int32)


SEGMENT_MEMO_MAX = 1024  # distinct segment contents one architecture's memo may hold


class SegmentMemo:
    """:class:`SegmentTable` costs memoised across chain problems of one architecture.

    A mapping solves one chain problem per crossbar and layer; their patterns
    share the same few hundred segment contents. The memo gives every content
    it meets an id and keeps the latency of every pair of known contents,
    extending the table (by :func:`pair_costs`) only for new contents, so a
    write costs a few look-ups instead of the cell arithmetic: on the
    incremental-pulse presets, where :func:`segment_codes` does not apply,
    2.6-4.5 times as many arcs a second (`scripts/bench_chains.py`: ResNet-50
    `wv-mlc`, ddddocr-ocr `multi-ou`). Get one with :func:`segment_memo`.
    """

    def __init__(self, arch: Architecture) -> None:
        self.arch = arch
        self._index: dict[bytes, int] = {}
        self.table = np.zeros((0, 0), dtype=np.int64)
        self._values: list[NDArray[np.uint8]] = []

    def ids(self, patterns: NDArray[np.integer]) -> NDArray[np.int32] | None:
        """(n, places) memo ids of the segment contents of ``patterns``, or ``None``
        when the memo would exceed :data:`SEGMENT_MEMO_MAX` contents (nothing added)."""
        values, local = segment_ids(self.arch, patterns)
        keys = [v.tobytes() for v in values]
        new = [i for i, k in enumerate(keys) if k not in self._index]
        m0 = len(self._index)
        if m0 + len(new) > SEGMENT_MEMO_MAX:
            return None
        if new:
            for j, i in enumerate(new):
                self._index[keys[i]] = m0 + j
                self._values.append(values[i])
            allv = np.stack(self._values)
            m = allv.shape[0]
            table = np.zeros((m, m), dtype=np.int64)
            table[:m0, :m0] = self.table
            # the new rows and the new columns: writes from or to a new content
            a = np.r_[np.repeat(np.arange(m0, m), m), np.repeat(np.arange(m0), m - m0)]
            b = np.r_[np.tile(np.arange(m), m - m0), np.tile(np.arange(m0, m), m0)]
            table[a, b] = _content_latency(self.arch, allv, a, b)
            self.table = table
        glob = np.array([self._index[k] for k in keys], dtype=np.int32)
        return glob[local]

    def latency(self, old: NDArray[np.int32], new: NDArray[np.int32]) -> NDArray[np.int64]:
        """Latency (ps) of single-slot writes given the memo ids of old and new patterns,
        (k, places) each."""
        return self.table[old, new].sum(axis=-1)


_MEMOS: dict[Architecture, SegmentMemo] = {}


def segment_memo(arch: Architecture) -> SegmentMemo:
    """The process-wide :class:`SegmentMemo` of ``arch``."""
    memo = _MEMOS.get(arch)
    if memo is None:
        memo = _MEMOS[arch] = SegmentMemo(arch)
    return memo


def single_pass_ps(arch: Architecture) -> int:
    """The cheapest possible write pass: one pulse (SET or RESET) and its verify read."""
    return min(ns_to_ps(arch.t_set), ns_to_ps(arch.t_reset)) + ns_to_ps(arch.t_verify)


def segment_distances(arch: Architecture, distinct: NDArray[np.integer],
                      deadline: float | None = None) -> tuple[NDArray[np.int64], bool]:
    """Per pattern, a lower bound on the write segments in which it differs from every
    other pattern.

    ``distinct`` (n, ou_rows, ou_cols) must hold pairwise different patterns.
    Segments are those of a single-slot write (``min(write_width, ou_cols)``
    cells), ``P`` per pattern. Level by level, ``d = 1, 2, ...``: for every set
    ``M`` of ``d`` segment places, two patterns that agree outside ``M`` differ
    in at most ``d`` segments; a pattern that shares its key (its segments
    outside ``M``) with no other for any ``M`` of size ``< d`` differs from
    every other pattern in at least ``d`` segments. Keys are 64-bit hashes of
    exact per-place segment ids: a collision can only report a neighbour that
    is not there, which lowers the result and keeps it a lower bound. Time
    ``O(C(P, d) n log n)`` per level; at ``deadline`` the level in progress is
    dropped and the unresolved patterns keep the last completed level + 1.

    Returns
    -------
    (distance, complete)
        The lower bound per pattern (at least 1), and whether it is the exact
        nearest distance for every pattern.
    """
    n = len(distinct)
    # a hash: collisions only report a neighbour that is not there, lowering the bound
    hashed = place_hashes(segment_ids(arch, distinct)[1])
    total = hashed.sum(axis=1, dtype=np.uint64)
    places = hashed.shape[1]
    dist = np.zeros(n, dtype=np.int64)  # 0: not resolved yet
    if n < 2:
        return np.ones(n, dtype=np.int64), True
    for d in range(1, places + 1):
        found = np.zeros(n, dtype=bool)
        for masked in itertools.combinations(range(places), d):
            if expired(deadline):
                dist[dist == 0] = d  # every level below d was complete
                return dist, False
            order, _, sizes = masked_groups(hashed, total, masked)
            found[order[np.repeat(sizes >= 2, sizes)]] = True
        dist[found & (dist == 0)] = d
        if (dist > 0).all():
            return dist, True
    dist[dist == 0] = places  # unreachable for distinct patterns
    return dist, True


def place_hashes(ids: NDArray[np.integer]) -> NDArray[np.uint64]:
    """(n, P) per-place seeded 64-bit hashes of segment ids (``segment_ids``): a
    row's hashes summed over a set of places is a hash of its contents there."""
    mult = np.random.default_rng(0).integers(1, 2**63, size=ids.shape[1], dtype=np.uint64)
    out: NDArray[np.uint64] = (ids.astype(np.uint64) + np.uint64(1)) * (mult | np.uint64(1))
    return out  # uint64 arithmetic wraps


def masked_groups(hashed: NDArray[np.uint64], total: NDArray[np.uint64],
                  masked: tuple[int, ...]
                  ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """Rows grouped by their contents outside the places ``masked`` (by the hashes
    of :func:`place_hashes`; a collision merges groups): ``(order, starts, sizes)``,
    group ``g`` being ``order[starts[g]:starts[g] + sizes[g]]``, in no particular
    order inside a group. ``total``: each row's hashes summed over all places (the
    caller's, once for all its masks); the masked places are subtracted from it
    (uint64 arithmetic wraps, so that equals the sum over the other places)."""
    key = total.copy()
    for s in masked:
        key -= hashed[:, s]
    order = np.argsort(key)  # quicksort: twice the stable sort's speed, any order will do
    sk = key[order]
    starts = np.r_[0, np.flatnonzero(sk[1:] != sk[:-1]) + 1].astype(np.int64)
    sizes = np.diff(np.r_[starts, key.size]).astype(np.int64)
    return order, starts, sizes


def write_floor(arch: Architecture, distinct: NDArray[np.integer], metric: str = "latency",
                deadline: float | None = None) -> NDArray[np.int64]:
    """Per pattern, a lower bound on writing it into a slot that holds any other pattern.

    The sources are the other patterns of ``distinct`` (pairwise different;
    the erased slot is not among them unless it is in ``distinct``). Every
    write segment in which source and target differ needs at least one pass
    (latency: :func:`single_pass_ps`) and changes at least one cell
    (``cell_writes``), so the floor is :func:`segment_distances` times that
    unit. Used where the exact cheapest write (all pairs) is too costly.
    """
    unit = single_pass_ps(arch) if metric == "latency" else 1
    return segment_distances(arch, distinct, deadline)[0] * unit
