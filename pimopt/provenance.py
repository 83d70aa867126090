"""Provenance of results: package versions, the source commit, the machine."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path


def versions() -> dict[str, str]:
    """Versions of Python, pimopt and the numerical and solver packages."""
    out = {"python": platform.python_version(), "machine": platform.machine()}
    for pkg in ("pimopt", "numpy", "scipy", "ortools", "pulp", "highspy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return out


# what decides a run's behaviour; results/ and docs/ do not (a bench writing its own
# records must not mark its later runs as run from modified code)
CODE_PATHS = ("pimopt", "scripts", "pyproject.toml")


def source_commit(root: str | Path, paths: tuple[str, ...] = ()) -> str:
    """Short commit of the checkout at ``root``, marked when tracked files are modified
    (only those under ``paths`` when given).

    Call it before the work starts: the code that runs is the code of that moment.
    """
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                              check=False).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    if git("status", "--porcelain", "--untracked-files=no", "--", *paths):
        commit += " plus uncommitted changes"
    return commit


def package_commit() -> str:
    """:func:`source_commit` of the checkout pimopt runs from, if it runs from one; only
    changes to its code (:data:`CODE_PATHS`) mark it modified."""
    root = Path(__file__).resolve().parents[1]
    if not (root / ".git").exists():
        return "unknown (not run from a git checkout)"
    return source_commit(root, CODE_PATHS)


def machine() -> str:
    """Operating system, processor architecture and core count."""
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores"
