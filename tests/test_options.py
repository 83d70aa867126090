"""The one option schema: every entry point takes its defaults from it and names bad values."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from pimopt import InputError, solve
from pimopt.bench import SOLVE_OPTIONS, RunSpec, check_options
from pimopt.cli import build_parser
from pimopt.options import DEFAULT_METHOD, DEFAULTS, FIELDS, Options


def test_solve_takes_exactly_the_schema_with_its_defaults() -> None:
    params = inspect.signature(solve).parameters
    assert params["method"].default == DEFAULT_METHOD
    # stop (a Deadline) and display (printing) say how to run, not what to solve
    keywords = {n: p.default for n, p in params.items()
                if p.kind is p.KEYWORD_ONLY and n not in ("stop", "display")}
    assert keywords == {n: getattr(DEFAULTS, n) for n in FIELDS}


def test_cli_defaults_are_the_schema_defaults() -> None:
    args = build_parser().parse_args(["solve"])
    assert args.method == DEFAULT_METHOD
    for name in FIELDS:
        assert getattr(args, name) == getattr(DEFAULTS, name), name
    flipped = build_parser().parse_args(["solve", "--no-bound", "--split", "--samples", "3",
                                         "--decomposition", "whole"])
    assert (flipped.bound, flipped.split, flipped.functional_samples,
            flipped.decomposition) == (False, True, 3, "whole")


def test_run_specs_share_the_defaults() -> None:
    spec = RunSpec("s", "i", {"path": "x"}, {}, "naive")
    assert (spec.time_limit, spec.objective) == (DEFAULTS.time_limit, DEFAULTS.objective)
    assert set(SOLVE_OPTIONS) == set(FIELDS) - {"objective", "time_limit", "seed"}


@pytest.mark.parametrize(("field", "value", "says"), [
    ("objective", "speed", "objective = 'speed' is invalid: one of makespan"),
    ("time_limit", float("inf"), "time_limit = inf is invalid: a positive, finite number"),
    ("time_limit", 0, "time_limit = 0 is invalid"),
    ("seed", -1, "seed = -1 is invalid: an integer from 0 to 2147483647"),
    ("workers", True, "workers = True is invalid"),
    ("decomposition", "rows", "decomposition = 'rows' is invalid: one of auto, layer, whole"),
    ("functional_samples", 0, "functional_samples = 0 is invalid: None (all input vectors)"),
    ("overlap", "yes", "overlap = 'yes' is invalid: true or false"),
    ("layout", "random", "layout = 'random' is invalid: one of none, magnitude"),
])
def test_bad_values_name_the_option_and_what_is_allowed(field: str, value: object,
                                                        says: str) -> None:
    with pytest.raises(InputError, match=inspect.cleandoc(says).replace("(", r"\(")
                       .replace(")", r"\)")):
        Options(**{field: value})  # type: ignore[arg-type]
    with pytest.raises(InputError, match="is unknown"):
        check_options({"speed": 1}, "suite x")


def test_options_round_trip_and_joint_rules() -> None:
    opts = Options(objective="programming", time_limit=3, split=True)
    assert Options(**opts.to_dict()) == opts
    assert dataclasses.replace(opts, split=False).split is False
    with pytest.raises(InputError, match="joint"):
        Options(scheduler="joint", granularity="crossbar")


def test_the_package_exports_the_library_api() -> None:
    import pimopt

    for name in pimopt.__all__:
        assert hasattr(pimopt, name), name
    assert pimopt.Options().time_limit == DEFAULTS.time_limit
    assert set(pimopt.METHODS) >= {"naive", "balanced", "cpsat"}
    assert pimopt.Status("optimal") is pimopt.Status.OPTIMAL
