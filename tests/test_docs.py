"""The documentation site builds with warnings as errors, and its tutorial runs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_site_builds_with_warnings_as_errors_and_runs_the_tutorial(
        tmp_path: Path) -> None:
    """`python -m sphinx -W docs OUT`: numpydoc API pages from the docstrings, the
    model/methods/bounds/architecture pages, the tutorial executed by sphinx-gallery
    (a fresh copy of docs/, so the tutorial runs whatever was built before)."""
    src = tmp_path / "docs"
    shutil.copytree(ROOT / "docs", src,
                    ignore=shutil.ignore_patterns("auto_examples", "sg_execution_times.rst"))
    out = tmp_path / "html"
    res = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q",
                          str(src), str(out)], capture_output=True, text=True, timeout=600,
                         cwd=ROOT)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    tutorial = (out / "auto_examples" / "tutorial.html").read_text()
    assert "vs first" in tutorial and "gap" in tutorial  # its printed output: it ran
    assert list((out / "_images").glob("sphx_glr_tutorial_*.png"))  # and drew
    api = (out / "api.html").read_text()
    assert "Map, schedule and verify an instance with one method" in api  # solve's docstring
    for page in ("model", "methods", "bounds", "architecture"):
        assert (out / f"{page}.html").is_file()
