"""The layout lever: function-preserving row and column permutations before tiling.

- :mod:`pimopt.layout.layout`: the :class:`Layout` data object (permutations,
  checks, JSON round trip) and :func:`laid_out`, the instance a layout makes;
- :mod:`pimopt.layout.methods`: the layout methods (``none``, ``magnitude``,
  ``similarity``, ``auto``).
"""

from pimopt.layout.layout import Layout, laid_out
from pimopt.layout.methods import LAYOUTS, make_layout

__all__ = ["LAYOUTS", "Layout", "laid_out", "make_layout"]
