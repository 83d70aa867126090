"""Hand-worked examples that pin every rule of the latency model."""

from __future__ import annotations

import numpy as np
import pytest

from pimopt.latency import operation_costs, pair_costs, subadditive
from tests.conftest import small_arch

# small_arch: 4x4 OUs, t_set 10 ns, t_reset 20 ns, t_verify 1 ns, write_width 4


def pattern(rows: list[list[int]]) -> np.ndarray:
    return np.array(rows, dtype=np.uint8)


Z = pattern([[0] * 4] * 4)


def one(old: np.ndarray, new: np.ndarray, **kw: object) -> tuple[int, int, int, float]:
    c = pair_costs(small_arch(**kw), old, new)
    return int(c.passes[0]), int(c.latency_ps[0]), int(c.cell_writes[0]), float(c.energy_pj[0])


def test_no_change_costs_nothing() -> None:
    p = pattern([[1, 2, 3, 0]] * 4)
    assert one(p, p) == (0, 0, 0, 0.0)
    assert one(Z, Z) == (0, 0, 0, 0.0)


def test_set_and_reset_never_share_a_pass() -> None:
    old = Z.copy()
    old[0, 1] = 3
    new = Z.copy()
    new[0, 0] = 1
    # row 0: one SET pass (10 + 1) and one RESET pass (20 + 1)
    assert one(old, new) == (2, 32_000, 2, 4.0)


def test_rows_are_separate_passes_and_unchanged_rows_are_free() -> None:
    new = Z.copy()
    new[0, :] = 1
    new[2, :2] = 2
    # two changed rows, one SET pass each: 2 x (10 + 1) ns
    assert one(Z, new) == (2, 22_000, 6, 12.0)


def test_parallel_write_limit_splits_passes() -> None:
    new = Z.copy()
    new[1, :3] = 1
    assert one(Z, new, write_parallel=2) == (2, 22_000, 3, 6.0)
    assert one(Z, new, write_parallel=1) == (3, 33_000, 3, 6.0)


def test_incremental_pulses() -> None:
    new = Z.copy()
    new[0, :2] = [3, 1]
    # one pass with the largest change (3 pulses): 3 x 10 + 1 verify
    assert one(Z, new, pulse_mode="incremental") == (1, 31_000, 2, 8.0)
    # one cell per pass: passes of 3 and 1 pulses, two verifies
    assert one(Z, new, pulse_mode="incremental", write_parallel=1) == (2, 42_000, 2, 8.0)
    # RESET back to 0: changes of 3 and 1 levels, one pass of 3 pulses of 20 ns
    assert one(new, Z, pulse_mode="incremental") == (1, 61_000, 2, 8.0)
    down = new.copy()
    down[0, 0] = 1  # 3 -> 1 resets by 2 levels: 2 pulses, energy 2 x 2 pJ
    assert one(new, down, pulse_mode="incremental") == (1, 41_000, 1, 4.0)


def test_incremental_groups_by_decreasing_change() -> None:
    new = Z.copy()
    new[0, :] = [1, 3, 1, 3]
    # par 2: passes {3, 3} and {1, 1}: 3 + 1 pulses; any other grouping costs 3 + 3
    assert one(Z, new, pulse_mode="incremental", write_parallel=2)[1] == 4 * 10_000 + 2 * 1_000


def test_narrow_write_segments() -> None:
    new = Z.copy()
    new[0, 0] = 1
    new[0, 3] = 1
    # write_width 2: cells 0 and 3 are in different segments -> 2 passes
    assert one(Z, new, write_width=2)[:2] == (2, 22_000)
    assert one(Z, new)[:2] == (1, 11_000)


def test_wide_write_segments_share_passes_within_one_operation() -> None:
    a = small_arch(write_width=8)  # a segment spans 2 slots (a whole crossbar row)
    new = Z.copy()
    new[0, 0] = 1
    olds = np.stack([Z, Z])
    news = np.stack([new, new])
    # one operation writing slots 0 and 1 (same slot row): row 0 shares one pass
    both = operation_costs(a, np.array([0, 0]), np.array([0, 1]), olds, news, 1)
    assert both.passes.tolist() == [1] and both.latency_ps.tolist() == [11_000]
    assert both.cell_writes.tolist() == [2]
    # slots 0 and 2 are in different slot rows: no sharing
    apart = operation_costs(a, np.array([0, 0]), np.array([0, 2]), olds, news, 1)
    assert apart.passes.tolist() == [2]
    # two separate operations: one pass each
    sep = operation_costs(a, np.array([0, 1]), np.array([0, 1]), olds, news, 2)
    assert sep.latency_ps.tolist() == [11_000, 11_000]


def test_shared_passes_respect_parallel_limit() -> None:
    a = small_arch(write_width=8, write_parallel=4)
    new = Z.copy()
    new[0, :3] = 1
    c = operation_costs(a, np.array([0, 0]), np.array([0, 1]), np.stack([Z, Z]),
                        np.stack([new, new]), 1)
    assert c.passes.tolist() == [2]  # 6 cells in one segment, 4 per pass


@pytest.mark.parametrize("mode", ["single", "incremental"])
def test_vectorised_equals_one_by_one(mode: str) -> None:
    rng = np.random.default_rng(0)
    a = small_arch(pulse_mode=mode, write_parallel=3)
    old = rng.integers(0, 4, size=(50, 4, 4)).astype(np.uint8)
    new = rng.integers(0, 4, size=(50, 4, 4)).astype(np.uint8)
    batch = pair_costs(a, old, new)
    for i in range(50):
        single = pair_costs(a, old[i], new[i])
        assert batch.latency_ps[i] == single.latency_ps[0]
        assert batch.passes[i] == single.passes[0]
    ops = operation_costs(a, np.arange(50) // 5, np.arange(50) % 4, old, new, 10)
    assert ops.latency_ps.tolist() == [int(batch.latency_ps[i * 5:(i + 1) * 5].sum())
                                       for i in range(10)]


@pytest.mark.parametrize("kw", [{}, {"write_width": 2}, {"write_width": 8},
                                {"cell_bits": 3}, {"cell_bits": 1, "t_verify": 0.0}])
def test_thermometer_fast_path_equals_the_model(kw: dict[str, object]) -> None:
    from pimopt.latency import latency_from_codes, segment_codes

    a = small_arch(**kw)
    rng = np.random.default_rng(1)
    old = rng.integers(0, a.levels, size=(300, 4, 4)).astype(np.uint8)
    new = rng.integers(0, a.levels, size=(300, 4, 4)).astype(np.uint8)
    old[rng.random(old.shape) < 0.5] = 0
    new[:50] = old[:50]  # no change
    co, cn = segment_codes(a, old), segment_codes(a, new)
    assert co is not None and cn is not None
    assert np.array_equal(latency_from_codes(a, co, cn), pair_costs(a, old, new).latency_ps)


def test_fast_path_refuses_where_it_does_not_hold() -> None:
    from pimopt.latency import segment_codes

    z = np.zeros((1, 4, 4), np.uint8)
    assert segment_codes(small_arch(pulse_mode="incremental"), z) is None
    assert segment_codes(small_arch(write_parallel=2), z) is None


@pytest.mark.parametrize("kw", [{}, {"pulse_mode": "incremental"},
                                {"pulse_mode": "incremental", "write_parallel": 2},
                                {"write_width": 2, "t_verify": 0.0}, {"write_width": 8},
                                {"cell_bits": 3, "pulse_mode": "incremental"}])
def test_segment_table_equals_the_model(kw: dict[str, object]) -> None:
    """Latency is additive over row segments: table look-ups give pair_costs exactly."""
    from pimopt.latency import segment_table

    a = small_arch(**kw)
    rng = np.random.default_rng(2)
    pats = rng.integers(0, a.levels, size=(120, 4, 4)).astype(np.uint8)
    pats[rng.random(pats.shape) < 0.4] = 0
    pats[0] = 0
    st = segment_table(a, pats)
    assert st is not None
    u, v = rng.integers(0, 120, 500), rng.integers(0, 120, 500)
    assert np.array_equal(st.latency(u, v), pair_costs(a, pats[u], pats[v]).latency_ps)
    full = st.from_all(np.arange(120), np.arange(120))
    assert np.array_equal(full[7], pair_costs(a, pats, pats[np.full(120, 7)]).latency_ps)
    assert (np.diag(full) == 0).all()
    assert segment_table(a, pats, max_values=3) is None  # too many contents: no table


@pytest.mark.parametrize("preset", ["default", "mlc2", "multi-ou", "small-chip", "wv-mlc"])
def test_segment_memo_costs_equal_the_cell_arithmetic(preset: str) -> None:
    """Chain problems cost their arcs from the architecture's segment memo where the
    thermometer codes do not apply: the same latency as :func:`pair_costs` on every arc,
    with ids that stay valid while later problems extend the memo."""
    from pimopt.architecture import load_architecture
    from pimopt.chains.problem import ChainProblem, min_rounds
    from pimopt.latency import segment_memo

    a = load_architecture(preset)
    rng = np.random.default_rng(0)
    # few distinct segment contents, as in trained layers (the memo holds at most 1,024)
    pool = rng.integers(0, a.levels, size=(12, a.ou_cols)).astype(np.uint8)
    problems = []
    for seed in range(3):
        r = np.random.default_rng(seed)
        items = pool[r.integers(0, 12, size=(40 + seed, a.ou_rows))]
        starts = pool[r.integers(0, 12, size=(3, a.ou_rows))]
        problems.append(ChainProblem(a, starts, items, np.zeros(len(items), np.int64),
                                     {0: min_rounds(len(items), 3)}, "latency"))
    for p in problems + problems[:1]:  # the first again, after the memo grew
        u = rng.integers(0, p.n_slots + p.n_items, 500)
        v = rng.integers(0, p.n_items, 500)
        got = p.arc_costs(u, v)
        want = p.arc_costs_patterns(p.node_pattern(u), v)
        assert np.array_equal(got, want)
    memo = segment_memo(a)
    if a.pulse_mode == "incremental":
        assert all(p._ids is not None for p in problems)  # the memo was used
    big = rng.integers(0, a.levels, size=(5000, a.ou_rows, a.ou_cols)).astype(np.uint8)
    before = memo.table.shape
    if a.levels ** min(a.write_width or a.ou_cols, a.ou_cols) > 2048:
        assert memo.ids(big) is None and memo.table.shape == before  # over the cap: untouched


SUBADDITIVE = [{}, {"pulse_mode": "incremental"}, {"write_parallel": 1},
               {"write_width": 8, "write_parallel": 2}, {"cell_bits": 1},
               {"write_width": 2, "write_parallel": 2, "pulse_mode": "incremental"},
               {"t_set": 50.0, "t_reset": 5.0, "t_verify": 0.0}]


def _triples(rng: np.random.Generator, levels: int, n: int) -> tuple[np.ndarray, ...]:
    """Random (x, y, z) 4x4 patterns, y and z often close to their predecessor."""
    def draw() -> np.ndarray:
        return np.where(rng.random((n, 4, 4)) < rng.random((n, 1, 1)), 0,
                        rng.integers(0, levels, (n, 4, 4))).astype(np.uint8)
    x, y, z = draw(), draw(), draw()
    y = np.where(rng.random((n, 4, 4)) < 0.6, x, y).astype(np.uint8)
    z = np.where(rng.random((n, 4, 4)) < 0.6, y, z).astype(np.uint8)
    return x, y, z


@pytest.mark.parametrize("kw", SUBADDITIVE, ids=lambda k: ",".join(map(str, k.items())) or "-")
def test_subadditive_architectures_never_write_dearer_directly(kw: dict[str, object]) -> None:
    """d(x, z) <= d(x, y) + d(y, z) (docs/bounds.md section 7), latency and cell writes."""
    a = small_arch(**kw)
    assert subadditive(a)
    x, y, z = _triples(np.random.default_rng(7), 1 << a.cell_bits, 20_000)
    xy, yz, xz = pair_costs(a, x, y), pair_costs(a, y, z), pair_costs(a, x, z)
    assert (xz.latency_ps <= xy.latency_ps + yz.latency_ps).all()
    assert (xz.cell_writes <= xy.cell_writes + yz.cell_writes).all()


def test_incremental_pulses_in_narrow_passes_are_not_subadditive() -> None:
    """Cells grouped by decreasing change, 3 a pass: 0001 -> 2132 rises 3,2,1 | 1 (4 pulses,
    2 passes: 42 ns) but 0001 -> 0012 (11 ns) -> 2132 (one pass of 2 pulses: 21 ns) costs
    less, which is why the proven-programming makespan term is not used there."""
    a = small_arch(write_parallel=3, pulse_mode="incremental")
    assert not subadditive(a)
    x, y, z = (pattern([row, [0] * 4, [0] * 4, [0] * 4])
               for row in ([0, 0, 0, 1], [0, 0, 1, 2], [2, 1, 3, 2]))
    assert one(x, z, write_parallel=3, pulse_mode="incremental")[1] == 42_000
    assert one(x, y, write_parallel=3, pulse_mode="incremental")[1] == 11_000
    assert one(y, z, write_parallel=3, pulse_mode="incremental")[1] == 21_000
