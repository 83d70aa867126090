"""When a solve stops: one :class:`Deadline` shared out to every stage.

A time limit is the wall-clock budget of the whole solve (docs/model.md, *Costs*):
the layout, bound, map, search, re-timing, scheduling and verification
stages, and the CLI's loading and file writing, all come out of it. The
:class:`Deadline` is made once (by the CLI from the moment pimopt was
imported, or by :func:`pimopt.solve` when it is called), keeps back time for the stages that
are linear in the blocks and cannot be cut (scheduling, verification,
writing), and gives each time-limited stage its share. Every share is a named
constant here, not a number in the stage's code. A Ctrl-C
(:mod:`pimopt.interrupt`) ends every stage as if its time were up.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pimopt import interrupt

log = logging.getLogger("pimopt.solve")

# Per non-zero block, what the stages that cannot be cut take (measured on 2 cores:
# MobileNetV2-CIFAR, 281,325 blocks: a list schedule 2.5 s, verification 2.3 s, the
# result files with the console summary 1.5 s, the weight-sorted mapping 1.2 s), with
# some margin for a loaded machine
SCHEDULE_PER_BLOCK_S = 1.2e-5  # one list schedule
VERIFY_PER_BLOCK_S = 1.2e-5  # the verifier's replay and functional check
WRITE_PER_BLOCK_S = 2e-5  # the CLI's result files (JSON below 10^5 blocks: 17 us a block on
# ResNet-20; npz above) and the console summary
WRITE_FIXED_S = 0.2  # and per run, whatever its size
# the sorted and naive candidates of the makespan objective: a sorted mapping and two
# list schedules, paid from the map stage
CANDIDATES_PER_BLOCK_S = 5e-6 + 2 * SCHEDULE_PER_BLOCK_S
MAKESPAN_MAP_PER_BLOCK_S = 1.2e-5  # the makespan-aware mapping at its least (sorted chains)
RESERVE_MAX_SHARE = 0.6  # never more than this share of the limit is kept back
SAFETY_SHARE = 0.05  # and this share besides: stages stop at their next check, not at once
MAP_OVERHEAD_PER_BLOCK_S = 4e-6  # items and mapping around the chain methods
LAYOUT_SHARE, LAYOUT_CAP_S = 0.15, 60.0  # the layout stage: share of the limit, cap
BOUND_SHARE, BOUND_CAP_S = 0.3, 20.0  # the bound stage: share of the limit, cap
REBOUND_SHARE = 0.6  # of the time left, for a cut bound recomputed after the method
# the pipelining stage (window rule) tries 2, 4, 8 and 16 chunks: about 2 x 30 schedules
# of the unchunked instance with their verification; the search before it leaves that
PIPELINE_SCHEDULES = 60
# a bound the stage would cut runs in a second process (bounds/background.py) with this
# share of the time left (its last step, the flow solve, starts only if it fits), and
# the stage computes a quick one with this share of the limit
BACKGROUND_BOUND_SHARE, FOREGROUND_BOUND_SHARE = 0.9, 0.05
WARM_SHARE = 0.25  # an exact method's warm start, out of the method's own time
# building an exact model and its first solver call, per arc (measured on 2 cores, 12k-95k
# arcs at a 0.05 s solver limit: CP-SAT 29-50 us, HiGHS 67-82 us, CBC 72-109 us): a model
# that cannot be built in the time left is not started (its warm start stands)
MODEL_BUILD_S_PER_ARC = {"cpsat": 5e-5, "highs": 9e-5, "cbc": 1.2e-4}
OVERRUN_S = 0.5  # a stage this far past its budget is reported as overrun


@dataclass
class Stage:
    """One stage of a solve: its name, time budget, time taken and whether it was cut short.

    ``budget_s`` is ``None`` for stages that are not time-limited (the list
    scheduler and the verifier take time linear in the operations; their time
    is kept back by the :class:`Deadline`).
    """

    name: str
    budget_s: float | None
    seconds: float = 0.0
    cut_short: bool = False
    note: str = ""

    @property
    def budget(self) -> float:
        """The budget in seconds (infinite for stages without one)."""
        return float("inf") if self.budget_s is None else self.budget_s

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"name": self.name, "budget_s": self.budget_s, "seconds": self.seconds,
                "cut_short": self.cut_short, "note": self.note}


class Deadline:
    """The wall-clock budget of one solve, shared out to its stages.

    Parameters
    ----------
    time_limit
        Seconds from ``start``.
    start
        A ``time.perf_counter`` value (default: now). The CLI starts the
        deadline at the import of pimopt (``pimopt.IMPORTED_AT``), so the
        imports and loading the instance count too.
    write
        The result files are written within the limit too (the CLI): their
        time is kept back as well.
    """

    def __init__(self, time_limit: float, start: float | None = None, *,
                 write: bool = False) -> None:
        self.start = time.perf_counter() if start is None else start
        self.limit = float(time_limit)
        self.end = self.start + self.limit
        self.write = write
        self.reserve = 0.0
        # progress lines (solve(display=True)): called with one line per stage start and end
        self.display: Callable[[str], None] | None = None

    def _need(self, blocks: int) -> float:
        per_block = SCHEDULE_PER_BLOCK_S + VERIFY_PER_BLOCK_S
        if not self.write:
            return blocks * per_block
        return blocks * (per_block + WRITE_PER_BLOCK_S) + WRITE_FIXED_S

    def keep_back(self, blocks: int) -> float:
        """Keep back the time the uncuttable stages need for ``blocks`` non-zero blocks
        (schedule, verify, and the files if :attr:`write`); returns the seconds kept
        back, at most :data:`RESERVE_MAX_SHARE` of the limit."""
        self.reserve = max(self.reserve, min(self._need(blocks) + SAFETY_SHARE * self.limit,
                                             RESERVE_MAX_SHARE * self.limit))
        return self.reserve

    def too_short(self, blocks: int, extra_per_block: float = 0.0) -> str | None:
        """One line saying the limit is too short for ``blocks`` blocks, or ``None``.

        ``extra_per_block``: what else the method cannot cut (its baseline
        candidates); the limit is too short when the uncuttable work would take more
        than :data:`RESERVE_MAX_SHARE` of it.
        """
        need = self._need(blocks) + blocks * extra_per_block
        if need <= RESERVE_MAX_SHARE * self.limit:
            return None
        return (f"time_limit {self.limit:g} s is short for {blocks:,} blocks: the stages that "
                f"cannot be cut (scheduling, verifying{', writing' if self.write else ''}"
                f"{', the baseline candidates' if extra_per_block else ''}) take about "
                f"{need:,.1f} s, so the run may end after its limit or skip the candidates "
                f"(give at least {need / RESERVE_MAX_SHARE:,.0f} s)")

    def elapsed(self) -> float:
        """Seconds since the start."""
        return time.perf_counter() - self.start

    def remaining(self) -> float:
        """Seconds to the end (0 once past, or once an interrupt was requested)."""
        return max(0.0, interrupt.seconds_left(self.end))

    def left(self) -> float:
        """Seconds the time-limited stages may still use (the reserve kept back)."""
        return max(0.0, interrupt.seconds_left(self.end - self.reserve))

    def share(self, fraction: float, cap: float = float("inf")) -> float:
        """``fraction`` of the limit, at most ``cap`` and what is left."""
        return min(fraction * self.limit, cap, self.left())

    def expired(self) -> bool:
        """True once the end has passed or an interrupt was requested."""
        return interrupt.expired(self.end)

    @contextmanager
    def stage(self, name: str, budget: float | None, stages: list[Stage]) -> Iterator[Stage]:
        """Run a stage with ``budget`` seconds (``None``: uncut); records it in ``stages``
        with its time and whether it was cut short (interrupted, or past its budget)."""
        st = Stage(name, budget)
        log.info("stage %s: started (%s)", name,
                 "no budget" if budget is None else f"budget {budget:.2f} s")
        if self.display is not None:
            self.display(f"{self.elapsed():7.2f} s  {name:<18} started"
                         + ("" if budget is None else f" (budget {budget:.2f} s)"))
        t = time.perf_counter()
        try:
            yield st
        finally:
            st.seconds = time.perf_counter() - t
            if budget is not None and interrupt.requested():  # it stopped early for Ctrl-C
                st.cut_short = True
                st.note = (st.note + "; " if st.note else "") + "interrupted"
            if budget is not None and st.seconds > budget + OVERRUN_S:
                st.cut_short = True  # overran: the stage could not stop in time
                st.note = (st.note + "; " if st.note else "") + "overran its budget"
            stages.append(st)
            if self.display is not None:
                self.display(f"{self.elapsed():7.2f} s  {name:<18} {st.seconds:.2f} s"
                             + (" (cut short)" if st.cut_short else "")
                             + (f"; {st.note}" if st.note else ""))
            log.info("stage %s: %.2f s of %s%s%s", name, st.seconds,
                     "no budget" if budget is None else f"{budget:.2f} s",
                     " (cut short)" if st.cut_short else "", f"; {st.note}" if st.note else "")
