"""An instance: an :class:`Architecture` and a :class:`Network`, cut into OU blocks.

Blocks are numbered layer by layer, row-major over (row tile, column tile) of
each layer's cell matrix. A block is *zero* when all its cells are level 0;
blocks with identical cell patterns share a ``pattern_id``.

A grouped layer (``Layer.groups = G``) is tiled group by group: each group's
cell columns are padded to whole column tiles of their own, so that no OU
mixes two groups (they read different inputs); column tile ``u`` belongs to
group ``u // group_tiles``. The zero blocks off the block diagonal never exist.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from pimopt.architecture import MAX_TIME_PS, Architecture, load_architecture
from pimopt.encoding import encode_cells, n_signs, n_slices
from pimopt.errors import InputError
from pimopt.network import Network


@dataclass(frozen=True)
class LayerTiling:
    """How one layer's cell matrix is cut into blocks."""

    first_block: int
    row_tiles: int
    col_tiles: int
    cell_cols: int
    groups: int = 1
    group_tiles: int = 0  # column tiles per group (0: col_tiles, ungrouped)

    @property
    def tiles_per_group(self) -> int:
        """Column tiles of one group (all of them for an ungrouped layer)."""
        return self.group_tiles or self.col_tiles

    @property
    def n_blocks(self) -> int:
        """Blocks of the layer (zero blocks included)."""
        return self.row_tiles * self.col_tiles


class Instance:
    """A scheduling problem: hardware plus workload, with its OU blocks.

    Parameters
    ----------
    arch
        The accelerator.
    network
        The workload.
    """

    def __repr__(self) -> str:
        return (f"Instance(network={self.network.name!r}, arch={self.arch.name!r}, "
                f"blocks={self.n_blocks:,}, non_zero={self.n_nonzero:,}, "
                f"distinct={self.n_distinct_nonzero:,})")

    def __init__(self, arch: Architecture, network: Network) -> None:
        if not isinstance(arch, Architecture):
            raise InputError(f"Instance: arch must be an Architecture (load_architecture(name "
                             f"or path) makes one), got {type(arch).__name__}")
        if not isinstance(network, Network):
            raise InputError(f"Instance: network must be a Network (Network.load(path) makes "
                             f"one), got {type(network).__name__}")
        self.arch = arch
        self.network = network
        tilings: list[LayerTiling] = []
        first = 0
        slices = n_slices(network.weight_bits, arch.cell_bits)
        signs = n_signs(network.encoding)
        for layer in network.layers:
            k, n = layer.shape
            m = n * signs * slices
            per_group = -(-(m // layer.groups) // arch.ou_cols)
            t = LayerTiling(first, -(-k // arch.ou_rows), per_group * layer.groups, m,
                            layer.groups, per_group if layer.groups > 1 else 0)
            tilings.append(t)
            first += t.n_blocks
        self.tilings: tuple[LayerTiling, ...] = tuple(tilings)
        self.n_blocks: int = first
        # integer picoseconds end to end: refuse what a schedule file could not hold

        for layer in network.layers:
            if arch.compute_ps(layer.n_inputs) > MAX_TIME_PS:
                raise InputError(
                    f"layer {layer.name!r}: n_inputs = {layer.n_inputs} takes "
                    f"{arch.compute_ps(layer.n_inputs) / 1e12:,.0f} s per block on "
                    f"architecture {arch.name!r}, more than the {MAX_TIME_PS / 1e12:,.0f} s "
                    "a schedule may last")
        # every schedule computes the layers of a dependency path one after another (layer
        # barrier), each for at least one block's inputs: refused before any solving
        # when that alone passes what a schedule may last
        deps = network.dependencies()
        reach: list[int] = []
        for i, layer in enumerate(network.layers):
            reach.append(arch.compute_ps(layer.n_inputs)
                         + max((reach[d] for d in deps[i]), default=0))
        if reach and max(reach) > MAX_TIME_PS:
            raise InputError(
                f"network {network.name!r}: its longest dependency path computes for at "
                f"least {max(reach) / 1e12:,.0f} s on architecture {arch.name!r} (n_inputs "
                f"per layer), more than the {MAX_TIME_PS / 1e12:,.0f} s a schedule may last")

    # ------------------------------------------------------------------ blocks
    def cell_matrix(self, layer: int) -> NDArray[np.uint8]:
        """The cell-level matrix of one layer (unpadded)."""
        net = self.network
        return encode_cells(net.layers[layer].weights, net.weight_bits, self.arch.cell_bits,
                            net.encoding)

    @cached_property
    def patterns(self) -> NDArray[np.uint8]:
        """Cell patterns of all blocks, shape (blocks, ou_rows, ou_cols)."""
        r, c = self.arch.ou_rows, self.arch.ou_cols
        out = np.empty((self.n_blocks, r, c), dtype=np.uint8)
        for i, t in enumerate(self.tilings):
            cells = self.cell_matrix(i)
            padded = np.zeros((t.row_tiles * r, t.col_tiles * c), dtype=np.uint8)
            mg = t.cell_cols // t.groups  # every group starts a column tile of its own
            for g in range(t.groups):
                padded[: cells.shape[0], g * t.tiles_per_group * c: g * t.tiles_per_group * c
                       + mg] = cells[:, g * mg:(g + 1) * mg]
            tiles = padded.reshape(t.row_tiles, r, t.col_tiles, c).transpose(0, 2, 1, 3)
            out[t.first_block: t.first_block + t.n_blocks] = tiles.reshape(-1, r, c)
        return out

    @cached_property
    def block_layer(self) -> NDArray[np.int32]:
        """Layer index of every block."""
        return np.repeat(np.arange(len(self.tilings), dtype=np.int32),
                         [t.n_blocks for t in self.tilings])

    @cached_property
    def block_tile(self) -> NDArray[np.int32]:
        """(row tile, column tile) of every block, shape (blocks, 2)."""
        parts = [np.stack(np.divmod(np.arange(t.n_blocks), t.col_tiles), axis=1)
                 for t in self.tilings]
        return np.concatenate(parts).astype(np.int32)

    @cached_property
    def block_n_inputs(self) -> NDArray[np.int64]:
        """Input vectors every block must compute."""
        n = np.array([la.n_inputs for la in self.network.layers], dtype=np.int64)
        return n[self.block_layer]

    @cached_property
    def is_zero(self) -> NDArray[np.bool_]:
        """True for all-zero blocks (no programming, no compute)."""
        return np.asarray(~self.patterns.reshape(self.n_blocks, -1).any(axis=1))

    @cached_property
    def nonzero_blocks(self) -> NDArray[np.int64]:
        """Indices of the non-zero blocks."""
        return np.flatnonzero(~self.is_zero)

    @cached_property
    def pattern_id(self) -> NDArray[np.int64]:
        """Identical patterns share an id (ids are dense, 0-based)."""
        flat = np.ascontiguousarray(self.patterns.reshape(self.n_blocks, -1))
        keys = flat.view(np.dtype((np.void, flat.shape[1]))).ravel()
        _, inverse = np.unique(keys, return_inverse=True)
        return inverse.astype(np.int64).ravel()

    @property
    def n_nonzero(self) -> int:
        """Number of non-zero blocks."""
        return int(self.nonzero_blocks.size)

    @property
    def n_distinct_nonzero(self) -> int:
        """Distinct patterns among the non-zero blocks."""
        return int(np.unique(self.pattern_id[self.nonzero_blocks]).size)

    # ------------------------------------------------------------------ identity
    def content_hash(self) -> str:
        """SHA-256 over the network's content hash and every architecture parameter."""
        blob = json.dumps({"network": self.network.content_hash(),
                           "architecture": self.arch.to_dict()}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()

    def summary(self) -> list[dict[str, object]]:
        """One row per layer: shape, cell matrix, blocks, zero blocks, distinct patterns."""
        rows = []
        for i, (layer, t) in enumerate(zip(self.network.layers, self.tilings, strict=True)):
            sl = slice(t.first_block, t.first_block + t.n_blocks)
            zero = int(self.is_zero[sl].sum())
            pid = self.pattern_id[sl][~self.is_zero[sl]]
            rows.append({"layer": layer.name, "kind": layer.kind,
                         "weights": f"{layer.shape[0]}x{layer.shape[1]}"
                         + ("" if layer.groups == 1 else f" in {layer.groups} groups"),
                         "cells": f"{layer.shape[0]}x{t.cell_cols}",
                         "blocks": t.n_blocks, "zero": zero,
                         "distinct": int(np.unique(pid).size), "n_inputs": layer.n_inputs,
                         "deps": ",".join(self.network.layers[d].name
                                          for d in self.network.dependencies()[i])})
        return rows


def default_instance_path() -> Path:
    """Path of the bundled default network (LeNet-5 shapes)."""
    return Path(__file__).parent / "data" / "lenet5.json"


def load_instance(network_path: str | Path | None = None,
                  arch: str | Path | Architecture | None = None) -> Instance:
    """Load a network file and an architecture (preset name, TOML path or object)."""
    if network_path is not None and not isinstance(network_path, (str, Path)):
        raise InputError(f"load_instance: network_path must be a path (str or Path) or None "
                         f"for the default instance, got {type(network_path).__name__}")
    net = Network.load(default_instance_path() if network_path is None else network_path)
    a = arch if isinstance(arch, Architecture) else load_architecture(arch)
    return Instance(a, net)
