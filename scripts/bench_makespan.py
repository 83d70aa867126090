"""Inference latency (makespan) of naive, sorted and the makespan-aware method, per
instance x architecture preset, against the makespan lower bound.

Every run is one ``pimopt.solve`` (verified, objective ``makespan``) in a fresh
child process, so that its peak memory is its own; records go to
``OUT/runs.jsonl`` as they finish (a second call skips finished runs), then
``OUT/table.md``, ``OUT/table.csv`` and ``OUT/README.md`` (commit, versions,
machine, limits, acceptance summary) are written from all records.

Usage::

    python scripts/bench_makespan.py [--instances lenet5,resnet20,...]
        [--presets default,wv-mlc,multi-ou,small-chip]
        [--methods naive,sorted,balanced,balanced+cpsat]
        [--time-limit 60] [--large-time-limit 240] [--jobs 2] [--seed 0]
        [--out results/makespan]

Instances: ``lenet5`` (bundled), ``resnet20`` (imported from PyTorch), the
trained ``digits-mlp`` and ``digits-cnn``, the trained models from PyPI wheels
``silero-vad``, ``ddddocr-det``, ``ddddocr-ocr`` and ``ddddocr-ocr-int8``
(``instances/trained/``), and real-shaped ``resnet18-cifar``,
``resnet18-imagenet``, ``mobilenetv2-imagenet``, ``resnet50-imagenet``
(generated into ``instances/real/generated/`` when missing, seed 0).
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
GENERATED = ROOT / "instances" / "real" / "generated"
FILES = {
    "lenet5": ROOT / "pimopt" / "data" / "lenet5.json",
    "resnet20": ROOT / "instances" / "imported" / "resnet20-cifar.json",
    "digits-mlp": ROOT / "instances" / "trained" / "digits-mlp.json",
    "digits-cnn": ROOT / "instances" / "trained" / "digits-cnn.json",
    # real trained models from PyPI wheels (scripts/fetch_trained.py); NudeNet's is
    # AGPL-3.0 and only rebuilt locally, never committed
    "ddddocr-det": ROOT / "instances" / "trained" / "ddddocr" / "ddddocr-det.json",
    "ddddocr-ocr-int8": ROOT / "instances" / "trained" / "ddddocr" / "ddddocr-ocr-int8.json",
    "ddddocr-ocr": ROOT / "instances" / "trained" / "ddddocr" / "ddddocr-ocr.json",
    "silero-vad": ROOT / "instances" / "trained" / "silero-vad" / "silero-vad-16k.json",
    "nudenet-320n": ROOT / "instances" / "trained" / "generated" / "nudenet-320n.json",
}
REAL = ("resnet18-cifar", "resnet18-imagenet", "mobilenetv2-imagenet", "resnet50-imagenet")
DEFAULT_INSTANCES = ("resnet50-imagenet", "resnet18-imagenet", "resnet18-cifar",
                     "mobilenetv2-imagenet", "resnet20", "lenet5", "digits-mlp", "digits-cnn")
BASELINES = ("naive", "sorted")
DEFAULT_METHODS = "naive,sorted,balanced,balanced+cpsat"


LARGE_WEIGHTS = 1_000_000  # networks with more weights get --large-time-limit


def _large(name: str) -> bool:
    """ImageNet-size real-shaped networks, and any network with more than 10^6 weights
    (125,000 blocks on the default chip), get the large limit: scheduling and verifying
    10^6 blocks alone take about a minute."""
    if name in REAL:
        return True
    from pimopt import Network

    net = Network.load(instance_path(name))
    return sum(la.shape[0] * la.shape[1] for la in net.layers) > LARGE_WEIGHTS


def _selection(args: argparse.Namespace) -> str:
    """The options of a run that chose other instances, presets, methods or output."""
    parts = []
    for opt, value, default in (
            ("--instances", args.instances, ",".join(DEFAULT_INSTANCES)),
            ("--presets", args.presets, "default,wv-mlc,multi-ou,small-chip"),
            ("--methods", args.methods, DEFAULT_METHODS)):
        if value != default:
            parts.append(f" {opt} {value}")
    out = Path(args.out).resolve()
    default_out = ROOT / "results" / "makespan"
    if out != default_out:
        parts.append(f" --out {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return "".join(parts)


def instance_path(name: str) -> Path:
    """The network file of a named instance (real-shaped ones generated on demand)."""
    if name in FILES:
        return FILES[name]
    if name not in REAL:
        raise SystemExit(f"unknown instance {name!r}: one of {', '.join((*FILES, *REAL))}")
    path = GENERATED / f"{name}.json"
    if not path.exists():
        from pimopt.models.generate import real_shaped

        model, dataset = name.split("-")
        GENERATED.mkdir(parents=True, exist_ok=True)
        real_shaped(model, dataset, seed=0).save(path)
    return path


SUFFIXES: dict[str, dict[str, Any]] = {"cpsat": {"scheduler": "cpsat"}, "split": {"split": True}}
CPSAT_MAX_BLOCKS = 20_000  # "+cpsat" (a CP-SAT model of every operation) only below this


def method_options(method: str) -> tuple[str, dict[str, Any]]:
    """``METHOD[+cpsat][+split]``: the solve method and its retime options (CP-SAT
    re-timing of the list schedule; input splitting)."""
    base, *suffixes = method.split("+")
    options: dict[str, Any] = {}
    for suffix in suffixes:
        if suffix not in SUFFIXES:
            raise SystemExit(f"method {method!r}: unknown suffix {suffix!r} (one of "
                             f"{', '.join(SUFFIXES)})")
        options.update(SUFFIXES[suffix])
    return base, options


def _runs_on(name: str, method: str) -> bool:
    """Whether the bench runs ``method`` on instance ``name``: CP-SAT re-timing only on
    instances below CPSAT_MAX_BLOCKS non-zero blocks (its model holds every operation)."""
    if method_options(method)[1].get("scheduler") != "cpsat":
        return True
    if _large(name):
        return False
    from pimopt import load_instance

    return load_instance(instance_path(name), None).n_nonzero <= CPSAT_MAX_BLOCKS


def run(name: str, preset: str, method: str, time_limit: float, seed: int) -> dict[str, Any]:
    """One verified solve in this (fresh) process; returns its record."""
    from pimopt import load_instance, solve
    from pimopt.provenance import package_commit

    t0 = time.perf_counter()
    c0 = time.process_time()
    inst = load_instance(instance_path(name), preset)
    base, options = method_options(method)
    res = solve(inst, base, objective="makespan", time_limit=time_limit, seed=seed, **options)
    m = res.metrics
    return {
        "instance": name, "preset": preset, "method": method, "seed": seed,
        "commit": package_commit(),
        "time_limit_s": time_limit, "blocks": inst.n_blocks, "nonzero_blocks": inst.n_nonzero,
        "layers": len(inst.network.layers), "status": res.status,
        "verified": res.report.ok, "aims_at": res.info.get("aims_at"),
        "makespan_ns": m["makespan_ns"], "programming_ns": m["programming_ns"],
        "programming_exposed_share": m["programming_exposed_share"],
        "bound_ns": m.get("makespan_bound_ns"), "gap": m.get("makespan_gap"),
        "bound_term": res.info.get("makespan_bound", {}).get("programming_term"),
        "solve_s": res.runtime_s, "wall_s": time.perf_counter() - t0,
        "cpu_s": time.process_time() - c0,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "stages": [st.to_dict() for st in res.stages],
    }


def instance_bound(name: str, preset: str, time_limit: float) -> dict[str, Any]:
    """The makespan bound of one instance x preset with the current code (cached on disk)."""
    from pimopt import load_instance
    from pimopt.bounds.cache import cached_makespan_bound
    from pimopt.provenance import package_commit

    mb = cached_makespan_bound(load_instance(instance_path(name), preset), time_limit)
    return {"key": [name, preset], "instance": name, "preset": preset,
            "bound_ns": mb.value_ps / 1e3,
            "term": mb.programming_term + (" + flow" if mb.flow else ""),
            "complete": mb.complete, "seconds": mb.seconds, "commit": package_commit()}


def with_best_bounds(records: list[dict[str, Any]], bounds: list[dict[str, Any]]
                     ) -> list[dict[str, Any]]:
    """Records whose bound is the larger of the run's own and the recomputed one (both
    valid lower bounds of the same instance); the gap follows."""
    best = {(b["instance"], b["preset"]): b for b in bounds}
    out = []
    for r in records:
        b = best.get((r["instance"], r["preset"]))
        if b is not None and b["bound_ns"] > r["bound_ns"]:
            r = dict(r, bound_ns=b["bound_ns"], bound_term=b["term"],
                     gap=(r["makespan_ns"] - b["bound_ns"]) / r["makespan_ns"],
                     bound_commit=b["commit"])
        out.append(r)
    return out


def _key(r: dict[str, Any]) -> tuple[str, str, str]:
    return r["instance"], r["preset"], r["method"]


def table(records: list[dict[str, Any]]) -> tuple[str, str, list[str]]:
    """(Markdown table, CSV, acceptance lines) from the records."""
    by = {_key(r): r for r in records}
    cases = sorted({(r["instance"], r["preset"]) for r in records},
                   key=lambda c: (DEFAULT_INSTANCES.index(c[0]) if c[0] in DEFAULT_INSTANCES
                                  else 99, c[1]))
    methods = sorted({r["method"] for r in records},
                     key=lambda m: (m not in BASELINES, BASELINES.index(m)
                                    if m in BASELINES else 0, m))
    head = ["instance", "preset", "method", "non-zero blocks", "makespan (us)", "vs naive",
            "programming (us)", "exposed share", "bound (us)", "gap", "wall (s)", "wall/limit",
            "peak RSS (MB)"]
    md = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["instance", "preset", "method", "nonzero_blocks", "makespan_us", "ratio_naive",
                "programming_us", "exposed_share", "bound_us", "gap", "wall_s", "cpu_s",
                "time_limit_s", "peak_rss_mb", "status", "verified"])
    ok_all, within, total, lenet = True, 0, 0, None
    notes: list[str] = []
    for inst, preset in cases:
        naive = by.get((inst, preset, "naive"))
        aware = [by[(inst, preset, m)] for m in methods
                 if m not in BASELINES and (inst, preset, m) in by]
        for m in methods:
            r = by.get((inst, preset, m))
            if r is None:
                continue
            ratio = r["makespan_ns"] / naive["makespan_ns"] if naive else float("nan")
            row = [inst, preset, m, f"{r['nonzero_blocks']:,}", f"{r['makespan_ns'] / 1e3:,.1f}",
                   f"{ratio:.3f}", f"{r['programming_ns'] / 1e3:,.1f}",
                   f"{100 * r['programming_exposed_share']:.2f}%",
                   f"{r['bound_ns'] / 1e3:,.1f}", f"{100 * r['gap']:.2f}%",
                   f"{r['wall_s']:.1f}", f"{r['wall_s'] / r['time_limit_s']:.2f}",
                   f"{r['peak_rss_mb']:,.0f}"]
            md.append("| " + " | ".join(row) + " |")
            w.writerow([inst, preset, m, r["nonzero_blocks"], r["makespan_ns"] / 1e3, ratio,
                        r["programming_ns"] / 1e3, r["programming_exposed_share"],
                        r["bound_ns"] / 1e3, r["gap"], r["wall_s"], r["cpu_s"],
                        r["time_limit_s"], r["peak_rss_mb"], r["status"], r["verified"]])
        if not aware:
            continue
        best = min(aware, key=lambda r: r["makespan_ns"])
        base = [by[(inst, preset, b)]["makespan_ns"] for b in BASELINES
                if (inst, preset, b) in by]
        total += 1
        if base and best["makespan_ns"] > min(base):
            ok_all = False
            notes.append(f"- {inst} / {preset}: best makespan-aware ({best['method']}) "
                         f"{best['makespan_ns'] / 1e3:,.1f} us is above a baseline "
                         f"({min(base) / 1e3:,.1f} us)")
        within += best["gap"] <= 0.10
        if inst == "lenet5" and preset == "default" and naive:
            lenet = naive["makespan_ns"] / best["makespan_ns"]
    lines = [f"- best makespan-aware method <= naive and <= sorted on every case: "
             f"{'yes' if ok_all else 'no'} ({total} cases)", *notes,
             f"- within 10% of the makespan bound: {within} of {total} cases"]
    if lenet is not None:
        lines.append(f"- LeNet-5, default preset: naive / best = {lenet:.2f}x")
    return "\n".join(md) + "\n", buf.getvalue(), lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--instances", default=",".join(DEFAULT_INSTANCES))
    ap.add_argument("--presets", default="default,wv-mlc,multi-ou,small-chip")
    ap.add_argument("--methods", default=DEFAULT_METHODS,
                    help="comma-separated; METHOD+cpsat re-times the list schedule with "
                         f"CP-SAT (instances up to {CPSAT_MAX_BLOCKS:,} non-zero blocks), "
                         "METHOD+split splits inputs")
    ap.add_argument("--time-limit", type=float, default=60.0,
                    help="seconds per solve (default 60)")
    ap.add_argument("--large-time-limit", type=float, default=240.0,
                    help="seconds per solve of the real-shaped instances (default 240)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rebound", action="store_true",
                    help="recompute every instance's makespan bound with the current code "
                         "(out/bounds.jsonl) and report the larger of it and the run's own")
    ap.add_argument("--bound-time-limit", type=float, default=600.0,
                    help="seconds per recomputed bound (default 600)")
    ap.add_argument("--out", default=str(ROOT / "results" / "makespan"))
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in args.instances.split(","):
        instance_path(name)  # generate missing instances before the pool starts
    for m in args.methods.split(","):
        method_options(m)  # a bad suffix stops here, before any run
    tasks: dict[tuple[str, ...], tuple[Any, ...]] = {
        (i, p, m): (i, p, m, args.large_time_limit if _large(i) else args.time_limit,
                    args.seed)
        for i in args.instances.split(",") for p in args.presets.split(",")
        for m in args.methods.split(",") if _runs_on(i, m)}
    records, failed = run_isolated(
        run, tasks, out / "runs.jsonl", jobs=args.jobs, key_of=_key,
        describe=lambda r: f"makespan {r['makespan_ns'] / 1e3:,.1f} us, gap "
                           f"{100 * r['gap']:.2f}%, {r['wall_s']:.1f} s, "
                           f"{r['peak_rss_mb']:,.0f} MB")
    bounds: list[dict[str, Any]] = []
    if args.rebound:
        # the bound is a property of the instance: recompute it with the current code and
        # its own limit (the makespans stay those of the verified runs)
        pre: dict[tuple[str, ...], tuple[Any, ...]] = {
            (r["instance"], r["preset"]): (r["instance"], r["preset"], args.bound_time_limit)
            for r in records}
        bounds, _ = run_isolated(
            instance_bound, pre, out / "bounds.jsonl", jobs=args.jobs,
            key_of=lambda b: tuple(b["key"]),
            describe=lambda b: f"bound {b['bound_ns'] / 1e3:,.1f} us ({b['term']}, "
                               f"{'complete' if b['complete'] else 'cut'}, {b['seconds']:.0f} s)")
        records = with_best_bounds(records, bounds)
    md, text, lines = table(records)
    (out / "table.md").write_text(md, encoding="utf-8")
    (out / "table.csv").write_text(text, encoding="utf-8")
    write_bench_readme(
        out, "Minimum inference latency: makespan of naive, sorted and the makespan-aware "
        "method",
        f"python scripts/bench_makespan.py{_selection(args)} --time-limit {args.time_limit:g} "
        f"--large-time-limit {args.large_time_limit:g} --jobs {args.jobs} --seed {args.seed}"
        + (f" --rebound --bound-time-limit {args.bound_time_limit:g}" if args.rebound else ""),
        records, [
            "Every run is one verified `pimopt.solve(..., objective='makespan')` in a fresh "
            "process (peak RSS is that process's). Makespan, programming and the bound in us; "
            "`exposed share`: programming during which no OU computes, over the makespan; "
            "`gap`: (makespan - bound) / makespan with the makespan bound of docs/bounds.md; "
            "`wall/limit`: wall time of the whole run (instance build included) over the "
            "solve's time limit. Presets: `pimopt presets` and docs/architecture.md.", "",
            *([f"Bounds: each instance's makespan bound was recomputed at commit "
               f"{', '.join(sorted({b['commit'] for b in bounds}))} (`--rebound`, "
               f"{args.bound_time_limit:g} s each, `bounds.jsonl`) and the table reports the "
               "larger of it and the bound of the run (both are valid lower bounds of the "
               "same instance); makespans, programming and times are those of the verified "
               "runs at the commits above.", ""] if bounds else [])],
        "Acceptance summary", lines, failed, md)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
