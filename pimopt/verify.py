"""The verifier: replays a schedule and checks every rule of docs/model.md, *Correctness*.

It shares no code with the optimisers or the scheduler. It uses only the data
objects, the architecture and the latency model (the single definition of
what a write costs). Checks, in order:

1. coverage   every non-zero block computes each input vector of its layer exactly once;
2. state      replaying the writes from an all-zero chip, each compute finds exactly its
              block's pattern in the slot;
3. cost       each program operation lasts what the latency model gives for the actual
              old -> new levels; each compute lasts inputs x input_bits x t_ou;
4. resources  serial programming per crossbar; no compute during programming (whole
              crossbar or the written slot); one compute per slot at a time; at most
              ``ous_per_crossbar`` computes per crossbar; at most
              ``max_programming_crossbars`` crossbars programming at once;
5. dependencies  a layer computes only after the layers it depends on have finished
              (barrier), or, under the window rule, after they have completed the output
              vectors its input range needs (``Layer.windows``);
6. function   executing the computes on a bit-exact crossbar model (bit-serial unsigned
              inputs, cell levels, shift-add over slices, W+ minus W- or offset removal)
              gives exactly X @ W for every layer, on sampled input vectors (or all).

A ``format`` check runs first (indices in range, well-formed intervals); if it
fails, the other checks are skipped.

A schedule made after a layout (``Schedule.layout``) names the blocks of the
laid-out tiles: checks 1 to 5 run on the laid-out instance, and the
functional check feeds the crossbars the permuted inputs ``x[rows]``, puts
their outputs back in channel order and compares with ``X @ W`` of the
*original* weights, so a wrong permutation is rejected. A layout that is
not a permutation of the network's rows and columns is a ``format`` violation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pimopt.errors import InputError
from pimopt.instance import Instance
from pimopt.latency import operation_costs
from pimopt.layout.layout import Layout, laid_out
from pimopt.schedule import Schedule
from pimopt.windows import RULES

CHECKS = ("format", "coverage", "state", "cost", "resources", "dependencies", "function")


@dataclass(frozen=True)
class Violation:
    """One broken rule: the check, a message naming the operation, the time."""

    check: str
    message: str

    def __str__(self) -> str:
        return f"{self.check}: {self.message}"


@dataclass
class Report:
    """Result of :func:`verify`.

    Attributes
    ----------
    violations
        Broken rules, in check order (empty means correct).
    metrics
        Costs recomputed from the schedule by replay: makespan, programming
        latency (total and exposed), cell writes, energy, passes.
    """

    violations: list[Violation] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when no rule is broken."""
        return not self.violations

    def first(self) -> str:
        """The first violation as text, or ``"verified"``."""
        return str(self.violations[0]) if self.violations else "verified"


MAX_SAMPLES = 2**62  # input vectors per layer: beyond any network (n_inputs is int64)


def check_samples(functional_samples: int | None) -> None:
    """``functional_samples`` is ``None`` (every input vector) or an integer from 1 to
    :data:`MAX_SAMPLES`; otherwise an ``InputError`` naming it."""
    if functional_samples is not None and (
            isinstance(functional_samples, bool) or not isinstance(functional_samples, int)
            or not 1 <= functional_samples <= MAX_SAMPLES):
        raise InputError(f"functional_samples = {functional_samples!r} is invalid: None (all "
                         f"input vectors) or an integer from 1 to 2^62")


def _ou_products(xo: NDArray[np.int64], lv: NDArray[np.int64], input_bits: int
                 ) -> NDArray[np.int64]:
    """Column sums of OU activations: ``xo`` (samples, ops, rows) inputs, ``lv`` (ops, rows,
    cols) cell levels; returns (samples, ops, cols).

    Inputs are applied bit-serially and the bit-planes' column sums shift-added:
    ``sum_b 2^b (x_b @ W)``. The model has no ADC truncation, so that sum is
    ``x @ W`` exactly; one float64 product gives it exactly (and 30x faster than
    per-bit integer products) while every partial sum stays below 2^53, which
    holds for every architecture the validation admits short of giant OUs; else
    the bit-serial integer products are computed as they are.
    """
    rows = xo.shape[2]
    top = rows * ((1 << input_bits) - 1) * (int(lv.max(initial=0)) + 1)
    if top < 1 << 53:
        prod = np.matmul(xo.transpose(1, 0, 2).astype(np.float64), lv.astype(np.float64))
        return np.rint(prod).astype(np.int64).transpose(1, 0, 2)
    part = np.zeros((xo.shape[0], xo.shape[1], lv.shape[2]), dtype=np.int64)
    for bit in range(input_bits):  # bit-serial inputs, shift-add
        part += np.einsum("snr,nrc->snc", (xo >> bit) & 1, lv) << bit
    return part


def verify(inst: Instance, sched: Schedule, *, functional_samples: int | None = 16,
           seed: int = 0, max_messages: int = 20) -> Report:
    """Check a schedule against an instance.

    Parameters
    ----------
    inst
        The instance the schedule claims to solve.
    sched
        The schedule.
    functional_samples
        Input vectors per layer for the bit-exact functional check (sampled
        with ``seed``); ``None`` checks every input vector.
    seed
        Seed of the input values and sampled vectors.
    max_messages
        Violations kept per check (at least 1: the verdict never depends on it).

    Returns
    -------
    Report
        Violations (empty if correct) and the recomputed metrics.
    """
    _check_arguments(inst, sched, seed, max_messages)
    check_samples(functional_samples)
    layout = sched.layout
    if layout is not None:
        why = layout.problem(inst.network)
        if why:
            return Report([Violation("format", f"layout {layout.method!r}: {why}")])
    v = _Verifier(laid_out(inst, layout), sched, max_messages, inst, layout)
    v.check_format()
    if v.report.violations:
        return v.report
    v.replay()
    v.check_coverage()
    v.check_state()
    v.check_cost()
    v.check_resources()
    v.check_dependencies()
    v.check_function(functional_samples, seed)
    v.compute_metrics()
    return v.report


def _check_arguments(inst: object, sched: object, seed: object, max_messages: object) -> None:
    """:func:`verify`'s arguments, each named with what is allowed when wrong."""
    if not isinstance(inst, Instance):
        raise InputError(f"verify: inst must be an Instance, got {type(inst).__name__}")
    if not isinstance(sched, Schedule):
        raise InputError(f"verify: sched must be a Schedule, got {type(sched).__name__}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"verify: seed = {seed!r} is invalid: a non-negative integer")
    if isinstance(max_messages, bool) or not isinstance(max_messages, (int, np.integer)) \
            or max_messages < 1:
        raise InputError(f"verify: max_messages = {max_messages!r} is invalid: a positive "
                         "integer (violations kept per check; every violation still counts)")


def _prefix_ready(first: NDArray[np.int64], end: NDArray[np.int64]
                  ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """A layer's computes sorted by first input, and the running maximum of their ends.

    Output vector ``j`` is complete when every block has computed it; every compute
    starting below ``n`` covers some vector below ``n`` and every vector below ``n``
    is covered only by such computes, so the first ``n`` outputs are complete at the
    latest end among the computes whose range starts below ``n``.
    """
    order = np.argsort(first, kind="stable")
    return first[order], np.maximum.accumulate(end[order]) if end.size else end


def _dense_ranks(a: NDArray[np.int64], b: NDArray[np.int64]
                 ) -> tuple[NDArray[np.int64], NDArray[np.int64], int]:
    """Ranks of the values of ``a`` and ``b`` among both (equal values, equal ranks;
    order kept exactly), and one more than the largest rank: keys ``group * that +
    rank`` stay far below 2**63 whatever the times."""
    values, inverse = np.unique(np.concatenate([a, b]), return_inverse=True)
    inverse = inverse.reshape(-1).astype(np.int64)
    return inverse[:a.size], inverse[a.size:], int(values.size) + 1


def _union_length(start: NDArray[np.int64], end: NDArray[np.int64]) -> tuple[int, list[
        tuple[int, int]]]:
    """Total length and list of the union of intervals."""
    if start.size == 0:
        return 0, []
    order = np.argsort(start, kind="stable")
    merged: list[tuple[int, int]] = []
    cs, ce = int(start[order[0]]), int(end[order[0]])
    for s, e in zip(start[order[1:]].tolist(), end[order[1:]].tolist(), strict=True):
        if s > ce:
            merged.append((cs, ce))
            cs, ce = s, e
        else:
            ce = max(ce, e)
    merged.append((cs, ce))
    return sum(e - s for s, e in merged), merged


def _max_concurrency(group: NDArray[np.int64], start: NDArray[np.int64],
                     end: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64],
                                                      NDArray[np.int64]]:
    """Sweep line per group: concurrency after each start event.

    Returns (count, group, time) of every start event; ends at time t are
    processed before starts at t (half-open intervals).
    """
    g = np.r_[group, group]
    t = np.r_[start, end]
    d = np.r_[np.ones_like(start), -np.ones_like(end)]
    order = np.lexsort((d, t, g))  # -1 before +1 at equal time
    running = np.cumsum(d[order])  # each group sums to 0, so no reset is needed
    is_start = d[order] == 1
    return running[is_start], g[order][is_start], t[order][is_start]


class _Verifier:
    def __init__(self, inst: Instance, sched: Schedule, max_messages: int,
                 original: Instance, layout: Layout | None) -> None:
        self.inst = inst  # the laid-out instance (``original`` without a layout)
        self.original = original
        self.layout = layout
        self.s = sched
        self.a = inst.arch
        self.max_messages = max_messages
        self.report = Report()
        self._count: dict[str, int] = {}

    def fail(self, check: str, message: str) -> None:
        n = self._count.get(check, 0)
        self._count[check] = n + 1
        if n < self.max_messages:
            self.report.violations.append(Violation(check, message))

    # ------------------------------------------------------------------ 0. format
    def check_format(self) -> None:
        s, a, inst = self.s, self.a, self.inst
        r, c = a.ou_rows, a.ou_cols
        if s.write_levels.shape[1:] != (r, c):
            self.fail("format", f"written levels have shape {s.write_levels.shape[1:]}, the "
                      f"OU is {r}x{c}")
            return
        for name, arr, hi in (("program", s.prog_crossbar, a.crossbars),
                              ("compute", s.comp_crossbar, a.crossbars)):
            bad = np.flatnonzero((arr < 0) | (arr >= hi))
            if bad.size:
                self.fail("format", f"{name} #{bad[0]} uses crossbar {arr[bad[0]]}, the chip "
                          f"has {hi}")
        for name, arr in (("write", s.write_slot), ("compute", s.comp_slot)):
            bad = np.flatnonzero((arr < 0) | (arr >= a.slots_per_crossbar))
            if bad.size:
                self.fail("format", f"{name} #{bad[0]} uses slot {arr[bad[0]]}, a crossbar "
                          f"has {a.slots_per_crossbar}")
        for name, arr in (("write", s.write_block), ("compute", s.comp_block)):
            bad = np.flatnonzero((arr < 0) | (arr >= inst.n_blocks))
            if bad.size:
                self.fail("format", f"{name} #{bad[0]} names block {arr[bad[0]]}, the "
                          f"instance has {inst.n_blocks}")
        for name, st, en in (("program", s.prog_start, s.prog_end),
                             ("compute", s.comp_start, s.comp_end)):
            bad = np.flatnonzero((st < 0) | (en < st))
            if bad.size:
                self.fail("format", f"{name} #{bad[0]} has interval [{st[bad[0]]}, "
                          f"{en[bad[0]]}) ps")
        if s.write_levels.size and int(s.write_levels.max()) >= a.levels:
            w = int(np.argmax(s.write_levels.reshape(len(s.write_op), -1).max(axis=1)))
            self.fail("format", f"write #{w} (program #{s.write_op[w]}) has a level above "
                      f"{a.levels - 1}, the top level of {a.cell_bits}-bit cells")
        if self.report.violations:
            return
        n_in = inst.block_n_inputs[s.comp_block]
        bad = np.flatnonzero((s.comp_first < 0) | (s.comp_last <= s.comp_first)
                             | (s.comp_last > n_in))
        if bad.size:
            i = bad[0]
            self.fail("format", f"compute #{i} has input range [{s.comp_first[i]}, "
                      f"{s.comp_last[i]}), block {s.comp_block[i]} has {n_in[i]} inputs")
        key = s.write_op * a.slots_per_crossbar + s.write_slot
        uniq, counts = np.unique(key, return_counts=True)
        if (counts > 1).any():
            op, slot = divmod(int(uniq[np.argmax(counts > 1)]), a.slots_per_crossbar)
            self.fail("format", f"program #{op} writes slot {slot} twice")

    # ------------------------------------------------------------------ replay
    def replay(self) -> None:
        """Order writes per slot by time and find the levels each write replaces."""
        s, a = self.s, self.a
        spc = a.slots_per_crossbar
        self.w_gslot = s.prog_crossbar[s.write_op] * spc + s.write_slot
        self.w_start = s.prog_start[s.write_op]
        self.w_end = s.prog_end[s.write_op]
        order = np.lexsort((self.w_end, self.w_start, self.w_gslot))
        self.w_order = order
        sg = self.w_gslot[order]
        old = np.zeros_like(s.write_levels)
        follows = np.r_[False, sg[1:] == sg[:-1]] if sg.size else np.zeros(0, bool)
        idx = np.flatnonzero(follows)
        old[order[idx]] = s.write_levels[order[idx - 1]]
        self.w_old = old
        self.c_gslot = s.comp_crossbar * spc + s.comp_slot
        # the write in force at each compute: the last one on its slot ending <= start
        # (times as dense ranks, so that slot * ranks + rank never overflows)
        w_rank, c_rank, big = _dense_ranks(self.w_end[order], s.comp_start)
        wkey = sg * big + w_rank
        ckey = self.c_gslot * big + c_rank
        j = np.searchsorted(wkey, ckey, side="right") - 1
        valid = (j >= 0) & (sg[np.maximum(j, 0)] == self.c_gslot) if sg.size else \
            np.zeros(ckey.size, bool)
        self.c_write = np.where(valid, order[np.maximum(j, 0)] if sg.size else 0, -1)
        content = np.zeros((s.n_compute, a.ou_rows, a.ou_cols), dtype=np.uint8)
        content[valid] = s.write_levels[self.c_write[valid]]
        self.c_content = content

    def _op(self, i: int) -> str:
        s = self.s
        return (f"compute #{i} (block {s.comp_block[i]}, layer "
                f"{self.inst.network.layers[self.inst.block_layer[s.comp_block[i]]].name}, "
                f"crossbar {s.comp_crossbar[i]} slot {s.comp_slot[i]}, "
                f"[{s.comp_start[i]}, {s.comp_end[i]}) ps)")

    # ------------------------------------------------------------------ 1. coverage
    def check_coverage(self) -> None:
        s, inst = self.s, self.inst
        order = np.lexsort((s.comp_first, s.comp_block))
        b, f, la = s.comp_block[order], s.comp_first[order], s.comp_last[order]
        n_in = inst.block_n_inputs
        new_block = np.r_[True, b[1:] != b[:-1]] if b.size else np.zeros(0, bool)
        # expected start of each range: 0 for a block's first range, else the previous end
        expect = np.where(new_block, 0, np.r_[0, la[:-1]])
        for k in np.flatnonzero(f > expect)[: self.max_messages]:
            self.fail("coverage", f"block {b[k]}: input vectors [{expect[k]}, {f[k]}) are "
                      "never computed (a dropped compute)")
        for k in np.flatnonzero(f < expect)[: self.max_messages]:
            self.fail("coverage", f"block {b[k]}: input vectors [{f[k]}, "
                      f"{min(expect[k], la[k])}) are computed twice (a duplicated compute: "
                      f"compute #{order[k]} and an earlier one)")
        last_of_block = np.r_[b[1:] != b[:-1], True] if b.size else np.zeros(0, bool)
        short = np.flatnonzero(last_of_block & (la < n_in[b]))
        for k in short[: self.max_messages]:
            self.fail("coverage", f"block {b[k]}: input vectors [{la[k]}, {n_in[b[k]]}) are "
                      "never computed (a dropped compute)")
        done = np.zeros(inst.n_blocks, bool)
        done[b] = True
        missing = inst.nonzero_blocks[~done[inst.nonzero_blocks]]
        for blk in missing[: self.max_messages]:
            self.fail("coverage", f"block {blk} (layer "
                      f"{inst.network.layers[inst.block_layer[blk]].name}) is never computed "
                      "(a dropped compute)")

    # ------------------------------------------------------------------ 2. state
    def check_state(self) -> None:
        s = self.s
        want = self.inst.patterns[s.comp_block]
        diff = (self.c_content != want).reshape(s.n_compute, self.a.ou_rows * self.a.ou_cols)
        for i in np.flatnonzero(diff.any(axis=1))[: self.max_messages]:
            cell = int(np.argmax(diff[i]))
            r, c = divmod(cell, self.a.ou_cols)
            self.fail("state", f"{self._op(i)} finds another pattern in its slot: "
                      f"{int(diff[i].sum())} cell(s) differ, e.g. cell ({r},{c}) holds level "
                      f"{self.c_content[i, r, c]}, the block needs {want[i, r, c]}")
        # a write names the block whose pattern it loads: its levels must be that pattern
        # (computes only see what a slot holds; a mislabelled write misleads every reader)
        if s.write_op.size:
            wrong = np.flatnonzero((s.write_levels != self.inst.patterns[s.write_block])
                                   .reshape(len(s.write_op), -1).any(axis=1))
            for w in wrong[: self.max_messages]:
                self.fail("label", f"write #{w} (program #{s.write_op[w]}) names block "
                          f"{s.write_block[w]} but writes other levels than its pattern")

    # ------------------------------------------------------------------ 3. cost
    def check_cost(self) -> None:
        s, a = self.s, self.a
        costs = operation_costs(a, s.write_op, s.write_slot, self.w_old, s.write_levels,
                                s.n_program)
        self.costs = costs
        dur = s.prog_end - s.prog_start
        for k in np.flatnonzero(dur != costs.latency_ps)[: self.max_messages]:
            self.fail("cost", f"program #{k} on crossbar {s.prog_crossbar[k]} lasts {dur[k]} "
                      f"ps, the latency model gives {costs.latency_ps[k]} ps "
                      f"({costs.passes[k]} passes) for its writes")
        want = a.compute_ps(1) * (s.comp_last - s.comp_first)
        cdur = s.comp_end - s.comp_start
        for i in np.flatnonzero(cdur != want)[: self.max_messages]:
            self.fail("cost", f"{self._op(i)} lasts {cdur[i]} ps, its "
                      f"{s.comp_last[i] - s.comp_first[i]} input vectors take {want[i]} ps")

    # ------------------------------------------------------------------ 4. resources
    def _overlaps_in_groups(self, group: NDArray[np.int64], start: NDArray[np.int64],
                            end: NDArray[np.int64]) -> list[tuple[int, int]]:
        """Pairs (earlier, later) of overlapping intervals within the same group."""
        order = np.lexsort((end, start, group))
        out: list[tuple[int, int]] = []
        last_group, max_end, max_idx = None, -1, -1
        for i in order.tolist():
            g = int(group[i])
            if g != last_group:
                last_group, max_end, max_idx = g, -1, -1
            if end[i] == start[i]:
                continue  # an empty interval occupies nothing
            if start[i] < max_end:
                out.append((max_idx, i))
                if len(out) >= self.max_messages:
                    break
            if end[i] > max_end:
                max_end, max_idx = int(end[i]), i
        return out

    def check_resources(self) -> None:
        s, a = self.s, self.a
        for p, q in self._overlaps_in_groups(s.prog_crossbar, s.prog_start, s.prog_end):
            self.fail("resources", f"program #{p} [{s.prog_start[p]}, {s.prog_end[p]}) and "
                      f"program #{q} [{s.prog_start[q]}, {s.prog_end[q]}) overlap on crossbar "
                      f"{s.prog_crossbar[p]} (its passes are serial)")
        for p, q in self._overlaps_in_groups(self.c_gslot, s.comp_start, s.comp_end):
            self.fail("resources", f"{self._op(q)} overlaps compute #{p} on the same OU slot")
        # compute during programming
        if a.block_whole_crossbar:
            grp_p, grp_c, what = s.prog_crossbar, s.comp_crossbar, "crossbar"
            p_start, p_end, p_id = s.prog_start, s.prog_end, np.arange(s.n_program)
        else:
            grp_p, grp_c, what = self.w_gslot, self.c_gslot, "slot"
            p_start, p_end, p_id = self.w_start, self.w_end, s.write_op
        # zero-length operations overlap nothing, and as candidates they would hide the
        # operation before them: the latest-starting program of positive length is the
        # one to compare (a resource's programs are serial, checked above)
        busy_p = p_end > p_start
        grp_p, p_start, p_end, p_id = grp_p[busy_p], p_start[busy_p], p_end[busy_p], \
            p_id[busy_p]
        if p_start.size and s.n_compute:
            order = np.lexsort((p_start, grp_p))
            p_rank, e_rank, big = _dense_ranks(p_start[order], s.comp_end)
            pkey = grp_p[order] * big + p_rank
            # candidate: the program on the same resource with the latest start < compute end
            j = np.searchsorted(pkey, grp_c * big + e_rank, side="left") - 1
            jj = order[np.maximum(j, 0)]
            hit = (j >= 0) & (grp_p[jj] == grp_c) & (p_end[jj] > s.comp_start) \
                & (s.comp_end > s.comp_start)
            for i in np.flatnonzero(hit)[: self.max_messages]:
                self.fail("resources", f"{self._op(i)} runs while program #{p_id[jj[i]]} "
                          f"[{p_start[jj[i]]}, {p_end[jj[i]]}) writes its {what}")
        if s.n_compute:
            cnt, grp, t = _max_concurrency(s.comp_crossbar, s.comp_start, s.comp_end)
            for k in np.flatnonzero(cnt > a.ous_per_crossbar)[: self.max_messages]:
                self.fail("resources", f"{cnt[k]} OUs of crossbar {grp[k]} compute at once at "
                          f"t = {t[k]} ps; ous_per_crossbar = {a.ous_per_crossbar}")
        if s.n_program:
            busy = s.prog_end > s.prog_start
            cnt, _, t = _max_concurrency(np.zeros(int(busy.sum()), dtype=np.int64),
                                         s.prog_start[busy], s.prog_end[busy])
            for k in np.flatnonzero(cnt > (a.max_programming_crossbars or 0))[:1]:
                self.fail("resources", f"{cnt[k]} crossbars program at once at t = {t[k]} ps; "
                          f"max_programming_crossbars = {a.max_programming_crossbars}")

    # ------------------------------------------------------------------ 5. dependencies
    def check_dependencies(self) -> None:
        """Rule 5 under the schedule's dependency rule (``meta["dependencies"]``): the
        barrier (a layer's first compute starts after every compute of the layers it
        depends on), or the layers' windows (a compute over inputs ``[first, last)``
        starts after the computes that complete the first ``need[last - 1]`` output
        vectors of each producer)."""
        s, inst = self.s, self.inst
        rule = s.meta.get("dependencies", "barrier")
        if rule not in RULES:
            self.fail("dependencies", f"the schedule's dependency rule {rule!r} is unknown: "
                      f"one of {RULES}")
            return
        layer = inst.block_layer[s.comp_block]
        names = [la.name for la in inst.network.layers]
        by_layer = [np.flatnonzero(layer == li) for li in range(len(names))]
        ready_of: dict[int, tuple[NDArray[np.int64], NDArray[np.int64]]] = {}
        for li, producers in enumerate(inst.network.windows(rule)):
            sel = by_layer[li]
            if sel.size == 0:
                continue
            for d, need in producers:
                if d not in ready_of:
                    ready_of[d] = _prefix_ready(s.comp_first[by_layer[d]],
                                                s.comp_end[by_layer[d]])
                firsts, cum_end = ready_of[d]
                # outputs of the producer each compute needs: all of them at the barrier
                n_need = (np.full(sel.size, inst.network.layers[d].n_inputs) if need is None
                          else need[s.comp_last[sel] - 1])
                # the first n outputs are complete once every compute starting below n ends
                k = np.searchsorted(firsts, n_need, side="left")
                # (a producer with no computes at all is done at 0)
                ready = (np.where(k > 0, cum_end[np.maximum(k, 1) - 1], 0) if firsts.size
                         else np.zeros(sel.size, dtype=np.int64))
                bad = np.flatnonzero(s.comp_start[sel] < ready)
                if bad.size:
                    i = bad[np.argmin(s.comp_start[sel][bad] - ready[bad])]
                    what = ("finishes" if need is None else
                            f"completes its first {int(n_need[i]):,} output vectors")
                    self.fail("dependencies", f"{self._op(sel[i])} starts before layer "
                              f"{names[d]} (which layer {names[li]} depends on) {what} at "
                              f"{int(ready[i])} ps")

    # ------------------------------------------------------------------ 6. function
    def check_function(self, samples: int | None, seed: int) -> None:
        s, a, inst = self.s, self.a, self.inst
        net = inst.network
        rng = np.random.default_rng(seed)
        r, c = a.ou_rows, a.ou_cols
        slices = -(-net.weight_bits // a.cell_bits)
        signs = 2 if net.encoding == "differential" else 1
        comp_layer = inst.block_layer[s.comp_block]
        tiles = inst.block_tile[s.comp_block]
        for li, layer in enumerate(net.layers):
            k, n = layer.shape
            g_n = layer.groups  # a grouped layer: group g reads inputs g*k .. (g+1)*k - 1
            t = inst.tilings[li]
            if samples is None or samples >= layer.n_inputs:
                idx = np.arange(layer.n_inputs)
            else:
                idx = np.sort(rng.choice(layer.n_inputs, size=samples, replace=False))
            x = rng.integers(0, 1 << a.input_bits, size=(idx.size, g_n * k), dtype=np.int64)
            # the crossbars get the inputs in the laid-out row order, each group's rows
            # padded to whole row tiles of its own
            xin = x if self.layout is None else self.layout.gather_inputs(li, x, g_n)
            xg = np.zeros((idx.size, g_n, t.row_tiles * r), dtype=np.int64)
            xg[:, :, :k] = xin.reshape(idx.size, g_n, k)
            xp = xg.reshape(idx.size, -1)
            acc = np.zeros((idx.size, t.col_tiles * c), dtype=np.int64)
            ops = np.flatnonzero(comp_layer == li)
            for lo in range(0, ops.size, 2048):
                o = ops[lo: lo + 2048]
                lv = self.c_content[o].astype(np.int64)  # n, r, c
                group = tiles[o, 1] // t.tiles_per_group
                rows = (group[:, None] * t.row_tiles + tiles[o, 0, None]) * r + np.arange(r)
                xo = xp[:, rows]  # S, n, r
                # which sampled vectors each compute covers
                cover = (idx[:, None] >= s.comp_first[o]) & (idx[:, None] < s.comp_last[o])
                part = _ou_products(xo, lv, a.input_bits)
                part *= cover[:, :, None]
                # add each OU's column sums into its column tile: acc as (tiles, S, c)
                np.add.at(acc.reshape(idx.size, t.col_tiles, c).transpose(1, 0, 2),
                          tiles[o, 1], part.transpose(1, 0, 2))
            mg = n * signs * slices // g_n  # cell columns of a group, before its padding
            cells = acc.reshape(idx.size, g_n, t.tiles_per_group * c)[:, :, :mg]
            cells = cells.reshape(idx.size, n, signs, slices)
            mags = (cells << (a.cell_bits * np.arange(slices))).sum(axis=3)
            if signs == 2:
                y = mags[:, :, 0] - mags[:, :, 1]
            else:  # each output's offset times the sum of the inputs its group reads
                sums = np.repeat(x.reshape(idx.size, g_n, k).sum(axis=2), n // g_n, axis=1)
                y = mags[:, :, 0] - ((1 << (net.weight_bits - 1)) - 1) * sums
            if self.layout is not None:  # laid-out column j is output channel cols[j]
                y = self.layout.scatter_outputs(li, y)
            ref = self.original.network.layers[li].product(x)
            bad = np.argwhere(y != ref)
            if bad.size:
                si, col = bad[0]
                self.fail("function", f"layer {layer.name}: the crossbars give {y[si, col]} for "
                          f"input vector {idx[si]}, output {col}; X @ W is {ref[si, col]} "
                          f"({len(bad)} outputs differ)")

    # ------------------------------------------------------------------ metrics
    def compute_metrics(self) -> None:
        s = self.s
        busy_prog, prog_iv = _union_length(s.prog_start, s.prog_end)
        busy_comp, comp_iv = _union_length(s.comp_start, s.comp_end)
        # programming time during which no OU computes anywhere: not hidden
        hidden = 0
        j = 0
        for ps, pe in prog_iv:
            while j < len(comp_iv) and comp_iv[j][1] <= ps:
                j += 1
            k = j
            while k < len(comp_iv) and comp_iv[k][0] < pe:
                hidden += min(pe, comp_iv[k][1]) - max(ps, comp_iv[k][0])
                k += 1
        makespan = s.makespan_ps()
        exposed = busy_prog - hidden
        # share of crossbar-time spent computing (any OU of the crossbar busy)
        comp_busy_xb = sum(_union_length(s.comp_start[s.comp_crossbar == x],
                                         s.comp_end[s.comp_crossbar == x])[0]
                           for x in range(self.a.crossbars))
        self.report.metrics = {
            "makespan_ns": makespan / 1000.0,
            "programming_ns": float((s.prog_end - s.prog_start).sum()) / 1000.0,
            "programming_busy_ns": busy_prog / 1000.0,
            "programming_exposed_ns": exposed / 1000.0,
            "programming_exposed_share": exposed / makespan if makespan else 0.0,
            "compute_busy_ns": busy_comp / 1000.0,
            "crossbar_utilisation": (comp_busy_xb / (self.a.crossbars * makespan)
                                     if makespan else 0.0),
            "cell_writes": float(self.costs.cell_writes.sum()),
            "energy_pj": float(self.costs.energy_pj.sum()),
            "write_passes": float(self.costs.passes.sum()),
            "program_ops": float(s.n_program),
            "compute_ops": float(s.n_compute),
        }


def _same_layout(a: Layout | None, b: Layout | None) -> bool:
    if a is None:
        return b is None or b.is_identity
    return a.equals(b)


def check_outputs(inst: Instance, sched: Schedule, report: Report,
                  mapping: Any | None = None, metrics: dict[str, Any] | None = None
                  ) -> list[Violation]:
    """Check a solve's other outputs against its verified schedule.

    Parameters
    ----------
    inst, sched, report
        The instance, the schedule and the verifier's report on it (``ok``).
    mapping
        The mapping written beside the schedule (:class:`pimopt.mapping.Mapping`):
        its layout must be the schedule's, its rows exactly the schedule's
        computes (block, crossbar, slot, input range), and its objectives are
        recomputed from it.
    metrics
        The content of ``metrics.json``: its instance hash must be this
        instance's, and every metric the verifier or the mapping recomputes
        must equal the recomputed value.
    """
    out: list[Violation] = []
    objs: dict[str, int] = {}
    if mapping is not None and not _same_layout(mapping.layout, sched.layout):
        out.append(Violation("outputs", (
            f"layout.json is missing: the schedule records layout {sched.layout.method!r}"
            if mapping.layout is None and sched.layout is not None else
            "the mapping's layout (layout.json) differs from the layout the schedule records")))
        mapping = None
    if mapping is not None:
        from pimopt.objectives import mapping_objectives

        first, last = mapping.ranges(inst)
        rows = np.stack([mapping.block, mapping.crossbar, mapping.slot, first, last], axis=1)
        ops = np.stack([sched.comp_block, sched.comp_crossbar, sched.comp_slot,
                        sched.comp_first, sched.comp_last], axis=1)
        a = rows[np.lexsort(rows.T[::-1])]
        b = ops[np.lexsort(ops.T[::-1])]
        if a.shape != b.shape or not np.array_equal(a, b):
            extra = {tuple(r) for r in a.tolist()} ^ {tuple(r) for r in b.tolist()}
            e = sorted(extra)[0] if extra else None
            out.append(Violation("outputs", f"the mapping has {len(a)} rows, the schedule "
                                 f"{len(b)} computes; they differ, e.g. at (block, crossbar, "
                                 f"slot, first, last) = {e}"))
        else:
            objs = mapping_objectives(laid_out(inst, sched.layout), mapping)
    if mapping is not None and objs:
        out += _check_positions(inst, sched, mapping)
    if metrics is not None:
        out += _check_metrics(inst, sched, report, mapping if objs else None, objs, metrics)
    return out


# statuses of a solve that wrote a schedule (timeout and infeasible write none)
_SCHEDULE_STATUSES = ("optimal", "feasible", "interrupted")
_REL = 1e-9  # metrics.json holds floats: relative tolerance of a recomputed value


def _close(got: object, want: float) -> bool:
    return isinstance(got, (int, float)) and not isinstance(got, bool) and \
        abs(float(got) - want) <= _REL * max(1.0, abs(want))


def _number(got: object) -> bool:
    return isinstance(got, (int, float)) and not isinstance(got, bool) and \
        bool(np.isfinite(float(got)))


def _check_positions(inst: Instance, sched: Schedule, mapping: Any) -> list[Violation]:
    """The mapping's positions against the schedule's slot histories.

    Each compute uses the content its slot received from the last write ending
    at or before it (epoch ``k``: ``k`` writes before it). Along a slot's
    positions the loads' epochs never decrease, a load's computes all use one
    epoch, and a later load of the same epoch has the same pattern (no write came
    between them). (Two loads of one content may compute interleaved: layers on
    parallel branches; their order is not checked.)
    """
    out: list[Violation] = []
    spc = inst.arch.slots_per_crossbar
    work = laid_out(inst, sched.layout)
    w_slot = sched.prog_crossbar[sched.write_op] * spc + sched.write_slot
    w_end = sched.prog_end[sched.write_op]
    # epoch of a compute: writes to its slot ending at or before its start
    order = np.lexsort((w_end, w_slot))
    ws, we = w_slot[order], w_end[order]
    c_slot = sched.comp_crossbar * spc + sched.comp_slot
    # writes to the compute's slot ending at or before its start: on (slot, time) pairs,
    # compared lexicographically through dense ranks (exact over the whole time range)
    tw, tc, n_t = _dense_ranks(we, sched.comp_start)
    sw, sc, _ = _dense_ranks(ws, c_slot)
    kw, kc = sw * n_t + tw, sc * n_t + tc  # < (operations + 1)^2: exact in int64
    epoch = np.searchsorted(kw, kc, side="right") - np.searchsorted(ws, c_slot, side="left")
    first, last = mapping.ranges(inst)
    rows = np.stack([mapping.block, mapping.crossbar, mapping.slot, first, last], axis=1)
    ops = np.stack([sched.comp_block, sched.comp_crossbar, sched.comp_slot,
                    sched.comp_first, sched.comp_last], axis=1)
    ra, oa = np.lexsort(rows.T[::-1]), np.lexsort(ops.T[::-1])
    row_epoch = np.empty(len(mapping), dtype=np.int64)
    row_epoch[ra] = epoch[oa]
    gslot = mapping.crossbar * spc + mapping.slot
    by = np.lexsort((mapping.position, gslot))
    g, pos, ep = gslot[by], mapping.position[by], row_epoch[by]
    pat = work.pattern_id[mapping.block[by]]
    same_slot, same_pos = g[1:] == g[:-1], pos[1:] == pos[:-1]
    split = same_slot & same_pos & (ep[1:] != ep[:-1])
    # a later load never uses an older content, and shares one only with the same pattern
    # (two loads of one content with different patterns would mean a write between them)
    back = same_slot & ~same_pos & ((ep[1:] < ep[:-1]) | ((ep[1:] == ep[:-1])
                                                          & (pat[1:] != pat[:-1])))
    for i in np.flatnonzero(split | back)[:3].tolist():
        xb, sl = divmod(int(g[i + 1]), spc)
        where = f"mapping crossbar {xb} slot {sl}"
        out.append(Violation("outputs", (
            f"{where}: position {int(pos[i + 1])} is one load, but its computes use the "
            "contents of different writes") if split[i] else (
            f"{where}: position {int(pos[i + 1])} follows position {int(pos[i])}, but the "
            "schedule computes with its content before the latter's or between them")))
    return out


def _check_metrics(inst: Instance, sched: Schedule, report: Report, mapping: Any | None,
                   objs: dict[str, int], metrics: dict[str, Any]) -> list[Violation]:
    """Every field of ``metrics.json`` that can be recomputed from the files, recomputed.

    The bound cannot be recomputed here (it may come from a longer computation):
    it is checked as ``0 <= bound <= objective``, ``optimal`` only with a bound
    that meets the objective, and the gaps from the bound (``pimopt verify
    --check-bound`` recomputes it).
    """
    from pimopt.objectives import OBJECTIVES, objective_unit, reuse_counts

    out: list[Violation] = []

    def bad(text: str) -> None:
        out.append(Violation("outputs", f"metrics.json: {text}"))

    for key in ("method", "objective_name", "objective_unit", "status", "objective", "bound",
                "gap", "instance", "architecture", "blocks", "verification", "metrics",
                "objectives"):
        if key not in metrics:
            bad(f"{key!r} is missing")
    if out:
        return out
    sha = (metrics.get("instance") or {}).get("sha256") if isinstance(
        metrics.get("instance"), dict) else None
    if sha != inst.content_hash():
        bad(f"instance.sha256 is {str(sha)[:12]}..., this instance is "
            f"{inst.content_hash()[:12]}...")
        return out
    ins = metrics["instance"]
    for key, want in (("network_sha256", inst.network.content_hash()),
                      ("name", inst.network.name)):
        if ins.get(key) != want:
            bad(f"instance.{key} is {ins.get(key)!r}, the instance has {want!r}")
    if metrics["architecture"] != inst.arch.to_dict():
        bad("architecture differs from the instance's architecture")
    if sched.method and metrics["method"] != sched.method:
        bad(f"method is {metrics['method']!r}, the schedule was made by {sched.method!r}")
    name = metrics["objective_name"]
    if not isinstance(name, str) or name not in OBJECTIVES:
        bad(f"objective_name {name!r} is none of {', '.join(OBJECTIVES)}")
        return out
    unit = objective_unit(name)
    if metrics["objective_unit"] != unit:
        bad(f"objective_unit is {metrics['objective_unit']!r}, {name} is in {unit}")
    opts = metrics.get("options")
    if isinstance(opts, dict) and "objective" in opts and opts["objective"] != name:
        bad(f"options.objective is {opts['objective']!r}, objective_name {name!r}")
    rule = sched.meta.get("dependencies", "barrier")
    if isinstance(opts, dict) and opts.get("dependencies", "barrier") != rule:
        # the bound and the schedule's check follow the rule: both must name the same one
        bad(f"options.dependencies is {opts.get('dependencies')!r}, the schedule's rule is "
            f"{rule!r}")
    verification = metrics["verification"]
    if verification != {"verified": True, "violations": []}:
        bad(f"verification is {verification!r}; the schedule verifies: "
            "{'verified': true, 'violations': []}")
    recorded = metrics["metrics"] if isinstance(metrics["metrics"], dict) else {}
    if not isinstance(metrics["metrics"], dict):
        bad("'metrics' is not an object")
    recomputed: dict[str, float] = dict(report.metrics)
    if objs:
        recomputed["critical_path_ns"] = objs["critical_path_ps"] / 1000.0
    for key, value in recomputed.items():
        if key not in recorded:
            bad(f"metrics.{key} is missing (the schedule gives {value!r})")
        elif not _close(recorded[key], float(value)):
            bad(f"metrics.{key} = {recorded[key]!r}, the schedule gives {value!r}")
    metric = OBJECTIVES[name][0]
    achieved = recomputed.get(metric)
    objective = metrics["objective"]
    if achieved is not None and not _close(objective, float(achieved)):
        bad(f"objective = {objective!r}, the schedule's {metric} is {achieved!r}")
    status = metrics["status"]
    if status not in _SCHEDULE_STATUSES:
        bad(f"status {status!r} is not one a solve with a schedule ends in "
            f"({', '.join(_SCHEDULE_STATUSES)})")
    bound, gap = metrics["bound"], metrics["gap"]
    if bound is None:
        if gap is not None:
            bad(f"gap = {gap!r} without a bound")
        if status == "optimal":
            bad("status 'optimal' without a bound")
    elif not _number(bound) or float(bound) < 0:
        bad(f"bound = {bound!r} is not a finite number >= 0")
    elif _number(objective):
        b, v = float(bound), float(objective)
        if b > v + _REL * max(1.0, abs(v)):
            bad(f"bound {b!r} exceeds the objective {v!r}: no lower bound can")
        if status == "optimal" and b < v - _REL * max(1.0, abs(v)):
            bad(f"status 'optimal' with bound {b!r} below the objective {v!r}")
        if not _close(gap, (v - b) / v if v > 0 else 0.0):
            bad(f"gap = {gap!r}, (objective - bound) / objective is "
                f"{(v - b) / v if v > 0 else 0.0!r}")
    mk = float(report.metrics["makespan_ns"])
    if "makespan_bound_ns" in recorded:
        mbound = recorded["makespan_bound_ns"]
        if not _number(mbound) or not 0 <= float(mbound) <= mk * (1 + _REL):
            bad(f"metrics.makespan_bound_ns = {mbound!r} is not within [0, makespan {mk!r}]")
        else:
            mgap = (mk - float(mbound)) / mk if mk > 0 else 0.0
            if not _close(recorded.get("makespan_gap"), mgap):
                bad(f"metrics.makespan_gap = {recorded.get('makespan_gap')!r}, the makespan "
                    f"and its bound give {mgap!r}")
            if name == "makespan" and bound is not None and not _close(bound, float(mbound)):
                bad(f"bound = {bound!r} differs from metrics.makespan_bound_ns = {mbound!r}")
    elif "makespan_gap" in recorded:
        bad("metrics.makespan_gap without metrics.makespan_bound_ns")
    recorded_objs = metrics["objectives"] if isinstance(metrics["objectives"], dict) else {}
    for key, want_obj in objs.items():
        if recorded_objs.get(key) != want_obj:
            bad(f"objectives.{key} = {recorded_objs.get(key)!r}, the mapping gives {want_obj!r}")
    if mapping is not None:
        work = laid_out(inst, sched.layout)
        blocks = {"total": work.n_blocks, "nonzero": work.n_nonzero,
                  "zero": work.n_blocks - work.n_nonzero,
                  "distinct_nonzero_patterns": work.n_distinct_nonzero,
                  "reused_patterns": work.n_nonzero - work.n_distinct_nonzero,
                  **reuse_counts(work, mapping, sched)}
        got = metrics["blocks"] if isinstance(metrics["blocks"], dict) else {}
        for key, want_n in blocks.items():
            if got.get(key) != want_n:
                bad(f"blocks.{key} = {got.get(key)!r}, the files give {want_n!r}")
    return out
