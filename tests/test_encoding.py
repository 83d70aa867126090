from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pimopt.encoding import decode_cells, encode_cells, n_signs, n_slices
from pimopt.errors import InputError
from pimopt.quantize import quantize_symmetric


def test_differential_layout_by_hand() -> None:
    # w = 5 = 0b0101 and -6 with 4-bit weights, 2-bit cells: 2 slices, LSB first
    w = np.array([[5, -6]])
    cells = encode_cells(w, weight_bits=4, cell_bits=2, encoding="differential")
    # column = (n * 2 + sign) * 2 + slice
    assert cells.tolist() == [[1, 1, 0, 0, 0, 0, 2, 1]]


def test_offset_layout_by_hand() -> None:
    w = np.array([[-7, 0, 7]])  # offset 7 -> 0, 7, 14
    cells = encode_cells(w, weight_bits=4, cell_bits=2, encoding="offset")
    assert cells.tolist() == [[0, 0, 3, 1, 2, 3]]


@settings(max_examples=60, deadline=None)
@given(bits=st.integers(2, 10), cell_bits=st.integers(1, 4),
       enc=st.sampled_from(["differential", "offset"]), seed=st.integers(0, 10**6))
def test_encode_decode_round_trip(bits: int, cell_bits: int, enc: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    qmax = (1 << (bits - 1)) - 1
    w = rng.integers(-qmax, qmax + 1, size=(5, 3))
    cells = encode_cells(w, bits, cell_bits, enc)
    assert cells.shape == (5, 3 * n_signs(enc) * n_slices(bits, cell_bits))
    assert cells.max() < (1 << cell_bits)
    assert np.array_equal(decode_cells(cells, 3, bits, cell_bits, enc), w)


def test_quantize_per_tensor_and_per_channel() -> None:
    w = np.array([[0.5, -2.0], [0.25, 1.0]])
    q, scale = quantize_symmetric(w, bits=8)
    assert scale.shape == () and np.abs(q).max() == 127
    assert np.allclose(q * scale, w, atol=float(scale) / 2 + 1e-12)
    qc, sc = quantize_symmetric(w, bits=8, mode="per-channel")
    assert sc.shape == (2,) and (np.abs(qc).max(axis=0) == 127).all()
    qz, _ = quantize_symmetric(np.zeros((2, 2)), bits=4)
    assert not qz.any()


def test_quantize_rejects_bad_input() -> None:
    with pytest.raises(InputError, match="NaN"):
        quantize_symmetric(np.array([[np.nan]]))
    with pytest.raises(InputError, match="mode"):
        quantize_symmetric(np.ones((2, 2)), mode="per-row")
    with pytest.raises(InputError, match="2-D"):
        quantize_symmetric(np.ones(3))
