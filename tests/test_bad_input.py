"""Bad input: one line 'pimopt: error: ...', exit code 2, nothing written.

A table of malformed files, impossible values and unusable output paths, each
run through the command line in-process. None may end in a traceback, be
accepted, or leave a file behind.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pimopt import InputError, Instance, Layer, Network, Schedule, load_instance, solve
from pimopt.cli import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """A valid network and a set of broken files beside it."""
    Network("n", (Layer("a", np.ones((8, 4), int), n_inputs=2),), weight_bits=4).save(
        tmp_path / "net.json")
    meta = json.loads((tmp_path / "net.json").read_text())

    def variant(file: str, layer: dict[str, object]) -> None:
        bad = dict(meta, layers=[dict(meta["layers"][0], **layer)])
        bad.pop("sha256", None)  # the field itself must be caught, not the hash
        (tmp_path / f"{file}.json").write_text(json.dumps(bad))
        shutil.copy(tmp_path / "net.npz", tmp_path / f"{file}.npz")

    variant("deps", {"deps": 5})
    variant("huge-inputs", {"n_inputs": 2**70})
    variant("name-null", {"name": None})
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (tmp_path / "not-json.json").write_text("{")
    (tmp_path / "hot.toml").write_text("t_set = 1e300\n")
    (tmp_path / "crossbars.toml").write_text("crossbars = 100000000000000000000\n")
    (tmp_path / "folder").mkdir()
    (tmp_path / "a-file").write_text("x")
    return tmp_path


CASES = [  # (id, argv with {d} for the files folder, words the error names)
    ("missing network", ["solve", "{d}/none.json"], "does not exist"),
    ("network is a folder", ["solve", "{d}/folder"], "is a folder"),
    ("deps not a list", ["solve", "{d}/deps.json"], "deps = 5"),
    ("n_inputs beyond int64", ["solve", "{d}/huge-inputs.json"], "n_inputs"),
    ("layer name null", ["solve", "{d}/name-null.json"], "layers[0].name = null"),
    ("deeply nested JSON", ["solve", "{d}/deep.json"], "nested too deeply"),
    ("truncated JSON", ["info", "{d}/not-json.json"], "not valid JSON"),
    ("arch is a folder", ["solve", "{d}/net.json", "--arch", "{d}/folder"], "is a folder"),
    ("t_set = 1e300", ["solve", "{d}/net.json", "--arch", "{d}/hot.toml"], "t_set"),
    ("crossbars = 1e20", ["solve", "{d}/net.json", "--arch", "{d}/crossbars.toml"],
     "crossbars"),
    ("samples -1", ["solve", "{d}/net.json", "--samples", "-1"], "functional_samples"),
    ("seed -1", ["solve", "{d}/net.json", "--seed", "-1"], "seed"),
    ("seed beyond CP-SAT", ["solve", "{d}/net.json", "--seed", str(2**40)], "seed"),
    ("workers 0", ["solve", "{d}/net.json", "--workers", "0"], "workers"),
    ("workers -3", ["solve", "{d}/net.json", "--workers", "-3"], "workers"),
    ("time limit 0", ["solve", "{d}/net.json", "--time-limit", "0"], "time_limit"),
    ("time limit nan", ["solve", "{d}/net.json", "--time-limit", "nan"], "time_limit"),
    ("out is a file", ["solve", "{d}/net.json", "--out", "{d}/a-file"], "is a file"),
    ("out below a file", ["solve", "{d}/net.json", "--out", "{d}/a-file/sub"], "is a file"),
    ("out empty", ["solve", "{d}/net.json", "--out", ""], "name an output folder"),
    ("layers 0x5", ["generate", "synthetic", "--layers", "0x5", "-o", "{d}/g"], ">= 1"),
    ("layers 5x0", ["generate", "synthetic", "--layers", "5x0", "-o", "{d}/g"], ">= 1"),
    ("layers huge", ["generate", "synthetic", "--layers", "99999999x99999999", "-o", "{d}/g"],
     "weights, more than"),
    ("verify an empty folder", ["verify", "{d}/net.json", "{d}/folder"], "without schedule"),
    ("verify a non-schedule", ["verify", "{d}/net.json", "{d}/a-file"], "must end with"),
    ("plot to .xyz", ["plot", "gantt", "{d}/s.json", "-o", "{d}/g.xyz"], ".png"),
    ("bench unknown suite", ["bench", "--suite", "nonexistent", "--out", "{d}/b"],
     "neither a TOML file nor a suite name"),
    ("bench out is a file", ["bench", "--suite", "tiny", "--out", "{d}/a-file"], "is a file"),
    ("import shape contradicts", ["import", str(ROOT / "instances/trained/digits-cnn.onnx"),
                                  "--input-shape", "1x3x8x8", "-o", "{d}/imp"],
     "contradicts the model"),
]


@pytest.mark.parametrize("argv,words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
        files: Path, argv: list[str], words: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(files)  # an --out '' must not write into the working folder either
    before = sorted(p.name for p in files.rglob("*"))
    assert main([a.format(d=files) for a in argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("pimopt: error: "), err
    assert words in err[0] and "Traceback" not in err[0]
    assert sorted(p.name for p in files.rglob("*")) == before  # nothing written


@pytest.mark.parametrize("seed, cuts, sample", [
    (0, 3, 320), pytest.param(1, 40, 0, marks=pytest.mark.slow),
    pytest.param(2, 80, 0, marks=pytest.mark.slow)])
def test_fuzzed_files_and_options_give_no_traceback_and_accept_nothing_invalid(
        seed: int, cuts: int, sample: int) -> None:
    """scripts/fuzz_cli.py: every field of every file broken, files cut and flipped, every
    numeric option given bad values, NPZ dtypes, bombs, cache entries, ONNX external data;
    no traceback, no invalid input accepted, no partial output, no wrong answer (the script
    exits 1 and lists them otherwise). The default run takes a sample of every kind; the
    slow ones run all."""
    import subprocess
    import sys

    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "fuzz_cli.py"), "--seed",
                          str(seed), "--cuts", str(cuts), "--sample", str(sample)],
                         capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert ("tracebacks: 0; invalid inputs accepted: 0; partial outputs: 0; wrong answers: 0"
            in res.stdout)
    n = int(res.stdout.split(" cases")[0])
    assert n > (300 if sample else 1100), res.stdout  # the generator still makes its cases


_DEFAULT = None  # the bundled instance, loaded once by the table below


def _inst() -> Any:
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = load_instance(None, "default")
    return _DEFAULT


# untyped handles: the table passes what the signatures forbid, on purpose
_solve: Any = solve
_Instance: Any = Instance
_Network: Any = Network
_Schedule: Any = Schedule
_load: Any = load_instance


@pytest.mark.parametrize(("case", "call", "named"), [
    ("solve(None)", lambda: _solve(None), "inst"),
    ("solve('path')", lambda: _solve("x.json"), "inst"),
    ("time_limit=None", lambda: _solve(_inst(), "naive", time_limit=None), "time_limit"),
    ("time_limit='10'", lambda: _solve(_inst(), "naive", time_limit="10"), "time_limit"),
    ("time_limit=True", lambda: _solve(_inst(), "naive", time_limit=True), "time_limit"),
    ("overlap='no'", lambda: _solve(_inst(), "naive", overlap="no"), "overlap"),
    ("reuse=None", lambda: _solve(_inst(), "naive", reuse=None), "reuse"),
    ("initial='bogus'", lambda: _solve(_inst(), "naive", initial="bogus"), "initial"),
    ("method=3", lambda: _solve(_inst(), 3), "method"),
    ("Instance(None, net)", lambda: _Instance(None, _inst().network), "arch"),
    ("Instance(arch, None)", lambda: _Instance(_inst().arch, None), "network"),
    ("Network('n', None)", lambda: _Network("n", None), "layers"),
    ("Network('n', [1])", lambda: _Network("n", [1]), "layers"),
    ("Schedule.load(None)", lambda: _Schedule.load(None), "path"),
    ("load_instance(123)", lambda: _load(123), "network_path"),
])
def test_public_entry_points_name_a_bad_argument(case: str, call: Any, named: str) -> None:
    """Each raised AttributeError/TypeError from inside (or was accepted silently)."""
    with pytest.raises(InputError, match=named):
        call()
