"""Sphinx configuration of pimopt's documentation site (``python -m sphinx -W docs OUT``)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # the gallery runs the tutorial headless (the site's own choice)

from pimopt import __version__

project = "pimopt"
author = "pimopt developers"
copyright = "pimopt developers, MIT licence"
release = __version__
version = __version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "examples", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.json", "auto_examples/*.md5"]
myst_heading_anchors = 3
suppress_warnings = ["myst.xref_missing", "myst.header"]  # links to repository files
numpydoc_show_class_members = False
numpydoc_validation_checks: set[str] = set()
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # the numpydoc sections carry the types
html_theme = "alabaster"
html_static_path: list[str] = []

sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/tutorial",
    "download_all_examples": False,
    "abort_on_example_error": True,
    "remove_config_comments": True,
}
