"""The mapping problem as chains of loads per slot (the optimisers' common model).

Every optimiser sees the same problem: ``S`` slots, each holding a start
pattern (all zero on a fresh chip, or what the previous layer left), and
``n`` *items* (the distinct non-zero patterns of one layer, or of several
layers for a whole-network model). A solution gives every slot a *chain*,
the ordered items it loads. Loading item ``v`` into a slot that holds ``u``
costs ``d(u, v)`` from :mod:`pimopt.latency` (the programming latency in ps,
or the cell writes). Rules:

- every item is loaded exactly once;
- along a chain the layer index never decreases;
- a chain loads at most ``capacity[layer]`` items of each layer; the default
  capacity is the minimum number of rounds, ``ceil(n_layer / S)``, so that
  minimising programming does not serialise the layer onto few slots.

Node numbering used by every model: ``0 .. S-1`` are the slots' start
states, ``S + i`` is item ``i``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pimopt.architecture import Architecture
from pimopt.errors import InputError, VerificationError
from pimopt.instance import Instance
from pimopt.latency import latency_from_codes, pair_costs, segment_codes, segment_memo

METRICS = ("latency", "cell_writes")
FORBIDDEN = 1 << 40  # cost of an arc no solution may use (self or backwards in layers)
DENSE_LIMIT = 5000  # largest item count for which a dense cost matrix may be built
ARC_CHUNK = 1 << 20  # arc costs per vectorised batch (bounds temporary memory)

Chains = list[list[int]]



def flatten_chains(chains: Chains) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """All chains' items end to end, and each chain's length."""
    lengths = np.fromiter((len(c) for c in chains), dtype=np.int64, count=len(chains))
    flat = np.fromiter((v for c in chains for v in c), dtype=np.int64,
                       count=int(lengths.sum()))
    return flat, lengths

@dataclass(eq=False)
class ChainProblem:
    """Chains of loads per slot; see the module docstring.

    Parameters
    ----------
    arch
        The architecture (latency model parameters).
    starts
        Pattern held by each slot at the start, (S, ou_rows, ou_cols).
    items
        Patterns to load, (n, ou_rows, ou_cols).
    item_layer
        Layer index of each item (any non-negative integers).
    capacity
        Items of one layer a chain may load, indexed by layer index.
    metric
        ``"latency"`` (ps) or ``"cell_writes"``.
    """

    arch: Architecture
    starts: NDArray[np.uint8]
    items: NDArray[np.uint8]
    item_layer: NDArray[np.int64]
    capacity: dict[int, int]
    metric: str = "latency"

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise InputError(f"metric = {self.metric!r} is invalid: one of {METRICS}")
        self.item_layer = np.asarray(self.item_layer, dtype=np.int64)
        if self.item_layer.size != len(self.items):
            raise InputError("ChainProblem.item_layer needs one entry per item")
        for layer in np.unique(self.item_layer).tolist():
            need = int((self.item_layer == layer).sum())
            if self.capacity.get(layer, 0) * self.n_slots < need:
                raise InputError(f"layer {layer}: capacity {self.capacity.get(layer, 0)} per "
                                 f"slot x {self.n_slots} slots cannot hold its {need} items")
        self._codes: NDArray[np.uint64] | None = None
        self._codes_ready = False
        self._ids: NDArray[np.int32] | None = None
        self._ids_ready = False

    @property
    def n_slots(self) -> int:
        """S."""
        return len(self.starts)

    @property
    def n_items(self) -> int:
        """n."""
        return len(self.items)

    def node_pattern(self, node: NDArray[np.int64]) -> NDArray[np.uint8]:
        """Patterns of nodes (starts ``< S``, items ``>= S``)."""
        node = np.asarray(node, dtype=np.int64)
        s = self.n_slots
        out = np.empty((node.size, *self.items.shape[1:]), dtype=np.uint8)
        is_start = node < s
        out[is_start] = self.starts[node[is_start]]
        out[~is_start] = self.items[node[~is_start] - s]
        return out

    def arc_costs(self, u: NDArray[np.int64], v: NDArray[np.int64]) -> NDArray[np.int64]:
        """Cost of loading items ``v`` into slots holding nodes ``u`` (vectorised).

        Evaluated in chunks of :data:`ARC_CHUNK` pairs: the temporaries of a
        vectorised evaluation take about 0.5 KB per pair, so tens of millions of
        pairs at once would take tens of GB.
        """
        u = np.asarray(u, dtype=np.int64).ravel()
        v = np.asarray(v, dtype=np.int64).ravel()
        if u.size > ARC_CHUNK:
            out = np.empty(u.size, dtype=np.int64)
            for lo in range(0, u.size, ARC_CHUNK):
                out[lo: lo + ARC_CHUNK] = self.arc_costs(u[lo: lo + ARC_CHUNK],
                                                         v[lo: lo + ARC_CHUNK])
            return out
        if self.metric == "latency":
            if not self._codes_ready:  # thermometer codes of all nodes, once
                self._codes = segment_codes(self.arch, np.concatenate([self.starts, self.items]))
                self._codes_ready = True
            if self._codes is not None:
                return latency_from_codes(self.arch, self._codes[u],
                                          self._codes[self.n_slots + v])
            if not self._ids_ready:  # memo ids of all nodes' segments (incremental pulses)
                self._ids = segment_memo(self.arch).ids(
                    np.concatenate([self.starts, self.items]))
                self._ids_ready = True
            if self._ids is not None:
                return segment_memo(self.arch).latency(self._ids[u], self._ids[self.n_slots + v])
        return self.arc_costs_patterns(self.node_pattern(u), v)

    def arc_costs_patterns(self, old: NDArray[np.uint8], v: NDArray[np.int64]
                           ) -> NDArray[np.int64]:
        """Cost of loading items ``v`` into slots holding the patterns ``old``."""
        c = pair_costs(self.arch, old, self.items[np.asarray(v, dtype=np.int64)])
        cost = c.latency_ps if self.metric == "latency" else c.cell_writes
        return np.asarray(cost, dtype=np.int64)

    def start_groups(self) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """(representative slot, group of every slot) for slots with identical starts."""
        flat = np.ascontiguousarray(self.starts.reshape(self.n_slots, -1))
        keys = flat.view(np.dtype((np.void, flat.shape[1]))).ravel()
        _, first, group = np.unique(keys, return_index=True, return_inverse=True)
        return first.astype(np.int64), group.ravel().astype(np.int64)

    def dense(self) -> NDArray[np.int64]:
        """Cost matrix (S + n) x n; forbidden arcs cost :data:`FORBIDDEN`.

        Raises :class:`InputError` above :data:`DENSE_LIMIT` items: large layers
        must use the scalable methods, never a dense matrix.
        """
        n, s = self.n_items, self.n_slots
        if n > DENSE_LIMIT:
            raise InputError(f"{n} items exceed the dense-matrix limit of {DENSE_LIMIT}; "
                             "use a scalable method")
        rep, group = self.start_groups()
        uu = np.repeat(np.r_[rep, s + np.arange(n)], n)
        vv = np.tile(np.arange(n), rep.size + n)
        m = self.arc_costs(uu, vv).reshape(rep.size + n, n)
        out = np.empty((s + n, n), dtype=np.int64)
        out[:s] = m[group]
        out[s:] = m[rep.size:]
        out[s + np.arange(n), np.arange(n)] = FORBIDDEN
        back = self.item_layer[:, None] > self.item_layer[None, :]
        out[s:][back] = FORBIDDEN
        return out

    # ------------------------------------------------------------------ solutions
    def check(self, chains: Chains, *, round_limit: bool = True) -> None:
        """Raise :class:`InputError` if ``chains`` break a rule.

        ``round_limit=False`` checks the problem as docs/model.md states it (any number of
        a layer's items per slot): what the exact models solve.
        """
        if len(chains) != self.n_slots:
            raise InputError(f"{len(chains)} chains for {self.n_slots} slots")
        # vectorised over all chains at once (a crossbar of 10^5 items has 10^4 chains)
        flat, lengths = flatten_chains(chains)
        slot = np.repeat(np.arange(len(chains), dtype=np.int64), lengths)
        outside = (flat < 0) | (flat >= self.n_items)
        if outside.any():
            k = int(slot[np.argmax(outside)])
            raise InputError(f"chain {k} names an item outside 0..{self.n_items - 1}")
        lay = self.item_layer[flat]
        back = (np.diff(lay) < 0) & (slot[1:] == slot[:-1])
        if back.any():
            raise InputError(f"chain {int(slot[1:][np.argmax(back)])} goes back in the layer "
                             "order")
        if round_limit and flat.size:
            layers, lay_idx = np.unique(lay, return_inverse=True)
            cap = np.array([self.capacity[int(la)] for la in layers], dtype=np.int64)
            key = slot * layers.size + lay_idx.ravel()
            count = np.bincount(key, minlength=len(chains) * layers.size)
            over = np.flatnonzero(count > np.tile(cap, len(chains)))
            if over.size:
                k, li = divmod(int(over[0]), layers.size)
                raise InputError(f"chain {k} loads {count[over[0]]} items of layer "
                                 f"{layers[li]}, capacity {cap[li]}")
        seen = np.bincount(flat, minlength=self.n_items)
        if (seen != 1).any():
            bad = int(np.flatnonzero(seen != 1)[0])
            raise InputError(f"item {bad} is loaded {seen[bad]} times, must be once")

    def arcs_of(self, chains: Chains) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """(u, v) of every load in a solution."""
        us: list[int] = []
        vs: list[int] = []
        s = self.n_slots
        for k, chain in enumerate(chains):
            prev = k
            for v in chain:
                us.append(prev)
                vs.append(v)
                prev = s + v
        return np.array(us, dtype=np.int64), np.array(vs, dtype=np.int64)

    def evaluate(self, chains: Chains) -> int:
        """Total cost of a solution."""
        u, v = self.arcs_of(chains)
        return int(self.arc_costs(u, v).sum()) if u.size else 0

    def check_solution(self, chains: Chains, method: str, *, round_limit: bool = True) -> None:
        """:meth:`check` on a method's own output: a broken rule is a bug in that method
        (:class:`~pimopt.errors.VerificationError`), never bad input."""
        try:
            self.check(chains, round_limit=round_limit)
        except InputError as exc:
            raise VerificationError(f"method {method!r} returned invalid chains: {exc}") from exc

    def uncapped(self) -> ChainProblem:
        """The same problem without the round limit: a chain may load every item of a
        layer (the problem as docs/model.md states it; the default capacity is a restriction
        the heuristics use)."""
        counts = {int(la): int((self.item_layer == la).sum())
                  for la in np.unique(self.item_layer)}
        return ChainProblem(self.arch, self.starts, self.items, self.item_layer, counts,
                            self.metric)

    def final_patterns(self, chains: Chains) -> NDArray[np.uint8]:
        """Pattern each slot holds after its chain."""
        out = self.starts.copy()
        for k, chain in enumerate(chains):
            if chain:
                out[k] = self.items[chain[-1]]
        return out


def reduce_starts(p: ChainProblem) -> tuple[ChainProblem, NDArray[np.int64]]:
    """Drop slots that no optimal solution needs: of slots with identical starts, keep n.

    Slots holding the same pattern are interchangeable and at most ``n`` chains
    are non-empty, so keeping ``min(count, n)`` slots of every group loses no
    solution value. Returns the reduced problem and the kept slot indices
    (chain ``k`` of the reduced problem belongs to slot ``kept[k]``).
    """
    _, group = p.start_groups()
    kept_list: list[int] = []
    seen = np.zeros(int(group.max()) + 1 if group.size else 0, dtype=np.int64)
    for k, g in enumerate(group.tolist()):
        if seen[g] < p.n_items:
            kept_list.append(k)
            seen[g] += 1
    kept = np.array(kept_list, dtype=np.int64)
    sub = ChainProblem(p.arch, p.starts[kept], p.items, p.item_layer, dict(p.capacity), p.metric)
    return sub, kept


def expand_chains(chains: Chains, kept: NDArray[np.int64], n_slots: int) -> Chains:
    """Chains of a reduced problem back on all slots (dropped slots stay empty)."""
    out: Chains = [[] for _ in range(n_slots)]
    for k, chain in zip(kept.tolist(), chains, strict=True):
        out[k] = list(chain)
    return out


def restrict_chains(p: ChainProblem, chains: Chains, kept: NDArray[np.int64]) -> Chains:
    """A solution of ``p`` as a solution of its reduced problem (same cost).

    Non-empty chains move to kept slots with the same start pattern (there
    are enough: at most ``n`` chains are non-empty).
    """
    _, group = p.start_groups()
    free: dict[int, list[int]] = {}
    for k_sub, k in enumerate(kept.tolist()):
        free.setdefault(int(group[k]), []).append(k_sub)
    out: Chains = [[] for _ in range(kept.size)]
    for k, chain in enumerate(chains):
        if chain:
            out[free[int(group[k])].pop(0)] = list(chain)
    return out


def min_rounds(n_items: int, n_slots: int) -> int:
    """The fewest loads per slot that place ``n_items`` on ``n_slots`` slots."""
    return max(1, -(-n_items // n_slots))


@dataclass
class LayerItems:
    """The items (distinct non-zero patterns) of one layer and the blocks each serves."""

    layer: int
    blocks: NDArray[np.int64]  # non-zero blocks of the layer
    item_of_block: NDArray[np.int64]  # item index (within the layer) of each block
    patterns: NDArray[np.uint8]  # (items, ou_rows, ou_cols)


def layer_items(inst: Instance, reuse: bool = True) -> list[LayerItems]:
    """Items of every layer that has non-zero blocks, in layer order.

    With ``reuse`` the blocks of a layer with identical patterns are one item
    (one load serves them all); without it every block is an item of its own.
    """
    out = []
    nz = inst.nonzero_blocks
    for layer in range(len(inst.network.layers)):
        blocks = nz[inst.block_layer[nz] == layer].astype(np.int64)
        if blocks.size == 0:
            continue
        if not reuse:
            out.append(LayerItems(layer, blocks, np.arange(blocks.size, dtype=np.int64),
                                  inst.patterns[blocks]))
            continue
        _, first, inv = np.unique(inst.pattern_id[blocks], return_index=True,
                                     return_inverse=True)
        out.append(LayerItems(layer, blocks, inv.ravel().astype(np.int64),
                              inst.patterns[blocks[first]]))
    return out
