"""Chain problems of an instance (per layer or one for the whole network), solved by
a chain method, and the mapping their chains make.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pimopt.chains.problem import (
    ChainProblem,
    Chains,
    LayerItems,
    flatten_chains,
    layer_items,
    min_rounds,
)
from pimopt.instance import Instance
from pimopt.interrupt import seconds_left
from pimopt.mapping import Mapping
from pimopt.methods.chain_methods import CHAIN_METHODS, EXACT_MODELS, ChainOptions
from pimopt.stop import MAP_OVERHEAD_PER_BLOCK_S


def chains_to_mapping(inst: Instance, layers: list[LayerItems],
                      per_layer: list[Chains]) -> Mapping:
    """Turn per-layer chains (item indices) into a mapping; positions continue across layers."""
    spc = inst.arch.slots_per_crossbar
    n_slots = inst.arch.total_slots
    pos = np.zeros(n_slots, dtype=np.int64)
    parts: list[NDArray[np.int64]] = []
    for li, chains in zip(layers, per_layer, strict=True):
        # every item's slot and position, vectorised over the chains
        flat, lengths = flatten_chains(chains)
        g = np.repeat(np.arange(n_slots, dtype=np.int64), lengths)
        within = np.arange(flat.size, dtype=np.int64) - np.repeat(np.cumsum(lengths) - lengths,
                                                                  lengths)
        item_slot = np.empty(len(li.patterns), dtype=np.int64)
        item_pos = np.empty(len(li.patterns), dtype=np.int64)
        item_slot[flat] = g
        item_pos[flat] = pos[g] + within
        pos += lengths
        slot, position = item_slot[li.item_of_block], item_pos[li.item_of_block]
        # rows slot by slot, position by position, a load's blocks in layer order
        order = np.lexsort((np.arange(li.blocks.size), position, slot))
        parts.append(np.stack([li.blocks[order], slot[order] // spc, slot[order] % spc,
                               position[order]], axis=1))
    arr = np.concatenate(parts) if parts else np.zeros((0, 4), dtype=np.int64)
    return Mapping(block=arr[:, 0], crossbar=arr[:, 1], slot=arr[:, 2], position=arr[:, 3])


def split_chains(chains: Chains, sizes: list[int], offsets: list[int]) -> list[Chains]:
    """Split whole-network chains (global item ids) into per-layer chains (local ids)."""
    out: list[Chains] = []
    for off, size in zip(offsets, sizes, strict=True):
        out.append([[v - off for v in ch if off <= v < off + size] for ch in chains])
    return out


def map_chains(inst: Instance, method: str, metric: str, opts: ChainOptions, decomposition: str,
               info: dict[str, Any], reuse: bool = True
               ) -> tuple[Mapping, str, float | None, int]:
    """Run a chain method; returns (mapping, status, bound of the method, claimed cost).

    The methods get ``opts.time_limit`` minus the time this function itself
    takes around them (items, and the mapping built from the chains, estimated
    at :data:`MAP_OVERHEAD_PER_BLOCK_S`); with the layer decomposition each
    layer gets the time left in proportion to its share of the items left, so
    an overrun of one layer shortens the next ones instead of the limit.
    """
    t_start = time.perf_counter()
    deadline = t_start + opts.time_limit - MAP_OVERHEAD_PER_BLOCK_S * inst.n_nonzero
    layers = layer_items(inst, reuse)
    arch = inst.arch
    s = arch.total_slots
    fn = CHAIN_METHODS[method]
    if decomposition == "whole":
        opts = ChainOptions(max(seconds_left(deadline), 0.05), opts.seed, opts.workers,
                       opts.initial)
        items = np.concatenate([li.patterns for li in layers])
        lay = np.concatenate([np.full(len(li.patterns), li.layer) for li in layers])
        cap = {li.layer: min_rounds(len(li.patterns), s) for li in layers}
        p = ChainProblem(arch, np.zeros((s, arch.ou_rows, arch.ou_cols), np.uint8), items, lay,
                         cap, metric)
        out = fn(p, opts)
        # exact models solve the problem without the round limit (see _exact)
        p.check_solution(out.chains, method, round_limit=method not in EXACT_MODELS)
        sizes = [len(li.patterns) for li in layers]
        offsets = list(np.cumsum([0, *sizes[:-1]]))
        info["layers"] = [{"status": out.status, "bound": out.bound, **out.info}]
        return (chains_to_mapping(inst, layers, split_chains(out.chains, sizes, offsets)),
                out.status, out.bound, p.evaluate(out.chains))
    starts = np.zeros((s, arch.ou_rows, arch.ou_cols), np.uint8)
    per_layer: list[Chains] = []
    claimed = 0
    info["layers"] = []
    items_left = sum(len(li.patterns) for li in layers)
    for li in layers:
        n = len(li.patterns)
        p = ChainProblem(arch, starts, li.patterns, np.zeros(n, np.int64),
                         {0: min_rounds(n, s)}, metric)
        left = seconds_left(deadline)
        share = ChainOptions(max(left * n / items_left, 0.05), opts.seed, opts.workers,
                        opts.initial)
        items_left -= n
        t0 = time.perf_counter()
        out = fn(p, share)
        p.check_solution(out.chains, method, round_limit=method not in EXACT_MODELS)
        cost = p.evaluate(out.chains)
        claimed += cost
        info["layers"].append({"layer": inst.network.layers[li.layer].name, "items": n,
                               "cost": cost, "status": out.status, "bound": out.bound,
                               "seconds": time.perf_counter() - t0, **out.info})
        per_layer.append(out.chains)
        starts = p.final_patterns(out.chains)
    # per-layer optimality is conditional on the starts: never global optimality
    return chains_to_mapping(inst, layers, per_layer), "feasible", None, claimed
