"""Ablation sweeps: a grid over architecture, workload and solve parameters x methods.

A sweep is a TOML file; every combination of its ``[grid]`` values is one
instance, solved by every method and seed on the benchmark runner
(:mod:`pimopt.bench`), so sweeps resume, parallelise and report exactly like
suites::

    name = "ablation"
    methods = ["naive", "sorted"]
    seeds = [0]
    time_limit = 20
    objective = "makespan"

    [network]              # path = "net.json" (relative to this file), or a generator:
    generate = "real"      # "real" (model, dataset, batch, width, bits, quant, dist, seed)
    model = "resnet18"     # or "synthetic" (layers, dist, sparsity, bits, quant, seed)
    width = 0.25

    [arch]                 # base architecture: a preset or file, then parameter overrides
    preset = "default"

    [options]              # solve options for every run
    overlap = true

    [grid]                 # the axes: architecture parameters, network parameters
    dataset = ["cifar", "imagenet"]          # (and input_scale, which multiplies
    crossbars = [4, 16]                      # every n_inputs), solve options, objective
    max_programming_crossbars = [1, 4]

Every grid point is checked before anything runs (an architecture whose OU
does not divide its crossbar is named with its grid point).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pimopt.architecture import Architecture, load_architecture
from pimopt.bench.runner import (
    SOLVE_OPTIONS,
    RunSpec,
    check_options,
    methods_arg,
    network_sha256,
    resolve_path,
)
from pimopt.errors import InputError
from pimopt.io.files import read_toml
from pimopt.options import DEFAULTS

ARCH_KEYS = {f.name for f in dataclasses.fields(Architecture)}
RECIPE_KEYS = {
    "path": {"path", "input_scale"},
    "real": {"generate", "model", "dataset", "batch", "width", "bits", "quant", "dist", "seed",
             "input_scale", "windows"},
    "synthetic": {"generate", "layers", "dist", "sparsity", "bits", "quant", "seed", "name",
                  "input_scale"},
}
TOP_KEYS = {"name", "description", "methods", "seeds", "time_limit", "objective", "network",
            "arch", "options", "grid"}


@dataclass
class Sweep:
    """A parsed sweep: the base recipe and architecture, the grid and the runs."""

    name: str
    path: Path
    description: str
    points: list[dict[str, Any]]
    specs: list[RunSpec]


MAX_RUNS = 1_000_000  # runs one sweep may expand to (each is a solve of seconds or more)


def _kind(recipe: dict[str, Any]) -> str:
    if "path" in recipe:
        return "path"
    kind = recipe.get("generate")
    if kind not in ("real", "synthetic"):
        raise InputError("[network] needs 'path' or generate = 'real' | 'synthetic', got "
                         f"{kind!r}")
    return str(kind)


def _unresolved(arch: Architecture) -> dict[str, Any]:
    """Parameters with derived defaults (``None``: follow the others) put back to ``None``.

    ``max_programming_crossbars`` defaults to all crossbars: a grid over
    ``crossbars`` must move it along unless the sweep sets it.
    """
    data = arch.to_dict()
    for f in dataclasses.fields(Architecture):
        if f.default is None and data[f.name] is not None:
            derived = Architecture.from_dict({**data, f.name: None}).to_dict()[f.name]
            if derived == data[f.name]:
                data[f.name] = None
    return data


def sweep_dirs() -> list[Path]:
    """Where sweep names are looked up: ``./instances/sweeps`` and the package's own."""
    return [Path.cwd() / "instances" / "sweeps",
            Path(__file__).resolve().parent.parent / "data" / "instances" / "sweeps"]


def load_sweep(path: str | Path) -> Sweep:
    """Parse a sweep file (a path, or a name in :func:`sweep_dirs`) and expand its grid
    into run specs (validated, nothing run)."""
    p = Path(path)
    if not p.is_file() and not p.suffix:
        found = [d / f"{path}.toml" for d in sweep_dirs() if (d / f"{path}.toml").is_file()]
        if not found:
            names = sorted({f.stem for d in sweep_dirs() if d.is_dir() for f in d.glob("*.toml")})
            raise InputError(f"sweep {str(path)!r} is neither a TOML file nor a sweep name; "
                             f"known names: {', '.join(names) or 'none'}")
        p = found[0]
    data = read_toml(p, "sweep file")
    where = f"sweep file {p}"
    unknown = sorted(set(data) - TOP_KEYS)
    if unknown:
        raise InputError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: "
                         f"{', '.join(sorted(TOP_KEYS))}")
    methods = data.get("methods", ["naive"])
    if not isinstance(methods, list) or not methods:
        raise InputError(f"{where}: 'methods' must be a non-empty list of method names")
    methods = methods_arg(",".join(map(str, methods)))
    seeds = data.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds or not all(
            isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 2**31 for s in seeds):
        raise InputError(f"{where}: 'seeds' must be a non-empty list of integers from 0 to "
                         f"{2**31 - 1}")
    time_limit = data.get("time_limit", DEFAULTS.time_limit)
    if isinstance(time_limit, bool) or not isinstance(time_limit, (int, float)) or time_limit <= 0:
        raise InputError(f"{where}: time_limit = {time_limit!r} is invalid: positive seconds")
    objective = str(data.get("objective", DEFAULTS.objective))

    recipe = dict(data.get("network", {}))
    kind = _kind(recipe)
    if kind == "path":
        recipe["path"] = str(resolve_path(p, recipe["path"]))
    arch_base = dict(data.get("arch", {}))
    preset = arch_base.pop("preset", "default")
    base_arch = _unresolved(load_architecture(resolve_path(p, preset)
                                              if str(preset).endswith(".toml") else preset))
    unknown_arch = sorted(set(arch_base) - ARCH_KEYS)
    if unknown_arch:
        raise InputError(f"{where}: [arch] key(s) {', '.join(unknown_arch)} unknown; allowed: "
                         f"preset, {', '.join(sorted(ARCH_KEYS))}")
    base_arch.update(arch_base)
    options = dict(data.get("options", {}))
    check_options(options, where)
    grid = data.get("grid", {})
    if not isinstance(grid, dict):
        raise InputError(f"{where}: [grid] must be a table of lists")
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise InputError(f"{where}: grid.{key} must be a non-empty list of values")
        if key not in ARCH_KEYS | RECIPE_KEYS[kind] | set(SOLVE_OPTIONS) | {"objective"} or \
                key in ("path", "generate"):
            raise InputError(f"{where}: grid key {key!r} is unknown; allowed: architecture "
                             f"parameters ({', '.join(sorted(ARCH_KEYS))}), network parameters "
                             f"({', '.join(sorted(RECIPE_KEYS[kind] - {'path', 'generate'}))}), "
                             f"solve options ({', '.join(SOLVE_OPTIONS)}) and 'objective'")
    bad = sorted(set(recipe) - RECIPE_KEYS[kind])
    if bad:
        raise InputError(f"{where}: [network] key(s) {', '.join(bad)} unknown for this network;"
                         f" allowed: {', '.join(sorted(RECIPE_KEYS[kind]))}")
    if kind == "path":
        recipe["sha256"] = network_sha256(Path(recipe["path"]))
    name = str(data.get("name", p.stem))
    base_label = (Path(recipe["path"]).stem if kind == "path"
                  else str(recipe.get("name") or recipe.get("model") or kind))
    if "width" in recipe:
        base_label += f"-w{recipe['width']:g}"
    keys = list(grid)
    n_runs = math.prod(len(v) for v in grid.values()) * len(methods) * len(seeds)
    if n_runs > MAX_RUNS:  # counted before expanding: 4e8 runs took 117 s and 3.7 GB
        sizes = " x ".join([*(f"{len(grid[k])} {k}" for k in keys), f"{len(methods)} methods",
                            f"{len(seeds)} seeds"])
        raise InputError(f"{where}: the grid gives {n_runs:,} runs ({sizes}), above the limit "
                         f"of {MAX_RUNS:,}: split the sweep or shorten its lists")
    points: list[dict[str, Any]] = []
    specs: list[RunSpec] = []
    for combo in itertools.product(*(grid[k] for k in keys)):
        point = dict(zip(keys, combo, strict=True))
        label = f"point {', '.join(f'{k}={v}' for k, v in point.items()) or '(base)'}"
        arch = dict(base_arch)
        rec = dict(recipe)
        opts = dict(options)
        obj = objective
        for k, v in point.items():
            if k in ARCH_KEYS:
                arch[k] = v
            elif k in SOLVE_OPTIONS:
                opts[k] = v
            elif k == "objective":
                obj = str(v)
            else:
                rec[k] = v
        try:
            Architecture.from_dict(arch, source=f"{where}, {label}")
            check_options(opts, f"{where}, {label}")
        except InputError as exc:
            raise InputError(f"{where}, {label}: {exc}") from None
        points.append(point)
        for m in methods:
            for seed in seeds:
                specs.append(RunSpec(name, base_label, rec, arch, m, seed, float(time_limit),
                                     obj, opts, params=point, suite_file=str(p.resolve())))
    return Sweep(name, p.resolve(), str(data.get("description", "")), points, specs)
