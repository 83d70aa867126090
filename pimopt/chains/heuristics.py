"""Construction heuristics and local search on a :class:`~pimopt.chains.problem.ChainProblem`.

All heuristics work layer by layer: the slots' patterns after one layer are
the starts of the next (the chains of a whole-network problem are the
concatenation). Every function returns chains that satisfy the problem's
rules; costs always come from :meth:`ChainProblem.arc_costs` (the latency model).
"""

from __future__ import annotations

import collections
import itertools
import time
from collections.abc import Callable, Iterator

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

from pimopt.chains.candidates import node_candidates, window_orders
from pimopt.chains.problem import FORBIDDEN, ChainProblem, Chains
from pimopt.interrupt import expired, seconds_left


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
    similar patterns are neighbours; run ``k`` of ``capacity`` items goes to the
    ``k``-th slot (never-written slots first, then by index), so consecutive
    loads of a slot are neighbours in the sorted order.
    """
    chains: Chains = [[] for _ in range(p.n_slots)]
    # slots that were never written (all-zero start) first, so that a layer that fits
    # beside the previous one does not overwrite it
    written = p.starts.reshape(p.n_slots, -1).any(axis=1)
    slot_order = np.lexsort((np.arange(p.n_slots), written))
    for layer, items in _layers(p):
        flat = p.items[items].reshape(items.size, -1)
        order = items[np.lexsort(flat.T[::-1])]
        cap = p.capacity[layer]
        for t, v in enumerate(order.tolist()):
            chains[int(slot_order[t // cap])].append(v)
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
            left = np.delete(left, _assign_round(p, cur, left, chains))
    return chains


def _append_sorted_runs(chains: Chains, rest: NDArray[np.int64]) -> None:
    """Finish a round-by-round construction cut short: ``rest`` (items in sorted order) in
    contiguous runs of ``ceil(len(rest) / S)``, one per slot. Every slot has had the same
    rounds, so the runs keep the round limit; neighbours in sorted order are similar."""
    per = -(-rest.size // len(chains))
    for t, v in enumerate(rest.tolist()):
        chains[t // per].append(int(v))


def _assign_round(p: ChainProblem, cur: NDArray[np.int64], todo: NDArray[np.int64],
                  chains: Chains) -> NDArray[np.int64]:
    """One round: a minimum-cost assignment of ``todo`` items to the slots (scipy LSAP).

    Appends the placed items to ``chains``, moves ``cur`` (each slot's current
    node) on, and returns the positions in ``todo`` that were placed.
    """
    rows, cols = linear_sum_assignment(_sub_costs(p, cur, todo))
    for k, j in zip(rows.tolist(), cols.tolist(), strict=True):
        chains[k].append(int(todo[j]))
        cur[k] = p.n_slots + int(todo[j])
    return np.asarray(cols, dtype=np.int64)


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
    for layer, items in _layers(p):
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
    st = _State(p, chains, d)
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


# ---------------------------------------------------------------------- large layers
def _by_layer(p: ChainProblem, solve_layer: Callable[[ChainProblem], Chains]) -> Chains:
    """Solve each layer as its own chain problem, starting from what the previous one left."""
    out: Chains = [[] for _ in range(p.n_slots)]
    starts = p.starts
    for layer, items in _layers(p):
        sub = ChainProblem(p.arch, starts, p.items[items], np.zeros(items.size, np.int64),
                           {0: p.capacity[layer]}, p.metric)
        chains = solve_layer(sub)
        for k, ch in enumerate(chains):
            out[k].extend(int(items[i]) for i in ch)
        starts = sub.final_patterns(chains)
    return out


def granular_chains(p: ChainProblem, *, time_limit: float = 60.0, seed: int = 0,
                    k: int = 16, initial: Chains | None = None,
                    candidates: str = "ranked") -> Chains:
    """Scalable heuristic for large layers: candidate lists, a construction on
    candidate arcs (greedy edge for layers of many rounds, else a greedy
    round-by-round matching), then relocate, swap and 2-opt* moves restricted to
    the candidates (granular local search).

    Never builds an n x n matrix: memory is O((S + n) k); every cost comes from
    the latency model on the candidate arcs and the arcs a move touches.
    Layers are handled in turn, each starting from the patterns the previous
    one left. ``initial`` (chains of a single-layer problem) replaces the
    construction where it is cheaper.

    ``candidates`` chooses the lists: ``"ranked"``, the ``k`` cheapest arcs by
    the latency model out of a pool of ``4 k`` close patterns
    (:func:`~pimopt.chains.candidates.node_candidates`, about 125 us an item on trained layers), or
    ``"window"``, each item's neighbours in lexicographic orders of the cells
    (:func:`~pimopt.chains.candidates.window_orders`), unranked: greedy edge takes as
    many orders as ``EDGE_SHARE`` of the time affords (:func:`_window_edge`,
    about 1 us an item and order), the moves the first
    ``GRANULAR_WINDOW_ORDERS``. On one crossbar of trained layers window lists
    gave 5-19% less programming than ranked ones at 20-250 us an item
    (``scripts/bench_chains.py``); with less time than one order needs, a layer
    keeps the sorted chains.
    """
    if candidates not in ("ranked", "window"):
        raise ValueError(f"candidates: {candidates!r} is not one of 'ranked', 'window'")
    deadline = time.perf_counter() + time_limit
    if initial is not None and len(_layers(p)) == 1:
        return _by_layer(p, lambda sub: _granular_from(sub, initial, deadline, seed, k,
                                                       candidates))
    return _by_layer(p, lambda sub: _granular_layer(sub, deadline, seed, k, candidates))


def _granular_from(p: ChainProblem, initial: Chains, deadline: float, seed: int, k: int,
                   kind: str) -> Chains:
    """Granular search from ``initial``, or from the greedy-edge chains where the layer
    has many rounds and they are cheaper."""
    start = initial
    if kind == "window":
        if _no_window_time(p, deadline):
            return initial
        if p.n_items > EDGE_ROUNDS * p.n_slots:
            edge, cand = _window_edge(p, deadline, seed)
            if p.evaluate(edge) < p.evaluate(initial):
                start = edge
        else:
            cand = _window_node_candidates(p, GRANULAR_WINDOW_ORDERS, seed)
        return _granular_search(p, start, cand, deadline, seed)
    cand = node_candidates(p, k, seed, _candidate_deadline(deadline))
    if p.n_items > EDGE_ROUNDS * p.n_slots and not expired(deadline):
        build_end = time.perf_counter() + CONSTRUCTION_SHARE * max(0.0, seconds_left(deadline))
        edge = _greedy_edge_chains(p, cand[p.n_slots:], build_end)
        if p.evaluate(edge) < p.evaluate(initial):
            start = edge
    return _granular_search(p, start, cand, deadline, seed)


def _no_window_time(p: ChainProblem, deadline: float) -> bool:
    """Whether even one window order (its arcs, their costs, greedy edge) misses
    ``deadline``."""
    return seconds_left(deadline) < EDGE_S_PER_ITEM * max(1, p.n_items)


def _window_node_orders(p: ChainProblem, seed: int) -> Iterator[NDArray[np.int64]]:
    """Window candidates of every node (starts and items) order by order, as item
    indices, ``-1``-padded: the rows of :func:`~pimopt.chains.candidates.node_candidates`, from
    :func:`~pimopt.chains.candidates.window_orders`, unranked."""
    rep, group = p.start_groups()
    g = rep.size
    pats = np.concatenate([p.starts[rep], p.items])
    for block in window_orders(pats, EDGE_WINDOW, seed):
        block = np.where(block >= g, block - g, -1)  # items only, as item indices
        yield np.concatenate([block[:g][group], block[g:]])


def _window_node_candidates(p: ChainProblem, orders: int, seed: int) -> NDArray[np.int64]:
    """The first ``orders`` orders of :func:`_window_node_orders` side by side."""
    return np.concatenate(list(itertools.islice(_window_node_orders(p, seed), orders)), axis=1)


def _window_edge(p: ChainProblem, deadline: float, seed: int
                 ) -> tuple[Chains, NDArray[np.int64]]:
    """Greedy-edge chains on window arcs, and the node candidate lists for the moves.

    Orders are added one by one while the next one, and sorting and scanning
    all arcs so far, still fit in ``EDGE_SHARE`` of the time left (each order
    is timed as it is built, so the count adapts to the machine and to the cost
    model's speed), at most ``EDGE_MAX_ORDERS``. On trained layers every
    further order still shortens the path, and at equal arcs narrow windows in
    more orders do best (ResNet-50 `wv-mlc`, 36,864 items on one crossbar,
    sorted chains 71,295 us; greedy edge on 128 arcs an item: 1 neighbour a
    side in 64 orders 46,832 us, 2 in 32 47,391 us, 4 in 16 48,501 us, 8 in 8
    49,682 us).
    """
    s, n = p.n_slots, p.n_items
    now = time.perf_counter()
    build_end = now + EDGE_SHARE * max(0.0, deadline - now)
    us: list[NDArray[np.int64]] = []
    vs: list[NDArray[np.int64]] = []
    cs: list[NDArray[np.int64]] = []
    kept: list[NDArray[np.int64]] = []
    arcs = 0
    orders = _window_node_orders(p, seed)
    for j in range(EDGE_MAX_ORDERS):
        t0 = time.perf_counter()
        block = next(orders)
        if j < GRANULAR_WINDOW_ORDERS:
            kept.append(block)
        u = np.repeat(np.arange(n, dtype=np.int64), block.shape[1])
        v = block[s:].ravel()
        ok = (v >= 0) & (v != u)
        us.append(u[ok])
        vs.append(v[ok])
        cs.append(p.arc_costs(s + u[ok], v[ok]))
        arcs += int(ok.sum())
        took = time.perf_counter() - t0
        nxt = int(ok.sum())  # the next order adds about as many arcs
        if (time.perf_counter() + took + EDGE_S_PER_ARC * (arcs + nxt) > build_end
                or arcs + nxt > EDGE_MAX_ARCS):
            break
    cand = np.concatenate(kept, axis=1)
    chains = _greedy_edge_path(p, np.concatenate(us), np.concatenate(vs), np.concatenate(cs),
                               deadline, ties_by_index=True)
    return chains, cand


EDGE_ROUNDS = 2  # layers with more rounds than this are built by greedy edge
EDGE_WINDOW = 1  # window lists: items on either side in each order (per arc, 1 beat 2, 4, 8)
EDGE_MAX_ORDERS = 128  # window lists: the most orders greedy edge takes
GRANULAR_WINDOW_ORDERS = 8  # window lists: the orders the granular moves keep
EDGE_MAX_ARCS = 20_000_000  # window lists: the most arcs greedy edge holds (24 B each)
EDGE_SHARE = 0.8  # window lists: of a layer's time left, the most greedy edge may take
EDGE_S_PER_ITEM = 1e-5  # one window order, its arc costs and greedy edge, per item: the
# least time a layer needs for window lists (measured 1-8 us, by the cost model's speed)
EDGE_S_PER_ARC = 4e-7  # sorting the arcs and the greedy-edge scan, per arc (measured 0.25 us)
CANDIDATE_SHARE = 0.4  # of a layer's time left, the most its candidate lists may take
CONSTRUCTION_SHARE = 0.6  # of the time left after them, the most the greedy matching may take


def _candidate_deadline(deadline: float) -> float:
    now = time.perf_counter()
    return now + CANDIDATE_SHARE * max(0.0, deadline - now)


def _granular_layer(p: ChainProblem, deadline: float, seed: int, k: int, kind: str) -> Chains:
    s, n = p.n_slots, p.n_items
    if kind == "window":
        if _no_window_time(p, deadline):
            return sorted_chains(p)
        if n > EDGE_ROUNDS * s:  # from the cheaper of the sorted and greedy-edge chains
            return _granular_from(p, sorted_chains(p), deadline, seed, k, kind)
        cand = _window_node_candidates(p, GRANULAR_WINDOW_ORDERS, seed)
    else:
        cand = node_candidates(p, k, seed, _candidate_deadline(deadline))
    flat = p.items.reshape(n, -1)
    fallback = np.lexsort(flat.T[::-1])  # sorted order, for chains whose candidates ran out
    build_end = time.perf_counter() + CONSTRUCTION_SHARE * max(0.0, seconds_left(deadline))
    chains: Chains = [[] for _ in range(s)]
    if n > EDGE_ROUNDS * s:
        # many rounds: one short path through all items (greedy edge), cut into runs
        chains = _greedy_edge_chains(p, cand[s:], build_end)
    else:
        remaining = np.ones(n, dtype=bool)
        ptr = 0
        cur = np.arange(s, dtype=np.int64)
        # round by round, a greedy matching of slots to free candidate items (cheapest arcs
        # first); slots left without a free candidate take free items in sorted order
        while remaining.any():
            if expired(build_end):
                _append_sorted_runs(chains, fallback[remaining[fallback]])  # out of its time
                break
            slot_e = np.repeat(np.arange(s), cand.shape[1])
            item_e = cand[cur].ravel()
            keep = item_e >= 0
            keep[keep] = remaining[item_e[keep]]
            slot_e, item_e = slot_e[keep], item_e[keep]
            order = np.argsort(p.arc_costs(cur[slot_e], item_e), kind="stable")
            slot_free = np.ones(s, dtype=bool)
            want = min(s, int(remaining.sum()))
            got = 0
            for k_, v_ in zip(slot_e[order].tolist(), item_e[order].tolist(), strict=True):
                if got == want:
                    break
                if slot_free[k_] and remaining[v_]:
                    slot_free[k_] = False
                    remaining[v_] = False
                    chains[k_].append(v_)
                    cur[k_] = s + v_
                    got += 1
            for k_ in np.flatnonzero(slot_free).tolist():
                if got == want:
                    break
                while not remaining[fallback[ptr]]:
                    ptr += 1
                v_ = int(fallback[ptr])
                remaining[v_] = False
                chains[k_].append(v_)
                cur[k_] = s + v_
                got += 1
    if n > s:  # several rounds: plain sorting can beat a matching that had little time
        plain = sorted_chains(p)
        if p.evaluate(plain) < p.evaluate(chains):
            chains = plain
    if expired(deadline):
        return chains
    return _granular_search(p, chains, cand, deadline, seed)


def _greedy_edge_chains(p: ChainProblem, cand: NDArray[np.int64], deadline: float) -> Chains:
    """One layer's chains from a short path through all its items, cut into runs.

    ``cand`` holds the candidate successors of every item, (n, k), item
    indices, ``-1``-padded. Greedy edge on these arcs: cheapest first, an arc
    ``u -> v`` is taken if ``u`` has no successor yet, ``v`` no predecessor and
    it closes no cycle (union-find). The path fragments are joined in the
    lexicographic order of their first items, the path is cut into
    ``ceil(n / S)`` runs of consecutive items (within the round limit), and
    runs go to slots by a minimum-cost assignment of their first writes. On
    trained layers this beats the round-by-round matching, where the slots
    compete for the same close items (ddddocr-ocr `wv-mlc`, 24,575 items on
    one crossbar, 5 s of ``granular_chains``: 7,257 us from greedy edge,
    8,704 us from the matching; greedy edge alone 7,387 us).
    At ``deadline`` no further arc is taken; the fragments so far are joined.
    """
    s, n = p.n_slots, p.n_items
    u = np.repeat(np.arange(n, dtype=np.int64), cand.shape[1])
    v = cand.ravel()
    ok = (v >= 0) & (v != u)
    u, v = u[ok], v[ok]
    return _greedy_edge_path(p, u, v, p.arc_costs(s + u, v), deadline)


def _greedy_edge_path(p: ChainProblem, u: NDArray[np.int64], v: NDArray[np.int64],
                      cost: NDArray[np.int64], deadline: float, ties_by_index: bool = False
                      ) -> Chains:
    """:func:`_greedy_edge_chains` on the item arcs ``u -> v`` of costs ``cost``; arcs of
    equal cost are taken as listed, or by tail and head index with ``ties_by_index``."""
    s, n = p.n_slots, p.n_items
    if ties_by_index:
        # equal costs are common (whole passes): tied arcs by tail, then head. The mapping
        # lists a crossbar's items in lexicographic order, so fragments stay among similar
        # items (ddddocr-ocr `wv-mlc`, 24,575 items: 6,089 us, against 6,907 us with ties
        # taken order by order)
        order = np.lexsort((v, u, cost))
    else:  # ranked lists: ties as listed, closest cells first
        order = np.argsort(cost, kind="stable")
    succ = [-1] * n
    has_pred = [False] * n
    parent = list(range(n))
    for t, (a, b) in enumerate(zip(u[order].tolist(), v[order].tolist(), strict=True)):
        if t % 65536 == 0 and expired(deadline):
            break
        if succ[a] >= 0 or has_pred[b]:
            continue
        ra, rb = a, b  # union-find roots, with path halving
        while parent[ra] != ra:
            parent[ra] = parent[parent[ra]]
            ra = parent[ra]
        while parent[rb] != rb:
            parent[rb] = parent[parent[rb]]
            rb = parent[rb]
        if ra == rb:
            continue
        parent[ra] = rb
        succ[a] = b
        has_pred[b] = True
    heads = np.flatnonzero(~np.asarray(has_pred, dtype=bool))  # fragment starts
    heads = heads[np.lexsort(p.items[heads].reshape(heads.size, -1).T[::-1])]
    path: list[int] = []
    for h in heads.tolist():
        x = h
        while x >= 0:
            path.append(x)
            x = succ[x]
    per = -(-n // s)
    runs = [path[i:i + per] for i in range(0, n, per)]
    firsts = np.array([r[0] for r in runs], dtype=np.int64)
    cost = p.arc_costs(np.repeat(np.arange(s, dtype=np.int64), firsts.size),
                       np.tile(firsts, s)).reshape(s, firsts.size)
    slot, run = linear_sum_assignment(cost)
    chains: Chains = [[] for _ in range(s)]
    for k, r in zip(slot.tolist(), run.tolist(), strict=True):
        chains[k] = runs[r]
    return chains


def _granular_search(p: ChainProblem, chains: Chains, cand: NDArray[np.int64],
                     deadline: float, seed: int) -> Chains:
    """Granular descent, then iterated local search until the deadline.

    A descent reaches a local optimum well before the time limit on large
    layers; the rest of the time goes to kicks (one random swap towards a
    candidate position) each followed by a descent from the items around it,
    keeping the result only if the cost drops (an accept-if-better iterated
    local search). It stops at the deadline or after ``max(ILS_PATIENCE,
    items)`` kicks in a row without improvement.
    """
    g = _Granular(p, chains, cand, np.random.default_rng(seed))
    g.descend(deadline)
    if p.n_items >= ILS_MIN_ITEMS:  # small layers: the dense local search serves them
        best, saved = int(g.in_cost.sum()), g.save()
        idle, patience = 0, max(ILS_PATIENCE, p.n_items)
        while idle < patience and not expired(deadline):
            idle += 1
            touched = g.kick()
            if touched is None:
                continue
            g.descend(deadline, touched)
            cost = int(g.in_cost.sum())
            if cost < best:
                best, saved, idle = cost, g.save(), 0
            else:
                g.restore(saved)
        g.restore(saved)
    return g.st.chains()


ILS_PATIENCE = 1000  # kicks in a row without improvement before the search stops
ILS_MIN_ITEMS = 2000  # layers at least this large get the iterated local search


class _Granular:
    """A solution under granular local search: the state, arc costs, moves and kicks.

    ``in_cost[v]`` is the cost of the arc into item ``v``, so the solution's
    cost is ``in_cost.sum()`` at any time; :meth:`save` and :meth:`restore`
    copy the few O(n) arrays, which lets the iterated local search try a kick
    and take it back without rebuilding anything.
    """

    def __init__(self, p: ChainProblem, chains: Chains, cand: NDArray[np.int64],
                 rng: np.random.Generator) -> None:
        self.p, self.cand, self.rng = p, cand, rng
        s, n = p.n_slots, p.n_items
        self.st = _State(p, chains, np.zeros((s + n, 1), dtype=np.int64))
        u, v = p.arcs_of(chains)
        self.in_cost = np.zeros(n, dtype=np.int64)
        self.in_cost[v] = p.arc_costs(u, v)
        self.node_pat = p.node_pattern(np.arange(s + n))

    def costs(self, us: list[int], vs: list[int]) -> NDArray[np.int64]:
        return self.p.arc_costs_patterns(self.node_pat[np.asarray(us, dtype=np.int64)],
                                         np.asarray(vs))

    def save(self) -> tuple[NDArray[np.int64], ...]:
        st = self.st
        return tuple(a.copy() for a in (st.succ, st.pred, st.chain_of, st.length, st.pos,
                                         self.in_cost))

    def restore(self, saved: tuple[NDArray[np.int64], ...]) -> None:
        st = self.st
        for dst, src in zip((st.succ, st.pred, st.chain_of, st.length, st.pos, self.in_cost),
                            saved, strict=True):
            dst[:] = src

    def kick(self) -> NDArray[np.int64] | None:
        """Swap a random item ``x`` with the predecessor ``w`` of one of its candidate
        successors (not adjacent to ``x``); returns the items around the changed arcs."""
        p, st, s = self.p, self.st, self.p.n_slots
        x = int(self.rng.integers(p.n_items))
        c = self.cand[s + x]
        c = c[c >= 0]
        if c.size == 0:
            return None
        pw = int(st.pred[int(c[self.rng.integers(c.size)])])
        w = pw - s
        if w < 0 or w == x or int(st.pred[w]) == s + x or int(st.succ[s + w]) == x:
            return None
        a, b = int(st.pred[x]), int(st.succ[s + x])
        cw, e = int(st.pred[w]), int(st.succ[s + w])
        kx, kw = int(st.chain_of[s + x]), int(st.chain_of[s + w])
        st.remove(x)
        st.remove(w)
        st.insert_after(w, a)
        st.insert_after(x, cw)
        us, vs = [a, cw], [w, x]
        if b >= 0:
            us.append(s + w)
            vs.append(b)
        if e >= 0:
            us.append(s + x)
            vs.append(e)
        self.in_cost[np.asarray(vs)] = self.costs(us, vs)
        st.refresh(kx)
        st.refresh(kw)
        return np.array([v for v in (x, w, b, e) if v >= 0], dtype=np.int64)

    def descend(self, deadline: float, active: NDArray[np.int64] | None = None) -> None:
        """Relocate, 2-opt* and swap moves on candidate arcs until no queued item improves.

        Items wait in a queue (all of them, or ``active``); an item whose move
        changes its neighbourhood puts the items around the changed arcs back in
        the queue, so a descent after a small kick costs time in proportion to
        the kick, not to the layer.
        """
        p, cand, rng, st, in_cost, costs = (self.p, self.cand, self.rng, self.st,
                                            self.in_cost, self.costs)
        s, n = p.n_slots, p.n_items
        cap = p.capacity[0]
        start = rng.permutation(n) if active is None else rng.permutation(active)
        queue = collections.deque(start.tolist())
        queued = np.zeros(n, dtype=bool)
        queued[start] = True

        def push(*nodes: int) -> None:
            """Queue the items among these nodes (slot starts and -1 are not items)."""
            for q in nodes:
                if q >= s and not queued[q - s]:
                    queued[q - s] = True
                    queue.append(q - s)

        while queue and not expired(deadline):
            x = queue.popleft()
            queued[x] = False
            sx = s + x
            a, b = int(st.pred[x]), int(st.succ[sx])
            cx = cand[sx]
            cx = cx[cx >= 0].tolist()
            # relocate targets: after a candidate, or before it (after its predecessor)
            targets = {q for c in cx for q in (s + c, int(st.pred[c]))}
            targets.discard(sx)
            targets.discard(a)
            kx = int(st.chain_of[sx])
            qs = [q for q in targets if st.chain_of[q] == kx or st.length[st.chain_of[q]] < cap]
            nxt = [int(st.succ[q]) for q in qs]
            us = [a] + qs + [sx for t in nxt if t >= 0]
            vs = [b if b >= 0 else x] + [x] * len(qs) + [t for t in nxt if t >= 0]
            cc = costs(us, vs)
            d_ab = int(cc[0]) if b >= 0 else 0
            gain = int(in_cost[x]) + (int(in_cost[b]) - d_ab if b >= 0 else 0)
            best, best_q, best_costs = 0, -1, (0, 0)
            j = 1 + len(qs)
            for i, q in enumerate(qs):
                t = nxt[i]
                d_qx = int(cc[1 + i])
                if t >= 0:
                    d_xt = int(cc[j])
                    j += 1
                    delta = d_qx + d_xt - int(in_cost[t]) - gain
                else:
                    d_xt = 0
                    delta = d_qx - gain
                if delta < best:
                    best, best_q, best_costs = delta, q, (d_qx, d_xt)
            if best_q >= 0:
                if b >= 0:
                    in_cost[b] = d_ab
                st.remove(x)
                t = int(st.succ[best_q])
                st.insert_after(x, best_q)
                in_cost[x] = best_costs[0]
                if t >= 0:
                    in_cost[t] = best_costs[1]
                st.refresh(kx)
                st.refresh(int(st.chain_of[best_q]))
                push(sx, s + b if b >= 0 else -1, best_q, s + t if t >= 0 else -1)
                continue
            # 2-opt* (tail exchange): x -> y joins x's head to y's tail, and y's old
            # predecessor to x's old tail; both chains must stay within capacity
            ys = [y for y in cx if int(st.chain_of[s + y]) != kx]
            ys = [y for y in ys
                  if st.pos[sx] + st.length[st.chain_of[s + y]] - st.pos[s + y] + 1 <= cap
                  and st.pos[s + y] - 1 + st.length[kx] - st.pos[sx] <= cap]
            if ys:
                us = [sx] * len(ys) + [int(st.pred[y]) for y in ys if b >= 0]
                vs = list(ys) + ([b] * len(ys) if b >= 0 else [])
                cc = costs(us, vs)
                d_xy = cc[: len(ys)]
                d_pb = cc[len(ys):] if b >= 0 else np.zeros(len(ys), dtype=np.int64)
                old_t = in_cost[np.asarray(ys)] + (int(in_cost[b]) if b >= 0 else 0)
                delta = d_xy + d_pb - old_t
                i = int(np.argmin(delta))
                if delta[i] < 0:
                    y = ys[i]
                    py, ky = int(st.pred[y]), int(st.chain_of[s + y])
                    st.succ[sx], st.pred[y] = y, sx
                    st.succ[py] = b
                    if b >= 0:
                        st.pred[b] = py
                        in_cost[b] = int(d_pb[i])
                    in_cost[y] = int(d_xy[i])
                    st.refresh(kx)
                    st.refresh(ky)
                    push(sx, s + y, py, s + b if b >= 0 else -1)
                    continue
            # swap with a candidate that is not adjacent
            ws = [w for w in cx if w != x and int(st.pred[w]) != sx and int(st.succ[s + w]) != x]
            if not ws:
                continue
            us, vs = [], []
            for w in ws:
                c, e = int(st.pred[w]), int(st.succ[s + w])
                us += [a, c] + ([s + w] if b >= 0 else []) + ([sx] if e >= 0 else [])
                vs += [w, x] + ([b] if b >= 0 else []) + ([e] if e >= 0 else [])
            cc = costs(us, vs)
            j = 0
            best, best_w, best_new = 0, -1, (0, 0, 0, 0)
            for w in ws:
                c, e = int(st.pred[w]), int(st.succ[s + w])
                d_aw, d_cx = int(cc[j]), int(cc[j + 1])
                j += 2
                d_wb = d_xe = 0
                if b >= 0:
                    d_wb = int(cc[j])
                    j += 1
                if e >= 0:
                    d_xe = int(cc[j])
                    j += 1
                old = int(in_cost[x]) + int(in_cost[w]) + (int(in_cost[b]) if b >= 0 else 0) \
                    + (int(in_cost[e]) if e >= 0 else 0)
                delta = d_aw + d_wb + d_cx + d_xe - old
                if delta < best:
                    best, best_w, best_new = delta, w, (d_aw, d_wb, d_cx, d_xe)
            if best_w >= 0:
                w = best_w
                c, e = int(st.pred[w]), int(st.succ[s + w])
                st.remove(x)
                st.remove(w)
                st.insert_after(w, a)
                st.insert_after(x, c)
                in_cost[w], in_cost[x] = best_new[0], best_new[2]
                if b >= 0:
                    in_cost[b] = best_new[1]
                if e >= 0:
                    in_cost[e] = best_new[3]
                st.refresh(kx)
                st.refresh(int(st.chain_of[s + x]))
                push(sx, s + w, a, c, s + b if b >= 0 else -1, s + e if e >= 0 else -1)




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
    for _layer, items in _layers(p):
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


RELAX_LIMIT = 20_000  # items per layer up to which the relaxation-guided construction runs
RELAX_ARCS_PER_S = 4_000_000  # conservative arc-cost rate for relax's time estimate
