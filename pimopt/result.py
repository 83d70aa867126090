"""What a solve returns: :class:`Result` (a verified solution, its objective, bound,
status and stages) and :class:`Status`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from pimopt.errors import InputError
from pimopt.instance import Instance
from pimopt.io.files import write_folder
from pimopt.layout import laid_out
from pimopt.mapping import Mapping
from pimopt.objectives import objective_unit, reuse_counts
from pimopt.schedule import Schedule
from pimopt.stop import Stage
from pimopt.verify import Report

AUTO_NPZ_BLOCKS = 100_000  # Result.save(format="auto") writes columnar files from this size on
SAVE_FORMATS = ("auto", "json", "gz", "npz")


class Status(StrEnum):
    """How a solve ended (str-valued: compares and serialises as its text)."""

    OPTIMAL = "optimal"  # the objective equals a valid lower bound (proven)
    FEASIBLE = "feasible"  # verified, not proven optimal
    INFEASIBLE = "infeasible"
    TIMEOUT = "timeout"  # no solution within the time limit
    INTERRUPTED = "interrupted"  # stopped by Ctrl-C: the best solution so far, verified


STATUSES = tuple(s.value for s in Status)


@dataclass
class Result:
    """A verified solution and everything needed to report it (docs/model.md, *Costs*).

    Attributes
    ----------
    method, objective_name, status
        What ran, what is reported as objective, and how it ended.
    objective
        The objective recomputed from the solution (verifier and mapping metrics).
    bound, gap
        Best valid lower bound known for the objective (``None`` if none) and
        ``(objective - bound) / objective``.
    runtime_s, seed, versions
        Wall time of the whole solve (verification included), seed, versions.
    mapping, schedule, report
        The solution and the verifier's report (always ``ok``).
    objectives
        The three mapping objectives (programming, critical path, cell writes).
    options, info
        The solve's options; what each stage reported (``info["aims_at"]`` says
        what the mapping minimised, ``info["makespan_bound"]`` the bound's terms).
    stages
        Every stage run (bound, map, improve, schedule, retime, verify) with its
        budget, time taken and whether the time limit cut it short.
    makespan_bound_ns
        The makespan lower bound (:mod:`pimopt.bounds.makespan`), reported with
        every result unless ``bound=False``; ``metrics`` gives the makespan's gap to it.
    instance
        The instance solved (for :meth:`summary`, :meth:`to_json`, :meth:`dumps`).
    """

    method: str
    objective_name: str
    status: Status
    objective: float
    bound: float | None
    gap: float | None
    runtime_s: float
    seed: int
    versions: dict[str, str]
    mapping: Mapping
    schedule: Schedule
    report: Report
    objectives: dict[str, int] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    stages: list[Stage] = field(default_factory=list)
    makespan_bound_ns: float | None = None
    instance: Instance | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.status = Status(self.status)

    @property
    def unit(self) -> str:
        """The objective's unit."""
        return objective_unit(self.objective_name)

    def __repr__(self) -> str:
        unit = self.unit
        bound = "None" if self.bound is None else f"{self.bound:g} {unit}"
        gap = "None" if self.gap is None else f"{100 * self.gap:.2f}%"
        return (f"Result(method={self.method!r}, status={self.status.value!r}, "
                f"{self.objective_name}={self.objective:g} {unit}, bound={bound}, gap={gap}, "
                f"runtime={self.runtime_s:.2f} s)")

    def _inst(self, inst: Instance | None) -> Instance:
        got = inst if inst is not None else self.instance
        if got is None:
            raise InputError("this Result carries no instance: pass the instance solved")
        return got

    def _work(self, inst: Instance) -> Instance:
        """The instance whose blocks the mapping names (``inst`` after the layout)."""
        return laid_out(inst, self.mapping.layout)

    def summary(self, inst: Instance | None = None) -> str:
        """A readable table of the result: every number with its unit."""
        inst = self._work(self._inst(inst))
        m = self.metrics
        ru = reuse_counts(inst, self.mapping, self.schedule)
        a = inst.arch

        def pct(x: float) -> str:  # small shares keep enough digits not to read as 0
            return f"{100 * x:.3g}%" if 0 < abs(x) < 0.001 else f"{100 * x:.1f}%"

        unit = self.unit
        obj = (f"{self.objective:,.2f} {unit}" if unit != "cells"
               else f"{int(self.objective):,} {unit}")
        rows = [
            ("instance", f"{inst.network.name} ({inst.network.source or 'no source recorded'})"),
            ("arch", f"{a.name}: {a.crossbars} crossbars x {a.slots_per_crossbar} OU slots of "
                     f"{a.ou_rows}x{a.ou_cols} cells"),
            ("method", f"{self.method} (status {self.status.value}, {self.runtime_s:.2f} s; "
                       f"aimed at {self.info.get('aims_at', '?')})"),
            ("blocks", f"{inst.n_blocks:,} total, {inst.n_blocks - inst.n_nonzero:,} zero, "
                       f"{inst.n_distinct_nonzero:,} distinct non-zero patterns"
             + ("" if self.mapping.layout is None else
                f" after layout {self.mapping.layout.method!r} (before: "
                f"{self.info['layout']['before']['zero']:,} zero, "
                f"{self.info['layout']['before']['distinct_nonzero']:,} distinct)")),
            ("reuse", f"{ru['blocks_sharing_a_load']:,} blocks share a load, "
                      f"{ru['loads_already_resident']:,} loads already resident: "
                      f"{ru['writes_saved']:,} slot writes saved ({ru['slot_writes']:,} made"
                      + (f"; {ru['split_loads']:,} extra loads from input splitting)"
                         if ru["split_loads"] else ")")),
            ("makespan", f"{m['makespan_ns']:,.2f} ns (inference latency)"
             + ("" if self.makespan_bound_ns is None else
                f"; bound {self.makespan_bound_ns:,.2f} ns, gap {pct(m['makespan_gap'])} "
                "(docs/bounds.md section 6)")),
            ("programming", f"{m['programming_ns']:,.2f} ns in {int(m['program_ops']):,} "
                            f"program operations; exposed (no OU computing) "
                            f"{m['programming_exposed_ns']:,.2f} ns = "
                            f"{pct(m['programming_exposed_share'])} of the makespan"),
            ("writes", f"{int(m['cell_writes']):,} cells changed in {int(m['write_passes']):,} "
                       f"write passes (one row segment, one direction each); energy "
                       f"{m['energy_pj']:,.1f} pJ"),
            ("critical path", f"{m['critical_path_ns']:,.2f} ns (programming round by round, "
                              "crossbars in parallel)"),
            ("objective", f"{self.objective_name} = {obj}"
             + ("" if self.bound is None else
                f", bound {self.bound:,.2f} {unit}, gap {pct(self.gap or 0.0)}")
             + ("" if self.objective_name != "makespan" else " (the makespan bound above)")),
            *self._search_rows(),
            ("stages", ", ".join(f"{st.name} {st.seconds:.2f} s"
                                 + (" (cut short)" if st.cut_short else "")
                                 for st in self.stages)),
            ("check", "schedule verified by replay (timing, capacity, write budget, "
                      "bit-exact outputs)" if self.report.ok else self.report.first()),
        ]
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)

    def _search_rows(self) -> list[tuple[str, str]]:
        """Summary rows for the candidates kept and the schedule-driven search, if any."""
        rows = []
        if "candidates_skipped" in self.info:
            rows.append(("candidates", f"skipped: {self.info['candidates_skipped']}"))
        cand = self.info.get("candidates")
        if cand:
            tried = ", ".join(f"{k} {v / 1000:,.2f} ns" for k, v in cand["makespan_ps"].items())
            rows.append(("candidates", f"{tried}; kept {cand['kept']}"))
        search = self.info.get("search", {})
        if "makespan_ps" in search:
            rows.append(("search", f"{search['evaluations']:,} schedules evaluated, makespan "
                                   f"{search['start_makespan_ps'] / 1000:,.2f} -> "
                                   f"{search['makespan_ps'] / 1000:,.2f} ns"))
        return rows

    @property
    def metrics(self) -> dict[str, float]:
        """Metrics recomputed by the verifier plus the mapping objectives and the
        makespan bound with the makespan's gap to it."""
        m = metrics_of(self.report, self.objectives)
        if self.makespan_bound_ns is not None:
            mk = m["makespan_ns"]
            m["makespan_bound_ns"] = self.makespan_bound_ns
            m["makespan_gap"] = (mk - self.makespan_bound_ns) / mk if mk > 0 else 0.0
        return m

    def to_json(self, inst: Instance | None = None) -> dict[str, Any]:
        """The content of ``metrics.json`` (the instance defaults to the one solved;
        ``blocks`` counts the laid-out tiles, ``info["layout"]`` both)."""
        inst = self._inst(inst)
        work = self._work(inst)
        return {
            "method": self.method, "objective_name": self.objective_name,
            "objective_unit": self.unit,
            "status": self.status, "objective": self.objective, "bound": self.bound,
            "gap": self.gap, "runtime_s": self.runtime_s, "seed": self.seed,
            "options": self.options, "versions": self.versions,
            "instance": {"name": inst.network.name, "sha256": inst.content_hash(),
                         "network_sha256": inst.network.content_hash(),
                         "source": inst.network.source},
            "architecture": inst.arch.to_dict(),
            "blocks": {"total": work.n_blocks, "nonzero": work.n_nonzero,
                       "zero": work.n_blocks - work.n_nonzero,
                       "distinct_nonzero_patterns": work.n_distinct_nonzero,
                       "reused_patterns": work.n_nonzero - work.n_distinct_nonzero,
                       **reuse_counts(work, self.mapping, self.schedule)},
            "verification": {"verified": self.report.ok,
                             "violations": [str(v) for v in self.report.violations]},
            "metrics": self.metrics,
            "objectives": self.objectives,
            "stages": [st.to_dict() for st in self.stages],
            "info": self.info,
        }

    def save(self, out: str | Path, *, format: str = "auto", inst: Instance | None = None
             ) -> list[str]:
        """Write the result files into the folder ``out``, all or none; returns their names.

        ``mapping.*``, ``schedule.*``, ``metrics.json`` and, after a layout,
        ``layout.json``. ``format``: ``json`` (mapping.csv, schedule.json), ``gz``
        (both gzip-compressed), ``npz`` (columnar numpy) or ``auto`` (json below
        :data:`AUTO_NPZ_BLOCKS` non-zero blocks, npz above). Files an earlier
        result left in another format are removed.
        """
        inst = self._inst(inst)
        if format not in SAVE_FORMATS:
            raise InputError(f"format = {format!r} is invalid: one of {', '.join(SAVE_FORMATS)}")
        if format == "auto":  # text below 10^5 blocks; columnar above (GBs of JSON otherwise)
            format = "json" if inst.n_nonzero < AUTO_NPZ_BLOCKS else "npz"
        mfmt, sfmt = {"json": ("csv", "json"), "gz": ("csv.gz", "json.gz"),
                      "npz": ("npz", "npz")}[format]
        files: dict[str, str | bytes] = {
            f"mapping.{mfmt}": self.mapping.to_bytes(inst, mfmt),
            f"schedule.{sfmt}": self.schedule.to_bytes(sfmt),
            "metrics.json": self.dumps(inst)}
        if self.mapping.layout is not None:  # the permutations the blocks were cut after
            files["layout.json"] = self.mapping.layout.dumps(inst.network)
        folder = Path(out)
        try:
            write_folder(folder, files)
        except OSError as exc:
            raise InputError(f"cannot write into {folder}: {exc.strerror or exc}") from None
        for stale in ({"mapping.csv", "mapping.csv.gz", "mapping.npz", "schedule.json",
                       "schedule.json.gz", "schedule.npz", "layout.json"} - set(files)):
            (folder / stale).unlink(missing_ok=True)  # an earlier run's files, other format
        return list(files)

    def dumps(self, inst: Instance | None = None) -> str:
        """``metrics.json`` text (the instance defaults to the one solved)."""
        return json.dumps(self.to_json(inst), indent=1, default=str) + "\n"


def record(res: Result) -> dict[str, Any]:
    """One flat row of a result (method, status, objective and its unit, bound, gap,
    makespan and programming in ns, exposed share, runtime): what a table or a
    ``pandas.DataFrame(map(record, results))`` wants."""
    m = res.metrics
    return {"method": res.method, "status": res.status.value,
            "objective_name": res.objective_name, "objective": res.objective,
            "unit": res.unit, "bound": res.bound, "gap": res.gap,
            "makespan_ns": m["makespan_ns"], "makespan_bound_ns": m.get("makespan_bound_ns"),
            "programming_ns": m["programming_ns"],
            "exposed_share": m["programming_exposed_share"], "runtime_s": res.runtime_s,
            "aims_at": res.info.get("aims_at"), "seed": res.seed}


def compare(results: list[Result] | tuple[Result, ...]) -> str:
    """A text table comparing results of one instance: each method's makespan and
    programming, its ratio to the first result's makespan, and its objective's gap.

    >>> print(compare([solve(inst, "naive"), solve(inst, "balanced")]))  # doctest: +SKIP
    """
    if not results or not all(isinstance(r, Result) for r in results):
        raise InputError("compare: results must be a non-empty list of Result objects")
    rows = [record(r) for r in results]
    base = rows[0]["makespan_ns"] or 1e-9
    head = ("method", "status", "makespan (ns)", "vs first", "programming (ns)",
            "exposed", "objective", "gap", "runtime (s)")
    body = [(r["method"], r["status"], f"{r['makespan_ns']:,.1f}",
             f"{r['makespan_ns'] / base:.3f}", f"{r['programming_ns']:,.1f}",
             f"{100 * r['exposed_share']:.1f}%",
             f"{r['objective_name']} {r['objective']:,.1f} {r['unit']}",
             "-" if r["gap"] is None else f"{100 * r['gap']:.2f}%", f"{r['runtime_s']:.2f}")
            for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
    line = "  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))
    return "\n".join([line, "  ".join("-" * w for w in widths),
                      *("  ".join(c.ljust(w) for c, w in zip(b, widths, strict=True))
                        for b in body)])


def metrics_of(report: Report, objectives: dict[str, int]) -> dict[str, float]:
    """The verifier's metrics and the critical-path programming latency (ns)."""
    return {**report.metrics,
            "critical_path_ns": objectives.get("critical_path_ps", 0) / 1000.0}
