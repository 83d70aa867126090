"""Shared fixtures: small architectures and random networks."""

from __future__ import annotations

import os
import tempfile
from typing import Any

import numpy as np
import pytest

from pimopt import Architecture, Instance, Layer, Network

# the bound cache of this test session: never the user's, never stale entries
os.environ["PIMOPT_CACHE_DIR"] = tempfile.mkdtemp(prefix="pimopt-test-cache-")


def small_arch(**kw: Any) -> Architecture:
    """A 2-crossbar chip of 8x8 cells cut into 4x4 OUs (4 slots per crossbar)."""
    base: dict[str, Any] = dict(crossbars=2, rows=8, cols=8, ou_rows=4, ou_cols=4, cell_bits=2,
                                t_ou=1.0, input_bits=4, t_set=10.0, t_reset=20.0,
                                t_verify=1.0, name="small")
    base.update(kw)
    return Architecture(**base)


def random_network(seed: int, n_layers: int = 3, weight_bits: int = 4,
                   encoding: str = "differential", sparsity: float = 0.3,
                   max_k: int = 12, max_n: int = 4, max_inputs: int = 5,
                   branchy: bool = False) -> Network:
    """A random integer network; with ``branchy`` some layers depend on two others."""
    rng = np.random.default_rng(seed)
    qmax = (1 << (weight_bits - 1)) - 1
    layers = []
    for i in range(n_layers):
        k = int(rng.integers(1, max_k + 1))
        n = int(rng.integers(1, max_n + 1))
        w = rng.integers(-qmax, qmax + 1, size=(k, n))
        w[rng.random((k, n)) < sparsity] = 0
        deps: tuple[str, ...] | None = None
        if branchy and i >= 2:
            deps = (f"l{i - 1}", f"l{int(rng.integers(0, i - 1))}")
        layers.append(Layer(name=f"l{i}", weights=w, n_inputs=int(rng.integers(1, max_inputs + 1)),
                            deps=deps))
    return Network(name=f"rand{seed}", layers=tuple(layers), weight_bits=weight_bits,
                   encoding=encoding, source=f"tests.conftest.random_network(seed={seed})")


@pytest.fixture
def tiny_instance() -> Instance:
    """Three random layers on the small chip (several loads per slot)."""
    return Instance(small_arch(), random_network(1, sparsity=0.2))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--methods", default="all",
                     help="comma-separated methods the method-contract tests run "
                          "(tests/test_methods.py; default all registered methods)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``method`` parameters of the contract tests: every registered method, or ``--methods``."""
    if "contract_method" in metafunc.fixturenames:
        from pimopt.methods.registry import METHODS

        chosen = metafunc.config.getoption("--methods")
        names = list(METHODS) if chosen == "all" else [m.strip() for m in chosen.split(",")]
        unknown = sorted(set(names) - set(METHODS))
        if unknown:
            raise pytest.UsageError(f"--methods: unknown {unknown}; one of {', '.join(METHODS)}")
        metafunc.parametrize("contract_method", names)
