"""Signed-weight encodings and bit slicing into cell levels.

Column layout of a layer's cell matrix (K x N * signs * slices), used by
every part of pimopt and stated in ``docs/model.md``::

    cell column = (n * signs + s) * slices + j

where ``n`` is the output column of W, ``s`` the sign part (0 = W+, 1 = W-
for ``differential``; only 0 for ``offset``) and ``j`` the slice, least
significant first: slice j holds bits ``[j*cell_bits, (j+1)*cell_bits)``.

- ``differential``: W+ = max(W, 0) and W- = max(-W, 0), each sliced;
  the product is (x . W+) - (x . W-).
- ``offset``: U = W + (2**(bits-1) - 1) >= 0 is sliced; the product is
  x . U - (2**(bits-1) - 1) * sum(x).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

ENCODINGS = ("differential", "offset")


def n_slices(weight_bits: int, cell_bits: int) -> int:
    """Cell columns per weight and sign: ``ceil(weight_bits / cell_bits)``."""
    return -(-weight_bits // cell_bits)


def n_signs(encoding: str) -> int:
    """Sign parts per weight: 2 for differential, 1 for offset."""
    return 2 if encoding == "differential" else 1


def offset_of(weight_bits: int) -> int:
    """The offset added to weights by the ``offset`` encoding."""
    return (1 << (weight_bits - 1)) - 1


def encode_cells(w: NDArray[np.integer], weight_bits: int, cell_bits: int,
                 encoding: str) -> NDArray[np.uint8]:
    """Encode an integer K x N weight matrix into its cell-level matrix.

    Returns a ``uint8`` matrix K x (N * signs * slices) in the layout above.
    """
    w = np.asarray(w, dtype=np.int64)
    k = w.shape[0]
    slices = n_slices(weight_bits, cell_bits)
    if encoding == "differential":
        parts = np.stack([np.maximum(w, 0), np.maximum(-w, 0)], axis=2)  # K, N, 2
    else:
        parts = (w + offset_of(weight_bits))[:, :, None]  # K, N, 1
    shifts = cell_bits * np.arange(slices)
    mask = (1 << cell_bits) - 1
    cells = (parts[..., None] >> shifts) & mask  # K, N, signs, slices
    return cells.reshape(k, -1).astype(np.uint8)


def decode_cells(cells: NDArray[np.integer], n: int, weight_bits: int, cell_bits: int,
                 encoding: str) -> NDArray[np.int64]:
    """Inverse of :func:`encode_cells`: re-assemble the integer weights."""
    c = np.asarray(cells, dtype=np.int64)
    k = c.shape[0]
    slices = n_slices(weight_bits, cell_bits)
    signs = n_signs(encoding)
    c = c[:, : n * signs * slices].reshape(k, n, signs, slices)
    mags = (c << (cell_bits * np.arange(slices))).sum(axis=3)
    if encoding == "differential":
        return mags[:, :, 0] - mags[:, :, 1]
    return mags[:, :, 0] - offset_of(weight_bits)
