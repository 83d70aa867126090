"""CP-SAT scheduling: verified, never worse than the list schedule, optimal where checkable."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from pimopt import Instance, Layer, Network, verify
from pimopt.methods.baselines import naive_mapping
from pimopt.scheduling.cpsat import cpsat_schedule
from pimopt.scheduling.list_scheduler import list_schedule
from tests.conftest import random_network, small_arch


@pytest.mark.parametrize("seed", range(5))
def test_cpsat_schedules_verify_and_never_lose(seed: int) -> None:
    arch = small_arch(crossbars=2, ous_per_crossbar=1 + seed % 2,
                      max_programming_crossbars=1 + seed % 2,
                      block_whole_crossbar=seed % 3 != 0)
    inst = Instance(arch, random_network(seed, n_layers=3, max_inputs=6, branchy=True))
    warm = list_schedule(inst, naive_mapping(inst))
    out = cpsat_schedule(inst, warm, time_limit=20, seed=seed)
    assert verify(inst, out.schedule, functional_samples=None).ok
    assert out.makespan_ps == out.schedule.makespan_ps() <= warm.makespan_ps()
    assert out.bound_ps is not None and out.bound_ps <= out.makespan_ps
    assert out.info["hint_complete_feasible"] is True


def test_single_serial_crossbar_optimum_is_the_sum_of_durations() -> None:
    # one crossbar, one OU, programming blocks the crossbar: everything is serial, so the
    # optimal makespan is the total duration (an independent check of optimality)
    inst = Instance(small_arch(crossbars=1), random_network(4, n_layers=2, max_inputs=3))
    warm = list_schedule(inst, naive_mapping(inst))
    out = cpsat_schedule(inst, warm, time_limit=20)
    total = int((warm.prog_end - warm.prog_start).sum() + (warm.comp_end - warm.comp_start).sum())
    assert out.status == "optimal" and out.makespan_ps == total


def brute_force_makespan(inst: Instance, s: object) -> int:
    """Optimal makespan by trying every operation order with a serial schedule generation
    scheme (each operation at its earliest feasible start, gaps allowed): for a regular
    objective some order yields an optimal (active) schedule."""
    from pimopt.schedule import Schedule

    assert isinstance(s, Schedule)
    a = inst.arch
    ops = [("p", i) for i in range(s.n_program)] + [("c", i) for i in range(s.n_compute)]
    dur = {("p", i): int(s.prog_end[i] - s.prog_start[i]) for i in range(s.n_program)}
    dur.update({("c", i): int(s.comp_end[i] - s.comp_start[i]) for i in range(s.n_compute)})
    xb = {("p", i): int(s.prog_crossbar[i]) for i in range(s.n_program)}
    xb.update({("c", i): int(s.comp_crossbar[i]) for i in range(s.n_compute)})
    slot_of_p = {int(s.write_op[w]): int(s.write_slot[w]) for w in range(len(s.write_op))}
    # precedences: per slot, program -> its computes -> next program (time order of s)
    pred: dict[tuple[str, int], set[tuple[str, int]]] = {o: set() for o in ops}
    for x in range(a.crossbars):
        for slot in range(a.slots_per_crossbar):
            seq = sorted([(int(s.prog_start[i]), ("p", i)) for i, sl in slot_of_p.items()
                          if sl == slot and s.prog_crossbar[i] == x]
                         + [(int(s.comp_start[i]), ("c", i)) for i in range(s.n_compute)
                            if s.comp_slot[i] == slot and s.comp_crossbar[i] == x])
            last_p: tuple[str, int] | None = None
            since: list[tuple[str, int]] = []
            for _, o in seq:
                if o[0] == "p":
                    pred[o] |= set(since) | ({last_p} if last_p and not since else set())
                    last_p, since = o, []
                else:
                    if last_p:
                        pred[o].add(last_p)
                    since.append(o)
    layer = inst.block_layer[s.comp_block]
    deps = inst.network.dependencies()
    for i in range(s.n_compute):
        for j in range(s.n_compute):
            if layer[j] in deps[layer[i]]:
                pred[("c", i)].add(("c", j))
    best = None
    for order in itertools.permutations(ops):
        pos = {o: k for k, o in enumerate(order)}
        if any(pos[q] > pos[o] for o in ops for q in pred[o]):
            continue
        placed: dict[tuple[str, int], int] = {}
        for o in order:
            t = max([placed[q] + dur[q] for q in pred[o]], default=0)
            while not feasible(a, o, t, dur, xb, placed):
                t += 1000  # durations here are whole ns
            placed[o] = t
        span = max(placed[o] + dur[o] for o in ops)
        best = span if best is None else min(best, span)
    assert best is not None
    return best


def feasible(a: object, o: tuple[str, int], t: int, dur: dict[tuple[str, int], int],
             xb: dict[tuple[str, int], int], placed: dict[tuple[str, int], int]) -> bool:
    from pimopt import Architecture

    assert isinstance(a, Architecture)
    events = sorted({t} | {placed[q] for q in placed if t <= placed[q] < t + dur[o]})
    for u in events:
        running = [q for q in placed if placed[q] <= u < placed[q] + dur[q]]
        on_xb = [q for q in running if xb[q] == xb[o]]
        if o[0] == "p" and any(q[0] == "p" for q in on_xb):
            return False
        if a.block_whole_crossbar and ((o[0] == "p" and on_xb) or
                                       (o[0] == "c" and any(q[0] == "p" for q in on_xb))):
            return False
        if o[0] == "c" and sum(q[0] == "c" for q in on_xb) >= a.ous_per_crossbar:
            return False
        if o[0] == "p" and sum(q[0] == "p" for q in running) >= (a.max_programming_crossbars
                                                                 or 1):
            return False
    return True


def test_cpsat_matches_brute_force_on_a_tiny_instance() -> None:
    w = np.array([[3, -2], [1, 5], [0, 2], [4, -1]])  # 4 x 2, one layer
    w2 = np.array([[2], [-3]])
    net = Network("b", (Layer("a", w, n_inputs=2), Layer("b", w2, n_inputs=3)), weight_bits=4)
    inst = Instance(small_arch(crossbars=2, rows=4, cols=4, ou_rows=4, ou_cols=4,
                               max_programming_crossbars=1), net)
    warm = list_schedule(inst, naive_mapping(inst))
    assert warm.n_program + warm.n_compute <= 8
    out = cpsat_schedule(inst, warm, time_limit=20)
    assert out.status == "optimal"
    assert out.makespan_ps == brute_force_makespan(inst, warm)


def test_solve_with_cpsat_scheduler_and_gantt(tmp_path: object) -> None:
    from pathlib import Path

    import matplotlib.image as mpimg

    from pimopt import solve
    from pimopt.plotting.timeline import gantt

    inst = Instance(small_arch(crossbars=2, max_programming_crossbars=1),
                    random_network(8, n_layers=2, max_inputs=5))
    lst = solve(inst, "assignment", objective="makespan")
    cp = solve(inst, "assignment", objective="makespan", scheduler="cpsat", time_limit=10)
    assert cp.objective <= lst.objective and cp.report.ok
    assert cp.info["scheduler"]["hint_complete_feasible"] is True
    assert isinstance(tmp_path, Path)
    png = gantt(cp.schedule, tmp_path / "g.png", inst)
    img = mpimg.imread(png)
    assert img.shape[0] > 100 and img.shape[1] > 600
    rgb = img[..., :3].reshape(-1, 3)
    red = (rgb[:, 0] > 0.7) & (rgb[:, 1] < 0.3) & (rgb[:, 2] < 0.3)
    colour = (rgb.max(axis=1) - rgb.min(axis=1) > 0.2) & ~red  # layer colours (viridis)
    assert red.sum() > 50 and colour.sum() > 50  # program and compute bars both drawn
