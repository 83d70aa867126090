"""A :class:`Layout`: function-preserving row and column permutations of every layer
(docs/model.md, *Workload*).

Before tiling, layer ``l``'s K x N weight matrix ``W`` may be laid out as
``W[rows][:, cols]``: row ``j`` of the laid-out matrix is input feature
``rows[j]`` (the input vector is gathered the same way, ``x[rows]``), and
output column ``j`` is output channel ``cols[j]`` with all its sign and slice
cell columns (the outputs are scattered back, ``y[cols] = y_laid_out``). The
function ``x @ W`` is unchanged; which blocks are zero, identical or similar
changes.

File (``layout.json``)::

    {"format": "pimopt-layout", "version": 1, "method": "similarity",
     "network_sha256": "<the original network's content hash>",
     "layers": [{"name": "conv1", "rows": [2, 0, 1, ...] or null,
                 "cols": [...] or null}, ...]}

``null`` is the identity. A schedule made with a layout stores it in its
header (key ``layout``), so that the schedule alone can be verified.
"""

from __future__ import annotations

import hashlib
import json
import weakref
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pimopt.errors import InputError
from pimopt.instance import Instance
from pimopt.io.files import read_json, write_atomic
from pimopt.io.schemas import validate
from pimopt.network import Network

FORMAT = "pimopt-layout"

Perm = NDArray[np.int64] | None


def _perm(value: object, where: str) -> Perm:
    if value is None:
        return None
    a = np.asarray(value)
    if a.ndim != 1 or (a.size and a.dtype.kind not in "iu"):
        raise InputError(f"{where} must be a 1-D integer array or null, got {a.dtype} with "
                         f"shape {a.shape}")
    return a.astype(np.int64)


@dataclass(frozen=True, eq=False)
class Layout:
    """Row and column permutations per layer (``None``: identity).

    Parameters
    ----------
    rows, cols
        One entry per layer of the network the layout is for: ``rows[l]`` a
        permutation of ``range(K_l)``, ``cols[l]`` of ``range(N_l)``, or ``None``.
    method
        The method that made it (``none``, ``magnitude``, ``similarity``, ``auto``).
    network_sha256
        Content hash of the network (before layout) it was made for; ``""`` unknown.
    info
        What the layout method reported (per-layer choices, seconds, ...).
    """

    rows: tuple[Perm, ...]
    cols: tuple[Perm, ...]
    method: str = "none"
    network_sha256: str = ""
    info: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if len(self.rows) != len(self.cols):
            raise InputError(f"Layout has {len(self.rows)} row and {len(self.cols)} column "
                             "permutations: one of each per layer")
        object.__setattr__(self, "rows", tuple(_perm(p, f"Layout.rows[{i}]")
                                               for i, p in enumerate(self.rows)))
        object.__setattr__(self, "cols", tuple(_perm(p, f"Layout.cols[{i}]")
                                               for i, p in enumerate(self.cols)))
        if not isinstance(self.method, str) or not self.method:
            raise InputError(f"Layout.method = {self.method!r} is invalid: a non-empty string")

    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        moved = sum(p is not None for p in self.rows + self.cols)
        return (f"Layout(method={self.method!r}, layers={len(self)}, "
                f"permutations={moved} of {2 * len(self)})")

    @classmethod
    def identity(cls, network: Network) -> Layout:
        """The layout that changes nothing."""
        n = len(network.layers)
        return cls((None,) * n, (None,) * n, "none", network.content_hash())

    @property
    def is_identity(self) -> bool:
        """True if no layer is permuted."""
        return all(p is None or bool(np.array_equal(p, np.arange(p.size)))
                   for p in self.rows + self.cols)

    # ------------------------------------------------------------------ checks
    def problem(self, network: Network) -> str | None:
        """Why this layout does not fit ``network`` (``None``: it fits).

        Every permutation must be a permutation of its layer's rows or output
        columns, and a recorded network hash must be the network's.
        """
        if self.network_sha256 and self.network_sha256 != network.content_hash():
            return (f"the layout was made for network {self.network_sha256[:12]}..., this is "
                    f"{network.content_hash()[:12]}...")
        if len(self) != len(network.layers):
            return (f"the layout has {len(self)} layers, network {network.name!r} has "
                    f"{len(network.layers)}")
        for la, r, c in zip(network.layers, self.rows, self.cols, strict=True):
            if c is not None and la.groups > 1 and c.size == la.shape[1]:
                ng = la.shape[1] // la.groups  # a channel may not leave its group's inputs
                if np.any(c // ng != np.arange(c.size) // ng):
                    j = int(np.flatnonzero(c // ng != np.arange(c.size) // ng)[0])
                    return (f"layer {la.name!r}: layout cols moves output channel {int(c[j])} "
                            f"into group {j // ng}, outside its own group of {la.groups}")
            for what, p, size in (("rows", r, la.shape[0]), ("cols", c, la.shape[1])):
                if p is None:
                    continue
                if p.size != size:
                    return (f"layer {la.name!r}: layout {what} has {p.size} entries, the "
                            f"layer has {size}")
                seen = np.zeros(size, dtype=bool)
                ok = p.size == 0 or (p.min() >= 0 and p.max() < size)
                if ok:
                    seen[p] = True
                if not ok or not seen.all():
                    bad = int(np.flatnonzero(~seen)[0]) if ok else int(
                        p[(p < 0) | (p >= size)][0])
                    return (f"layer {la.name!r}: layout {what} is not a permutation of "
                            f"0..{size - 1} ({bad} is " + ("missing)" if ok else "out of range)"))
        return None

    def check(self, network: Network) -> None:
        """Raise :class:`InputError` if the layout does not fit ``network``."""
        why = self.problem(network)
        if why:
            raise InputError(f"layout {self.method!r}: {why}")

    # ------------------------------------------------------------------ use
    def apply(self, network: Network) -> Network:
        """The laid-out network: every layer's weights ``W[rows][:, cols]``.

        Names, ``n_inputs`` and dependencies are kept; each permuted layer's
        ``info["layout"]`` says so.
        """
        self.check(network)
        layers = []
        for la, r, c in zip(network.layers, self.rows, self.cols, strict=True):
            if r is None and c is None:
                layers.append(la)
                continue
            w = la.weights
            if r is not None:
                w = w[r]
            if c is not None:
                w = w[:, c]
            layers.append(replace(la, weights=w, info={**la.info, "layout": self.method}))
        src = f"{network.source} (layout {self.method})" if network.source else \
            f"layout {self.method}"
        return replace(network, layers=tuple(layers), source=src)

    def gather_inputs(self, layer: int, x: NDArray[np.int64], groups: int = 1
                      ) -> NDArray[np.int64]:
        """The crossbar inputs of layer ``layer``: ``x[:, rows]`` (x is S x K); for a
        grouped layer (x is S x G*K) the same row order inside every group's inputs."""
        r = self.rows[layer]
        if r is None:
            return x
        if groups == 1:
            return x[:, r]
        s = x.shape[0]
        return x.reshape(s, groups, -1)[:, :, r].reshape(s, -1)

    def scatter_outputs(self, layer: int, y: NDArray[np.int64]) -> NDArray[np.int64]:
        """The layer's outputs in the original channel order from the crossbars' ``y``."""
        c = self.cols[layer]
        if c is None:
            return y
        out = np.empty_like(y)
        out[:, c] = y
        return out

    # ------------------------------------------------------------------ identity
    def digest(self) -> str:
        """SHA-256 over the permutations (identity entries included as such)."""
        h = hashlib.sha256()
        for p in self.rows + self.cols:
            h.update(b"I" if p is None else b"P" + np.ascontiguousarray(p, "<i8").tobytes())
        return h.hexdigest()

    def equals(self, other: Layout | None) -> bool:
        """Same permutations (identity and ``None`` entries compare equal)."""
        if other is None:
            return self.is_identity
        if len(other) != len(self):
            return False

        def same(a: Perm, b: Perm) -> bool:
            if a is None or b is None:
                c = b if a is None else a
                return c is None or bool(np.array_equal(c, np.arange(c.size)))
            return bool(np.array_equal(a, b))

        return all(same(a, b) for a, b in zip(self.rows + self.cols, other.rows + other.cols,
                                              strict=True))

    # ------------------------------------------------------------------ I/O
    def to_json(self, network: Network | None = None) -> dict[str, Any]:
        """The ``layout.json`` content (layer names from ``network`` when given)."""
        names = [la.name for la in network.layers] if network is not None else \
            [f"layer_{i}" for i in range(len(self))]
        out: dict[str, Any] = {
            "format": FORMAT, "version": 1, "method": self.method,
            "network_sha256": self.network_sha256,
            "layers": [{"name": n, "rows": None if r is None else r.tolist(),
                        "cols": None if c is None else c.tolist()}
                       for n, r, c in zip(names, self.rows, self.cols, strict=True)]}
        if self.info:
            out["info"] = self.info
        return out

    def dumps(self, network: Network | None = None) -> str:
        """``layout.json`` text."""
        return json.dumps(self.to_json(network), separators=(",", ":")) + "\n"

    def save(self, path: str | Path, network: Network | None = None) -> None:
        """Write ``layout.json`` atomically."""
        write_atomic(Path(path), self.dumps(network))

    @classmethod
    def from_json(cls, data: Any, source: str = "layout") -> Layout:
        """Build from :meth:`to_json`'s dict; errors name the field and value."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise InputError(f"{source}: 'format' must be {FORMAT!r}")
        validate(data, "layout", source)
        layers = data["layers"]
        return cls(tuple(la.get("rows") for la in layers), tuple(la.get("cols") for la in layers),
                   str(data.get("method", "none")), str(data.get("network_sha256", "")),
                   data.get("info"))

    @classmethod
    def load(cls, path: str | Path) -> Layout:
        """Read ``layout.json``."""
        return cls.from_json(read_json(path, "layout file"), source=f"layout file {path}")


# one laid-out instance per (instance, layout): results, reports and the verifier share it
_LAID_OUT: weakref.WeakKeyDictionary[Instance, dict[str, Instance]] = \
    weakref.WeakKeyDictionary()


def laid_out(inst: Instance, layout: Layout | None) -> Instance:
    """The instance whose tiles the layout makes (``inst`` itself for no layout)."""
    if layout is None or layout.is_identity:
        return inst
    per = _LAID_OUT.setdefault(inst, {})
    key = layout.digest()
    if key not in per:
        per[key] = Instance(inst.arch, layout.apply(inst.network))
    return per[key]


def layout_info(inst: Instance, layout: Layout | None) -> dict[str, Any]:
    """Blocks of ``inst`` before and after ``layout`` (total, zero, distinct non-zero
    patterns) and what the layout method reported."""
    def counts(i: Instance) -> dict[str, int]:
        return {"blocks": i.n_blocks, "zero": i.n_blocks - i.n_nonzero,
                "distinct_nonzero": i.n_distinct_nonzero}

    return {"method": "none" if layout is None else layout.method,
            "before": counts(inst), "after": counts(laid_out(inst, layout)),
            **({} if layout is None or not layout.info else {"report": layout.info})}
