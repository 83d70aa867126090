"""Dependency windows of an imported ONNX graph (:mod:`pimopt.windows`).

For a convolution, every weighted layer it reads is followed back through the
graph: element-wise nodes (activations, batch normalisation, additions and
multiplications of same-shaped activations or by constants, channel
concatenations) keep every pixel's needs, pools (``MaxPool``, ``AveragePool``,
``LpPool`` with explicit padding) compose their window, and a weighted
convolution's output is where a path ends. Anything else on a path (reshapes,
resizes, transposes, global pools, unknown shapes, automatic padding) makes
the consumer wait for all of that path's producers: no window is recorded for
them, which is the barrier. The expressions are recorded in the layer's
``info["window_geometry"]`` and checked against the arrays when the network is
built.
"""

from __future__ import annotations

from typing import Any

ELEMENTWISE = frozenset((
    "Relu", "LeakyRelu", "PRelu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh",
    "Elu", "Selu", "Celu", "Softplus", "Softsign", "Mish", "Gelu", "Erf", "Exp", "Log",
    "Sqrt", "Neg", "Abs", "Reciprocal", "Pow", "Identity", "Dropout", "Cast",
    "BatchNormalization", "InstanceNormalization", "QuantizeLinear", "DequantizeLinear",
    "Add", "Sub", "Mul", "Div", "Sum", "Max", "Min", "Mean", "Where", "Concat"))
POOLS = frozenset(("MaxPool", "AveragePool", "LpPool"))
CONVS = frozenset(("Conv", "ConvInteger", "QLinearConv"))

Tree = dict[str, Any]


class GraphWindows:
    """Window geometry expressions of a graph's tensors, memoised.

    Parameters
    ----------
    producer
        Tensor name -> the node that writes it.
    shapes
        Tensor name -> inferred dimensions.
    consts
        Constant tensors (initialisers and folded values).
    layer_of_node
        ``id(node)`` -> names of the pimopt layers made from a weighted node.
    """

    def __init__(self, producer: dict[str, Any], shapes: dict[str, list[Any]],
                 consts: dict[str, Any], layer_of_node: dict[int, list[str]]) -> None:
        self.producer = producer
        self.shapes = shapes
        self.consts = consts
        self.layer_of_node = layer_of_node
        self._memo: dict[str, dict[str, Tree] | None] = {}

    def _spatial(self, tensor: str) -> tuple[int, int, int] | None:
        """(batch, height, width) of an N x C x H (x W) activation with known sizes."""
        dims = self.shapes.get(tensor)
        if not dims or len(dims) not in (3, 4) or not all(
                isinstance(d, int) and d >= 1 for d in dims):
            return None
        return (dims[0], 1, dims[2]) if len(dims) == 3 else (dims[0], dims[2], dims[3])

    def maps(self, tensor: str) -> dict[str, Tree] | None:
        """Per weighted producer, how ``tensor``'s pixels need its outputs (``None``: some
        path is not understood, so every producer is a barrier)."""
        if tensor in self._memo:
            return self._memo[tensor]
        self._memo[tensor] = None  # a cycle (impossible in ONNX) would read as unknown
        out = self._maps(tensor)
        self._memo[tensor] = out
        return out

    def _maps(self, tensor: str) -> dict[str, Tree] | None:
        node = self.producer.get(tensor)
        if node is None:
            return {}  # a graph input: no producer to wait for
        if id(node) in self.layer_of_node:
            names = self.layer_of_node[id(node)]
            if node.op_type not in CONVS or len(names) != 1 or self._spatial(tensor) is None:
                return None
            return {names[0]: {"layer": names[0]}}
        op = node.op_type
        shape = self._spatial(tensor)
        if shape is None:
            return None
        if op in ELEMENTWISE:
            if op == "Concat" and _axis(node, 1) % len(self.shapes[tensor]) != 1:
                return None  # only channel concatenation keeps pixels apart
            merged: dict[str, Tree] = {}
            for i in node.input:
                if not i or i in self.consts:
                    continue
                if self._spatial(i) != shape:
                    return None  # broadcast over pixels: not pixel by pixel
                sub = self.maps(i)
                if sub is None:
                    return None
                for p, tree in sub.items():
                    merged[p] = {"max": [merged[p], tree]} if p in merged else tree
            return merged
        if op in POOLS:
            geom = self.geometry(node, node.input[0], tensor)
            sub = self.maps(node.input[0])
            if geom is None or sub is None:
                return None
            return {p: {"window": geom, "of": tree} for p, tree in sub.items()}
        return None

    def geometry(self, node: Any, src: str, dst: str) -> dict[str, Any] | None:
        """The window of a convolution or pool reading ``src`` and writing ``dst``."""
        a, b = self._spatial(src), self._spatial(dst)
        if a is None or b is None or a[0] != b[0]:
            return None
        if _attr(node, "auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            return None
        kernel = list(_attr(node, "kernel_shape", []))
        if not kernel and node.op_type == "Conv" and node.input[1] in self.consts:
            kernel = list(self.consts[node.input[1]].shape[2:])
        dims = len(kernel)
        if dims not in (1, 2):
            return None
        strides = list(_attr(node, "strides", [1] * dims))
        pads = list(_attr(node, "pads", [0] * (2 * dims)))
        dilations = list(_attr(node, "dilations", [1] * dims))
        if dims == 1:  # a 1-D window is a 2-D one of height 1
            kernel, strides, dilations = [1, *kernel], [1, *strides], [1, *dilations]
            pads = [0, pads[0], 0, pads[1]]
        return {"in_hw": [a[1], a[2]], "out_hw": [b[1], b[2]], "kernel": kernel,
                "stride": strides, "pad": [pads[0], pads[1]], "dilation": dilations,
                "batch": a[0]}

    def conv_windows(self, node: Any) -> dict[str, Tree]:
        """The geometry expressions of a Conv node's windows on its weighted producers."""
        geom = self.geometry(node, node.input[0], node.output[0])
        sub = self.maps(node.input[0])
        if geom is None or sub is None:
            return {}
        return {p: {"window": geom, "of": tree} for p, tree in sub.items()}


def _attr(node: Any, name: str, default: Any) -> Any:
    from onnx import helper

    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _axis(node: Any, default: int) -> int:
    return int(_attr(node, "axis", default))
