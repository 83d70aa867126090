"""One entry point for every method: :func:`solve` returns a verified :class:`Result`."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from pimopt.baselines import naive_mapping
from pimopt.errors import InputError, PimoptError
from pimopt.instance import Instance
from pimopt.mapping import Mapping
from pimopt.schedule import Schedule
from pimopt.scheduler import list_schedule
from pimopt.verify import Report, verify

OBJECTIVES = {
    "makespan": "makespan_ns",
    "programming": "programming_ns",
    "cell_writes": "cell_writes",
    "energy": "energy_pj",
}
STATUSES = ("optimal", "feasible", "infeasible", "timeout")

MappingMethod = Callable[[Instance], Mapping]
METHODS: dict[str, MappingMethod] = {"naive": naive_mapping}


class VerificationError(PimoptError):
    """A method produced a schedule the verifier rejects (a bug in that method)."""


def versions() -> dict[str, str]:
    """Versions of Python, pimopt and the numerical and solver packages."""
    out = {"python": platform.python_version()}
    for pkg in ("pimopt", "numpy", "scipy", "ortools", "pulp", "highspy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return out


@dataclass
class Result:
    """A verified solution and everything needed to report it (DESIGN section 5).

    Attributes
    ----------
    method, objective_name, status
        What ran, what was minimised, and how it ended.
    objective
        Value of the objective recomputed by the verifier.
    bound, gap
        Best valid lower bound (``None`` if the method proves none) and
        ``(objective - bound) / objective``.
    runtime_s, seed, versions
        Wall time of the whole solve (verification included), seed, versions.
    mapping, schedule, report
        The solution and the verifier's report (always ``ok``).
    """

    method: str
    objective_name: str
    status: str
    objective: float
    bound: float | None
    gap: float | None
    runtime_s: float
    seed: int
    versions: dict[str, str]
    mapping: Mapping
    schedule: Schedule
    report: Report
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def metrics(self) -> dict[str, float]:
        """Metrics recomputed by the verifier."""
        return self.report.metrics

    def to_json(self, inst: Instance) -> dict[str, Any]:
        """The content of ``metrics.json``."""
        return {
            "method": self.method, "objective_name": self.objective_name,
            "status": self.status, "objective": self.objective, "bound": self.bound,
            "gap": self.gap, "runtime_s": self.runtime_s, "seed": self.seed,
            "options": self.options, "versions": self.versions,
            "instance": {"name": inst.network.name, "sha256": inst.content_hash(),
                         "network_sha256": inst.network.content_hash(),
                         "source": inst.network.source},
            "architecture": inst.arch.to_dict(),
            "blocks": {"total": inst.n_blocks, "nonzero": inst.n_nonzero,
                       "zero": inst.n_blocks - inst.n_nonzero,
                       "distinct_nonzero_patterns": inst.n_distinct_nonzero,
                       "reused_patterns": inst.n_nonzero - inst.n_distinct_nonzero},
            "verification": {"verified": self.report.ok,
                             "violations": [str(v) for v in self.report.violations]},
            "metrics": self.metrics,
        }

    def dumps(self, inst: Instance) -> str:
        """``metrics.json`` text."""
        return json.dumps(self.to_json(inst), indent=1) + "\n"


def solve(inst: Instance, method: str = "naive", *, objective: str = "makespan",
          seed: int = 0, granularity: str = "slot", overlap: bool = True,
          functional_samples: int | None = 16) -> Result:
    """Map, schedule and verify an instance with one method.

    Parameters
    ----------
    inst
        The instance.
    method
        A name from :data:`METHODS`.
    objective
        A name from :data:`OBJECTIVES` (what the result reports as objective).
    seed
        Seed of the method and of the verifier's functional check.
    granularity, overlap
        List-scheduler options (see :func:`pimopt.scheduler.list_schedule`).
    functional_samples
        Input vectors per layer in the bit-exact functional check (``None``: all).

    Returns
    -------
    Result
        Only returned when the verifier accepts the schedule.

    Raises
    ------
    VerificationError
        When the method's schedule breaks a rule (a bug, never silently reported).
    """
    if method not in METHODS:
        raise InputError(f"method {method!r} is unknown: one of {', '.join(sorted(METHODS))}")
    if objective not in OBJECTIVES:
        raise InputError(f"objective {objective!r} is unknown: one of "
                         f"{', '.join(OBJECTIVES)}")
    if inst.n_nonzero == 0:
        raise InputError(f"network {inst.network.name!r} has only all-zero blocks: "
                         "nothing to program or compute")
    t0 = time.perf_counter()
    mapping = METHODS[method](inst)
    sched = list_schedule(inst, mapping, granularity=granularity, overlap=overlap,
                          method=method)
    claimed = sched.makespan_ps() / 1000.0
    report = verify(inst, sched, functional_samples=functional_samples, seed=seed)
    if not report.ok:
        raise VerificationError(f"method {method!r} produced an invalid schedule: "
                                f"{report.first()}")
    if abs(report.metrics["makespan_ns"] - claimed) > 1e-9:
        raise VerificationError(f"method {method!r} claims makespan {claimed} ns, the "
                                f"verifier measures {report.metrics['makespan_ns']} ns")
    value = report.metrics[OBJECTIVES[objective]]
    return Result(method=method, objective_name=objective, status="feasible",
                  objective=value, bound=None, gap=None,
                  runtime_s=time.perf_counter() - t0, seed=seed, versions=versions(),
                  mapping=mapping, schedule=sched, report=report,
                  options={"granularity": granularity, "overlap": overlap,
                           "functional_samples": functional_samples})
