"""Construction heuristics and local search on a :class:`~pimopt.problem.ChainProblem`.

All heuristics work layer by layer: the slots' patterns after one layer are
the starts of the next (the chains of a whole-network problem are the
concatenation). Every function returns chains that satisfy the problem's
rules; costs always come from :meth:`ChainProblem.arc_costs` (the latency model).
"""

from __future__ import annotations

import time

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

from pimopt.problem import FORBIDDEN, ChainProblem, Chains


def _layers(p: ChainProblem) -> list[tuple[int, NDArray[np.int64]]]:
    """(layer, item indices) in layer order."""
    return [(int(la), np.flatnonzero(p.item_layer == la)) for la in np.unique(p.item_layer)]


def _sub_costs(p: ChainProblem, cur: NDArray[np.int64], items: NDArray[np.int64]
               ) -> NDArray[np.int64]:
    """Costs from the slots' current nodes to ``items``, (S, len(items)).

    Slots holding the same node share one row of evaluations.
    """
    uniq, inv = np.unique(cur, return_inverse=True)
    m = p.arc_costs(np.repeat(uniq, items.size), np.tile(items, uniq.size))
    return m.reshape(uniq.size, items.size)[inv.ravel()]


def sorted_chains(p: ChainProblem) -> Chains:
    """Weight-sorting baseline: sort a layer's items by pattern, cut into contiguous runs.

    Items are ordered lexicographically by their cells (row-major), so that
    similar patterns are neighbours; run ``k`` of ``capacity`` items goes to slot
    ``k``, so consecutive loads of a slot are neighbours in the sorted order.
    """
    chains: Chains = [[] for _ in range(p.n_slots)]
    for layer, items in _layers(p):
        flat = p.items[items].reshape(items.size, -1)
        order = items[np.lexsort(flat.T[::-1])]
        cap = p.capacity[layer]
        for t, v in enumerate(order.tolist()):
            chains[t // cap].append(v)
    return chains


def greedy_chains(p: ChainProblem) -> Chains:
    """Round by round, each slot in turn takes the remaining item nearest to its pattern."""
    chains: Chains = [[] for _ in range(p.n_slots)]
    cur = np.arange(p.n_slots, dtype=np.int64)
    for layer, items in _layers(p):
        remaining = np.ones(items.size, dtype=bool)
        for _ in range(p.capacity[layer]):
            if not remaining.any():
                break
            cost = _sub_costs(p, cur, items).astype(np.float64)
            for k in range(p.n_slots):
                if not remaining.any():
                    break
                row = np.where(remaining, cost[k], np.inf)
                j = int(np.argmin(row))
                remaining[j] = False
                v = int(items[j])
                chains[k].append(v)
                cur[k] = p.n_slots + v
    return chains


def assignment_chains(p: ChainProblem) -> Chains:
    """Round by round, a minimum-cost assignment of remaining items to slots (scipy LSAP).

    Every round but a layer's last fills all slots, so the layer takes the
    minimum number of rounds.
    """
    chains: Chains = [[] for _ in range(p.n_slots)]
    cur = np.arange(p.n_slots, dtype=np.int64)
    for _layer, items in _layers(p):
        left = items.copy()
        while left.size:
            cost = _sub_costs(p, cur, left)
            rows, cols = linear_sum_assignment(cost)
            for k, j in zip(rows.tolist(), cols.tolist(), strict=True):
                v = int(left[j])
                chains[k].append(v)
                cur[k] = p.n_slots + v
            keep = np.ones(left.size, dtype=bool)
            keep[cols] = False
            left = left[keep]
    return chains


class _State:
    """Successor/predecessor arrays of a solution, for O(n) vectorised move evaluation."""

    def __init__(self, p: ChainProblem, chains: Chains, d: NDArray[np.int64]) -> None:
        s, n = p.n_slots, p.n_items
        self.s, self.n, self.d = s, n, d
        self.succ = np.full(s + n, -1, dtype=np.int64)  # item index or -1
        self.pred = np.full(n, -1, dtype=np.int64)  # node id
        self.chain_of = np.empty(s + n, dtype=np.int64)
        self.chain_of[:s] = np.arange(s)
        self.length = np.zeros(s, dtype=np.int64)
        for k, chain in enumerate(chains):
            prev = k
            for v in chain:
                self.succ[prev] = v
                self.pred[v] = prev
                self.chain_of[s + v] = k
                prev = s + v
            self.length[k] = len(chain)

    def arc(self, u: NDArray[np.int64], v: NDArray[np.int64]) -> NDArray[np.int64]:
        """Cost of arcs u -> v, 0 where v is -1 (chain end)."""
        return np.where(v >= 0, self.d[u, np.maximum(v, 0)], 0)

    def chains(self) -> Chains:
        out: Chains = []
        for k in range(self.s):
            chain, v = [], int(self.succ[k])
            while v >= 0:
                chain.append(v)
                v = int(self.succ[self.s + v])
            out.append(chain)
        return out

    def remove(self, v: int) -> None:
        a, b = int(self.pred[v]), int(self.succ[self.s + v])
        self.succ[a] = b
        if b >= 0:
            self.pred[b] = a
        self.length[self.chain_of[self.s + v]] -= 1

    def insert_after(self, v: int, p: int) -> None:
        b = int(self.succ[p])
        self.succ[p] = v
        self.pred[v] = p
        self.succ[self.s + v] = b
        if b >= 0:
            self.pred[b] = self.s + v
        k = int(self.chain_of[p])
        self.chain_of[self.s + v] = k
        self.length[k] += 1


def local_search(p: ChainProblem, chains: Chains, *, time_limit: float = 10.0,
                 seed: int = 0) -> Chains:
    """Improve a solution by relocate and swap moves until none improves or time runs out.

    Works on each layer in turn with the slots' states before that layer
    fixed. Relocate moves an item to any other place in any chain with room;
    swap exchanges two items. Each move is evaluated for all targets at once
    (vectorised, O(S + n)) from the dense cost matrix of the layer, so this
    serves layers up to the dense limit. First improvement over items in a
    seeded random order.
    """
    deadline = time.perf_counter() + time_limit
    out: Chains = [list(c) for c in chains]
    starts = p.starts
    for layer, items in _layers(p):
        sub = ChainProblem(p.arch, starts, p.items[items], np.zeros(items.size, np.int64),
                           {0: p.capacity[layer]}, p.metric)
        local = {int(v): i for i, v in enumerate(items.tolist())}
        sub_chains = [[local[v] for v in ch if v in local] for ch in out]
        # the first later item of each chain: its cost depends on this layer's last item
        later = [next((v for v in ch if p.item_layer[v] > layer), -1) for ch in out]
        tail = None
        if any(v >= 0 for v in later):
            nodes = np.arange(sub.n_slots + sub.n_items)
            pats = sub.node_pattern(nodes)
            tail = np.zeros((nodes.size, sub.n_slots), dtype=np.int64)
            for k, f in enumerate(later):
                if f >= 0:
                    tail[:, k] = p.arc_costs_patterns(pats, np.full(nodes.size, f))
        best = _local_search_layer(sub, sub_chains, deadline, seed, tail)
        for k, ch in enumerate(best):
            before = [v for v in out[k] if p.item_layer[v] < layer]
            after = [v for v in out[k] if p.item_layer[v] > layer]
            out[k] = before + [int(items[i]) for i in ch] + after
        starts = sub.final_patterns(best)
    return out


def _local_search_layer(p: ChainProblem, chains: Chains, deadline: float, seed: int,
                        tail: NDArray[np.int64] | None) -> Chains:
    """Relocate/swap descent on one layer; ``tail[node, k]`` is the cost of chain k's next
    (later-layer) load when ``node`` is the chain's last node here (zero if none)."""
    d = p.dense()
    t = np.zeros((p.n_slots + p.n_items, p.n_slots), dtype=np.int64) if tail is None else tail
    st = _State(p, chains, d)
    rng = np.random.default_rng(seed)
    s, n = p.n_slots, p.n_items
    cap = p.capacity[0]
    nodes = np.arange(s + n)
    w = np.arange(n)
    improved = True
    while improved and time.perf_counter() < deadline:
        improved = False
        for v in rng.permutation(n).tolist():
            if time.perf_counter() > deadline:
                break
            sv = s + v
            a, b = int(st.pred[v]), int(st.succ[sv])
            kv = int(st.chain_of[sv])
            gain = d[a, v] + (d[sv, b] - d[a, b] if b >= 0 else t[sv, kv] - t[a, kv])
            # relocate: insert v after any node q other than v and its predecessor
            nxt = st.succ
            kq = st.chain_of
            ins = d[nodes, v] + np.where(nxt >= 0, d[sv, np.maximum(nxt, 0)]
                                         - st.arc(nodes, nxt),
                                         t[sv, kq] - t[nodes, kq])
            ok = (st.chain_of == st.chain_of[sv]) | (st.length[st.chain_of] < cap)
            ok[sv] = False
            ok[a] = False
            delta = np.where(ok, ins - gain, FORBIDDEN)
            q = int(np.argmin(delta))
            if delta[q] < 0:
                st.remove(v)
                st.insert_after(v, q)
                improved = True
                continue
            # swap v with an item w that is not adjacent to it
            c, e = st.pred, st.succ[s + w]
            kw = st.chain_of[s + w]
            okw = (w != v) & (c != sv) & (e != v)
            new = (d[a, w] + (d[s + w, max(b, 0)] if b >= 0
                              else t[s + w, kv])
                   + d[c, v] + np.where(e >= 0, d[sv, np.maximum(e, 0)], t[sv, kw]))
            old = (d[a, v] + (d[sv, b] if b >= 0 else t[sv, kv]) + d[c, w]
                   + np.where(e >= 0, st.arc(s + w, e), t[s + w, kw]))
            sdelta = np.where(okw, new - old, FORBIDDEN)
            j = int(np.argmin(sdelta))
            if sdelta[j] < 0:
                cj = int(c[j])
                st.remove(v)
                st.remove(j)
                st.insert_after(j, a)
                st.insert_after(v, cj)
                improved = True
    return st.chains()
