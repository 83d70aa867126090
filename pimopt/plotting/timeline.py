"""Gantt charts of schedules: :func:`draw_gantt` into any matplotlib axes, :func:`gantt`
into a file; neither switches the matplotlib backend.

A Gantt chart of a large schedule cannot draw every operation: thousands of
slot sub-lanes make compute bars sub-pixel and one artist per operation takes
tens of seconds. :func:`gantt_bars` therefore aggregates: in the ``crossbar``
view each crossbar lane shows the union of its program operations (red) and,
per layer, the union of its computes (layer colours), so a crossbar is idle
exactly where its lane is blank; the ``slot`` view keeps one sub-lane per OU
slot for small schedules. Bars are drawn as one collection per colour.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pimopt.errors import InputError
from pimopt.instance import Instance
from pimopt.io.files import write_atomic_bytes
from pimopt.schedule import Schedule

SLOT_VIEW_MAX_OPS = 2_000  # "auto" draws per-slot sub-lanes up to this many computes
VIEWS = ("auto", "crossbar", "slot")


@dataclass(frozen=True)
class Bars:
    """Rectangles of one colour group: ``x0``, ``x1`` (us) and ``y0``, ``height`` (lanes)."""

    label: str
    kind: str  # "program" or "compute"
    layer: int  # layer index for computes, -1 for programming
    x0: NDArray[np.float64]
    x1: NDArray[np.float64]
    y0: NDArray[np.float64]
    height: NDArray[np.float64]


def merge_intervals(start: NDArray[np.int64], end: NDArray[np.int64]
                    ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """The union of intervals ``[start, end)`` as disjoint sorted intervals (vectorised)."""
    if start.size == 0:
        return start.copy(), end.copy()
    order = np.argsort(start, kind="stable")
    s, e = start[order], end[order]
    reach = np.maximum.accumulate(e)
    new = np.r_[True, s[1:] > reach[:-1]]  # a gap before this interval starts a new run
    first = np.flatnonzero(new)
    last = np.r_[first[1:] - 1, s.size - 1]
    return s[first], reach[last]


def gantt_bars(sched: Schedule, inst: Instance | None = None, view: str = "auto",
               window_us: tuple[float, float] | None = None) -> list[Bars]:
    """The rectangles of a Gantt chart, grouped by colour (see the module docstring).

    Parameters
    ----------
    sched
        The schedule.
    inst
        The instance (layer colours and names); without it all computes share a colour.
    view
        ``crossbar`` (aggregated per crossbar), ``slot`` (a sub-lane per OU
        slot) or ``auto`` (slot view up to :data:`SLOT_VIEW_MAX_OPS` computes).
    window_us
        Keep only what lies in ``[from, to)`` us (clipped).
    """
    if view not in VIEWS:
        raise InputError(f"view {view!r} is unknown: one of {', '.join(VIEWS)}")
    if view == "auto":
        view = "slot" if sched.n_compute <= SLOT_VIEW_MAX_OPS else "crossbar"
    to_us = 1e-6  # ps -> us
    layer = (inst.block_layer[sched.comp_block].astype(np.int64) if inst is not None
             else np.zeros(sched.n_compute, dtype=np.int64))
    bars: list[Bars] = []
    n_xb = int(max(sched.prog_crossbar.max(initial=-1), sched.comp_crossbar.max(initial=-1))) + 1

    def add(label: str, kind: str, li: int, s: list[NDArray[np.int64]],
            e: list[NDArray[np.int64]], y: list[NDArray[np.float64]],
            h: list[NDArray[np.float64]]) -> None:
        if not s:
            return
        x0 = np.concatenate(s).astype(np.float64) * to_us
        x1 = np.concatenate(e).astype(np.float64) * to_us
        y0, hh = np.concatenate(y).astype(np.float64), np.concatenate(h).astype(np.float64)
        if window_us is not None:
            lo, hi = window_us
            keep = (x1 > lo) & (x0 < hi)
            x0, x1, y0, hh = np.maximum(x0[keep], lo), np.minimum(x1[keep], hi), y0[keep], hh[keep]
        if x0.size:
            bars.append(Bars(label, kind, li, x0, x1, y0, hh))

    # programming: the union per crossbar, over the top of the lane
    ps, pe, py, ph = [], [], [], []
    for x in range(n_xb):
        sel = sched.prog_crossbar == x
        s, e = merge_intervals(sched.prog_start[sel], sched.prog_end[sel])
        ps.append(s)
        pe.append(e)
        py.append(np.full(s.size, x - 0.4))
        ph.append(np.full(s.size, 0.25 if view == "crossbar" else 0.8))
    add("program", "program", -1, ps, pe, py, ph)
    names = ([la.name for la in inst.network.layers] if inst is not None else ["compute"])
    for li in np.unique(layer).tolist():
        cs, ce, cy, ch = [], [], [], []
        for x in range(n_xb):
            sel = np.flatnonzero((sched.comp_crossbar == x) & (layer == li))
            if not sel.size:
                continue
            if view == "crossbar":
                s, e = merge_intervals(sched.comp_start[sel], sched.comp_end[sel])
                cs.append(s)
                ce.append(e)
                cy.append(np.full(s.size, x - 0.1))
                ch.append(np.full(s.size, 0.5))
            else:
                used = np.unique(sched.comp_slot[sched.comp_crossbar == x])
                lane = np.searchsorted(used, sched.comp_slot[sel])
                h = 0.8 / used.size
                cs.append(sched.comp_start[sel])
                ce.append(sched.comp_end[sel])
                cy.append(x - 0.4 + lane * h)
                ch.append(np.full(sel.size, h))
        add(f"compute {names[li]}" if inst is not None else "compute", "compute", li,
            cs, ce, cy, ch)
    return bars


def draw_gantt(sched: Schedule, ax: Any, inst: Instance | None = None,
               title: str | None = None, view: str = "auto",
               window_us: tuple[float, float] | None = None, legend: bool = True) -> Any:
    """Draw a Gantt chart of ``sched`` into the matplotlib axes ``ax`` and return it.

    One lane per crossbar (see :func:`gantt_bars`): program operations red,
    computes in one colour per layer, blank where a crossbar is idle. Nothing
    global is touched (no backend, no pyplot state), so charts compose::

        fig, (a, b) = plt.subplots(1, 2, figsize=(14, 4))
        draw_gantt(res1.schedule, a, inst)
        draw_gantt(res2.schedule, b, inst)
    """
    import matplotlib
    from matplotlib.collections import PolyCollection
    from matplotlib.patches import Patch

    bars = gantt_bars(sched, inst, view, window_us)
    n_xb = lanes(sched)
    cmap = matplotlib.colormaps["viridis"]
    layers = sorted({b.layer for b in bars if b.kind == "compute"})
    span = max(len(layers) - 1, 1)

    def colour(b: Bars) -> Any:
        return "tab:red" if b.kind == "program" else cmap(0.85 * layers.index(b.layer) / span)

    for b in bars:
        verts = np.stack([np.stack([b.x0, b.y0], 1), np.stack([b.x0, b.y0 + b.height], 1),
                          np.stack([b.x1, b.y0 + b.height], 1), np.stack([b.x1, b.y0], 1)], 1)
        ax.add_collection(PolyCollection(list(verts), facecolors=colour(b), edgecolors="none",
                                         antialiased=False))
    lo = 0.0 if window_us is None else window_us[0]
    hi = sched.makespan_ps() * 1e-6 if window_us is None else window_us[1]
    ax.set_xlim(lo, max(hi, lo + 1e-9))
    ax.set_yticks(range(n_xb), [f"crossbar {x}" for x in range(n_xb)])
    ax.set_ylim(-0.6, n_xb - 0.4)
    ax.invert_yaxis()
    ax.set_xlabel("time (us)")
    ax.set_ylabel("crossbar")
    ax.set_title(title or f"Schedule ({sched.method or 'unknown method'}): makespan "
                          f"{sched.makespan_ps() * 1e-6:,.3f} us; blank = idle")
    if legend:
        handles = [Patch(color=colour(b), label=b.label) for b in bars]
        if len(handles) > 9:  # many layers: the first ones and a note
            handles = [*handles[:8], Patch(color="white", label=f"... {len(handles) - 8} more")]
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    return ax


def lanes(sched: Schedule) -> int:
    """Crossbar lanes a Gantt chart of ``sched`` has (the highest crossbar used, + 1)."""
    return int(max(sched.prog_crossbar.max(initial=-1), sched.comp_crossbar.max(initial=-1))) + 1


def gantt(sched: Schedule, path: str | Path, inst: Instance | None = None,
          title: str | None = None, view: str = "auto",
          window_us: tuple[float, float] | None = None) -> Path:
    """Write a Gantt chart (PNG, or the format the name ends with) of ``sched`` to
    ``path`` atomically: :func:`draw_gantt` on a figure of its own (no pyplot, the
    caller's backend is left as it is)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 1.2 + 0.6 * max(lanes(sched), 1)))
    draw_gantt(sched, fig.subplots(), inst, title, view, window_us)
    fig.tight_layout()
    out = Path(path)
    buf = io.BytesIO()  # rendered first, then written atomically (parents made as needed)
    fig.savefig(buf, dpi=120, format=out.suffix.lstrip(".").lower() or "png")
    write_atomic_bytes(out, buf.getvalue())
    return out
