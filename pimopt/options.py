"""The one option schema of a solve: every option's name, type, default, allowed values
and help text.

:func:`pimopt.solve` takes these as keywords, the CLI's ``solve`` flags are
made from them (:func:`add_arguments`), and suites, sweeps and
:class:`pimopt.bench.RunSpec` check theirs against them (:func:`check_option`),
so no default is written twice. The method is not an option: it is chosen from
the registry (:data:`pimopt.pipeline.METHODS`); :data:`DEFAULT_METHOD` is its
default everywhere.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pimopt.errors import InputError
from pimopt.layout import LAYOUTS, Layout
from pimopt.objectives import OBJECTIVES
from pimopt.verify import check_samples
from pimopt.windows import RULES

DEFAULT_METHOD = "balanced"  # makespan-aware, any size
DECOMPOSITIONS = ("auto", "layer", "whole")
GRANULARITIES = ("slot", "crossbar")
SCHEDULERS = ("list", "cpsat", "joint")
MAX_SEED = 2**31 - 1
MAX_WORKERS = 256


def _option(default: Any, help: str, *, choices: tuple[str, ...] | None = None,
            flag: str | None = None, kind: type | None = None) -> Any:
    """A dataclass field carrying the option's help text, allowed values, CLI flag
    (default ``--name-with-dashes``) and value type (default: the default's type)."""
    return field(default=default, metadata={"help": help, "choices": choices, "flag": flag,
                                            "kind": kind or type(default)})


@dataclass(frozen=True)
class Options:
    """Every option of :func:`pimopt.solve`, validated on construction.

    Attributes
    ----------
    objective
        What the result reports and the methods aim at (``makespan``,
        ``programming``, ``critical_path``, ``cell_writes``, ``energy``).
    time_limit
        Wall-clock seconds for the whole solve, verification included.
    seed, workers
        Seed of every randomised step; CP-SAT workers.
    initial
        Heuristic that warm-starts the exact methods and ``lns``.
    decomposition
        ``auto`` (one whole-network model for the exact methods where it fits,
        else per layer), ``layer`` or ``whole``.
    granularity, overlap, scheduler
        List-scheduler and re-timing options.
    functional_samples
        Input vectors per layer in the bit-exact functional check (``None``: all).
    bound, reuse, split, layout
        Lower bounds; pattern reuse; input splitting; the layout stage.
    dependencies
        Rule 5: ``barrier`` (a layer computes after the layers it depends on
        have finished) or ``window`` (after they have finished the outputs its
        inputs need, :mod:`pimopt.windows`; layers without windows keep the
        barrier).
    """

    objective: str = _option("makespan", "reported and minimised objective (makespan: every "
                             "method but the baselines aims at the inference latency)",
                             choices=tuple(OBJECTIVES))
    time_limit: float = _option(10.0, "wall-clock seconds for the whole solve, "
                                "verification included")
    seed: int = _option(0, "seed of every randomised step (results are reproducible)")
    workers: int = _option(2, "CP-SAT search workers (threads) of the exact methods, lns and "
                           "the CP-SAT schedulers")
    initial: str = _option("ls", "heuristic warm-starting the exact methods and lns")
    decomposition: str = _option("auto", "auto (a whole-network model for the exact methods "
                                 "where it fits, else per layer), layer, or whole (the exact "
                                 "models then prove a network optimum)",
                                 choices=DECOMPOSITIONS)
    granularity: str = _option("slot", "program operations per slot or per whole crossbar",
                               choices=GRANULARITIES)
    overlap: bool = _option(True, "program while other crossbars compute")
    scheduler: str = _option("list", "list scheduler; cpsat re-times it for minimum "
                             "makespan; joint maps and schedules in one CP-SAT model (small "
                             "instances)", choices=SCHEDULERS)
    functional_samples: int | None = _option(16, "input vectors per layer in the bit-exact "
                                             "functional check (0 on the command line: all)",
                                             flag="--samples", kind=int)
    bound: bool = _option(True, "lower bounds (the makespan bound; the mapping bound of the "
                          "programming and cell_writes objectives)")
    reuse: bool = _option(True, "pattern reuse: blocks of a layer with equal patterns share "
                          "a load")
    split: bool = _option(False, "split bottleneck computes' inputs across loads when the "
                          "makespan drops")
    # _option returns dataclasses.field; ruff takes it for a call made once (RUF009)
    layout: str | Layout = _option("none", "row and column permutations before tiling "  # noqa: RUF009
                                   "(function unchanged): none, magnitude, similarity or auto",
                                   choices=LAYOUTS, kind=str)
    dependencies: str = _option("barrier", "rule 5: barrier (a layer computes after the layers "
                                "it depends on have finished) or window (after the outputs "
                                "its inputs need, from the network's dependency windows; "
                                "computes are pipelined in input chunks)", choices=RULES)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            check_option(f.name, getattr(self, f.name))
        if self.scheduler == "joint" and self.granularity != "slot":
            raise InputError("scheduler 'joint' needs granularity 'slot'")
        if self.scheduler == "joint" and self.split:
            raise InputError("scheduler 'joint' takes whole blocks: use split=False")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (a :class:`~pimopt.layout.Layout` by its method name)."""
        out = dataclasses.asdict(self)
        if isinstance(self.layout, Layout):
            out["layout"] = self.layout.method
        return out


FIELDS: dict[str, dataclasses.Field[Any]] = {f.name: f for f in dataclasses.fields(Options)}


def check_option(name: str, value: Any, where: str = "") -> None:
    """Raise :class:`InputError` naming the option, its value and what is allowed."""
    at = f"{where}: option " if where else ""
    if name not in FIELDS:
        raise InputError(f"{where + ': ' if where else ''}option {name!r} is unknown; "
                         f"allowed: {', '.join(FIELDS)}")
    meta = FIELDS[name].metadata
    kind, choices = meta["kind"], meta["choices"]
    bad = f"{at}{name} = {value!r} is invalid: "
    if name == "layout" and isinstance(value, Layout):
        return
    if name == "functional_samples":
        try:  # the verifier's own rule for it
            check_samples(value)
        except InputError as exc:
            raise InputError(at + str(exc)) from None
        return
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
                or not 0 < value < float("inf"):
            raise InputError(bad + "a positive, finite number of seconds")
        return
    if kind is int:
        hi = MAX_SEED if name == "seed" else MAX_WORKERS
        lo = 0 if name == "seed" else 1
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
                or not lo <= value <= hi:
            raise InputError(bad + f"an integer from {lo} to {hi}")
        return
    if kind is bool:
        if not isinstance(value, bool):
            raise InputError(bad + "true or false")
        return
    if not isinstance(value, str) or (choices is not None and value not in choices):
        allowed = f"one of {', '.join(choices)}" if choices else "a string"
        raise InputError(bad + allowed)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one flag per option to a CLI parser (``--no-NAME`` for options on by default)."""
    for name, f in FIELDS.items():
        meta = f.metadata
        flag = meta["flag"] or "--" + name.replace("_", "-")
        if meta["kind"] is bool:
            if f.default:
                parser.add_argument(f"--no-{name.replace('_', '-')}", dest=name,
                                    action="store_false", help=f"no {meta['help']}")
            else:
                parser.add_argument(flag, dest=name, action="store_true", help=meta["help"])
            continue
        choices = list(meta["choices"]) if meta["choices"] else None
        parser.add_argument(flag, dest=name, type=meta["kind"], default=f.default,
                            choices=choices, help=f"{meta['help']} (default {f.default})")


def from_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The solve keywords of parsed CLI arguments (``--samples 0``: every input vector)."""
    out = {name: getattr(args, name) for name in FIELDS}
    if out["functional_samples"] == 0:
        out["functional_samples"] = None
    return out


DEFAULTS = Options()  # the default of every option, for signatures and help texts
