"""The chain problem (one chain of loads per slot) and the methods that solve it.

- :mod:`pimopt.chains.problem`: :class:`ChainProblem`, its checks and costs, and the
  items of a network's layers;
- :mod:`pimopt.chains.heuristics`: constructions and local searches;
- :mod:`pimopt.chains.candidates`: candidate lists (close patterns) for them;
- :mod:`pimopt.chains.lns`: CP-SAT large-neighbourhood search;
- :mod:`pimopt.chains.exact`: the CP-SAT and MILP models.
"""
