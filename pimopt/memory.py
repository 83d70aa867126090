"""Memory: what the machine has, and what a solve needs at least, checked before work.

A solve keeps per-slot state (the cells each OU slot holds, when it is free)
and per-block state (patterns, costs, indices); an architecture of 2^20
crossbars of 16384 x 16384 cells has 4 x 10^12 slots and failed deep inside
numpy ("Unable to allocate 256 TiB"). :func:`pimopt.pipeline.solve` refuses it up
front with the size and the limit (:func:`check_fits`).
"""

from __future__ import annotations

import os

from pimopt.errors import InputError

SLOT_OVERHEAD = 40  # bytes per slot beyond its cells: free time, content, indices
BLOCK_OVERHEAD = 100  # bytes per block beyond its pattern: layer, tile, costs, mapping


def available_memory() -> int | None:
    """Bytes this process may still allocate: the kernel's ``MemAvailable``, and under an
    address-space limit (``ulimit -v``) what the limit leaves; None where neither is
    known (not Linux)."""
    free: int | None = None
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    free = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        free = None
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            with open("/proc/self/statm", encoding="ascii") as fh:
                used = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
            left = max(soft - used, 0)
            free = left if free is None else min(free, left)
    except (ImportError, OSError, ValueError, IndexError):
        pass
    return free


def solve_bytes(slots: int, cells_per_slot: int, blocks: int) -> int:
    """A lower estimate of the memory a solve allocates (bytes): every slot's cells and
    state, every block's pattern and state."""
    return slots * (cells_per_slot + SLOT_OVERHEAD) + blocks * (cells_per_slot + BLOCK_OVERHEAD)


def check_fits(need: int, what: str, reduce: str) -> None:
    """Refuse work that needs more than the memory available, before it allocates:
    ``what`` names the work and its sizes, ``reduce`` what to make smaller."""
    free = available_memory()
    if free is not None and need > free:
        raise InputError(f"{what} needs at least {need:,} bytes, more than the {free:,} "
                         f"bytes available: {reduce}")
