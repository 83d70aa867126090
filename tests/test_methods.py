"""The method contract: every registered method runs under every objective on the tiny
instances, verified by replay, its objective recomputed from the solution.

``pytest tests/test_methods.py --methods cpsat,balanced`` runs it on some methods only.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pimopt import Instance, load_instance, solve, verify
from pimopt.solve import OBJECTIVES

TINY = Path(__file__).resolve().parents[1] / "instances" / "tiny"
NAMES = ("tiny-fc2", "tiny-conv", "tiny-mlp3")


@pytest.fixture(scope="module", params=NAMES)
def tiny(request: pytest.FixtureRequest) -> Instance:
    return load_instance(TINY / f"{request.param}.json", TINY / "arch.toml")


@pytest.mark.parametrize("objective", list(OBJECTIVES))
def test_every_method_runs_under_every_objective(tiny: Instance, contract_method: str,
                                                 objective: str) -> None:
    res = solve(tiny, contract_method, objective=objective, time_limit=3,
                functional_samples=None)
    assert verify(tiny, res.schedule, functional_samples=None).ok
    metric = OBJECTIVES[objective][0]
    assert res.objective == pytest.approx(res.metrics[metric])  # from the replay
    assert res.bound is None or res.bound <= res.objective + 1e-9
    assert res.status in ("optimal", "feasible")
