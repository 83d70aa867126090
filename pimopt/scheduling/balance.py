"""The critical-path programming objective: a round-balancing search and a lower bound.

When crossbars program in parallel, the r-th load of every slot within a
layer forms round r, a round lasts as long as its slowest crossbar (the sum of
its slots' programming latencies) and the rounds add up
(:mod:`pimopt.objectives`). Minimising the total puts similar patterns in the
same slot but ignores which crossbar a slot is on, so one crossbar can carry
the expensive loads of a round.

:func:`balance_rounds` keeps every slot's sequence of layers and swaps whole
loads of the same layer and round between slots of different crossbars, or
moves a load of the slowest crossbar to a slot of a cooler crossbar where it
stays in the same round, accepting a
move when the critical path drops (ties: when the total drops), evaluated by
:func:`pimopt.objectives.mapping_objectives` itself.

:func:`pimopt.bounds.programming.critical_path_bound`: every round's maximum over
crossbars is at least the round's mean over the ``X`` crossbars, so the critical path is at least
the total programming latency divided by ``X``; any valid lower bound on the
total gives one on the critical path (``docs/bounds.md``).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from pimopt.instance import Instance
from pimopt.interrupt import expired
from pimopt.mapping import Mapping
from pimopt.objectives import load_rounds, mapping_objectives


def _swap(m: Mapping, rows_a: np.ndarray, rows_b: np.ndarray) -> Mapping:
    """Exchange the (crossbar, slot, position) of two loads."""
    xb, sl, pos = m.crossbar.copy(), m.slot.copy(), m.position.copy()
    a0, b0 = rows_a[0], rows_b[0]
    xb[rows_a], sl[rows_a], pos[rows_a] = m.crossbar[b0], m.slot[b0], m.position[b0]
    xb[rows_b], sl[rows_b], pos[rows_b] = m.crossbar[a0], m.slot[a0], m.position[a0]
    return Mapping(block=m.block, crossbar=xb, slot=sl, position=pos, first=m.first,
                   last=m.last)


def _move(inst: Instance, m: Mapping, rows: np.ndarray, xb2: int, slot2: int) -> Mapping:
    """Move a load to the end of slot (xb2, slot2)'s run of its layer; close the gap it leaves."""
    r0 = int(rows[0])
    layer_of = inst.block_layer[m.block]
    lay = int(layer_of[r0])
    xb, sl, pos = m.crossbar.copy(), m.slot.copy(), m.position.copy()
    src = (m.crossbar == m.crossbar[r0]) & (m.slot == m.slot[r0]) & (m.position > m.position[r0])
    pos[src] -= 1
    tgt = (m.crossbar == xb2) & (m.slot == slot2)
    before = tgt & (layer_of <= lay)
    new = int(m.position[before].max()) + 1 if before.any() else 0
    pos[tgt & (m.position >= new)] += 1
    xb[rows], sl[rows], pos[rows] = xb2, slot2, new
    return Mapping(block=m.block, crossbar=xb, slot=sl, position=pos, first=m.first,
                   last=m.last)


def balance_rounds(inst: Instance, mapping: Mapping, *, time_limit: float = 10.0,
                   seed: int = 0, tries_per_round: int = 8) -> tuple[Mapping, dict[str, Any]]:
    """Lower the critical-path programming latency by swapping loads within rounds.

    Parameters
    ----------
    inst, mapping
        The instance and a valid mapping.
    time_limit
        Seconds for the search.
    seed
        Seed of the random choice among equally promising swaps.
    tries_per_round
        Swaps evaluated per round and pass (most expensive loads of the slowest
        crossbar against the cheapest loads of the fastest ones).

    Returns
    -------
    (mapping, info)
        A mapping never worse in critical path; ``info`` says what changed.
    """
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    best = mapping
    objs = mapping_objectives(inst, best)
    start = dict(objs)
    kept = evaluated = 0
    improved = True
    while improved and not expired(t0 + time_limit):
        improved = False
        r = load_rounds(inst, best)
        loads, xb = r.loads, r.crossbar
        cost = r.cost.latency_ps.astype(np.int64)
        _, group = np.unique(np.stack([r.layer, r.round], axis=1), axis=0, return_inverse=True)
        group = group.ravel()
        rows_of = [np.flatnonzero(loads.load_of_row == i) for i in range(len(loads))]
        n_groups = int(group.max()) + 1 if group.size else 0
        # per round: the crossbar sums; worst rounds (largest max - mean) first
        sums = np.zeros((n_groups, inst.arch.crossbars), dtype=np.int64)
        np.add.at(sums, (group, xb), cost)
        slack = sums.max(axis=1) - sums.mean(axis=1)
        for g in np.argsort(-slack, kind="stable").tolist():
            if slack[g] <= 0 or expired(t0 + time_limit):
                break
            members = np.flatnonzero(group == g)
            hot = int(np.argmax(sums[g]))
            mine = members[xb[members] == hot]
            other = members[xb[members] != hot]
            if other.size == 0:
                continue
            mine = mine[np.argsort(-cost[mine], kind="stable")][:tries_per_round]
            cold = other[np.argsort(sums[g][xb[other]] + cost[other], kind="stable")]
            cold = cold[:tries_per_round]
            moves: list[tuple[str, int, int, int]] = [
                ("swap", int(a), int(b), 0) for a in mine.tolist() for b in cold.tolist()]
            # moves: to a slot of a cooler crossbar whose run of this layer is r loads long,
            # so the load stays in round r there
            lay, rnd = int(r.layer[members[0]]), int(r.round[members[0]])
            in_layer = r.layer == lay
            run_len = np.bincount(loads.global_slot[in_layer], minlength=inst.arch.total_slots)
            spc = inst.arch.slots_per_crossbar
            for cool in np.argsort(sums[g], kind="stable")[:2].tolist():
                if cool == hot:
                    continue
                free = np.flatnonzero(run_len[cool * spc:(cool + 1) * spc] == rnd)
                for a in mine[:2].tolist():
                    moves.extend(("move", int(a), cool, int(s)) for s in free[:2].tolist())
            rng.shuffle(moves)
            for kind, a, b, s in moves[:2 * tries_per_round]:
                cand = (_swap(best, rows_of[a], rows_of[b]) if kind == "swap"
                        else _move(inst, best, rows_of[a], b, s))
                evaluated += 1
                co = mapping_objectives(inst, cand)
                if (co["critical_path_ps"], co["programming_ps"]) < (
                        objs["critical_path_ps"], objs["programming_ps"]):
                    best, objs = cand, co
                    kept += 1
                    improved = True
                    break
            if improved:
                break  # the rounds changed: recompute them
    return best, {"moves": kept, "evaluated": evaluated,
                  "critical_path_before_ps": start["critical_path_ps"],
                  "critical_path_after_ps": objs["critical_path_ps"],
                  "programming_before_ps": start["programming_ps"],
                  "programming_after_ps": objs["programming_ps"],
                  "seconds": time.perf_counter() - t0}
