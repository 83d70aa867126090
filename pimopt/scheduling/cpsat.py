"""The OU scheduler as a CP-SAT model: minimum makespan for a fixed mapping and operations.

Operations are those of a list schedule (the same program operations and
computes, hence the same durations from the latency model); CP-SAT chooses
their start times:

- per crossbar, a cumulative resource of capacity ``ous_per_crossbar``:
  computes take 1; with ``block_whole_crossbar`` a program operation takes all
  of it (no compute during programming, and programming stays serial);
  otherwise program operations of a crossbar are a no-overlap set of their own;
- a cumulative resource of capacity ``max_programming_crossbars`` over all
  program operations;
- one compute at a time per OU slot (no-overlap per slot);
- per slot: a load's program operation precedes its computes, which precede
  the slot's next program operation (a load needing no write follows the
  previous one's program operation);
- layer barrier: a layer's computes start after every compute of the layers it
  depends on has ended; or, under ``dependencies="window"``, a compute over inputs
  ``[first, last)`` starts after every compute of a producer whose range starts
  below ``need[last - 1]`` (a prefix-ready variable per producer and count);
- objective: the makespan.

The list schedule is a complete hint (every start, every layer end and the
makespan) and its makespan is the horizon, so the result is never worse.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any

import numpy as np

from pimopt.instance import Instance
from pimopt.schedule import Schedule
from pimopt.solvers.cpsat import hint_confirmed, make_solver, run_cpsat


@dataclass
class ScheduleOutcome:
    """A CP-SAT schedule with its status, bound and solver facts."""

    schedule: Schedule
    status: str
    makespan_ps: int
    bound_ps: int | None
    info: dict[str, Any] = field(default_factory=dict)


def solve_logged(m: Any, *, time_limit: float, seed: int, workers: int
                 ) -> tuple[Any, Any, dict[str, Any]]:
    """Solve a CP-SAT model with its log captured; returns (solver, status code, facts).

    The facts record the solver, its version, seed, workers, limit, wall time
    and whether the log confirms the hint complete and feasible.
    """

    solver, lines = make_solver(time_limit, seed, workers)
    t0 = time.perf_counter()
    code = run_cpsat(solver, m)
    info: dict[str, Any] = {"solver": "cp-sat", "ortools": version("ortools"), "seed": seed,
                            "workers": workers, "time_limit": time_limit,
                            "wall_s": time.perf_counter() - t0,
                            "hint_complete_feasible": hint_confirmed(lines)}
    return solver, code, info


def cpsat_schedule(inst: Instance, warm: Schedule, *, time_limit: float = 60.0, seed: int = 0,
                   workers: int = 2, dependencies: str = "barrier") -> ScheduleOutcome:
    """Re-time the operations of ``warm`` (a verified list schedule) for minimum makespan,
    under the ``barrier`` or the ``window`` dependency rule (``warm`` must obey it)."""
    t_build = time.perf_counter()  # building the model is part of the time limit
    from ortools.sat.python import cp_model

    a = inst.arch
    spc = a.slots_per_crossbar
    horizon = int(warm.makespan_ps())
    m = cp_model.CpModel()
    p_dur = (warm.prog_end - warm.prog_start).tolist()
    c_dur = (warm.comp_end - warm.comp_start).tolist()
    ps = [m.new_int_var(0, horizon, f"p{i}") for i in range(warm.n_program)]
    cs = [m.new_int_var(0, horizon, f"c{i}") for i in range(warm.n_compute)]
    p_iv = [m.new_fixed_size_interval_var(ps[i], p_dur[i], f"P{i}")
            for i in range(warm.n_program)]
    c_iv = [m.new_fixed_size_interval_var(cs[i], c_dur[i], f"C{i}")
            for i in range(warm.n_compute)]
    k = a.ous_per_crossbar
    for xb in range(a.crossbars):
        pi = np.flatnonzero(warm.prog_crossbar == xb).tolist()
        ci = np.flatnonzero(warm.comp_crossbar == xb).tolist()
        if a.block_whole_crossbar:
            m.add_cumulative([p_iv[i] for i in pi] + [c_iv[i] for i in ci],
                             [k] * len(pi) + [1] * len(ci), k)
        else:
            m.add_no_overlap([p_iv[i] for i in pi])
            m.add_cumulative([c_iv[i] for i in ci], [1] * len(ci), k)
    m.add_cumulative(p_iv, [1] * len(p_iv), int(a.max_programming_crossbars or a.crossbars))
    gslot_c = warm.comp_crossbar * spc + warm.comp_slot
    for g in np.unique(gslot_c).tolist():
        m.add_no_overlap([c_iv[i] for i in np.flatnonzero(gslot_c == g).tolist()])
    # per slot: the sequence of writes and computes, in the order of the warm schedule
    gslot_w = warm.prog_crossbar[warm.write_op] * spc + warm.write_slot
    events: dict[int, list[tuple[int, int, int]]] = {}
    for w, g in enumerate(gslot_w.tolist()):
        op = int(warm.write_op[w])
        events.setdefault(g, []).append((int(warm.prog_start[op]), 0, op))
    for i, g in enumerate(gslot_c.tolist()):
        events.setdefault(g, []).append((int(warm.comp_start[i]), 1, i))
    for seq in events.values():
        seq.sort()
        last_prog: int | None = None
        since: list[int] = []
        for _, kind, idx in seq:
            if kind == 0:
                for c in since:  # the write replaces what these computes used
                    m.add(ps[idx] >= cs[c] + c_dur[c])
                if last_prog is not None and not since:
                    m.add(ps[idx] >= ps[last_prog] + p_dur[last_prog])
                last_prog, since = idx, []
            else:
                if last_prog is not None:
                    m.add(cs[idx] >= ps[last_prog] + p_dur[last_prog])
                since.append(idx)
    # rule 5: the layer barrier, or the layers' windows
    layer = inst.block_layer[warm.comp_block]
    windows = inst.network.windows(dependencies)
    ends = {}
    for li in np.unique(layer).tolist():
        sel = np.flatnonzero(layer == li).tolist()
        e = m.new_int_var(0, horizon, f"end{li}")
        m.add_max_equality(e, [cs[i] + c_dur[i] for i in sel])
        ends[li] = (e, sel)
    ready: dict[tuple[int, int], tuple[Any, list[int]]] = {}
    first, last = warm.comp_first.tolist(), warm.comp_last.tolist()
    for li, (_, sel) in ends.items():
        for d, need in windows[li]:
            if d not in ends:
                continue
            n_d = inst.network.layers[d].n_inputs
            for i in sel:
                k = n_d if need is None else int(need[last[i] - 1])
                if k >= n_d:
                    m.add(cs[i] >= ends[d][0])
                    continue
                if k == 0:
                    continue
                if (d, k) not in ready:
                    below = [j for j in ends[d][1] if first[j] < k]
                    r = m.new_int_var(0, horizon, f"ready{d}_{k}")
                    m.add_max_equality(r, [cs[j] + c_dur[j] for j in below])
                    ready[(d, k)] = (r, below)
                m.add(cs[i] >= ready[(d, k)][0])
    makespan = m.new_int_var(0, horizon, "makespan")
    m.add_max_equality(makespan, [ps[i] + p_dur[i] for i in range(len(ps))]
                       + [cs[i] + c_dur[i] for i in range(len(cs))])
    m.minimize(makespan)
    # complete hint: the list schedule
    m.clear_hints()
    for i, v in enumerate(warm.prog_start.tolist()):
        m.add_hint(ps[i], v)
    for i, v in enumerate(warm.comp_start.tolist()):
        m.add_hint(cs[i], v)
    for e, sel in ends.values():
        m.add_hint(e, int(max(warm.comp_end[sel])))
    for r, below in ready.values():
        m.add_hint(r, int(max(warm.comp_end[below])))
    m.add_hint(makespan, horizon)
    left = max(0.05, time_limit - (time.perf_counter() - t_build))
    solver, code, info = solve_logged(m, time_limit=left, seed=seed, workers=workers)
    if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return ScheduleOutcome(warm, "feasible", horizon, None, dict(info, used="warm start"))
    new_ps = np.array([solver.value(v) for v in ps], dtype=np.int64)
    new_cs = np.array([solver.value(v) for v in cs], dtype=np.int64)
    out = warm.copy()
    out.prog_start, out.prog_end = new_ps, new_ps + np.asarray(p_dur, dtype=np.int64)
    out.comp_start, out.comp_end = new_cs, new_cs + np.asarray(c_dur, dtype=np.int64)
    out.meta["scheduler"] = {"name": "cp-sat", "warm_start": warm.meta.get("scheduler")}
    out.meta["dependencies"] = dependencies
    status = "optimal" if code == cp_model.OPTIMAL else "feasible"
    return ScheduleOutcome(out, status, int(solver.value(makespan)),
                           int(solver.best_objective_bound), info)
