"""Baseline mappings (docs/model.md, *Methods*)."""

from __future__ import annotations

import numpy as np

from pimopt.instance import Instance
from pimopt.mapping import Mapping


def naive_mapping(inst: Instance) -> Mapping:
    """Layer order, row-major blocks, slots in order; every block gets its own load.

    The k-th non-zero block (in block order: layer by layer, row tile, then
    column tile) goes to chip slot ``k mod S`` (crossbar-major numbering of
    the ``S`` slots of the chip) at position ``k div S``.
    """
    blocks = inst.nonzero_blocks.astype(np.int64)
    s_total = inst.arch.total_slots
    k = np.arange(blocks.size, dtype=np.int64)
    gslot = k % s_total
    xb, slot = np.divmod(gslot, inst.arch.slots_per_crossbar)
    return Mapping(block=blocks, crossbar=xb, slot=slot, position=k // s_total)
