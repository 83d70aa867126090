"""Instance generators: tiny, synthetic and real-shaped networks (``pimopt generate``).

- ``synthetic``: fully connected layers of given shapes with weights drawn from
  a normal or Laplace distribution, a controlled fraction of exact zeros
  (unstructured sparsity) and symmetric quantisation.
- ``real``: the layer shapes of VGG-16, ResNet-18, ResNet-50 and MobileNetV2 at
  CIFAR (32x32, 10 classes) or ImageNet (224x224, 1000 classes) input sizes,
  with dependencies from the architecture (residual joins give a DAG). Weights
  are synthetic, drawn to match the statistics of trained convolution layers:
  zero-mean Laplace with standard deviation sqrt(2 / fan_in) (the He scale that
  trained layers keep, and the heavy-tailed shape that trained convolution
  weights show), quantised per tensor to 8 bits unless told otherwise.
- ``tiny``: the three tiny instances of ``instances/tiny`` (exact models prove
  their optimum).

All draws come from ``numpy.random.default_rng(seed)`` in a fixed order, so a
(family, parameters, seed) triple names an instance exactly; the content hash
records it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pimopt.errors import InputError
from pimopt.network import Layer, Network
from pimopt.quantize import quantize_symmetric
from pimopt.tensors import conv_matrix, grouped_conv_matrix
from pimopt.windows import evaluate

MODELS = ("vgg16", "resnet18", "resnet50", "mobilenetv2")
DATASETS = {"cifar": (32, 10), "imagenet": (224, 1000)}
DISTRIBUTIONS = ("normal", "laplace")


def _draw(rng: np.random.Generator, dist: str, std: float, size: tuple[int, ...]
          ) -> NDArray[np.float64]:
    if dist == "normal":
        return rng.normal(0.0, std, size=size)
    return rng.laplace(0.0, std / np.sqrt(2.0), size=size)  # Laplace std = sqrt(2) b


def synthetic(shapes: list[tuple[int, int, int]], *, dist: str = "normal",
              sparsity: float = 0.0, bits: int = 8, quant: str = "per-tensor", seed: int = 0,
              name: str = "synthetic") -> Network:
    """A chain of fully connected layers ``(K, N, n_inputs)`` with random weights.

    ``sparsity`` is the fraction of weights set exactly to zero (uniformly at
    random) before quantisation; the standard deviation is ``sqrt(2 / K)``.
    """
    if dist not in DISTRIBUTIONS:
        raise InputError(f"distribution {dist!r} is invalid: one of {DISTRIBUTIONS}")
    if not 0.0 <= sparsity < 1.0:
        raise InputError(f"sparsity = {sparsity!r} is invalid: a fraction in [0, 1)")
    if not shapes:
        raise InputError("a synthetic network needs at least one layer shape")
    rng = np.random.default_rng(seed)
    layers = []
    for i, (k, n, n_inputs) in enumerate(shapes):
        w = _draw(rng, dist, np.sqrt(2.0 / k), (k, n))
        w[rng.random((k, n)) < sparsity] = 0.0
        q, _ = quantize_symmetric(w, bits=bits, mode=quant)
        layers.append(Layer(f"fc{i}", q, n_inputs=n_inputs, kind="fc"))
    src = (f"pimopt generate synthetic: {dist} weights, sparsity {sparsity}, {quant} {bits}-bit,"
           f" seed {seed}, shapes {';'.join(f'{k}x{n}:{m}' for k, n, m in shapes)}")
    return Network(name, tuple(layers), weight_bits=bits, source=src)


@dataclass
class _Tensor:
    """An activation while tracing: channels, spatial size, nearest weighted producers.

    ``maps[p]``: how the pixels of this activation (raster order, image by image) need
    the output pixels of producer ``p``, as a geometry expression through the pools and
    additions between them (:func:`pimopt.windows.evaluate`).
    """

    c: int
    h: int
    producers: list[str] = field(default_factory=list)
    maps: dict[str, Any] = field(default_factory=dict)

    def window(self, h_out: int, k: int, stride: int, pad: int, batch: int
               ) -> dict[str, Any]:
        """The maps of a k x k window op (conv or pool) of ``stride`` and ``pad`` over it."""
        geom = {"in_hw": self.h, "out_hw": h_out, "kernel": k, "stride": stride, "pad": pad,
                "dilation": 1, "batch": batch}
        return {p: {"window": geom, "of": m} for p, m in self.maps.items()}


@dataclass
class _Spec:
    """One weighted layer of a traced architecture (``windows``: per producer, one image)."""

    name: str
    cin: int
    cout: int
    k: int
    groups: int
    h_out: int
    deps: list[str]
    fc: bool = False
    windows: dict[str, Any] = field(default_factory=dict)  # geometry expressions


class _Tracer:
    """Records the weighted layers of an architecture; ``width`` scales every channel count."""

    def __init__(self, width: float = 1.0, batch: int = 1) -> None:
        self.specs: list[_Spec] = []
        self.width = width
        self.batch = batch

    def conv(self, x: _Tensor, name: str, cout: int, k: int, stride: int = 1,
             groups: int = 1) -> _Tensor:
        cout = max(1, round(cout * self.width))
        groups = cout if groups > 1 else 1  # depthwise stays depthwise at any width
        h = (x.h + 2 * (k // 2) - k) // stride + 1
        self.specs.append(_Spec(name, x.c, cout, k, groups, h, list(x.producers),
                                windows=x.window(h, k, stride, k // 2, self.batch)))
        return _Tensor(cout, h, [name], {name: {"layer": name}})

    def fc(self, x: _Tensor, name: str, cout: int, classifier: bool = False) -> _Tensor:
        if not classifier:  # the class count is not a width
            cout = max(1, round(cout * self.width))
        self.specs.append(_Spec(name, x.c * x.h * x.h, cout, 1, 1, 1, list(x.producers), True))
        return _Tensor(cout, 1, [name])

    def pool(self, x: _Tensor, stride: int, k: int | None = None, pad: int = 0) -> _Tensor:
        """A max-pool of ``k`` x ``k`` (default ``stride``) with ``pad``, output ``h // stride``
        (VGG's 2x2/2, ResNet's 3x3/2 with padding 1)."""
        h = x.h // stride
        return _Tensor(x.c, h, x.producers, x.window(h, k or stride, stride, pad, self.batch))

    @staticmethod
    def add(a: _Tensor, b: _Tensor) -> _Tensor:
        maps = dict(a.maps)
        for p, m in b.maps.items():  # a pixel of the sum needs what either operand needs
            maps[p] = {"max": [maps[p], m]} if p in maps else m
        return _Tensor(a.c, a.h, list(dict.fromkeys(a.producers + b.producers)), maps)


def _vgg16(t: _Tracer, x: _Tensor, classes: int, imagenet: bool) -> None:
    cfg = [64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0]
    i = 0
    for c in cfg:
        if c == 0:
            x = t.pool(x, 2)
        else:
            i += 1
            x = t.conv(x, f"conv{i}", c, 3)
    if imagenet:  # 512 x 7 x 7 -> 4096 -> 4096 -> 1000
        x = t.fc(x, "fc1", 4096)
        x = t.fc(x, "fc2", 4096)
        t.fc(x, "fc3", classes, classifier=True)
    else:  # CIFAR VGG: 512 x 1 x 1 -> 10
        t.fc(x, "fc", classes, classifier=True)


def _resnet(t: _Tracer, x: _Tensor, classes: int, imagenet: bool, bottleneck: bool) -> None:
    if imagenet:
        x = t.pool(t.conv(x, "conv1", 64, 7, 2), 2, k=3, pad=1)
    else:
        x = t.conv(x, "conv1", 64, 3)
    blocks = [3, 4, 6, 3] if bottleneck else [2, 2, 2, 2]
    exp = 4 if bottleneck else 1
    cin = 64
    for s, (n, width) in enumerate(zip(blocks, [64, 128, 256, 512], strict=True), start=1):
        for b in range(n):
            stride = 2 if (b == 0 and s > 1) else 1
            pre = f"layer{s}.{b}"
            if bottleneck:
                y = t.conv(x, f"{pre}.conv1", width, 1)
                y = t.conv(y, f"{pre}.conv2", width, 3, stride)
                y = t.conv(y, f"{pre}.conv3", width * exp, 1)
            else:
                y = t.conv(x, f"{pre}.conv1", width, 3, stride)
                y = t.conv(y, f"{pre}.conv2", width, 3)
            short = x
            if stride != 1 or cin != width * exp:
                short = t.conv(x, f"{pre}.downsample", width * exp, 1, stride)
            x = t.add(y, short)
            cin = width * exp
    # global average pool, then the classifier
    t.fc(_Tensor(x.c, 1, x.producers), "fc", classes, classifier=True)


def _mobilenetv2(t: _Tracer, x: _Tensor, classes: int, imagenet: bool) -> None:
    settings = [(1, 16, 1, 1), (6, 24, 2, 2 if imagenet else 1), (6, 32, 3, 2), (6, 64, 4, 2),
                (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
    x = t.conv(x, "conv0", 32, 3, 2 if imagenet else 1)
    cin, i = 32, 0
    for exp, c, n, s in settings:
        for j in range(n):
            i += 1
            stride = s if j == 0 else 1
            hidden = cin * exp
            y = x
            if exp != 1:
                y = t.conv(y, f"block{i}.expand", hidden, 1)
            y = t.conv(y, f"block{i}.depthwise", hidden, 3, stride, groups=hidden)
            y = t.conv(y, f"block{i}.project", c, 1)
            x = t.add(y, x) if stride == 1 and cin == c else y
            cin = c
    x = t.conv(x, "conv_last", 1280, 1)
    t.fc(_Tensor(x.c, 1, x.producers), "fc", classes, classifier=True)


def real_shaped(model: str, dataset: str = "cifar", *, batch: int = 1, seed: int = 0,
                bits: int = 8, quant: str = "per-tensor", dist: str = "laplace",
                width: float = 1.0, windows: bool = False) -> Network:
    """A network with the layer shapes of ``model`` at ``dataset`` input size.

    Parameters
    ----------
    model
        ``vgg16``, ``resnet18``, ``resnet50`` or ``mobilenetv2``.
    dataset
        ``cifar`` (32x32, 10 classes) or ``imagenet`` (224x224, 1000 classes).
    batch
        Images per inference (multiplies every layer's ``n_inputs``).
    seed, bits, quant, dist
        Weight draw and quantisation (see the module docstring).
    width
        Channel multiplier (as in MobileNet's width multiplier): every hidden
        channel count is ``round(width * c)``, at least 1; the classifier keeps
        its class count. ``1.0`` is the published architecture.
    windows
        Record every convolution's dependency windows on the convolutions it
        reads (through the pools and residual additions between them;
        :mod:`pimopt.windows`), for the ``window`` dependency rule. Off by
        default: the instance (and its content hash) is then what it always was.
    """
    if model not in MODELS:
        raise InputError(f"model {model!r} is unknown: one of {MODELS}")
    if dataset not in DATASETS:
        raise InputError(f"dataset {dataset!r} is unknown: one of {tuple(DATASETS)}")
    if batch < 1:
        raise InputError(f"batch = {batch!r} is invalid: an integer >= 1")
    if not (isinstance(width, (int, float)) and 0 < width <= 4):
        raise InputError(f"width = {width!r} is invalid: a channel multiplier in (0, 4]")
    size, classes = DATASETS[dataset]
    imagenet = dataset == "imagenet"
    t = _Tracer(float(width), batch)
    x = _Tensor(3, size)
    if model == "vgg16":
        _vgg16(t, x, classes, imagenet)
    elif model in ("resnet18", "resnet50"):
        _resnet(t, x, classes, imagenet, bottleneck=model == "resnet50")
    else:
        _mobilenetv2(t, x, classes, imagenet)
    rng = np.random.default_rng(seed)
    layers = []
    n_in = {sp.name: batch * (1 if sp.fc else sp.h_out ** 2) for sp in t.specs}
    for sp in t.specs:
        fan_in = sp.cin // sp.groups * sp.k * sp.k
        std = np.sqrt(2.0 / fan_in)
        if sp.fc:
            w = _draw(rng, dist, std, (sp.cin, sp.cout))
        else:
            t4 = _draw(rng, dist, std, (sp.cout, sp.cin // sp.groups, sp.k, sp.k))
            w = conv_matrix(t4) if sp.groups == 1 else grouped_conv_matrix(t4, sp.groups)
        q, _ = quantize_symmetric(w, bits=bits, mode=quant)
        info: dict[str, Any] = {"cin": sp.cin, "cout": sp.cout, "kernel": sp.k,
                                "groups": sp.groups, "output_hw": sp.h_out}
        wins = {p: evaluate(tree, n_in) for p, tree in sp.windows.items()} if windows else {}
        if wins:
            info["window_geometry"] = sp.windows
        layers.append(Layer(sp.name, q, n_inputs=batch * (1 if sp.fc else sp.h_out ** 2),
                            deps=tuple(sp.deps), kind="fc" if sp.fc else "conv", info=info,
                            groups=1 if sp.fc else sp.groups, windows=wins))
    wtext = ("" if width == 1.0 else f" --width {width}") + (" --windows" if windows else "")
    src = (f"pimopt generate real --model {model} --dataset {dataset} --batch {batch} "
           f"--seed {seed}{wtext}: {model} layer shapes, {dist} weights with std sqrt(2/fan_in), "
           f"{quant} {bits}-bit")
    name = f"{model}-{dataset}" if width == 1.0 else f"{model}-w{width:g}-{dataset}"
    return Network(name, tuple(layers), weight_bits=bits, source=src)


def conv_chain(hw: int, channels: list[int], kernels: list[int], *,
               strides: list[int] | None = None, seed: int = 0, bits: int = 8,
               windows: bool = True, name: str = "convchain") -> Network:
    """A chain of convolutions (padding ``k // 2``) on an ``hw`` x ``hw`` input, with their
    dependency windows (the pipelining tests' instances).

    Parameters
    ----------
    hw
        Input height and width.
    channels
        Input channels, then each layer's output channels (one more than layers).
    kernels, strides
        Each layer's square kernel and stride (default 1).
    seed, bits
        Weight draw (N(0, 1)) and symmetric per-tensor quantisation.
    windows
        Record the windows (:mod:`pimopt.windows`); without them the chain is a
        barrier chain under either rule.
    """
    strides = strides or [1] * len(kernels)
    if len(channels) != len(kernels) + 1 or len(strides) != len(kernels) or not kernels:
        raise InputError(f"conv chain: {len(channels)} channel counts, {len(kernels)} kernels "
                         f"and {len(strides)} strides: give one more channel count than "
                         "kernels, and one stride per kernel")
    if min([hw, *channels, *kernels, *strides]) < 1:
        raise InputError("conv chain: sizes, channels, kernels and strides must be >= 1")
    t = _Tracer()
    x = _Tensor(channels[0], hw)
    for i, (c, k, st) in enumerate(zip(channels[1:], kernels, strides, strict=True)):
        x = t.conv(x, f"conv{i}", c, k, st)
        if x.h < 1:
            raise InputError(f"conv chain: layer {i} has no output pixels (input {hw}x{hw})")
    rng = np.random.default_rng(seed)
    layers = []
    n_in = {sp.name: sp.h_out ** 2 for sp in t.specs}
    for sp in t.specs:
        q, _ = quantize_symmetric(conv_matrix(rng.normal(size=(sp.cout, sp.cin, sp.k, sp.k))),
                                  bits=bits)
        info: dict[str, Any] = {"cin": sp.cin, "cout": sp.cout, "kernel": sp.k,
                                "output_hw": sp.h_out}
        wins = {p: evaluate(tree, n_in) for p, tree in sp.windows.items()} if windows else {}
        if wins:
            info["window_geometry"] = sp.windows
        layers.append(Layer(sp.name, q, n_inputs=sp.h_out ** 2, deps=tuple(sp.deps),
                            kind="conv", info=info, windows=wins))
    src = (f"pimopt.models.generate.conv_chain(hw={hw}, channels={channels}, "
           f"kernels={kernels}, strides={strides}, seed={seed}): N(0,1) weights, "
           f"{bits}-bit per-tensor symmetric" + ("" if windows else ", no windows"))
    return Network(name, tuple(layers), weight_bits=bits, source=src)


def parse_layer_shapes(text: str) -> list[tuple[int, int, int]]:
    """``KxN[:n_inputs],...`` (e.g. ``256x128:16,128x10``) as ``(K, N, n_inputs)`` triples."""
    out = []
    for part in str(text).split(","):
        try:
            kn, _, m = part.partition(":")
            k, n = (int(v) for v in kn.lower().split("x"))
            inputs = int(m) if m else 1
        except ValueError:
            raise InputError(f"layer shapes {text!r} are invalid: KxN[:n_inputs] joined by "
                             "commas, e.g. 256x128:16,128x10") from None
        if min(k, n, inputs) < 1:
            raise InputError(f"layer shape {part!r} is invalid: K, N and n_inputs must be "
                             ">= 1")
        if k * n > MAX_LAYER_WEIGHTS:
            raise InputError(f"layer shape {part!r} has {k * n:,} weights, more than the "
                             f"{MAX_LAYER_WEIGHTS:,} a generated layer may have")
        out.append((k, n, inputs))
    return out


MAX_LAYER_WEIGHTS = 1 << 28  # 268 M weights: larger than any layer of the models we ship


def tiny(seed: int = 0) -> list[Network]:
    """The tiny instances (see ``scripts/make_tiny_instances.py``)."""
    shapes = {
        "tiny-fc2": [(24, 3, 1), (16, 2, 1)],
        "tiny-conv": [(27, 2, 16), (18, 3, 4)],
        "tiny-mlp3": [(16, 2, 1), (16, 2, 1), (16, 2, 1)],
    }
    out = []
    for i, (name, layer_shapes) in enumerate(shapes.items()):
        rng = np.random.default_rng(seed + i)
        layers = []
        for j, (k, n, n_inputs) in enumerate(layer_shapes):
            q, _ = quantize_symmetric(rng.normal(size=(k, n)), bits=8)
            layers.append(Layer(f"l{j}", q, n_inputs=n_inputs,
                                kind="conv" if n_inputs > 1 else "fc"))
        out.append(Network(name, tuple(layers),
                           source=f"pimopt generate tiny --seed {seed}: N(0,1) weights, "
                                  "8-bit per-tensor symmetric"))
    return out
