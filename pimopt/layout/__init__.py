"""The layout lever: function-preserving row and column permutations before tiling.

- :mod:`pimopt.layout.layout`: the :class:`Layout` data object (permutations,
  checks, JSON round trip), :func:`laid_out`, the instance a layout makes, and
  :func:`layout_info`, its blocks before and after;
- :mod:`pimopt.layout.methods`: the layout methods (``none``, ``magnitude``,
  ``similarity``, ``auto``).
"""

from pimopt.layout.layout import Layout, laid_out, layout_info
from pimopt.layout.methods import LAYOUTS, make_layout

__all__ = ["LAYOUTS", "Layout", "laid_out", "layout_info", "make_layout"]
