"""Makespan-aware mapping: every layer's compute spread over all OUs of the chip.

The makespan of a layer under the layer barrier is set by its slowest
crossbar, and with ``block_whole_crossbar`` a crossbar's time in a layer is
its programming plus its compute over the OUs it runs at once. So, layer by
layer (docs/methods.md, "Makespan-aware mapping"):

1. **Order**: the layer's non-zero blocks sorted by pattern (pattern ids are
   in lexicographic order of the cells), so that neighbours are similar and
   identical patterns are adjacent.
2. **Partition** (McNaughton's wrap-around rule): the layer's work, one unit
   per (block, input vector), laid end to end in that order and cut into
   ``X * o`` contiguous channel shares, ``o`` of them per crossbar. A block
   cut by a boundary is split: each part computes its own input range on its
   own load. ``o`` (OUs used per crossbar, up to ``ous_per_crossbar``) and
   whether boundaries may split blocks at all are chosen per layer by the
   crossbar-time model below, so a layer whose blocks are few gets its inputs
   split over every OU while a programming-bound layer is not split.
   Where the write budget binds, the layer's writes, not its compute, set
   its time (a pattern's mean write over another at least a block's compute
   on one OU) and it has more blocks than the slots the previous layer left
   alone, the crossbars come instead from a **chip-wide assignment**
   (:func:`_assigned_plan`): round by round, a minimum-cost assignment of the
   layer's patterns to all slots of the chip, from what the slots hold; a
   block goes to its slot's crossbar, and every round but the last fills all
   slots, so the shares stay nearly equal. A block may then load from any
   slot of the chip, not only the ``S / X`` of one crossbar (ResNet-20
   ``multi-ou``: 6.5% less programming in its 4,608-block layers).
3. **Programming inside each crossbar**: the pieces of a crossbar with equal
   patterns in one channel are one item (pattern reuse); a chain method
   (``sorted`` for the quota pass, the solve's method for the final one)
   chooses slot and order of the items on that crossbar's slots, from the
   patterns the previous layer left there, minimising programming (the
   secondary objective). A chip-wide assignment's chains are kept and
   improved by granular moves while the layer's time share lasts.
4. **Rebalance** (when the write budget cannot bind, ``max_programming_crossbars
   >= crossbars``): the crossbar-time model ``T_x = P_x + C_x / o``
   (programming blocks the crossbar; compute runs on ``o`` OUs) is evaluated
   from quick sorted chains, which give every block its programming; the
   boundaries move so that every crossbar carries the same programming plus
   compute (a block moves with its programming), and the final pass cuts
   there. Each evaluation updates sums over the layer's blocks, not a
   schedule. Under a binding budget equal compute shares are kept: crossbars
   in step would all queue for the budget together.

The result is a :class:`~pimopt.mapping.Mapping` (with input ranges when a
block was split); the list scheduler times it and the verifier checks it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pimopt.chains.construct import assign_round, sorted_chains, sub_costs
from pimopt.chains.granular import GRANULAR_S_PER_ITEM, granular_chains
from pimopt.chains.problem import ChainProblem, Chains, min_rounds
from pimopt.instance import Instance
from pimopt.interrupt import expired, seconds_left
from pimopt.latency import pair_costs
from pimopt.mapping import Mapping

# (problem, seconds) -> chains: the chain method that minimises programming per crossbar
ChainSolver = Callable[[ChainProblem, float], Chains]
SAMPLE = 512  # patterns sampled to estimate a layer's programming per load
# slot-pattern pairs per second of the chip-wide round-by-round assignment, LSAP included
# (measured 6e6 on 2,048 slots x 4,608 patterns)
ASSIGN_PAIRS_PER_S = 4_000_000


@dataclass
class _Plan:
    """One layer's partition: pieces of blocks, their channel, crossbar and input range."""

    block: NDArray[np.int64]  # block of every piece
    first: NDArray[np.int64]
    last: NDArray[np.int64]
    channel: NDArray[np.int64]
    crossbar: NDArray[np.int64]
    # pattern ids each slot loads, in order (chip-wide assignment), or None
    chains: list[list[int]] | None = None


def _pieces(blocks: NDArray[np.int64], n_in: int, cuts: NDArray[np.int64], ous: int,
            split: bool) -> _Plan:
    """Cut the unit sequence of ``blocks`` (``n_in`` units each) at ``cuts``.

    ``cuts`` has one entry per channel boundary plus both ends; without
    ``split`` the boundaries are rounded to whole blocks first.
    """
    n = blocks.size
    total = n * n_in
    if not split:
        cuts = np.round(cuts / n_in).astype(np.int64) * n_in
    cuts = np.clip(cuts, 0, total)
    cuts = np.maximum.accumulate(cuts)
    bounds = np.union1d(np.arange(n + 1, dtype=np.int64) * n_in, cuts)
    lo, hi = bounds[:-1], bounds[1:]
    keep = hi > lo
    lo, hi = lo[keep], hi[keep]
    idx = lo // n_in
    channel = np.searchsorted(cuts, lo, side="right") - 1
    return _Plan(block=blocks[idx], first=lo - idx * n_in, last=hi - idx * n_in,
                 channel=channel, crossbar=channel // ous)


def _equal_cuts(channels: int, total: int) -> NDArray[np.int64]:
    """Boundaries (units) of ``channels`` equal shares of ``total`` units."""
    out: NDArray[np.int64] = np.asarray(np.round(np.linspace(0, total, channels + 1)),
                                        dtype=np.int64)
    return out


def _index_in(blocks: NDArray[np.int64], which: NDArray[np.int64]) -> NDArray[np.int64]:
    """Position in ``blocks`` (distinct, any order) of every entry of ``which``."""
    order = np.argsort(blocks)
    return order[np.searchsorted(blocks, which, sorter=order)]


def _weighted_cuts(weight: NDArray[np.float64], n_in: int, crossbars: int, ous: int
                   ) -> NDArray[np.int64]:
    """Channel boundaries (units) giving every crossbar the same total weight.

    Block ``i`` (``n_in`` units, weight spread evenly over them) carries
    ``weight[i]``, its programming plus its compute over the OUs; crossbar
    boundaries fall where the cumulative weight reaches multiples of the
    total over ``crossbars``, and each crossbar's units are cut into ``ous``
    equal channels.
    """
    cum = np.r_[0.0, np.cumsum(weight)]
    total = cum[-1]
    targets = total * np.arange(crossbars + 1) / crossbars
    i = np.clip(np.searchsorted(cum, targets, side="right") - 1, 0, weight.size - 1)
    frac = np.where(weight[i] > 0, (targets - cum[i]) / np.maximum(weight[i], 1e-300), 0.0)
    xb_cuts = np.round((i + np.clip(frac, 0.0, 1.0)) * n_in)
    xb_cuts[0], xb_cuts[-1] = 0, weight.size * n_in
    xb_cuts = np.maximum.accumulate(xb_cuts)
    steps = np.arange(ous) / ous
    inner = xb_cuts[:-1, None] + (xb_cuts[1:] - xb_cuts[:-1])[:, None] * steps[None, :]
    out: NDArray[np.int64] = np.asarray(np.round(np.r_[inner.ravel(), xb_cuts[-1]]),
                                        dtype=np.int64)
    return out


def _model_choice(inst: Instance, blocks: NDArray[np.int64], n_in: int
                  ) -> tuple[int, bool, float]:
    """OUs per crossbar, whether to split blocks, by the crossbar-time model, and the
    layer's mean write of one of its patterns over another (ps, sampled).

    A crossbar's time is its loads times the layer's mean write (from the
    erased state, sampled) plus the compute of its busiest channel. Splitting
    adds at most one load per channel boundary; more channels shorten compute.
    """
    a = inst.arch
    x, n = a.crossbars, blocks.size
    rng = np.random.default_rng(0)
    sample = blocks if n <= SAMPLE else rng.choice(blocks, SAMPLE, replace=False)
    pats = inst.patterns[sample]
    p_mean = float(pair_costs(a, np.zeros_like(pats), pats).latency_ps.mean())
    unit = a.compute_ps(1)
    options = sorted({1 << k for k in range(a.ous_per_crossbar.bit_length())
                      if 1 << k <= a.ous_per_crossbar} | {a.ous_per_crossbar})
    best: tuple[float, int, bool] | None = None
    for o in options:
        ch = x * o
        for split in (False, True):
            if split:
                loads = n + ch - 1
                comp = -(-n * n_in // ch) * unit
            else:
                loads = n
                comp = -(-n // ch) * n_in * unit
            t = loads / x * p_mean + comp
            if best is None or t < best[0] - 1e-9:
                best = (t, o, split)
    assert best is not None
    # a slot mostly holds another pattern of the layer (SET and RESET passes), not the
    # erased state (SET only): the write that decides whether writes set the layer's time
    over = pats[rng.permutation(len(pats))] if len(pats) > 1 else np.zeros_like(pats)
    return best[1], best[2], float(pair_costs(a, over, pats).latency_ps.mean())


def _last_round(p: ChainProblem, cur: NDArray[np.int64], left: NDArray[np.int64],
                chains: Chains, crossbars: int) -> None:
    """The last round of the chip-wide assignment, fewer patterns than slots: at most
    ``ceil(r / X)`` of the ``r`` patterns per crossbar, so that no crossbar programs the
    round alone (from erased slots every slot costs the same, and a free assignment
    could put a whole layer on one crossbar, which programs serially). Each crossbar
    offers its slots cheapest to any pattern left; an assignment over those."""
    cost = sub_costs(p, cur, left)
    spc = p.n_slots // crossbars
    quota = -(-left.size // crossbars)
    near = cost.min(axis=1).reshape(crossbars, spc)
    offered = (np.argsort(near, axis=1, kind="stable")[:, :quota]
               + spc * np.arange(crossbars)[:, None]).ravel()
    assign_round(p, cur, left, chains, slots=offered, cost=cost[offered])


def _assigned_plan(inst: Instance, content: NDArray[np.uint8], blocks: NDArray[np.int64],
                   n_in: int, ous: int, metric: str, seconds: float
                   ) -> tuple[_Plan | None, str]:
    """Crossbars chosen by programming: a chip-wide chain solve of the layer.

    Where a layer's writes, not its compute, set its time and the write budget
    binds, a crossbar's share of the layer matters less than what the layer
    programs in all: the contiguous shares of the weight-sorted order leave
    each block the ``S / X`` slots of one crossbar to load from, a chain
    solve over all ``S`` slots of the chip (from what they hold) all of them.
    A block's crossbar is that of its slot; blocks with equal patterns follow
    one load. The solve is the round-by-round assignment: every round a
    minimum-cost assignment of the remaining patterns to all slots, so every
    round but the last fills every slot, and the last gives every crossbar at
    most its equal share of that round (:func:`_last_round`). Returns the plan
    and how it was made ("assignment"); no plan (the caller keeps its
    partition) where its estimated time exceeds 90% of ``seconds`` ("too
    large") or the rounds overrun ``seconds`` ("cut": they cannot be stopped
    part-way). Granular search over all slots instead was tried for larger
    layers: on one 73,728-block ResNet-18 layer it programmed 3.4% less than
    the crossbars' own searches at 40 s, but at the shares a 240 s solve gives
    it overran them by up to 2x (34.7 s of 18 s), which starved the later
    layers (ResNet-18 CIFAR ``multi-ou``: 321.8 against 243.2 ms).
    """
    a = inst.arch
    t0 = time.perf_counter()
    pid = inst.pattern_id[blocks]
    upid, first, inv = np.unique(pid, return_index=True, return_inverse=True)
    items = inst.patterns[blocks[first]]
    p = ChainProblem(a, content, items, np.zeros(upid.size, np.int64),
                     {0: min_rounds(upid.size, a.total_slots)}, metric)
    # round r assigns the n - r S patterns left to S slots: about S n rounds / 2 pairs
    need = a.total_slots * upid.size * (p.capacity[0] + 1) / 2 / ASSIGN_PAIRS_PER_S
    # its chains replace the crossbars' own solve, which would take the share: most of it
    if need > 0.9 * seconds:
        return None, "too large"
    chains: Chains = [[] for _ in range(p.n_slots)]
    cur = np.arange(p.n_slots, dtype=np.int64)
    left = np.arange(upid.size, dtype=np.int64)
    while left.size:
        if expired(t0 + seconds):
            return None, "cut"
        if left.size >= p.n_slots:
            left = np.delete(left, assign_round(p, cur, left, chains))
        else:
            _last_round(p, cur, left, chains, a.crossbars)
            break
    item_slot = np.empty(upid.size, dtype=np.int64)
    for k, chain in enumerate(chains):
        item_slot[chain] = k
    slot = item_slot[inv.ravel()]
    order = np.lexsort((pid, slot))  # by slot: a crossbar's blocks together
    blocks, slot = blocks[order], slot[order]
    spc = a.slots_per_crossbar
    xb = slot // spc
    # the crossbar's slots cut into ``ous`` channels: equal patterns share a slot, so
    # they share a channel and one load
    channel = xb * ous + (slot % spc) * ous // spc
    zeros = np.zeros(blocks.size, dtype=np.int64)
    return _Plan(block=blocks, first=zeros, last=zeros + n_in, channel=channel, crossbar=xb,
                 chains=[upid[c].tolist() for c in chains]), "assignment"


class _Builder:
    """Places one layer's pieces on crossbars; keeps slot contents and positions."""

    def __init__(self, inst: Instance, metric: str, reuse: bool, round_limit: bool = True,
                 seed: int = 0) -> None:
        a = inst.arch
        self.inst, self.metric, self.reuse, self.seed = inst, metric, reuse, seed
        self.round_limit = round_limit
        self.spc = a.slots_per_crossbar
        self.content = np.zeros((a.total_slots, a.ou_rows, a.ou_cols), dtype=np.uint8)
        self.pos = np.zeros(a.total_slots, dtype=np.int64)
        self.owner = np.full(a.total_slots, -1, dtype=np.int64)  # layer that last wrote

    def crossbar_problem(self, plan: _Plan, xb: int
                         ) -> tuple[ChainProblem, NDArray[np.int64], NDArray[np.int64]]:
        """Chain problem of one crossbar: (problem, piece indices, item of each piece); its
        round limit admits the plan's own chains where it has them."""
        sel = np.flatnonzero(plan.crossbar == xb)
        pid = self.inst.pattern_id[plan.block[sel]]
        if self.reuse:  # equal patterns in one channel share a load
            key = np.stack([plan.channel[sel], pid], axis=1)
            _, first, item = np.unique(key, axis=0, return_index=True, return_inverse=True)
            item = item.ravel()
        else:
            first = np.arange(sel.size)
            item = first
        items = self.inst.patterns[plan.block[sel][first]]
        starts = self.content[xb * self.spc:(xb + 1) * self.spc]
        cap = min_rounds(len(items), self.spc)
        if plan.chains is not None:
            cap = max([cap, *map(len, plan.chains[xb * self.spc:(xb + 1) * self.spc])])
        p = ChainProblem(self.inst.arch, starts, items, np.zeros(len(items), np.int64),
                         {0: cap}, self.metric)
        return p, sel, item.astype(np.int64)

    def given_chains(self, plan: _Plan, xb: int, p: ChainProblem, sel: NDArray[np.int64],
                     item: NDArray[np.int64]) -> Chains:
        """The plan's chains of crossbar ``xb`` as chains of its problem ``p``."""
        assert plan.chains is not None
        item_pid = np.empty(p.n_items, dtype=np.int64)
        item_pid[item] = self.inst.pattern_id[plan.block[sel]]
        by_pid = np.argsort(item_pid)
        return [by_pid[np.searchsorted(item_pid, c, sorter=by_pid)].tolist()
                for c in plan.chains[xb * self.spc:(xb + 1) * self.spc]]

    def programming(self, plan: _Plan, solver: ChainSolver) -> NDArray[np.float64]:
        """Programming attributed to every piece of a plan (its load's write, shared
        evenly by the pieces of that load), without placing the plan."""
        out = np.zeros(plan.block.size, dtype=np.float64)
        for xb in np.unique(plan.crossbar).tolist():
            p, sel, item = self.crossbar_problem(plan, xb)
            u, v = p.arcs_of(solver(p, 0.0))
            cost = np.zeros(p.n_items, dtype=np.float64)
            cost[v] = p.arc_costs(u, v)
            out[sel] = cost[item] / np.bincount(item, minlength=p.n_items)[item]
        return out

    def place(self, plan: _Plan, solver: ChainSolver, budget: float, deadline: float,
              rows: list[NDArray[np.int64]], layer: int = -1) -> int:
        """Solve every crossbar's chains, append mapping rows; returns the claimed cost.

        Each crossbar gets its share of ``budget``, never past ``deadline``; once
        the deadline has passed the remaining crossbars take sorted chains.
        """
        xbs = np.unique(plan.crossbar).tolist()
        claimed = 0
        for xb in xbs:
            p, sel, item = self.crossbar_problem(plan, xb)
            seconds = min(budget * len(sel) / max(1, plan.block.size),
                          seconds_left(deadline))
            if plan.chains is not None:  # the chip-wide chains, improved while time lasts
                chains = self.given_chains(plan, xb, p, sel, item)
                if seconds >= GRANULAR_S_PER_ITEM * p.n_items and p.n_items >= 2:
                    chains = granular_chains(p, time_limit=seconds, seed=self.seed,
                                             initial=chains)
            else:
                chains = solver(p, seconds) if seconds > 0 else sorted_chains(p)
            p.check_solution(chains, "balanced's chain method", round_limit=self.round_limit)
            claimed += p.evaluate(chains)
            item_slot = np.empty(p.n_items, dtype=np.int64)
            item_pos = np.empty(p.n_items, dtype=np.int64)
            for k, chain in enumerate(chains):
                if not chain:
                    continue
                g = xb * self.spc + k
                item_slot[chain] = k
                item_pos[chain] = self.pos[g] + np.arange(len(chain))
                self.pos[g] += len(chain)
                self.owner[g] = layer
            self.content[xb * self.spc:(xb + 1) * self.spc] = p.final_patterns(chains)
            rows.append(np.stack([plan.block[sel], np.full(sel.size, xb), item_slot[item],
                                  item_pos[item], plan.first[sel], plan.last[sel]], axis=1))
        return claimed


def balanced_mapping(inst: Instance, solver: ChainSolver, *, metric: str = "latency",
                     time_limit: float = 60.0, reuse: bool = True, rebalance: bool = True,
                     round_limit: bool = True, assign: bool = True, seed: int = 0,
                     info: dict[str, Any] | None = None) -> tuple[Mapping, int]:
    """The makespan-aware mapping of an instance (see the module docstring).

    Parameters
    ----------
    inst
        The instance.
    solver
        ``(problem, seconds) -> chains``: the chain method used per crossbar in
        the final pass (programming as secondary objective).
    metric
        ``"latency"`` or ``"cell_writes"``: what the chain method minimises.
    time_limit
        Seconds for the whole mapping; layers share it by block count.
    reuse
        Blocks with equal patterns in one channel share a load.
    rebalance
        Run the quota pass (step 4 of the module docstring).
    round_limit
        Whether ``solver`` keeps the heuristics' round limit (exact models solve
        the problem without it, so their chains are checked without it).
    assign
        Let a chip-wide chain solve choose the crossbars of layers whose writes set
        their time under a binding write budget (:func:`_assigned_plan`).
    seed
        Seed of the granular moves that improve the chip-wide assignment's chains.
    info
        Filled with per-layer choices (OUs used, split, share of pieces the
        rebalance moved to another crossbar, and ``chip_assignment``: ``"no"``,
        ``"assignment"``, or why it was not made, ``"too large"`` or ``"cut"``).

    Returns
    -------
    (Mapping, int)
        The mapping and the programming cost its chains claim (``metric`` units).
    """
    t0 = time.perf_counter()
    a = inst.arch
    nz = inst.nonzero_blocks
    rows: list[NDArray[np.int64]] = []
    build = _Builder(inst, metric, reuse, round_limit, seed)
    claimed = 0
    layers_info: list[dict[str, Any]] = []
    total = max(1, nz.size)
    unit = a.compute_ps(1)

    def quick(p: ChainProblem, _s: float) -> Chains:
        return sorted_chains(p)

    previous = -2  # the layer placed last (none yet)
    for layer in range(len(inst.network.layers)):
        blocks = nz[inst.block_layer[nz] == layer].astype(np.int64)
        if blocks.size == 0:
            continue
        # pattern ids follow the lexicographic order of the cells: similar blocks adjacent
        blocks = blocks[np.argsort(inst.pattern_id[blocks], kind="stable")]
        n_in = int(inst.network.layers[layer].n_inputs)
        ous, split, p_over = _model_choice(inst, blocks, n_in)
        ch = a.crossbars * ous
        work = blocks.size * n_in
        plan = _pieces(blocks, n_in, _equal_cuts(ch, work), ous, split)
        left = seconds_left(t0 + time_limit)
        budget = max(0.0, left) * blocks.size / total
        total -= blocks.size
        moved = 0.0
        budget_binds = int(a.max_programming_crossbars or a.crossbars) < a.crossbars
        # crossbars chosen by programming (ResNet-20 multi-ou, a 4,608-block layer: 6.5%
        # less programming, shares within 1.5% of equal) where the budget binds, writes
        # set the layer's time (a block's mean write at least its compute on one of the
        # crossbar's OUs) and the layer has more blocks than the slots the previous
        # layer left alone, so that its writes must reuse slots. A layer that fits in
        # those keeps the partition, whose loads can go there without waiting for the
        # previous layer's computes (digits-cnn multi-ou: 113.0 us with the partition,
        # 119.6 with a one-round assignment)
        assigned = "no"
        if (assign and budget_binds and not split and a.block_whole_crossbar
                and metric == "latency" and p_over >= n_in * unit / ous
                and blocks.size > np.count_nonzero(build.owner != previous)):
            start = time.perf_counter()
            chip, assigned = _assigned_plan(inst, build.content, blocks, n_in, ous, metric,
                                            budget)
            if chip is not None:
                plan = chip
            budget = max(0.0, budget - (time.perf_counter() - start))
        if rebalance and metric == "latency" and a.block_whole_crossbar and not budget_binds:
            # quota pass: every crossbar the same programming + compute (the model, not a
            # schedule); a block moved between crossbars takes its programming with it.
            # Not when the write budget binds: crossbars in step would all queue for it,
            # and equal compute shares stagger them (measured: ResNet-50 x0.25 on
            # small-chip 434 vs 406 us, multi-ou 109 vs 98 us)
            piece_prog = build.programming(plan, quick)
            block_prog = np.zeros(blocks.size, dtype=np.float64)
            np.add.at(block_prog, _index_in(blocks, plan.block), piece_prog)
            old = np.bincount(plan.crossbar, minlength=a.crossbars)
            cuts = _weighted_cuts(block_prog + n_in * unit / ous, n_in, a.crossbars, ous)
            plan = _pieces(blocks, n_in, cuts, ous, split)
            moved = float(np.abs(np.bincount(plan.crossbar, minlength=a.crossbars)
                                 - old).sum() / 2 / max(1, old.sum()))  # share of pieces
        claimed += build.place(plan, solver, budget, t0 + time_limit, rows, layer)
        previous = layer
        layers_info.append({"layer": inst.network.layers[layer].name, "blocks": int(blocks.size),
                            "ous": ous, "split": split, "chip_assignment": assigned,
                            "split_blocks": int(np.unique(
                                plan.block[plan.last - plan.first < n_in]).size),
                            "pieces_moved": round(moved, 4)})
    if info is not None:
        info["balanced"] = layers_info
    arr = np.concatenate(rows) if rows else np.zeros((0, 6), dtype=np.int64)
    n_in_of = inst.block_n_inputs[arr[:, 0]]
    whole = bool(np.all((arr[:, 4] == 0) & (arr[:, 5] == n_in_of)))
    mapping = Mapping(block=arr[:, 0], crossbar=arr[:, 1], slot=arr[:, 2], position=arr[:, 3],
                      first=None if whole else arr[:, 4], last=None if whole else arr[:, 5])
    return mapping, claimed
