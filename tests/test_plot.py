"""Gantt charts: aggregation per crossbar, batching per colour, zoom."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pimopt import Schedule, load_instance, solve
from pimopt.instance import Instance
from pimopt.plotting.timeline import gantt, gantt_bars, merge_intervals


def _union_length(start: np.ndarray, end: np.ndarray) -> int:
    """Union length by a plain sweep (the reference)."""
    total, reach = 0, None
    lo = 0
    for s, e in sorted(zip(start.tolist(), end.tolist(), strict=True)):
        if reach is None or s > reach:
            if reach is not None:
                total += reach - lo
            lo, reach = s, e
        else:
            reach = max(reach, e)
    return total + (reach - lo if reach is not None else 0)


@pytest.mark.parametrize("seed", range(5))
def test_merge_intervals_is_the_union(seed: int) -> None:
    rng = np.random.default_rng(seed)
    s = rng.integers(0, 1000, size=200)
    e = s + rng.integers(0, 50, size=200)
    ms, me = merge_intervals(s, e)
    assert (ms[1:] > me[:-1]).all()  # disjoint, sorted, separated by gaps
    assert int((me - ms).sum()) == _union_length(s, e)


@pytest.fixture(scope="module")
def lenet() -> tuple[Instance, Schedule]:
    inst = load_instance()  # 5,538 blocks
    return inst, solve(inst, "naive", time_limit=10).schedule


def test_crossbar_view_of_a_5000_block_schedule_shows_every_busy_interval(
        lenet: tuple[Instance, Schedule], tmp_path: Path) -> None:
    inst, sched = lenet
    assert sched.n_compute > 5000
    bars = gantt_bars(sched, inst, view="auto")  # large: aggregated per crossbar
    layers = np.unique(inst.block_layer[sched.comp_block])
    assert [b.kind for b in bars] == ["program", *["compute"] * layers.size]
    assert sum(b.x0.size for b in bars) < (sched.n_compute + sched.n_program) / 5
    # every crossbar's computes of every layer: the bars cover exactly their union
    for b in bars[1:]:
        for x in range(inst.arch.crossbars):
            sel = (sched.comp_crossbar == x) & (inst.block_layer[sched.comp_block] == b.layer)
            mine = np.isclose(b.y0, x - 0.1)
            want = _union_length(sched.comp_start[sel], sched.comp_end[sel]) * 1e-6
            assert float((b.x1[mine] - b.x0[mine]).sum()) == pytest.approx(want, abs=1e-9)
    # crossbar 0 computes alone for the first layer (the naive mapping): a visible bar
    first = bars[1]
    on0 = np.isclose(first.y0, -0.1)
    assert (first.x1[on0] - first.x0[on0]).max() > 0.3 * sched.makespan_ps() * 1e-6
    png = gantt(sched, tmp_path / "g.png", inst)
    assert png.stat().st_size > 10_000


def test_slot_view_and_zoom_window(lenet: tuple[Instance, Schedule]) -> None:
    inst, sched = lenet
    bars = gantt_bars(sched, inst, view="slot")
    assert sum(b.x0.size for b in bars if b.kind == "compute") == sched.n_compute
    lo, hi = 100.0, 200.0
    zoom = gantt_bars(sched, inst, view="crossbar", window_us=(lo, hi))
    for b in zoom:
        assert (b.x0 >= lo).all() and (b.x1 <= hi).all() and (b.x1 > b.x0).all()


SCRIPT = '''
import matplotlib.pyplot as plt
from pimopt import compare, load_instance, solve
from pimopt.plotting import draw_gantt

inst = load_instance("pimopt:tiny/tiny-conv", arch="small-chip")
runs = [solve(inst, m, time_limit=2) for m in ("naive", "balanced")]
print(compare(runs))
fig, axes = plt.subplots(1, 2, figsize=(16, 4))
for res, ax in zip(runs, axes):
    draw_gantt(res.schedule, ax, inst)
fig.savefig(OUT)
'''


def test_the_readme_script_composes_two_charts_and_keeps_the_backend(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """README's ten lines: two solves, a comparison, two Gantt charts side by side in one
    figure; the caller's backend (here pdf, set before) is never switched (the Gantt
    writer called ``matplotlib.use("Agg")`` before; report plots: test_best_report_sweep)."""
    import matplotlib

    from pimopt.plotting import gantt

    before = matplotlib.get_backend()
    matplotlib.use("pdf")
    try:
        readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
        assert SCRIPT.strip().replace("fig.savefig(OUT)", 'fig.savefig("gantt.png")') in readme
        out = tmp_path / "two.png"
        exec(SCRIPT, {"OUT": str(out)})
        text = capsys.readouterr().out
        assert "naive" in text and "balanced" in text and "vs first" in text
        assert out.stat().st_size > 10_000
        res = solve(load_instance("pimopt:tiny/tiny-fc2"), "naive", time_limit=2)
        gantt(res.schedule, tmp_path / "g.png")
        assert matplotlib.get_backend() == "pdf"
    finally:
        matplotlib.use(before)
