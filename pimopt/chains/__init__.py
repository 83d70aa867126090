"""The chain problem (one chain of loads per slot) and the methods that solve it.

- :mod:`pimopt.chains.problem`: :class:`ChainProblem`, its checks and costs, and the
  items of a network's layers;
- :mod:`pimopt.chains.construct`: constructions (sorted, greedy, assignment);
- :mod:`pimopt.chains.local_search`: relocate and swap moves, round reassignment;
- :mod:`pimopt.chains.granular`: the granular heuristic for large layers;
- :mod:`pimopt.chains.candidates`: candidate lists (close patterns) for them;
- :mod:`pimopt.chains.lns`: CP-SAT large-neighbourhood search;
- :mod:`pimopt.chains.exact`: the CP-SAT and MILP models.
"""
