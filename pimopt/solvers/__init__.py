"""Solver plumbing: how the external solvers run (processes, files, logs), kept out of
the models that use them."""
