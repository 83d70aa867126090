"""Every mapping method as one registry object: what it is, what it aims at under each
objective, whether an instance fits its size limits, and what it can prove.
"""

from __future__ import annotations

from dataclasses import dataclass

from pimopt.chains import exact
from pimopt.chains.problem import layer_items, min_rounds
from pimopt.errors import Refused
from pimopt.instance import Instance
from pimopt.methods import chain_methods
from pimopt.methods.chain_methods import CHAIN_METHODS, EXACT_MODELS

BASELINES = ("naive", "sorted")


def check_size(inst: Instance, method: str, decomposition: str, reuse: bool) -> None:
    """Refuse, before any work, a method whose model would exceed its size limit.

    The limits are those the methods enforce (round-based heuristics: slot-item
    pairs; exact models: arcs, at least ``n * (min(S, n) + n)`` after
    interchangeable slots are merged); checked on every problem the mapping
    stage would build, so a run is never refused after minutes on earlier layers.
    """
    layers = layer_items(inst, reuse)
    sizes = [len(li.patterns) for li in layers]
    s = inst.arch.total_slots
    problems = [("the whole network", sum(sizes))] if decomposition == "whole" else [
        (f"layer {inst.network.layers[li.layer].name!r}", n)
        for li, n in zip(layers, sizes, strict=True)]
    for name, n in problems:
        if method in ("greedy", "assignment"):
            # whole: each layer keeps its own round limit; the largest layer decides
            cap = max(min_rounds(k, s) for k in sizes) if decomposition == "whole" \
                else min_rounds(n, s)
            pairs = s * n * cap
            limit = chain_methods.ROUND_PAIR_LIMIT
            if pairs > limit:
                raise Refused(f"method {method!r} would evaluate {pairs} slot-item pairs on "
                              f"{name} ({n} items, {s} slots), more than {limit}: "
                              "use 'granular' or 'balanced' for layers this large")
        if method in EXACT_MODELS:
            arcs = exact.least_arcs(n, s)
            if arcs > exact.EXACT_ARC_LIMIT:
                raise Refused(f"method {method!r} would build a model of at least {arcs} "
                              f"arcs on {name} ({n} items), more than {exact.EXACT_ARC_LIMIT}: "
                              "use a heuristic ('lns' keeps exact moves on small windows)")


def resolve_decomposition(inst: Instance, method: str, decomposition: str, reuse: bool
                           ) -> str:
    """``auto``: one whole-network model for the exact methods where it fits their size
    limit (the only way they prove a network optimum), else one problem per layer."""
    if decomposition != "auto":
        return decomposition
    if method not in EXACT_MODELS or not reuse:  # without reuse no bound covers the run
        return "layer"
    n = sum(len(li.patterns) for li in layer_items(inst, reuse))
    return "whole" if exact.least_arcs(n, inst.arch.total_slots) <= exact.EXACT_ARC_LIMIT \
        else "layer"


def aims_at(method: str, objective: str, decomposition: str) -> str:
    """What the mapping stage minimises for this method and objective (reported in info)."""
    if method == "naive":
        return "nothing (baseline)"
    if method == "sorted":
        return "programming (weight-sorting baseline)"
    if method == "balanced" or (objective == "makespan" and decomposition == "layer"):
        return "makespan"
    if objective == "makespan" and method in EXACT_MODELS:
        return ("programming (whole-network exact model: its proven optimum raises the "
                "makespan bound)")
    if objective == "makespan":
        return "programming (decomposition 'whole' has no makespan-aware model)"
    return "cell_writes" if objective == "cell_writes" else "programming"


def aims_matrix() -> str:
    """Markdown table: what each method's mapping minimises under each objective (by
    :func:`aims_at`; ``whole``: the whole-network decomposition, where it differs).
    docs/methods.md holds it (a test keeps the two equal)."""
    from pimopt.objectives import OBJECTIVES

    rows = ["| method | " + " | ".join(f"`{o}`" for o in OBJECTIVES) + " |",
            "|---|" + "---|" * len(OBJECTIVES)]
    for m in METHODS:
        cells = []
        for o in OBJECTIVES:
            lay, whole = (aims_at(m, o, d).split(" (")[0] for d in ("layer", "whole"))
            cells.append(lay if lay == whole else f"{lay} (whole: {whole})")
        rows.append(f"| `{m}` | " + " | ".join(cells) + " |")
    return "\n".join(rows)


@dataclass(frozen=True)
class Method:
    """One mapping method of the registry.

    Attributes
    ----------
    name
        What ``solve(inst, name)`` and ``--method`` call it.
    family
        ``baseline``, ``heuristic``, ``exact`` (a CP-SAT or MILP model) or
        ``makespan`` (the makespan-aware pipeline).
    summary
        One line for help texts and docs.
    exact_model
        Solves the chain problem without the heuristics' round limit and can
        prove it optimal (with the whole-network model, a network optimum).
    warm_start
        Starts from the heuristic named by the ``initial`` option.
    """

    name: str
    family: str
    summary: str
    exact_model: bool = False
    warm_start: bool = False

    def fits(self, inst: Instance, objective: str, decomposition: str, reuse: bool
             ) -> str | None:
        """Why the method refuses this instance up front (its model would exceed its size
        limit), or ``None``; ``decomposition`` as resolved (:meth:`decomposition_for`)."""
        if aims_at(self.name, objective, decomposition) == "makespan":
            return None  # the makespan pipeline cuts problems to crossbars and falls back
        try:
            check_size(inst, self.name, decomposition, reuse)
        except Refused as exc:
            return str(exc)
        return None

    def decomposition_for(self, inst: Instance, requested: str, reuse: bool) -> str:
        """The decomposition it runs with (``auto`` resolved)."""
        return resolve_decomposition(inst, self.name, requested, reuse)

    def aims_at(self, objective: str, decomposition: str) -> str:
        """What its mapping minimises under ``objective`` (reported in ``info``)."""
        return aims_at(self.name, objective, decomposition)


METHODS: dict[str, Method] = {m.name: m for m in (
    Method("naive", "baseline", "layer order, row-major blocks, slots in order"),
    Method("sorted", "baseline", "patterns sorted, contiguous runs per slot (weight sorting)"),
    Method("greedy", "heuristic", "round by round, each slot takes the nearest free pattern"),
    Method("assignment", "heuristic", "round by round, a min-cost assignment"),
    Method("ls", "heuristic", "assignment then local search (granular above the dense limit)"),
    Method("granular", "heuristic", "granular local search on candidate lists, any size"),
    Method("relax", "heuristic", "heads by the sparse assignment LP, then rounds and granular"),
    Method("lns", "heuristic", "CP-SAT large-neighbourhood search from a warm start",
           warm_start=True),
    Method("cpsat", "exact", "CP-SAT circuit model", exact_model=True, warm_start=True),
    Method("milp-cbc", "exact", "MILP through PuLP, CBC", exact_model=True, warm_start=True),
    Method("milp-highs", "exact", "MILP through PuLP, HiGHS", exact_model=True,
           warm_start=True),
    Method("balanced", "makespan", "makespan-aware: compute spread over all OUs, programming "
           "minimised per crossbar, then a schedule-driven search; any size"),
)}
assert set(METHODS) >= set(CHAIN_METHODS) and all(
    (m in EXACT_MODELS) == METHODS[m].exact_model for m in METHODS)
