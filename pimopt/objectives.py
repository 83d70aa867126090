"""Mapping-level objectives: total and critical-path programming latency, cell writes.

They are computed from a mapping alone (one program operation per load,
OU-granular), with :mod:`pimopt.latency`:

- ``programming_ps``: sum of all loads' programming latencies;
- ``critical_path_ps``: crossbars program in parallel, round by round: the
  r-th load of each slot within a layer forms round r of that layer; a round
  takes as long as its slowest crossbar (the sum over that crossbar's slots),
  and the rounds add up;
- ``cell_writes``: cells changed by all loads.

The three conflict: a mapping with the least total can have larger per-round
maxima, so every result reports all three.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pimopt.instance import Instance
from pimopt.latency import WriteCost, pair_costs
from pimopt.mapping import Loads, Mapping
from pimopt.schedule import Schedule

# objective name -> (verifier metric, chain-problem metric the methods minimise)
OBJECTIVES: dict[str, tuple[str, str]] = {
    "makespan": ("makespan_ns", "latency"),
    "programming": ("programming_ns", "latency"),
    "critical_path": ("critical_path_ns", "latency"),
    "cell_writes": ("cell_writes", "cell_writes"),
    "energy": ("energy_pj", "latency"),
}


def objective_unit(name: str) -> str:
    """The unit an objective is reported in (results and the verifier's checks of them)."""
    return {"cell_writes": "cells", "energy": "pJ"}.get(name, "ns")


@dataclass
class Rounds:
    """The loads of a mapping with their programming cost, round and crossbar."""

    loads: Loads
    cost: WriteCost
    layer: NDArray[np.int64]
    round: NDArray[np.int64]  # position minus the slot's first position in the same layer
    crossbar: NDArray[np.int64]


def load_rounds(inst: Instance, mapping: Mapping) -> Rounds:
    """Cost, layer, round and crossbar of every load (the basis of all three objectives)."""
    loads = mapping.loads(inst)
    old, new = loads.transitions(inst)
    cost = pair_costs(inst.arch, old, new)
    layer = loads.min_layer
    n_layers = int(layer.max()) + 1 if layer.size else 1
    _, run = np.unique(loads.global_slot * n_layers + layer, return_inverse=True)
    run = run.ravel()
    first = np.full(int(run.max()) + 1 if run.size else 0, np.iinfo(np.int64).max)
    np.minimum.at(first, run, loads.position)
    return Rounds(loads, cost, layer, loads.position - first[run],
                  loads.global_slot // inst.arch.slots_per_crossbar)


def mapping_objectives(inst: Instance, mapping: Mapping) -> dict[str, int]:
    """The three mapping objectives of a mapping (see the module docstring)."""
    r = load_rounds(inst, mapping)
    cost = r.cost
    key = np.stack([r.layer, r.round, r.crossbar], axis=1)
    if key.size:
        uniq, inv = np.unique(key, axis=0, return_inverse=True)
        per_xb = np.zeros(len(uniq), dtype=np.int64)
        np.add.at(per_xb, inv.ravel(), cost.latency_ps)
        rounds, rinv = np.unique(uniq[:, :2], axis=0, return_inverse=True)
        per_round = np.zeros(len(rounds), dtype=np.int64)
        np.maximum.at(per_round, rinv.ravel(), per_xb)
        critical = int(per_round.sum())
    else:
        critical = 0
    return {"programming_ps": int(cost.latency_ps.sum()), "critical_path_ps": critical,
            "cell_writes": int(cost.cell_writes.sum())}


def reuse_counts(inst: Instance, mapping: Mapping, sched: Schedule) -> dict[str, int]:
    """What pattern reuse saved: loads shared by blocks, loads with no write, writes saved.

    ``loads``: loads in the mapping; ``split_loads``: mapping rows beyond one
    per non-zero block (input splitting gives a block a second load);
    ``blocks_sharing_a_load``: rows served by a load another row (a block of the
    same pattern) also uses; ``loads_already_resident``: loads whose pattern
    was still in the slot (within or across layers), so no write was needed;
    ``slot_writes``: writes in the schedule; ``writes_saved``: rows minus slot
    writes (one write per row is what no reuse would make). All are >= 0.
    """
    rows = len(mapping)
    loads = len(mapping.loads(inst))
    writes = int(sched.write_op.size)
    return {"loads": loads, "split_loads": rows - inst.n_nonzero,
            "blocks_sharing_a_load": rows - loads,
            "loads_already_resident": loads - writes, "slot_writes": writes,
            "writes_saved": rows - writes}
