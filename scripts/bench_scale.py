"""Time limits, memory and quality at scale: 10^4 .. 3x10^6 blocks and ResNet-50 ImageNet.

Every run is one verified ``pimopt.solve(..., objective='programming')`` on the
default preset in a fresh child process (its peak RSS is its own); records go
to ``OUT/runs.jsonl`` as they finish (a second call skips finished runs),
then ``OUT/table.md``, ``OUT/table.csv`` and ``OUT/README.md`` (commit,
versions, machine, limits) are written from all records. A run a method
refuses for a documented size limit is listed with the reason.

Usage::

    python scripts/bench_scale.py
        [--instances syn-1e4,syn-1e5,syn-1e6,syn-3e6,resnet50-imagenet]
        [--methods naive,sorted,granular,relax,lns,balanced] [--jobs 2] [--seed 0]
        [--bound-time-limit 900]
        [--out results/scale]

Before the runs, each instance's programming bound is computed once with its
own limit (``--bound-time-limit``) and cached on disk by instance content
(:mod:`pimopt.cache`), so every run reports it. Instances: synthetic fully
connected chains (``pimopt.models.generate.synthetic``, normal weights, 8-bit
per-tensor quantisation, seed 0) of about 10^4, 10^5, 10^6 and 3x10^6
non-zero 8x8 blocks, and the real-shaped ResNet-50 at
ImageNet size (``instances/real/generated``, seed 0). The time limit grows
with the size (``LIMITS``).
"""

from __future__ import annotations

import argparse
import csv
import io
import resource
import sys
import time
from pathlib import Path
from typing import Any

from pimopt.bench import run_isolated, write_bench_readme

ROOT = Path(__file__).resolve().parents[1]
SYNTHETIC = {  # name -> layer shapes K x N : n_inputs (blocks = K * N / 8 on the default chip)
    "syn-1e4": "320x256:16",
    "syn-1e5": "1024x800:16",
    "syn-1e6": "2048x2048:4,2048x2048:4",
    "syn-3e6": "4096x2048:4,4096x2048:4,4096x2048:4",
}
REAL = ("resnet50-imagenet",)
LIMITS = {"syn-1e4": 30.0, "syn-1e5": 60.0, "syn-1e6": 120.0, "syn-3e6": 300.0,
          "resnet50-imagenet": 300.0}
DEFAULT_METHODS = ("naive", "sorted", "granular", "relax", "lns", "balanced")


def _network(name: str) -> Any:
    from pimopt.models import generate
    from pimopt.network import Network

    if name in SYNTHETIC:
        return generate.synthetic(generate.parse_layer_shapes(SYNTHETIC[name]), seed=0,
                                  name=name)
    path = ROOT / "instances" / "real" / "generated" / f"{name}.json"
    if path.exists():
        return Network.load(path)
    model, dataset = name.split("-")
    return generate.real_shaped(model, dataset, seed=0)


def run(name: str, method: str, time_limit: float, seed: int) -> dict[str, Any]:
    """One verified solve in this (fresh) process; returns its record."""
    from pimopt import InputError, Instance, load_architecture, solve
    from pimopt.provenance import package_commit

    t0 = time.perf_counter()
    c0 = time.process_time()
    inst = Instance(load_architecture("default"), _network(name))
    _ = inst.nonzero_blocks  # build the blocks outside the solve: that is input, not solving
    build_s = time.perf_counter() - t0
    rec: dict[str, Any] = {"key": [name, method], "instance": name, "method": method,
                           "seed": seed, "commit": package_commit(), "time_limit_s": time_limit,
                           "nonzero_blocks": inst.n_nonzero, "build_s": build_s}
    t1 = time.perf_counter()
    try:
        res = solve(inst, method, objective="programming", time_limit=time_limit, seed=seed)
    except InputError as exc:  # a documented size limit: recorded, not a failure
        rec.update(status="refused", reason=str(exc), solve_s=time.perf_counter() - t1)
    else:
        m = res.metrics
        rec.update(status=res.status, verified=res.report.ok,
                   programming_ns=m["programming_ns"], makespan_ns=m["makespan_ns"],
                   bound_ns=res.bound, gap=res.gap, solve_s=res.runtime_s,
                   stages=[st.to_dict() for st in res.stages])
    rec.update(wall_s=time.perf_counter() - t0, cpu_s=time.process_time() - c0,
               peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return rec


def precompute_bound(name: str, time_limit: float) -> dict[str, Any]:
    """Compute and cache (on disk, by instance content) the instance's programming bound."""
    from pimopt import Instance, load_architecture
    from pimopt.bounds.cache import instance_bound

    inst = Instance(load_architecture("default"), _network(name))
    ib = instance_bound(inst, "latency", time_limit)
    return {"key": [name], "instance": name, "bound_ns": ib.value / 1e3,
            "complete": ib.complete, "seconds": ib.seconds, "time_limit_s": time_limit}


def _key(r: dict[str, Any]) -> tuple[str, ...]:
    return tuple(r["key"])


def table(records: list[dict[str, Any]], instances: list[str]
          ) -> tuple[str, str, list[str]]:
    """(Markdown table, CSV, summary lines) from the records."""
    by = {_key(r): r for r in records}
    methods = sorted({r["method"] for r in records},
                     key=lambda m: DEFAULT_METHODS.index(m) if m in DEFAULT_METHODS else 99)
    head = ["instance", "non-zero blocks", "method", "status", "programming (us)", "vs naive",
            "bound (us)", "gap", "makespan (us)", "limit (s)", "solve (s)", "solve/limit",
            "build (s)", "CPU (s)", "peak RSS (MB)"]
    md = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["instance", "nonzero_blocks", "method", "status", "programming_us",
                "ratio_naive", "bound_us", "gap", "makespan_us", "time_limit_s", "solve_s",
                "build_s", "wall_s", "cpu_s", "peak_rss_mb", "verified", "reason"])
    worst = 0.0
    refused: list[str] = []
    for inst in instances:
        naive = by.get((inst, "naive"))
        for m in methods:
            r = by.get((inst, m))
            if r is None:
                continue
            ratio_lim = r["solve_s"] / r["time_limit_s"]
            if r["status"] == "refused":
                refused.append(f"- {inst} / {m}: {r['reason']}")
                md.append(f"| {inst} | {r['nonzero_blocks']:,} | {m} | refused (size limit) "
                          f"| | | | | | {r['time_limit_s']:g} | {r['solve_s']:.1f} | "
                          f"{ratio_lim:.2f} | {r['build_s']:.1f} | {r['cpu_s']:.1f} | "
                          f"{r['peak_rss_mb']:,.0f} |")
                w.writerow([inst, r["nonzero_blocks"], m, "refused", "", "", "", "", "",
                            r["time_limit_s"], r["solve_s"], r["build_s"], r["wall_s"],
                            r["cpu_s"], r["peak_rss_mb"], "", r["reason"]])
                continue
            worst = max(worst, ratio_lim)
            ratio = r["programming_ns"] / naive["programming_ns"] if naive and "programming_ns" \
                in naive else float("nan")
            bound = "" if r["bound_ns"] is None else f"{r['bound_ns'] / 1e3:,.1f}"
            gap = "" if r["gap"] is None else f"{100 * r['gap']:.1f}%"
            md.append("| " + " | ".join([
                inst, f"{r['nonzero_blocks']:,}", m, r["status"],
                f"{r['programming_ns'] / 1e3:,.1f}", f"{ratio:.3f}", bound, gap,
                f"{r['makespan_ns'] / 1e3:,.1f}", f"{r['time_limit_s']:g}",
                f"{r['solve_s']:.1f}", f"{ratio_lim:.2f}", f"{r['build_s']:.1f}",
                f"{r['cpu_s']:.1f}", f"{r['peak_rss_mb']:,.0f}"]) + " |")
            w.writerow([inst, r["nonzero_blocks"], m, r["status"], r["programming_ns"] / 1e3,
                        ratio, None if r["bound_ns"] is None else r["bound_ns"] / 1e3,
                        r["gap"], r["makespan_ns"] / 1e3, r["time_limit_s"], r["solve_s"],
                        r["build_s"], r["wall_s"], r["cpu_s"], r["peak_rss_mb"],
                        r["verified"], ""])
    lines = [f"- largest solve/limit of a solved run: {worst:.2f} (acceptance: <= 1.1)",
             *(["- refused for a documented size limit:", *refused] if refused else [])]
    return "\n".join(md) + "\n", buf.getvalue(), lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--instances", default=",".join((*SYNTHETIC, *REAL)))
    ap.add_argument("--methods", default=",".join(DEFAULT_METHODS))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bound-time-limit", type=float, default=900.0,
                    help="seconds for each instance's bound, computed once (default 900)")
    ap.add_argument("--out", default=str(ROOT / "results" / "scale"))
    args = ap.parse_args(argv)
    out = Path(args.out)
    instances = args.instances.split(",")
    bad = [i for i in instances if i not in LIMITS]
    if bad:
        raise SystemExit(f"unknown instance(s) {', '.join(bad)}: one of {', '.join(LIMITS)}")
    # the bound once per instance, with its own generous limit (cached by content): every
    # run then reports it instead of what fits in the bound stage's share of its limit
    pre: dict[tuple[str, ...], tuple[Any, ...]] = {
        (i,): (i, args.bound_time_limit) for i in instances}
    bounds, _ = run_isolated(
        precompute_bound, pre, out / "bounds.jsonl", jobs=args.jobs, key_of=_key,
        describe=lambda r: f"bound {r['bound_ns'] / 1e3:,.1f} us, "
                           f"{'complete' if r['complete'] else 'floored'}, {r['seconds']:.0f} s")
    tasks: dict[tuple[str, ...], tuple[Any, ...]] = {
        (i, m): (i, m, LIMITS[i], args.seed) for i in instances
        for m in args.methods.split(",")}
    records, failed = run_isolated(
        run, tasks, out / "runs.jsonl", jobs=args.jobs, key_of=_key,
        describe=lambda r: (f"refused: {r['reason']}" if r["status"] == "refused" else
                            f"{r['status']}, programming {r['programming_ns'] / 1e3:,.1f} us")
        + f", solve {r['solve_s']:.1f} s of {r['time_limit_s']:g}, "
          f"{r['peak_rss_mb']:,.0f} MB")
    md, text, lines = table(records, instances)
    (out / "table.md").write_text(md, encoding="utf-8")
    (out / "table.csv").write_text(text, encoding="utf-8")

    write_bench_readme(
        out, "Scale: time limits, memory and quality from 10^4 to 3x10^6 blocks",
        f"python scripts/bench_scale.py --jobs {args.jobs} --seed {args.seed} "
        f"--bound-time-limit {args.bound_time_limit:g}", records, [
            "Every run is one verified `pimopt.solve(..., objective='programming')` on the "
            "default preset in a fresh process, with the run's time limit (`limit`). `solve`: "
            "the solve call's wall time (bounds, mapping, schedule, verification); `build`: "
            "generating the network and cutting it into blocks before the solve (input, not "
            "solving); CPU and peak RSS are the whole process's. Programming and bounds in "
            "us; `vs naive`: programming over naive's; `gap`: (programming - bound) / "
            "programming with the bound the result reports (docs/bounds.md: the layered "
            "assignment bound, computed once per instance with `--bound-time-limit` and "
            "cached by instance content, floored on layers it could not reach).", "",
            "| instance | bound (us) | complete | seconds |", "|---|---|---|---|",
            *(f"| {b['instance']} | {b['bound_ns'] / 1e3:,.1f} | "
              f"{'yes' if b['complete'] else 'no'} | "
              f"{b['seconds']:.0f} |" for b in bounds if b["instance"] in instances), ""],
        "Summary", lines, failed, md)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
