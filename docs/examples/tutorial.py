"""
Solve, compare, bound and plot
==============================

Load the bundled LeNet-5 on a chip whose weights do not fit (``small-chip``),
solve it with the naive baseline and with the makespan-aware ``balanced``,
compare them against the makespan lower bound, and draw both schedules side by
side. Every schedule is verified by replay before it is returned.
"""

# %%
# Load an instance and solve it twice
# -----------------------------------
import matplotlib.pyplot as plt

from pimopt import compare, load_instance, solve, verify
from pimopt.plotting import draw_gantt

inst = load_instance("pimopt:tiny/tiny-conv", arch="small-chip")
runs = [solve(inst, m, time_limit=2) for m in ("naive", "balanced")]
print(compare(runs))

# %%
# The bound and the gap
# ---------------------
# ``makespan_bound_ns`` is a lower bound valid for every schedule of the
# instance (docs/bounds.md); the gap says how far a schedule can still be from
# the optimum at most.
best = runs[-1]
print(f"makespan {best.metrics['makespan_ns']:,.0f} ns, bound "
      f"{best.metrics['makespan_bound_ns']:,.0f} ns, gap {100 * best.metrics['makespan_gap']:.1f}%")
assert verify(inst, best.schedule).ok

# %%
# Two Gantt charts in one figure
# ------------------------------
fig, axes = plt.subplots(2, 1, figsize=(10, 6))
for res, ax in zip(runs, axes, strict=True):
    draw_gantt(res.schedule, ax, inst, legend=False)
fig.tight_layout()
