"""Cooperative interruption: Ctrl-C ends a solve early with its best verified solution.

While :func:`catch_sigint` is active (``pimopt.solve`` activates it around a
solve run from the main thread), the first SIGINT does not raise: it sets a
flag that every deadline check reads through :func:`expired`, so each stage
stops as if its time were up, the schedule is still built and verified, and
the result says ``interrupted``. A second SIGINT raises ``KeyboardInterrupt``
as usual (the way out of a stage that cannot stop).

Solvers that run in C++ (CP-SAT, HiGHS) do not return to Python until they
end, so :func:`run_cancellable` runs them in a thread and calls their own stop
function once the flag is set. As OR-Tools' ``catch_sigint_signal`` and
highspy's ``HandleKeyboardInterrupt`` do, but with one flag for the whole
pipeline, so the result can say it was interrupted.

The flag is per solve: :func:`catch_sigint` gives the block a flag of its own
in a context variable, so two solves in two threads never set or clear each
other's, and code outside any solve shares one default flag.
"""

from __future__ import annotations

import contextvars
import functools
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, TypeVar, cast

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

_DEFAULT = threading.Event()  # the flag outside any solve
_current: contextvars.ContextVar[threading.Event] = contextvars.ContextVar(
    "pimopt_interrupt", default=_DEFAULT)
POLL_S = 0.05  # how often a waiting thread looks at the flag


_TERMINATING = threading.Event()  # sticky: SIGTERM stops this solve and every later one


def terminate() -> bool:
    """Stop the current solve as :func:`request` does, and every solve started after it
    (SIGTERM: the process is ending). True the first time, False once terminating."""
    first = not _TERMINATING.is_set()
    _TERMINATING.set()
    _current.get().set()
    return first


def terminating() -> bool:
    """True once :func:`terminate` was called."""
    return _TERMINATING.is_set()


def requested() -> bool:
    """True once an interrupt was requested (and not yet cleared) for the current solve."""
    return _current.get().is_set()


def request() -> None:
    """Ask every running stage of the current solve to stop as if its time were up (what
    SIGINT does)."""
    _current.get().set()


def clear() -> None:
    """Forget an earlier request (a new solve starts uninterrupted)."""
    _current.get().clear()


def expired(deadline: float | None, margin: float = 0.0) -> bool:
    """True if ``deadline`` (a ``time.perf_counter`` value, ``None``: none) is within
    ``margin`` seconds or past, or an interrupt was requested."""
    if _current.get().is_set():
        return True
    return deadline is not None and time.perf_counter() + margin > deadline


def seconds_left(deadline: float) -> float:
    """Seconds until ``deadline`` (negative once past); 0 once an interrupt was requested."""
    return 0.0 if _current.get().is_set() else deadline - time.perf_counter()


@contextmanager
def catch_sigint() -> Iterator[None]:
    """Turn the first Ctrl-C into :func:`request` for the duration of the block.

    Only Python's default SIGINT handler is replaced, and only in the main
    thread: a caller that ignores SIGINT (a bench worker) or handles it its
    own way keeps its behaviour. The block gets a new flag, dropped on exit: the
    block reads :func:`requested` before it ends (a solve puts it in its
    status), and work after it is not cut short by an old Ctrl-C.
    """
    flag = threading.Event()  # this block's own flag, in its context only
    if _TERMINATING.is_set():  # the process is ending: this solve too stops at once
        flag.set()
    token = _current.set(flag)
    if threading.current_thread() is not threading.main_thread() \
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        try:
            yield
        finally:
            _current.reset(token)
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if flag.is_set():  # the second Ctrl-C: stop now
            raise KeyboardInterrupt
        flag.set()

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        _current.reset(token)


def interruptible(fn: F) -> F:
    """Decorator: ``fn`` runs inside :func:`catch_sigint`."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with catch_sigint():
            return fn(*args, **kwargs)
    return cast(F, wrapper)


def run_cancellable(run: Callable[[], T], cancel: Callable[[], object]) -> T:
    """``run()`` in a worker thread; ``cancel()`` while an interrupt is requested.

    ``run`` must release the GIL (a C++ solver or a child process) and return
    soon after ``cancel``, which must be idempotent (it is called at every
    poll once the flag is set); its result (or exception) is passed on. A ``KeyboardInterrupt``
    in the waiting thread also cancels the solver before it propagates, so no
    solver thread outlives the call.
    """
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["value"] = run()
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc

    flag = _current.get()
    th = threading.Thread(target=contextvars.copy_context().run, args=(target,),
                          name="pimopt-solver", daemon=True)
    th.start()
    try:
        while th.is_alive():
            th.join(POLL_S)
            if flag.is_set():  # again at every poll: a solver process may start late
                cancel()
    except BaseException:
        cancel()
        th.join()
        raise
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]
