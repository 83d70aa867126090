from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pimopt import InputError, Instance, Network, solve, verify
from pimopt.architecture import Architecture
from pimopt.cli import main
from pimopt.models.generate import real_shaped, synthetic, tiny


def test_synthetic_controls_distribution_and_sparsity() -> None:
    dense = synthetic([(256, 64, 4)], dist="normal", seed=1)
    sparse = synthetic([(256, 64, 4)], dist="laplace", sparsity=0.7, seed=1)
    zd = (dense.layers[0].weights == 0).mean()
    zs = (sparse.layers[0].weights == 0).mean()
    assert zd < 0.1 and 0.7 <= zs < 0.8
    assert synthetic([(8, 4, 1)], seed=3).content_hash() == synthetic([(8, 4, 1)],
                                                                       seed=3).content_hash()
    assert synthetic([(8, 4, 1)], seed=3).content_hash() != synthetic([(8, 4, 1)],
                                                                       seed=4).content_hash()
    with pytest.raises(InputError, match="sparsity"):
        synthetic([(8, 4, 1)], sparsity=1.0)
    with pytest.raises(InputError, match="distribution"):
        synthetic([(8, 4, 1)], dist="cauchy")


@pytest.mark.parametrize(("model", "params"), [("vgg16", 14_715_584), ("resnet18", 11_164_352),
                                               ("resnet50", 23_467_712)])
def test_real_shaped_parameter_counts(model: str, params: int) -> None:
    # conv + fc weights (no biases, no BN) of the CIFAR variants
    net = real_shaped(model, "cifar")
    assert sum(la.weights.size for la in net.layers) == params


def test_resnet_dependencies_and_inputs() -> None:
    net = real_shaped("resnet18", "cifar", batch=2)
    by = {la.name: la for la in net.layers}
    assert by["conv1"].n_inputs == 2 * 32 * 32
    assert by["layer2.0.conv1"].n_inputs == 2 * 16 * 16  # stride 2
    # the block after a join depends on both the main path and the shortcut
    assert set(by["layer2.0.conv1"].deps or ()) == {"layer1.1.conv2", "layer1.0.conv2", "conv1"}
    assert set(by["layer2.1.conv1"].deps or ()) == {"layer2.0.conv2", "layer2.0.downsample"}
    assert by["fc"].n_inputs == 2 and by["fc"].shape == (512, 10)


def test_mobilenet_depthwise_is_a_grouped_layer() -> None:
    net = real_shaped("mobilenetv2", "cifar")
    dw = next(la for la in net.layers if la.name.endswith("depthwise"))
    g = dw.info["groups"]
    # one 3x3 window per channel, side by side: the block-diagonal zeros do not exist
    assert dw.groups == g and dw.shape == (9, g) and dw.in_features == 9 * g


def test_imagenet_variant_and_errors() -> None:
    net = real_shaped("resnet18", "imagenet")
    assert net.layers[0].n_inputs == 112 * 112 and net.layers[-1].shape == (512, 1000)
    with pytest.raises(InputError, match="model"):
        real_shaped("alexnet")
    with pytest.raises(InputError, match="dataset"):
        real_shaped("vgg16", "mnist")


def test_tiny_instances_solve_and_verify() -> None:
    arch = Architecture(crossbars=1, rows=16, cols=16)
    for net in tiny(0):
        inst = Instance(arch, net)
        res = solve(inst, "cpsat", objective="programming", decomposition="whole",
                    time_limit=30)
        assert res.status == "optimal" and verify(inst, res.schedule, functional_samples=None).ok


def test_cli_generate_and_import(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "synthetic", "--layers", "64x16:4,16x8", "--sparsity", "0.5",
                 "-o", str(tmp_path / "syn")]) == 0
    net = Network.load(tmp_path / "syn.json")
    assert [la.shape for la in net.layers] == [(64, 16), (16, 8)]
    assert main(["generate", "tiny", "-o", str(tmp_path / "tiny")]) == 0
    assert len(list((tmp_path / "tiny").glob("*.json"))) == 3
    assert main(["generate", "real", "-o", str(tmp_path / "x")]) == 2
    assert "needs --model" in capsys.readouterr().err
    # import a small ONNX model end to end
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.random.default_rng(0).normal(size=(4, 3, 3, 3)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], name="conv")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4, 6, 6])],
        [numpy_helper.from_array(w, "w")])
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
              str(path))
    capsys.readouterr()
    assert main(["import", str(path), "-o", str(tmp_path / "imp")]) == 2
    assert "--input-shape" in capsys.readouterr().err
    assert not (tmp_path / "imp.json").exists()
    assert main(["import", str(path), "--input-shape", "2x3x8x8", "--quant", "per-channel",
                 "-o", str(tmp_path / "imp")]) == 0
    out = capsys.readouterr().out
    assert "conv" in out and "wrote" in out
    assert Network.load(tmp_path / "imp.json").layers[0].n_inputs == 2 * 36
