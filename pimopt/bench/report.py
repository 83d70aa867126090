"""Reports of benchmark and sweep runs: a Markdown summary and PNG plots.

:func:`write_report` reads run records (:mod:`pimopt.bench`), the best-known
files of their suites (:mod:`pimopt.bench.best`), and writes ``report.md`` with

- provenance: versions, machines, seeds, time limits of the runs;
- per-method summary: runs, solved, proven optimal, wins, geometric-mean ratio
  of the objective against ``naive`` on the same instance and seed, mean gap to
  the bound and to the best-known objective, mean runtime;
- per-instance table: objective, bound, gaps, status, runtime per method;
- for sweeps, the ablation table (every grid point x method: objective,
  makespan, programming, share of programming exposed on the critical path);

and the plots ``gap.png`` (gap per method), ``breakdown.png`` (programming vs
compute latency per network), ``runtime_quality.png`` and, for sweeps,
``ablation.png``. Every plot has a title, axis labels with units and a legend.
"""

from __future__ import annotations

import json
import math
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pimopt.bench.best import best_path, load_best, lookup
from pimopt.errors import InputError
from pimopt.io.files import write_atomic

SOLVED = ("optimal", "feasible")
UNITS = {"makespan": "ns", "programming": "ns", "critical_path": "ns", "cell_writes": "cells",
         "energy": "pJ"}


@dataclass
class PlotInfo:
    """What a plot shows (kept for the tests and the report text)."""

    path: Path
    title: str
    xlabel: str
    ylabel: str
    legend: list[str]


def _case(rec: dict[str, Any]) -> str:
    """A readable key of the problem: instance label plus sweep point."""
    spec = rec.get("spec", {})
    params = spec.get("params") or {}
    tail = "" if not params else " [" + ", ".join(f"{k}={v}" for k, v in params.items()) + "]"
    return f"{spec.get('instance', '?')}{tail}"


def _case_key(spec: dict[str, Any]) -> tuple[Any, ...]:
    """Order of cases: instance name, then grid values (numbers by value)."""
    vals = [(0, v, "") if isinstance(v, (int, float)) and not isinstance(v, bool)
            else (1, 0, str(v)) for v in (spec.get("params") or {}).values()]
    return (str(spec.get("instance", "")), *vals)


def _solved(rec: dict[str, Any]) -> bool:
    return rec.get("status") in SOLVED and rec.get("objective") is not None


def _makespan_gap(r: dict[str, Any]) -> float | None:
    """The run's makespan gap to the makespan bound (every objective; older records: None)."""
    g = (r.get("metrics") or {}).get("makespan_gap")
    return None if g is None else float(g)


def _gap(r: dict[str, Any], reference: float | None) -> float | None:
    """``(objective - reference) / objective`` of a solved run, else ``None``."""
    if not _solved(r) or reference is None:
        return None
    obj = float(r["objective"])
    return (obj - reference) / obj if obj > 0 else 0.0


def _fmt(v: float | None, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return f"{v:.{digits}g}"


def _num(v: float | None, unit: str = "") -> str:
    """A measured value as a person reads it: thousands separators, fixed decimals (two
    for ns, us and pJ, none for counts), never exponent notation."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return f"{v:,.0f}" if unit == "cells" else f"{v:,.2f}"


def _tick(v: float) -> str:
    """An axis tick without exponent notation: 1,400,000 and 0.25, not 1.4e+06."""
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.3g}" if abs(v) >= 1e-3 or v == 0 \
        else f"{v:.2e}"


def _pct(v: float | None) -> str:
    return "" if v is None or math.isnan(v) else f"{100 * v:.2f}%"


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


class Analysis:
    """Derived quantities of a set of run records (gaps, wins, ratios)."""

    def __init__(self, records: list[dict[str, Any]], best: dict[str, Any]) -> None:
        self.records = records
        self.best = best
        from pimopt.methods.registry import METHODS

        order = {m: i for i, m in enumerate(METHODS)}
        self.methods = sorted(dict.fromkeys(r["method"] for r in records),
                              key=lambda m: order.get(m, len(order)))
        self.by_case: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in records:
            self.by_case[_case(r)].append(r)
        self.cases = sorted(self.by_case,
                            key=lambda c: _case_key(self.by_case[c][0].get("spec", {})))
        # the best objective and bound per case: this report's runs and the best-known file
        self.best_obj: dict[str, float] = {}
        self.best_bound: dict[str, float] = {}
        for r in records:
            c = _case(r)
            if _solved(r):
                self.best_obj[c] = min(self.best_obj.get(c, math.inf), float(r["objective"]))
            if r.get("bound") is not None:
                self.best_bound[c] = max(self.best_bound.get(c, -math.inf), float(r["bound"]))
            entry = lookup(best, r) if _solved(r) else None
            if entry:
                if entry.get("objective"):
                    self.best_obj[c] = min(self.best_obj[c], entry["objective"]["value"])
                if entry.get("bound"):
                    self.best_bound[c] = max(self.best_bound.get(c, -math.inf),
                                             entry["bound"]["value"])

    def gap_bound(self, r: dict[str, Any]) -> float | None:
        """Gap of a run to the best bound known for its case."""
        return _gap(r, self.best_bound.get(_case(r)))

    def gap_best(self, r: dict[str, Any]) -> float | None:
        """Gap of a run to the best-known objective of its case."""
        return _gap(r, self.best_obj.get(_case(r)))

    def groups(self) -> dict[tuple[str, int], list[dict[str, Any]]]:
        """Solved runs by (case, seed): the runs that compete with each other."""
        g: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
        for r in self.records:
            if _solved(r):
                g[(_case(r), int(r["seed"]))].append(r)
        return g

    def method_summary(self) -> list[dict[str, Any]]:
        groups = self.groups()
        rows = []
        for m in self.methods:
            runs = [r for r in self.records if r["method"] == m]
            solved = [r for r in runs if _solved(r)]
            wins = 0
            ratios = []
            for grp in groups.values():
                mine = [r for r in grp if r["method"] == m]
                if not mine:
                    continue
                low = min(float(r["objective"]) for r in grp)
                if float(mine[0]["objective"]) <= low * (1 + 1e-9):
                    wins += 1
                naive = [r for r in grp if r["method"] == "naive"]
                if naive and float(naive[0]["objective"]) > 0 and float(mine[0]["objective"]) > 0:
                    ratios.append(float(mine[0]["objective"]) / float(naive[0]["objective"]))
            gb = [g for r in solved if (g := self.gap_bound(r)) is not None]
            gk = [g for r in solved if (g := self.gap_best(r)) is not None]
            gm = [g for r in solved if (g := _makespan_gap(r)) is not None]
            rows.append({
                "method": m, "runs": len(runs), "solved": len(solved),
                "optimal": sum(r["status"] == "optimal" for r in runs),
                "not_run": sum(r["status"] in ("not run", "refused") for r in runs),
                "errors": sum(r["status"] == "error" for r in runs), "wins": wins,
                "geomean_vs_naive": float(np.exp(np.mean(np.log(ratios)))) if ratios else None,
                "mean_gap_bound": _mean(gb), "mean_gap_best": _mean(gk),
                "mean_makespan_gap": _mean(gm),
                "mean_runtime_s": _mean([float(r["runtime_s"]) for r in solved]),
                "aims_at": "; ".join(sorted({str((r.get("info") or {}).get("aims_at"))
                                             for r in solved
                                             if (r.get("info") or {}).get("aims_at")})),
            })
        return rows


def _provenance(records: list[dict[str, Any]]) -> list[str]:
    def uniq(values: list[Any]) -> str:
        return ", ".join(sorted({str(v) for v in values if v is not None})) or "unknown"

    vers = [r.get("versions", {}) for r in records]
    specs = [r.get("spec", {}) for r in records]
    lines = [
        f"- runs: {len(records)} ({sum(_solved(r) for r in records)} solved and verified)",
        f"- suites/sweeps: {uniq([s.get('suite') for s in specs])}",
        "- versions: " + "; ".join(f"{pkg} {uniq([v.get(pkg) for v in vers])}" for pkg in (
            "pimopt", "python", "ortools", "pulp", "highspy", "numpy", "scipy")),
        f"- pimopt commit(s): {uniq([r.get('commit') for r in records])}",
        f"- machines: {uniq([r.get('machine') for r in records])}; hosts: "
        f"{uniq([r.get('host') for r in records])}",
        f"- seeds: {uniq([s.get('seed') for s in specs])}; time limits (s): "
        f"{uniq([s.get('time_limit') for s in specs])}; objectives: "
        f"{uniq([r.get('objective_name') for r in records])}",
        f"- finished between {min((r.get('finished') or '' for r in records), default='')} and "
        f"{max((r.get('finished') or '' for r in records), default='')}",
    ]
    return lines


def _save(fig: Any, path: Path, ax: Any) -> PlotInfo:
    legend = ax.get_legend()
    labels = [t.get_text() for t in legend.get_texts()] if legend else []
    info = PlotInfo(path, fig._suptitle.get_text() if fig._suptitle else ax.get_title(),
                    ax.get_xlabel(), ax.get_ylabel(), labels)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    os.replace(tmp, path)  # no half-written PNG if interrupted
    return info


def _markers(n: int) -> list[str]:
    base = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p"]
    return [base[i % len(base)] for i in range(n)]


def _colours(n: int) -> list[Any]:
    """Distinct colours for up to 20 series (matplotlib's default cycle has 10)."""
    import matplotlib

    cmap = matplotlib.colormaps["tab20" if n > 10 else "tab10"]
    return [cmap(i % cmap.N) for i in range(n)]


def plot_gap(an: Analysis, path: Path) -> PlotInfo | None:
    """Gap to the best bound (or, without bounds, to the best-known objective) per method."""
    from matplotlib.figure import Figure

    use_bound = any(an.gap_bound(r) is not None for r in an.records)
    gap = an.gap_bound if use_bound else an.gap_best
    fig = Figure(figsize=(max(6.0, 0.8 * len(an.methods) + 3), 4.5))
    ax = fig.subplots()
    any_point = False
    colours = _colours(len(an.cases))
    for ci, (case, marker) in enumerate(zip(an.cases, _markers(len(an.cases)), strict=True)):
        xs, ys = [], []
        for mi, m in enumerate(an.methods):
            vals = [g for r in an.by_case[case] if r["method"] == m
                    and (g := gap(r)) is not None]
            if vals:
                xs.append(mi + (ci - len(an.cases) / 2) * 0.6 / max(1, len(an.cases)))
                ys.append(100 * float(np.mean(vals)))
        if xs:
            any_point = True
            ax.scatter(xs, ys, marker=marker, label=case, s=28, color=colours[ci])
    if not any_point:
        return None
    ax.set_xticks(range(len(an.methods)), an.methods, rotation=30, ha="right")
    ax.set_xlabel("method")
    what = "best valid lower bound" if use_bound else "best-known objective"
    ax.set_ylabel(f"gap to the {what} (%)")
    ax.set_title(f"Gap to the {what}, per method and instance (mean over seeds)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="instance")
    return _save(fig, path, ax)


def plot_breakdown(an: Analysis, path: Path) -> PlotInfo | None:
    """Share of the makespan: exposed programming vs compute, naive vs the best method."""
    from matplotlib.figure import Figure

    bars = []  # (label, exposed_ns, rest_ns, hidden_ns)
    for case in an.cases:
        runs = [r for r in an.by_case[case] if _solved(r)]
        if not runs:
            continue
        chosen = {}
        naive = [r for r in runs if r["method"] == "naive"]
        if naive:
            chosen["naive"] = naive[0]
        best = min(runs, key=lambda r: r["metrics"]["makespan_ns"])
        if best["method"] == "naive" or (naive and best is naive[0]):
            chosen = {"naive (also the best)": best}  # one bar, not the same run twice
        else:
            chosen[f"best: {best['method']}"] = best
        for tag, r in chosen.items():
            m = r["metrics"]
            exposed = float(m["programming_exposed_ns"])
            hidden = max(0.0, float(m["programming_busy_ns"]) - exposed)
            bars.append((f"{case}\n{tag}", exposed, float(m["makespan_ns"]) - exposed, hidden))
    if not bars:
        return None
    fig = Figure(figsize=(8.5, max(3.0, 0.45 * len(bars) + 1.5)))
    ax = fig.subplots()
    y = np.arange(len(bars))
    span = np.array([b[1] + b[2] for b in bars])  # the makespan of each bar
    exp = 100 * np.array([b[1] for b in bars]) / span
    rest = 100 * np.array([b[2] for b in bars]) / span
    hid = 100 * np.array([b[3] for b in bars]) / span
    ax.barh(y, exp, color="tab:red", label="programming on the critical path (exposed)")
    ax.barh(y, rest, left=exp, color="tab:blue", label="compute (rest of the makespan)")
    ax.barh(y + 0.32, hid, height=0.18, color="tab:orange",
            label="programming hidden behind compute")
    for yi, total, e in zip(y.tolist(), span.tolist(), exp.tolist(), strict=True):
        # the makespan, and the exposed share as text: visible however small its bar is
        share = f"{e:.2g}%" if 0 < e < 1 else f"{e:.1f}%"
        ax.text(101, yi, f"{total / 1000:,.1f} us, exposed {share}", va="center", fontsize=7)
    ax.set_xlim(0, 135)
    ax.set_yticks(y, [b[0] for b in bars], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("share of the makespan (%); the makespan is printed at the right")
    ax.set_ylabel("network and method")
    ax.set_title("Inference latency: programming vs compute per network")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2)
    return _save(fig, path, ax)


def plot_runtime_quality(an: Analysis, path: Path) -> PlotInfo | None:
    """Runtime against objective / best-known objective, one marker per method."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.0, 4.5))
    ax = fig.subplots()
    drawn = False
    colours = _colours(len(an.methods))
    for i, (m, marker) in enumerate(zip(an.methods, _markers(len(an.methods)), strict=True)):
        pts = [(float(r["runtime_s"]), float(r["objective"]) / an.best_obj[_case(r)])
               for r in an.records if r["method"] == m and _solved(r)
               and an.best_obj.get(_case(r), 0) > 0]
        if pts:
            xs, ys = zip(*pts, strict=True)
            ax.scatter(xs, ys, marker=marker, label=m, s=24, alpha=0.8, color=colours[i])
            drawn = True
    if not drawn:
        return None
    ax.set_xscale("log")
    ax.set_xlabel("runtime (s, log scale)")
    ax.set_ylabel("objective / best-known objective (ratio)")
    ax.set_title("Runtime vs quality (every verified run)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="method")
    return _save(fig, path, ax)


def _axis_values(values: list[Any]) -> tuple[list[float], list[str] | None]:
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return [float(v) for v in values], None
    labels = [str(v) for v in values]
    return [float(i) for i in range(len(values))], labels


def plot_ablation(an: Analysis, path: Path) -> PlotInfo | None:
    """One column per varying sweep parameter: objective and exposed programming share."""
    import matplotlib
    import matplotlib.ticker
    from matplotlib.figure import Figure

    recs = [r for r in an.records if _solved(r) and r.get("spec", {}).get("params")]
    if not recs:
        return None
    keys = list(dict.fromkeys(k for r in recs for k in r["spec"]["params"]))
    keys = [k for k in keys if len({json.dumps(r["spec"]["params"].get(k)) for r in recs}) > 1]
    if not keys:
        return None
    objective = recs[0]["objective_name"]
    unit = UNITS.get(objective, "")
    scale = 1000.0 if unit == "ns" else 1.0  # latencies in us
    unit = "us" if unit == "ns" else unit
    fig = Figure(figsize=(4.2 * len(keys), 7.0))
    axes = fig.subplots(2, len(keys), squeeze=False)
    for j, key in enumerate(keys):
        values = list(dict.fromkeys(r["spec"]["params"][key] for r in recs))
        try:
            values = sorted(values)
        except TypeError:
            pass
        xs, labels = _axis_values(values)
        colours = _colours(len(an.methods))
        for i, (m, marker) in enumerate(zip(an.methods, _markers(len(an.methods)),
                                            strict=True)):
            top, bottom = [], []
            for v in values:
                sel = [r for r in recs if r["method"] == m and r["spec"]["params"][key] == v]
                top.append(float(np.exp(np.mean(np.log([max(1e-12, float(r["objective"]) / scale)
                                                          for r in sel])))) if sel else np.nan)
                bottom.append(100 * float(np.mean([r["metrics"]["programming_exposed_share"]
                                                   for r in sel])) if sel else np.nan)
            axes[0][j].plot(xs, top, marker=marker, label=m, color=colours[i])
            axes[1][j].plot(xs, bottom, marker=marker, label=m, color=colours[i])
        for row in (0, 1):
            ax = axes[row][j]
            if labels:
                ax.set_xticks(xs, labels)
            else:
                if len(xs) > 2 and max(xs) / max(min(xs), 1e-12) >= 8:
                    ax.set_xscale("log", base=2)
                if all(float(v).is_integer() for v in xs):  # integer axes: the values as ticks
                    ax.set_xticks(xs, [f"{int(v):,}" for v in xs])
                    ax.minorticks_off()
            ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(
                lambda v, _: _tick(v)))  # readable numbers, no 1.399e+05
            ax.set_xlabel(key)
            ax.grid(alpha=0.3)
        axes[0][j].set_ylabel(f"{objective} ({unit}, geometric mean)")
        axes[1][j].set_ylabel("exposed programming (% of makespan)")
        axes[0][j].set_title(f"{objective} vs {key}", fontsize=9)
        axes[1][j].set_title(f"exposed programming vs {key}", fontsize=9)
    axes[0][0].legend(fontsize=7, title="method")
    fig.suptitle("Ablation: each parameter, averaged over the other grid axes")
    fig.tight_layout()
    return _save(fig, path, axes[0][0])


def _shown(path: str | Path) -> str:
    """A path relative to the working folder when it lies below it."""
    p = Path(path).resolve()
    try:
        return str(p.relative_to(Path.cwd()))
    except ValueError:
        return str(p)


def write_report(run_dir: str | Path, out: str | Path | None = None,
                 best_files: list[str | Path] | None = None) -> tuple[Path, list[PlotInfo]]:
    """Write ``report.md`` and the plots for the run records under ``run_dir``.

    Parameters
    ----------
    run_dir
        Folder searched (recursively) for run records.
    out
        Output folder (default ``run_dir``).
    best_files
        Best-known files; default: the ones beside the records' suite files.

    Returns
    -------
    (report path, plots written)
    """
    from pimopt.bench.runner import load_records

    records = load_records(run_dir)
    if not records:
        raise InputError(f"no run records (pimopt-run JSON files) under {run_dir}")
    out_dir = Path(out) if out is not None else Path(run_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = [Path(f) for f in best_files] if best_files is not None else sorted(
        {best_path(sf) for r in records if (sf := r.get("spec", {}).get("suite_file"))})
    best: dict[str, Any] = {}
    for f in files:
        best.update(load_best(f))
    an = Analysis(records, best)
    plots = [p for p in (plot_gap(an, out_dir / "gap.png"),
                         plot_breakdown(an, out_dir / "breakdown.png"),
                         plot_runtime_quality(an, out_dir / "runtime_quality.png"),
                         plot_ablation(an, out_dir / "ablation.png")) if p is not None]
    lines = ["# pimopt benchmark report", "",
             f"Run records from `{_shown(run_dir)}`; best-known files: "
             f"{', '.join(f'`{_shown(f)}`' for f in files if Path(f).exists()) or 'none'}.", "",
             *_provenance(records), ""]
    lines += ["## Methods", "",
              "Wins: runs that reach the lowest objective of their instance and seed (ties "
              "count for each). Ratio vs naive: geometric mean of objective / naive's objective "
              "on the same instance and seed. Gaps are (objective - reference) / objective, to "
              "the best valid bound and to the best-known objective (this report's runs and "
              "the best-known file); `pimopt solve` prints the gap to the run's own bound "
              "(the 'run bound' column below), so the two differ when another run or the "
              "best-known file proved a better bound. The makespan gap is every run's "
              "makespan against the "
              "makespan bound (docs/bounds.md, section 6), whatever its objective. Runtime is "
              "the whole solve: mapping, scheduling, verification, and the instance's lower "
              "bound for the first run of an instance in a worker process (later runs reuse "
              "it).", ""]
    rows = []
    for s in an.method_summary():
        rows.append([s["method"], str(s["runs"]), str(s["solved"]), str(s["optimal"]),
                     str(s["not_run"]), str(s["errors"]), str(s["wins"]),
                     _fmt(s["geomean_vs_naive"]), _pct(s["mean_gap_bound"]),
                     _pct(s["mean_gap_best"]), _pct(s["mean_makespan_gap"]),
                     _num(s["mean_runtime_s"]), s["aims_at"] or "-"])
    lines += [_table(["method", "runs", "solved", "optimal", "not run", "errors", "wins",
                      "ratio vs naive", "mean gap to bound", "mean gap to best-known",
                      "mean makespan gap", "mean runtime (s)", "minimised"], rows), ""]
    objectives = {str(r.get("objective_name")) for r in records if _solved(r)}
    aimed = {s["method"]: s["aims_at"] for s in an.method_summary() if s["aims_at"]}
    off = [m for m, a in aimed.items() if objectives == {"makespan"} and "makespan" not in a
           and m != "naive"]
    if off:
        lines += [f"Note: the objective is the makespan, but {', '.join(off)} minimised "
                  "something else (column 'minimised'): compare them on the makespan with "
                  "that in mind.", ""]
    lines += ["## Instances", ""]
    for case in an.cases:
        recs = an.by_case[case]
        obj = recs[0].get("objective_name", "")
        bb, bo = an.best_bound.get(case), an.best_obj.get(case)
        unit = UNITS.get(obj, "")
        lines += [f"### {case}", "",
                  f"Objective {obj} ({unit}); best bound "
                  f"{f'{_num(bb, unit)} {unit}' if bb is not None else 'none'}; best-known "
                  f"objective {f'{_num(bo, unit)} {unit}' if bo is not None else 'none'}.", ""]
        rows = []
        for r in recs:
            rows.append([r["method"], str(r["seed"]), str(r["status"]),
                         _num(r.get("objective"), unit), _num(r.get("bound"), unit),
                         _pct(an.gap_bound(r)), _pct(an.gap_best(r)),
                         _pct(_makespan_gap(r)), _num(r.get("runtime_s")),
                         "" if r.get("error") is None else str(r["error"])[:90]])
        lines += [_table(["method", "seed", "status", f"objective ({unit})",
                          f"run bound ({unit})", "gap to bound", "gap to best-known",
                          "makespan gap", "runtime (s)", "note"], rows),
                  ""]
    sweep = [r for r in records if r.get("spec", {}).get("params") and _solved(r)]
    if sweep:
        keys = list(dict.fromkeys(k for r in sweep for k in r["spec"]["params"]))
        rows = []
        order = {m: i for i, m in enumerate(an.methods)}

        def point_key(r: dict[str, Any]) -> tuple[Any, ...]:
            vals = [r["spec"]["params"].get(k) for k in keys]
            return (*((0, v, "") if isinstance(v, (int, float)) else (1, 0, str(v))
                      for v in vals), order[r["method"]], r["seed"])

        for r in sorted(sweep, key=point_key):
            m = r["metrics"]
            busy = float(m["programming_busy_ns"])
            hidden = 0.0 if busy <= 0 else 1 - float(m["programming_exposed_ns"]) / busy
            rows.append([*(str(r["spec"]["params"].get(k, "")) for k in keys), r["method"],
                         str(r["seed"]), _num(float(m["makespan_ns"]) / 1000, "us"),
                         _num(float(m["programming_ns"]) / 1000, "us"),
                         _pct(float(m["programming_exposed_share"])), _pct(hidden)])
        lines += ["## Ablation", "",
                  "Makespan and total programming latency in us; exposed share: programming "
                  "on the critical path as a share of the makespan; hidden: share of the "
                  "programming time that overlaps compute.", "",
                  _table([*keys, "method", "seed", "makespan (us)", "programming (us)",
                          "exposed share", "hidden"], rows), ""]
    if plots:
        lines += ["## Plots", ""]
        for p in plots:
            rel = p.path.relative_to(out_dir)
            lines += [f"![{p.title}]({rel})", ""]
    report = out_dir / "report.md"
    write_atomic(report, "\n".join(lines))
    return report, plots
