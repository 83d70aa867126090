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

import numpy as np

from pimopt.instance import Instance
from pimopt.latency import pair_costs
from pimopt.mapping import Mapping


def mapping_objectives(inst: Instance, mapping: Mapping) -> dict[str, int]:
    """The three mapping objectives of a mapping (see the module docstring)."""
    loads = mapping.loads(inst)
    old, new = loads.transitions(inst)
    cost = pair_costs(inst.arch, old, new)
    spc = inst.arch.slots_per_crossbar
    layer = loads.min_layer
    # round = position minus the slot's first position in the same layer
    n_layers = int(layer.max()) + 1 if layer.size else 1
    _, run = np.unique(loads.global_slot * n_layers + layer, return_inverse=True)
    run = run.ravel()
    first = np.full(int(run.max()) + 1 if run.size else 0, np.iinfo(np.int64).max)
    np.minimum.at(first, run, loads.position)
    rnd = loads.position - first[run]
    xb = loads.global_slot // spc
    key = np.stack([layer, rnd, xb], axis=1)
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
