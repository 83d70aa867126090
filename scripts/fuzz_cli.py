"""Fuzz the command line with malformed files and option values; count what goes wrong.

Every case runs ``pimopt.cli.main`` in this process on a copy of a tiny valid
instance (network JSON + NPZ, architecture TOML, a solved schedule, mapping
and metrics, a suite), with one thing broken:

- every field of the network JSON, of a layer, of the architecture TOML, of
  the schedule and metrics JSON and of a solve folder's ``layout.json``
  replaced by values of the wrong type or out of
  range (``None``, negative, zero, 2^70, 1e300, NaN, a string, a list, a dict,
  a boolean), or deleted, plus an unknown field;
- each file truncated at several places and with bytes flipped;
- every numeric option of solve, verify, bench, plot and generate given
  negative, zero, NaN, infinite, huge, non-numeric and empty values;
- NPZ schedules and mappings with an array of a wrong dtype, sign, range or
  shape (float, -1, uint64 above int64, bool, an extra axis; levels of uint16,
  int8 or beyond the cells' bits);
- decompression bombs: NPZ members whose headers declare 10^12 values, an NPZ
  and gzip files inflating beyond ``$PIMOPT_MAX_UNPACKED_BYTES``;
- bound cache entries with every field broken, re-signed or with a stale
  checksum, plausible values (x10, x1.01, x0.5) re-signed, an extra key: the run
  must still exit 0 with a bound it computed (or, for a re-signed plausible
  value, never a false ``optimal``), else a **wrong answer**;
- ONNX initializers stored outside the model's folder (``../``, an absolute
  path, symbolic links to /etc/passwd or out of the folder, missing or short).

A case is a **defect** if an exception escapes ``main`` (a traceback), if the
exit code is not 0, 1 or 2, if ``internal error`` is printed, or if a failed
command leaves an output folder behind. Mutations that are invalid by
construction (a wrong type, a value outside the documented range, a deleted
required field, a cut file) must not exit 0: accepting one is an **invalid
input accepted**. Cases whose validity depends on the value (a new ``source``
text, a zero pulse latency) are only checked for crashes, and counted apart.

Usage::

    python scripts/fuzz_cli.py [--seed 0] [--cuts 6] [--sample N] [--list-accepted]

Prints the counts per class and every defect; exits 1 if there is one.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import json
import math
import random
import shutil
import sys
import tempfile
import time
import traceback
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pimopt.cli import main

ROOT = Path(__file__).resolve().parent.parent
BAD_VALUES: list[Any] = [None, -1, 0, 2**70, 1e300, float("nan"), "x", [], {}, True]
# values a field may legitimately take among BAD_VALUES (checked for crashes only)
MAYBE_VALID: dict[str, list[Any]] = {
    "network.source": ["x", None], "network.name": ["x"], "layer.name": ["x"],
    "layer.info": [{}], "layer.deps": [None, []], "network.encoding": [],
    "arch.name": ["x"], "arch.t_verify": [0], "arch.t_set": [0, True],
    "arch.t_reset": [0, True], "arch.e_set": [0, True], "arch.e_reset": [0, True],
    "arch.t_ou": [True], "arch.max_programming_crossbars": [True],
    "arch.write_width": [True], "arch.write_parallel": [True],
    "arch.crossbars": [True], "arch.block_whole_crossbar": [True],
    "arch.input_bits": [True], "arch.ous_per_crossbar": [True], "arch.cell_bits": [True],
    "metrics.*": BAD_VALUES,  # verify reports a metric mismatch (exit 1), not an input error
    "layer.kind": [], "schedule.method": ["x"], "schedule.scheduler": [{}],
    # layout.json: only the permutations are compared with the schedule's layout
    "layout.method": ["x"], "layout.info": [{}], "layout.network_sha256": [],
    "layoutlayer.name": ["x"],
}
OPTIONAL = {  # fields that may be left out (a default applies)
    "network.source", "network.encoding", "network.sha256", "network.version",
    "network.name", "network.weight_bits", "network.weights_file", "layer.info",
    "layer.deps", "layer.kind", "layer.shape", "layer.n_inputs", "arch.*", "metrics.*",
    "schedule.method", "schedule.scheduler", "schedule.levels_shape", "schedule.dependencies",
    "layout.info", "layout.network_sha256", "layoutlayer.name"}


@dataclass
class Case:
    name: str
    argv: list[str]
    files: dict[str, bytes]  # written into the case folder before the run
    invalid: bool  # invalid by construction: must not be accepted
    out: str | None = None  # output folder the command would create
    env: dict[str, str] = field(default_factory=dict)  # environment of the run ("{case}":
    # the case folder)
    links: dict[str, str] = field(default_factory=dict)  # symbolic links: name -> target
    post: Callable[[Path], str | None] | None = None  # after exit 0: a defect, or None


def _dump(value: Any) -> str:
    return json.dumps(value, allow_nan=True)


def _toml_value(v: Any) -> str:
    if v is None:
        return '""'  # TOML has no null: the nearest bad value
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and math.isnan(v):
        return "nan"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[]"
    if isinstance(v, dict):
        return "{}"
    return repr(v)


def _maybe_valid(key: str, value: Any) -> bool:
    kind = key.split(".")[0]
    allowed = MAYBE_VALID.get(key, MAYBE_VALID.get(f"{kind}.*", []))
    return any(type(value) is type(a) and (value == a or value is a) for a in allowed)


def _edits(obj: dict[str, Any], kind: str, unknown_ok: bool
           ) -> Iterator[tuple[str, dict[str, Any], bool]]:
    """Every field of ``obj`` (and an unknown one) set to each bad value or deleted:
    (label, edited copy, whether the edit may be valid)."""
    for key in [*obj, "unknown_field"]:
        for v in [*BAD_VALUES, "<delete>"]:
            data = dict(obj)
            if v == "<delete>":
                if key not in data:
                    continue
                del data[key]
            else:
                data[key] = v
            k = f"{kind}.{key}"
            ok = _maybe_valid(k, v) or (v == "<delete>" and k in OPTIONAL) \
                or (key == "unknown_field" and unknown_ok)
            yield f"{k} = {v!r}", data, ok


def field_cases(base: dict[str, bytes]) -> Iterator[Case]:
    net = json.loads(base["net.json"])
    sched = json.loads(base["sol/schedule.json"])
    metrics = json.loads(base["sol/metrics.json"])
    solve = ["solve", "net.json", "--arch", "arch.toml", "--time-limit", "2", "--out", "o"]
    verify = ["verify", "net.json", "sol", "--arch", "arch.toml"]

    def net_case(name: str, data: dict[str, Any], invalid: bool) -> Case:
        return Case(name, solve, {"net.json": _dump(data).encode()}, invalid, "o")

    for label, data, ok in _edits(net, "network", unknown_ok=True):
        yield net_case(label, data, not ok)
    for label, layer, ok in _edits(net["layers"][0], "layer", unknown_ok=True):
        data = dict(net, layers=[layer, *net["layers"][1:]])
        data.pop("sha256", None)  # the field itself must be caught, not the hash
        yield net_case(label, data, not ok)
    fields = ["crossbars", "rows", "cols", "cell_bits", "ou_rows", "ou_cols", "t_ou",
              "input_bits", "ous_per_crossbar", "write_width", "write_parallel", "t_set",
              "t_reset", "t_verify", "pulse_mode", "e_set", "e_reset",
              "max_programming_crossbars", "block_whole_crossbar", "name", "unknown_field"]
    for key in fields:
        for v in BAD_VALUES:
            text = base["arch.toml"].decode() + f"\n{key} = {_toml_value(v)}\n"
            if key in ("crossbars", "rows", "cols", "name"):  # already set: replace
                text = "\n".join(line for line in base["arch.toml"].decode().splitlines()
                                 if not line.startswith(f"{key} ")) + \
                    f"\n{key} = {_toml_value(v)}\n"
            k = f"arch.{key}"
            ok = _maybe_valid(k, None if v is None and key == "name" else v)
            yield Case(f"{k} = {v!r}", solve, {"arch.toml": text.encode()}, not ok, "o")
    for label, data, ok in _edits(sched, "schedule", unknown_ok=False):
        yield Case(label, verify, {"sol/schedule.json": _dump(data).encode()}, not ok)
    # a solve folder made after a layout: every field of its layout.json and of one layer
    layout = json.loads(base["lay/layout.json"])
    verify_lay = ["verify", "net.json", "lay", "--arch", "arch.toml"]
    for label, data, ok in _edits(layout, "layout", unknown_ok=False):
        yield Case(label, verify_lay, {"lay/layout.json": _dump(data).encode()}, not ok)
    moved = next(i for i, la in enumerate(layout["layers"]) if la["rows"] is not None)
    for label, la, ok in _edits(layout["layers"][moved], "layoutlayer", unknown_ok=False):
        layers = [*layout["layers"]]
        layers[moved] = la
        yield Case(label, verify_lay, {"lay/layout.json": _dump(dict(layout, layers=layers))
                                       .encode()}, not ok)
    for key in metrics:
        for v in BAD_VALUES:
            if isinstance(metrics[key], (dict, list)):
                continue
            data = dict(metrics, **{key: v})
            # a metric that no longer matches must make verify fail (exit 1): never 0
            yield Case(f"metrics.{key} = {v!r}", verify,
                       {"sol/metrics.json": _dump(data).encode()},
                       key in _CHECKED_METRICS and v != metrics[key])


# top-level fields of metrics.json that verify recomputes or checks against the others
_CHECKED_METRICS = {"objective", "objective_name", "objective_unit", "status", "bound", "gap",
                    "method"}


def cut_cases(base: dict[str, bytes], rng: random.Random, cuts: int) -> Iterator[Case]:
    targets = {"net.json": ["solve", "net.json", "--arch", "arch.toml", "--time-limit", "2",
                            "--out", "o"],
               "net.npz": ["solve", "net.json", "--arch", "arch.toml", "--time-limit", "2",
                           "--out", "o"],
               "arch.toml": ["solve", "net.json", "--arch", "arch.toml", "--time-limit", "2",
                             "--out", "o"],
               "sol/schedule.json": ["verify", "net.json", "sol", "--arch", "arch.toml"],
               "sol/mapping.csv": ["verify", "net.json", "sol", "--arch", "arch.toml"],
               "lay/layout.json": ["verify", "net.json", "lay", "--arch", "arch.toml"],
               "suite.toml": ["bench", "--suite", "suite.toml", "--methods", "naive",
                              "--time-limit", "2", "--out", "o"]}
    for file, argv in targets.items():
        data = base[file]
        for _ in range(cuts):
            at = rng.randrange(1, len(data))
            # a cut that only drops trailing whitespace leaves the file whole
            yield Case(f"{file} cut at byte {at}/{len(data)}", argv, {file: data[:at]},
                       not file.endswith(".toml") and data[:at].rstrip() != data.rstrip(),
                       "o" if "--out" in argv else None)
        for _ in range(cuts):
            flipped = bytearray(data)
            for _ in range(3):
                flipped[rng.randrange(len(data))] = rng.randrange(256)
            # a flipped byte may land in a comment or a name: checked for crashes only
            yield Case(f"{file} with 3 bytes flipped", argv, {file: bytes(flipped)}, False,
                       "o" if "--out" in argv else None)


# --- file kinds: NPZ dtypes, decompression bombs, cache entries, ONNX external data ----

def _npz(arrays: dict[str, Any], compressed: bool = False) -> bytes:
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    return buf.getvalue()


def _arrays(raw: bytes) -> dict[str, Any]:
    with np.load(io.BytesIO(raw), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _lying_npz(name: str, declared: tuple[int, ...]) -> bytes:
    """One member whose .npy header declares ``declared`` int64 values; it holds 8."""
    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(head, {"descr": "<i8", "fortran_order": False,
                                                "shape": declared})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{name}.npy", head.getvalue() + bytes(64))
    return buf.getvalue()


def _dtype_mutations(arrays: dict[str, Any], skip: set[str]) -> Iterator[tuple[str, Any]]:
    """(label, arrays) with one integer array of a wrong dtype, sign, range or shape."""
    for name, a in arrays.items():
        if name in skip or a.dtype.kind not in "iu" or not a.size:
            continue
        flat = a.reshape(-1)
        yield f"{name} as float64 (+0.5)", {**arrays, name: a.astype(np.float64) + 0.5}
        neg = a.astype(np.int64).copy()
        neg.reshape(-1)[0] = -1
        yield f"{name} with -1", {**arrays, name: neg}
        big = a.astype(np.uint64).copy()
        big.reshape(-1)[0] = np.uint64(2**63 + 5)
        yield f"{name} as uint64 with 2^63+5", {**arrays, name: big}
        yield f"{name} as bool", {**arrays, name: (flat % 2 == 1).reshape(a.shape)}
        yield f"{name} with an extra axis", {**arrays, name: a[..., None]}


def kind_cases(base: dict[str, bytes]) -> Iterator[Case]:
    verify_npz = ["verify", "net.json", "solnpz", "--arch", "arch.toml"]
    sched = _arrays(base["solnpz/schedule.npz"])
    for label, arrays in _dtype_mutations(sched, {"header"}):
        yield Case(f"schedule.npz {label}", verify_npz,
                   {"solnpz/schedule.npz": _npz(arrays)}, True)
    lv = sched["write_levels"]
    for label, bad in (("uint16 levels 256-259", lv.astype(np.uint16) + 256),
                       ("int8 levels -1", (lv.astype(np.int8) - 1)),
                       ("levels beyond the cells' 2 bits", lv | 4)):
        yield Case(f"schedule.npz {label}", verify_npz,
                   {"solnpz/schedule.npz": _npz({**sched, "write_levels": bad})}, True)
    yield Case("schedule.npz header not JSON", verify_npz,
               {"solnpz/schedule.npz": _npz({**sched, "header": np.array("{x")})}, True)
    mapping = _arrays(base["solnpz/mapping.npz"])
    for label, arrays in _dtype_mutations(mapping, set()):
        yield Case(f"mapping.npz {label}", verify_npz, {"solnpz/mapping.npz": _npz(arrays)},
                   True)
    # decompression bombs: refused from the headers, or read no further than the limit
    small = {"PIMOPT_MAX_UNPACKED_BYTES": str(64 << 20)}
    zeros = {k: v for k, v in sched.items()}
    zeros["comp_start"] = np.zeros(16 << 20, dtype=np.int64)  # 128 MiB in ~128 KiB
    for file, argv, member in (
            ("solnpz/schedule.npz", verify_npz, "comp_start"),
            ("solnpz/mapping.npz", verify_npz, "block"),
            ("net.npz", ["solve", "net.json", "--arch", "arch.toml", "--time-limit", "2",
                         "--out", "o"], "layer_0")):
        yield Case(f"bomb: {file} declares 10^12 values", argv,
                   {file: _lying_npz(member, (10**12,))}, True, "o" if "--out" in argv else None)
    yield Case("bomb: schedule.npz inflating to 128 MiB under a 64 MiB limit", verify_npz,
               {"solnpz/schedule.npz": _npz(zeros, compressed=True)}, True, env=small)
    yield Case("bomb: schedule.json.gz inflating to 40 MiB of text under a 64 MiB limit",
               ["verify", "net.json", "solgz", "--arch", "arch.toml"],
               {"solgz/schedule.json.gz": gzip.compress(b" " * (40 << 20), compresslevel=1)},
               True, env=small)
    yield Case("bomb: mapping.csv.gz inflating to 40 MiB of text under a 64 MiB limit",
               ["verify", "net.json", "solgz", "--arch", "arch.toml"],
               {"solgz/mapping.csv.gz": gzip.compress(b"," * (40 << 20), compresslevel=1)},
               True, env=small)
    yield from _cache_cases(base)
    yield from _external_data_cases()


def _cache_cases(base: dict[str, bytes]) -> Iterator[Case]:
    """A poisoned bound cache never changes an answer: the run's bound is the one computed
    without the cache (or, for a smaller but valid-looking value, no larger than it), and
    ``optimal`` never rests on it."""
    import hashlib

    entry = next(k for k in base if k.startswith("cache/"))
    record = json.loads(base[entry])
    truth = json.loads(base["truth.json"])["makespan_bound_ns"]  # complete, no cache

    def checksum(rec: dict[str, Any]) -> str:
        kind = Path(entry).parent.name.rsplit("-v", 1)[0]
        body = {k: v for k, v in rec.items() if k != "checksum"}
        text = json.dumps({"kind": kind, "key": rec.get("key"), "record": body},
                          sort_keys=True, allow_nan=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def check(ignored: bool) -> Callable[[Path], str | None]:
        """``ignored``: the entry must be ignored, so the run's bound is one it computed
        (complete, or cut short: never above the complete one, never 0). Otherwise (a
        re-signed, self-consistent value: nothing but a recomputation tells it from a
        real one) the run may use it, but ``optimal`` must be true."""
        def post(folder: Path) -> str | None:
            m = json.loads((folder / "o" / "metrics.json").read_text())
            got = m["metrics"]["makespan_bound_ns"]
            if ignored and not (isinstance(got, (int, float)) and 0 < got <= truth):
                return f"makespan bound {got!r} from the poisoned cache, computed {truth!r}"
            if m["status"] == "optimal" and m["objective"] > truth * (1 + 1e-9):
                return (f"status optimal at {m['objective']} rests on the poisoned cache "
                        f"(the computed bound is {truth})")
            return None
        return post

    solve = ["solve", "net.json", "--arch", "arch.toml", "--method", "naive", "--baseline",
             "none", "--time-limit", "2", "--out", "o"]
    env = {"PIMOPT_CACHE_DIR": "{case}/cache"}
    for key in record:
        if key in ("key", "checksum"):
            continue
        for v in BAD_VALUES:
            rec = dict(record, **{key: v})
            for signed in (True, False):
                rec2 = dict(rec, checksum=checksum(rec)) if signed else rec
                yield Case(f"cache {key} = {v!r} ({'re-signed' if signed else 'stale sum'})",
                           solve, {entry: _dump(rec2).encode()}, False, "o", env=dict(env),
                           post=check(ignored=True))
    for factor in (10.0, 1.01, 0.5):  # plausible values
        rec = dict(record)
        for k in ("value_ps", "resource_ps", "window_ps", "path_ps"):
            rec[k] = int(record[k] * factor)
        rec["checksum"] = checksum(rec)
        yield Case(f"cache bound x{factor} (re-signed, consistent)", solve,
                   {entry: _dump(rec).encode()}, False, "o", env=dict(env),
                   post=check(ignored=False))
    yield Case("cache extra key (re-signed)", solve,
               {entry: _dump(dict(record, extra=1, checksum=checksum(dict(record, extra=1))))
                .encode()}, False, "o", env=dict(env), post=check(ignored=True))


def _external_data_cases() -> Iterator[Case]:
    """ONNX initializers stored outside the model: only inside the model's folder."""
    import onnx
    from onnx import TensorProto, helper

    def model(location: str) -> bytes:
        w = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4, 4])
        w.data_location = TensorProto.EXTERNAL
        for k, v in (("location", location), ("offset", "0"), ("length", "64")):
            e = w.external_data.add()
            e.key, e.value = k, v
        graph = helper.make_graph(
            [helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], [w])
        return bytes(onnx.helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())

    imp = ["import", "m/model.onnx", "-o", "o/imp"]
    secret = {"secret.bin": bytes(range(64))}
    yield Case("onnx external data ../secret.bin", imp,
               {"m/model.onnx": model("../secret.bin"), **secret}, True, "o")
    yield Case("onnx external data at an absolute path", imp,
               {"m/model.onnx": model("/etc/passwd")}, True, "o")
    yield Case("onnx external data through a symlink to /etc/passwd", imp,
               {"m/model.onnx": model("w.bin")}, True, "o", links={"m/w.bin": "/etc/passwd"})
    yield Case("onnx external data through a symlink out of the folder", imp,
               {"m/model.onnx": model("w.bin"), **secret}, True, "o",
               links={"m/w.bin": "../secret.bin"})
    yield Case("onnx external data missing", imp, {"m/model.onnx": model("nothing.bin")},
               True, "o")
    yield Case("onnx external data shorter than declared", imp,
               {"m/model.onnx": model("w.bin"), "m/w.bin": bytes(10)}, True, "o")


OPTION_VALUES = ["-1", "0", "nan", "inf", "-inf", "1e300", str(2**70), "abc", "", "1.5"]
OPTIONS = {  # (command prefix, option, values that are valid)
    "solve --time-limit": (["solve", "net.json", "--arch", "arch.toml", "--out", "o"],
                           "--time-limit", {"1e300", str(2**70), "1.5", "inf"}),
    "solve --seed": (["solve", "net.json", "--arch", "arch.toml", "--time-limit", "2",
                      "--out", "o"], "--seed", {"0"}),
    "solve --workers": (["solve", "net.json", "--arch", "arch.toml", "--time-limit", "2",
                         "--out", "o"], "--workers", set()),
    "solve --samples": (["solve", "net.json", "--arch", "arch.toml", "--time-limit", "2",
                         "--out", "o"], "--samples", {"0"}),
    "verify --samples": (["verify", "net.json", "sol", "--arch", "arch.toml"], "--samples",
                         {"0"}),
    "bench --seeds": (["bench", "--suite", "suite.toml", "--methods", "naive", "--time-limit",
                       "2", "--out", "o"], "--seeds", {"0"}),
    "bench --jobs": (["bench", "--suite", "suite.toml", "--methods", "naive", "--time-limit",
                      "2", "--out", "o"], "--jobs", set()),
    "bench --time-limit": (["bench", "--suite", "suite.toml", "--methods", "naive", "--out",
                            "o"], "--time-limit", {"1e300", str(2**70), "1.5", "inf"}),
    "plot --from": (["plot", "gantt", "sol/schedule.json", "-o", "o/g.png"], "--from",
                    {"0", "1.5", "-1", "1e300", str(2**70)}),
    "info --seed": (["info", "net.json", "--arch", "arch.toml", "--layout", "similarity"],
                    "--seed", {"0"}),
    "generate --seed": (["generate", "synthetic", "--layers", "2x2", "-o", "o/g"], "--seed",
                        {"0"}),
    "generate --layers": (["generate", "synthetic", "-o", "o/g"], "--layers", set()),
    "import --input-shape": (["import", str(ROOT / "instances/trained/digits-mlp.onnx"),
                              "-o", "o/imp"], "--input-shape", set()),
    "import --bits": (["import", str(ROOT / "instances/trained/digits-mlp.onnx"), "-o",
                       "o/imp"], "--bits", set()),
}


def option_cases() -> Iterator[Case]:
    for name, (argv, option, valid) in OPTIONS.items():
        for v in OPTION_VALUES:
            out = "o"
            yield Case(f"{name} {v!r}", [*argv, option, v], {}, v not in valid, out)


def run_case(case: Case, base: dict[str, bytes], work: Path) -> tuple[str, str]:
    """Run one case in a fresh folder; returns (class, detail)."""
    d = work / "case"
    if d.exists():
        shutil.rmtree(d)
    import os

    for name, data in {**base, **case.files}.items():
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        (d / name).write_bytes(data)
    for name, target in case.links.items():
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        (d / name).unlink(missing_ok=True)
        (d / name).symlink_to(target)
    out, err = io.StringIO(), io.StringIO()
    cwd = Path.cwd()
    env = {k: v.replace("{case}", str(d)) for k, v in case.env.items()}
    saved = {k: os.environ.get(k) for k in env}
    _forget_bounds()  # each case reads the cache it is given, not this process's memory
    try:
        os.environ.update(env)
        os.chdir(d)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(case.argv)
    except SystemExit as exc:  # argparse rejects an option value: exit 2, a usage line
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # what this script exists to catch
        return "traceback", traceback.format_exc(limit=-3)
    finally:
        os.chdir(cwd)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        _forget_bounds()
    text = out.getvalue() + err.getvalue()
    if "internal error" in text or "Traceback" in text:
        return "internal error", text.strip().splitlines()[-1]
    if code not in (0, 1, 2):
        return f"exit {code}", text.strip()[-200:]
    if code != 0 and case.out and (d / case.out).exists() and any((d / case.out).iterdir()):
        return "partial output", f"exit {code} but {case.out}/ has files"
    if code == 0 and case.invalid:
        return "invalid accepted", text.strip().splitlines()[-1] if text.strip() else ""
    if case.post is not None:
        if code != 0:
            return "invalid accepted", f"exit {code}, expected 0: {text.strip()[-200:]}"
        wrong = case.post(d)
        if wrong:
            return "wrong answer", wrong
    return f"ok (exit {code})", ""


def _forget_bounds() -> None:
    """Empty this process's memory of bounds (the cache cases test the disk cache)."""
    from pimopt.bounds import cache

    cache._MAKESPAN_BOUNDS.clear()
    cache._BOUND_CACHE.clear()


def base_files(work: Path) -> dict[str, bytes]:
    src = work / "base"
    src.mkdir(parents=True)
    shutil.copy(ROOT / "instances/tiny/tiny-fc2.json", src / "net.json")
    shutil.copy(ROOT / "instances/tiny/tiny-fc2.npz", src / "net.npz")
    net = json.loads((src / "net.json").read_text())
    net["weights_file"] = "net.npz"
    (src / "net.json").write_text(json.dumps(net, indent=1))
    shutil.copy(ROOT / "instances/tiny/arch.toml", src / "arch.toml")
    (src / "suite.toml").write_text('name = "f"\n[[instances]]\nnetwork = "net.json"\n'
                                    'arch = "arch.toml"\n')
    cwd = Path.cwd()
    import os
    os.chdir(src)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            code = main(["solve", "net.json", "--arch", "arch.toml", "--method", "naive",
                         "--baseline", "none", "--time-limit", "2", "--out", "sol"])
            code = code or main(["solve", "net.json", "--arch", "arch.toml", "--method",
                                 "naive", "--baseline", "none", "--time-limit", "2",
                                 "--layout", "magnitude", "--out", "lay"])
            for fmt in ("npz", "gz"):
                code = code or main(["solve", "net.json", "--arch", "arch.toml", "--method",
                                     "naive", "--baseline", "none", "--time-limit", "2",
                                     "--format", fmt, "--out", f"sol{fmt}"])
            saved = os.environ.get("PIMOPT_CACHE_DIR")
            os.environ["PIMOPT_CACHE_DIR"] = str(src / "cache")  # a bound cache entry
            _forget_bounds()
            try:
                code = code or main(["solve", "net.json", "--arch", "arch.toml", "--method",
                                     "naive", "--baseline", "none", "--time-limit", "2",
                                     "--out", "cached"])
            finally:
                if saved is None:
                    os.environ.pop("PIMOPT_CACHE_DIR")
                else:
                    os.environ["PIMOPT_CACHE_DIR"] = saved
                shutil.rmtree(src / "cached")
    finally:
        os.chdir(cwd)
    from pimopt.architecture import load_architecture
    from pimopt.bounds.makespan import makespan_bound
    from pimopt.instance import Instance
    from pimopt.network import Network

    inst = Instance(load_architecture(src / "arch.toml"), Network.load(src / "net.json"))
    mb = makespan_bound(inst, time_limit=None)
    assert mb.complete
    (src / "truth.json").write_text(json.dumps({"makespan_bound_ns": mb.value_ps / 1000}))
    assert code == 0, "the base instance must solve"
    return {str(p.relative_to(src)): p.read_bytes() for p in src.rglob("*") if p.is_file()}


def main_fuzz() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0, help="seed of cuts and flips (default 0)")
    ap.add_argument("--cuts", type=int, default=6,
                    help="truncations and byte flips per file (default 6)")
    ap.add_argument("--sample", type=int, default=0,
                    help="run a seeded random sample of this many cases, every file kind "
                         "kept (default 0: all)")
    ap.add_argument("--list-accepted", action="store_true",
                    help="also list the maybe-valid cases that were accepted")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    import logging
    logging.disable(logging.CRITICAL)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pimopt-fuzz-") as tmp:
        work = Path(tmp)
        base = base_files(work)
        groups = [list(field_cases(base)), list(cut_cases(base, rng, args.cuts)),
                  list(option_cases()), list(kind_cases(base))]
        cases = [c for g in groups for c in g]
        if 0 < args.sample < len(cases):  # the same share of every group
            share = args.sample / len(cases)
            cases = [c for g in groups
                     for c in rng.sample(g, max(1, round(share * len(g))))]
        counts: dict[str, int] = {}
        defects: list[str] = []
        accepted: list[str] = []
        for case in cases:
            cls, detail = run_case(case, base, work)
            counts[cls] = counts.get(cls, 0) + 1
            if not cls.startswith("ok"):
                defects.append(f"{cls}: {case.name}: {' '.join(case.argv)}\n    {detail}")
            elif cls == "ok (exit 0)" and not case.invalid:
                accepted.append(case.name)
    invalid = sum(c.invalid for c in cases)
    print(f"{len(cases)} cases ({invalid} invalid by construction, {len(cases) - invalid} "
          f"checked for crashes only) in {time.perf_counter() - t0:.1f} s, seed {args.seed}")
    for cls in sorted(counts):
        print(f"  {cls:<20} {counts[cls]}")
    tracebacks = counts.get("traceback", 0) + counts.get("internal error", 0)
    print(f"tracebacks: {tracebacks}; invalid inputs accepted: "
          f"{counts.get('invalid accepted', 0)}; partial outputs: "
          f"{counts.get('partial output', 0)}; wrong answers: "
          f"{counts.get('wrong answer', 0)}")
    for line in defects:
        print(line)
    if args.list_accepted:
        print("accepted (maybe valid):", ", ".join(accepted))
    return 1 if defects else 0


if __name__ == "__main__":
    sys.exit(main_fuzz())
