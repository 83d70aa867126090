"""The code base stays ruff- and mypy-clean and keeps its import contracts (pyproject.toml,
``[tool.importlinter]``: layers, a data layer free of methods, no cycles); part of the
default test run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_clean() -> None:
    res = subprocess.run([sys.executable, "-m", "ruff", "check", "pimopt", "tests", "scripts"],
                         cwd=ROOT, capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stdout + res.stderr


def test_mypy_clean() -> None:
    res = subprocess.run([sys.executable, "-m", "mypy", "pimopt", "tests", "scripts"], cwd=ROOT,
                         capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stdout + res.stderr


def test_import_contracts_kept() -> None:
    """``lint-imports`` (import-linter): every contract in pyproject.toml is kept."""
    code = "from importlinter.cli import lint_imports; raise SystemExit(lint_imports())"
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=False)
    assert res.returncode == 0 and " 0 broken" in res.stdout, res.stdout + res.stderr
