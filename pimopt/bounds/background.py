"""The makespan bound in a second process, while the method maps in this one.

On an instance whose bound needs more than the bound stage's share of the
time limit (ResNet-20: 25-30 s for all 5.7 * 10^8 pattern pairs), the stage
used to cut it: the printed gap then measured the cut bound, not the method
(16.7% printed against 14.1% after ``pimopt bound``). The heuristics run on
one core, so where the machine has a second one the bound runs there for
nearly the whole time limit (:class:`BackgroundBound`), forked so that the
instance is shared rather than copied, and the solve keeps the larger of it
and the quick bound it computed itself (both are valid).

The child only computes: it writes no file (the parent caches what it
returns), ignores Ctrl-C (the parent stops it) and is terminated if it has
not answered when the parent's time is up.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
import weakref
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from pimopt import interrupt
from pimopt.bounds.makespan import MakespanBound, makespan_bound
from pimopt.instance import Instance

MIN_SECONDS = 1.0  # a background bound with less time than this is not started


def cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def available(threads: int) -> bool:
    """Whether a background bound can run beside ``threads`` busy threads of this
    process (a spare core, and ``fork`` to share the instance)."""
    return "fork" in mp.get_all_start_methods() and cores() > threads


def _child(conn: Connection, inst: Instance, time_limit: float) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    try:
        conn.send(makespan_bound(inst, time_limit=time_limit).to_dict())
    except Exception as exc:
        conn.send({"error": f"{type(exc).__name__}: {exc}"})
    finally:
        conn.close()


def _stop(proc: BaseProcess, conn: Connection) -> None:
    if proc.is_alive():
        proc.terminate()
    proc.join(timeout=2.0)
    conn.close()


class BackgroundBound:
    """:func:`~pimopt.bounds.makespan.makespan_bound` of ``inst`` with ``time_limit``
    seconds, in a forked process started now (stopped when this object is collected,
    if :meth:`result` was never called)."""

    def __init__(self, inst: Instance, time_limit: float) -> None:
        ctx = mp.get_context("fork")
        recv, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_child, args=(send, inst, time_limit), daemon=True,
                           name="pimopt-bound")
        self.time_limit = time_limit
        self.started = time.perf_counter()
        proc.start()
        send.close()
        self._recv = recv
        self._stop = weakref.finalize(self, _stop, proc, recv)
        self.error: str | None = None

    def result(self, wait: float) -> MakespanBound | None:
        """The bound, waiting at most ``wait`` seconds (less on Ctrl-C) for it; ``None``
        if it did not come (the process is then stopped) or failed (:attr:`error` says
        why)."""
        rec: dict[str, Any] | None = None
        end = time.perf_counter() + max(0.0, wait)
        try:
            while True:  # in slices, so that Ctrl-C stops the wait
                if self._recv.poll(min(0.1, max(0.0, end - time.perf_counter()))):
                    rec = self._recv.recv()
                    break
                if interrupt.expired(end):
                    self.error = f"no bound within {wait:.1f} s"
                    break
        except (EOFError, OSError) as exc:
            self.error = f"the bound process ended without a bound ({exc!r})"
        finally:
            self._stop()
        if rec is None:
            return None
        if "error" in rec:
            self.error = str(rec["error"])
            return None
        return MakespanBound(**rec)
