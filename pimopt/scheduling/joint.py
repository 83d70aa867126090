"""Joint mapping and scheduling for small instances: one CP-SAT model, minimum makespan.

The two-stage approach maps for minimum programming latency, then schedules
that mapping. Here CP-SAT chooses both at once: for the loads of a given
mapping (each load = one pattern serving one or more blocks of a layer), the
slot of every load, the order of the loads in every slot, and every start
time, with the makespan as objective. The two-stage schedule is a complete
hint, so the joint result is never worse; the difference is what the
two-stage approach loses.

Model (slot-granular program operations, docs/model.md, *Hardware* and *Correctness*):

- per slot, a circuit over a depot and the loads: arc ``i -> j`` means load
  ``j`` directly follows ``i`` in that slot; a load absent from the slot takes
  its self-loop, an empty slot the depot's self-loop; arcs never go to an
  earlier layer (a slot's loads follow the layer order);
- every load sits in exactly one slot; its program duration is the latency
  model's cost from its predecessor's pattern (all-zero for a first load);
- a load's computes start after its program operation; the next load of the
  slot is programmed after every compute of the previous one;
- resources exactly as :mod:`pimopt.scheduling.cpsat` (per crossbar OU
  cumulative with programs taking all of it under ``block_whole_crossbar``,
  write budget cumulative), on optional intervals per crossbar;
- layer barrier, or under ``dependencies="window"`` the layers' dependency
  windows (:mod:`pimopt.windows`): every block then computes its inputs one by
  one (unit chunks, in any order and at any times, one at a time on its slot),
  and an input's compute starts after every producer compute of an input below
  what it needs (a prefix-ready variable per producer input); objective: the
  makespan;
- redundant energy cuts per crossbar and for the write budget (linear forms of
  what the cumulatives imply), which give the LP relaxation a makespan bound.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pimopt.errors import InputError, PimoptError
from pimopt.instance import Instance
from pimopt.latency import pair_costs
from pimopt.mapping import Mapping
from pimopt.schedule import Schedule
from pimopt.scheduling.cpsat import solve_logged
from pimopt.scheduling.list_scheduler import list_schedule
from pimopt.scheduling.pipelining import chunk_rows
from pimopt.windows import RULES

JOINT_ARC_LIMIT = 20_000  # loads^2 x slots: the joint model is for small instances


@dataclass
class JointOutcome:
    """The joint solution: mapping, verified-ready schedule, status and bound."""

    mapping: Mapping
    schedule: Schedule
    status: str
    makespan_ps: int
    bound_ps: int | None
    info: dict[str, Any] = field(default_factory=dict)


def joint_schedule(inst: Instance, mapping: Mapping, warm: Schedule, *,
                   time_limit: float = 60.0, seed: int = 0, workers: int = 2,
                   lower_bound_ps: int = 0, dependencies: str = "barrier") -> JointOutcome:
    """Re-map the loads of ``mapping`` and re-time everything for minimum makespan.

    Parameters
    ----------
    inst
        The instance (slot-granular programming).
    mapping, warm
        A valid mapping and a schedule of it (the complete hint and horizon);
        ``warm`` must have slot-granular program operations.
    time_limit, seed, workers
        CP-SAT settings.
    lower_bound_ps
        A makespan lower bound valid for every schedule (the makespan bound of
        :mod:`pimopt.bounds.makespan`): stated as a constraint, it lets CP-SAT
        stop as soon as a schedule reaches it.
    dependencies
        ``"barrier"`` or ``"window"`` (unit input chunks and the layers' windows;
        any compute over a range of inputs is such a sequence of unit computes,
        so the model's space holds every schedule of its loads). ``warm`` must
        obey the rule (a barrier schedule obeys both).
    """
    from ortools.sat.python import cp_model

    t_build = time.perf_counter()  # building the model is part of the time limit
    a = inst.arch
    spc = a.slots_per_crossbar
    n_slots = a.total_slots
    loads = mapping.loads(inst)
    n = len(loads)
    if n * n * n_slots > JOINT_ARC_LIMIT:
        raise InputError(f"the joint model would have {n * n * n_slots} arcs ({n} loads, "
                         f"{n_slots} slots), more than {JOINT_ARC_LIMIT}: joint mapping and "
                         "scheduling is for small instances")
    if np.unique(mapping.block).size != len(mapping):
        raise InputError("the joint model takes whole blocks: no input splitting")
    if warm.meta.get("scheduler", {}).get("granularity", "slot") != "slot":
        raise InputError("the joint model needs slot-granular program operations")
    if dependencies not in RULES:
        raise InputError(f"dependencies = {dependencies!r} is invalid: one of {RULES}")
    window = dependencies == "window"
    blocks_of: list[list[int]] = [[] for _ in range(n)]
    for row, ld in enumerate(loads.load_of_row.tolist()):
        blocks_of[ld].append(int(mapping.block[row]))
    # compute units (block, first, last): whole blocks, or one input each under windows
    units: list[tuple[int, int, int]] = []
    units_of: list[list[int]] = [[] for _ in range(n)]
    for j, bl in enumerate(blocks_of):
        for b in bl:
            n_in = int(inst.block_n_inputs[b])
            for f, la in ([(i, i + 1) for i in range(n_in)] if window else [(0, n_in)]):
                units_of[j].append(len(units))
                units.append((b, f, la))
    lo_layer, hi_layer = loads.min_layer.tolist(), loads.max_layer.tolist()
    pat = inst.patterns[loads.block]
    zero = np.zeros_like(pat[:1])
    # cost[i + 1, j]: program j after i; row 0: after the all-zero start
    olds = np.concatenate([zero, pat])
    cost = pair_costs(a, np.repeat(olds, n, axis=0), np.tile(pat, (n + 1, 1, 1))
                      ).latency_ps.reshape(n + 1, n).astype(np.int64)
    horizon = int(warm.makespan_ps())
    c_dur = {u: int(a.compute_ps(la - f)) for u, (_, f, la) in enumerate(units)}

    m = cp_model.CpModel()
    x = [[m.new_bool_var(f"x{i}_{g}") for g in range(n_slots)] for i in range(n)]
    for i in range(n):
        m.add_exactly_one(x[i])
    arcs: dict[tuple[int, int, int], Any] = {}  # (slot, pred or -1, succ or -1) -> literal
    empty = []
    dur_terms: list[list[tuple[Any, int]]] = [[] for _ in range(n)]
    for g in range(n_slots):
        circuit: list[tuple[int, int, Any]] = []
        e = m.new_bool_var(f"empty{g}")
        empty.append(e)
        circuit.append((0, 0, e))  # the empty-circuit arc: always allowed
        for j in range(n):
            circuit.append((j + 1, j + 1, x[j][g].Not()))
            first = m.new_bool_var(f"s{g}_{j}")
            arcs[(g, -1, j)] = first
            circuit.append((0, j + 1, first))
            dur_terms[j].append((first, int(cost[0, j])))
            t = m.new_bool_var(f"t{g}_{j}")
            arcs[(g, j, -1)] = t
            circuit.append((j + 1, 0, t))
            for i in range(n):
                if i != j and hi_layer[i] <= lo_layer[j]:
                    lit = m.new_bool_var(f"a{g}_{i}_{j}")
                    arcs[(g, i, j)] = lit
                    circuit.append((i + 1, j + 1, lit))
                    dur_terms[j].append((lit, int(cost[i + 1, j])))
        m.add_circuit(circuit)
    sym = _break_symmetry(m, a, arcs, empty, n)
    dur = [m.new_int_var(0, int(cost[:, j].max()), f"d{j}") for j in range(n)]
    for j in range(n):
        m.add(dur[j] == sum(lit * c for lit, c in dur_terms[j]))
    ps = [m.new_int_var(0, horizon, f"p{j}") for j in range(n)]
    pe = [m.new_int_var(0, horizon, f"pe{j}") for j in range(n)]  # interval ends: variables
    for j in range(n):
        m.add(pe[j] == ps[j] + dur[j])
    cs = {b: m.new_int_var(0, horizon, f"c{b}") for b in c_dur}
    # resources on optional intervals per crossbar
    k = a.ous_per_crossbar
    all_prog = []
    on_vars: dict[tuple[int, int], Any] = {}
    d_on: dict[tuple[int, int], Any] = {}  # program duration of load j if on crossbar xb, else 0
    energy: list[tuple[Any, Any, int]] = []  # per crossbar: programs, computes, capacity
    for xb in range(a.crossbars):
        slots = range(xb * spc, (xb + 1) * spc)
        p_iv, c_iv = [], []
        for j in range(n):
            on = m.new_bool_var(f"on{j}_{xb}")
            on_vars[(j, xb)] = on
            m.add(on == sum(x[j][g] for g in slots))
            d = m.new_int_var(0, int(cost[:, j].max()), f"don{j}_{xb}")
            m.add(d == dur[j]).only_enforce_if(on)
            m.add(d == 0).only_enforce_if(on.Not())
            d_on[(j, xb)] = d
            p_iv.append(m.new_optional_interval_var(ps[j], dur[j], pe[j], on,
                                                    f"P{j}_{xb}"))
            for u in units_of[j]:
                c_iv.append(m.new_optional_fixed_size_interval_var(cs[u], c_dur[u], on,
                                                                   f"C{u}_{xb}"))
        all_prog.extend(p_iv)
        prog = sum(d_on[(j, xb)] for j in range(n))
        comp = sum(on_vars[(j, xb)] * sum(c_dur[u] for u in units_of[j]) for j in range(n))
        energy.append((prog, comp, k))
        if a.block_whole_crossbar:
            m.add_cumulative(p_iv + c_iv, [k] * len(p_iv) + [1] * len(c_iv), k)
        else:
            m.add_no_overlap(p_iv)
            m.add_cumulative(c_iv, [1] * len(c_iv), k)
    m.add_cumulative(all_prog, [1] * len(all_prog), int(a.max_programming_crossbars or a.crossbars))
    for j in range(n):
        if len(units_of[j]) > 1:  # one slot computes one thing at a time
            m.add_no_overlap([m.new_fixed_size_interval_var(cs[u], c_dur[u], f"S{u}")
                              for u in units_of[j]])
        # a block's inputs in increasing order: swapping two of its unit computes so that
        # the lower input goes first never delays the moment a prefix of its layer's
        # outputs is complete, so no makespan is lost (and the search loses the symmetry)
        for u, v in zip(units_of[j], units_of[j][1:], strict=False):
            if units[u][0] == units[v][0]:
                m.add(cs[v] >= cs[u] + c_dur[u])
        for u in units_of[j]:
            m.add(cs[u] >= ps[j] + dur[j])
    for (_, i, j), lit in arcs.items():
        if i >= 0 and j >= 0:
            for u in units_of[i]:
                m.add(ps[j] >= cs[u] + c_dur[u]).only_enforce_if(lit)
    layer = {u: int(inst.block_layer[b]) for u, (b, _, _) in enumerate(units)}
    ends = {}
    for li in sorted(set(layer.values())):
        e = m.new_int_var(0, horizon, f"end{li}")
        m.add_max_equality(e, [cs[u] + c_dur[u] for u in c_dur if layer[u] == li])
        ends[li] = e
    # ready[(d, k)]: the first k outputs of layer d are complete (every unit of d whose
    # range starts below k has ended); the barrier is k = all of them, i.e. ends[d]
    ready: dict[tuple[int, int], Any] = {}
    windows = inst.network.windows(dependencies)
    for u, (_, _, la) in enumerate(units):
        for dep, need in windows[layer[u]]:
            if dep not in ends:
                continue
            k = int(inst.network.layers[dep].n_inputs) if need is None else int(need[la - 1])
            if k >= int(inst.network.layers[dep].n_inputs):
                m.add(cs[u] >= ends[dep])
                continue
            if k == 0:
                continue
            if (dep, k) not in ready:
                r = m.new_int_var(0, horizon, f"ready{dep}_{k}")
                m.add_max_equality(r, [cs[v] + c_dur[v] for v in c_dur
                                       if layer[v] == dep and units[v][1] < k])
                ready[(dep, k)] = r
            m.add(cs[u] >= ready[(dep, k)])
    makespan = m.new_int_var(min(max(0, lower_bound_ps), horizon), horizon, "makespan")
    m.add_max_equality(makespan, [ps[j] + dur[j] for j in range(n)]
                       + [cs[u] + c_dur[u] for u in c_dur])
    # redundant energy cuts (what the cumulatives imply, stated linearly): they give
    # CP-SAT's LP a makespan bound; on one crossbar that bound is tight
    budget = int(a.max_programming_crossbars or a.crossbars)
    for prog, comp, cap in energy:
        if a.block_whole_crossbar:
            m.add(cap * prog + comp <= cap * makespan)
        else:
            m.add(prog <= makespan)
            m.add(comp <= cap * makespan)
    m.add(sum(dur) <= budget * makespan)
    m.minimize(makespan)
    _hint(m, inst, warm, loads, blocks_of, units, x, arcs, empty, on_vars, d_on, dur, ps, pe,
          cs, ends, ready, makespan, cost)

    # the symmetry variables' hints: the hint's first load of every slot (loads are
    # numbered by slot, then position)
    first_load = [n] * n_slots
    for j, g in reversed(list(enumerate(loads.global_slot.tolist()))):
        first_load[g] = j
    for g, v in enumerate(sym[0]):
        m.add_hint(v, first_load[g])
    for xb, (lo, used) in enumerate(sym[1]):
        least = min(first_load[xb * spc:(xb + 1) * spc])
        m.add_hint(lo, least)
        m.add_hint(used, least < n)
    left = max(0.05, time_limit - (time.perf_counter() - t_build))
    solver, code, info = solve_logged(m, time_limit=left, seed=seed, workers=workers)
    info["loads"] = n
    if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return JointOutcome(mapping, warm, "feasible", horizon, None,
                            dict(info, used="warm start"))
    # the mapping: follow each slot's circuit from the depot
    rows: list[tuple[int, int, int, int]] = []
    for g in range(n_slots):
        prev, pos = -1, 0
        while True:
            nxt = [j for j in range(n)
                   if (g, prev, j) in arcs and solver.value(arcs[(g, prev, j)])]
            if not nxt:
                break
            prev = nxt[0]
            xb, s = divmod(g, spc)
            rows.extend((b, xb, s, pos) for b in blocks_of[prev])
            pos += 1
    arr = np.array(rows, dtype=np.int64)
    new_map = Mapping(block=arr[:, 0], crossbar=arr[:, 1], slot=arr[:, 2], position=arr[:, 3])
    if window:  # one compute row per input, as in the model
        new_map = chunk_rows(inst, new_map, int(inst.block_n_inputs.max()))
    sched = list_schedule(inst, new_map, method=warm.method, dependencies=dependencies)
    # the model's times on the list schedule's operations (same writes, same durations)
    load_of_block = {b: j for j, bl in enumerate(blocks_of) for b in bl}
    first_write = np.full(sched.n_program, -1, dtype=np.int64)
    first_write[sched.write_op[::-1]] = np.arange(sched.write_op.size)[::-1]
    p_start = np.array([solver.value(ps[load_of_block[int(sched.write_block[w])]])
                        for w in first_write.tolist()], dtype=np.int64)
    p_len = sched.prog_end - sched.prog_start
    want = np.array([solver.value(dur[load_of_block[int(sched.write_block[w])]])
                     for w in first_write.tolist()], dtype=np.int64)
    if not np.array_equal(p_len, want):  # the model and the latency model must agree
        raise PimoptError("joint model: program durations differ from the latency model")
    unit_of = {(b, f): u for u, (b, f, _) in enumerate(units)}
    c_start = np.array([solver.value(cs[unit_of[(int(b), int(f))]])
                        for b, f in zip(sched.comp_block, sched.comp_first, strict=True)],
                       dtype=np.int64)
    sched.prog_start, sched.prog_end = p_start, p_start + p_len
    sched.comp_start, sched.comp_end = c_start, c_start + (sched.comp_end - sched.comp_start)
    sched.meta["scheduler"] = {"name": "joint cp-sat", "granularity": "slot",
                               "warm_start": warm.meta.get("scheduler")}
    sched.meta["dependencies"] = dependencies
    status = "optimal" if code == cp_model.OPTIMAL else "feasible"
    return JointOutcome(new_map, sched, status, int(solver.value(makespan)),
                        int(solver.best_objective_bound), info)


def _break_symmetry(m: Any, a: Any, arcs: dict[tuple[int, int, int], Any], empty: list[Any],
                    n: int) -> tuple[list[Any], list[tuple[Any, Any]]]:
    """Slots of a crossbar, and crossbars, are interchangeable: order them.

    Every slot starts erased and a write's latency does not depend on where
    the slot lies (slot-granular operations), so permuting the slots of one
    crossbar, or whole crossbars, maps a schedule to one of equal makespan.
    With ``f_g`` the index of slot ``g``'s first load (``n`` when empty): the
    used slots of a crossbar take increasing ``f``, and used crossbars
    increasing least ``f``. Any solution can be permuted into that order
    (crossbars first, then slots within each), so no makespan is lost; the
    two-stage hint already satisfies it, since loads are numbered by slot.
    Returns the ``f`` variables and every crossbar's (least ``f``, used).
    """
    spc = a.slots_per_crossbar
    f = []
    for g in range(a.total_slots):
        v = m.new_int_var(0, n, f"f{g}")
        m.add(v == sum(j * lit for (gg, i, j), lit in arcs.items() if gg == g and i == -1
                       and j >= 0) + n * empty[g])
        f.append(v)
    least = []
    for xb in range(a.crossbars):
        slots = range(xb * spc, (xb + 1) * spc)
        for g in slots:
            for h in slots:
                if g < h:
                    m.add(f[g] < f[h]).only_enforce_if([empty[g].Not(), empty[h].Not()])
        lo = m.new_int_var(0, n, f"least{xb}")
        m.add_min_equality(lo, [f[g] for g in slots])
        used = m.new_bool_var(f"used{xb}")
        m.add(lo <= n - 1).only_enforce_if(used)
        m.add(lo == n).only_enforce_if(used.Not())
        least.append((lo, used))
    for c, (lo_c, used_c) in enumerate(least):
        for lo_d, used_d in least[c + 1:]:
            m.add(lo_c < lo_d).only_enforce_if([used_c, used_d])
    return f, least


def _hint(m: Any, inst: Instance, warm: Schedule, loads: Any, blocks_of: list[list[int]],
          units: list[tuple[int, int, int]],
          x: list[list[Any]], arcs: dict[tuple[int, int, int], Any], empty: list[Any],
          on_vars: dict[tuple[int, int], Any], d_on: dict[tuple[int, int], Any],
          dur: list[Any], ps: list[Any], pe: list[Any], cs: dict[int, Any],
          ends: dict[int, Any], ready: dict[tuple[int, int], Any], makespan: Any,
          cost: np.ndarray) -> None:
    """Complete hint from the two-stage solution: every literal and every time."""
    m.clear_hints()
    n = len(blocks_of)
    n_slots = len(empty)
    slot_of = loads.global_slot.tolist()
    pos_of = loads.position.tolist()
    chain: dict[int, list[int]] = {}
    for j in sorted(range(n), key=lambda j: (slot_of[j], pos_of[j])):
        chain.setdefault(slot_of[j], []).append(j)
    true_arcs = set()
    pred = [-1] * n
    for g, seq in chain.items():
        prev = -1
        for j in seq:
            true_arcs.add((g, prev, j))
            pred[j] = prev
            prev = j
        true_arcs.add((g, prev, -1))
    for key, lit in arcs.items():
        m.add_hint(lit, key in true_arcs)
    for g in range(n_slots):
        m.add_hint(empty[g], g not in chain)
    spc = inst.arch.slots_per_crossbar
    for (j, xb), on in on_vars.items():
        m.add_hint(on, slot_of[j] // spc == xb)
        m.add_hint(d_on[(j, xb)], int(cost[pred[j] + 1, j]) if slot_of[j] // spc == xb else 0)
    for j in range(n):
        for g in range(n_slots):
            m.add_hint(x[j][g], slot_of[j] == g)
        m.add_hint(dur[j], int(cost[pred[j] + 1, j]))
    # a unit's start: the warm compute covering its first input, offset by the inputs
    # before it in that compute (the warm computes each run their range in one go)
    unit = inst.arch.compute_ps(1)
    covering: dict[int, list[tuple[int, int, int]]] = {}
    for b, f, la, st in zip(warm.comp_block.tolist(), warm.comp_first.tolist(),
                            warm.comp_last.tolist(), warm.comp_start.tolist(), strict=True):
        covering.setdefault(int(b), []).append((int(f), int(la), int(st)))
    u_start = {}
    for u, (b, f, _) in enumerate(units):
        wf, _, st = next(c for c in covering[b] if c[0] <= f < c[1])
        u_start[u] = st + (f - wf) * unit
        m.add_hint(cs[u], u_start[u])
    c_end: dict[int, int] = {}
    for u, (b, f, la) in enumerate(units):
        c_end[b] = max(c_end.get(b, 0), u_start[u] + (la - f) * unit)
    # a load's program start: its write in the warm schedule, or (no write) right after
    # the previous load's computes
    w_start: dict[tuple[int, int], int] = {}
    for w in range(warm.write_op.size):
        op = int(warm.write_op[w])
        g = int(warm.prog_crossbar[op]) * spc + int(warm.write_slot[w])
        w_start[(g, int(warm.write_block[w]))] = int(warm.prog_start[op])
    for j in range(n):
        g = slot_of[j]
        start = w_start.get((g, int(loads.block[j])))
        if start is None:
            prev = pred[j]
            start = 0 if prev < 0 else max(c_end[b] for b in blocks_of[prev])
        m.add_hint(ps[j], start)
        m.add_hint(pe[j], start + int(cost[pred[j] + 1, j]))
    layer = inst.block_layer
    for li, e in ends.items():
        m.add_hint(e, max(c_end[b] for b in c_end if int(layer[b]) == li))
    for (dep, k), r in ready.items():
        m.add_hint(r, max(u_start[u] + (la - f) * unit for u, (b, f, la) in enumerate(units)
                          if int(layer[b]) == dep and f < k))
    m.add_hint(makespan, int(warm.makespan_ps()))
