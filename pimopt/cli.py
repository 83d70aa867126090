"""Command-line interface: ``pimopt solve | verify | info | presets``.

Errors in the input give one line ``pimopt: error: ...`` on stderr and exit
code 2; nothing is written then.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from pimopt.architecture import load_architecture, preset_names
from pimopt.errors import InputError, PimoptError
from pimopt.instance import Instance, default_instance_path
from pimopt.network import Network
from pimopt.schedule import Schedule
from pimopt.solve import METHODS, OBJECTIVES, Result, solve
from pimopt.verify import verify


def _instance(path: str | None, arch: str | None) -> Instance:
    net = Network.load(path if path else default_instance_path())
    return Instance(load_architecture(arch), net)


def _summary(inst: Instance, res: Result) -> str:
    m = res.metrics
    lines = [
        f"instance   {inst.network.name} ({inst.network.source or 'no source recorded'})",
        f"arch       {inst.arch.name}: {inst.arch.crossbars} crossbars x "
        f"{inst.arch.slots_per_crossbar} OU slots of {inst.arch.ou_rows}x{inst.arch.ou_cols}",
        f"method     {res.method} (status {res.status}, {res.runtime_s:.2f} s)",
        f"blocks     {inst.n_blocks} total, {inst.n_blocks - inst.n_nonzero} zero, "
        f"{inst.n_nonzero - inst.n_distinct_nonzero} reused patterns "
        f"({inst.n_distinct_nonzero} distinct non-zero)",
        f"makespan   {m['makespan_ns']:.2f} ns",
        f"programming {m['programming_ns']:.2f} ns in {int(m['program_ops'])} operations; "
        f"exposed {m['programming_exposed_ns']:.2f} ns "
        f"= {100 * m['programming_exposed_share']:.1f}% of the makespan",
        f"cell writes {int(m['cell_writes'])}, energy {m['energy_pj']:.1f} pJ, "
        f"passes {int(m['write_passes'])}, critical path {m['critical_path_ns']:.2f} ns",
        f"objective  {res.objective_name} = {res.objective:g}"
        + ("" if res.bound is None else f", bound {res.bound:g}, gap {res.gap:.2%}"),
        f"verified   {res.report.first()}",
    ]
    return "\n".join(lines)


def _write_outputs(out: Path, files: dict[str, str]) -> None:
    """Write all files into a temporary folder, then move them into ``out`` together."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    tmp.chmod(0o755)  # mkdtemp makes it private; the results folder is not
    try:
        for name, text in files.items():
            (tmp / name).write_text(text, encoding="utf-8")
        if not out.exists():
            os.replace(tmp, out)
            return
        for name in files:
            os.replace(tmp / name, out / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def cmd_solve(args: argparse.Namespace) -> int:
    inst = _instance(args.instance, args.arch)
    res = solve(inst, args.method, objective=args.objective, seed=args.seed,
                time_limit=args.time_limit, workers=args.workers, initial=args.initial,
                decomposition=args.decomposition, granularity=args.granularity,
                overlap=not args.no_overlap, bound=not args.no_bound,
                functional_samples=None if args.samples == 0 else args.samples)
    _write_outputs(Path(args.out), {"mapping.csv": res.mapping.to_csv(inst),
                                    "schedule.json": res.schedule.dumps(),
                                    "metrics.json": res.dumps(inst)})
    print(_summary(inst, res))
    print(f"wrote      {args.out}/mapping.csv, schedule.json, metrics.json")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    sched = Schedule.load(args.schedule)
    net = Network.load(args.instance)
    if args.arch is not None:
        arch = load_architecture(args.arch)
    else:
        recorded = sched.architecture()
        if recorded is None:
            raise InputError(f"schedule {args.schedule} records no architecture: pass --arch")
        arch = recorded
    inst = Instance(arch, net)
    recorded_hash = sched.meta.get("instance", {}).get("sha256")
    if recorded_hash and recorded_hash != inst.content_hash():
        print(f"warning: the schedule was made for instance {recorded_hash[:12]}..., "
              f"this is {inst.content_hash()[:12]}...", file=sys.stderr)
    report = verify(inst, sched, functional_samples=None if args.samples == 0 else args.samples,
                    seed=args.seed)
    for v in report.violations:
        print(v)
    if report.ok:
        print(f"verified: {sched.n_program} program and {sched.n_compute} compute operations, "
              f"makespan {report.metrics['makespan_ns']:.2f} ns")
        return 0
    print(f"REJECTED: {len(report.violations)} violation(s) shown")
    return 1


def cmd_info(args: argparse.Namespace) -> int:
    inst = _instance(args.instance, args.arch)
    rows = inst.summary()
    cols = list(rows[0])
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols}
    print(f"{inst.network.name}: {len(rows)} layers, {inst.network.weight_bits}-bit weights, "
          f"{inst.network.encoding} encoding, sha256 {inst.network.content_hash()[:16]}")
    print(f"source: {inst.network.source}")
    print(f"arch {inst.arch.name}: {inst.arch.cell_bits}-bit cells, OU "
          f"{inst.arch.ou_rows}x{inst.arch.ou_cols}, {inst.arch.total_slots} slots")
    print("  ".join(c.ljust(widths[c]) for c in cols))
    for r in rows:
        print("  ".join(str(r[c]).ljust(widths[c]) for c in cols))
    print(f"total: {inst.n_blocks} blocks, {inst.n_blocks - inst.n_nonzero} zero, "
          f"{inst.n_distinct_nonzero} distinct non-zero patterns")
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    for name in preset_names():
        a = load_architecture(name)
        print(f"{name:10s} {a.crossbars} crossbars {a.rows}x{a.cols}, {a.cell_bits}-bit cells, "
              f"t_set {a.t_set} ns, {a.pulse_mode} pulses, write_width {a.write_width}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pimopt", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    arch_help = f"architecture: a preset ({', '.join(preset_names())}) or a TOML file"

    s = sub.add_parser("solve", help="map, schedule and verify an instance")
    s.add_argument("instance", nargs="?", help="network JSON (default: bundled LeNet-5)")
    s.add_argument("--arch", help=arch_help)
    s.add_argument("--method", default="naive", choices=list(METHODS))
    s.add_argument("--objective", default="makespan", choices=list(OBJECTIVES))
    s.add_argument("--time-limit", type=float, default=60.0,
                   help="seconds for time-limited methods (default 60)")
    s.add_argument("--workers", type=int, default=2, help="CP-SAT workers")
    s.add_argument("--initial", default="ls", help="heuristic warm-starting exact methods")
    s.add_argument("--decomposition", default="layer", choices=["layer", "whole"])
    s.add_argument("--no-bound", action="store_true",
                   help="skip the lower bound (programming and cell_writes objectives)")
    s.add_argument("--granularity", default="slot", choices=["slot", "crossbar"],
                   help="program operations per slot or per whole crossbar")
    s.add_argument("--no-overlap", action="store_true",
                   help="never program while any crossbar computes")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--samples", type=int, default=16,
                   help="input vectors per layer in the functional check (0 = all)")
    s.add_argument("--out", default="pimopt-out", help="output folder")
    s.set_defaults(func=cmd_solve)

    v = sub.add_parser("verify", help="check a schedule against an instance")
    v.add_argument("instance")
    v.add_argument("schedule")
    v.add_argument("--arch", help=arch_help + " (default: the one recorded in the schedule)")
    v.add_argument("--seed", type=int, default=0)
    v.add_argument("--samples", type=int, default=16)
    v.set_defaults(func=cmd_verify)

    i = sub.add_parser("info", help="describe an instance")
    i.add_argument("instance", nargs="?")
    i.add_argument("--arch", help=arch_help)
    i.set_defaults(func=cmd_info)

    pr = sub.add_parser("presets", help="list the architecture presets")
    pr.set_defaults(func=cmd_presets)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pimopt`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except InputError as exc:
        print(f"pimopt: error: {exc}", file=sys.stderr)
        return 2
    except PimoptError as exc:
        print(f"pimopt: internal error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
