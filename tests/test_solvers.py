"""Solver plumbing (pimopt/solvers/): CBC processes belong to the solve that started them."""

from __future__ import annotations

import signal
import sys

import pytest

from pimopt.solvers import cbc


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process groups, prctl")
def test_stopping_one_solve_ends_only_its_own_cbc() -> None:
    """Two solves in two threads each run CBC; an interrupt of one (its own flag) must not
    kill the other's CBC, as the /proc scan of all children did."""
    mine: set[int] = set()
    theirs: set[int] = set()
    procs = []
    for owned in (mine, theirs):
        cbc._owner.pids = owned
        try:
            procs.append(cbc._TrackedPopen(["sleep", "30"]))
        finally:
            cbc._owner.pids = None
    try:
        assert mine == {procs[0].pid} and theirs == {procs[1].pid}
        cbc.stop_children(mine)
        assert procs[0].wait(5) == -signal.SIGKILL
        assert procs[1].poll() is None  # the other solve's CBC runs on
        assert not mine  # a finished process leaves its solve's set
    finally:
        cbc.stop_children(theirs)
        procs[1].wait(5)
    assert not theirs
