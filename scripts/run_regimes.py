"""The regime sweeps in ``results/regimes``: where programming is a small or a large
share of inference latency, and what the makespan-aware method gains in each.

One command, resumable (the sweep runner skips finished runs)::

    python scripts/run_regimes.py [--jobs 2] [--out results/regimes]

It runs ``pimopt sweep`` on ``instances/sweeps/regime-{default,wv-mlc,multi-ou,
small-chip}.toml`` (ResNet-18 x0.25 at CIFAR and ImageNet input sizes x
crossbars 4, 16, 64 x write budget 1, 4; naive, sorted and balanced;
objective makespan), ``pimopt report`` on each, and writes ``OUT/README.md``
with the commands, commits, versions, machine and a per-preset summary.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from pathlib import Path
from statistics import geometric_mean, median
from typing import Any

from pimopt.bench import load_records
from pimopt.provenance import machine, versions

ROOT = Path(__file__).resolve().parents[1]
PRESETS = ("default", "wv-mlc", "multi-ou", "small-chip")


def run(cmd: list[str]) -> None:
    print("$ " + shlex.join(cmd), flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True)


def summary(records: list[dict[str, Any]]) -> list[str]:
    """Per method: geometric-mean makespan ratio to naive, median exposed share and gap."""
    solved = [r for r in records if r.get("metrics")]
    by_point: dict[str, dict[str, dict[str, Any]]] = {}
    for r in solved:
        point = repr(sorted(r["spec"]["params"].items()))
        by_point.setdefault(point, {})[r["method"]] = r
    rows = []
    for m in ("naive", "sorted", "balanced"):
        ratios = [pt[m]["metrics"]["makespan_ns"] / pt["naive"]["metrics"]["makespan_ns"]
                  for pt in by_point.values() if m in pt and "naive" in pt]
        mine = [r for r in solved if r["method"] == m]
        if not mine:
            continue
        share = median(r["metrics"]["programming_exposed_share"] for r in mine)
        prog = median(r["metrics"]["programming_ns"] / r["metrics"]["makespan_ns"]
                      for r in mine)
        gap = median(r["metrics"].get("makespan_gap", float("nan")) for r in mine)
        rows.append(f"| {m} | {len(mine)} | {geometric_mean(ratios):.3f} | "
                    f"{100 * prog:.1f}% | {100 * share:.1f}% | {100 * gap:.1f}% |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default="results/regimes")
    args = ap.parse_args()
    out = Path(args.out)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    t0 = time.perf_counter()
    pim = [sys.executable, "-m", "pimopt"]
    for preset in PRESETS:
        run([*pim, "sweep", f"instances/sweeps/regime-{preset}.toml", "--jobs", str(args.jobs),
             "--out", str(out / preset)])
        run([*pim, "report", str(out / preset)])
    minutes = (time.perf_counter() - t0) / 60
    lines = []
    commits: set[str] = set()
    for preset in PRESETS:
        records = load_records(out / preset)
        commits |= {str(r.get("commit")) for r in records}
        lines += [f"### {preset} ([report]({preset}/report.md))", "",
                  "| method | runs | makespan / naive (geometric mean) | programming / makespan "
                  "(median) | exposed programming share (median) | makespan gap (median) |",
                  "|---|---|---|---|---|---|", *summary(records), ""]
    v = versions()
    text = f"""# Regimes: how much of inference latency is programming

Made by one command from the repository root:

    python scripts/run_regimes.py --jobs {args.jobs} --out {args.out}

- commit(s) the runs used: {"; ".join(sorted(commits))} (each record names its own)
- versions: {", ".join(f"{k} {val}" for k, val in v.items())}
- machine: {machine()}; this call started {started} and took {minutes:.0f} minutes
- seed 0; time limit 20 s per run; {args.jobs} local worker processes; every run verified

Sweeps `instances/sweeps/regime-*.toml`: ResNet-18 layer shapes at width 0.25
(generated, seed 0) at CIFAR and ImageNet input sizes x 4, 16, 64 crossbars x
write budget 1, 4, on each preset (`docs/architecture.md`), methods naive,
sorted and balanced, objective makespan. Programming / makespan can exceed
100%: programming of different crossbars overlaps in time. The exposed share
is programming during which no OU computes. The makespan gap is against the
makespan bound of `docs/bounds.md` section 6 (weak where programming
dominates: its programming term is a per-pattern lower bound).

{chr(10).join(lines)}
"""
    (out / "README.md").write_text(text, encoding="utf-8")
    print(f"wrote {out / 'README.md'} ({minutes:.1f} min)")


if __name__ == "__main__":
    main()
