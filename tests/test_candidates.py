"""Candidate lists: chunking never changes them, a deadline only coarsens them."""

from __future__ import annotations

import time

import numpy as np
import pytest

import pimopt.chains.candidates as cmod
from pimopt.chains.candidates import candidate_lists


def _reference(patterns: np.ndarray, k: int, projections: int, seed: int) -> np.ndarray:
    """All windows of all orders pooled at once, then the k closest distinct (by L1, index)."""
    n = len(patterns)
    flat = patterns.reshape(n, -1).astype(np.int64)
    rng = np.random.default_rng(seed)
    orders = [np.lexsort(flat.T[::-1])]
    for _ in range(projections):
        orders.append(np.argsort(flat.astype(np.int16) @ rng.normal(size=flat.shape[1]),
                                 kind="stable"))
    w = max(1, k // 2)
    out = np.full((n, k), -1)
    for i in range(n):
        pool: set[int] = set()
        for order in orders:
            p = int(np.flatnonzero(order == i)[0])
            pool.update(int(order[j]) for j in range(max(0, p - w), min(n, p + w + 1)))
        pool.discard(i)
        ranked = sorted(pool, key=lambda j: (int(np.abs(flat[i] - flat[j]).sum()), j))[:k]
        out[i, :len(ranked)] = ranked
    return out


@pytest.mark.parametrize("seed", [0, 1])
def test_candidate_lists_match_the_pooled_definition_in_any_chunking(
        seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(seed)
    pats = rng.integers(0, 4, size=(300, 4, 4)).astype(np.uint8)
    pats[::7] = pats[1::7][: len(pats[::7])]  # some duplicates (distance 0)
    want = _reference(pats, 6, 2, seed)
    assert (candidate_lists(pats, k=6, projections=2, seed=seed) == want).all()
    monkeypatch.setattr(cmod, "_ROWS", 7)
    assert (candidate_lists(pats, k=6, projections=2, seed=seed) == want).all()


def test_a_past_deadline_keeps_valid_lists_of_the_first_order() -> None:
    rng = np.random.default_rng(3)
    pats = rng.integers(0, 4, size=(500, 4, 4)).astype(np.uint8)
    out = candidate_lists(pats, k=8, seed=3, deadline=time.perf_counter() - 1)
    assert out.shape == (500, 8)
    own = np.arange(500)[:, None]
    assert ((out >= -1) & (out < 500)).all() and not (out == own).any()
    for row in out:
        real = row[row >= 0]
        assert real.size >= 4 and len(set(real.tolist())) == real.size  # a window a side
    # the items' nearest positions in the lexicographic order (the always-merged one)
    ranked = candidate_lists(pats, k=8, projections=0, seed=3)
    assert all(set(a[a >= 0].tolist()) == set(b[b >= 0].tolist())
               for a, b in zip(out, ranked, strict=True))


def test_window_orders_first_order_is_lexicographic_and_later_ones_are_seeded() -> None:
    """Order 0 gives each item its neighbours in the lexicographic order of the cells
    (``-1`` past either end); further orders follow seeded cell permutations, so the
    same seed gives the same lists and every listed item is another item."""
    import itertools

    from pimopt.chains.candidates import window_orders

    def window_candidates(pats: np.ndarray, window: int, orders: int, seed: int = 0
                          ) -> np.ndarray:
        blocks = itertools.islice(window_orders(pats, window, seed), orders)
        return np.concatenate([np.zeros((len(pats), 0), dtype=np.int64), *blocks], axis=1)

    rng = np.random.default_rng(5)
    pats = rng.integers(0, 4, size=(30, 2, 3)).astype(np.uint8)
    flat = pats.reshape(30, -1)
    lex = np.lexsort(flat.T[::-1])
    first = next(window_orders(pats, window=2, seed=0))
    for rank, i in enumerate(lex.tolist()):
        want = [lex[rank + d] if 0 <= rank + d < 30 else -1 for d in (1, 2, -1, -2)]
        assert first[i].tolist() == [int(w) for w in want]
    a = window_candidates(pats, window=1, orders=5, seed=3)
    assert a.shape == (30, 10)
    assert (a == window_candidates(pats, window=1, orders=5, seed=3)).all()
    assert ((a >= -1) & (a < 30)).all() and (a != np.arange(30)[:, None]).all()
    # a later order is a lexicographic order of permuted cells: its neighbours are adjacent
    # in some total order, so every item but the two ends has both of them
    assert ((a[:, 2:] >= 0).sum(axis=0) == 29).all()
