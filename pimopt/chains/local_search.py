"""Local search on chains: relocate and swap moves, and round-by-round reassignment.

``ChainState`` (successor and predecessor arrays with vectorised move evaluation)
is shared with the granular search (:mod:`pimopt.chains.granular`). Costs
always come from :meth:`ChainProblem.arc_costs` (the latency model).
"""

from __future__ import annotations

import time

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

from pimopt.chains.construct import layers_of
from pimopt.chains.problem import FORBIDDEN, ChainProblem, Chains
from pimopt.interrupt import expired


class ChainState:
    """Successor/predecessor arrays of a solution, for O(n) vectorised move evaluation."""

    def __init__(self, p: ChainProblem, chains: Chains, d: NDArray[np.int64]) -> None:
        s, n = p.n_slots, p.n_items
        self.s, self.n, self.d = s, n, d
        self.succ = np.full(s + n, -1, dtype=np.int64)  # item index or -1
        self.pred = np.full(n, -1, dtype=np.int64)  # node id
        self.chain_of = np.empty(s + n, dtype=np.int64)
        self.chain_of[:s] = np.arange(s)
        self.length = np.zeros(s, dtype=np.int64)
        self.pos = np.zeros(s + n, dtype=np.int64)  # 0 for starts, 1.. along a chain
        for k, chain in enumerate(chains):
            prev = k
            for v in chain:
                self.succ[prev] = v
                self.pred[v] = prev
                self.chain_of[s + v] = k
                self.pos[s + v] = self.pos[prev] + 1
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

    def refresh(self, k: int) -> None:
        """Recompute chain membership, positions and length of chain ``k``."""
        node, pos = k, 0
        while True:
            self.pos[node] = pos
            self.chain_of[node] = k
            v = int(self.succ[node])
            if v < 0:
                break
            node, pos = self.s + v, pos + 1
        self.length[k] = pos

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
    for layer, items in layers_of(p):
        if expired(deadline):  # no time for this layer's dense costs: the rest stay as given
            break
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
    st = ChainState(p, chains, d)
    rng = np.random.default_rng(seed)
    s, n = p.n_slots, p.n_items
    cap = p.capacity[0]
    nodes = np.arange(s + n)
    w = np.arange(n)
    improved = True
    while improved and not expired(deadline):
        improved = False
        for v in rng.permutation(n).tolist():
            if expired(deadline):
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


def round_reassignment(p: ChainProblem, chains: Chains, *, time_limit: float = 60.0
                       ) -> Chains:
    """Re-solve each round as an assignment with its neighbours fixed, until no round improves.

    Round ``r`` is the ``r``-th load of every chain of a layer. With rounds
    ``r - 1`` and ``r + 1`` fixed, placing item ``v`` in slot ``k`` costs
    ``d(prev_k, v) + d(v, next_k)``; scipy's LSAP gives the best permutation of
    round ``r``'s items over its slots. O(m^2) costs per round of m slots (never
    items x items), so it scales with the chip, not the layer.
    """
    deadline = time.perf_counter() + time_limit
    out: Chains = [list(c) for c in chains]
    s = p.n_slots
    for _layer, items in layers_of(p):
        mine = set(items.tolist())
        improved = True
        while improved and not expired(deadline):
            improved = False
            depth = max((sum(v in mine for v in ch) for ch in out), default=0)
            for r in range(depth):
                if expired(deadline):
                    break
                slots, prev, cur, nxt = [], [], [], []
                for k, ch in enumerate(out):
                    idx = [i for i, v in enumerate(ch) if v in mine]
                    if len(idx) <= r:
                        continue
                    i = idx[r]
                    slots.append(k)
                    prev.append(k if i == 0 else s + ch[i - 1])
                    cur.append(ch[i])
                    nxt.append(ch[i + 1] if i + 1 < len(ch) else -1)
                m = len(slots)
                if m < 2:
                    continue
                pv, cv, nv = (np.asarray(x, dtype=np.int64) for x in (prev, cur, nxt))
                cost = p.arc_costs(np.repeat(pv, m), np.tile(cv, m)).reshape(m, m)
                has_next = np.flatnonzero(nv >= 0)
                if has_next.size:
                    follow = p.arc_costs(np.tile(s + cv, has_next.size),
                                         np.repeat(nv[has_next], m)).reshape(has_next.size, m)
                    cost[has_next] += follow
                rows, cols = linear_sum_assignment(cost)
                if cost[rows, cols].sum() < np.trace(cost):
                    improved = True
                    for k_row, c_col in zip(rows.tolist(), cols.tolist(), strict=True):
                        ch = out[slots[k_row]]
                        i = [j for j, v in enumerate(ch) if v in mine][r]
                        ch[i] = int(cv[c_col])
    return out
