"""Import ONNX models as pimopt networks (weights quantised, dependencies from the graph).

Supported weighted operators and how each becomes a K x N layer (the matrix a
crossbar holds; biases stay digital and are not imported):

- ``Conv`` (stride, padding, dilation): W (M, C, kh, kw) becomes a (C kh kw) x
  M matrix; ``n_inputs`` = batch x H_out x W_out from the inferred output
  shape. Grouped and depthwise convolutions (``group = g > 1``) become a
  grouped layer (``Layer.groups = g``): the (C/g kh kw) x M matrix of every
  group's weights side by side, each group reading its own C/g input
  channels, so the zeros of the block-diagonal matrix never exist.
- ``ConvTranspose``: W (C, M/g, kh, kw) becomes a block-diagonal C x (M kh kw)
  matrix applied to every input pixel (``n_inputs`` = batch x H_in x W_in).
- ``Gemm`` (``transA``/``transB``): the constant operand, transposed as needed,
  so that Y = X W with W of K x N; ``n_inputs`` = the rows of Y.
- ``MatMul`` with one constant 2-D operand: X W (W constant) or A X (then the
  matrix is A^T and the input vectors are the columns of X).

Natively quantised graphs keep their stored integers (no re-quantisation;
the layer's ``info["quantization"]`` says so): ``ConvInteger`` and
``QLinearConv`` become a Conv layer, ``MatMulInteger`` and ``QLinearMatMul`` a
MatMul layer, each with the weight's zero point subtracted (per tensor or per
output channel), and a ``DequantizeLinear`` of a constant integer tensor feeds
its integers to the Conv, Gemm or MatMul that reads it (the scales are
digital post-scaling of the outputs). The network's ``weight_bits`` grows to
hold them (an unsigned 8-bit weight minus its zero point needs 9).

``LSTM`` (and onnxruntime's ``DynamicQuantizeLSTM``) becomes two layers per
direction: the input weights W (input size x 4 hidden) and the recurrent
weights R (hidden x 4 hidden), each applied to ``sequence x batch`` vectors;
R depends on W (it runs after the gates' input part). Biases and peepholes
stay digital.

Weights may be graph initializers or ``Constant`` node outputs. A
``BatchNormalization`` that directly follows a Conv, ConvTranspose, Gemm or
MatMul is folded into its weights (scale gamma / sqrt(var + eps) per output
channel). Layer dependencies are the nearest weighted ancestors in the graph
(branches and residual joins give a DAG). Any other operator that carries
weights (GRU, RNN, Einsum, attention, ...) is an error naming it: no weights
are skipped silently. Element-wise and shape operators with
constant operands (Add, Mul, Reshape, Pad, ...) and biases run in the digital
periphery, not in crossbars, and are not imported.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pimopt.errors import InputError
from pimopt.models.onnx_windows import GraphWindows
from pimopt.network import MAX_INPUTS, Layer, Network
from pimopt.quantize import quantize_symmetric
from pimopt.tensors import conv_matrix, conv_transpose_matrix, grouped_conv_matrix
from pimopt.windows import evaluate

SUPPORTED = ("Conv", "ConvTranspose", "Gemm", "MatMul")
# integer kernels: (float operator they compute, weight input, weight zero-point input)
QUANTISED = {"ConvInteger": ("Conv", 1, 3), "QLinearConv": ("Conv", 3, 5),
             "MatMulInteger": ("MatMul", 1, 3), "QLinearMatMul": ("MatMul", 3, 5)}
RECURRENT = ("LSTM", "DynamicQuantizeLSTM")
IMPORTED = (*SUPPORTED, *QUANTISED, *RECURRENT)
WEIGHTED_UNSUPPORTED = ("GRU", "RNN", "Einsum", "DeformConv", "Attention",
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


BRANCHES = ("then", "else")
CONTROL_FLOW = ("If", "Loop", "Scan")


def _control_flow(graph: Any) -> list[tuple[str, str, int]]:
    """(op, node name, weighted nodes in its subgraphs) of every control-flow node."""
    out = []
    for node in graph.node:
        if node.op_type in CONTROL_FLOW:
            n = sum(_weighted_in(a.g) for a in node.attribute if a.type == a.GRAPH)
            out.append((node.op_type, node.name or node.output[0], n))
    return out


def _weighted_in(graph: Any) -> int:
    n = 0
    for node in graph.node:
        if node.op_type in IMPORTED:
            n += 1
        for a in node.attribute:
            if a.type == a.GRAPH:
                n += _weighted_in(a.g)
    return n


def _inline_ifs(graph: Any, branch: str | None) -> list[str]:
    """Replace every ``If`` node by one of its branches: the one its condition picks when
    the condition is a constant, else ``branch``; nested ones too. Returns one note per
    If inlined (an If left in place has neither)."""
    from onnx import helper, numpy_helper

    notes: list[str] = []
    while True:
        consts = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
        for node in graph.node:
            if node.op_type == "Constant" and _attr(node, "value", None) is not None:
                consts[node.output[0]] = numpy_helper.to_array(_attr(node, "value", None))
        nodes, changed = [], False
        for node in graph.node:
            if node.op_type != "If":
                nodes.append(node)
                continue
            cond = consts.get(node.input[0])
            pick = ("then" if bool(np.asarray(cond).reshape(-1)[0]) else "else") \
                if cond is not None and np.asarray(cond).size else branch
            if pick is None:
                nodes.append(node)
                continue
            sub = next(a.g for a in node.attribute if a.name == f"{pick}_branch")
            nodes.extend(sub.node)
            graph.initializer.extend(sub.initializer)
            nodes.extend(helper.make_node("Identity", [so.name], [o])
                         for so, o in zip(sub.output, node.output, strict=True))
            notes.append(f"If {node.name or node.output[0]!r}: the {pick} branch"
                         + (" (constant condition)" if cond is not None else " (--branch)"))
            changed = True
        if not changed:
            return notes
        del graph.node[:]
        graph.node.extend(nodes)


def import_onnx(path: str | Path, *,
                input_shape: tuple[int, ...] | dict[str, tuple[int, ...]] | None = None,
                batch: int | None = None, quant: str = "per-tensor", bits: int = 8,
                name: str | None = None, encoding: str = "differential",
                branch: str | None = None, windows: bool = False) -> Network:
    """Read an ONNX model and return its weighted layers as a :class:`Network`.

    Parameters
    ----------
    path
        The ``.onnx`` file.
    input_shape
        Shape of the first graph input, e.g. ``(1, 3, 224, 224)``, or a dict of
        shapes by input name (models with several inputs: an audio chunk and a
        recurrent state); needed where an input has dynamic dimensions.
    batch
        Overrides the first input dimension (the batch).
    quant, bits
        Symmetric quantisation of every layer's weights (``per-tensor`` or
        ``per-channel``), ``bits`` wide.
    name
        Network name (default: the file stem).
    encoding
        Signed-weight encoding of the network.
    branch
        ``"then"`` or ``"else"``: the branch of every ``If`` node whose condition
        is not a constant (weights inside control flow; an ``If`` with a constant
        condition is replaced by the branch it picks anyway). ``None``: an ``If``
        hiding weighted nodes is an error that says so.
    windows
        Record every convolution's dependency windows on the convolutions it
        reads (:mod:`pimopt.models.onnx_windows`), for the ``window`` dependency
        rule. Off by default: the network (and its hash) is then what it was.

    Raises
    ------
    InputError
        Malformed file, unsupported weighted operator, missing input shape.
    """
    import onnx
    from onnx import numpy_helper, shape_inference

    p = Path(path)
    try:
        # external data only after its paths are checked (_load_external_data)
        model = onnx.load(str(p), load_external_data=False)
    except FileNotFoundError:
        raise InputError(f"ONNX file {p} does not exist") from None
    except Exception as exc:  # protobuf raises several types for a corrupt file
        raise InputError(f"{p} is not a valid ONNX model: {type(exc).__name__}: {exc}") from None
    _load_external_data(model, p)
    try:
        onnx.checker.check_model(model)
    except Exception as exc:
        raise InputError(f"{p} is not a valid ONNX model: {str(exc).splitlines()[0]}") from None
    graph = model.graph
    if branch is not None and branch not in BRANCHES:
        raise InputError(f"--branch {branch!r} is invalid: then or else")
    inlined = _inline_ifs(graph, branch)
    if inlined:
        try:
            onnx.checker.check_model(model)
        except Exception as exc:
            raise InputError(f"{p}: the graph with its If branches inlined is not valid: "
                             f"{str(exc).splitlines()[0]}") from None
    consts: dict[str, NDArray[Any]] = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            value = _attr(node, "value", None)
            if value is not None:
                consts[node.output[0]] = numpy_helper.to_array(value)
    native: set[str] = set()  # constants holding stored integer weights (zero point off)
    for node in graph.node:
        if node.op_type == "DequantizeLinear" and node.input[0] in consts \
                and consts[node.input[0]].dtype.kind in "iu":
            zp = consts.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
            consts[node.output[0]] = _minus_zero_point(consts[node.input[0]], zp,
                                                       int(_attr(node, "axis", 1)))
            native.add(node.output[0])
    _fold_constants(model, consts)
    inputs = [i for i in graph.input if i.name not in consts]
    if not inputs:
        raise InputError(f"{p}: the graph has no non-constant input")
    # fix the input shape (dynamic dimensions need one) before shape inference
    named = dict(input_shape) if isinstance(input_shape, dict) else {}
    unknown = sorted(set(named) - {i.name for i in inputs})
    if unknown:
        raise InputError(f"--input-shape names input(s) {', '.join(unknown)}; the model's "
                         f"inputs are {', '.join(i.name for i in inputs)}")
    first = input_shape if isinstance(input_shape, tuple) else None
    for k, gi in enumerate(inputs):
        dims = _shape_of(gi)
        given = named.get(gi.name, first if k == 0 else None)
        if k > 0 and given is None and not named:
            break  # one shape given, or none: the first input's (as before)
        want: list[int | str | None] = list(given) if given is not None else dims
        if given is not None and len(given) != len(dims) and dims:
            raise InputError(f"--input-shape has {len(given)} dimensions, input "
                             f"{gi.name!r} has {len(dims)}")
        if batch is not None and want:
            want[0] = batch
        if any(not isinstance(d, int) or d < 1 for d in want):
            # suggest the model's own shape, its open dimensions filled (batch 1 first)
            guess = "x".join(str(d) if isinstance(d, int) and d >= 1 else
                             ("1" if i == 0 else "N") for i, d in enumerate(want or [1]))
            only_batch = bool(want) and all(isinstance(d, int) and d >= 1 for d in want[1:])
            raise InputError(f"input {gi.name!r} has dynamic or unknown dimensions "
                             f"{dims}: pass --input-shape {guess}"
                             + (" (or --batch 1: only the batch is open)" if only_batch
                                else " (N: a size of your choice; --batch sets the first)"))
        shape = gi.type.tensor_type.shape
        del shape.dim[:]
        for d in want:
            shape.dim.add().dim_value = int(d)  # type: ignore[arg-type]
        if not named and (input_shape is not None or batch is not None):
            break  # the given shape applies to the first input only
    for go in graph.output:  # declared output shapes may hold the old dynamic dimensions
        go.type.tensor_type.ClearField("shape")
    # so may the exporter's intermediate shapes, which inference would keep as they are
    del graph.value_info[:]
    try:
        # data propagation folds shape sub-graphs (Shape -> Gather -> Concat -> Reshape,
        # the usual flatten of exported models) into constant target shapes
        model = shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
        for _ in range(MAX_FOLD_ROUNDS):  # each fold can reveal the next shape
            folded = _fold_shape_subgraphs(model, consts)
            if not (_shape_contrib_lstms(model) or folded):
                break
            model = shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    except InputError:
        raise
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
    layer_of_node: dict[int, list[str]] = {}
    graph_windows = GraphWindows(producer, shapes, consts, layer_of_node) if windows else None
    n_inputs_of: dict[str, int] = {}
    folded_into: dict[str, str] = {}  # BN output tensor -> layer name
    for idx, node in enumerate(graph.node):
        op = node.op_type
        const_inputs = [i for i in node.input if i in consts and consts[i].ndim >= 2]
        if node.output and all(o in consts for o in node.output if o):
            continue  # computed from constants alone (folded): no layer, no weights lost
        if op in WEIGHTED_UNSUPPORTED or (op not in IMPORTED and op not in (
                "BatchNormalization", "Constant", "Reshape", "Expand", "Tile", "Add", "Mul",
                "Sub", "Div", "Concat", "Where", "Pad", "Resize", "Slice", "Gather",
                "ConstantOfShape", "Range", "Shape", "DequantizeLinear") and const_inputs):
            raise InputError(f"operator {op} (node {node.name or idx!r}) carries weights "
                             f"({', '.join(const_inputs) or 'its inputs'}) but is not "
                             f"supported; supported: {', '.join(IMPORTED)}")
        if op not in IMPORTED:
            continue
        lname = node.name or f"{op.lower()}{idx}"
        if op in RECURRENT:
            deps = _weighted_ancestors(node, producer, layer_of_node)
            made = _recurrent_layers(node, consts, shapes, lname, deps, bits, quant)
            layers += made
            layer_of_node[id(node)] = [la.name for la in made if la.info["gates"] == "R"]
            continue
        graph_node = node  # the graph's own node: dependencies are found through it
        if op in QUANTISED:
            node = _as_float_op(node, consts, native, lname)
        try:
            w, n_inputs, kind, info = _layer_matrix(node, consts, shapes, lname)
        except InputError as exc:
            blocker = _shape_blocker(graph_node.input[0], producer, shapes, consts)
            if blocker is None or "unknown after shape inference" not in str(exc):
                raise
            raise InputError(f"layer {lname}: its shape is unknown because shape inference "
                             f"stops at {blocker}: its inputs have shapes but its output has "
                             "none (an operator onnx cannot infer; a custom or contrib one?)"
                             ) from None
        if w is None:
            continue  # MatMul between two activations: no weights
        stored = node.input[1] in native or node.input[0] in native  # integers as stored
        out = node.output[0]
        bn = [c for c in consumers.get(out, []) if c.op_type == "BatchNormalization"]
        if len(bn) == 1 and len(consumers.get(out, [])) == 1:
            w = _fold_bn(bn[0], w, consts, kind, info, lname)
            folded_into[bn[0].output[0]] = lname
            info["batchnorm_folded"] = bn[0].name or "BatchNormalization"
            stored = False  # scaled by the folding: quantised again below
        if not np.all(np.isfinite(w)):
            raise InputError(f"layer {lname}: weights contain NaN or infinite values")
        q: NDArray[Any]
        if stored:
            q = np.rint(w).astype(np.int64)
            info["quantization"] = (f"stored integers of {op} (zero point subtracted), not "
                                    "re-quantised")
        else:
            q, _ = quantize_symmetric(w, bits=bits, mode=quant)
        deps = _weighted_ancestors(graph_node, producer, layer_of_node)
        wins: dict[str, NDArray[np.int64]] = {}
        if graph_windows is not None and kind == "conv":
            trees = {p: t for p, t in graph_windows.conv_windows(graph_node).items()
                     if p in deps}
            wins = {p: evaluate(t, n_inputs_of, f"layer {lname}: window on {p!r}")
                    for p, t in trees.items()}
            if trees:
                info["window_geometry"] = trees
        layers.append(Layer(lname, q, n_inputs=n_inputs, deps=tuple(deps), kind=kind,
                            info=info, groups=info["groups"] if kind == "conv" else 1,
                            windows=wins))
        layer_of_node[id(graph_node)] = [lname]
        n_inputs_of[lname] = n_inputs
    hidden = [c for c in _control_flow(graph) if c[2]]
    if hidden:  # weights inside control flow would be dropped silently: never
        what = "; ".join(f"{op} {nm!r} holds {n} weighted node(s)" for op, nm, n in hidden)
        raise InputError(f"{p}: weights inside control flow ({what}): pimopt imports the "
                         "straight-line graph; choose the branch of every If with --branch "
                         "then|else (Loop and Scan: export the model unrolled)")
    if not layers:
        raise InputError(f"{p}: no weighted layer ({', '.join(IMPORTED)}) found")
    _dedupe_names(layers)
    # stored integers may need more bits than the float layers' quantisation
    widest = max(int(np.abs(la.weights).max(initial=0)) for la in layers)
    need = max(bits, widest.bit_length() + 1)
    if need > 16:
        raise InputError(f"{p}: stored integer weights up to {widest} need {need} bits, more "
                         "than 16")
    return Network(name=name or p.stem, layers=tuple(layers), weight_bits=need,
                   encoding=encoding,
                   source=f"ONNX import of {p.name} (input shape "
                          f"{'x'.join(str(d) for d in (_shape_of(inputs[0]) or []))}, "
                          f"{quant} {bits}-bit symmetric"
                          + (f"; {', '.join(inlined)}" if inlined else "") + ")")


def _dedupe_names(layers: list[Layer]) -> None:
    seen: set[str] = set()
    for la in layers:
        if la.name in seen:
            raise InputError(f"two weighted nodes are both named {la.name!r}")
        seen.add(la.name)


def _weighted_ancestors(node: Any, producer: dict[str, Any],
                        layer_of_node: dict[int, list[str]]) -> list[str]:
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
            found += [n for n in layer_of_node[id(src)] if n not in found]
            continue
        stack.extend(src.input)
    return found


def _known(dims: list[int | str | None] | None) -> bool:
    return bool(dims) and all(isinstance(d, int) for d in dims or [])


def _shape_blocker(tensor: str, producer: dict[str, Any],
                   shapes: dict[str, list[int | str | None]],
                   consts: dict[str, NDArray[Any]]) -> str | None:
    """The first node upstream of ``tensor`` whose output shape is unknown although its
    data inputs' shapes are known (``"Op 'name'"``); ``None`` if the input itself is."""
    seen: set[str] = set()
    while tensor in producer and tensor not in seen and not _known(shapes.get(tensor)):
        seen.add(tensor)
        node = producer[tensor]
        data = [i for i in node.input if i and i not in consts]
        unknown = [i for i in data if not _known(shapes.get(i))]
        if not unknown:
            return f"{node.op_type} {node.name or node.output[0]!r}"
        tensor = unknown[0]
    return None


def _minus_zero_point(w: NDArray[Any], zp: NDArray[Any] | None, axis: int) -> NDArray[Any]:
    """Stored integers minus their zero point (a scalar, or one per slice along ``axis``)."""
    q = w.astype(np.int64)
    if zp is None or zp.size == 0:
        return q
    z = zp.astype(np.int64)
    if z.size == 1:
        return q - int(z.reshape(-1)[0])
    shape = [1] * q.ndim
    shape[axis % q.ndim] = z.size
    if q.shape[axis % q.ndim] != z.size:
        raise InputError(f"a zero point of {z.size} values does not match axis {axis} of "
                         f"weights {list(q.shape)}")
    return q - z.reshape(shape)


def _as_float_op(node: Any, consts: dict[str, NDArray[Any]], native: set[str],
                 lname: str) -> Any:
    """A Conv or MatMul node standing for an integer kernel, its weight input naming the
    stored integers minus their zero point (added to ``consts`` and ``native``)."""
    import onnx

    float_op, wi, zi = QUANTISED[node.op_type]
    if len(node.input) <= wi or node.input[wi] not in consts:
        raise InputError(f"layer {lname}: {node.op_type} weights are not constant (only a "
                         "constant second operand is imported)")
    w = consts[node.input[wi]]
    zp = consts.get(node.input[zi]) if len(node.input) > zi and node.input[zi] else None
    # per output channel: axis 0 of a convolution's (M, C/g, kh, kw), columns of a matrix
    key = f"{node.input[wi]}#minus-zero-point"
    consts[key] = _minus_zero_point(w, zp, 0 if float_op == "Conv" else -1)
    native.add(key)
    proxy = onnx.NodeProto()
    proxy.CopyFrom(node)
    proxy.op_type = float_op
    proxy.domain = ""
    del proxy.input[:]
    proxy.input.extend([node.input[0], key])
    return proxy


MAX_FOLD_ROUNDS = 8
MAX_FOLD_NODES = 200  # a shape sub-graph larger than this is not evaluated


FOLD_MAX_VALUES = 50_000_000  # constants larger than this are not computed at import


def _fold_constants(model: Any, consts: dict[str, NDArray[Any]]) -> None:
    """Compute, once, the values of nodes whose inputs are all constants (weights an
    exporter reshapes, transposes, unsqueezes or concatenates at run time: an LSTM's W
    stacked from two tensors), with onnx's reference runtime, node by node in graph
    order; weighted and random nodes are left alone."""
    from onnx import helper, numpy_helper
    from onnx.reference import ReferenceEvaluator

    for node in model.graph.node:
        if node.op_type in (*IMPORTED, "Constant", "DequantizeLinear") or \
                node.op_type.startswith("Random") or node.domain not in ("", "ai.onnx") or \
                not node.output or any(o in consts for o in node.output if o):
            continue
        ins = [i for i in node.input if i]
        if not ins or any(i not in consts for i in ins) or \
                sum(consts[i].size for i in ins) > FOLD_MAX_VALUES:
            continue
        try:
            g = helper.make_graph([node], "fold", [],
                                  [helper.make_tensor_value_info(o, 0, None)
                                   for o in node.output if o],
                                  [numpy_helper.from_array(np.asarray(consts[i]), i)
                                   for i in dict.fromkeys(ins)])
            values = ReferenceEvaluator(helper.make_model(
                g, opset_imports=list(model.opset_import))).run(None, {})
        except Exception:
            continue  # not computable here: shape inference and the importer decide
        for o, v in zip([o for o in node.output if o], values, strict=False):
            consts[o] = np.asarray(v)


# the inputs that shape inference needs as values (a target shape, pads, slice bounds,
# axes): computed at run time from shapes and constants, they are folded into constants
FOLDED_INPUTS: dict[str, tuple[int, ...]] = {
    "Reshape": (1,), "Pad": (1, 2, 3), "Slice": (1, 2, 3, 4), "Expand": (1,), "Tile": (1,),
    "ConstantOfShape": (0,), "Unsqueeze": (1,), "Squeeze": (1,), "Range": (0, 1, 2),
    "Resize": (1, 2, 3), "Upsample": (1,)}


def _fold_shape_subgraphs(model: Any, consts: dict[str, NDArray[Any]]) -> bool:
    """Evaluate the shape computations of shape-like inputs (a Reshape target, Pad's pads,
    Slice bounds, ...: :data:`FOLDED_INPUTS`) once the input shape is known.

    A target shape computed at run time (Shape -> Gather -> Concat -> Reshape, or
    arithmetic on shapes) that onnx's data propagation leaves open is evaluated
    with onnx's reference runtime: every Shape in its sub-graph reads a tensor
    whose shape inference has fixed, every other leaf is a constant. The result
    becomes a constant the Reshape reads. Returns True if any target was folded.
    """
    from onnx import helper, numpy_helper
    from onnx.reference import ReferenceEvaluator

    graph = model.graph
    static: dict[str, list[int]] = {}
    for vi in [*graph.input, *graph.value_info, *graph.output]:
        dims = _shape_of(vi)
        if _known(dims):
            static[vi.name] = [d for d in dims if isinstance(d, int)]
    producer = {out: node for node in graph.node for out in node.output}
    folded = False
    inits = {i.name for i in graph.initializer}
    # values folded from constants (_fold_constants): initializers, so that shape inference
    # reads them (pads, targets, an LSTM's stacked weights); stored integers a
    # DequantizeLinear reads keep their name (the importer knows them by it)
    produced = {o: n.op_type for n in graph.node for o in n.output}
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name and name in consts and name not in inits and \
                    produced.get(name, "DequantizeLinear") not in ("DequantizeLinear",
                                                                   "Constant"):
                node.input[i] = f"{name}#folded"
                if node.input[i] not in inits:
                    graph.initializer.append(numpy_helper.from_array(
                        np.asarray(consts[name]), node.input[i]))
                    inits.add(node.input[i])
                consts[node.input[i]] = consts[name]
                folded = True
    for node, slot in [(n, i) for n in graph.node for i in FOLDED_INPUTS.get(n.op_type, ())
                       if i < len(n.input) and n.input[i] and n.input[i] not in consts]:
        target = node.input[slot]
        sub: list[Any] = []
        feeds: dict[str, NDArray[Any]] = {}
        stack, seen, ok = [target], set(), True
        while stack and ok:
            t = stack.pop()
            if t in seen or t == "":
                continue
            seen.add(t)
            if t in consts:
                feeds[t] = consts[t]
                continue
            src = producer.get(t)
            if src is None or len(sub) >= MAX_FOLD_NODES:
                ok = False  # a graph input or too large: not a shape computation
            elif src.op_type == "Shape":
                if src.input[0] not in static:
                    ok = False
                    break
                shp = np.array(static[src.input[0]], dtype=np.int64)
                start, end = int(_attr(src, "start", 0)), _attr(src, "end", None)
                feeds[t] = shp[start:None if end is None else int(end)]
            else:
                sub.append(src)
                stack.extend(src.input)
        if not ok:
            continue
        order = [n for n in graph.node if any(n is m for m in sub)]  # graph order
        try:
            g = helper.make_graph(order, "shape", [],
                                  [helper.make_tensor_value_info(target, 7, None)],
                                  [numpy_helper.from_array(np.asarray(v), k)
                                   for k, v in feeds.items()])
            runtime = ReferenceEvaluator(helper.make_model(
                g, opset_imports=list(model.opset_import)))
            value = runtime.run(None, {})[0]  # type: ignore[index]
        except Exception:
            continue
        name = f"{target}#folded"
        if name not in consts:
            consts[name] = np.asarray(value)
            graph.initializer.append(numpy_helper.from_array(consts[name], name))
        node.input[slot] = name
        folded = True
    return folded


def _shape_contrib_lstms(model: Any) -> bool:
    """Give onnxruntime's DynamicQuantizeLSTM outputs the shapes of an LSTM's (Y: seq x
    directions x batch x hidden); True if any was added."""
    from onnx import TensorProto, helper

    graph = model.graph
    known = {vi.name: _shape_of(vi) for vi in [*graph.input, *graph.value_info]}
    added = False
    for node in graph.node:
        if node.op_type != "DynamicQuantizeLSTM" or not node.output or not node.output[0]:
            continue
        x = known.get(node.input[0], [])
        hidden = int(_attr(node, "hidden_size", 0))
        dirs = 2 if _attr(node, "direction", b"forward") in (b"bidirectional",
                                                              "bidirectional") else 1
        if len(x) == 3 and _known(x[:2]) and hidden > 0:
            graph.value_info.append(helper.make_tensor_value_info(
                node.output[0], TensorProto.FLOAT, [x[0], dirs, x[1], hidden]))
            added = True
    return added


def _recurrent_layers(node: Any, consts: dict[str, NDArray[Any]],
                      shapes: dict[str, list[int | str | None]], lname: str, deps: list[str],
                      bits: int, quant: str) -> list[Layer]:
    """Per direction, the input (W) and recurrent (R) weight matrices of an LSTM."""
    op = node.op_type
    if len(node.input) < 3 or node.input[1] not in consts or node.input[2] not in consts:
        raise InputError(f"layer {lname}: {op} weights are not constant")
    if int(_attr(node, "layout", 0)) != 0:
        raise InputError(f"layer {lname}: {op} with layout=1 (batch first) is not supported")
    x = shapes.get(node.input[0], [])
    n_inputs = _numel(list(x[:2]), lname, "input")  # sequence x batch vectors
    mats = {"W": consts[node.input[1]], "R": consts[node.input[2]]}
    stored = op == "DynamicQuantizeLSTM"
    if stored:  # onnxruntime: W (dirs, input, 4 hidden), R (dirs, hidden, 4 hidden), int8
        zps = {"W": consts.get(node.input[9]) if len(node.input) > 9 else None,
               "R": consts.get(node.input[11]) if len(node.input) > 11 else None}
        def per_direction(m: NDArray[Any], zp: NDArray[Any] | None) -> NDArray[Any]:
            return np.stack([_minus_zero_point(m[d], None if zp is None else
                                               zp.reshape(m.shape[0], -1)[d], -1)
                             for d in range(m.shape[0])])
        mats = {g: per_direction(m, zps[g]) for g, m in mats.items()}
    else:  # ONNX: W (dirs, 4 hidden, input), R (dirs, 4 hidden, hidden)
        mats = {g: np.transpose(m.astype(np.float64), (0, 2, 1)) for g, m in mats.items()}
    out: list[Layer] = []
    names = ("forward", "backward")
    for d in range(mats["W"].shape[0]):
        prev = deps
        for gate in ("W", "R"):
            m = mats[gate][d]
            if stored:
                q = m.astype(np.int64)
                how = f"stored integers of {op} (zero point subtracted), not re-quantised"
            else:
                if not np.all(np.isfinite(m)):
                    raise InputError(f"layer {lname}: weights contain NaN or infinite values")
                q, _ = quantize_symmetric(m, bits=bits, mode=quant)
                how = f"{quant} {bits}-bit symmetric"
            name = f"{lname}.{names[d] if mats['W'].shape[0] > 1 else 'lstm'}.{gate}"
            out.append(Layer(name, q, n_inputs=n_inputs, deps=tuple(prev), kind="fc",
                             info={"op": op, "gates": gate, "direction": names[d],
                                   "quantization": how}))
            prev = [name]  # R after W: the recurrence adds R h to the gates' input part
    return out


def _numel(dims: list[int | str | None], lname: str, what: str) -> int:
    if not _known(dims):
        raise InputError(f"layer {lname}: the {what} shape {dims} is unknown after shape "
                         "inference: pass --input-shape")
    n = math.prod(int(d) for d in dims if isinstance(d, int))  # exact: no int64 wrap-around
    if n > MAX_INPUTS:
        raise InputError(f"layer {lname}: the {what} shape {dims} gives {n:,} input vectors, "
                         f"above the limit of {MAX_INPUTS:,} (2^53): pass a smaller "
                         "--input-shape")
    return n


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
        if w.ndim not in (3, 4):
            raise InputError(f"layer {lname}: only 1-D and 2-D convolutions are supported "
                             f"(weight rank {w.ndim}; 3 or 4)")
        dims = w.ndim - 2
        g = int(_attr(node, "group", 1))
        info: dict[str, Any] = {
            "op": op, "groups": g, "kernel": list(w.shape[2:]),
            "strides": list(_attr(node, "strides", [1] * dims)),
            "pads": list(_attr(node, "pads", [0] * (2 * dims))),
            "dilations": list(_attr(node, "dilations", [1] * dims)),
            "output_shape": out_shape}
        if dims == 1:  # a 1-D convolution (audio, sequence heads) is a 2-D one of height 1:
            # the same im2col matrix; n_inputs counts output positions x batch (2-D ones
            # record nothing new: their imports stay byte for byte what they were)
            info["spatial_dims"] = 1
            w = w[:, :, None, :]
        _check_input(shapes.get(node.input[0], []), 1,
                     w.shape[1] * g if op == "Conv" else w.shape[0], lname, "channels")
        if op == "Conv":
            mat = conv_matrix(w) if g == 1 else grouped_conv_matrix(w, g)
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


def _load_external_data(model: Any, path: Path) -> None:
    """Load the tensors a model stores outside its file, each only from a file inside
    the model's folder (symlinks resolved): an absolute location, one that climbs
    out with ``..`` or a link that points out is refused, whatever onnx allows."""
    from onnx import external_data_helper as edh

    base = path.resolve().parent
    tensors = [t for t in edh._get_all_tensors(model) if edh.uses_external_data(t)]
    for t in tensors:
        location = next((e.value for e in t.external_data if e.key == "location"), "")
        target = (base / location).resolve()
        if not location or Path(location).is_absolute() or not target.is_relative_to(base):
            raise InputError(f"{path}: tensor {t.name!r} has external data at {location!r}, "
                             f"outside the model's folder {base} (only files inside it are "
                             "read)")
        if not target.is_file():
            raise InputError(f"{path}: tensor {t.name!r} has external data at {location!r}, "
                             "which does not exist")
    if tensors:
        try:
            edh.load_external_data_for_model(model, str(base))
        except Exception as exc:
            raise InputError(f"{path}: its external data cannot be read: "
                             f"{type(exc).__name__}: {exc}") from None
