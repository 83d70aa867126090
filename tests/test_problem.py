from __future__ import annotations

import numpy as np
import pytest

from pimopt import InputError
from pimopt.chains.problem import (
    FORBIDDEN,
    ChainProblem,
    expand_chains,
    min_rounds,
    reduce_starts,
    restrict_chains,
)
from tests.conftest import small_arch


def make_problem(seed: int, n: int = 8, s: int = 3, layers: int = 1,
                 start_copies: int = 0, metric: str = "latency") -> ChainProblem:
    """Random items (sparse 2-bit cells) on s slots; some starts may copy items."""
    rng = np.random.default_rng(seed)
    items = rng.integers(0, 4, size=(n, 4, 4)).astype(np.uint8)
    items[rng.random(items.shape) < 0.55] = 0
    items[:, 0, 0] = np.arange(n) % 3 + 1  # items are distinct and non-zero
    items[:, 0, 1] = np.arange(n) // 3 % 4
    starts = np.zeros((s, 4, 4), np.uint8)
    starts[:start_copies] = rng.integers(0, 4, size=(start_copies, 4, 4))
    lay = np.arange(n, dtype=np.int64) * layers // n
    cap = {int(la): min_rounds(int((lay == la).sum()), s) for la in np.unique(lay)}
    return ChainProblem(small_arch(), starts, items, lay, cap, metric)


def test_dense_matches_arc_costs() -> None:
    p = make_problem(0, layers=2, start_copies=1)
    d = p.dense()
    s, n = p.n_slots, p.n_items
    u = np.repeat(np.arange(s + n), n)
    v = np.tile(np.arange(n), s + n)
    direct = p.arc_costs(u, v).reshape(s + n, n)
    allowed = d < FORBIDDEN
    assert np.array_equal(d[allowed], direct[allowed])
    assert (d[s + np.arange(n), np.arange(n)] == FORBIDDEN).all()
    back = p.item_layer[:, None] > p.item_layer[None, :]
    assert (d[s:][back] == FORBIDDEN).all()


def test_check_names_faults() -> None:
    p = make_problem(1, n=4, s=2)
    p.check([[0, 1], [2, 3]])
    with pytest.raises(InputError, match="loaded 0 times"):
        p.check([[0, 1], [2]])
    with pytest.raises(InputError, match="capacity 2"):
        p.check([[0, 1, 2], [3]])
    with pytest.raises(InputError, match="1 chains for 2 slots"):
        p.check([[0, 1, 2, 3]])
    assert p.evaluate([[0, 1], [2, 3]]) == int(p.dense()[0, 0] + p.dense()[2 + 0, 1]
                                                + p.dense()[1, 2] + p.dense()[2 + 2, 3])


def test_layer_order_and_capacity_validation() -> None:
    p = make_problem(2, n=6, s=2, layers=2)
    la = p.item_layer
    bad = [[int(np.flatnonzero(la == 1)[0]), int(np.flatnonzero(la == 0)[0])]]
    rest = [v for v in range(6) if v not in bad[0]]
    with pytest.raises(InputError, match="back in the layer order"):
        p.check([bad[0], rest])
    with pytest.raises(InputError, match="cannot hold"):
        ChainProblem(p.arch, p.starts, p.items, np.zeros(6, np.int64), {0: 1})
    with pytest.raises(InputError, match="metric"):
        ChainProblem(p.arch, p.starts, p.items, np.zeros(6, np.int64), {0: 3}, "joules")


def test_reduce_starts_keeps_value() -> None:
    p = make_problem(3, n=3, s=8, start_copies=2)
    sub, kept = reduce_starts(p)
    # 6 zero starts collapse to 3 (= n); the 2 random starts stay
    assert sub.n_slots == 5 and kept.tolist() == [0, 1, 2, 3, 4]
    sol = [[], [1], [], [], [], [0], [], [2]]
    moved = restrict_chains(p, sol, kept)
    assert sub.evaluate(moved) == p.evaluate(sol)
    back = expand_chains(moved, kept, p.n_slots)
    assert p.evaluate(back) == p.evaluate(sol)
    p.check(back)
