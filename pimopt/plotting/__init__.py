"""Plots: every chart has a function that draws into a given matplotlib ``ax`` and returns
it, and a thin wrapper that writes a file; library code never switches the backend or
touches pyplot's state."""

from pimopt.plotting.timeline import Bars, draw_gantt, gantt, gantt_bars, merge_intervals

__all__ = ["Bars", "draw_gantt", "gantt", "gantt_bars", "merge_intervals"]
