"""Exact models prove the exhaustive optimum; bounds stay below it; warm starts hold."""

from __future__ import annotations

import numpy as np
import pytest

from pimopt import InputError
from pimopt.bounds.programming import ap_bound, layered_ap_bound, lp_bound
from pimopt.chains.construct import assignment_chains, sorted_chains
from pimopt.chains.exact import solve_cpsat, solve_milp
from pimopt.chains.local_search import local_search
from pimopt.chains.problem import ChainProblem
from tests.exhaustive import exhaustive
from tests.test_problem import make_problem

TINY = [  # (seed, items, slots, layers, starts copied from random patterns)
    (0, 8, 3, 1, 0),
    (1, 9, 3, 1, 1),
    (2, 10, 3, 1, 0),
    (3, 8, 2, 2, 1),
    (4, 9, 3, 2, 0),
    (5, 6, 3, 1, 2),
]


@pytest.fixture(params=TINY, ids=[f"seed{t[0]}-n{t[1]}-s{t[2]}-L{t[3]}" for t in TINY])
def tiny(request: pytest.FixtureRequest) -> tuple[ChainProblem, int]:
    seed, n, s, layers, copies = request.param
    p = make_problem(seed, n=n, s=s, layers=layers, start_copies=copies)
    opt, chains = exhaustive(p)
    p.check(chains)
    assert p.evaluate(chains) == opt
    return p, opt


def test_cpsat_proves_the_optimum(tiny: tuple[ChainProblem, int]) -> None:
    p, opt = tiny
    out = solve_cpsat(p, time_limit=30, seed=1, workers=2)
    assert out.status == "optimal" and out.chains is not None
    p.check(out.chains)
    assert p.evaluate(out.chains) == opt == out.objective == out.bound


@pytest.mark.parametrize("solver", ["cbc", "highs"])
def test_milp_proves_the_optimum(tiny: tuple[ChainProblem, int], solver: str) -> None:
    p, opt = tiny
    out = solve_milp(p, solver=solver, time_limit=30)
    assert out.status == "optimal" and out.chains is not None, out.info
    p.check(out.chains)
    assert p.evaluate(out.chains) == opt
    assert out.objective == pytest.approx(opt) and out.bound == pytest.approx(opt)


def test_bounds_are_below_the_optimum(tiny: tuple[ChainProblem, int]) -> None:
    p, opt = tiny
    ap = ap_bound(p)
    lp = lp_bound(p)
    assert lp is not None
    assert ap <= lp + 1e-6 <= opt + 1e-6
    if len(np.unique(p.item_layer)) == 1:
        from pimopt.bounds.programming import sparse_ap_bound
        from pimopt.chains.candidates import node_candidates

        # with the chain-count row the sparse bound may exceed the AP, never the optimum
        assert sparse_ap_bound(p, node_candidates(p, 3, 0)) <= opt + 1e-6
    if len(np.unique(p.item_layer)) == 1 and not p.starts.any():
        # on a fresh chip the layered bound of one layer is the AP bound
        zero = np.zeros((1, *p.items.shape[1:]), np.uint8)
        assert layered_ap_bound([p], [zero]) == pytest.approx(ap)


def test_layered_bound_is_valid_across_layers() -> None:
    for seed in range(6):
        p = make_problem(seed, n=8, s=2, layers=2)
        opt, _ = exhaustive(p)
        parts, earlier = [], [np.zeros((1, 4, 4), np.uint8)]
        prev = [np.zeros((1, 4, 4), np.uint8)]
        for la in (0, 1):
            sel = p.item_layer == la
            parts.append(ChainProblem(p.arch, p.starts, p.items[sel],
                                      np.zeros(int(sel.sum()), np.int64),
                                      {0: p.capacity[la]}, p.metric))
            prev.append(p.items[sel])
            earlier.append(np.concatenate(prev))
        bound = layered_ap_bound(parts, earlier[:2])
        assert bound is not None and bound <= opt


@pytest.mark.parametrize("method", ["cpsat", "cbc", "highs"])
def test_warm_start_is_never_worsened(method: str) -> None:
    p = make_problem(7, n=14, s=3, start_copies=1)
    warm = sorted_chains(p)
    w = p.evaluate(warm)
    if method == "cpsat":
        out = solve_cpsat(p, time_limit=2, hint=warm)
        assert out.info["hint_complete_feasible"] is True
    else:
        out = solve_milp(p, solver=method, time_limit=2, warm=warm)
    assert out.chains is not None
    p.check(out.chains)
    assert p.evaluate(out.chains) <= w


def test_fixed_hint_solve_reproduces_the_hint() -> None:
    p = make_problem(8, n=12, s=3, layers=2)
    warm = local_search(p, assignment_chains(p), time_limit=2)
    out = solve_cpsat(p, time_limit=10, hint=warm, fix_to_hint=True)
    assert out.status == "optimal"  # the only solution left is the hint
    assert out.objective == p.evaluate(warm) and out.chains == warm


def test_time_limit_returns_feasible_with_bound() -> None:
    p = make_problem(9, n=45, s=5)
    warm = assignment_chains(p)
    # a deterministic cut-off (machine independent): the outcome does not depend on load
    out = solve_cpsat(p, time_limit=60, deterministic_time=0.2, hint=warm, workers=1)
    assert out.status in ("feasible", "optimal") and out.chains is not None
    assert out.bound is not None and out.objective is not None
    assert out.bound <= out.objective + 1e-6
    cbc = solve_milp(p, solver="cbc", time_limit=3, warm=warm)
    if "cbc_error" in cbc.info:  # the bundled CBC crashed on the MIP start: said, not hidden
        assert cbc.status in ("feasible", "timeout")
    else:
        assert cbc.status == "feasible" and cbc.chains is not None
        assert cbc.bound is not None and cbc.objective is not None
        assert cbc.bound <= cbc.objective + 1e-6
    hi = solve_milp(p, solver="highs", time_limit=1, warm=warm)
    assert hi.status == "feasible" and hi.chains is not None  # not PuLP's "Optimal" label
    assert hi.bound is not None and hi.objective is not None
    assert hi.bound <= hi.objective + 1e-6


def test_size_limit_is_a_clear_error() -> None:
    p = make_problem(10, n=600, s=2)
    with pytest.raises(InputError, match="exact model would have"):
        solve_cpsat(p, time_limit=1)


@pytest.mark.parametrize("seed", range(5))
def test_sparse_bound_is_valid_and_close(seed: int) -> None:
    from pimopt.bounds.programming import sparse_ap_bound
    from pimopt.chains.candidates import node_candidates

    p = make_problem(seed, n=120, s=6, start_copies=2)
    ap = ap_bound(p)
    upper = opt_upper(p)
    for k in (2, 8):  # very sparse candidates still give a valid bound
        b = sparse_ap_bound(p, node_candidates(p, k, seed))
        assert 0.9 * ap <= b <= upper
    c0 = np.full(p.n_items, 1000, dtype=np.int64)  # a virtual start of capacity S
    q = ChainProblem(p.arch, np.zeros_like(p.starts), p.items, p.item_layer, p.capacity)
    zero = np.zeros((1, *p.items.shape[1:]), np.uint8)
    dense_layered = layered_ap_bound([q], [zero])
    sparse_layered = sparse_ap_bound(q, node_candidates(q, 8, seed),
                                     c0=q.arc_costs(np.zeros(q.n_items, np.int64),
                                                    np.arange(q.n_items)))
    assert dense_layered is not None and sparse_layered <= opt_upper(q)
    assert sparse_ap_bound(q, node_candidates(q, 8, seed), c0=c0) <= opt_upper(q)


def opt_upper(p: ChainProblem) -> float:
    """Cost of a feasible solution (an upper bound on the optimum)."""
    return float(p.evaluate(local_search(p, assignment_chains(p), time_limit=2)))


def test_highs_milp_runs_after_another_highs_solve_in_the_same_process(
        tiny: tuple[ChainProblem, int]) -> None:
    """HiGHS's per-process thread scheduler: a MILP with threads=1 after the sparse LP
    bound (default threads) used to stop at once with status 'Not Set'."""
    from pimopt.bounds.programming import sparse_ap_bound
    from pimopt.chains.candidates import node_candidates

    p, opt = tiny
    sparse_ap_bound(p, node_candidates(p, 4, 0))
    for threads in (1, 2, 1):
        out = solve_milp(p, solver="highs", time_limit=30, threads=threads)
        assert out.status == "optimal" and out.chains is not None, out.info
        assert p.evaluate(out.chains) == opt


def test_highs_never_claims_an_optimum_its_solution_does_not_have() -> None:
    """Issue reproducer: after a MIP start HiGHS reported objective 10 but returned the
    start (11), and pimopt printed 'optimal 11, bound 10'. The solution is now re-read (a
    solve without the start), and every exact method agrees on the optimum."""
    from pimopt import Architecture, Instance, Layer, Network
    from pimopt.pipeline import solve

    arch = Architecture(crossbars=1, rows=4, cols=4, ou_rows=2, ou_cols=4, cell_bits=2,
                        write_width=2, write_parallel=2, t_set=7.0, t_reset=10.0)
    net = Network(name="highs-start", weight_bits=4, encoding="differential", source="test",
                  layers=(Layer(name="a", weights=np.array([[0, 0], [1, 0]]), n_inputs=1),
                          Layer(name="b", weights=np.array([[2, 0, -1], [0, 0, 2], [0, -2, -2],
                                                            [-1, 1, -1]]), n_inputs=1),
                          Layer(name="c", weights=np.array([[0], [-3], [0], [0]]),
                                n_inputs=1)))
    inst = Instance(arch, net)
    results = {m: solve(inst, m, decomposition="whole", objective="cell_writes", time_limit=10)
               for m in ("milp-highs", "milp-cbc", "cpsat")}
    for m, res in results.items():
        assert res.status == "optimal", m
        assert res.bound is not None and res.objective == res.bound == 10, m


def test_exact_methods_prove_the_optimum_without_the_round_limit() -> None:
    """docs/model.md allows any number of loads of a layer per slot. The whole-network exact
    models drop the heuristics' round limit, so 'optimal' is the exhaustive optimum of the
    true problem, which is below the round-limited one where that limit binds."""
    from pimopt import Instance
    from pimopt.chains.problem import layer_items, min_rounds
    from pimopt.pipeline import solve
    from tests.conftest import random_network, small_arch

    binding = 0
    for seed in range(4):
        inst = Instance(small_arch(crossbars=1), random_network(seed, n_layers=2, max_k=8,
                                                                  max_n=3, sparsity=0.2))
        a = inst.arch
        layers = layer_items(inst)
        if sum(len(li.patterns) for li in layers) > 9:
            continue  # keep exhaustive search small
        items = np.concatenate([li.patterns for li in layers])
        lay = np.concatenate([np.full(len(li.patterns), li.layer) for li in layers])
        capped = ChainProblem(a, np.zeros((a.total_slots, a.ou_rows, a.ou_cols), np.uint8),
                              items, lay, {li.layer: min_rounds(len(li.patterns), a.total_slots)
                                           for li in layers}, "latency")
        true_opt, _ = exhaustive(capped.uncapped())
        capped_opt, _ = exhaustive(capped)
        binding += true_opt < capped_opt
        for method in ("cpsat", "milp-highs"):
            res = solve(inst, method, objective="programming", decomposition="whole",
                        time_limit=20)
            assert res.status == "optimal", (seed, method)
            assert round(res.objective * 1000) == true_opt, (seed, method)
    assert binding >= 1  # the round limit bound on at least one instance tried


def test_a_solver_cut_before_any_solution_returns_the_warm_start() -> None:
    """No solution from the solver (deterministic cut-off at zero): the checked warm start
    comes back as 'feasible', never a bare 'timeout' without chains."""
    p = make_problem(9, n=45, s=5)
    warm = assignment_chains(p)
    out = solve_cpsat(p, time_limit=60, deterministic_time=0.0, hint=warm, workers=1)
    assert out.chains is not None and out.status in ("feasible", "optimal")
    if out.info.get("used") == "hint":
        assert out.objective == p.evaluate(warm) and out.info["solver_status"] == "timeout"
    assert out.objective is not None
    assert out.bound is None or out.bound <= out.objective + 1e-6


@pytest.mark.parametrize("model", ["cpsat-hint", "milp-start"])
def test_a_broken_internal_start_is_an_internal_error_not_bad_input(model: str) -> None:
    """Chains a method made that break a rule ("chain 2 loads 4 items of layer 0,
    capacity 3") were reported as bad input (exit 2, and bench never retried them)."""
    from pimopt.errors import VerificationError

    p = make_problem(1)
    bad = [list(range(p.n_items))] + [[] for _ in range(p.n_slots - 1)]  # all in one slot
    with pytest.raises(VerificationError, match="returned invalid chains: chain 0 loads"):
        if model == "cpsat-hint":
            solve_cpsat(p, time_limit=2, hint=bad)
        else:
            solve_milp(p, time_limit=2, warm=bad)
