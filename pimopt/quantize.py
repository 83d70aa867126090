"""Symmetric integer quantisation of float weights (per tensor or per output channel)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from pimopt.errors import InputError

QUANT_MODES = ("per-tensor", "per-channel")


def quantize_symmetric(weights: NDArray[np.floating], bits: int = 8,
                       mode: str = "per-tensor") -> tuple[NDArray[np.int32], NDArray[np.float64]]:
    """Quantise a float K x N weight matrix to symmetric signed integers.

    Values map to ``[-(2**(bits-1) - 1), 2**(bits-1) - 1]`` (the symmetric
    range, so that differential encoding needs no extra level), with
    ``q = round(w / scale)``.

    Parameters
    ----------
    weights
        Float matrix, K inputs x N outputs (one output channel per column).
    bits
        Weight bits, 2 to 16.
    mode
        ``"per-tensor"`` (one scale) or ``"per-channel"`` (one scale per column).

    Returns
    -------
    q, scale
        Integer matrix and the scale(s) (shape ``()`` or ``(N,)``); ``w ~= q * scale``.
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 2:
        raise InputError(f"weights must be a 2-D K x N matrix, got shape {w.shape}")
    if not np.all(np.isfinite(w)):
        raise InputError("weights contain NaN or infinite values")
    if not isinstance(bits, int) or not 2 <= bits <= 16:
        raise InputError(f"bits = {bits!r} is invalid: an integer from 2 to 16")
    if mode not in QUANT_MODES:
        raise InputError(f"quantisation mode {mode!r} is invalid: one of {QUANT_MODES}")
    qmax = (1 << (bits - 1)) - 1
    amax = np.abs(w).max(axis=0) if mode == "per-channel" else np.abs(w).max()
    scale = np.where(amax > 0, amax / qmax, 1.0)
    q = np.clip(np.rint(w / scale), -qmax, qmax).astype(np.int32)
    return q, np.asarray(scale, dtype=np.float64)
