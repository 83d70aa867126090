"""The mapping methods, one registry object each (:data:`pimopt.methods.registry.METHODS`).

- :mod:`pimopt.methods.registry`: :class:`Method` and the registry;
- :mod:`pimopt.methods.chain_methods`: the chain methods' runners (time shares,
  warm starts, fallbacks);
- :mod:`pimopt.methods.decompose`: chain problems per layer or for the whole
  network, and the mapping their chains make;
- :mod:`pimopt.methods.baselines`: ``naive``;
- :mod:`pimopt.methods.balanced`: the makespan-aware mapping;
- :mod:`pimopt.methods.search`: its schedule-driven search.
"""
