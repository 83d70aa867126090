"""Solver plumbing, kept out of the models that use it: CBC as a child process that dies
with pimopt and leaves no file (:mod:`.cbc`), HiGHS with its banner silenced, a MIP start
and checked solutions (:mod:`.highs`), CP-SAT set up, interruptible and its hint log read
(:mod:`.cpsat`)."""
