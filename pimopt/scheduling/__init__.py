"""Timelines of a mapping: the list scheduler (default), CP-SAT re-timing, joint
mapping and scheduling for small instances, input splitting and round balancing."""
