"""The method contract: every registered method runs under every objective on the tiny
instances, verified by replay, its objective recomputed from the solution.

``pytest tests/test_methods.py --methods cpsat,balanced`` runs it on some methods only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pimopt import Instance, load_instance, solve, verify
from pimopt.objectives import OBJECTIVES
from tests.exhaustive import serial_optimum

TINY = Path(__file__).resolve().parents[1] / "instances" / "tiny"
NAMES = ("tiny-fc2", "tiny-conv", "tiny-mlp3")


@pytest.fixture(scope="module", params=NAMES)
def tiny(request: pytest.FixtureRequest) -> Instance:
    return load_instance(TINY / f"{request.param}.json", TINY / "arch.toml")


@pytest.mark.parametrize("objective", list(OBJECTIVES))
def test_every_method_runs_under_every_objective(tiny: Instance, contract_method: str,
                                                 objective: str) -> None:
    res = solve(tiny, contract_method, objective=objective, time_limit=1,
                functional_samples=None)
    assert verify(tiny, res.schedule, functional_samples=None).ok
    metric = OBJECTIVES[objective][0]
    assert res.objective == pytest.approx(res.metrics[metric])  # from the replay
    assert res.bound is None or res.bound <= res.objective + 1e-9
    assert res.status in ("optimal", "feasible")


@pytest.fixture(scope="module")
def serial_optima() -> dict[str, tuple[int, int]]:
    """Exhaustive least programming and all compute of the tiny instances small enough for
    exhaustive search in seconds (tiny-conv's 17 items take minutes)."""
    return {n: serial_optimum(load_instance(TINY / f"{n}.json", TINY / "arch.toml"))
            for n in ("tiny-fc2", "tiny-mlp3")}


EXACT = ("cpsat", "milp-cbc", "milp-highs")


@pytest.mark.parametrize("objective", ["makespan", "programming"])
def test_exact_methods_prove_the_tiny_optima(tiny: Instance, objective: str,
                                             serial_optima: dict[str, tuple[int, int]]
                                             ) -> None:
    """One serial crossbar: the least makespan is the least total programming plus all
    compute. The exact methods reach it and prove it under both objectives (the default
    decomposition builds the whole-network model where it fits), and agree."""
    results = [solve(tiny, m, objective=objective, time_limit=20, functional_samples=None)
               for m in EXACT]
    for res in results:
        assert res.options["decomposition"] == "whole"
        assert res.status == "optimal" and res.gap == 0.0, res.method
        assert verify(tiny, res.schedule, functional_samples=None).ok
    assert len({r.objective for r in results}) == 1
    if tiny.network.name in serial_optima:
        least, compute = serial_optima[tiny.network.name]
        want = least + compute if objective == "makespan" else least
        assert round(results[0].objective * 1000) == want
        assert results[0].schedule.makespan_ps() == least + compute


def test_an_exact_model_that_cannot_be_built_in_time_leaves_its_warm_start() -> None:
    """The model's building counts against the method's time: where its estimate does not
    fit, no model is started and the warm start is returned, saying why."""
    from pimopt.chains.problem import ChainProblem
    from pimopt.methods.chain_methods import CHAIN_METHODS, ChainOptions

    a = load_instance(TINY / "tiny-conv.json", TINY / "arch.toml").arch
    rng = np.random.default_rng(0)
    items = rng.integers(0, 4, (300, a.ou_rows, a.ou_cols)).astype(np.uint8)  # ~10^5 arcs
    p = ChainProblem(a, np.zeros((a.total_slots, a.ou_rows, a.ou_cols), np.uint8), items,
                     np.zeros(300, np.int64), {0: 300})
    for kind in ("cpsat", "milp-highs"):
        out = CHAIN_METHODS[kind](p, ChainOptions(time_limit=1e-4, seed=0, workers=1,
                                                  initial="sorted"))
        assert out.status == "feasible" and out.info["used"].startswith("warm start (building")
        p.check(out.chains)


def test_the_method_objective_matrix_in_the_docs_is_the_registry_s() -> None:
    """docs/methods.md's table of what each method minimises under each objective is
    the one :func:`aims_matrix` computes (it cannot drift from the code)."""
    from pathlib import Path

    from pimopt.methods.registry import aims_matrix

    docs = (Path(__file__).resolve().parent.parent / "docs" / "methods.md").read_text()
    assert aims_matrix() in docs
