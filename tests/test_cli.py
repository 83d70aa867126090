from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pimopt import Schedule, load_instance, solve, verify
from pimopt.cli import main
from tests.conftest import random_network


def test_solve_default_instance_writes_verified_outputs(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    out = tmp_path / "out"
    assert main(["solve", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    for word in ("makespan", "programming", "cells changed", "energy", "blocks", "zero",
                 "distinct non-zero patterns", "schedule verified by replay", " ns", " pJ"):
        assert word in text
    assert "verified   verified" not in text and "e+0" not in text  # no bare exponents
    assert "baseline       naive: makespan" in text and "x faster in inference latency" in text
    assert sorted(p.name for p in out.iterdir()) == ["mapping.csv", "metrics.json",
                                                     "schedule.json"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["verification"]["verified"] is True
    assert metrics["versions"]["numpy"] == np.__version__
    inst = load_instance()
    assert metrics["instance"]["sha256"] == inst.content_hash()
    # the written schedule verifies on its own
    rep = verify(inst, Schedule.load(out / "schedule.json"))
    assert rep.ok and rep.metrics["makespan_ns"] == metrics["objective"]
    assert main(["verify", str(Path("pimopt/data/lenet5.json").resolve()),
                 str(out / "schedule.json")]) == 0
    assert "verified:" in capsys.readouterr().out


def test_verify_rejects_a_tampered_file(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    net = random_network(3)
    path = net.save(tmp_path / "net")
    out = tmp_path / "o"
    assert main(["solve", str(path), "--arch", "default", "--out", str(out)]) == 0
    data = json.loads((out / "schedule.json").read_text())
    data["program"][0]["end"] -= 1000
    (out / "bad.json").write_text(json.dumps(data))
    capsys.readouterr()
    assert main(["verify", str(path), str(out / "bad.json")]) == 1
    text = capsys.readouterr().out
    assert text.startswith("cost: program #0") and "REJECTED" in text


def test_info_and_presets(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "--arch", "mlc2"]) == 0
    text = capsys.readouterr().out
    assert "conv1" in text and "distinct" in text and "lenet5" in text
    assert main(["presets"]) == 0
    text = capsys.readouterr().out
    assert "mnsim" in text
    # multi-ou differs from mlc2 by what made it look alike before: OUs per crossbar and
    # the write budget, shown with the default beside them
    multi = text.split("multi-ou:")[1].split("\n\n")[0].split("small-chip:")[0]
    assert "ous_per_crossbar" in multi and "(default 1)" in multi
    assert "max_programming_crossbars" in multi
    assert "t_set" in text and " ns  (default" in text


def _bad_inputs(tmp: Path) -> dict[str, tuple[list[str], str]]:
    net_path = random_network(1).save(tmp / "ok")
    cases: dict[str, tuple[list[str], str]] = {}
    (tmp / "unknown.toml").write_text("crossbars = 2\nflux_capacitor = 1\n")
    cases["unknown key"] = (["--arch", str(tmp / "unknown.toml")], "unknown key(s) flux_capacitor")
    (tmp / "neg.toml").write_text("t_reset = -5.0\n")
    cases["negative latency"] = (["--arch", str(tmp / "neg.toml")], "t_reset = -5.0 is invalid")
    (tmp / "ou.toml").write_text("ou_rows = 12\n")
    cases["ou size"] = (["--arch", str(tmp / "ou.toml")], "ou_rows = 12 is invalid")
    # NaN weights
    nan_dir = tmp / "nan"
    nan_path = random_network(2, n_layers=1).save(nan_dir / "net")
    meta = json.loads(nan_path.read_text())
    del meta["sha256"]
    nan_path.write_text(json.dumps(meta))
    w = np.zeros(meta["layers"][0]["shape"])
    w[0, 0] = np.nan
    np.savez(nan_dir / "net.npz", layer_0=w)
    cases["nan"] = ([str(nan_path)], "weights contain NaN")
    # corrupt NPZ
    bad_dir = tmp / "corrupt"
    bad_path = random_network(3).save(bad_dir / "net")
    (bad_dir / "net.npz").write_bytes(b"PK\x03\x04 truncated")
    cases["corrupt npz"] = ([str(bad_path)], "is not a valid .npz archive")
    # empty network
    empty = tmp / "empty.json"
    empty.write_text(json.dumps({"format": "pimopt-network", "name": "e", "layers": [],
                                 "weights_file": "ok.npz"}))
    cases["empty network"] = ([str(empty)], "has no layers")
    # a network whose blocks are all zero
    zero_dir = tmp / "zero"
    z = random_network(4, sparsity=1.0).save(zero_dir / "net")
    cases["all zero"] = ([str(z)], "only all-zero blocks")
    cases["missing file"] = ([str(tmp / "nope.json")], "does not exist")
    assert net_path.exists()
    return cases


def test_bad_inputs_exit_2_with_one_line_and_no_files(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    for name, (args, fragment) in _bad_inputs(tmp_path).items():
        out = tmp_path / f"out-{name.replace(' ', '-')}"
        argv = ["solve", *args, "--out", str(out)]
        if args[0] == "--arch":
            argv = ["solve", str(tmp_path / "ok.json"), *args, "--out", str(out)]
        code = main(argv)
        err = capsys.readouterr().err
        assert code == 2, name
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("pimopt: error: "), (name, err)
        assert fragment in lines[0], (name, err)
        assert not out.exists(), name
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")], name


def test_console_script_runs(tmp_path: Path) -> None:
    res = subprocess.run([sys.executable, "-m", "pimopt", "solve", "--out", str(tmp_path / "o"),
                          "--granularity", "crossbar", "--arch", "mnsim", "--time-limit", "4"],
                         capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    assert "schedule verified by replay" in res.stdout


def test_verify_rejects_a_schedule_for_another_architecture(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An edited architecture in the schedule (two OUs computing at once passed with only
    a warning) or an --arch with other parameters is a rejection, not a warning."""
    net = random_network(4)
    path = net.save(tmp_path / "net")
    out = tmp_path / "o"
    assert main(["solve", str(path), "--arch", "default", "--method", "naive",
                 "--out", str(out)]) == 0
    sched = out / "schedule.json"
    assert main(["verify", str(path), str(sched)]) == 0
    assert main(["verify", str(path), str(sched), "--arch", "default"]) == 0
    capsys.readouterr()
    assert main(["verify", str(path), str(sched), "--arch", "mnsim"]) == 1
    assert "made for an architecture with" in capsys.readouterr().out
    data = json.loads(sched.read_text())
    data["architecture"]["ous_per_crossbar"] = 4
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(data))
    assert main(["verify", str(path), str(edited)]) == 1
    assert "does not match the instance hash" in capsys.readouterr().out


def test_bound_command_computes_and_caches_the_bounds(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from pimopt.bounds.cache import _BOUND_CACHE, _MAKESPAN_BOUNDS

    monkeypatch.setenv("PIMOPT_CACHE_DIR", str(tmp_path))
    _BOUND_CACHE.clear()
    _MAKESPAN_BOUNDS.clear()
    net = tmp_path / "net.json"
    random_network(2, sparsity=0.2).save(net)
    assert main(["bound", str(net), "--arch", "multi-ou", "--time-limit", "30"]) == 0
    text = capsys.readouterr().out
    assert "makespan bound" in text and "programming bound" in text
    assert "total over all writes" in text and "complete" in text
    assert len(list(tmp_path.rglob("*.json"))) == 4  # makespan, latency, cell writes + net
    inst = load_instance(net, "multi-ou")
    cached = _BOUND_CACHE[(inst.content_hash(), "latency")]
    res = solve(inst, "naive", objective="programming", time_limit=5)
    # naive has no bound of its own: the reported one is the cached instance bound
    assert res.bound is not None and res.bound * 1000 == pytest.approx(cached.value)


@pytest.mark.parametrize("fmt,names", [("npz", ["mapping.npz", "schedule.npz"]),
                                       ("gz", ["mapping.csv.gz", "schedule.json.gz"])])
def test_solve_writes_compact_files_that_verify_and_plot_read(
        tmp_path: Path, fmt: str, names: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    net = tmp_path / "net.json"
    random_network(6, sparsity=0.2).save(net)
    out = tmp_path / "out"
    assert main(["solve", str(net), "--method", "sorted", "--out", str(out)]) == 0
    assert main(["solve", str(net), "--method", "sorted", "--out", str(out),
                 "--format", fmt]) == 0
    # the earlier run's JSON files are gone: one schedule per folder
    assert sorted(p.name for p in out.iterdir()) == sorted([*names, "metrics.json"])
    capsys.readouterr()
    assert main(["verify", str(net), str(out / names[1])]) == 0
    assert "verified:" in capsys.readouterr().out
    assert main(["plot", "gantt", str(out / names[1]), "--instance", str(net), "-o",
                 str(tmp_path / "g.png")]) == 0
    assert (tmp_path / "g.png").stat().st_size > 0


def test_version_verbosity_and_interrupt(capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch,
                                         tmp_path: Path) -> None:
    import pimopt
    import pimopt.cli as cli

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and pimopt.__version__ in capsys.readouterr().out
    net = tmp_path / "net.json"
    random_network(3, sparsity=0.2).save(net)
    assert main(["-v", "solve", str(net), "--out", str(tmp_path / "o"), "--time-limit",
                 "2"]) == 0
    assert "stage map" in capsys.readouterr().err  # -v: the stages on stderr

    def interrupted(args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "cmd_info", interrupted)  # the parser binds it when built
    assert main(["info", str(net)]) == 130
    assert "interrupted" in capsys.readouterr().err


def test_bundled_suites_sweeps_and_networks_are_found_from_any_directory(
        tmp_path: Path) -> None:
    """Run from an empty directory: names and pimopt: references resolve to package data."""
    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pimopt", *argv], cwd=tmp_path,
                              capture_output=True, text=True, check=False)

    res = run("bench", "--suite", "tiny", "--methods", "naive", "--time-limit", "5",
              "--out", "b")
    assert res.returncode == 0, res.stderr
    assert "6 run now" in res.stdout
    res = run("solve", "pimopt:tiny/tiny-fc2", "--arch", "pimopt:tiny/arch", "--out", "s",
              "--time-limit", "2")
    assert res.returncode == 0, res.stderr
    assert "tiny-fc2" in res.stdout
    res = run("sweep", "ablation", "--dry-run", "--out", "w")
    assert res.returncode == 0 and "grid points" in res.stdout, res.stderr
    res = run("info", "pimopt:no-such-network")
    assert res.returncode == 2 and "names no file shipped with pimopt" in res.stderr


def test_verify_checks_a_solve_folder_mapping_and_metrics(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    net = tmp_path / "net.json"
    random_network(5, sparsity=0.2).save(net)
    out = tmp_path / "out"
    assert main(["solve", str(net), "--method", "sorted", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["verify", str(net), str(out)]) == 0
    assert "mapping.csv, metrics.json agree" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    metrics["metrics"]["cell_writes"] += 1
    (out / "metrics.json").write_text(json.dumps(metrics))
    assert main(["verify", str(net), str(out)]) == 1
    assert "metrics.json: metrics.cell_writes = " in capsys.readouterr().out
    metrics["metrics"]["cell_writes"] -= 1
    (out / "metrics.json").write_text(json.dumps(metrics))
    lines = (out / "mapping.csv").read_text().splitlines()
    cells = lines[1].split(",")
    cells[5] = str(int(cells[5]) + 1)  # another slot than the schedule's
    (out / "mapping.csv").write_text("\n".join([lines[0], ",".join(cells), *lines[2:]]) + "\n")
    assert main(["verify", str(net), str(out)]) == 1
    assert "the mapping has" in capsys.readouterr().out
    (tmp_path / "empty").mkdir()
    assert main(["verify", str(net), str(tmp_path / "empty")]) == 2


def test_every_option_and_subcommand_explains_itself() -> None:
    import argparse

    from pimopt.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {c.dest: c.help for c in sub._choices_actions}
    for name, p in sub.choices.items():
        assert helps.get(name), f"subcommand {name} has no one-line description"
        for action in p._actions:
            if action.dest != "help":
                assert action.help, f"pimopt {name} {action.option_strings or action.dest}"
    assert "``" not in parser.format_help()  # no raw reStructuredText


def test_verify_and_plot_need_only_the_output_folder(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`pimopt verify OUT` failed with "the following arguments are required: schedule"."""
    out = tmp_path / "out"
    assert main(["solve", "pimopt:tiny/tiny-conv", "--arch", "small-chip", "--time-limit", "2",
                 "--out", str(out)]) == 0
    assert "(scheduled in this solve)" in capsys.readouterr().out  # the naive candidate
    assert main(["verify", str(out)]) == 0
    text = capsys.readouterr().out
    assert "instance   pimopt:tiny/tiny-conv (recorded in the schedule)" in text
    assert "agree with the schedule" in text
    assert main(["verify", str(out / "schedule.json")]) == 0
    assert main(["plot", "gantt", str(out)]) == 0  # beside the schedule, not in the cwd
    assert (out / "gantt.png").stat().st_size > 1000
    sched = json.loads((out / "schedule.json").read_text())
    del sched["instance"]["file"]  # a schedule that does not record its network
    (out / "schedule.json").write_text(json.dumps(sched))
    assert main(["verify", str(out)]) == 2
    assert f"pimopt verify NETWORK.json {out}" in capsys.readouterr().err


def test_a_method_slower_than_its_baseline_is_said(capsys: pytest.CaptureFixture[str],
                                                    tmp_path: Path) -> None:
    """`sorted` is 0.8% slower than naive on the bundled LeNet-5 (results/programming-bound):
    the console says so instead of a "0.99x faster"."""
    assert main(["solve", "--method", "sorted", "--time-limit", "5", "--out",
                 str(tmp_path / "o")]) == 0
    captured = capsys.readouterr()
    assert "pimopt: note: sorted did not beat the naive baseline" in captured.err


def test_a_skipped_baseline_comparison_is_said(monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str],
                                                tmp_path: Path) -> None:
    """From 100,000 blocks the naive comparison line disappeared, and candidates skipped
    for time were in metrics.json only: both are said on the console. (The sizes are
    scaled down here: LeNet-5 counts as large, and its candidates as too slow.)"""
    import pimopt.cli as cli
    import pimopt.stages as stages

    monkeypatch.setattr(cli, "AUTO_NPZ_BLOCKS", 1000)
    monkeypatch.setattr(stages, "CANDIDATES_PER_BLOCK_S", 1.0)
    assert main(["solve", "--time-limit", "3", "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^candidates +skipped: the map stage's", out, re.MULTILINE), out
    assert "baseline       naive: not compared (skipped: the map stage's" in out


def test_help_gives_every_default_a_researcher_needs(capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    with pytest.raises(SystemExit):
        main(["solve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default pimopt-out)" in text and "--baseline" in text
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert "[--baseline naive|sorted|none]" in readme
