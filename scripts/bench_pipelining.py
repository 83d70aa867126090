"""Cross-layer pipelining: makespan under the layer barrier against the window rule.

    python scripts/bench_pipelining.py [--instances lenet5,resnet20,mobilenetv2,silero-vad]
        [--presets default,small-chip,multi-ou] [--time-limit 60] [--large-time-limit 120]
        [--seed 0] [--out results/pipelining]

Instances, with their dependency windows (``windows=True``):

- ``lenet5``, ``resnet20``: the PyTorch exports in ``instances/imported/`` imported
  with ``pimopt.models.onnx_import.import_onnx(..., windows=True)``;
- ``mobilenetv2``: the real-shaped MobileNetV2 at CIFAR size
  (``generate.real_shaped("mobilenetv2", "cifar", windows=True)``, seed 0);
- ``silero-vad``: the trained 16 kHz voice-activity detector from the silero-vad
  6.2.3 wheel (``instances/trained/silero-vad/``), Conv1d layers and an LSTM.

Every run is one verified ``pimopt.solve(..., method="balanced", objective="makespan")``
(``balanced`` also schedules the naive and sorted mappings and keeps the shortest, so
it is the best method of the three), once per rule. Columns: makespans (us) under
each rule, their ratio, the makespan bound valid under the window rule and the
window run's gap to it, the barrier schedule's OU utilisation (compute work over
all OUs x makespan) and exposed programming share, and wall times. Writes
``OUT/runs.jsonl``, ``OUT/table.md``, ``OUT/README.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pimopt  # noqa: E402
from pimopt.architecture import load_architecture  # noqa: E402
from pimopt.bench import write_bench_readme  # noqa: E402
from pimopt.instance import Instance  # noqa: E402
from pimopt.models.generate import real_shaped  # noqa: E402
from pimopt.models.onnx_import import import_onnx  # noqa: E402
from pimopt.network import Network  # noqa: E402
from pimopt.provenance import package_commit  # noqa: E402

SILERO = ROOT / "instances" / "trained" / "silero-vad" / "silero_vad_16k_sequence.onnx"
LARGE = ("mobilenetv2",)


def network(name: str) -> Network:
    """The instance's network with its windows."""
    if name == "lenet5":
        return import_onnx(ROOT / "instances" / "imported" / "lenet5.onnx",
                           input_shape=(1, 1, 28, 28), windows=True, name="lenet5")
    if name == "resnet20":
        return import_onnx(ROOT / "instances" / "imported" / "resnet20-cifar.onnx",
                           input_shape=(1, 3, 32, 32), windows=True, name="resnet20-cifar")
    if name == "mobilenetv2":
        return real_shaped("mobilenetv2", "cifar", seed=0, windows=True)
    if name == "silero-vad":
        return import_onnx(SILERO, input_shape={"input": (1, 576), "h": (1, 1, 128),
                                                "c": (1, 1, 128)},
                           windows=True, name="silero-vad-16k")
    raise SystemExit(f"unknown instance {name!r}")


def run(inst: Instance, rule: str, limit: float, seed: int) -> dict[str, Any]:
    t = time.perf_counter()
    r = pimopt.solve(inst, "balanced", objective="makespan", time_limit=limit, seed=seed,
                     dependencies=rule)
    wall = time.perf_counter() - t
    a = inst.arch
    work = sum(int(n) for n in inst.block_n_inputs[inst.nonzero_blocks]) * a.compute_ps(1)
    m = r.report.metrics
    budget = int(a.max_programming_crossbars or a.crossbars)
    return {"makespan_ps": round(r.objective * 1000), "bound_ps": round((r.bound or 0) * 1000),
            "write_budget_share": m["programming_ns"] / (budget * r.objective),
            "gap": r.gap, "status": str(r.status), "wall_s": round(wall, 2),
            "ou_utilisation": work / (a.crossbars * a.ous_per_crossbar * r.objective * 1000),
            "exposed_share": m["programming_exposed_share"],
            "pipeline": r.info.get("pipeline"),
            "kept": (r.info.get("candidates") or {}).get("kept")}


def why(row: dict[str, Any]) -> str:
    """Why the window rule did not shorten the schedule (or by how much it did)."""
    b, w = row["barrier"], row["window"]
    ratio = b["makespan_ps"] / w["makespan_ps"]
    if ratio >= 1.02:
        return f"pipelined ({ratio:.2f}x)"
    if b["ou_utilisation"] >= 0.9:
        return f"barrier schedule keeps {b['ou_utilisation']:.0%} of OU time busy"
    if b.get("write_budget_share", 0.0) >= 0.6:
        return (f"write budget busy {b['write_budget_share']:.0%} of the time: programming, "
                "not the barrier, sets the makespan")
    if b["exposed_share"] >= 0.1:
        return f"programming-bound ({b['exposed_share']:.0%} of the makespan exposed)"
    if row["layers_with_windows"] == 0:
        return "no windows (sequence layers, flatten, LSTM)"
    return "chunks did not shorten the list schedule"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--instances", default="lenet5,resnet20,mobilenetv2,silero-vad")
    ap.add_argument("--presets", default="default,small-chip,multi-ou")
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--large-time-limit", type=float, default=120.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "results" / "pipelining"))
    ap.add_argument("--commit", help="with --table-only: the commit the runs used")
    ap.add_argument("--table-only", action="store_true",
                    help="rewrite OUT/table.md and OUT/README.md from OUT/runs.jsonl")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.table_only:
        write([json.loads(line) for line in open(out / "runs.jsonl", encoding="utf-8")], args,
              out)
        return 0
    rows: list[dict[str, Any]] = []
    for name in args.instances.split(","):
        net = network(name)
        limit = args.large_time_limit if name in LARGE else args.time_limit
        for preset in args.presets.split(","):
            inst = Instance(load_architecture(preset), net)
            row: dict[str, Any] = {"instance": name, "preset": preset,
                                   "commit": package_commit(),
                                   "blocks": int(inst.n_nonzero), "time_limit_s": limit,
                                   "layers_with_windows": sum(bool(la.windows)
                                                              for la in net.layers),
                                   "layers": len(net.layers)}
            for rule in ("barrier", "window"):
                row[rule] = run(inst, rule, limit, args.seed)
            row["why"] = why(row)
            print(json.dumps(row), flush=True)
            rows.append(row)
    with open(out / "runs.jsonl", "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    write(rows, args, out)
    return 0


def write(rows: list[dict[str, Any]], args: argparse.Namespace, out: Path) -> None:
    """The table and README of ``rows``."""
    for row in rows:
        row["why"] = why(row)
    lines = ["| instance | preset | blocks | layers with windows | barrier (us) | window (us) | "
             "barrier / window | window bound (us) | window gap | OU utilisation (barrier) | "
             "exposed programming (barrier) | wall barrier / window (s) | note |",
             "|" + "---|" * 13]
    for row in rows:
        b, w = row["barrier"], row["window"]
        lines.append(
            f"| {row['instance']} | {row['preset']} | {row['blocks']:,} | "
            f"{row['layers_with_windows']} of {row['layers']} | {b['makespan_ps'] / 1e6:,.1f} | "
            f"{w['makespan_ps'] / 1e6:,.1f} | {b['makespan_ps'] / w['makespan_ps']:.3f} | "
            f"{w['bound_ps'] / 1e6:,.1f} | {w['gap']:.1%} | {b['ou_utilisation']:.1%} | "
            f"{b['exposed_share']:.1%} | {b['wall_s']:.0f} / {w['wall_s']:.0f} | {row['why']} |")
    (out / "table.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    if args.commit:  # records measured before they carried their commit
        rows = [{"commit": args.commit, **row} for row in rows]
    ratio = [(r["barrier"]["makespan_ps"] / r["window"]["makespan_ps"], r) for r in rows]
    top, at = max(ratio, key=lambda x: x[0])
    summary = [f"- cases: {len(rows)}; the largest gain of the window rule: {top:.3f}x "
               f"({at['instance']} `{at['preset']}`); window run longer in "
               f"{sum(x < 1 for x, _ in ratio)} case(s), by at most "
               f"{max(1 / x - 1 for x, _ in ratio):.2%}"]
    intro = [
        f"Seed {args.seed}; time limit {args.time_limit} s per solve "
        f"({args.large_time_limit} s for {', '.join(LARGE)}). Method: `balanced` (it keeps "
        "the shortest of its own, the naive and the sorted mapping), objective makespan, "
        "once under each rule; every schedule verified under its rule. `window bound`: the "
        "makespan bound valid under the window rule (docs/bounds.md, section 8); the barrier "
        "bound does not hold there. Instances and columns: the script's docstring.", ""]
    command = ("python scripts/bench_pipelining.py "
               + " ".join(a for a in sys.argv[1:] if a != "--table-only"
                          and not a.startswith("--commit") and a != args.commit))
    write_bench_readme(out, "Cross-layer pipelining: the layer barrier against dependency "
                       "windows", command, rows, intro, "Summary", summary, [],
                       "\n".join(lines) + "\n")

if __name__ == "__main__":
    raise SystemExit(main())
