"""The workload: a :class:`Network` of :class:`Layer` objects (docs/model.md, *Workload*).

A network is stored as two files with the same stem: ``NAME.json``
(metadata: layers, shapes, ``n_inputs``, dependencies, quantisation,
provenance, content hash) and ``NAME.npz`` (one integer weight matrix per
layer, ``layer_0``, ``layer_1``, ...).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pimopt.encoding import ENCODINGS
from pimopt.errors import InputError
from pimopt.io.files import load_npz, package_path, read_bytes, read_json
from pimopt.io.schemas import validate
from pimopt.windows import check_need, evaluate

FORMAT = "pimopt-network"
MAX_INPUTS = 2**53  # input vectors of a layer: exact in every JSON reader
FORMAT_VERSION = 1
LAYER_KINDS = ("fc", "conv", "conv_transpose", "matmul")


@dataclass(frozen=True, eq=False)
class Layer:
    """One weighted layer: an integer K x N matrix applied to ``n_inputs`` vectors.

    Parameters
    ----------
    name
        Unique name inside the network.
    weights
        Integer weight matrix, K inputs x N outputs, already quantised.
    n_inputs
        Input vectors per inference (conv: H_out * W_out * batch; fc: batch).
    deps
        Names of the layers whose outputs this layer needs; ``None`` means the
        previous layer (none for the first).
    kind
        ``fc``, ``conv``, ``conv_transpose`` or ``matmul`` (informational).
    info
        Free-form JSON-serialisable details (e.g. the conv geometry).
    groups
        A grouped layer (grouped or depthwise convolution) of ``G`` groups:
        ``weights`` is K x N with group ``g``'s K x N/G matrix in columns
        ``g*N/G .. (g+1)*N/G - 1``, and group ``g`` reads inputs
        ``g*K .. (g+1)*K - 1`` of the layer's ``G*K`` input features. The
        layer computes the block-diagonal product (:meth:`product`) without
        storing, tiling or programming the zero blocks off the diagonal.
    windows
        Dependency windows (:mod:`pimopt.windows`): for a producer named in
        ``deps`` (or the previous layer), ``need[i]`` is how many of its output
        vectors input vector ``i`` of this layer needs (non-decreasing, one
        entry per input vector). Used under the ``window`` dependency rule;
        a producer without an array is a barrier under either rule.
    """

    name: str
    weights: NDArray[np.integer[Any]]
    n_inputs: int = 1
    deps: tuple[str, ...] | None = None
    kind: str = "fc"
    info: dict[str, Any] = field(default_factory=dict)
    groups: int = 1
    windows: dict[str, NDArray[np.int64]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        owner = f"Layer {self.name!r}"
        if not isinstance(self.name, str) or not self.name:
            raise InputError(f"Layer.name = {self.name!r} is invalid: a non-empty string")
        w = np.asarray(self.weights)
        if w.ndim != 2 or w.shape[0] < 1 or w.shape[1] < 1:
            raise InputError(f"{owner}: weights shape {w.shape} is invalid: "
                             "a non-empty 2-D K x N matrix")
        if w.dtype.kind == "f":
            if not np.all(np.isfinite(w)):
                raise InputError(f"{owner}: weights contain NaN or infinite values")
            if not np.all(w == np.rint(w)):
                raise InputError(f"{owner}: weights are not integers; quantise them first "
                                 "(pimopt.quantize.quantize_symmetric)")
        elif w.dtype.kind not in "iu":
            raise InputError(f"{owner}: weights dtype {w.dtype} is invalid: integers")
        if np.abs(w).max(initial=0) >= 2**31:
            raise InputError(f"{owner}: weights exceed the int32 range")
        object.__setattr__(self, "weights", w.astype(np.int32))
        if isinstance(self.n_inputs, bool) or not isinstance(self.n_inputs, (int, np.integer)) \
                or not 1 <= self.n_inputs <= MAX_INPUTS:
            raise InputError(f"{owner}: n_inputs = {self.n_inputs!r} is invalid: an integer "
                             f"from 1 to {MAX_INPUTS:,} (2^53)")
        object.__setattr__(self, "n_inputs", int(self.n_inputs))
        if self.deps is not None:
            if isinstance(self.deps, (str, bytes)) or not isinstance(self.deps, (list, tuple)) \
                    or not all(isinstance(d, str) for d in self.deps):
                raise InputError(f"{owner}: deps = {self.deps!r} is invalid: a list of layer "
                                 "names")
            object.__setattr__(self, "deps", tuple(self.deps))
        if self.kind not in LAYER_KINDS:
            raise InputError(f"{owner}: kind = {self.kind!r} is invalid: one of {LAYER_KINDS}")
        if isinstance(self.groups, bool) or not isinstance(self.groups, (int, np.integer)) \
                or self.groups < 1 or w.shape[1] % self.groups:
            raise InputError(f"{owner}: groups = {self.groups!r} is invalid: an integer >= 1 "
                             f"that divides the {w.shape[1]} output columns")
        object.__setattr__(self, "groups", int(self.groups))
        if not isinstance(self.windows, dict) or not all(
                isinstance(k, str) for k in self.windows):
            raise InputError(f"{owner}: windows must be a dict from producer layer names to "
                             f"arrays, got {type(self.windows).__name__}")
        object.__setattr__(self, "windows", {
            k: check_need(v, self.n_inputs, MAX_INPUTS, f"{owner}: window on {k!r}")
            for k, v in self.windows.items()})

    @property
    def shape(self) -> tuple[int, int]:
        """(K, N)."""
        return (int(self.weights.shape[0]), int(self.weights.shape[1]))

    @property
    def in_features(self) -> int:
        """Input features the layer reads: K, or G * K for a grouped layer."""
        return self.shape[0] * self.groups

    def product(self, x: NDArray[np.integer[Any]]) -> NDArray[np.int64]:
        """The exact integer outputs ``x @ W`` (S x in_features -> S x N); for a grouped
        layer group by group, as the block-diagonal matrix would give them."""
        xi = np.asarray(x, dtype=np.int64)
        w = self.weights.astype(np.int64)
        if self.groups == 1:
            return xi @ w
        k, n = self.shape
        ng = n // self.groups
        return np.concatenate([xi[:, g * k:(g + 1) * k] @ w[:, g * ng:(g + 1) * ng]
                               for g in range(self.groups)], axis=1)

    def __repr__(self) -> str:  # the weights are summarised, not printed
        k, n = self.shape
        deps = "" if self.deps is None else f", deps={list(self.deps)}"
        groups = "" if self.groups == 1 else f" in {self.groups} groups"
        windows = "" if not self.windows else f", windows on {sorted(self.windows)}"
        return (f"Layer({self.name!r}, {self.kind}, {k}x{n} weights{groups}, "
                f"n_inputs={self.n_inputs}{deps}{windows})")


@dataclass(frozen=True, eq=False)
class Network:
    """A DNN workload: layers in a topological order with signed-weight settings.

    Parameters
    ----------
    name
        Label.
    layers
        Layers; dependencies must name earlier layers (topological order).
    weight_bits
        Bits of the symmetric signed integer weights (2 to 16).
    encoding
        ``differential`` (default) or ``offset`` (see :mod:`pimopt.encoding`).
    source
        Provenance: where the weights come from (file, generator and seed, ...).
    """

    name: str
    layers: tuple[Layer, ...]
    weight_bits: int = 8
    encoding: str = "differential"
    source: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.layers, (str, bytes)) or not hasattr(self.layers, "__iter__"):
            raise InputError(f"Network {self.name!r}: layers must be a sequence of Layer, got "
                             f"{type(self.layers).__name__}")
        object.__setattr__(self, "layers", tuple(self.layers))
        bad = [type(la).__name__ for la in self.layers if not isinstance(la, Layer)]
        if bad:
            raise InputError(f"Network {self.name!r}: layers must be Layer objects, got "
                             f"{bad[0]}")
        if not self.layers:
            raise InputError(f"Network {self.name!r} has no layers: at least one is needed")
        if isinstance(self.weight_bits, bool) or not isinstance(self.weight_bits, int) \
                or not 2 <= self.weight_bits <= 16:
            raise InputError(f"Network.weight_bits = {self.weight_bits!r} is invalid: "
                             "an integer from 2 to 16")
        if self.encoding not in ENCODINGS:
            raise InputError(f"Network.encoding = {self.encoding!r} is invalid: "
                             f"one of {ENCODINGS}")
        qmax = (1 << (self.weight_bits - 1)) - 1
        seen: set[str] = set()
        inputs: dict[str, int] = {}
        for i, layer in enumerate(self.layers):
            if layer.name in seen:
                raise InputError(f"Network {self.name!r}: layer name {layer.name!r} is repeated")
            for d in layer.deps or ():
                if d not in seen:
                    raise InputError(f"Layer {layer.name!r}: dependency {d!r} is not an earlier "
                                     "layer (layers must be in topological order)")
            producers = layer.deps if layer.deps is not None else (
                (self.layers[i - 1].name,) if i else ())
            for d, need in layer.windows.items():
                if d not in producers:
                    raise InputError(f"Layer {layer.name!r}: window on {d!r}, which is not a "
                                     f"layer it depends on ({list(producers)})")
                check_need(need, layer.n_inputs, inputs[d],
                           f"Layer {layer.name!r}: window on {d!r}")
            _check_geometry(layer, inputs)
            seen.add(layer.name)
            inputs[layer.name] = layer.n_inputs
            amax = int(np.abs(layer.weights).max())
            if amax > qmax:
                raise InputError(f"Layer {layer.name!r}: weight magnitude {amax} exceeds "
                                 f"{qmax}, the symmetric range of weight_bits = "
                                 f"{self.weight_bits}")

    # ------------------------------------------------------------------ structure
    def dependencies(self) -> list[list[int]]:
        """Dependency layer indices of every layer (``None`` resolved to the previous)."""
        index = {layer.name: i for i, layer in enumerate(self.layers)}
        out: list[list[int]] = []
        for i, layer in enumerate(self.layers):
            if layer.deps is None:
                out.append([i - 1] if i > 0 else [])
            else:
                out.append(sorted(index[d] for d in layer.deps))
        return out

    def windows(self, rule: str) -> list[list[tuple[int, NDArray[np.int64] | None]]]:
        """Every layer's producers with their window under ``rule`` (``None``: the barrier,
        every output of the producer)."""
        deps = self.dependencies()
        names = [la.name for la in self.layers]
        return [[(d, la.windows.get(names[d]) if rule == "window" else None) for d in deps[i]]
                for i, la in enumerate(self.layers)]

    def __repr__(self) -> str:
        weights = sum(la.shape[0] * la.shape[1] for la in self.layers)
        return (f"Network({self.name!r}, {len(self.layers)} layers, {weights:,} weights of "
                f"{self.weight_bits} bits, {self.encoding})")

    def layer_index(self, name: str) -> int:
        """Index of the layer called ``name``."""
        for i, layer in enumerate(self.layers):
            if layer.name == name:
                return i
        raise InputError(f"Network {self.name!r} has no layer {name!r}")

    # ------------------------------------------------------------------ identity
    def metadata(self) -> dict[str, Any]:
        """JSON metadata (everything but the weight arrays and the hash)."""
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "name": self.name,
            "weight_bits": self.weight_bits,
            "encoding": self.encoding,
            "source": self.source,
            "layers": [
                {"name": la.name, "kind": la.kind, "shape": list(la.shape),
                 "n_inputs": la.n_inputs,
                 "deps": None if la.deps is None else list(la.deps), "info": la.info,
                 # only when grouped: the hashes of ungrouped networks stay what they were
                 **({"groups": la.groups} if la.groups > 1 else {}),
                 # only with windows (their arrays are window_<layer>_<k> in the NPZ)
                 **({"windows": list(la.windows)} if la.windows else {})}
                for la in self.layers
            ],
        }

    def content_hash(self) -> str:
        """SHA-256 of the metadata and the weights: names exactly what a result was computed on."""
        h = hashlib.sha256()
        h.update(json.dumps(self.metadata(), sort_keys=True).encode())
        for layer in self.layers:
            h.update(np.ascontiguousarray(layer.weights, dtype="<i4").tobytes())
        for layer in self.layers:
            for need in layer.windows.values():
                h.update(np.ascontiguousarray(need, dtype="<i8").tobytes())
        return h.hexdigest()

    # ------------------------------------------------------------------ I/O
    def save(self, path: str | Path) -> Path:
        """Write ``STEM.json`` and ``STEM.npz``; returns the JSON path."""
        p = Path(path)
        # "net.v1.5" keeps its dots: only a .json or .npz ending is replaced
        name = p.name[: -len(p.suffix)] if p.suffix in (".json", ".npz") else p.name
        json_path, npz_path = p.parent / f"{name}.json", p.parent / f"{name}.npz"
        json_path.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, Any] = {f"layer_{i}": la.weights for i, la in enumerate(self.layers)}
        for i, la in enumerate(self.layers):
            arrays.update({f"window_{i}_{k}": need
                           for k, need in enumerate(la.windows.values())})
        np.savez_compressed(npz_path, **arrays)
        meta = self.metadata()
        meta["weights_file"] = npz_path.name
        meta["sha256"] = self.content_hash()
        json_path.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
        return json_path

    @classmethod
    def load(cls, path: str | Path) -> Network:
        """Load a network from its JSON file (or the NPZ beside it).

        ``pimopt:NAME`` names a network shipped with the package
        (:func:`pimopt.io.files.package_path`), e.g. ``pimopt:tiny/tiny-fc2``.
        """
        p = package_path(path, ".json") if str(path).startswith("pimopt:") else Path(path)
        json_path = p.with_suffix(".json") if p.suffix == ".npz" else p
        meta = read_json(json_path, "network file")
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise InputError(f"network file {json_path}: 'format' must be {FORMAT!r}")
        validate(meta, "network", f"network file {json_path}")
        npz_path = _weights_path(json_path, meta.get("weights_file", json_path.stem + ".npz"))
        layers_meta = meta.get("layers")
        if not isinstance(layers_meta, list):
            raise InputError(f"network file {json_path}: 'layers' must be a list")
        arrays = load_npz(read_bytes(npz_path, "weights file"), npz_path, "weights file")
        layers = []
        for i, lm in enumerate(layers_meta):
            if not isinstance(lm, dict) or "name" not in lm:
                raise InputError(f"network file {json_path}: layers[{i}] needs a 'name'")
            key = f"layer_{i}"
            if key not in arrays:
                raise InputError(f"weights file {npz_path} has no array {key!r} "
                                 f"for layer {lm['name']!r}")
            w = arrays[key]
            if list(w.shape) != list(lm.get("shape", w.shape)):
                raise InputError(f"layer {lm['name']!r}: weights shape {list(w.shape)} does not "
                                 f"match the declared shape {lm['shape']}")
            windows = {}
            for k, producer in enumerate(lm.get("windows", [])):
                if f"window_{i}_{k}" not in arrays:
                    raise InputError(f"weights file {npz_path} has no array 'window_{i}_{k}' "
                                     f"for layer {lm['name']!r}'s window on {producer!r}")
                windows[producer] = arrays[f"window_{i}_{k}"]
            layers.append(Layer(name=lm["name"], weights=w, n_inputs=lm.get("n_inputs", 1),
                                deps=lm.get("deps"), kind=lm.get("kind", "fc"),
                                info=lm.get("info", {}), groups=lm.get("groups", 1),
                                windows=windows))
        net = cls(name=str(meta.get("name", json_path.stem)), layers=tuple(layers),
                  weight_bits=meta.get("weight_bits", 8),
                  encoding=meta.get("encoding", "differential"),
                  source=str(meta.get("source", "")))
        stored = meta.get("sha256")
        if stored is not None and stored != net.content_hash():
            raise InputError(f"network file {json_path}: content hash mismatch (stored "
                             f"{stored[:12]}..., computed {net.content_hash()[:12]}...): "
                             "the files were modified or do not belong together")
        return net


def _check_geometry(layer: Layer, inputs: dict[str, int]) -> None:
    """A layer whose windows come from geometry (``info["window_geometry"]``, written by the
    importer and the generators) holds exactly the windows that geometry gives."""
    geometry = layer.info.get("window_geometry")
    if geometry is None:
        return
    owner = f"Layer {layer.name!r}"
    if not isinstance(geometry, dict) or set(geometry) != set(layer.windows):
        raise InputError(f"{owner}: info.window_geometry names "
                         f"{sorted(geometry) if isinstance(geometry, dict) else geometry!r}, "
                         f"its windows are on {sorted(layer.windows)}")
    for d, tree in geometry.items():
        want = evaluate(tree, inputs, f"{owner}: window geometry on {d!r}")
        if want.size != layer.n_inputs or not np.array_equal(want, layer.windows[d]):
            raise InputError(f"{owner}: the window on {d!r} differs from the one its "
                             "geometry (info.window_geometry) gives")


def _weights_path(json_path: Path, name: object) -> Path:
    """The weights file a network JSON names: inside the JSON's folder (symlinks
    resolved), never an absolute path or one that climbs out of it."""
    base = json_path.resolve().parent
    text = str(name)
    target = (base / text).resolve()
    if not text or Path(text).is_absolute() or not target.is_relative_to(base):
        raise InputError(f"network file {json_path}: 'weights_file' = {text!r} is invalid: "
                         f"a file name inside the network file's folder {base}")
    return target
