"""Import ONNX models as pimopt networks (weights quantised, dependencies from the graph).

Supported weighted operators and how each becomes a K x N layer (the matrix a
crossbar holds; biases stay digital and are not imported):

- ``Conv`` (stride, padding, dilation, groups, depthwise): W (M, C/g, kh, kw)
  becomes a block-diagonal (C kh kw) x M matrix, group by group (the zero
  blocks off the diagonal are never programmed); ``n_inputs`` = batch x
  H_out x W_out from the inferred output shape.
- ``ConvTranspose``: W (C, M/g, kh, kw) becomes a block-diagonal C x (M kh kw)
  matrix applied to every input pixel (``n_inputs`` = batch x H_in x W_in).
- ``Gemm`` (``transA``/``transB``): the constant operand, transposed as needed,
  so that Y = X W with W of K x N; ``n_inputs`` = the rows of Y.
- ``MatMul`` with one constant 2-D operand: X W (W constant) or A X (then the
  matrix is A^T and the input vectors are the columns of X).

Weights may be graph initializers or ``Constant`` node outputs. A
``BatchNormalization`` that directly follows a Conv, ConvTranspose, Gemm or
MatMul is folded into its weights (scale gamma / sqrt(var + eps) per output
channel). Layer dependencies are the nearest weighted ancestors in the graph
(branches and residual joins give a DAG). Any other operator that carries
weights (RNNs, quantised and integer kernels, Einsum, ...) is an error naming
it: no weights are skipped silently. Element-wise and shape operators with
constant operands (Add, Mul, Reshape, Pad, ...) and biases run in the digital
periphery, not in crossbars, and are not imported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pimopt.errors import InputError
from pimopt.network import Layer, Network
from pimopt.quantize import quantize_symmetric
from pimopt.tensors import conv_matrix, conv_transpose_matrix

SUPPORTED = ("Conv", "ConvTranspose", "Gemm", "MatMul")
WEIGHTED_UNSUPPORTED = ("LSTM", "GRU", "RNN", "QLinearConv", "QLinearMatMul", "ConvInteger",
                        "MatMulInteger", "Einsum", "DeformConv", "Attention",
                        "MultiHeadAttention", "QGemm", "DynamicQuantizeMatMul")


def _attr(node: Any, name: str, default: Any) -> Any:
    import onnx

    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def _shape_of(vi: Any) -> list[int | str | None]:
    dims: list[int | str | None] = []
    for d in vi.type.tensor_type.shape.dim:
        if d.HasField("dim_value"):
            dims.append(int(d.dim_value))
        elif d.HasField("dim_param"):
            dims.append(d.dim_param)
        else:
            dims.append(None)
    return dims


def import_onnx(path: str | Path, *, input_shape: tuple[int, ...] | None = None,
                batch: int | None = None, quant: str = "per-tensor", bits: int = 8,
                name: str | None = None, encoding: str = "differential") -> Network:
    """Read an ONNX model and return its weighted layers as a :class:`Network`.

    Parameters
    ----------
    path
        The ``.onnx`` file.
    input_shape
        Shape of the (single) graph input, e.g. ``(1, 3, 224, 224)``; needed when
        the model's input has dynamic dimensions (its batch included).
    batch
        Overrides the first input dimension (the batch).
    quant, bits
        Symmetric quantisation of every layer's weights (``per-tensor`` or
        ``per-channel``), ``bits`` wide.
    name
        Network name (default: the file stem).
    encoding
        Signed-weight encoding of the network.

    Raises
    ------
    InputError
        Malformed file, unsupported weighted operator, missing input shape.
    """
    import onnx
    from onnx import numpy_helper, shape_inference

    p = Path(path)
    try:
        model = onnx.load(str(p))
    except FileNotFoundError:
        raise InputError(f"ONNX file {p} does not exist") from None
    except Exception as exc:  # protobuf raises several types for a corrupt file
        raise InputError(f"{p} is not a valid ONNX model: {type(exc).__name__}: {exc}") from None
    try:
        onnx.checker.check_model(model)
    except Exception as exc:
        raise InputError(f"{p} is not a valid ONNX model: {str(exc).splitlines()[0]}") from None
    graph = model.graph
    consts: dict[str, NDArray[Any]] = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            value = _attr(node, "value", None)
            if value is not None:
                consts[node.output[0]] = numpy_helper.to_array(value)
    inputs = [i for i in graph.input if i.name not in consts]
    if not inputs:
        raise InputError(f"{p}: the graph has no non-constant input")
    # fix the input shape (dynamic dimensions need one) before shape inference
    for gi in inputs:
        dims = _shape_of(gi)
        want: list[int | str | None] = list(input_shape) if input_shape is not None else dims
        if input_shape is not None and len(input_shape) != len(dims) and dims:
            raise InputError(f"--input-shape has {len(input_shape)} dimensions, input "
                             f"{gi.name!r} has {len(dims)}")
        if batch is not None and want:
            want[0] = batch
        if any(not isinstance(d, int) or d < 1 for d in want):
            raise InputError(f"input {gi.name!r} has dynamic or unknown dimensions "
                             f"{dims}: pass --input-shape (e.g. 1x3x224x224)")
        shape = gi.type.tensor_type.shape
        del shape.dim[:]
        for d in want:
            shape.dim.add().dim_value = int(d)  # type: ignore[arg-type]
        if input_shape is not None or batch is not None:
            break  # the given shape applies to the first input only
    for go in graph.output:  # declared output shapes may hold the old dynamic dimensions
        go.type.tensor_type.ClearField("shape")
    try:
        model = shape_inference.infer_shapes(model, strict_mode=False)
    except Exception as exc:
        raise InputError(f"{p}: ONNX shape inference failed: {exc}") from None
    graph = model.graph
    shapes: dict[str, list[int | str | None]] = {}
    for vi in list(graph.input) + list(graph.value_info) + list(graph.output):
        shapes[vi.name] = _shape_of(vi)
    producer = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for i in node.input:
            consumers.setdefault(i, []).append(node)

    layers: list[Layer] = []
    layer_of_node: dict[int, str] = {}
    folded_into: dict[str, str] = {}  # BN output tensor -> layer name
    for idx, node in enumerate(graph.node):
        op = node.op_type
        const_inputs = [i for i in node.input if i in consts and consts[i].ndim >= 2]
        if op in WEIGHTED_UNSUPPORTED or (op not in SUPPORTED and op not in (
                "BatchNormalization", "Constant", "Reshape", "Expand", "Tile", "Add", "Mul",
                "Sub", "Div", "Concat", "Where", "Pad", "Resize", "Slice", "Gather",
                "ConstantOfShape", "Range", "Shape") and const_inputs):
            raise InputError(f"operator {op} (node {node.name or idx!r}) carries weights "
                             f"({', '.join(const_inputs) or 'its inputs'}) but is not "
                             f"supported; supported: {', '.join(SUPPORTED)}")
        if op not in SUPPORTED:
            continue
        lname = node.name or f"{op.lower()}{idx}"
        w, n_inputs, kind, info = _layer_matrix(node, consts, shapes, lname)
        if w is None:
            continue  # MatMul between two activations: no weights
        out = node.output[0]
        bn = [c for c in consumers.get(out, []) if c.op_type == "BatchNormalization"]
        if len(bn) == 1 and len(consumers.get(out, [])) == 1:
            w = _fold_bn(bn[0], w, consts, kind, info, lname)
            folded_into[bn[0].output[0]] = lname
            info["batchnorm_folded"] = bn[0].name or "BatchNormalization"
        if not np.all(np.isfinite(w)):
            raise InputError(f"layer {lname}: weights contain NaN or infinite values")
        q, _ = quantize_symmetric(w, bits=bits, mode=quant)
        deps = _weighted_ancestors(node, producer, layer_of_node)
        layers.append(Layer(lname, q, n_inputs=n_inputs, deps=tuple(deps), kind=kind,
                            info=info))
        layer_of_node[id(node)] = lname
    if not layers:
        raise InputError(f"{p}: no weighted layer ({', '.join(SUPPORTED)}) found")
    _dedupe_names(layers)
    return Network(name=name or p.stem, layers=tuple(layers), weight_bits=bits,
                   encoding=encoding,
                   source=f"ONNX import of {p.name} (input shape "
                          f"{'x'.join(str(d) for d in (_shape_of(inputs[0]) or []))}, "
                          f"{quant} {bits}-bit symmetric)")


def _dedupe_names(layers: list[Layer]) -> None:
    seen: set[str] = set()
    for la in layers:
        if la.name in seen:
            raise InputError(f"two weighted nodes are both named {la.name!r}")
        seen.add(la.name)


def _weighted_ancestors(node: Any, producer: dict[str, Any],
                        layer_of_node: dict[int, str]) -> list[str]:
    """Names of the nearest weighted layers upstream of ``node`` (through any other ops)."""
    found: list[str] = []
    stack = list(node.input)
    seen: set[str] = set()
    while stack:
        t = stack.pop()
        if t in seen or t not in producer:
            continue
        seen.add(t)
        src = producer[t]
        if id(src) in layer_of_node:
            if layer_of_node[id(src)] not in found:
                found.append(layer_of_node[id(src)])
            continue
        stack.extend(src.input)
    return found


def _numel(dims: list[int | str | None], lname: str, what: str) -> int:
    if not dims or any(not isinstance(d, int) for d in dims):
        raise InputError(f"layer {lname}: the {what} shape {dims} is unknown after shape "
                         "inference: pass --input-shape")
    return int(np.prod([int(d) for d in dims if isinstance(d, int)]))


def _layer_matrix(node: Any, consts: dict[str, NDArray[Any]],
                  shapes: dict[str, list[int | str | None]], lname: str
                  ) -> tuple[NDArray[np.float64] | None, int, str, dict[str, Any]]:
    """(K x N float matrix, n_inputs, kind, info) of a supported weighted node."""
    op = node.op_type
    out_shape = shapes.get(node.output[0], [])
    if op in ("Conv", "ConvTranspose"):
        if len(node.input) < 2 or node.input[1] not in consts:
            raise InputError(f"layer {lname}: {op} weights are not constant")
        w = consts[node.input[1]].astype(np.float64)
        if w.ndim != 4:
            raise InputError(f"layer {lname}: only 2-D convolutions are supported "
                             f"(weight rank {w.ndim})")
        g = int(_attr(node, "group", 1))
        info: dict[str, Any] = {
            "op": op, "groups": g, "kernel": list(w.shape[2:]),
            "strides": list(_attr(node, "strides", [1, 1])),
            "pads": list(_attr(node, "pads", [0, 0, 0, 0])),
            "dilations": list(_attr(node, "dilations", [1, 1])), "output_shape": out_shape}
        _check_input(shapes.get(node.input[0], []), 1,
                     w.shape[1] * g if op == "Conv" else w.shape[0], lname, "channels")
        if op == "Conv":
            mat = conv_matrix(w, g)
            n_inputs = _numel([out_shape[0], *out_shape[2:]] if out_shape else [], lname,
                              "output")
            info.update(in_channels=w.shape[1] * g, out_channels=w.shape[0])
            return mat, n_inputs, "conv", info
        mat = conv_transpose_matrix(w, g)
        in_shape = shapes.get(node.input[0], [])
        n_inputs = _numel([in_shape[0], *in_shape[2:]] if in_shape else [], lname, "input")
        info.update(in_channels=w.shape[0], out_channels=w.shape[1] * g)
        return mat, n_inputs, "conv_transpose", info
    if op == "Gemm":
        a_name, b_name = node.input[0], node.input[1]
        ta, tb = int(_attr(node, "transA", 0)), int(_attr(node, "transB", 0))
        info = {"op": op, "transA": ta, "transB": tb, "output_shape": out_shape}
        if b_name in consts:
            b = consts[b_name].astype(np.float64)
            mat = b.T if tb else b
            _check_input(shapes.get(a_name, []), 0 if ta else 1, mat.shape[0], lname,
                         "features")
            n_inputs = _numel(out_shape[:1], lname, "output")
        elif a_name in consts:
            a = consts[a_name].astype(np.float64)
            mat = (a.T if ta else a).T  # Y = A' X'  <=>  Y^T = X'^T A'^T
            n_inputs = _numel(out_shape[1:2], lname, "output")
            info["constant_operand"] = "A"
        else:
            return None, 0, "fc", info
        return mat, n_inputs, "fc", info
    # MatMul
    a_name, b_name = node.input[0], node.input[1]
    info = {"op": op, "output_shape": out_shape}
    if b_name in consts:
        b = consts[b_name].astype(np.float64)
        if b.ndim != 2:
            raise InputError(f"layer {lname}: MatMul with a constant operand of rank {b.ndim}"
                             " is not supported (only 2-D weights)")
        _check_input(shapes.get(a_name, []), -1, b.shape[0], lname, "features")
        n_inputs = _numel(out_shape[:-1], lname, "output")
        return b, n_inputs, "matmul", info
    if a_name in consts:
        a = consts[a_name].astype(np.float64)
        if a.ndim != 2:
            raise InputError(f"layer {lname}: MatMul with a constant operand of rank {a.ndim}"
                             " is not supported (only 2-D weights)")
        n_inputs = _numel(out_shape[:-2] + out_shape[-1:], lname, "output")
        info["constant_operand"] = "A"
        return a.T, n_inputs, "matmul", info
    return None, 0, "matmul", info


def _check_input(dims: list[int | str | None], axis: int, expected: int, lname: str,
                 what: str) -> None:
    """The layer's data input, where its shape is known, has the size the weights expect
    at ``axis`` (an ``--input-shape`` that contradicts the model fails here)."""
    if not dims or not -len(dims) <= axis < len(dims):
        return
    got = dims[axis]
    if isinstance(got, int) and got > 0 and got != expected:
        raise InputError(f"layer {lname}: its input has {got} {what} (input shape "
                         f"{'x'.join(str(d) for d in dims)}) but its weights take {expected}: "
                         "the input shape contradicts the model (check --input-shape)")


def _fold_bn(bn: Any, w: NDArray[np.float64], consts: dict[str, NDArray[Any]], kind: str,
             info: dict[str, Any], lname: str) -> NDArray[np.float64]:
    """Scale the output columns of ``w`` by gamma / sqrt(var + eps)."""
    names = list(bn.input)
    if len(names) < 5 or any(n not in consts for n in names[1:5]):
        raise InputError(f"layer {lname}: the BatchNormalization after it has non-constant "
                         "parameters and cannot be folded")
    gamma, var = consts[names[1]].astype(np.float64), consts[names[4]].astype(np.float64)
    eps = float(_attr(bn, "epsilon", 1e-5))
    scale = gamma / np.sqrt(var + eps)
    if kind == "conv_transpose":
        per = w.shape[1] // scale.size  # columns are (out channel, kh, kw)
        return w * np.repeat(scale, per)[None, :]
    if scale.size != w.shape[1]:
        raise InputError(f"layer {lname}: BatchNormalization has {scale.size} channels, the "
                         f"layer has {w.shape[1]} outputs")
    return w * scale[None, :]
