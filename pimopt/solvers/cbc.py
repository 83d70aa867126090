"""CBC through PuLP as a child process that cannot outlive pimopt or leave files behind.

PuLP runs the CBC binary with ``subprocess.Popen`` and writes its model, MIP
start and solution files into ``tmpDir``; when CBC is stopped or crashes the
files stay (52-64 MB for a 443-item layer), and a pimopt killed with SIGKILL
leaves CBC running to its own time limit. Here every CBC run

- writes its files into a private temporary folder that is always removed;
- starts in a process group of its own (a terminal's Ctrl-C reaches pimopt,
  which decides: :func:`stop_children`) and, on Linux, with a parent-death
  signal (``prctl(PR_SET_PDEATHSIG, SIGKILL)``), so it dies with pimopt
  however pimopt ends.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

_PR_SET_PDEATHSIG = 1


def _libc_prctl() -> Any | None:
    if not sys.platform.startswith("linux"):
        return None
    try:  # loaded in the parent: the child only calls a function pointer
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _libc_prctl()


def _child_setup(parent: int) -> None:
    """In the CBC child before exec: own process group, killed when pimopt dies."""
    os.setpgid(0, 0)
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


_children: set[int] = set()  # pids of the CBC processes running
_lock = threading.Lock()


class _TrackedPopen(subprocess.Popen[bytes]):
    """``subprocess.Popen`` for PuLP's CBC: set up by :func:`_child_setup`, remembered
    while it runs so that :func:`stop_children` can end it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("preexec_fn", functools.partial(_child_setup, os.getpid()))
        super().__init__(*args, **kwargs)
        with _lock:
            _children.add(self.pid)

    def wait(self, timeout: float | None = None) -> int:
        try:
            return super().wait(timeout)
        finally:
            if self.returncode is not None:
                with _lock:
                    _children.discard(self.pid)


def _install() -> None:
    """Make PuLP's CBC module start its processes through :class:`_TrackedPopen`."""
    from pulp.apis import coin_api

    if isinstance(getattr(coin_api, "subprocess", None), SimpleNamespace):
        return
    coin_api.subprocess = SimpleNamespace(**{**vars(subprocess), "Popen": _TrackedPopen})


def stop_children() -> None:
    """End every CBC process this module started and that still runs (SIGKILL to its
    group: CBC ignores SIGTERM and SIGINT while it generates cuts at the root)."""
    with _lock:
        pids = list(_children)
    for pid in pids:
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)


def command(time_limit: float, warm: bool, threads: int, log_path: str, tmp_dir: str) -> Any:
    """A PuLP CBC command: the binary of ``cbcbox`` (PuLP's ``cbc`` extra) when installed,
    else the CBC that PuLP bundles; its files go to ``tmp_dir``."""
    import pulp

    _install()
    try:
        import cbcbox

        cmd = pulp.COIN_CMD(path=cbcbox.cbc_bin_path(), msg=False, timeLimit=time_limit,
                            warmStart=warm, threads=threads, logPath=log_path)
    except ImportError:
        cmd = pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit, warmStart=warm,
                                threads=threads, logPath=log_path)
    cmd.tmpDir = tmp_dir
    return cmd


@contextlib.contextmanager
def private_folder() -> Iterator[Path]:
    """A temporary folder for one CBC run (model, start, solution and log), removed on
    exit whatever happens."""
    folder = Path(tempfile.mkdtemp(prefix="pimopt-cbc-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
