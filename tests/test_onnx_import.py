"""ONNX import: every supported operator and attribute on small graphs built here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from pimopt import InputError, Instance, solve, verify
from pimopt.encoding import decode_cells
from pimopt.models.onnx_import import import_onnx
from pimopt.quantize import quantize_symmetric
from pimopt.tensors import conv_matrix
from tests.conftest import small_arch

RNG = np.random.default_rng(0)


def save(tmp: Path, nodes: list[Any], x_shape: list[Any], inits: dict[str, np.ndarray],
         out_name: str = "y", name: str = "m") -> Path:
    def build(y_shape: list[Any] | None) -> onnx.ModelProto:
        graph = helper.make_graph(
            nodes, name,
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
            [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, y_shape)],
            [numpy_helper.from_array(v.astype(np.float32), k) for k, v in inits.items()])
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])

    # the output's shape, from running the graph once (a graph output needs one)
    concrete = [d if isinstance(d, int) else 1 for d in x_shape]
    try:
        y = run_ref(build([]), RNG.normal(size=concrete).astype(np.float32))
        y_shape: list[Any] = list(y.shape)
        if not isinstance(x_shape[0], int):
            y_shape[0] = x_shape[0]
    except Exception:  # operators the reference runtime lacks: leave the shape open
        y_shape = ["?"]
    model = build(y_shape)
    path = tmp / f"{name}.onnx"
    onnx.save(model, str(path))
    return path


def run_ref(model: Any, x: np.ndarray) -> np.ndarray:
    """Output of the ONNX reference runtime."""
    out: Any = ReferenceEvaluator(model).run(None, {"x": x})
    return np.asarray(out[0])


def im2col(x: np.ndarray, kh: int, kw: int, stride: int, pad: int, dil: int) -> np.ndarray:
    """(N, C, H, W) -> (N * Ho * Wo, C * kh * kw) in the (c, kh, kw) order of the import."""
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    ho = (h + 2 * pad - dil * (kh - 1) - 1) // stride + 1
    wo = (w + 2 * pad - dil * (kw - 1) - 1) // stride + 1
    cols = np.empty((n, ho, wo, c, kh, kw))
    for i in range(kh):
        for j in range(kw):
            cols[:, :, :, :, i, j] = xp[:, :, i * dil: i * dil + stride * ho: stride,
                                        j * dil: j * dil + stride * wo: stride].transpose(0, 2,
                                                                                          3, 1)
    return cols.reshape(n * ho * wo, c * kh * kw)


def check_weights(layer_w: np.ndarray, ref: np.ndarray) -> None:
    q, _ = quantize_symmetric(ref, bits=8)
    assert np.array_equal(layer_w, q)


@pytest.mark.parametrize(("groups", "cin", "cout"), [(1, 3, 4), (2, 4, 6), (4, 4, 4)])
def test_conv_with_stride_padding_dilation_groups(tmp_path: Path, groups: int, cin: int,
                                                  cout: int) -> None:
    w = RNG.normal(size=(cout, cin // groups, 3, 3))
    node = helper.make_node("Conv", ["x", "w"], ["y"], strides=[2, 2], pads=[1, 1, 1, 1],
                            dilations=[2, 2], group=groups, name="conv")
    path = save(tmp_path, [node], [2, cin, 9, 9], {"w": w})
    net = import_onnx(path)
    (layer,) = net.layers
    assert layer.kind == "conv" and layer.info["groups"] == groups
    x = RNG.normal(size=(2, cin, 9, 9)).astype(np.float32)
    y = run_ref(str(path), x)
    assert layer.n_inputs == 2 * y.shape[2] * y.shape[3]
    # the imported matrix computes the convolution: im2col(x) @ W == y, for a grouped
    # layer group by group (each group's columns read its own input channels)
    net_f = import_float_matrix(path)
    assert layer.groups == groups and layer.shape == (cin // groups * 9, cout)
    cols = im2col(x.astype(np.float64), 3, 3, 2, 1, 2)
    kg, ng = cin // groups * 9, cout // groups
    prod = np.concatenate([cols[:, g * kg:(g + 1) * kg] @ net_f[:, g * ng:(g + 1) * ng]
                           for g in range(groups)], axis=1)
    got = prod.reshape(2, y.shape[2], y.shape[3], cout).transpose(0, 3, 1, 2)
    assert np.allclose(got, y, atol=1e-4)
    check_weights(layer.weights, net_f)


def import_float_matrix(path: Path) -> np.ndarray:
    """The float K x N matrix of the (single) layer, before quantisation."""
    from unittest import mock

    from pimopt.models import onnx_import

    with mock.patch.object(onnx_import, "quantize_symmetric",
                           wraps=onnx_import.quantize_symmetric) as spy:
        import_onnx(path)
    return np.asarray(spy.call_args.args[0])


def test_depthwise_round_trip_through_blocks(tmp_path: Path) -> None:
    w = RNG.normal(size=(8, 1, 3, 3))
    node = helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1], group=8)
    path = save(tmp_path, [node], [1, 8, 6, 6], {"w": w})
    net = import_onnx(path, quant="per-channel")
    inst = Instance(small_arch(rows=8, cols=8), net)
    (layer,) = net.layers
    assert layer.groups == 8 and layer.shape == (9, 8)  # no zero blocks off the diagonal
    t = inst.tilings[0]
    r, c = inst.arch.ou_rows, inst.arch.ou_cols  # 4x4 OUs: a channel's 8 cells = 2 tiles
    assert (t.row_tiles, t.col_tiles, t.tiles_per_group) == (3, 16, 2)
    tiles = inst.patterns[: t.n_blocks].reshape(t.row_tiles, t.col_tiles, r, c)
    cells = tiles.transpose(0, 2, 1, 3).reshape(t.row_tiles * r, t.col_tiles * c)
    k, n = layer.shape
    back = decode_cells(cells[:k], n, net.weight_bits, inst.arch.cell_bits, net.encoding)
    ref, _ = quantize_symmetric(import_float_matrix(path), bits=8, mode="per-channel")
    assert np.array_equal(back, ref)
    # and the schedule computes the depthwise convolution exactly
    res = solve(inst, "sorted", time_limit=10, functional_samples=None)
    assert verify(inst, res.schedule, functional_samples=None).ok


def test_conv_transpose(tmp_path: Path) -> None:
    w = RNG.normal(size=(3, 2, 2, 2))  # C_in, C_out, kh, kw
    node = helper.make_node("ConvTranspose", ["x", "w"], ["y"], strides=[2, 2])
    path = save(tmp_path, [node], [1, 3, 4, 4], {"w": w})
    (layer,) = import_onnx(path).layers
    assert layer.kind == "conv_transpose" and layer.shape == (3, 2 * 2 * 2)
    assert layer.n_inputs == 16  # one input vector per input pixel
    x = RNG.normal(size=(1, 3, 4, 4)).astype(np.float32)
    y = run_ref(str(path), x)
    mat = import_float_matrix(path)
    contrib = (x[0].reshape(3, 16).T @ mat).reshape(4, 4, 2, 2, 2)  # pixel, C_out, kh, kw
    out = np.zeros((2, 8, 8))
    for i in range(4):
        for j in range(4):
            out[:, 2 * i: 2 * i + 2, 2 * j: 2 * j + 2] += contrib[i, j]
    assert np.allclose(out, y[0], atol=1e-4)


def test_gemm_trans_and_constant_a(tmp_path: Path) -> None:
    b = RNG.normal(size=(5, 7))  # transB: B is N x K
    node = helper.make_node("Gemm", ["x", "b"], ["y"], transB=1, alpha=0.5)
    path = save(tmp_path, [node], [3, 7], {"b": b}, name="gb")
    (layer,) = import_onnx(path).layers
    check_weights(layer.weights, b.T)
    assert layer.n_inputs == 3 and layer.kind == "fc"
    a = RNG.normal(size=(6, 4))  # Y = A^T X with transA: A is K x M... Y (4 x 2)
    node = helper.make_node("Gemm", ["a", "x"], ["y"], transA=1)
    path = save(tmp_path, [node], [6, 2], {"a": a}, name="ga")
    (layer,) = import_onnx(path).layers
    check_weights(layer.weights, a)  # Y^T = X^T A: the matrix is A (6 x 4)
    assert layer.n_inputs == 2


def test_matmul_constant_operand_right_and_left(tmp_path: Path) -> None:
    w = RNG.normal(size=(6, 3))
    path = save(tmp_path, [helper.make_node("MatMul", ["x", "w"], ["y"])], [2, 5, 6], {"w": w},
                name="mr")
    (layer,) = import_onnx(path).layers
    check_weights(layer.weights, w)
    assert layer.n_inputs == 10 and layer.kind == "matmul"
    a = RNG.normal(size=(4, 6))
    path = save(tmp_path, [helper.make_node("MatMul", ["a", "x"], ["y"])], [6, 3], {"a": a},
                name="ml")
    (layer,) = import_onnx(path).layers
    check_weights(layer.weights, a.T)
    assert layer.n_inputs == 3


def test_constant_node_weights_and_batchnorm_folding(tmp_path: Path) -> None:
    w = RNG.normal(size=(4, 2, 1, 1))
    const = helper.make_node("Constant", [], ["w"],
                             value=numpy_helper.from_array(w.astype(np.float32), "wv"))
    conv = helper.make_node("Conv", ["x", "w"], ["c"], name="conv")
    gamma, beta = RNG.uniform(0.5, 2, 4), RNG.normal(size=4)
    mean, var = RNG.normal(size=4), RNG.uniform(0.5, 2, 4)
    bn = helper.make_node("BatchNormalization", ["c", "g", "b", "m", "v"], ["y"], epsilon=1e-3)
    path = save(tmp_path, [const, conv, bn], [1, 2, 3, 3],
                {"g": gamma, "b": beta, "m": mean, "v": var})
    (layer,) = import_onnx(path).layers
    ref = w.reshape(4, 2).T * (gamma / np.sqrt(var + 1e-3))[None, :]
    check_weights(layer.weights, ref)
    assert layer.info["batchnorm_folded"]


def test_residual_join_gives_a_dag(tmp_path: Path) -> None:
    w = {f"w{i}": RNG.normal(size=(2, 2, 1, 1)) for i in range(4)}
    nodes = [
        helper.make_node("Conv", ["x", "w0"], ["a"], name="c0"),
        helper.make_node("Relu", ["a"], ["ar"]),
        helper.make_node("Conv", ["ar", "w1"], ["b"], name="c1"),
        helper.make_node("Conv", ["ar", "w2"], ["c"], name="c2"),
        helper.make_node("Add", ["b", "c"], ["s"]),
        helper.make_node("Conv", ["s", "w3"], ["y"], name="c3"),
    ]
    net = import_onnx(save(tmp_path, nodes, [1, 2, 4, 4], w))
    deps = {la.name: sorted(la.deps or ()) for la in net.layers}
    assert deps == {"c0": [], "c1": ["c0"], "c2": ["c0"], "c3": ["c1", "c2"]}
    assert net.dependencies()[3] == [1, 2]


def test_dynamic_batch_and_input_shape(tmp_path: Path) -> None:
    w = RNG.normal(size=(2, 3, 3, 3))
    path = save(tmp_path, [helper.make_node("Conv", ["x", "w"], ["y"])], ["N", 3, 8, 8],
                {"w": w})
    # the hint is the model's own shape with the batch filled in, and names --batch
    with pytest.raises(InputError, match=r"dynamic or unknown dimensions \['N', 3, 8, 8\]: "
                                         r"pass --input-shape 1x3x8x8 \(or --batch 1"):
        import_onnx(path)
    assert import_onnx(path, batch=4).layers[0].n_inputs == 4 * 6 * 6
    assert import_onnx(path, input_shape=(2, 3, 10, 10)).layers[0].n_inputs == 2 * 8 * 8
    # three channels in the model's weights: a one-channel input shape contradicts it
    with pytest.raises(InputError, match=r"input has 1 channels .* weights take 3"):
        import_onnx(path, input_shape=(1, 1, 8, 8))


def test_input_shape_that_contradicts_the_model_is_an_error(tmp_path: Path) -> None:
    """A 1-channel model given a 3-channel input shape, and a dense layer given the wrong
    feature count, are errors naming the layer, not silently imported."""
    conv = save(tmp_path, [helper.make_node("Conv", ["x", "w"], ["y"])], [1, 1, 8, 8],
                {"w": RNG.normal(size=(2, 1, 3, 3))}, name="c1")
    with pytest.raises(InputError, match=r"3 channels .* weights take 1.*--input-shape"):
        import_onnx(conv, input_shape=(1, 3, 8, 8))
    dense = save(tmp_path, [helper.make_node("MatMul", ["x", "w"], ["y"])], ["N", 6],
                 {"w": RNG.normal(size=(6, 4))}, name="d")
    with pytest.raises(InputError, match=r"input has 5 features .* weights take 6"):
        import_onnx(dense, input_shape=(1, 5))
    assert import_onnx(dense, input_shape=(3, 6)).layers[0].n_inputs == 3
    gemm = save(tmp_path, [helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)], ["N", 6],
                {"w": RNG.normal(size=(4, 6))}, name="g")
    with pytest.raises(InputError, match=r"input has 7 features"):
        import_onnx(gemm, input_shape=(2, 7))


def test_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage that is not a protobuf model")
    with pytest.raises(InputError, match="not a valid ONNX model"):
        import_onnx(bad)
    gru = helper.make_node("GRU", ["x", "W", "R"], ["y"], hidden_size=2, name="rnn")
    path = save(tmp_path, [gru], [1, 1, 3],
                {"W": RNG.normal(size=(1, 6, 3)), "R": RNG.normal(size=(1, 6, 2))}, name="l")
    with pytest.raises(InputError, match=r"operator GRU .* carries weights"):
        import_onnx(path)
    with pytest.raises(InputError, match="does not exist"):
        import_onnx(tmp_path / "nope.onnx")
    relu = save(tmp_path, [helper.make_node("Relu", ["x"], ["y"])], [1, 4], {}, name="r")
    with pytest.raises(InputError, match="no weighted layer"):
        import_onnx(relu)


def test_imported_network_schedule_is_bit_exact(tmp_path: Path) -> None:
    w0, w1 = RNG.normal(size=(4, 2, 3, 3)), RNG.normal(size=(4 * 2 * 2, 3))
    nodes = [helper.make_node("Conv", ["x", "w0"], ["a"], strides=[2, 2], name="conv"),
             helper.make_node("Relu", ["a"], ["r"]),
             helper.make_node("Flatten", ["r"], ["f"]),
             helper.make_node("MatMul", ["f", "w1"], ["y"], name="fc")]
    net = import_onnx(save(tmp_path, nodes, [1, 2, 6, 6], {"w0": w0, "w1": w1}))
    assert [la.name for la in net.layers] == ["conv", "fc"]
    inst = Instance(small_arch(), net)
    res = solve(inst, "assignment", objective="programming", functional_samples=None)
    assert verify(inst, res.schedule, functional_samples=None).ok


def _save_int(tmp: Path, nodes: list[Any], x_shape: list[int], inits: dict[str, np.ndarray],
              name: str, x_type: int = TensorProto.UINT8) -> Path:
    """A model with integer initializers kept in their own types (``save`` casts to float)."""
    graph = helper.make_graph(
        nodes, name, [helper.make_tensor_value_info("x", x_type, x_shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["?"])],
        [numpy_helper.from_array(v, k) for k, v in inits.items()])
    path = tmp / f"{name}.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


def test_integer_kernels_keep_their_stored_weights(tmp_path: Path) -> None:
    """ConvInteger, QLinearConv, MatMulInteger, QLinearMatMul and DequantizeLinear of a
    constant: the layer holds the stored integers minus the zero point (per tensor or per
    channel), exactly, not re-quantised; the network's weight bits grow to hold them."""
    w = RNG.integers(0, 256, size=(4, 2, 3, 3)).astype(np.uint8)
    zp = np.array(128, np.uint8)
    f32 = {"s": np.array(0.05, np.float32)}
    conv_int = helper.make_node("ConvInteger", ["x", "w", "", "wz"], ["q"], name="ci")
    cast = helper.make_node("Cast", ["q"], ["y"], to=TensorProto.FLOAT)
    path = _save_int(tmp_path, [conv_int, cast], [1, 2, 6, 6], {"w": w, "wz": zp}, "ci")
    net = import_onnx(path)
    want = conv_matrix((w.astype(np.int64) - 128).astype(np.float64), 1)
    assert np.array_equal(net.layers[0].weights, want)
    assert net.weight_bits == 9  # uint8 minus 128 reaches -128: outside 8-bit symmetric
    assert "not re-quantised" in net.layers[0].info["quantization"]
    assert net.layers[0].n_inputs == 16

    # QLinearConv with a per-output-channel int8 zero point
    wi = RNG.integers(-100, 100, size=(3, 2, 1, 1)).astype(np.int8)
    wz = np.array([1, -2, 3], np.int8)
    ql = helper.make_node("QLinearConv", ["x", "s", "xz", "w", "ws", "wz", "s", "xz"], ["q"],
                          name="qc")
    deq = helper.make_node("DequantizeLinear", ["q", "s", "xz"], ["y"])
    path = _save_int(tmp_path, [ql, deq], [1, 2, 4, 4],
                     {"w": wi, "wz": wz, "ws": np.full(3, 0.1, np.float32),
                      "xz": np.array(0, np.uint8), **f32}, "qc")
    layer = import_onnx(path).layers[0]
    assert np.array_equal(layer.weights,
                          conv_matrix((wi.astype(np.int64) - wz[:, None, None, None])
                                      .astype(np.float64), 1))

    # MatMulInteger and QLinearMatMul: per-column zero points
    b = RNG.integers(0, 256, size=(5, 3)).astype(np.uint8)
    bz = np.array([10, 20, 30], np.uint8)
    mm = helper.make_node("MatMulInteger", ["x", "b", "", "bz"], ["q"], name="mi")
    path = _save_int(tmp_path, [mm, cast], [2, 5], {"b": b, "bz": bz}, "mi")
    assert np.array_equal(import_onnx(path).layers[0].weights,
                          b.astype(np.int64) - bz[None, :])
    qm = helper.make_node("QLinearMatMul", ["x", "s", "xz", "b", "s", "bz", "s", "xz"], ["q"],
                          name="qm")
    path = _save_int(tmp_path, [qm, deq], [2, 5],
                     {"b": b, "bz": bz, "xz": np.array(0, np.uint8), **f32}, "qm")
    assert np.array_equal(import_onnx(path).layers[0].weights,
                          b.astype(np.int64) - bz[None, :])

    # a float MatMul reading DequantizeLinear(int8 constant): its integers, as stored
    bi = RNG.integers(-50, 50, size=(5, 3)).astype(np.int8)
    dq = helper.make_node("DequantizeLinear", ["b", "bs", "bz8"], ["bf"])
    fm = helper.make_node("MatMul", ["x", "bf"], ["y"], name="fm")
    path = _save_int(tmp_path, [dq, fm], [2, 5],
                     {"b": bi, "bs": np.array(0.02, np.float32), "bz8": np.array(4, np.int8)},
                     "dq", x_type=TensorProto.FLOAT)
    net = import_onnx(path)
    assert np.array_equal(net.layers[0].weights, bi.astype(np.int64) - 4)
    assert net.weight_bits == 8


def test_lstm_becomes_input_and_recurrent_matrices(tmp_path: Path) -> None:
    """A bidirectional LSTM: W^T and R^T per direction, each over sequence x batch input
    vectors, R after W; the layer after it depends on both directions."""
    hidden, size, seq = 2, 3, 5
    w = RNG.normal(size=(2, 4 * hidden, size))
    r = RNG.normal(size=(2, 4 * hidden, hidden))
    lstm = helper.make_node("LSTM", ["x", "W", "R"], ["h"], hidden_size=hidden,
                            direction="bidirectional", name="rnn")
    flat = helper.make_node("Reshape", ["h", "shape"], ["hf"])
    fc = helper.make_node("MatMul", ["hf", "fcw"], ["y"], name="fc")
    path = _save_int(tmp_path, [lstm, flat, fc], [seq, 1, size],
                     {"W": w.astype(np.float32), "R": r.astype(np.float32),
                      "shape": np.array([seq, 2 * hidden]),
                      "fcw": RNG.normal(size=(2 * hidden, 4)).astype(np.float32)}, "lstm",
                     x_type=TensorProto.FLOAT)
    net = import_onnx(path)
    names = [la.name for la in net.layers]
    assert names == ["rnn.forward.W", "rnn.forward.R", "rnn.backward.W", "rnn.backward.R",
                     "fc"]
    fw = net.layers[0]
    assert fw.shape == (size, 4 * hidden) and fw.n_inputs == seq
    assert net.layers[1].shape == (hidden, 4 * hidden) and net.layers[1].deps == (
        "rnn.forward.W",)
    assert set(net.layers[4].deps or ()) == {"rnn.forward.R", "rnn.backward.R"}
    # the same quantisation as a plain matrix: W^T of the forward direction
    q, _ = quantize_symmetric(w[0].T.astype(np.float32).astype(np.float64), bits=8,
                              mode="per-tensor")
    assert np.array_equal(fw.weights, q)


def test_computed_reshape_targets_are_folded(tmp_path: Path) -> None:
    """The flatten of exported models: Shape -> Gather -> Unsqueeze -> Concat -> Reshape
    before a MatMul. With a dynamic batch and --input-shape the target is evaluated, and
    stale symbolic shapes the exporter left in value_info do not survive."""
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
        helper.make_node("Shape", ["c"], ["s"]),
        helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "axes"], ["n1"]),
        helper.make_node("Concat", ["n1", "minus1"], ["target"], axis=0),
        helper.make_node("Reshape", ["c", "target"], ["f"]),
        helper.make_node("MatMul", ["f", "fcw"], ["y"], name="fc"),
    ]
    inits = {"w": RNG.normal(size=(2, 3, 3, 3)), "zero": np.array(0),
             "axes": np.array([0]), "minus1": np.array([-1]),
             "fcw": RNG.normal(size=(2 * 4 * 4, 5))}
    graph = helper.make_graph(
        nodes, "flat", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 6, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])],
        [numpy_helper.from_array(v.astype(np.float32 if k in ("w", "fcw") else np.int64), k)
         for k, v in inits.items()],
        value_info=[helper.make_tensor_value_info("f", TensorProto.FLOAT, ["N", "M"])])
    path = tmp_path / "flat.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    net = import_onnx(path, input_shape=(3, 3, 6, 6))
    assert [la.name for la in net.layers] == ["conv", "fc"]
    assert net.layers[1].n_inputs == 3 and net.layers[1].deps == ("conv",)


def test_shape_inference_stop_names_the_operator(tmp_path: Path) -> None:
    """A custom operator onnx cannot infer leaves the next layer without a shape: the error
    names that operator, not "pass --input-shape" (the input shape is known)."""
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
             helper.make_node("Mystery", ["c"], ["m"], domain="com.example", name="odd"),
             helper.make_node("MatMul", ["m", "fcw"], ["y"], name="fc")]
    graph = helper.make_graph(
        nodes, "custom", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 6, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["?"])],
        [numpy_helper.from_array(RNG.normal(size=(2, 3, 3, 3)).astype(np.float32), "w"),
         numpy_helper.from_array(RNG.normal(size=(4, 5)).astype(np.float32), "fcw")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13),
                                                    helper.make_opsetid("com.example", 1)])
    path = tmp_path / "custom.onnx"
    onnx.save(model, str(path))
    with pytest.raises(InputError, match=r"layer fc: .* stops at Mystery 'odd'"):
        import_onnx(path)


def _external_model(folder: Path) -> tuple[Path, np.ndarray]:
    """A Gemm whose weights are stored as external data next to the model."""
    w = RNG.normal(size=(40, 8)).astype(np.float32)
    path = save(folder, [helper.make_node("Gemm", ["x", "w"], ["y"])], [1, 40], {"w": w},
                name="ext")
    model = onnx.load(str(path))
    onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="ext.bin", size_threshold=0)
    return path, w


def _relocate(path: Path, location: str) -> None:
    model = onnx.load(str(path), load_external_data=False)
    for t in model.graph.initializer:
        for e in t.external_data:
            if e.key == "location":
                e.value = location
    onnx.save(model, str(path))


def test_external_data_inside_the_folder_imports(tmp_path: Path) -> None:
    path, w = _external_model(tmp_path)
    net = import_onnx(path)
    check_weights(net.layers[0].weights, w)


@pytest.mark.parametrize("how", ["climb", "absolute", "symlink out", "missing"])
def test_external_data_outside_the_models_folder_is_refused(tmp_path: Path, how: str) -> None:
    """onnx 1.15.0 read external data through a symlink to /etc/passwd; pimopt reads
    only files inside the model's folder, symlinks resolved, whatever onnx allows."""
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    path, _ = _external_model(model_dir)
    outside = tmp_path / "secret.bin"
    (model_dir / "ext.bin").rename(outside)
    if how == "climb":
        _relocate(path, "../secret.bin")
    elif how == "absolute":
        _relocate(path, str(outside))
    elif how == "symlink out":
        (model_dir / "ext.bin").symlink_to(outside)
    else:
        _relocate(path, "nothing.bin")
    with pytest.raises(InputError, match="external data"):
        import_onnx(path)


@pytest.mark.parametrize(("height", "width"), [(2**32, 2**32), (2**27, 2**27)])
def test_an_output_too_large_to_count_is_refused_not_wrapped(
        tmp_path: Path, height: int, width: int) -> None:
    """2^64 output pixels wrapped to 0 or 2^32 in int64 before; 2^54 exceeds the limit."""
    w = RNG.normal(size=(2, 3, 1, 1))
    path = save(tmp_path, [helper.make_node("Conv", ["x", "w"], ["y"])], ["N", 3, 4, 4],
                {"w": w})
    with pytest.raises(InputError, match=r"input vectors, above the limit of "
                                         r"9,007,199,254,740,992 \(2\^53\)"):
        import_onnx(path, input_shape=(1, 3, height, width))


@pytest.mark.parametrize("groups", [1, 2])
def test_conv1d_is_imported_as_a_layer_of_output_positions(tmp_path: Path,
                                                            groups: int) -> None:
    """Audio front ends, TTS and OCR heads: `only 2-D convolutions are supported (weight
    rank 3)` before. The matrix is im2col's, n_inputs = batch x output length."""
    cin, cout, k = 4, 6, 5
    w = RNG.normal(size=(cout, cin // groups, k))
    node = helper.make_node("Conv", ["x", "w"], ["y"], strides=[2], pads=[1, 2],
                            dilations=[1], group=groups, name="conv1d")
    path = save(tmp_path, [node], [2, cin, 17], {"w": w})
    (layer,) = import_onnx(path).layers
    x = RNG.normal(size=(2, cin, 17)).astype(np.float32)
    y = run_ref(str(path), x)
    assert layer.kind == "conv" and layer.info["spatial_dims"] == 1
    assert layer.n_inputs == 2 * y.shape[2]
    net_f = import_float_matrix(path)
    # im2col of a 1-D signal: pad, then the windows at the strides
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 2)))
    starts = range(0, xp.shape[2] - k + 1, 2)
    cols = np.stack([xp[:, :, s:s + k].reshape(2, cin * k) for s in starts], axis=1)
    kg, ng = cin // groups * k, cout // groups
    prod = np.concatenate([
        np.stack([xp[:, g * (cin // groups):(g + 1) * (cin // groups), s:s + k]
                  .reshape(2, kg) for s in starts], axis=1) @ net_f[:, g * ng:(g + 1) * ng]
        for g in range(groups)], axis=2) if groups > 1 else cols @ net_f
    assert np.allclose(prod.transpose(0, 2, 1), y, atol=1e-4)
    check_weights(layer.weights, net_f)
    # it solves and verifies bit-exactly like any layer
    inst = Instance(small_arch(), import_onnx(path))
    res = solve(inst, "sorted", time_limit=3, functional_samples=None)
    assert verify(inst, res.schedule, functional_samples=None).ok


def _if_model(tmp: Path, constant: bool | None) -> tuple[Path, np.ndarray, np.ndarray]:
    """x (1 x 4) -> If(cond) with MatMul(x, W1) in then, MatMul(x, W2) in else; cond is
    sum(x) > 0 (known only at run time) or a Constant."""
    w1, w2 = RNG.normal(size=(4, 3)), RNG.normal(size=(4, 3))

    def branch(name: str, w: np.ndarray) -> Any:
        return helper.make_graph(
            [helper.make_node("MatMul", ["x", f"{name}_w"], [f"{name}_y"])], name, [],
            [helper.make_tensor_value_info(f"{name}_y", TensorProto.FLOAT, [1, 3])],
            [numpy_helper.from_array(w.astype(np.float32), f"{name}_w")])

    if constant is None:
        cond_nodes = [helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
                      helper.make_node("Constant", [], ["zero"],
                                       value=numpy_helper.from_array(np.array(0, np.float32))),
                      helper.make_node("Greater", ["s", "zero"], ["c"])]
    else:
        cond_nodes = [helper.make_node("Constant", [], ["c"],
                                       value=numpy_helper.from_array(np.array(constant)))]
    graph = helper.make_graph(
        [*cond_nodes, helper.make_node("If", ["c"], ["y"], name="choose",
                                       then_branch=branch("then", w1),
                                       else_branch=branch("else", w2))], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])])
    path = tmp / "if.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path, w1, w2


def test_weights_inside_if_branches_are_named_or_imported_by_branch(tmp_path: Path) -> None:
    """A voice-activity model with its layers in If subgraphs gave "no weighted layer
    found"; now the error says where the weights are and how to choose, and --branch (or
    a constant condition) imports that branch."""
    path, w1, w2 = _if_model(tmp_path, None)
    with pytest.raises(InputError, match=r"weights inside control flow \(If 'choose' holds "
                                         r"2 weighted node\(s\)\).*--branch then\|else"):
        import_onnx(path)
    for branch, w in (("then", w1), ("else", w2)):
        (layer,) = import_onnx(path, branch=branch).layers
        q, _ = quantize_symmetric(w, bits=8, mode="per-tensor")
        assert np.array_equal(layer.weights, q)
    for constant in (True, False):
        cpath, cw1, cw2 = _if_model(tmp_path, constant)
        net = import_onnx(cpath)
        q, _ = quantize_symmetric(cw1 if constant else cw2, bits=8, mode="per-tensor")
        assert np.array_equal(net.layers[0].weights, q)
        assert "constant condition" in net.source
    with pytest.raises(InputError, match="--branch 'both' is invalid"):
        import_onnx(path, branch="both")
