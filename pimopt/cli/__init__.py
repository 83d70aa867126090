"""Command-line interface: ``pimopt solve | verify | bound | info | import | generate |
plot | bench | sweep | best | report | presets``.

Errors in the input give one line ``pimopt: error: ...`` on stderr and exit
code 2; nothing is written then.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import os
import platform
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from pimopt import IMPORTED_AT
from pimopt.architecture import load_architecture, preset_names
from pimopt.bench import BenchSummary
from pimopt.errors import InputError, PimoptError
from pimopt.instance import Instance, default_instance_path
from pimopt.layout import LAYOUTS, Layout, laid_out, make_layout
from pimopt.methods.registry import METHODS
from pimopt.network import Network
from pimopt.objectives import OBJECTIVES
from pimopt.options import DEFAULT_METHOD, DEFAULTS, add_arguments, from_arguments
from pimopt.pipeline import solve
from pimopt.result import AUTO_NPZ_BLOCKS
from pimopt.schedule import Schedule
from pimopt.stop import Deadline
from pimopt.verify import verify


def _instance(path: str | None, arch: str | None) -> Instance:
    net = Network.load(path if path else default_instance_path())
    return Instance(load_architecture(arch), net)


def _check_out_dir(path: str, what: str = "--out") -> Path:
    """An output folder that can be created or exists as a folder (checked before work)."""
    if not str(path).strip():
        raise InputError(f"{what} '' is invalid: name an output folder")
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise InputError(f"{what} {out} is a file, not a folder")
    parent = next((q for q in (out, *out.parents) if q.exists()), Path("."))
    if not parent.is_dir():
        raise InputError(f"{what} {out}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK):
        raise InputError(f"{what} {out}: {parent} is not writable")
    return out


def _check_out_file(path: str, suffixes: tuple[str, ...], what: str = "-o") -> Path:
    """An output file whose folder can be written and whose name ends as allowed."""
    if not str(path).strip():
        raise InputError(f"{what} '' is invalid: name an output file")
    out = Path(path)
    if suffixes and out.suffix.lower() not in suffixes:
        raise InputError(f"{what} {out}: the name must end with {', '.join(suffixes)}")
    if out.is_dir():
        raise InputError(f"{what} {out} is a folder, not a file")
    _check_out_dir(str(out.parent) or ".", what)
    return out


def cmd_solve(args: argparse.Namespace) -> int:
    # the time limit started when pimopt was imported: imports, loading the instance and
    # writing the files count too
    stop = Deadline(args.time_limit, start=IMPORTED_AT, write=True)
    _check_out_dir(args.out)  # before the work: a bad folder must not cost a solve
    inst = _instance(args.instance, args.arch)
    options = from_arguments(args)
    res = solve(inst, args.method, stop=stop, **options)
    # the network file, so that `pimopt verify OUT` alone finds it (its hash is checked)
    ref = args.instance or f"pimopt:{default_instance_path().stem}"
    ref = ref if ref.startswith("pimopt:") else str(Path(ref).resolve())
    res.schedule.meta.setdefault("instance", {})["file"] = ref
    res.info["instance_file"] = ref
    written = res.save(args.out, format=args.format, inst=inst)
    print(res.summary())
    from pimopt import interrupt

    if res.status == "interrupted" or interrupt.terminating():
        # the work so far is written; no baseline after Ctrl-C or SIGTERM
        print(f"wrote      {args.out}/{', '.join(written)}")
        how = "terminated (SIGTERM)" if interrupt.terminating() else "interrupted"
        print(f"pimopt: {how}: the best solution found so far is verified and written",
              file=sys.stderr)
        return 143 if interrupt.terminating() else 130
    cand = (res.info.get("candidates") or {}).get("makespan_ps") or {}
    if args.baseline != "none" and res.method != args.baseline and args.baseline in cand \
            and res.objective_name == "makespan" and not args.baseline_always:
        # the baseline was a candidate of this solve: its makespan is known, no second run
        base_ns, mk = cand[args.baseline] / 1000.0, res.metrics["makespan_ns"]
        print(f"{'baseline':<13}  {args.baseline}: makespan {base_ns:,.2f} ns (scheduled in "
              f"this solve); {res.method} is {base_ns / max(mk, 1e-9):.2f}x faster in "
              "inference latency")
        if mk > base_ns:
            print(f"pimopt: note: {res.method} did not beat the {args.baseline} baseline "
                  f"({mk:,.2f} vs {base_ns:,.2f} ns)", file=sys.stderr)
    elif args.baseline != "none" and res.method != args.baseline and not (
            args.baseline_always or inst.n_nonzero < AUTO_NPZ_BLOCKS):
        why = res.info.get("candidates_skipped")
        print(f"{'baseline':<13}  {args.baseline}: not compared ("
              + (f"skipped: {why}" if why else f"{inst.n_nonzero:,} blocks; "
                 "--baseline-always runs it") + ")")
    elif args.baseline != "none" and res.method != args.baseline:
        # what the method gained: the baseline on the same instance, objective and options
        base = solve(inst, args.baseline, **dict(options, bound=False, functional_samples=1,
                                                 scheduler="list", split=False, layout="none"))
        bm, m = base.metrics, res.metrics
        print(f"{'baseline':<13}  {args.baseline}: makespan {bm['makespan_ns']:,.2f} ns, "
              f"programming {bm['programming_ns']:,.2f} ns; {res.method} is "
              f"{bm['makespan_ns'] / max(m['makespan_ns'], 1e-9):.2f}x faster in inference "
              f"latency with {m['programming_ns'] / max(bm['programming_ns'], 1e-9):.2f}x "
              "its programming")
        if m["makespan_ns"] > bm["makespan_ns"]:
            print(f"pimopt: note: {res.method} did not beat the {args.baseline} baseline "
                  f"({m['makespan_ns']:,.2f} vs {bm['makespan_ns']:,.2f} ns)",
                  file=sys.stderr)
    print(f"wrote      {args.out}/{', '.join(written)}")
    return 0


def _solve_outputs(folder: Path) -> tuple[Path, Path | None, Path | None]:
    """(schedule, mapping, metrics) files of a ``pimopt solve`` output folder (its
    ``layout.json``, if any, belongs to the mapping)."""
    def first(*names: str) -> Path | None:
        return next((folder / n for n in names if (folder / n).is_file()), None)

    sched = first("schedule.json", "schedule.json.gz", "schedule.npz")
    if sched is None:
        raise InputError(f"{folder} is a folder without schedule.json, schedule.json.gz or "
                         "schedule.npz: pass a schedule file or a pimopt solve output folder")
    return (sched, first("mapping.csv", "mapping.csv.gz", "mapping.npz"),
            first("metrics.json"))


def cmd_verify(args: argparse.Namespace) -> int:
    from pimopt.io.files import read_json
    from pimopt.mapping import Mapping, label_errors
    from pimopt.verify import Violation, check_outputs

    if args.instance is None:
        raise InputError("pimopt verify needs a schedule: pimopt verify [NETWORK] SCHEDULE")
    if args.schedule is None:  # one argument: the schedule, naming its own instance
        args.instance, args.schedule = None, args.instance
    target = Path(args.schedule)
    mapping_file = metrics_file = None
    metrics: dict[str, Any] | None = None
    if target.is_dir():  # a solve output folder: the mapping and metrics are checked too
        target, mapping_file, metrics_file = _solve_outputs(target)
    sched = Schedule.load(target)
    if args.instance is None:
        recorded_file = (sched.meta.get("instance") or {}).get("file")
        if not isinstance(recorded_file, str) or not recorded_file:
            raise InputError(f"schedule {args.schedule} does not record its network file: "
                             f"pimopt verify NETWORK.json {args.schedule}")
        args.instance = recorded_file
        print(f"instance   {recorded_file} (recorded in the schedule)")
    net = Network.load(args.instance)
    if args.arch is not None:
        arch = load_architecture(args.arch)
    else:
        recorded = sched.architecture()
        if recorded is None:
            raise InputError(f"schedule {args.schedule} records no architecture: pass --arch")
        arch = recorded
    inst = Instance(arch, net)
    mismatch = _instance_mismatch(sched, inst)
    if mismatch:  # a schedule is only correct for the instance it was made for
        print(f"format: {mismatch}")
        print("REJECTED: 1 violation(s) shown")
        return 1
    report = verify(inst, sched, functional_samples=None if args.samples == 0 else args.samples,
                    seed=args.seed)
    violations = list(report.violations)
    layout_file = mapping_file.parent / "layout.json" if mapping_file else None
    if layout_file is not None and not layout_file.is_file():
        layout_file = None
    if report.ok and (mapping_file or metrics_file):
        loaded = read_json(metrics_file, "metrics file") if metrics_file else None
        if loaded is not None and not isinstance(loaded, dict):
            raise InputError(f"metrics file {metrics_file}: expected a JSON object")
        metrics = loaded
        mapping = Mapping.load(mapping_file) if mapping_file else None
        if mapping is not None and layout_file is not None:
            mapping = dataclasses.replace(mapping, layout=Layout.load(layout_file))
        violations += check_outputs(inst, sched, report, mapping, metrics)
        if mapping_file is not None and not violations:
            violations += [Violation("outputs", e) for e in label_errors(mapping_file, inst)]
    if args.check_bound < 0 or not math.isfinite(args.check_bound):
        raise InputError(f"--check-bound {args.check_bound} is invalid: seconds >= 0")
    bound_note = ""
    if metrics_file is not None and not violations:
        violations, bound_note = _check_recorded_bound(inst, metrics, args.check_bound)
    for v in violations:
        print(v)
    if not violations:
        also = ", ".join(str(f.name) for f in (mapping_file, layout_file, metrics_file) if f)
        lay = "" if sched.layout is None else \
            f" (blocks cut after layout {sched.layout.method!r}; outputs checked on X @ W)"
        print(f"verified: {sched.n_program:,} program and {sched.n_compute:,} compute "
              f"operations, makespan {report.metrics['makespan_ns']:,.2f} ns{lay}"
              + (f"; {also} agree with the schedule" if also else ""))
        if bound_note:
            print(bound_note)
        return 0
    print(f"REJECTED: {len(violations)} violation(s) shown")
    return 1


def _check_recorded_bound(inst: Instance, metrics: dict[str, Any] | None, seconds: float
                          ) -> tuple[list[Any], str]:
    """(violations, note) of the makespan bound ``metrics.json`` records.

    Without ``seconds`` the note says what was checked; with it the bound is
    recomputed: a recorded bound above a *complete* recomputation is refused
    (the same computation, finished, gives the largest value pimopt can prove).
    """
    from pimopt.verify import Violation

    recorded = ((metrics or {}).get("metrics") or {}).get("makespan_bound_ns")
    if recorded is None:
        return [], ""
    if seconds <= 0:
        return [], ("bound      makespan bound checked as 0 <= bound <= makespan only "
                    "(--check-bound SECONDS recomputes it)")
    from pimopt.bounds.makespan import makespan_bound, under_rule

    # the bound valid under the run's dependency rule (the barrier's is higher)
    rule = ((metrics or {}).get("options") or {}).get("dependencies", "barrier")
    mb = under_rule(makespan_bound(inst, time_limit=seconds), inst,
                    rule if rule in ("barrier", "window") else "barrier")
    again = mb.value_ps / 1000.0
    if float(recorded) > again * (1 + 1e-9) and mb.complete:
        return [Violation("outputs", f"metrics.json: makespan_bound_ns = {recorded!r} exceeds "
                          f"the recomputed bound {again!r} ns (complete, {mb.seconds:.1f} s)")], ""
    how = "complete" if mb.complete else f"cut short at {seconds:g} s: a lower value proves less"
    return [], (f"bound      recorded {float(recorded):,.2f} ns, recomputed {again:,.2f} ns "
                f"({how})")


def _instance_mismatch(sched: Schedule, inst: Instance) -> str | None:
    """Why ``sched`` was made for another instance than ``inst`` (``None``: it was not).

    The schedule records its architecture and the content hashes of its network
    and instance: an architecture with other parameter values (an edited
    ``ous_per_crossbar``, say), another network, or a stored architecture that no
    longer matches the stored instance hash is a mismatch.
    """
    recorded = sched.architecture()
    if recorded is not None:
        mine, theirs = inst.arch.to_dict(), recorded.to_dict()
        diff = [k for k in mine if k != "name" and mine[k] != theirs.get(k)]
        if diff:
            k = diff[0]
            return (f"the schedule was made for an architecture with {k} = {theirs.get(k)!r}, "
                    f"this one has {k} = {mine[k]!r} ({len(diff)} parameter(s) differ)")
    meta = sched.meta.get("instance", {})
    net_hash = meta.get("network_sha256")
    if net_hash and net_hash != inst.network.content_hash():
        return (f"the schedule was made for network {net_hash[:12]}..., this is "
                f"{inst.network.content_hash()[:12]}...")
    inst_hash = meta.get("sha256")
    if inst_hash and recorded is not None and inst_hash != Instance(
            recorded, inst.network).content_hash():
        return ("the schedule's recorded architecture does not match the instance hash it "
                "records (edited after it was made)")
    return None


def cmd_bound(args: argparse.Namespace) -> int:
    from pimopt.bounds.cache import cached_makespan_bound, instance_bound

    inst = _instance(args.instance, args.arch)
    limit = None if args.time_limit <= 0 else args.time_limit
    mb = cached_makespan_bound(inst, float("inf") if limit is None else limit / 2)
    print(f"makespan bound      {mb.value_ps / 1000:.2f} ns (path {mb.path_ps / 1000:.2f} ns, "
          f"resource {mb.resource_ps / 1000:.2f} ns; programming term {mb.programming_term}"
          f"{' + flow' if mb.flow else ''}, "
          f"{mb.seconds:.1f} s)")
    # the chain metric "latency" is the total programming latency summed over all
    # writes, not the inference latency: named for what it bounds
    for metric, label, unit, scale in (("latency", "programming bound", "ns", 1000.0),
                                       ("cell_writes", "cell-writes bound", "cells", 1.0)):
        ib = instance_bound(inst, metric, None if limit is None else limit / 4)
        print(f"{label:<19} {ib.value / scale:.2f} {unit} (total over all writes; layered "
              f"assignment, {'complete' if ib.complete else 'some layers floored'}, "
              f"{ib.seconds:.1f} s)")
    from pimopt.cache import cache_dir

    where = cache_dir()
    print(f"cached in  {where}" if where else "cache off ($PIMOPT_CACHE_DIR=off)")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    inst = _instance(args.instance, args.arch)
    net = inst.network
    lay = make_layout(net, inst.arch, args.layout, seed=args.seed)  # bad options fail first
    print(f"{net.name}: {len(net.layers)} layers, {net.weight_bits}-bit weights, "
          f"{net.encoding} encoding, sha256 {net.content_hash()[:16]}")
    print(f"source: {inst.network.source}")
    print(f"arch {inst.arch.name}: {inst.arch.cell_bits}-bit cells, OU "
          f"{inst.arch.ou_rows}x{inst.arch.ou_cols}, {inst.arch.total_slots} slots")
    if args.layout == "none":
        _print_table(inst)
        return 0
    work = laid_out(inst, lay)
    print(f"layout {args.layout} ({(lay.info or {}).get('seconds', 0.0):.2f} s): the tiles after "
          "it (the function is unchanged)")
    _print_table(work)
    print(f"before:  {inst.n_blocks:,} blocks, {inst.n_blocks - inst.n_nonzero:,} zero, "
          f"{inst.n_distinct_nonzero:,} distinct non-zero patterns")
    return 0


def _input_shapes(texts: list[str] | None
                  ) -> tuple[int, ...] | dict[str, tuple[int, ...]] | None:
    """--input-shape values: one shape for the first input, or NAME=SHAPE per input."""
    if not texts:
        return None
    if len(texts) == 1 and "=" not in texts[0]:
        return _shape(texts[0])
    out: dict[str, tuple[int, ...]] = {}
    for t in texts:
        name, sep, shape = t.partition("=")
        if not sep or not name.strip():
            raise InputError(f"--input-shape {t!r} is invalid: with several inputs, "
                             "NAME=SHAPE for each (e.g. input=1x512 state=2x1x128)")
        out[name.strip()] = _shape(shape)
    return out


def _shape(text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(d) for d in text.lower().split("x"))
    except ValueError:
        raise InputError(f"--input-shape {text!r} is invalid: dimensions joined by x, "
                         "e.g. 1x3x224x224") from None
    if not dims or min(dims) < 1:
        raise InputError(f"--input-shape {text!r} is invalid: positive dimensions")
    return dims


def _print_table(inst: Instance) -> None:
    rows = inst.summary()
    cols = list(rows[0])
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols}
    print("  ".join(c.ljust(widths[c]) for c in cols))
    for r in rows:
        print("  ".join(str(r[c]).ljust(widths[c]) for c in cols))
    print(f"total: {inst.n_blocks:,} blocks, {inst.n_blocks - inst.n_nonzero:,} zero, "
          f"{inst.n_distinct_nonzero:,} distinct non-zero patterns")


def cmd_import(args: argparse.Namespace) -> int:
    from pimopt.models.onnx_import import import_onnx

    _check_out_file(args.output, (".json", ""), "-o")
    net = import_onnx(args.model, input_shape=_input_shapes(args.input_shape),
                      batch=args.batch, quant=args.quant, bits=args.bits,
                      branch=args.branch, windows=args.windows,
                      name=args.name)
    inst = Instance(load_architecture(args.arch), net)
    _print_table(inst)
    path = net.save(args.output)
    print(f"wrote {path} and {path.with_suffix('.npz').name} (sha256 "
          f"{net.content_hash()[:16]})")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from pimopt.models import generate

    if not 0 <= args.seed < 2**63:
        raise InputError(f"--seed {args.seed} is invalid: an integer from 0 to 2^63 - 1")
    if args.windows and args.family != "real":
        raise InputError("--windows applies to generate real (the other families have no "
                         "convolution geometry)")
    if args.family == "tiny":
        _check_out_dir(args.output, "-o")
    else:
        _check_out_file(args.output, (".json", ""), "-o")
    if args.family == "tiny":
        nets = generate.tiny(args.seed)
    elif args.family == "synthetic":
        if not args.layers:
            raise InputError("generate synthetic needs --layers, e.g. 256x128:16,128x10")
        nets = [generate.synthetic(generate.parse_layer_shapes(args.layers),
                                   dist=args.dist or "normal",
                                   sparsity=args.sparsity, bits=args.bits, quant=args.quant,
                                   seed=args.seed, name=args.name or "synthetic")]
    else:
        if not args.model:
            raise InputError(f"generate real needs --model, one of {generate.MODELS}")
        nets = [generate.real_shaped(args.model, args.dataset, batch=args.batch,
                                     seed=args.seed, bits=args.bits, quant=args.quant,
                                     dist=args.dist or "laplace", width=args.width,
                                     windows=args.windows)]
    arch = load_architecture(args.arch)
    out = Path(args.output)
    for net in nets:
        inst = Instance(arch, net)
        path = net.save(out / net.name if args.family == "tiny" else out)
        print(f"{net.name}: {len(net.layers)} layers, {inst.n_blocks} blocks, "
              f"{inst.n_blocks - inst.n_nonzero} zero, {inst.n_distinct_nonzero} distinct "
              f"non-zero patterns -> {path}")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from pimopt.plotting.timeline import gantt

    if args.output is None:  # beside the schedule (in its folder when given a folder)
        where = Path(args.schedule)
        args.output = str((where if where.is_dir() else where.parent) / "gantt.png")
    _check_out_file(args.output, (".png", ".pdf", ".svg"), "-o")
    if Path(args.schedule).is_dir():
        args.schedule = str(_solve_outputs(Path(args.schedule))[0])

    sched = Schedule.load(args.schedule)
    inst = None
    if args.instance:
        recorded = sched.architecture()
        arch = load_architecture(args.arch) if args.arch or recorded is None else recorded
        inst = Instance(arch, Network.load(args.instance))
    window = None
    if args.from_us is not None or args.to_us is not None:
        lo = args.from_us if args.from_us is not None else 0.0
        hi = args.to_us if args.to_us is not None else sched.makespan_ps() * 1e-6
        if not hi > lo:
            raise InputError(f"--from {lo} us must be before --to {hi} us")
        window = (lo, hi)
    out = gantt(sched, args.output, inst, view=args.view, window_us=window)
    print(f"wrote {out}")
    return 0


def _bench_options(args: argparse.Namespace) -> dict[str, object]:
    opts: dict[str, object] = {"workers": args.workers}
    if args.samples is not None:
        opts["functional_samples"] = args.samples or None  # 0: every input vector
    if args.no_bound:
        opts["bound"] = False
    return opts


def _bench_done(summary: BenchSummary, out: str) -> int:
    """The last line of ``bench`` and ``sweep``; exit 1 if a run failed (retried next call)."""
    print(f"done: {summary.ran} run now, {summary.skipped} earlier, {summary.errors} error(s); "
          f"records in {out}/runs (report: pimopt report {out})")
    return 1 if summary.errors else 0


def cmd_bench(args: argparse.Namespace) -> int:
    from pimopt.bench import load_suite, methods_arg, run_specs, seeds_arg

    suite = load_suite(args.suite)
    specs = suite.specs(methods_arg(args.methods), seeds_arg(args.seeds),
                        args.time_limit, _bench_options(args), objective=args.objective)
    _check_out_dir(args.out)
    summary = run_specs(specs, args.out, jobs=args.jobs, scheduler=args.scheduler)
    return _bench_done(summary, args.out)


def cmd_sweep(args: argparse.Namespace) -> int:
    from pimopt.bench import run_specs
    from pimopt.bench.sweep import load_sweep

    sw = load_sweep(args.config)
    print(f"sweep {sw.name}: {len(sw.points)} grid points x methods x seeds = "
          f"{len(sw.specs)} runs")
    if args.dry_run:
        for s in sw.specs:
            print(f"  {s.run_id}  {s.params}")
        return 0
    specs = sw.specs
    _check_out_dir(args.out)
    if args.no_bound:  # every run without the bounds (their options change: new run ids)
        specs = [dataclasses.replace(s, options={**s.options, "bound": False}) for s in specs]
    summary = run_specs(specs, args.out, jobs=args.jobs, scheduler=args.scheduler)
    return _bench_done(summary, args.out)


def cmd_best(args: argparse.Namespace) -> int:
    from pimopt.bench import load_records
    from pimopt.bench.best import update_best

    records = load_records(args.dir)
    if not records:
        raise InputError(f"no run records under {args.dir}")
    changed = update_best(records, dry_run=args.dry_run)
    if not changed:
        print("no record belongs to a suite file that exists: nothing to update")
    for path, changes in changed.items():
        verb = "would change" if args.dry_run else "updated"
        print(f"{path}: {verb} {len(changes)} value(s)" if changes else f"{path}: no improvement")
        for c in changes:
            print(f"  {c.instance}: {c.what} {c.old} -> {c.new}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from pimopt.bench.report import write_report

    report, plots = write_report(args.dir, args.output, args.best)
    print(f"wrote {report}")
    for p in plots:
        print(f"wrote {p.path}")
    return 0


# units of the architecture fields that have one (the others are counts, cells or bits)
ARCH_UNITS = {"t_ou": "ns", "t_set": "ns", "t_reset": "ns", "t_verify": "ns", "e_set": "pJ",
              "e_reset": "pJ", "rows": "cells", "cols": "cells", "ou_rows": "cells",
              "ou_cols": "cells", "cell_bits": "bits", "input_bits": "bits",
              "write_width": "cells per pulse", "write_parallel": "OUs"}


def cmd_presets(args: argparse.Namespace) -> int:
    """Every preset: its size in one line, then every field that differs from the
    default architecture, with its unit (what makes a preset what it is)."""
    base = load_architecture("default").to_dict()
    for name in preset_names():
        a = load_architecture(name)
        print(f"{name}: {a.crossbars} crossbars of {a.rows}x{a.cols} cells, "
              f"{a.cell_bits}-bit cells, OU {a.ou_rows}x{a.ou_cols}, "
              f"{a.ous_per_crossbar} OU(s) computing per crossbar, {a.total_slots:,} slots")
        mine = a.to_dict()
        diff = [k for k in mine if k != "name" and mine[k] != base.get(k)]
        for k in diff:
            unit = f" {ARCH_UNITS[k]}" if k in ARCH_UNITS and mine[k] is not None else ""
            print(f"    {k:<27} {mine[k]}{unit}  (default {base.get(k)})")
        if not diff:
            print("    (the default architecture)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pimopt", description="Static schedules of weight programming for ReRAM PIM "
        "accelerators: map, schedule, verify, bound, benchmark. Errors in the input print one "
        "line 'pimopt: error: ...' and exit with code 2; Ctrl-C exits with 130.")
    from pimopt import __version__

    p.add_argument("--version", action="version",
                   version=f"%(prog)s {__version__} (python {platform.python_version()})")
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="more diagnostics on stderr (-v: stages and caches, -vv: debug)")
    p.add_argument("-q", "--quiet", action="count", default=0,
                   help="fewer diagnostics on stderr (errors only)")
    sub = p.add_subparsers(dest="command", required=True)
    arch_help = f"architecture: a preset ({', '.join(preset_names())}) or a TOML file"

    s = sub.add_parser("solve", help="map, schedule and verify an instance")
    s.add_argument("instance", nargs="?", help="network JSON (default: bundled LeNet-5)")
    s.add_argument("--arch", help=arch_help)
    s.add_argument("--method", default=DEFAULT_METHOD, choices=list(METHODS),
                   help=f"mapping method (default {DEFAULT_METHOD}: makespan-aware, any size; "
                        "naive and sorted are the baselines)")
    add_arguments(s)  # every solve option, from the one schema (pimopt.options)
    s.add_argument("--out", default="pimopt-out", help="output folder (default pimopt-out)")
    s.add_argument("--baseline", default="naive", choices=["naive", "sorted", "none"],
                   help="also solve this baseline and print the method against it (default "
                        f"naive; skipped from {AUTO_NPZ_BLOCKS:,} blocks unless "
                        "--baseline-always)")
    s.add_argument("--baseline-always", action="store_true",
                   help="compare with the baseline at any size")
    s.add_argument("--format", default="auto", choices=["auto", "json", "gz", "npz"],
                   help="mapping and schedule files: json (mapping.csv, schedule.json), gz "
                        "(gzip-compressed), npz (columnar numpy); auto: json below "
                        f"{AUTO_NPZ_BLOCKS:,} non-zero blocks, npz above. verify and plot "
                        "read any of them")
    s.set_defaults(func=cmd_solve)

    v = sub.add_parser("verify", help="check a schedule against an instance")
    v.add_argument("instance", nargs="?",
                   help="network JSON the schedule claims to solve (or pimopt:NAME); may be "
                        "left out when the schedule records it (pimopt solve does)")
    v.add_argument("schedule", nargs="?",
                   help="schedule file (.json, .json.gz, .npz) or a pimopt solve output "
                        "folder (its mapping and metrics.json are checked against the "
                        "schedule too)")
    v.add_argument("--arch", help=arch_help + " (default: the one recorded in the schedule)")
    v.add_argument("--seed", type=int, default=0,
                   help="seed of the functional check's input vectors (default 0)")
    v.add_argument("--samples", type=int, default=DEFAULTS.functional_samples,
                   help="input vectors per layer in the bit-exact functional check (default "
                        f"{DEFAULTS.functional_samples}; 0 = all)")
    v.add_argument("--check-bound", type=float, default=0.0, metavar="SECONDS",
                   help="recompute the makespan bound of an output folder's metrics.json "
                        "within SECONDS (default 0: the bound is only checked as 0 <= bound "
                        "<= objective, the gaps from it)")
    v.set_defaults(func=cmd_verify)

    bd = sub.add_parser("bound", help="compute and cache an instance's lower bounds once "
                                      "(solve, bench and sweep then reuse them)")
    bd.add_argument("instance", nargs="?", help="network JSON (default: bundled LeNet-5)")
    bd.add_argument("--arch", help=arch_help)
    bd.add_argument("--time-limit", type=float, default=600.0,
                    help="seconds for all bounds (0: no limit; default 600)")
    bd.set_defaults(func=cmd_bound)

    i = sub.add_parser("info", help="describe an instance")
    i.add_argument("instance", nargs="?",
                   help="network JSON or pimopt:NAME (default: bundled LeNet-5)")
    i.add_argument("--arch", help=arch_help)
    i.add_argument("--layout", default="none", choices=list(LAYOUTS),
                   help="show the tiles after this layout, and the totals before it")
    i.add_argument("--seed", type=int, default=0, help="seed of the layout (default 0)")
    i.set_defaults(func=cmd_info)

    im = sub.add_parser("import", help="import an ONNX model as an instance")
    im.add_argument("model", help="the .onnx file")
    im.add_argument("--input-shape", action="append", metavar="[NAME=]SHAPE",
                    help="shape of the graph input, e.g. 1x3x224x224; several inputs: "
                         "NAME=SHAPE, repeated (e.g. --input-shape input=1x512 "
                         "--input-shape state=2x1x128)")
    im.add_argument("--batch", type=int, help="override the batch dimension")
    im.add_argument("--windows", action="store_true",
                    help="record each convolution's dependency windows (for --dependencies "
                         "window; the instance's hash then differs)")
    im.add_argument("--branch", choices=["then", "else"],
                    help="the branch of every If node whose condition is not a constant "
                         "(weights inside control flow; default: an error that names them)")
    im.add_argument("--quant", default="per-tensor", choices=["per-tensor", "per-channel"],
                    help="symmetric integer quantisation of float weights (default per-tensor)")
    im.add_argument("--bits", type=int, default=8, help="weight bits (default 8)")
    im.add_argument("--name", help="network name (default: the file stem)")
    im.add_argument("--arch", help=arch_help + " (for the block summary)")
    im.add_argument("-o", "--output", required=True, help="instance path (NAME.json/.npz)")
    im.set_defaults(func=cmd_import)

    g = sub.add_parser("generate", help="generate benchmark instances")
    g.add_argument("family", choices=["tiny", "synthetic", "real"],
                   help="tiny (exact methods prove optima), synthetic (random fully connected "
                        "layers) or real (the layer shapes of a known model)")
    g.add_argument("--model", help="real: vgg16, resnet18, resnet50 or mobilenetv2")
    g.add_argument("--dataset", default="cifar", choices=["cifar", "imagenet"],
                   help="input size of a real-shaped model: 32x32 or 224x224 (default cifar)")
    g.add_argument("--batch", type=int, default=1,
                   help="images per inference: multiplies every layer's input vectors "
                        "(default 1)")
    g.add_argument("--width", type=float, default=1.0,
                   help="real: channel multiplier (1.0 = the published network)")
    g.add_argument("--windows", action="store_true",
                   help="real: record each convolution's dependency windows (for "
                        "--dependencies window; the instance's hash then differs)")
    g.add_argument("--layers", help="synthetic: KxN[:n_inputs],... e.g. 256x128:16,128x10")
    g.add_argument("--dist", choices=["normal", "laplace"],
                   help="weight distribution (synthetic: normal, real: laplace)")
    g.add_argument("--sparsity", type=float, default=0.0,
                   help="fraction of weights set to zero before quantisation (default 0)")
    g.add_argument("--bits", type=int, default=8, help="weight bits (default 8)")
    g.add_argument("--quant", default="per-tensor", choices=["per-tensor", "per-channel"],
                   help="symmetric quantisation scale (default per-tensor)")
    g.add_argument("--seed", type=int, default=0, help="seed of the weights (default 0)")
    g.add_argument("--name", help="synthetic: network name")
    g.add_argument("--arch", help=arch_help + " (for the block counts)")
    g.add_argument("-o", "--output", required=True,
                   help="instance path (NAME) or, for tiny, a folder")
    g.set_defaults(func=cmd_generate)

    pl = sub.add_parser("plot", help="plot a schedule")
    pl.add_argument("kind", choices=["gantt"], help="the chart: gantt (crossbar timelines)")
    pl.add_argument("schedule", help="schedule file (.json, .json.gz or .npz)")
    pl.add_argument("--instance", help="network JSON (colours computes by layer)")
    pl.add_argument("--arch", help=arch_help + " (default: the one recorded in the schedule)")
    pl.add_argument("-o", "--output", default=None,
                    help="PNG, PDF or SVG file (default: gantt.png beside the schedule)")
    pl.add_argument("--view", default="auto", choices=["auto", "crossbar", "slot"],
                    help="crossbar: programming and per-layer compute aggregated per crossbar; "
                         "slot: a sub-lane per OU slot; auto (default): slot view up to 2,000 "
                         "computes")
    pl.add_argument("--from", dest="from_us", type=float, help="zoom: start time (us)")
    pl.add_argument("--to", dest="to_us", type=float, help="zoom: end time (us)")
    pl.set_defaults(func=cmd_plot)

    b = sub.add_parser("bench", help="run a suite: instances x methods x seeds, resumable")
    b.add_argument("--suite", required=True,
                   help="suite TOML file, or a name in ./instances/suites (tiny, bundled, ...)")
    b.add_argument("--methods", default="naive,sorted",
                   help=f"comma-separated, or 'all' ({', '.join(METHODS)})")
    b.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    b.add_argument("--time-limit", type=float, default=DEFAULTS.time_limit,
                   help=f"seconds per run (default {DEFAULTS.time_limit:g})")
    b.add_argument("--objective", choices=list(OBJECTIVES),
                   help="override the suite's objective")
    b.add_argument("--jobs", type=int, default=1, help="local worker processes (default 1)")
    b.add_argument("--workers", type=int, default=DEFAULTS.workers,
                   help=f"CP-SAT workers per run (default {DEFAULTS.workers}, the solve "
                        "default; keep jobs x workers <= cores)")
    b.add_argument("--samples", type=int,
                   help="input vectors per layer in the functional check (0 = all)")
    b.add_argument("--no-bound", action="store_true",
                   help="skip the lower bounds in every run (no gaps are reported)")
    b.add_argument("--scheduler", help="Dask scheduler address (tcp://host:8786): run there")
    b.add_argument("--out", required=True, help="output folder (records in OUT/runs)")
    b.set_defaults(func=cmd_bench)

    sw = sub.add_parser("sweep", help="run an ablation grid (TOML) on the benchmark runner")
    sw.add_argument("config", help="sweep TOML file")
    sw.add_argument("--jobs", type=int, default=1, help="local worker processes (default 1)")
    sw.add_argument("--scheduler", help="Dask scheduler address (tcp://host:8786): run there")
    sw.add_argument("--dry-run", action="store_true", help="list the runs, run nothing")
    sw.add_argument("--no-bound", action="store_true",
                    help="skip the lower bounds in every run (no gaps are reported)")
    sw.add_argument("--out", required=True, help="output folder (records in OUT/runs)")
    sw.set_defaults(func=cmd_sweep)

    be = sub.add_parser("best", help="update the suites' best-known files from verified runs")
    be.add_argument("dir", help="folder with run records")
    be.add_argument("--dry-run", action="store_true", help="show the changes, write nothing")
    be.set_defaults(func=cmd_best)

    rp = sub.add_parser("report", help="Markdown summary and PNG plots of run records")
    rp.add_argument("dir", help="folder with run records (searched recursively)")
    rp.add_argument("-o", "--output", help="output folder (default: DIR)")
    rp.add_argument("--best", action="append",
                    help="best-known file (repeatable; default: those beside the suites)")
    rp.set_defaults(func=cmd_report)

    pr = sub.add_parser("presets", help="list the architecture presets")
    pr.set_defaults(func=cmd_presets)
    return p


# commands that stop cleanly on SIGTERM: solve writes its best verified solution, bench
# and sweep keep their finished records (the others write nothing partial anyway)
_SIGTERM_COOPERATIVE = ("solve", "bench", "sweep")


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    """SIGTERM as Ctrl-C, remembered: a solve stops with its best verified solution
    (:func:`pimopt.interrupt.terminate`), a sweep stops its workers; a second one ends
    the process at once."""
    from pimopt import interrupt

    if not interrupt.terminate():
        raise SystemExit(143)
    if _RUNNING[0] != "solve":
        raise KeyboardInterrupt


_RUNNING = [""]  # the command running (for the SIGTERM handler)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pimopt`` console script."""
    args = build_parser().parse_args(argv)
    _RUNNING[0] = str(getattr(args, "command", "") or "")
    installed = _RUNNING[0] in _SIGTERM_COOPERATIVE and \
        threading.current_thread() is threading.main_thread() and \
        signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    if installed:
        signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return _run(args)
    finally:
        if installed:  # main() called from a script or a test: its SIGTERM is its own
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _run(args: argparse.Namespace) -> int:
    """Run the command; every expected failure is one line and an exit code."""
    level = logging.WARNING - 10 * args.verbose + 10 * args.quiet
    logging.basicConfig(level=max(logging.DEBUG, min(level, logging.ERROR)), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S", force=True)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:  # Ctrl-C: outputs are written atomically, none is left partial
        from pimopt import interrupt

        if interrupt.terminating():
            print("pimopt: terminated (SIGTERM); finished work is kept", file=sys.stderr)
            return 143
        print("pimopt: interrupted", file=sys.stderr)
        return 130
    except InputError as exc:
        print(f"pimopt: error: {exc}", file=sys.stderr)
        return 2
    except MemoryError:  # what no estimate foresaw (ulimit -v, other processes)
        print(f"pimopt: error: out of memory in 'pimopt {_RUNNING[0]}': use a smaller "
              "network or architecture, fewer --jobs, or a machine with more memory "
              "(nothing partial was written)", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into head & co.: not an error
        sys.stderr.close()
        return 0
    except PimoptError as exc:
        print(f"pimopt: internal error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
