"""Weight tensors of convolutions as the K x N matrices crossbars hold.

Shared by the ONNX importer and the generators, so that a convolution becomes
the same matrix whichever way it enters pimopt. Row order within a group is
(input channel, kernel row, kernel column), the im2col order.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def conv_matrix(w: NDArray[np.floating], groups: int = 1) -> NDArray[np.float64]:
    """Conv weights (M, C/g, kh, kw) as a block-diagonal (C kh kw) x M matrix.

    Group ``i``'s inputs feed only its outputs, so the off-diagonal blocks are
    zero and are never programmed (depthwise convolutions: ``groups = C``).
    """
    m, cg, kh, kw = w.shape
    mg = m // groups
    k = cg * kh * kw
    mat = np.zeros((k * groups, m))
    for i in range(groups):
        mat[i * k:(i + 1) * k, i * mg:(i + 1) * mg] = w[i * mg:(i + 1) * mg].reshape(mg, k).T
    return mat


def grouped_conv_matrix(w: NDArray[np.floating], groups: int) -> NDArray[np.float64]:
    """Conv weights (M, C/g, kh, kw) of a grouped convolution as a (C/g kh kw) x M matrix.

    Group ``i``'s (C/g kh kw) x M/g matrix sits in columns ``i*M/g .. (i+1)*M/g - 1``:
    the diagonal blocks of :func:`conv_matrix` side by side, without the zeros
    between them (a :class:`pimopt.network.Layer` with ``groups = g``; group ``i``
    reads input rows ``i*(C/g kh kw) ..``).
    """
    m, cg, kh, kw = w.shape
    return np.asarray(w.reshape(m, cg * kh * kw).T, dtype=np.float64).copy()


def conv_transpose_matrix(w: NDArray[np.floating], groups: int = 1) -> NDArray[np.float64]:
    """ConvTranspose weights (C, M/g, kh, kw) as a block-diagonal C x (M kh kw) matrix.

    Each input pixel's C channels multiply it; the (M, kh, kw) products are
    scattered into the output (col2im) digitally.
    """
    c, mg, kh, kw = w.shape
    cg = c // groups
    n = mg * kh * kw
    mat = np.zeros((c, n * groups))
    for i in range(groups):
        mat[i * cg:(i + 1) * cg, i * n:(i + 1) * n] = w[i * cg:(i + 1) * cg].reshape(cg, n)
    return mat
