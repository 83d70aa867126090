"""The reference run in ``results/reference``: every method on the bundled suites and both sweeps.

One command, resumable (the benchmark runner skips finished runs)::

    python scripts/reference_run.py [--jobs 2] [--time-limit 20] [--out results/reference]

Steps (each an ordinary pimopt command, printed before it runs):

1. ``pimopt bench`` on the ``tiny`` suite (all methods, seeds 0, 1, 2) and the
   ``bundled`` suite (all methods, seed 0), records in ``OUT/suites/runs``;
2. ``pimopt sweep`` of ``instances/sweeps/ablation.toml`` and ``inputs.toml``
   into ``OUT/ablation`` and ``OUT/inputs``;
3. ``pimopt best`` on the suite runs: the best-known files beside the suites
   take the verified improvements;
4. ``pimopt report`` of each folder (Markdown and PNG plots);
5. ``OUT/README.md`` with the command, commit, versions, machine, seeds and limits.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from pathlib import Path

from pimopt.bench import load_records
from pimopt.provenance import machine, source_commit, versions

ROOT = Path(__file__).resolve().parents[1]


def run(cmd: list[str]) -> None:
    print("$ " + shlex.join(cmd), flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--time-limit", type=float, default=20.0)
    ap.add_argument("--out", default="results/reference")
    args = ap.parse_args()
    out = Path(args.out)
    commit = source_commit(ROOT)  # before the runs: the code of this moment
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    t0 = time.perf_counter()
    pim = [sys.executable, "-m", "pimopt"]
    common = ["--methods", "all", "--time-limit", str(args.time_limit), "--jobs", str(args.jobs)]
    suites = out / "suites"
    run([*pim, "bench", "--suite", "instances/suites/tiny.toml", "--seeds", "0,1,2", *common,
         "--out", str(suites)])
    run([*pim, "bench", "--suite", "instances/suites/bundled.toml", "--seeds", "0", *common,
         "--out", str(suites)])
    for sweep in ("ablation", "inputs"):
        run([*pim, "sweep", f"instances/sweeps/{sweep}.toml", "--jobs", str(args.jobs),
             "--out", str(out / sweep)])
    run([*pim, "best", str(suites)])
    for folder in (suites, out / "ablation", out / "inputs"):
        run([*pim, "report", str(folder)])
    minutes = (time.perf_counter() - t0) / 60
    rows = [("suites", "every method on the `tiny` and `bundled` suites (`instances/suites/`), "
                       "objective: total programming latency"),
            ("ablation", "sweep `instances/sweeps/ablation.toml`: ResNet-18 x0.25 at CIFAR and "
                         "ImageNet input sizes x crossbars x write budget, objective: makespan"),
            ("inputs", "sweep `instances/sweeps/inputs.toml`: LeNet-5 x input vectors per layer "
                       "x crossbars x write budget, objective: makespan")]
    table = "\n".join(["| folder | what | report |", "|---|---|---|",
                       *(f"| `{f}/` | {w} | [report]({f}/report.md) |" for f, w in rows)])
    v = versions()
    records = load_records(out)
    used = sorted({str(r.get("commit")) for r in records})
    commits = "; ".join(used) if used else commit
    finished = sorted(str(r.get("finished")) for r in records if r.get("finished"))
    workers = sorted({str((r.get("options") or {}).get("workers")) for r in records
                      if (r.get("options") or {}).get("workers") is not None})
    span = f"{finished[0]} to {finished[-1]}" if finished else "unknown"
    text = f"""# Reference run

Made by one command from the repository root:

    python scripts/reference_run.py --jobs {args.jobs} --time-limit {args.time_limit:g} \\
        --out {args.out}

- commit(s) the runs used: {commits} (this call started at {commit}; a second call
  only adds the runs missing, so records can come from several commits, each
  record names its own)
- versions: {", ".join(f"{k} {val}" for k, val in v.items())}
- machine: {machine()}; runs finished from {span}; this call started {started}
  and took {minutes:.0f} minutes
- seeds: 0, 1, 2 on the tiny suite, 0 elsewhere; time limit {args.time_limit:g} s per run;
  {args.jobs} local worker processes, {" or ".join(workers) or "the default"} CP-SAT
  worker(s) per run (the option `workers`)
- every run was verified (the verifier replays the schedule; the claimed cost
  is recomputed); runs refused by a documented size limit are listed as
  `refused` with the reason.

{table}

Each folder holds the run records (`runs/*.json`: status, objective, bound,
gap, runtime, method, seed, instance hash, versions, machine; no mappings or
schedules), the report and its plots. Re-running the command skips every
finished run; `pimopt report FOLDER` rebuilds a report from the records. The
best-known files `instances/suites/*.best.json` were updated from these runs
by `pimopt best {suites}`.

The ablation reports give, for every grid point and method, the makespan, the
programming latency, the share of programming exposed on the critical path and
the share hidden behind compute. What the two-stage approach (map for
programming latency, then schedule) loses against joint mapping and scheduling
on small instances is in [../joint_vs_two_stage.md](../joint_vs_two_stage.md)
(`python scripts/compare_joint.py --time-limit 30`).
"""
    (out / "README.md").write_text(text, encoding="utf-8")
    print(f"wrote {out / 'README.md'} ({minutes:.1f} min)")


if __name__ == "__main__":
    main()
