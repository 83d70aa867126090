"""What the two-stage approach loses: joint mapping + scheduling vs map-then-schedule.

Two-stage: the mapping of ``--method`` (minimum total programming latency,
whole-network model) timed by the CP-SAT scheduler. Joint: one CP-SAT model
choosing slots, load order and times for minimum makespan, hinted with the
two-stage solution (so never worse). Small instances only: the tiny suite and
small synthetic networks on multi-crossbar chips where programming can hide.

Writes ``results/joint_vs_two_stage.md`` with the command, commit, versions,
machine, seed and limits.

Usage: python scripts/compare_joint.py [--time-limit 30] [--seed 0] [--out results]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from pimopt import Architecture, Instance, load_instance, solve
from pimopt.models.generate import synthetic
from pimopt.provenance import machine, source_commit, versions

ROOT = Path(__file__).resolve().parents[1]


def small_arch(crossbars: int, budget: int) -> Architecture:
    """2-bit cells, 16x16 crossbars of 8x8 OUs (4 slots each), default latencies."""
    return Architecture(crossbars=crossbars, rows=16, cols=16, max_programming_crossbars=budget,
                        name=f"{crossbars}xb-16x16-budget{budget}")


def instances() -> list[tuple[str, Instance]]:
    tiny_arch = ROOT / "instances" / "tiny" / "arch.toml"
    out = [(n, load_instance(ROOT / "instances" / "tiny" / f"{n}.json", tiny_arch))
           for n in ("tiny-fc2", "tiny-conv", "tiny-mlp3")]
    net = synthetic([(24, 4, 2), (16, 4, 8), (16, 2, 1)], dist="laplace", seed=3, name="syn-3l")
    out.append(("syn-3l (2 xb, budget 1)", Instance(small_arch(2, 1), net)))
    out.append(("syn-3l (2 xb, budget 2)", Instance(small_arch(2, 2), net)))
    net2 = synthetic([(32, 4, 16), (16, 4, 1)], dist="normal", seed=5, name="syn-2l")
    out.append(("syn-2l (2 xb, budget 1)", Instance(small_arch(2, 1), net2)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--time-limit", type=float, default=30.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--method", default="cpsat", help="mapping method of the two-stage run")
    ap.add_argument("--out", default=str(ROOT / "results"))
    args = ap.parse_args()
    commit = source_commit(ROOT)
    rows = []
    for label, inst in instances():
        t0 = time.perf_counter()
        res = solve(inst, args.method, objective="makespan", scheduler="joint",
                    decomposition="whole", time_limit=args.time_limit, seed=args.seed)
        j = res.info["joint"]
        row = (label, inst.n_nonzero, inst.arch.total_slots, j["two_stage_makespan_ps"] / 1000,
               j["makespan_ps"] / 1000, j["bound_ps"] / 1000, 100 * j["two_stage_loss"],
               j["status"], time.perf_counter() - t0)
        rows.append(row)
        print(f"{label:26s} two-stage {row[3]:9.1f} ns  joint {row[4]:9.1f} ns  bound "
              f"{row[5]:9.1f}  loss {row[6]:5.2f}%  {row[7]}  {row[8]:.0f} s", flush=True)
    v = versions()
    lines = [
        "# Joint mapping + scheduling vs two-stage (makespan)", "",
        f"Command: `python scripts/compare_joint.py --time-limit {args.time_limit:g} "
        f"--seed {args.seed} --method {args.method}`", "",
        f"- commit {commit}; {', '.join(f'{k} {val}' for k, val in v.items())}",
        f"- machine: {machine()}; CP-SAT with 2 workers, seed {args.seed}; the time limit "
        "is split: a third for the two-stage CP-SAT timing, the rest for the joint model",
        "- two-stage: the whole-network mapping of the method (minimum total programming "
        "latency) timed by the CP-SAT scheduler; joint: one CP-SAT model over slots, load "
        "order and times, hinted with the two-stage solution (complete and feasible hint)",
        "- loss = (two-stage - joint) / two-stage: what mapping for programming latency "
        "first and scheduling second gives away. Every schedule is verified (bit-exact).",
        "- the joint bound is valid for the loads of the mapping (one load per distinct "
        "pattern of a layer), not for splitting those loads further",
        "",
        "| instance | blocks | slots | two-stage (ns) | joint (ns) | joint bound (ns) | loss | "
        "status | runtime (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.1f} | {r[4]:.1f} | {r[5]:.1f} | "
                     f"{r[6]:.2f}% | {r[7]} | {r[8]:.0f} |")
    lines += ["", "On one crossbar with `block_whole_crossbar` and one OU at a time, every "
              "operation is serial, so the makespan is total programming plus total compute; "
              "the joint model still gains because the two-stage mapping keeps each layer to "
              "its minimum number of rounds per slot (the chain problem's capacity), which the "
              "joint model does not need.", ""]
    out = Path(args.out) / "joint_vs_two_stage.md"
    out.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
