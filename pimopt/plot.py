"""Plots of schedules (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pimopt.instance import Instance
from pimopt.schedule import Schedule


def gantt(sched: Schedule, path: str | Path, inst: Instance | None = None,
          title: str | None = None) -> Path:
    """Write a Gantt chart PNG: one lane per crossbar, program and compute distinguished.

    Program operations are drawn in red over the full lane height; computes in
    blue shades per layer (when ``inst`` is given), stacked in sub-lanes per OU
    slot so that concurrent OUs stay visible.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    n_xb = int(max(sched.prog_crossbar.max(initial=-1), sched.comp_crossbar.max(initial=-1))) + 1
    fig, ax = plt.subplots(figsize=(12, 1.2 + 0.6 * max(n_xb, 1)))
    to_us = 1e-6  # ps -> us
    layer = (inst.block_layer[sched.comp_block] if inst is not None
             else np.zeros(sched.n_compute, dtype=np.int64))
    n_layers = int(layer.max(initial=0)) + 1
    cmap = plt.get_cmap("Blues")
    for x in range(n_xb):
        sel = np.flatnonzero(sched.prog_crossbar == x)
        ax.broken_barh([(s * to_us, (e - s) * to_us) for s, e in
                        zip(sched.prog_start[sel], sched.prog_end[sel], strict=True)],
                       (x - 0.4, 0.8), facecolors="tab:red", edgecolor="none")
        sel = np.flatnonzero(sched.comp_crossbar == x)
        if sel.size:
            slots = np.unique(sched.comp_slot[sel])
            lane = {int(s): i for i, s in enumerate(slots.tolist())}
            h = 0.8 / len(slots)
            for i in sel.tolist():
                y = x - 0.4 + lane[int(sched.comp_slot[i])] * h
                colour = cmap(0.35 + 0.6 * layer[i] / max(n_layers - 1, 1))
                ax.broken_barh([(sched.comp_start[i] * to_us,
                                 (sched.comp_end[i] - sched.comp_start[i]) * to_us)],
                               (y, h), facecolors=colour, edgecolor="none")
    ax.set_yticks(range(n_xb), [f"crossbar {x}" for x in range(n_xb)])
    ax.set_ylim(-0.6, n_xb - 0.4)
    ax.invert_yaxis()
    ax.set_xlabel("time (us)")
    ax.set_ylabel("crossbar")
    ax.set_title(title or f"Schedule ({sched.method or 'unknown method'}): makespan "
                          f"{sched.makespan_ps() * to_us:.3f} us")
    handles = [Patch(color="tab:red", label="program")]
    handles += [Patch(color=cmap(0.35 + 0.6 * li / max(n_layers - 1, 1)),
                      label=f"compute {inst.network.layers[li].name}" if inst else "compute")
                for li in range(n_layers)][:8]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
