"""Every method through the one entry point: verified, objectives recomputed, bounds valid."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pimopt import InputError, Instance, load_instance, solve, verify
from pimopt.bounds.cache import instance_bound
from pimopt.chains.problem import layer_items
from pimopt.methods.registry import METHODS
from tests.conftest import random_network, small_arch


@pytest.fixture(scope="module")
def small() -> Instance:
    # two layers, about 20 non-zero blocks, 8 slots: several rounds per layer
    return Instance(small_arch(), random_network(5, n_layers=2, max_k=10, max_n=3,
                                                 sparsity=0.3))


@pytest.mark.parametrize("method", METHODS)
def test_every_method_is_verified(small: Instance, method: str) -> None:
    res = solve(small, method, objective="programming", time_limit=5, seed=3)
    assert res.report.ok
    assert verify(small, res.schedule, functional_samples=None).ok
    assert res.objective == res.report.metrics["programming_ns"]
    assert res.objectives["programming_ps"] == round(res.objective * 1000)
    assert res.bound is not None and res.bound <= res.objective + 1e-9
    assert res.gap is not None and 0 <= res.gap < 1
    assert res.status in ("optimal", "feasible")
    assert res.versions["numpy"] == np.__version__


def test_methods_beat_naive_and_exact_prove_whole_optimum(small: Instance) -> None:
    naive = solve(small, "naive", objective="programming").objective
    ls = solve(small, "ls", objective="programming", time_limit=5).objective
    assert ls <= naive
    exact = {m: solve(small, m, objective="programming", decomposition="whole",
                      time_limit=30) for m in ("cpsat", "milp-cbc", "milp-highs")}
    values = {r.objective for r in exact.values()}
    assert len(values) == 1  # all three prove the same optimum
    for r in exact.values():
        assert r.status == "optimal" and r.gap == 0.0
    assert min(values) <= ls


def test_whole_network_models_layer_order(small: Instance) -> None:
    res = solve(small, "assignment", decomposition="whole", objective="programming")
    loads = res.mapping.loads(small)
    same = np.diff(loads.global_slot) == 0
    assert (loads.min_layer[1:][same] >= loads.max_layer[:-1][same]).all()


def test_cell_writes_objective(small: Instance) -> None:
    res = solve(small, "ls", objective="cell_writes", time_limit=3)
    assert res.objective == res.report.metrics["cell_writes"] == res.objectives["cell_writes"]
    bound = instance_bound(small, "cell_writes")
    assert bound.complete and bound.value <= res.objective


def test_shared_patterns_share_a_load() -> None:
    w = np.zeros((8, 2), dtype=int)
    w[:, 0] = 3  # two row tiles with the same pattern
    from pimopt import Layer, Network
    inst = Instance(small_arch(), Network("s", (Layer("a", w, n_inputs=2),), weight_bits=4))
    items = layer_items(inst)
    assert len(items) == 1 and len(items[0].patterns) == 1 and items[0].blocks.size == 2
    res = solve(inst, "assignment", objective="programming")
    assert len(res.mapping.loads(inst)) == 1 and res.schedule.n_program == 1
    assert res.schedule.n_compute == 2


def test_heuristics_on_the_default_instance() -> None:
    inst = load_instance()
    naive = solve(inst, "naive", objective="programming", bound=False)
    sort = solve(inst, "sorted", objective="programming", bound=False)
    assign = solve(inst, "assignment", objective="programming", bound=False)
    assert assign.objective < sort.objective < naive.objective
    for r in (naive, sort, assign):
        assert r.report.ok and set(r.objectives) == {"programming_ps", "critical_path_ps",
                                                      "cell_writes"}


def test_bad_arguments(small: Instance) -> None:
    with pytest.raises(InputError, match="method 'magic' is unknown"):
        solve(small, "magic")
    with pytest.raises(InputError, match="objective"):
        solve(small, "naive", objective="speed")
    with pytest.raises(InputError, match="decomposition"):
        solve(small, "ls", decomposition="halves")
    with pytest.raises(InputError, match="time_limit"):
        solve(small, "ls", time_limit=0)
    with pytest.raises(InputError, match="initial"):
        solve(small, "cpsat", initial="cpsat")


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10**6), method=st.sampled_from(list(METHODS)),
       decomposition=st.sampled_from(["layer", "whole"]), branchy=st.booleans())
def test_every_method_verifies_on_random_instances(seed: int, method: str, decomposition: str,
                                                   branchy: bool) -> None:
    net = random_network(seed, n_layers=3, max_k=10, max_n=3, sparsity=0.4, branchy=branchy)
    inst = Instance(small_arch(crossbars=1 + seed % 2), net)
    if inst.n_nonzero == 0:
        return
    if method == "naive" and decomposition == "whole":
        decomposition = "layer"
    res = solve(inst, method, objective="programming", decomposition=decomposition,
                time_limit=2, seed=seed, functional_samples=None)
    assert verify(inst, res.schedule, functional_samples=None).ok
    assert res.bound is None or res.bound <= res.objective + 1e-9


def test_crossbar_granularity_bound_stays_below_shared_write_passes() -> None:
    """Whole-crossbar operations with write_width > ou_cols share passes: the programming
    bound is divided by the slots sharing a segment, so it never exceeds the objective
    (it claimed 'optimal' with a gap of -1152% before)."""
    from pathlib import Path

    from pimopt import load_instance

    root = Path(__file__).resolve().parents[1]
    inst = load_instance(root / "instances" / "trained" / "digits-mlp.json", "mnsim")
    res = solve(inst, "assignment", objective="programming", granularity="crossbar",
                time_limit=5)
    assert res.bound is not None and 0 < res.bound <= res.objective
    assert res.gap is not None and res.gap >= 0
    assert res.status == "feasible"


def test_size_limits_are_checked_before_any_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """A method whose model would be too large for a later layer is refused at once, naming
    that layer, instead of after solving the earlier ones (and after the bounds)."""
    import importlib

    import pimopt.chains.exact

    solve_mod = importlib.import_module("pimopt.pipeline")

    inst = Instance(small_arch(), random_network(1, sparsity=0.2))
    sizes = {inst.network.layers[li.layer].name: len(li.patterns) for li in layer_items(inst)}
    big = max(sizes, key=lambda k: sizes[k])
    n = sizes[big]
    calls: list[str] = []
    monkeypatch.setattr(solve_mod, "instance_bound", lambda *a, **k: calls.append("bound"))
    monkeypatch.setattr(pimopt.chains.exact, "EXACT_ARC_LIMIT", n * (min(8, n) + n) - 1)
    with pytest.raises(InputError, match=f"layer '{big}'.*cpsat|cpsat.*layer '{big}'"):
        solve(inst, "cpsat", objective="programming", decomposition="layer")
    import pimopt.methods.chain_methods

    monkeypatch.setattr(pimopt.methods.chain_methods, "ROUND_PAIR_LIMIT", 1)
    with pytest.raises(InputError, match="slot-item pairs on the whole network"):
        solve(inst, "assignment", objective="programming", decomposition="whole")
    assert calls == []


def test_result_repr_summary_dumps_and_status() -> None:
    import json

    from pimopt.result import Status

    inst = Instance(small_arch(), random_network(3, sparsity=0.2))
    res = solve(inst, "assignment", objective="programming", time_limit=3)
    text = repr(res)
    assert text.startswith("Result(method='assignment', status=") and " ns, bound=" in text
    assert "gap=" in text and "runtime=" in text and len(text) < 200
    assert isinstance(res.status, Status) and res.status in ("optimal", "feasible")
    summary = res.summary()
    assert "makespan" in summary and "objective" in summary and "ns" in summary
    data = json.loads(res.dumps())  # no arguments: the instance solved
    assert data["status"] == res.status.value and data["instance"]["sha256"] == \
        inst.content_hash()
    assert json.loads(res.dumps(inst)) == data
    bare = type(res)(**{**res.__dict__, "instance": None})
    with pytest.raises(InputError, match="pass the instance"):
        bare.dumps()


def test_lns_with_chains_too_long_for_exact_windows_falls_back_to_granular_moves() -> None:
    """Two slots and 1,400 items: every chain alone exceeds the exact model's size, so
    LNS cannot open a window; it says so and spends its time on granular moves."""
    from pimopt.chains.problem import ChainProblem
    from pimopt.methods.chain_methods import CHAIN_METHODS, ChainOptions

    rng = np.random.default_rng(0)
    arch = small_arch(crossbars=1, rows=4, cols=8, ou_rows=4, ou_cols=4)  # 2 slots
    items = rng.integers(0, 4, size=(1400, 4, 4)).astype(np.uint8)
    p = ChainProblem(arch, np.zeros((2, 4, 4), np.uint8), items, np.zeros(1400, np.int64),
                     {0: 700}, "latency")
    out = CHAIN_METHODS["lns"](p, ChainOptions(time_limit=3, seed=0, workers=1, initial="sorted"))
    p.check(out.chains)
    assert out.info["lns_windows_too_large"] > 0 and out.info["lns_neighbourhoods"] == 0
    assert out.info["after_lns"].startswith("granular")
    assert p.evaluate(out.chains) <= out.info["warm_objective"]


def test_a_limit_too_short_for_scheduling_and_verifying_is_said_up_front() -> None:
    """Scheduling and verifying are linear in the blocks and not time-limited: a limit
    below their estimate is named in the result (and logged) before the run starts."""
    inst = load_instance()  # 5,538 blocks: about 0.17 s of scheduling and verifying
    res = solve(inst, "naive", time_limit=0.2, bound=False, functional_samples=1)
    assert "is short for 5,538 blocks" in res.info["time_limit_note"]
    assert "time_limit_note" not in solve(inst, "naive", time_limit=30, bound=False,
                                          functional_samples=1).info


def test_display_prints_every_stage_as_it_starts_and_ends(
        capsys: pytest.CaptureFixture[str]) -> None:
    from pimopt import InputError, load_instance, solve

    inst = load_instance("pimopt:tiny/tiny-fc2")
    res = solve(inst, "balanced", time_limit=2, display=True)
    out = capsys.readouterr().out.splitlines()
    for stage in res.stages:
        assert any(stage.name in line and "started" in line for line in out), stage.name
        assert any(stage.name in line and f"{stage.seconds:.2f} s" in line
                   for line in out), stage.name
    solve(inst, "naive", time_limit=2)
    assert capsys.readouterr().out == ""  # quiet by default
    with pytest.raises(InputError, match="display = 'yes' is invalid"):
        solve(inst, "naive", time_limit=2, display="yes")  # type: ignore[arg-type]
