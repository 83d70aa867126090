"""Layout methods: which row and column permutations to apply before tiling.

- ``none``: the tiles as imported.
- ``magnitude``: the sorted-sections baseline after Farias & Kung (2024,
  "Efficient Reprogramming of Memristive Crossbars for DNNs: Weight Sorting and
  Bit Stucking", arXiv:2410.21730) as far as its description allows: input
  rows sorted by their total magnitude ``sum_n |W[k, n]|`` and output channels
  by theirs, ascending, so that each row tile is a section of similar
  magnitude (small sections have all-zero high-order slices) and consecutive
  sections, which are reprogrammed one after another, are similar. Their
  per-cell partial reprogramming ("bit stucking") changes the function and is
  not reproduced.
- ``similarity``: rows ordered along a greedy nearest-neighbour path of their
  weight vectors (squared Euclidean distance; above :data:`DENSE_ROWS` rows, by
  the projection on the first principal direction instead), then dealt
  into the row tiles *lane by lane*: position ``i`` of tile ``t`` gets path
  entry ``i * T + t`` (T tiles), so that the same position of consecutive
  tiles holds neighbours on the path and blocks ``(t, n)`` and ``(t + 1, n)``
  differ little. Output channels likewise, where a block holds several
  channels (``ou_cols`` wider than a channel's sign and slice cells);
  otherwise the column order cannot change a block and stays.
- ``auto``: per layer, the one of ``none``, ``magnitude`` and ``similarity``
  whose tiles are cheapest to program along the sorted chain (every distinct
  non-zero pattern of the layer once, in pattern order, each programmed over
  the previous one: the ``sorted`` baseline's cost, a proxy of what any
  mapping pays); ties keep ``none``.

Every method is exact: the function is unchanged, only the tiles change.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pimopt.architecture import Architecture
from pimopt.encoding import n_signs, n_slices
from pimopt.errors import InputError
from pimopt.instance import Instance
from pimopt.interrupt import expired
from pimopt.latency import pair_costs
from pimopt.layout.layout import Layout, Perm
from pimopt.network import Layer, Network

LAYOUTS = ("none", "magnitude", "similarity", "auto")
DENSE_ROWS = 4096  # above: a projection order instead of the O(K^2) nearest-neighbour path
_CHUNK = 1024  # rows per distance block (float32 K x chunk)


def _ascending(key: NDArray[np.float64]) -> NDArray[np.int64]:
    return np.argsort(key, kind="stable").astype(np.int64)


def _projection_order(x: NDArray[np.float64], seed: int) -> NDArray[np.int64]:
    """Rows sorted by their projection on the first principal direction (power iteration)."""
    c = x - x.mean(axis=0)
    v = np.random.default_rng(seed).standard_normal(c.shape[1])
    for _ in range(20):
        v = c.T @ (c @ v)
        n = np.linalg.norm(v)
        if n == 0:
            return np.arange(x.shape[0], dtype=np.int64)
        v /= n
    return _ascending(c @ v)


def _path_order(x: NDArray[np.float64], seed: int, deadline: float | None) -> NDArray[np.int64]:
    """A greedy nearest-neighbour path through the rows of ``x`` (squared distances).

    Starts at the row of least norm; falls back to the projection order above
    :data:`DENSE_ROWS` rows or when the deadline passes.
    """
    k = x.shape[0]
    if k <= 2:
        return np.arange(k, dtype=np.int64)
    if k > DENSE_ROWS:
        return _projection_order(x, seed)
    a = x.astype(np.float32)
    sq = (a * a).sum(axis=1)
    d = np.empty((k, k), dtype=np.float32)
    for lo in range(0, k, _CHUNK):
        d[lo: lo + _CHUNK] = sq[lo: lo + _CHUNK, None] + sq[None, :] - 2 * (a[lo: lo + _CHUNK]
                                                                            @ a.T)
        if expired(deadline):
            return _projection_order(x, seed)
    order = np.empty(k, dtype=np.int64)
    cur = int(np.argmin(sq))
    d[:, cur] = np.inf
    order[0] = cur
    for i in range(1, k):
        row = d[cur]
        cur = int(np.argmin(row))
        order[i] = cur
        d[:, cur] = np.inf
    return order


def _lanes(order: NDArray[np.int64], width: int) -> NDArray[np.int64]:
    """Deal a path into tiles of ``width`` positions lane by lane.

    With ``T = ceil(len / width)`` tiles (the last one holding ``rem`` rows),
    lane ``i`` (position ``i`` of every tile that has it) takes the next ``T``
    path entries if ``i < rem``, else ``T - 1``: position ``i`` of tiles ``t``
    and ``t + 1`` holds neighbours on the path.
    """
    size = order.size
    if width <= 1 or size <= width:
        return order
    tiles = -(-size // width)
    rem = size - (tiles - 1) * width
    out = np.empty(size, dtype=np.int64)
    start = 0
    for i in range(width):
        n = tiles if i < rem else tiles - 1
        out[np.arange(n) * width + i] = order[start: start + n]
        start += n
    return out


def channels_per_block(arch: Architecture, network: Network) -> int:
    """Output channels one OU block holds side by side (0 if a channel spans blocks)."""
    cells = n_signs(network.encoding) * n_slices(network.weight_bits, arch.cell_bits)
    return arch.ou_cols // cells


def _magnitude(w: NDArray[np.int64]) -> tuple[Perm, Perm]:
    a = np.abs(w).astype(np.float64)
    return _ascending(a.sum(axis=1)), _ascending(a.sum(axis=0))


def _similarity(w: NDArray[np.int64], arch: Architecture, cpb: int, seed: int,
                deadline: float | None) -> tuple[Perm, Perm]:
    x = w.astype(np.float64)
    rows = _lanes(_path_order(x, seed, deadline), arch.ou_rows)
    cols = _lanes(_path_order(x.T, seed, deadline), cpb) if cpb > 1 else None
    return rows, cols


def _one_layer(network: Network, layer: Layer, rows: Perm, cols: Perm) -> Network:
    """Layer ``layer`` alone (no dependencies), laid out by ``rows`` and ``cols``."""
    la = Layer(layer.name, layer.weights, layer.n_inputs, (), layer.kind, groups=layer.groups)
    alone = Network(network.name, (la,), network.weight_bits, network.encoding)
    return Layout((rows,), (cols,), "candidate").apply(alone)


def sorted_chain_ps(inst: Instance) -> int:
    """Programming latency (ps) of every distinct non-zero pattern once, in pattern order,
    each written over the previous one (the first over an erased slot).

    Pattern ids are assigned in lexicographic order of the patterns, so this is
    the ``sorted`` baseline's chain through one slot: the proxy ``auto`` compares.
    """
    nz = inst.nonzero_blocks
    if nz.size == 0:
        return 0
    pid = inst.pattern_id[nz]
    _, first = np.unique(pid, return_index=True)  # ids ascending = pattern order
    pats = inst.patterns[nz[first]]
    prev = np.concatenate([np.zeros_like(pats[:1]), pats[:-1]])
    return int(pair_costs(inst.arch, prev, pats).latency_ps.sum())


def make_layout(network: Network, arch: Architecture, method: str = "auto", *,
                time_limit: float | None = None, seed: int = 0) -> Layout:
    """The layout ``method`` gives ``network`` on ``arch``.

    Parameters
    ----------
    network, arch
        The workload before layout and the accelerator whose OU size and cell
        encoding decide the tiles.
    method
        One of :data:`LAYOUTS`.
    time_limit
        Seconds for the whole layout; layers not reached keep their order
        (``info["cut_short"]``), and the nearest-neighbour path yields to the
        projection order.
    seed
        Seed of the projection's power iteration.
    """
    if method not in LAYOUTS:
        raise InputError(f"layout = {method!r} is invalid: one of {', '.join(LAYOUTS)}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**31:
        raise InputError(f"seed = {seed!r} is invalid: an integer from 0 to {2**31 - 1}")
    t0 = time.perf_counter()
    deadline = None if time_limit is None else t0 + time_limit
    n = len(network.layers)
    rows: list[Perm] = [None] * n
    cols: list[Perm] = [None] * n
    info: dict[str, Any] = {"cut_short": False}
    if method == "none":
        return Layout(tuple(rows), tuple(cols), method, network.content_hash())
    cpb = channels_per_block(arch, network)
    chosen: list[str] = ["none"] * n
    proxy: list[dict[str, int]] = [{} for _ in range(n)]
    for i, la in enumerate(network.layers):
        if expired(deadline):
            info["cut_short"] = True
            break
        w = la.weights.astype(np.int64)
        cands: dict[str, tuple[Perm, Perm]] = {}
        # a grouped layer's channels stay where they are (they may not change groups)
        if method in ("magnitude", "auto"):
            r, c = _magnitude(w)
            cands["magnitude"] = (r, c if la.groups == 1 else None)
        if method in ("similarity", "auto"):
            r, c = _similarity(w, arch, cpb, seed, deadline)
            cands["similarity"] = (r, c if la.groups == 1 else None)
        if method != "auto":
            rows[i], cols[i] = cands[method]
            chosen[i] = method
            continue
        cands = {"none": (None, None), **cands}
        for name, (r, c) in cands.items():
            proxy[i][name] = sorted_chain_ps(Instance(arch, _one_layer(network, la, r, c)))
        best = min(cands, key=lambda k: (proxy[i][k], k != "none"))
        rows[i], cols[i] = cands[best]
        chosen[i] = best
    info["layers"] = {la.name: chosen[i] for i, la in enumerate(network.layers)}
    if method == "auto":
        info["sorted_chain_ps"] = {la.name: proxy[i] for i, la in enumerate(network.layers)
                                   if proxy[i]}
    info["seconds"] = round(time.perf_counter() - t0, 3)
    return Layout(tuple(rows), tuple(cols), method, network.content_hash(), info)
