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
from pimopt.models.onnx_import import import_onnx
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


DDDDOCR = Path(__file__).resolve().parent.parent / "instances" / "trained" / "ddddocr"


def test_wheel_models_match_their_provenance() -> None:
    """The committed ddddocr networks are what scripts/fetch_trained.py records: content
    hashes, layer counts, weight bits; the int8 model's layers say their integers are the
    stored ones, and every pinned wheel hash is the one the script checks."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location(
        "fetch_trained", DDDDOCR.parents[2] / "scripts" / "fetch_trained.py")
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    sys.modules["fetch_trained"] = script  # its dataclasses look their module up
    spec.loader.exec_module(script)
    pinned = {w.package: w for w in script.WHEELS}
    records = json.loads((DDDDOCR / "PROVENANCE-ddddocr.json").read_text())
    assert [r["instance"] for r in records] == [m.name for m in pinned["ddddocr"].models]
    for r in records:
        assert r["wheel_sha256"] == pinned["ddddocr"].sha256 and r["licence"] == "MIT"
        net = Network.load(DDDDOCR / f"{r['instance']}.json")
        assert net.content_hash() == r["network_sha256"]
        assert len(net.layers) == r["layers"] and net.weight_bits == r["weight_bits"]
        assert r["wheel_sha256"][:16] in net.source
    int8 = Network.load(DDDDOCR / "ddddocr-ocr-int8.json")
    assert int8.weight_bits == 9
    assert all("not re-quantised" in la.info["quantization"] for la in int8.layers)
    assert {la.info.get("gates") for la in int8.layers} >= {"W", "R"}
    assert (DDDDOCR / "LICENSE-ddddocr").read_text().startswith("The MIT License")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ddddocr-det", "ddddocr-ocr-int8", "ddddocr-ocr"])
def test_wheel_models_solve_and_verify(name: str) -> None:
    """Each real trained model solves with the makespan-aware method, verified."""
    from pimopt import Instance, solve
    from pimopt.architecture import load_architecture

    inst = Instance(load_architecture("default"), Network.load(DDDDOCR / f"{name}.json"))
    res = solve(inst, "balanced", time_limit=120, functional_samples=2)
    assert res.report.ok and res.status in ("feasible", "optimal")
    assert res.metrics["makespan_ns"] > 0


SILERO = Path(__file__).resolve().parent.parent / "instances" / "trained" / "silero-vad"


def test_a_wheel_model_with_1d_convolutions_imports_solves_and_verifies() -> None:
    """silero-vad's 16 kHz detector (MIT wheel): an STFT and encoder of 1-D convolutions
    and an LSTM; three graph inputs. The committed instance is the import of the
    committed ONNX file, and it solves and verifies bit-exactly."""
    from pimopt import Instance, solve, verify
    from pimopt.architecture import load_architecture
    from pimopt.models.onnx_import import import_onnx

    records = {r["instance"]: r for r in
               json.loads((SILERO / "PROVENANCE-silero-vad.json").read_text())}
    net = Network.load(SILERO / "silero-vad-16k.json")
    assert net.content_hash() == records["silero-vad-16k"]["network_sha256"]
    again = import_onnx(SILERO / "silero_vad_16k_sequence.onnx", name="silero-vad-16k",
                        input_shape={"input": (1, 576), "h": (1, 1, 128), "c": (1, 1, 128)})
    assert [la.weights.tobytes() for la in again.layers] == \
        [la.weights.tobytes() for la in net.layers]
    convs = [la for la in net.layers if la.kind == "conv"]
    assert len(convs) == 6 and all(la.info["spatial_dims"] == 1 for la in convs)
    assert {la.info.get("gates") for la in net.layers} >= {"W", "R"}  # the LSTM
    inst = Instance(load_architecture("small-chip"), net)
    res = solve(inst, "balanced", time_limit=5, functional_samples=4)
    assert verify(inst, res.schedule, functional_samples=4).ok


def test_a_wheel_model_with_weights_in_if_branches_names_them() -> None:
    """silero-vad's combined detector keeps its networks inside nested If nodes: the
    importer says so, names the node and the option, never "no weighted layer found"."""
    from pimopt import InputError
    from pimopt.models.onnx_import import import_onnx

    with pytest.raises(InputError, match=r"weights inside control flow \(If 'If_0' holds "
                                         r"\d+ weighted node\(s\)\).*--branch then\|else"):
        import_onnx(SILERO / "silero_vad.onnx",
                    input_shape={"input": (1, 512), "state": (2, 1, 128)})

