"""Cross-layer pipelining under the window dependency rule (:mod:`pimopt.windows`).

A compute over all of a block's inputs needs, under any window, every output
of its producers that its last input needs: for a convolution, all of them. A
layer can only start on the outputs its producers have finished if its
computes cover input *ranges*: :func:`chunk_rows` cuts every compute row of a
mapping into contiguous input chunks on the same load (same crossbar, slot and
position), and the list scheduler under ``dependencies="window"`` takes them
chunk by chunk across a layer's slots, so that a producer completes its first
outputs early and its consumers start on them.

:func:`pipeline_schedule` tries chunk counts while its time lasts and keeps the
shortest schedule (never longer than the one it is given).
"""

from __future__ import annotations

import time

import numpy as np

from pimopt.errors import InputError
from pimopt.instance import Instance
from pimopt.interrupt import expired
from pimopt.mapping import Mapping
from pimopt.schedule import Schedule
from pimopt.scheduling.list_scheduler import list_schedule

CHUNKS = (1, 2, 4, 8, 16)  # chunk counts pipeline_schedule tries, cheapest first
CHUNK_ROWS_LIMIT = 2_000_000  # compute rows after chunking up to which a count is tried


def chunk_rows(inst: Instance, mapping: Mapping, chunks: int) -> Mapping:
    """Cut every compute row into at most ``chunks`` contiguous input ranges on its load.

    Parameters
    ----------
    inst
        The instance.
    mapping
        A valid mapping (with or without input ranges).
    chunks
        The most parts per row (a row of ``m`` inputs gets ``min(chunks, m)``
        parts of ``floor(m / parts)`` or one more inputs).

    Returns
    -------
    Mapping
        The same loads, with input ranges; its computes cover the same inputs.
    """
    if isinstance(chunks, bool) or not isinstance(chunks, (int, np.integer)) or chunks < 1:
        raise InputError(f"chunks = {chunks!r} is invalid: an integer >= 1")
    first, last = mapping.ranges(inst)
    size = last - first
    parts = np.minimum(size, int(chunks))
    row = np.repeat(np.arange(len(mapping)), parts)
    k = np.arange(row.size) - np.repeat(np.cumsum(parts) - parts, parts)
    # part k of a row of m inputs in p parts: [first + floor(k m / p), first + floor((k+1) m / p))
    m, p = size[row], parts[row]
    lo = first[row] + (k * m) // p
    hi = first[row] + ((k + 1) * m) // p
    return Mapping(block=mapping.block[row], crossbar=mapping.crossbar[row],
                   slot=mapping.slot[row], position=mapping.position[row], first=lo, last=hi,
                   layout=mapping.layout)


def pipeline_schedule(inst: Instance, mapping: Mapping, incumbent: Schedule, *,
                      granularity: str = "slot", method: str = "", priority: str = "layer",
                      deadline: float | None = None, chunk_counts: tuple[int, ...] = CHUNKS,
                      seconds_per_row: float | None = None, finest: bool = False
                      ) -> tuple[Mapping, Schedule]:
    """The shortest list schedule under the window rule over ``chunk_counts``.

    Parameters
    ----------
    inst, mapping, granularity, method, priority
        As for :func:`pimopt.scheduling.list_scheduler.list_schedule`.
    incumbent
        A schedule of ``mapping`` valid under the window rule (any schedule
        that obeys the barrier is); returned unless a chunked one is shorter.
    deadline
        ``time.perf_counter()`` value: a chunk count is tried only if the time
        its schedule should take (the last one's, scaled by the chunks) is left.
    chunk_counts
        Chunk counts to try, in increasing order.
    seconds_per_row
        What a list schedule takes per compute row (e.g. the incumbent's time over
        its rows), to judge the first count against ``deadline``; later counts use
        the rate measured on the previous one.
    finest
        On ties keep the most chunks (for a CP-SAT re-timing that follows: its
        model keeps the chunks' windows, and finer chunks leave it more room).

    Returns
    -------
    (Mapping, Schedule)
        The chunked mapping and its schedule with the smallest makespan, or
        ``mapping`` and ``incumbent``.
    """
    best_m, best = mapping, incumbent
    first, last = mapping.ranges(inst)
    size = last - first
    per_row = seconds_per_row  # seconds a schedule takes per compute row
    for c in chunk_counts:
        rows = int(np.minimum(size, c).sum())
        if c <= 1 or rows > CHUNK_ROWS_LIMIT:
            continue
        if deadline is not None:
            left = deadline - time.perf_counter()
            # the schedule, and as long again for the verifier's extra computes after it
            if left <= 0 or expired(deadline) or (
                    per_row is not None and 2 * per_row * rows > left):
                break
        t0 = time.perf_counter()
        m = chunk_rows(inst, mapping, c)
        s = list_schedule(inst, m, granularity=granularity, method=method, priority=priority,
                          dependencies="window")
        per_row = (time.perf_counter() - t0) / max(rows, 1)
        if s.makespan_ps() < best.makespan_ps() or (
                finest and s.makespan_ps() == best.makespan_ps()):
            best_m, best = m, s
    return best_m, best
