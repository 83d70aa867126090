"""The committed PyTorch exports: re-import is exact, schedules are bit-exact."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pimopt import Instance, Network, load_architecture, solve, verify
from pimopt.models.onnx_import import import_onnx

IMPORTED = Path(__file__).resolve().parents[1] / "instances/imported"


@pytest.mark.parametrize("name", ["resnet20-cifar", "lenet5"])
def test_reimport_matches_the_committed_instance(name: str) -> None:
    net = Network.load(IMPORTED / f"{name}.json")
    again = import_onnx(IMPORTED / f"{name}.onnx", batch=1, name=name)
    assert [la.name for la in net.layers] == [la.name for la in again.layers]
    for a, b in zip(net.layers, again.layers, strict=True):
        assert np.array_equal(a.weights, b.weights) and a.n_inputs == b.n_inputs
        assert a.deps == b.deps


def test_resnet20_has_residual_joins() -> None:
    net = Network.load(IMPORTED / "resnet20-cifar.json")
    assert len(net.layers) == 22
    assert any(len(la.deps or ()) >= 2 for la in net.layers)


def test_imported_lenet_schedule_is_bit_exact() -> None:
    net = Network.load(IMPORTED / "lenet5.json")
    inst = Instance(load_architecture("mlc2"), net)
    res = solve(inst, "sorted", objective="programming", functional_samples=None,
                bound=False)
    assert verify(inst, res.schedule, functional_samples=None).ok
