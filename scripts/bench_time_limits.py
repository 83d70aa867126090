"""Does every method keep its time limit? Wall time of ``pimopt solve`` over its limit.

Every run is one ``pimopt solve`` command in a fresh process (instance loading,
every stage, verification and writing the result files included: what a user
waits for), per method x instance; the table gives the process's wall time,
the solve's own runtime (``metrics.json``) and both over the time limit.
Refusals (a method whose model would exceed its size limit says so before
any work) are listed as such.

Usage::

    python scripts/bench_time_limits.py [--instances tiny-fc2,digits-mlp,...]
        [--methods all|naive,balanced,...] [--time-limit 10] [--out results/time-limits]

Instances, from 10^1 to 10^5-10^6 blocks: ``tiny-fc2`` (13 blocks, the tiny
chip), ``digits-mlp`` (296), ``digits-cnn`` (480), ``lenet5`` (5,538),
``resnet20`` (33,872), ``mobilenetv2-cifar`` (281,584, generated into
``instances/real/generated/`` when missing), ``ddddocr-det`` (626,952), and
``layer443`` (one synthetic layer of 443 distinct blocks, where the exact
methods build their largest models; generated with seed 0).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
GENERATED = ROOT / "instances" / "real" / "generated"
TINY = ROOT / "instances" / "tiny"
INSTANCES: dict[str, tuple[Path, str]] = {  # name -> (network, arch)
    "tiny-fc2": (TINY / "tiny-fc2.json", str(TINY / "arch.toml")),
    "digits-mlp": (ROOT / "instances" / "trained" / "digits-mlp.json", "default"),
    "digits-cnn": (ROOT / "instances" / "trained" / "digits-cnn.json", "default"),
    "lenet5": (ROOT / "pimopt" / "data" / "lenet5.json", "default"),
    "resnet20": (ROOT / "instances" / "imported" / "resnet20-cifar.json", "default"),
    "layer443": (GENERATED / "layer443.json", "default"),
    "mobilenetv2-cifar": (GENERATED / "mobilenetv2-cifar.json", "default"),
    "ddddocr-det": (ROOT / "instances" / "trained" / "ddddocr" / "ddddocr-det.json", "default"),
}
DEFAULT_INSTANCES = "tiny-fc2,digits-mlp,lenet5,resnet20,layer443,mobilenetv2-cifar"


def _ensure(name: str) -> Path:
    """The instance's network file, generated first when it is one of the generated ones."""
    path = INSTANCES[name][0]
    if path.exists():
        return path
    GENERATED.mkdir(parents=True, exist_ok=True)
    stem = str(path.with_suffix(""))
    if name == "layer443":
        cmd = ["generate", "synthetic", "--layers", "8x443:4", "--seed", "0", "--name",
               "layer443", "-o", stem]
    else:
        cmd = ["generate", "real", "--model", "mobilenetv2", "--dataset", "cifar", "-o", stem]
    subprocess.run([sys.executable, "-m", "pimopt", *cmd], check=True, capture_output=True)
    return path


def run(name: str, method: str, time_limit: float, seed: int) -> dict[str, Any]:
    """One ``pimopt solve`` in a child process; its wall time and what it wrote."""
    net = _ensure(name)
    arch = INSTANCES[name][1]
    with tempfile.TemporaryDirectory(prefix="pimopt-tl-") as tmp:
        cmd = [sys.executable, "-m", "pimopt", "solve", str(net), "--arch", arch, "--method",
               method, "--time-limit", str(time_limit), "--seed", str(seed), "--baseline",
               "none", "--out", tmp]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        rec: dict[str, Any] = {"instance": name, "method": method, "time_limit": time_limit,
                               "wall_s": wall, "exit": proc.returncode}
        metrics = Path(tmp) / "metrics.json"
        if proc.returncode == 0 and metrics.exists():
            data = json.loads(metrics.read_text())
            rec.update(blocks=data["blocks"]["nonzero"], runtime_s=data["runtime_s"],
                       status=data["status"],
                       stages={s["name"]: round(s["seconds"], 2) for s in data["stages"]})
        else:
            rec["error"] = (proc.stderr.strip().splitlines() or ["?"])[-1]
        warn = [ln for ln in proc.stderr.splitlines() if "short for" in ln]
        rec["warned"] = bool(warn)
    return rec


def main() -> int:
    from pimopt.methods.registry import METHODS

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--instances", default=DEFAULT_INSTANCES,
                    help=f"comma-separated, of {', '.join(INSTANCES)}")
    ap.add_argument("--methods", default="all", help="comma-separated or all")
    ap.add_argument("--time-limit", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, help="also write OUT/runs.jsonl and OUT/table.md")
    args = ap.parse_args()
    methods = list(METHODS) if args.methods == "all" else args.methods.split(",")
    names = args.instances.split(",")
    bad = sorted(set(names) - set(INSTANCES)) + sorted(set(methods) - set(METHODS))
    if bad:
        ap.error(f"unknown: {', '.join(bad)}")
    head = "| instance | blocks | method | status | wall (s) | wall/limit | solve (s) | stages |"
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    print(head, flush=True)
    records = []
    for name in names:
        for method in methods:
            rec = run(name, method, args.time_limit, args.seed)
            records.append(rec)
            if "error" in rec:
                row = (f"| {name} | | {method} | {rec['error'][:70]} | {rec['wall_s']:.1f} | "
                       f"{rec['wall_s'] / args.time_limit:.2f} | | |")
            else:
                stages = ", ".join(f"{k} {v:g}" for k, v in rec["stages"].items())
                row = (f"| {name} | {rec['blocks']:,} | {method} | {rec['status']} | "
                       f"{rec['wall_s']:.1f} | {rec['wall_s'] / args.time_limit:.2f} | "
                       f"{rec['runtime_s']:.1f} | {stages} |")
            lines.append(row)
            print(row, flush=True)
    worst = max(r["wall_s"] / args.time_limit for r in records)
    print(f"\nworst wall/limit {worst:.2f} over {len(records)} runs at --time-limit "
          f"{args.time_limit:g}")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
        (args.out / "table.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
