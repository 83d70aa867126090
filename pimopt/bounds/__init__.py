"""Lower bounds and why they are valid (docs/bounds.md).

- :mod:`pimopt.bounds.programming`: assignment, layered, sparse and LP bounds on
  the mapping objective (programming latency, cell writes);
- :mod:`pimopt.bounds.makespan`: the makespan bound, valid for every schedule;
- :mod:`pimopt.bounds.agreement`: the agreement search behind its programming term
  at scale;
- :mod:`pimopt.bounds.cache`: bounds per instance, cached in memory and on disk.
"""
