"""Grouped and depthwise layers: each group its own small matrix, the same verified function
as the block-diagonal matrix, without its zero blocks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pimopt import Instance, solve, verify
from pimopt.errors import InputError
from pimopt.layout import Layout
from pimopt.network import Layer, Network
from pimopt.tensors import conv_matrix, grouped_conv_matrix
from tests.conftest import small_arch


def grouped_network(seed: int, groups: int, kg: int, ng: int, encoding: str = "differential",
                    bits: int = 4) -> Network:
    """A grouped conv between two dense layers (the grouped one reads G * kg features)."""
    rng = np.random.default_rng(seed)
    q = (1 << (bits - 1)) - 1
    first = Layer("in", rng.integers(-q, q + 1, size=(5, groups * kg)), n_inputs=3)
    grouped = Layer("dw", rng.integers(-q, q + 1, size=(kg, groups * ng)), n_inputs=3,
                    kind="conv", groups=groups)
    last = Layer("out", rng.integers(-q, q + 1, size=(groups * ng, 3)), n_inputs=2)
    return Network(f"grouped{seed}", (first, grouped, last), weight_bits=bits,
                   encoding=encoding)


def block_diagonal(layer: Layer) -> np.ndarray:
    k, n = layer.shape
    g = layer.groups
    dense = np.zeros((g * k, n), dtype=np.int64)
    for i in range(g):
        dense[i * k:(i + 1) * k, i * n // g:(i + 1) * n // g] = \
            layer.weights[:, i * n // g:(i + 1) * n // g]
    return dense


def test_product_is_the_block_diagonal_product() -> None:
    la = grouped_network(0, groups=3, kg=5, ng=2).layers[1]
    x = np.random.default_rng(1).integers(0, 16, size=(4, la.in_features))
    assert np.array_equal(la.product(x), x @ block_diagonal(la))


def test_grouped_conv_matrix_is_the_diagonal_of_conv_matrix() -> None:
    w = np.random.default_rng(2).normal(size=(6, 2, 3, 3))
    dense, compact = conv_matrix(w, 3), grouped_conv_matrix(w, 3)
    assert compact.shape == (18, 6)
    for i in range(3):
        assert np.array_equal(dense[i * 18:(i + 1) * 18, 2 * i:2 * i + 2],
                              compact[:, 2 * i:2 * i + 2])
    assert np.count_nonzero(dense) == np.count_nonzero(compact)


def test_tiles_are_the_non_zero_tiles_of_the_block_diagonal_matrix() -> None:
    # 4x4 OUs; kg = 8 rows (whole row tiles) and 4 cells per channel: the grouped tiles
    # are exactly the diagonal tiles of the dense matrix
    net = grouped_network(3, groups=4, kg=8, ng=1)
    dense_net = Network("dense", tuple(
        Layer(la.name, block_diagonal(la), la.n_inputs, la.deps, la.kind)
        for la in net.layers), net.weight_bits, net.encoding)
    arch = small_arch()
    a, b = Instance(arch, net), Instance(arch, dense_net)
    assert a.tilings[1].n_blocks == 4 * 2  # 4 groups x 2 row tiles x 1 column tile
    assert b.tilings[1].n_blocks == 8 * 4  # 8 row tiles x 4 column tiles, 24 of them zero
    sl = slice(a.tilings[1].first_block, a.tilings[1].first_block + a.tilings[1].n_blocks)
    sd = slice(b.tilings[1].first_block, b.tilings[1].first_block + b.tilings[1].n_blocks)
    pa = sorted(p.tobytes() for p in a.patterns[sl] if p.any())
    pb = sorted(p.tobytes() for p in b.patterns[sd] if p.any())
    assert pa == pb


@pytest.mark.parametrize("encoding", ["differential", "offset"])
@pytest.mark.parametrize("method", ["naive", "sorted", "balanced", "ls"])
def test_grouped_layers_solve_and_verify_bit_exactly(encoding: str, method: str) -> None:
    # offset: 2 cells per channel, a group of one channel is padded to a 4-cell tile
    for groups, kg, ng in ((3, 5, 1), (2, 9, 2)):
        inst = Instance(small_arch(), grouped_network(groups, groups, kg, ng, encoding))
        t = inst.tilings[1]
        assert t.groups == groups and t.col_tiles == groups * t.tiles_per_group
        res = solve(inst, method, time_limit=3, functional_samples=None)
        assert verify(inst, res.schedule, functional_samples=None).ok


def test_the_functional_check_reads_each_groups_own_inputs(
        monkeypatch: pytest.MonkeyPatch) -> None:
    net = grouped_network(5, groups=3, kg=4, ng=1)
    inst = Instance(small_arch(), net)
    res = solve(inst, "sorted", time_limit=10, bound=False)
    assert verify(inst, res.schedule, functional_samples=None).ok
    # were every group to read the first group's inputs, the crossbars (which read each
    # group's own) would disagree: the check is on the grouped product itself
    monkeypatch.setattr(Layer, "product", lambda self, x: np.asarray(x)[:, : self.shape[0]]
                        @ self.weights.astype(np.int64) if self.groups > 1 else
                        np.asarray(x) @ self.weights.astype(np.int64))
    found = {v.check for v in verify(inst, res.schedule, functional_samples=None).violations}
    assert found == {"function"}


def test_layout_of_a_grouped_layer() -> None:
    net = grouped_network(6, groups=3, kg=6, ng=2)
    inst = Instance(small_arch(), net)
    for layout in ("magnitude", "similarity", "auto"):
        res = solve(inst, "sorted", time_limit=10, layout=layout, functional_samples=None)
        assert res.report.ok
        lay = res.mapping.layout
        assert lay is None or lay.cols[1] is None  # channels stay in their groups
    rows = [None] * 3
    cols: list[np.ndarray | None] = [None, np.array([2, 1, 0, 3, 4, 5]), None]
    bad = Layout(tuple(rows), tuple(cols), "x")
    with pytest.raises(InputError, match="outside its own group"):
        bad.check(net)
    inside = Layout(tuple(rows), (None, np.array([1, 0, 3, 2, 5, 4]), None), "x")
    res = solve(inst, "sorted", time_limit=10, layout=inside, functional_samples=None)
    assert res.report.ok


def test_groups_are_saved_and_checked(tmp_path: Path) -> None:
    net = grouped_network(7, groups=3, kg=4, ng=2)
    back = Network.load(net.save(tmp_path / "g.json"))
    assert back.layers[1].groups == 3 and back.content_hash() == net.content_hash()
    with pytest.raises(InputError, match="groups = 4 is invalid"):
        Layer("x", np.ones((2, 6), dtype=np.int64), groups=4)
    with pytest.raises(InputError, match="groups = 0 is invalid"):
        Layer("x", np.ones((2, 6), dtype=np.int64), groups=0)
    assert "in 3 groups" in repr(net.layers[1])
