"""Granular heuristic for large layers: candidate lists, greedy edge or matching, granular moves.

Moves are restricted to the candidate arcs (close patterns), so a layer of
hundreds of thousands of items is searched in near-linear time; an iterated
local search kicks the largest layers until it stops improving.
"""

from __future__ import annotations

import collections
import itertools
import time
from collections.abc import Iterator

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

from pimopt.chains.candidates import node_candidates, window_orders
from pimopt.chains.construct import append_sorted_runs, by_layer, layers_of, sorted_chains
from pimopt.chains.local_search import ChainState
from pimopt.chains.problem import ChainProblem, Chains
from pimopt.interrupt import expired, seconds_left

GRANULAR_S_PER_ITEM = 5e-5  # candidate lists and a first descent, per item (measured)


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
    if initial is not None and len(layers_of(p)) == 1:
        return by_layer(p, lambda sub: _granular_from(sub, initial, deadline, seed, k,
                                                       candidates))
    return by_layer(p, lambda sub: _granular_layer(sub, deadline, seed, k, candidates))


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
        return granular_search(p, start, cand, deadline, seed)
    cand = node_candidates(p, k, seed, candidate_deadline(deadline))
    if p.n_items > EDGE_ROUNDS * p.n_slots and not expired(deadline):
        build_end = time.perf_counter() + CONSTRUCTION_SHARE * max(0.0, seconds_left(deadline))
        edge = _greedy_edge_chains(p, cand[p.n_slots:], build_end)
        if p.evaluate(edge) < p.evaluate(initial):
            start = edge
    return granular_search(p, start, cand, deadline, seed)


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


def candidate_deadline(deadline: float) -> float:
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
        cand = node_candidates(p, k, seed, candidate_deadline(deadline))
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
                append_sorted_runs(chains, fallback[remaining[fallback]])  # out of its time
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
    return granular_search(p, chains, cand, deadline, seed)


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


def granular_search(p: ChainProblem, chains: Chains, cand: NDArray[np.int64],
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
        self.st = ChainState(p, chains, np.zeros((s + n, 1), dtype=np.int64))
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
