"""The committed digits models: their recorded accuracies are real and their import exact."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from onnx.reference import ReferenceEvaluator

from pimopt import Network
from pimopt.onnx_import import import_onnx
from pimopt.quantize import quantize_symmetric

TRAINED = Path(__file__).resolve().parents[1] / "instances/trained"


@pytest.mark.parametrize("name", ["digits-mlp", "digits-cnn"])
def test_recorded_accuracy_is_the_test_split_accuracy(name: str) -> None:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    record = json.loads((TRAINED / "accuracy.json").read_text())[name]
    data = load_digits()
    _, x_te, _, y_te = train_test_split(data.images / 16.0, data.target, test_size=0.25,
                                        random_state=record["seed"], stratify=data.target)
    out: Any = ReferenceEvaluator(str(TRAINED / f"{name}.onnx")).run(
        None, {"x": x_te.reshape(-1, 1, 8, 8).astype(np.float32)})
    acc = float((np.asarray(out[0]).argmax(axis=1) == y_te).mean())
    assert acc == pytest.approx(record["test_accuracy_float"], abs=1e-9)
    assert acc > 0.9 and record["test_samples"] == len(y_te)


@pytest.mark.parametrize("name", ["digits-mlp", "digits-cnn"])
def test_committed_instance_is_the_import(name: str) -> None:
    net = Network.load(TRAINED / f"{name}.json")
    again = import_onnx(TRAINED / f"{name}.onnx", batch=1, name=name)
    for a, b in zip(net.layers, again.layers, strict=True):
        assert np.array_equal(a.weights, b.weights)
    # the first layer's weights are the quantised ONNX initializer
    model = onnx.load(str(TRAINED / f"{name}.onnx"))
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    first = inits["w1"] if name == "digits-mlp" else inits["k1"].reshape(8, 9).T
    q, _ = quantize_symmetric(first.astype(np.float64), bits=8)
    assert np.array_equal(net.layers[0].weights, q)
