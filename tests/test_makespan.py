"""The makespan bound and the makespan-aware pipeline (pimopt.makespan)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pimopt import Instance, load_instance, solve, verify
from pimopt.bounds.makespan import makespan_bound
from tests.conftest import random_network, small_arch
from tests.exhaustive import serial_optimum

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "instances" / "tiny"

# architectures that stress each term of the bound
ARCHS: list[dict[str, Any]] = [
    {},
    {"ous_per_crossbar": 2},
    {"block_whole_crossbar": False},
    {"max_programming_crossbars": 1, "crossbars": 3},
    {"write_width": 8, "write_parallel": 2, "pulse_mode": "incremental"},
    {"crossbars": 1, "t_verify": 5.0},
]


def test_bound_equals_the_serial_optimum_terms_and_stays_below_it() -> None:
    """One crossbar, one OU, whole-crossbar blocking: the optimal makespan is the least
    total programming plus all compute (exhaustive search); the bound's resource term is
    a valid lower bound on the programming part plus exactly all compute."""
    inst = load_instance(TINY / "tiny-mlp3.json", TINY / "arch.toml")
    least, compute = serial_optimum(inst)
    mb = makespan_bound(inst, time_limit=None)
    assert mb.programming_term == "exact"
    assert mb.compute_ps == compute
    assert 0 < mb.programming_lb_ps <= least
    assert mb.resource_ps == mb.programming_lb_ps + compute
    assert mb.value_ps <= least + compute
    # and the joint model's proven optimum is never below it
    res = solve(inst, "cpsat", objective="makespan", scheduler="joint", decomposition="whole",
                time_limit=20)
    assert res.info["joint"]["status"] == "optimal"
    # the proven programming optimum raises the bound to the optimum (docs/bounds.md 7)
    assert res.bound is not None and mb.value_ps <= res.bound * 1000 == least + compute
    assert res.objective * 1000 == least + compute and res.status == "optimal"


@pytest.mark.parametrize("arch_kw", ARCHS, ids=lambda k: ",".join(f"{a}={b}" for a, b in
                                                                  k.items()) or "small")
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_schedule_is_at_least_the_bound(arch_kw: dict[str, Any], seed: int) -> None:
    """Every method's verified makespan (input splitting, CP-SAT re-timing included) is at
    least the bound; solve() itself raises if a result's objective is below its bound."""
    inst = Instance(small_arch(**arch_kw), random_network(seed, n_layers=3, branchy=True,
                                                           max_inputs=9))
    mb = makespan_bound(inst)
    runs: list[tuple[str, dict[str, Any]]] = [
        ("naive", {}), ("sorted", {"split": True}), ("balanced", {}),
        ("greedy", {"scheduler": "cpsat"}), ("assignment", {"granularity": "crossbar"})]
    for method, kw in runs:
        res = solve(inst, method, objective="makespan", time_limit=2, functional_samples=None,
                    **kw)
        assert verify(inst, res.schedule, functional_samples=None).ok
        assert res.bound is not None and res.bound * 1000 == mb.value_ps
        assert res.schedule.makespan_ps() >= mb.value_ps, method
        assert res.metrics["makespan_gap"] >= 0


def test_bound_terms_on_the_default_instance() -> None:
    inst = load_instance(None, "default")
    mb = makespan_bound(inst, time_limit=None)  # no wall-clock cut: the exact term
    a = inst.arch
    assert mb.programming_term == "exact"
    # the compute term alone: all compute over the OUs that can run at once
    assert mb.value_ps >= mb.compute_ps / (a.crossbars * a.ous_per_crossbar)
    assert mb.value_ps == max(mb.path_ps, mb.resource_ps)
    short = makespan_bound(inst, time_limit=1e-9)  # cut before the exact term: still valid
    assert short.programming_term in ("mixed", "segment distance") and not short.complete
    assert short.value_ps <= mb.value_ps


@pytest.mark.parametrize("arch", ["default", "mlc2", "mnsim"])
def test_balanced_beats_the_baselines_on_lenet(arch: str) -> None:
    inst = load_instance(None, arch)
    naive = solve(inst, "naive", objective="makespan", time_limit=5)
    srt = solve(inst, "sorted", objective="makespan", time_limit=5)
    bal = solve(inst, "balanced", objective="makespan", time_limit=2)
    assert bal.info["aims_at"] == "makespan" and naive.info["aims_at"].startswith("nothing")
    assert bal.objective <= min(naive.objective, srt.objective)
    if arch == "default":
        assert bal.objective <= naive.objective / 2
    names = [st.name for st in bal.stages]
    # a loaded machine may add a bound stage ("bound (background)", "rebound") before verify
    assert names[:4] == ["bound", "map", "schedule", "search"] and names[-1] == "verify"
    assert set(names[4:-1]) <= {"bound (background)", "rebound"}
    assert all(st.seconds >= 0 for st in bal.stages)


def test_balanced_splits_inputs_over_all_ous_when_blocks_are_few() -> None:
    """Two blocks on 2 crossbars x 2 OUs: each block's inputs are split, every OU computes."""
    from pimopt import Layer, Network

    w = np.array([[3, -2], [1, 1], [0, 2], [1, 0]])  # 4 x 8 cells: two 4x4 blocks
    net = Network(name="few", layers=(Layer(name="l0", weights=w, n_inputs=64),),
                  weight_bits=4, encoding="differential", source="test")
    inst = Instance(small_arch(ous_per_crossbar=2), net)
    res = solve(inst, "balanced", objective="makespan", time_limit=2, functional_samples=None)
    assert res.mapping.has_ranges
    assert verify(inst, res.schedule, functional_samples=None).ok
    used = {(int(x), int(s)) for x, s in zip(res.schedule.comp_crossbar,
                                              res.schedule.comp_slot, strict=True)}
    assert len(used) >= 4  # every OU of the chip got work
    naive = solve(inst, "naive", objective="makespan", time_limit=2)
    assert res.objective < naive.objective


@pytest.mark.parametrize("method", ["greedy", "granular", "cpsat"])
def test_objective_makespan_makes_chain_methods_makespan_aware(method: str) -> None:
    inst = load_instance(TINY / "tiny-mlp3.json", None)
    res = solve(inst, method, objective="makespan", decomposition="layer", time_limit=3)
    assert res.info["aims_at"] == "makespan"
    assert res.info["per_crossbar_method"] == method
    prog = solve(inst, method, objective="programming", time_limit=3)
    assert prog.info["aims_at"] == "programming"
    whole = solve(inst, method, objective="makespan", decomposition="whole", time_limit=3)
    assert whole.info["aims_at"].startswith("programming")


@pytest.mark.parametrize("preset", ["wv-mlc", "multi-ou", "small-chip"])
def test_every_method_is_verified_under_the_new_presets(preset: str) -> None:
    """All methods on a small network under each preset: verified bit-exactly, makespan at
    least the bound, and the makespan-aware ones no slower than naive here."""
    from pimopt.methods.registry import METHODS

    inst = load_instance(TINY / "tiny-mlp3.json", preset)
    mb = makespan_bound(inst)
    naive = solve(inst, "naive", objective="makespan", time_limit=2)
    for method in METHODS:  # 1 s: balanced's search uses the time its mapping leaves
        res = solve(inst, method, objective="makespan", time_limit=1, functional_samples=None)
        assert verify(inst, res.schedule, functional_samples=None).ok, method
        assert res.schedule.makespan_ps() >= mb.value_ps, method
        if res.info["aims_at"] == "makespan":
            assert res.objective <= naive.objective, method


def test_result_repr_is_short_and_has_units() -> None:
    inst = load_instance(TINY / "tiny-fc2.json", TINY / "arch.toml")
    res = solve(inst, "balanced", objective="makespan", time_limit=2)
    text = repr(res)
    assert text.startswith("Result(method='balanced'") and " ns, bound=" in text
    assert "array" not in text and len(text) < 200


@pytest.mark.parametrize("arch_kw", [{}, {"pulse_mode": "incremental", "write_parallel": 2,
                                          "write_width": 8}])
def test_table_exact_term_equals_the_general_exact_term(
        arch_kw: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Above TABLE_MIN_PAIRS the exact nearest writes come from segment look-ups: the same
    bound as the latency model pair by pair."""
    import pimopt.bounds.makespan as mbm

    inst = Instance(small_arch(**arch_kw), random_network(3, n_layers=3, max_inputs=4))
    general = makespan_bound(inst, time_limit=None)
    assert general.programming_term == "exact"
    monkeypatch.setattr(mbm, "TABLE_MIN_PAIRS", 0)
    table = makespan_bound(inst, time_limit=None)
    assert table.programming_term == "exact"
    assert table.programming_lb_ps == general.programming_lb_ps > 0
    assert table.value_ps == general.value_ps
    monkeypatch.setattr(mbm, "TABLE_PAIR_LIMIT", 0)  # too many pairs: the agreement search
    monkeypatch.setattr(mbm, "EXACT_PAIR_LIMIT", 0)
    found = makespan_bound(inst, time_limit=None)
    assert found.programming_term == "agreement"  # the minima without the flow: lower
    assert found.programming_lb_ps <= general.programming_lb_ps


def test_flow_term_writes_a_shared_source_once_per_content_it_hands_on() -> None:
    """A hub is the cheapest source of three patterns and they of it: the per-pattern
    minima add up to 4, but the hub hands on a content per write, so any schedule
    writes it three times (6). With only the cheapest arc kept the relaxation is lower,
    never higher."""
    from pimopt.bounds.makespan import _Arcs, _flow_term

    n = 4  # node 1 the hub, 2..4 its spokes
    cost = np.full((n + 1, n + 1), 5, dtype=np.int64)  # cost[target, source]
    cost[1, 2:] = 1
    cost[2:, 1] = 1
    from_zero = np.full(n, 10, dtype=np.int64)
    lb = np.ones(n, dtype=np.int64)
    done = np.ones(n, dtype=bool)
    src = np.array([[s for s in range(1, n + 1) if s != t] for t in range(1, n + 1)])
    full = _Arcs(src, np.take_along_axis(cost[1:], src, axis=1), done)
    assert _flow_term(small_arch(), full, from_zero, lb) == 6
    best = np.argmin(full.cost, axis=1)[:, None]
    one = _Arcs(np.take_along_axis(src, best, 1), np.take_along_axis(full.cost, best, 1), done)
    assert 4 <= _flow_term(small_arch(), one, from_zero, lb) <= 6
    # a target the exact pass did not reach keeps its floor as the price of any source
    part = _Arcs(full.src, full.cost, np.array([True, True, True, False]))
    assert 4 <= _flow_term(small_arch(), part, from_zero, lb) <= 6


def test_balanced_always_schedules_its_baseline_candidates() -> None:
    """``balanced`` maps and schedules the sorted and naive mappings before its own (they
    are linear in the blocks) and keeps the shortest, so it is never above either, even
    when its time limit is too short for its own mapping; the summary says which
    candidate was kept. A limit too short for the candidates themselves is said up front,
    and the summary says they were skipped."""
    inst = load_instance(None, "default")
    short = solve(inst, "balanced", objective="makespan", time_limit=1e-3)
    assert "candidates" not in short.info and "time_limit_note" in short.info
    assert "skipped" in short.summary() and short.report.ok
    for limit in (5.0, 0.5):
        res = solve(inst, "balanced", objective="makespan", time_limit=limit)
        tried = res.info["candidates"]["makespan_ps"]
        assert set(tried) == {"own", "sorted", "naive"}
        assert res.report.ok
        assert res.schedule.makespan_ps() <= min(tried.values())  # the search only shortens
        kept = res.info["candidates"]["kept"]
        assert tried[kept] == min(tried.values())
        assert f"kept {kept}" in res.summary()
        for baseline in ("sorted", "naive"):
            alone = solve(inst, baseline, objective="makespan", time_limit=5)
            assert res.schedule.makespan_ps() <= alone.schedule.makespan_ps()


PB = ROOT / "instances" / "tiny-pb"


@pytest.mark.parametrize("name", ["pb-budget-7"])
def test_layer_window_term_binds_and_stays_below_every_schedule(name: str) -> None:
    """Where a compute-bound layer cannot absorb a programming-bound layer's writes the
    layer-window term is the bound, and every verified schedule lies above it."""
    inst = load_instance(PB / f"{name}.json", PB / f"{name}.toml")
    mb = makespan_bound(inst, time_limit=None)
    assert mb.window_ps == mb.value_ps > max(mb.path_ps, mb.resource_ps)
    for method in ("naive", "sorted", "balanced"):
        res = solve(inst, method, objective="makespan", time_limit=2)
        assert res.report.ok and res.schedule.makespan_ps() >= mb.value_ps, method


@pytest.mark.parametrize("name", ["pb-budget-0", "pb-few-xb-1"])
def test_bound_stays_below_the_proven_optimum_of_programming_bound_instances(
        name: str) -> None:
    """n_inputs = 1 and distinct patterns: the joint model's proven optimum is the optimum
    of the problem; the bound (window and tail terms included) is at most it, and within
    4% of it on these two."""
    from pimopt.scheduling.joint import joint_schedule

    inst = load_instance(PB / f"{name}.json", PB / f"{name}.toml")
    mb = makespan_bound(inst, time_limit=None)
    start = solve(inst, "balanced", objective="makespan", time_limit=3)
    jo = joint_schedule(inst, start.mapping, start.schedule, time_limit=30, workers=8,
                        lower_bound_ps=mb.value_ps)
    assert jo.status == "optimal" and verify(inst, jo.schedule).ok
    opt = jo.schedule.makespan_ps()
    assert 0.96 * opt <= mb.value_ps <= opt


@pytest.mark.parametrize("name", ["pb-few-xb-2", "pb-few-xb-6"])
def test_writes_in_layer_order_raise_the_bound_and_stay_below_the_optimum(
        name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under the layer barrier a slot never holds a content of a later layer and then
    one of an earlier layer (after dropping the writes no compute uses, which costs
    nothing more where the latency model is subadditive): the flow over those arcs
    alone raises the bound, which stays at most the joint model's proven optimum."""
    from pimopt.bounds import makespan as mk
    from pimopt.scheduling.joint import joint_schedule

    inst = load_instance(PB / f"{name}.json", PB / f"{name}.toml")
    ordered = makespan_bound(inst, time_limit=None)
    with monkeypatch.context() as m:
        m.setattr(mk, "_layer_order", lambda *args: None)
        any_order = makespan_bound(inst, time_limit=None)
    assert ordered.programming_lb_ps > any_order.programming_lb_ps
    assert ordered.value_ps > any_order.value_ps
    start = solve(inst, "balanced", objective="makespan", time_limit=3)
    jo = joint_schedule(inst, start.mapping, start.schedule, time_limit=30, workers=8,
                        lower_bound_ps=ordered.value_ps)
    assert jo.status == "optimal" and verify(inst, jo.schedule).ok
    assert ordered.value_ps <= jo.schedule.makespan_ps()


def test_writes_in_layer_order_need_a_subadditive_latency_model() -> None:
    """Dropping a write no compute uses may raise the cost where the model is not
    subadditive (incremental pulses, passes narrower than a segment): no order there."""
    from pimopt.bounds.makespan import _layer_order

    net = random_network(3)
    inst = Instance(small_arch(write_width=4, write_parallel=3, pulse_mode="incremental"), net)
    nz = inst.nonzero_blocks
    upid = np.unique(inst.pattern_id[nz])
    assert _layer_order(inst, upid, inst.pattern_id[nz], inst.block_layer[nz]) is None
    ok = Instance(small_arch(), net)
    order = _layer_order(ok, upid, ok.pattern_id[nz], ok.block_layer[nz])
    assert order is not None
    # a pattern of the last layer may never be followed by one of the first
    last = np.flatnonzero(order.layer == 2)
    first = np.flatnonzero(order.layer == 0)
    assert order.forbidden(first)[:, last].all() and not order.forbidden(last)[:, first].any()


def _two_programming_bound_layers(seed: int) -> Instance:
    """A compute-heavy layer, then two layers of 6 blocks each on 8 slots."""
    rng = np.random.default_rng(seed)

    def weights(k: int) -> Any:
        return rng.integers(1, 8, size=(k, 2)) * rng.choice([-1, 1], size=(k, 2))

    from pimopt.network import Layer, Network

    layers = (Layer(name="a", weights=weights(4), n_inputs=300),
              Layer(name="b", weights=weights(12), n_inputs=1),
              Layer(name="c", weights=weights(12), n_inputs=1))
    net = Network(name=f"suffix{seed}", layers=layers, weight_bits=4,
                  encoding="differential", source="tests.test_makespan")
    return Instance(small_arch(max_programming_crossbars=1), net)


@pytest.mark.parametrize("seed", [0, 1])
def test_writes_after_a_window_opens_raise_the_bound_and_stay_below_every_schedule(
        seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Layers b and c use 12 patterns on 8 slots: the writes of at least 4 of them start
    after b's window opens, where the one crossbar allowed to program is the bottleneck;
    without that term the bound lets them hide in a's compute-bound window."""
    from pimopt.bounds import makespan as mk
    from pimopt.scheduling.joint import joint_schedule

    inst = _two_programming_bound_layers(seed)
    mb = makespan_bound(inst, time_limit=None)
    with monkeypatch.context() as m:
        m.setattr(mk, "_suffix_writes",
                  lambda lb, nodes, deps, path, slots: np.zeros(path.size))
        without = makespan_bound(inst, time_limit=None)
    assert mb.window_ps == mb.value_ps > 1.03 * without.value_ps
    best = None
    for method in ("naive", "sorted", "balanced"):
        res = solve(inst, method, objective="makespan", time_limit=1)
        assert res.report.ok and res.schedule.makespan_ps() >= mb.value_ps, method
        best = res if best is None or res.objective < best.objective else best
    assert best is not None
    # any schedule the joint model finds must stay above the bound: no proof needed
    jo = joint_schedule(inst, best.mapping, best.schedule, time_limit=2, workers=2)
    assert verify(inst, jo.schedule).ok and jo.schedule.makespan_ps() >= mb.value_ps


def test_window_lp_without_suffix_writes_is_the_greedy_minimum() -> None:
    """The LP and the closed-form greedy minimise the same convex problem when no
    suffix constraint is given."""
    from pimopt.bounds.makespan import _window_lp

    rng = np.random.default_rng(0)
    for _ in range(20):
        m = int(rng.integers(1, 6))
        x, b = 8, int(rng.integers(1, 9))
        a_l = rng.integers(1, 10**6, m).astype(float)
        c_l = a_l * rng.uniform(1, 8, m)
        mand = rng.integers(0, 10**6, m).astype(float)
        prog = float(mand.sum() + rng.integers(0, 10**7))
        p0 = int(rng.integers(0, 1000))
        lp = _window_lp(x, b, True, p0, a_l, c_l, mand, np.zeros(m), prog)
        # the greedy of _window_term: cheapest slopes first
        t0 = np.maximum(np.maximum(a_l, mand / b), (mand + c_l) / x)
        free0 = np.maximum(np.minimum(x * t0 - c_l, b * t0) - mand, 0)
        free1 = np.maximum(np.maximum(b * c_l / (x - b) if x > b else np.inf, b * t0)
                           - mand - free0, 0) if x > b else np.full(m, np.inf)
        left = max(0.0, prog - mand.sum())
        take = min(left, free0.sum() + b * p0)
        left -= take
        take1 = min(left, free1.sum())
        greedy = p0 + t0.sum() + take1 / x + (left - take1) / b
        assert lp == pytest.approx(greedy, rel=1e-6)


def test_suffix_writes_match_their_definition() -> None:
    """``_suffix_writes`` (kept top-S values, window by window from the last) against
    its definition: all but the S largest ``lb`` of the patterns used by a layer at or
    after some path layer from position j on."""
    from pimopt.bounds.makespan import _suffix_writes

    rng = np.random.default_rng(1)
    for _ in range(30):
        n_layers, n, slots = int(rng.integers(2, 8)), int(rng.integers(1, 300)), int(
            rng.integers(1, 50))
        deps: list[list[int]] = [[]] + [
            sorted({int(rng.integers(0, i)), i - 1}) for i in range(1, n_layers)]
        lb = rng.integers(0, 1000, n)
        nodes = [np.unique(rng.integers(0, n, int(rng.integers(0, n + 1))))
                 for _ in range(n_layers)]
        path = np.arange(n_layers)  # every layer depends on the one before: a path
        got = _suffix_writes(lb, nodes, deps, path, slots)
        after = np.zeros((n_layers, n_layers), dtype=bool)
        for i in range(n_layers):
            for d in deps[i]:
                after[i, d] = True
                after[i] |= after[d]
        for j in range(n_layers):
            layers = {m for m in range(n_layers) if m == j or after[m, j]}
            used = np.unique(np.concatenate([nodes[m] for m in layers]))
            assert got[j] == float(np.sort(lb[used])[::-1][slots:].sum())
