"""Dependency windows: which producer outputs a consumer's input vector needs (docs/model.md,
*Correctness*, rule 5).

Under the default rule (``barrier``) a layer computes nothing before every layer
it depends on has finished. Under ``window`` a consumer layer ``C`` computes its
input vector ``i`` once, for every producer ``P`` it depends on, the first
``need[i]`` output vectors of ``P`` (in ``P``'s output order) are complete: every
block of ``P`` has computed them. ``need`` is non-decreasing, so a compute over
``C``'s inputs ``[first, last)`` needs the first ``need[last - 1]`` outputs of ``P``.
The barrier is ``need[i] = n_inputs(P)`` for every ``i``.

The arrays are data of the network (:attr:`pimopt.network.Layer.windows`); this
module derives them from geometry. A convolution's output pixel ``(y, x)``
reads input rows up to ``y * stride - pad + (kernel - 1) * dilation`` and
columns likewise; in raster order (batch, row, column) the last input it reads
is that row's that column, and ``need`` is the running maximum of those counts
(a later pixel never needs fewer inputs than an earlier one: conservative, so
any schedule that obeys the array obeys the geometry).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from pimopt.errors import InputError

RULES = ("barrier", "window")


def _positive(name: str, v: object, lo: int = 1) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or int(v) < lo:
        raise InputError(f"window geometry: {name} = {v!r} is invalid: an integer >= {lo}")
    return int(v)


def _pair(name: str, v: object, lo: int = 1) -> tuple[int, int]:
    if isinstance(v, (list, tuple)):
        if len(v) != 2:
            raise InputError(f"window geometry: {name} = {v!r} is invalid: one integer or two")
        return _positive(name, v[0], lo), _positive(name, v[1], lo)
    x = _positive(name, v, lo)
    return x, x


def conv_need(in_hw: Any, out_hw: Any, kernel: Any, stride: Any = 1, pad: Any = 0,
              dilation: Any = 1, batch: int = 1) -> NDArray[np.int64]:
    """``need`` of a convolution (or pooling) over its producer's output map.

    Parameters
    ----------
    in_hw, out_hw
        Spatial size (height, width) of the producer's output (the consumer's
        input) and of the consumer's output.
    kernel, stride, pad, dilation
        The window's geometry, one integer or (height, width); ``pad`` is the
        padding before the first row and column (top, left).
    batch
        Images per inference: vectors are ordered (image, row, column) on both
        sides, and image ``b`` reads only image ``b``.

    Returns
    -------
    numpy.ndarray
        ``need`` (int64, length ``batch * out_h * out_w``), non-decreasing, in
        ``[0, batch * in_h * in_w]``.
    """
    ih, iw = _pair("in_hw", in_hw)
    oh, ow = _pair("out_hw", out_hw)
    kh, kw = _pair("kernel", kernel)
    sh, sw = _pair("stride", stride)
    ph, pw = _pair("pad", pad, lo=0)
    dh, dw = _pair("dilation", dilation)
    batch = _positive("batch", batch)
    last_row = np.minimum(np.arange(oh) * sh - ph + (kh - 1) * dh, ih - 1)
    last_col = np.minimum(np.arange(ow) * sw - pw + (kw - 1) * dw, iw - 1)
    # inputs read up to and including (last_row, last_col) in raster order; a pixel whose
    # window lies wholly in the padding above or to the left reads nothing
    count = last_row[:, None] * iw + last_col[None, :] + 1
    count = np.where((last_row[:, None] < 0) | (last_col[None, :] < 0), 0, count).ravel()
    return batched(np.maximum.accumulate(count).astype(np.int64), ih * iw, batch)


def batched(need: NDArray[np.integer[Any]], n_producer: int, batch: int) -> NDArray[np.int64]:
    """The window of ``batch`` images from the window of one: image ``b``'s inputs need
    image ``b``'s producer outputs (after the ``b * n_producer`` of the earlier images,
    which the running maximum of a non-decreasing array requires anyway)."""
    one = np.asarray(need, dtype=np.int64)
    offsets = np.arange(_positive("batch", batch), dtype=np.int64)[:, None] * int(n_producer)
    return np.maximum.accumulate((one[None, :] + offsets).ravel())


def compose(outer: NDArray[np.integer[Any]], inner: NDArray[np.integer[Any]]
            ) -> NDArray[np.int64]:
    """Chain two windows: ``C`` needs ``outer[i]`` outputs of ``M``, and ``M``'s output ``j``
    needs ``inner[j]`` outputs of ``P`` (``M``: a pooling or element-wise node between
    weighted layers); so ``C``'s input ``i`` needs ``inner[outer[i] - 1]`` outputs of ``P``."""
    o = np.asarray(outer, dtype=np.int64)
    n = np.asarray(inner, dtype=np.int64)
    if o.size and (o.min() < 0 or o.max() > n.size):
        raise InputError(f"window composition: the outer window needs up to {int(o.max())} "
                         f"outputs, the inner one has {n.size}")
    return np.where(o > 0, n[np.maximum(o, 1) - 1], 0).astype(np.int64)


def full(n_consumer: int, n_producer: int) -> NDArray[np.int64]:
    """The barrier as a window: every input needs every producer output."""
    return np.full(int(n_consumer), int(n_producer), dtype=np.int64)


def check_need(need: object, n_consumer: int, n_producer: int, what: str) -> NDArray[np.int64]:
    """A valid window array for a consumer of ``n_consumer`` inputs and a producer of
    ``n_producer`` outputs, or :class:`InputError` naming the fault."""
    a = np.asarray(need)
    if a.ndim != 1 or (a.size and a.dtype.kind not in "iu"):
        raise InputError(f"{what}: a 1-D integer array is needed, got shape {a.shape} of "
                         f"{a.dtype}")
    if a.size != n_consumer:
        raise InputError(f"{what}: {a.size} entries, the layer has {n_consumer} input vectors "
                         "(one entry each)")
    a = a.astype(np.int64)
    if a.size and (a.min() < 0 or a.max() > n_producer):
        bad = int(np.flatnonzero((a < 0) | (a > n_producer))[0])
        raise InputError(f"{what}: entry {bad} = {int(a[bad])} is out of range: 0 to "
                         f"{n_producer} (the producer's output vectors)")
    down = np.flatnonzero(np.diff(a) < 0)
    if down.size:
        i = int(down[0])
        raise InputError(f"{what}: not non-decreasing: entry {i + 1} = {int(a[i + 1])} after "
                         f"{int(a[i])}")
    return a


def evaluate(tree: Any, n_inputs: dict[str, int], what: str = "window geometry"
             ) -> NDArray[np.int64]:
    """The window a geometry expression gives.

    ``tree`` (JSON data, recorded in ``Layer.info["window_geometry"]`` by the
    importer and the generators) is one of

    - ``{"layer": P}``: the output vectors of layer ``P`` themselves (``need[i] =
      i + 1``, ``n_inputs[P]`` of them);
    - ``{"window": {in_hw, out_hw, kernel, stride, pad, dilation, batch}, "of": T}``:
      a convolution or pooling over ``T`` (:func:`conv_need` composed with ``T``);
    - ``{"max": [T, ...]}``: an element-wise node of several operands (same shape),
      each output needing what any operand needs.
    """
    if not isinstance(tree, dict) or len(tree) not in (1, 2):
        raise InputError(f"{what}: {tree!r} is not a geometry node ('layer', 'window' with "
                         "'of', or 'max')")
    if "layer" in tree:
        name = tree["layer"]
        if name not in n_inputs:
            raise InputError(f"{what}: layer {name!r} is not an earlier layer")
        return np.arange(1, n_inputs[name] + 1, dtype=np.int64)
    if "window" in tree and "of" in tree and isinstance(tree["window"], dict):
        g = tree["window"]
        unknown = set(g) - {"in_hw", "out_hw", "kernel", "stride", "pad", "dilation", "batch"}
        if unknown:
            raise InputError(f"{what}: unknown window field(s) {sorted(unknown)}")
        return compose(conv_need(**g), evaluate(tree["of"], n_inputs, what))
    if "max" in tree and isinstance(tree["max"], list) and tree["max"]:
        parts = [evaluate(t, n_inputs, what) for t in tree["max"]]
        if len({p.size for p in parts}) != 1:
            raise InputError(f"{what}: the operands of an element-wise node have "
                             f"{sorted({p.size for p in parts})} vectors: one size is needed")
        return np.maximum.reduce(parts)
    raise InputError(f"{what}: {tree!r} is not a geometry node ('layer', 'window' with 'of', "
                     "or 'max')")
