"""Minimum inference latency: the makespan lower bound and makespan-aware mapping.

- :mod:`pimopt.makespan.bound`: a lower bound on the makespan valid for every
  mapping and schedule of an instance (proof in ``docs/bounds.md``);
- :mod:`pimopt.makespan.balanced`: the makespan-aware mapping pipeline that
  spreads every layer's compute over all OUs of the chip and lets a chain
  method minimise programming inside each crossbar.
"""

from pimopt.makespan.bound import MakespanBound, makespan_bound

__all__ = ["MakespanBound", "makespan_bound"]
