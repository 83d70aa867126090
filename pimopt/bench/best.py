"""Best-known solutions: per suite, the best verified objective and best proven bound.

The file lives beside the suite (``instances/suites/NAME.best.json``) and is
changed only by :func:`update_best` (``pimopt best DIR``), from run records
whose schedule the verifier accepted. An entry is keyed by what defines the
problem: the instance content hash (network and architecture), the objective
and the scheduling rules that change its value (granularity, overlap); the
method, seed and limits that found a value are recorded with it.

Runs made after a layout (option ``layout`` other than ``none``) solve the
problem on other tiles: their key adds ``layout=NAME``, and their bounds,
which are those of the laid-out tiles only, are never recorded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pimopt.errors import InputError, PimoptError
from pimopt.io.files import read_json, write_atomic

BEST_FORMAT = "pimopt-best-known"
SOLVED = ("optimal", "feasible")
TOLERANCE = 1e-9


def problem_key(record: dict[str, Any]) -> str:
    """The key of the problem a run record solved (see the module docstring)."""
    opts = record.get("spec", {}).get("options", {})
    layout = str(opts.get("layout", "none"))
    return "|".join([record["instance"]["sha256"], record["objective_name"],
                     str(opts.get("granularity", "slot")), str(opts.get("overlap", True))]
                    + ([] if layout == "none" else [f"layout={layout}"]))


def best_path(suite_file: str | Path) -> Path:
    """``NAME.best.json`` beside the suite or sweep file ``NAME.toml``."""
    p = Path(suite_file)
    return p.with_name(f"{p.stem}.best.json")


def load_best(path: str | Path) -> dict[str, Any]:
    """The best-known file's entries by problem key (empty if the file does not exist)."""
    p = Path(path)
    if not p.exists():
        return {}
    data = read_json(p, "best-known file")
    if not isinstance(data, dict) or data.get("format") != BEST_FORMAT:
        raise InputError(f"best-known file {p}: 'format' must be {BEST_FORMAT!r}")
    return dict(data.get("entries", {}))


def _verified(rec: dict[str, Any]) -> bool:
    return bool(rec.get("status") in SOLVED and rec.get("verification", {}).get("verified")
                and rec.get("objective") is not None)


def _value(entry: dict[str, Any], what: str) -> float | None:
    v = entry.get(what)
    return None if v is None else float(v["value"])


def _source(rec: dict[str, Any], value: float) -> dict[str, Any]:
    return {"value": value, "run_id": rec["run_id"], "method": rec["method"],
            "seed": rec["seed"], "time_limit": rec.get("spec", {}).get("time_limit"),
            "pimopt": rec.get("versions", {}).get("pimopt"), "date": rec.get("finished")}


@dataclass
class Change:
    """One improvement made to a best-known file."""

    instance: str
    key: str
    what: str  # "objective" or "bound"
    old: float | None
    new: float


def merge_best(entries: dict[str, Any], records: list[dict[str, Any]]) -> list[Change]:
    """Fold verified records into ``entries`` in place; returns the improvements.

    Raises
    ------
    PimoptError
        If a verified objective lies below a recorded bound: one of them is
        wrong, and the file is not touched.
    """
    before = {k: (_value(e, "objective"), _value(e, "bound")) for k, e in entries.items()}
    for rec in records:
        if not _verified(rec):
            continue
        key = problem_key(rec)
        spec = rec.get("spec", {})
        e = entries.setdefault(key, {
            "instance": rec["instance"]["name"], "labels": [],
            "network": rec["instance"]["name"], "instance_sha256": rec["instance"]["sha256"],
            "architecture": rec.get("architecture", {}).get("name"),
            "objective_name": rec["objective_name"],
            "granularity": spec.get("options", {}).get("granularity", "slot"),
            "overlap": spec.get("options", {}).get("overlap", True),
            "params": spec.get("params", {}), "objective": None, "bound": None})
        label = spec.get("instance", rec["instance"]["name"])
        if label not in e.setdefault("labels", []):  # suite names of this problem
            e["labels"] = sorted([*e["labels"], label])
            e["instance"] = e["labels"][0]
        obj = float(rec["objective"])
        if e["objective"] is None or obj < e["objective"]["value"] - TOLERANCE:
            e["objective"] = _source(rec, obj)
        b = rec.get("bound")
        if spec.get("options", {}).get("layout", "none") != "none":
            b = None  # a bound of the laid-out tiles, not of the problem
        if b is not None and (e["bound"] is None or float(b) > e["bound"]["value"] + TOLERANCE):
            e["bound"] = _source(rec, float(b))
    changes: list[Change] = []
    for key, e in entries.items():
        old = before.get(key, (None, None))
        for i, what in enumerate(("objective", "bound")):
            new = _value(e, what)
            if new is not None and new != old[i]:
                changes.append(Change(e["instance"], key, what, old[i], new))
    for key, e in entries.items():
        if e["objective"] and e["bound"] and \
                e["objective"]["value"] < e["bound"]["value"] * (1 - 1e-9) - TOLERANCE:
            raise PimoptError(f"best-known {e['instance']} ({key}): verified objective "
                              f"{e['objective']['value']} of run {e['objective']['run_id']} lies "
                              f"below the bound {e['bound']['value']} of run "
                              f"{e['bound']['run_id']}: one of them is wrong")
    return changes


def update_best(records: list[dict[str, Any]], *, dry_run: bool = False
                ) -> dict[Path, list[Change]]:
    """Update the best-known file of every suite the records belong to.

    Records whose suite file is unknown or missing are skipped (their suite
    has no best-known file). Returns the changes per file.
    """
    by_file: dict[Path, list[dict[str, Any]]] = {}
    for rec in records:
        suite_file = rec.get("spec", {}).get("suite_file")
        if suite_file and Path(suite_file).exists():
            by_file.setdefault(best_path(suite_file), []).append(rec)
    out: dict[Path, list[Change]] = {}
    for path, recs in by_file.items():
        entries = load_best(path)
        changes = merge_best(entries, recs)
        out[path] = changes
        if changes and not dry_run:
            suite = recs[0].get("spec", {}).get("suite", path.stem)
            data = {"format": BEST_FORMAT, "version": 1, "suite": suite,
                    "note": "written by `pimopt best` from verified run records only",
                    "entries": dict(sorted(entries.items(), key=lambda kv: kv[1]["instance"]))}
            write_atomic(path, json.dumps(data, indent=1) + "\n")
    return out


def lookup(entries: dict[str, Any], record: dict[str, Any]) -> dict[str, Any] | None:
    """The best-known entry of the problem a record solved, if any."""
    if record.get("instance") is None:
        return None
    return entries.get(problem_key(record))
