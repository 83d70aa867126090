"""Provenance: the commit a result names is that of the code, not of the results."""

from __future__ import annotations

import subprocess
from pathlib import Path

from pimopt.provenance import CODE_PATHS, source_commit


def test_only_code_changes_mark_the_commit_modified(tmp_path: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "pimopt").mkdir()
    (tmp_path / "results").mkdir()
    (tmp_path / "pimopt" / "a.py").write_text("x = 1\n")
    (tmp_path / "results" / "runs.jsonl").write_text("{}\n")
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    clean = source_commit(tmp_path, CODE_PATHS)
    assert clean and "uncommitted" not in clean
    # a bench appending its own records does not make its next runs "modified"
    (tmp_path / "results" / "runs.jsonl").write_text("{}\n{}\n")
    assert source_commit(tmp_path, CODE_PATHS) == clean
    assert source_commit(tmp_path).endswith("plus uncommitted changes")  # every file
    (tmp_path / "pimopt" / "a.py").write_text("x = 2\n")
    assert source_commit(tmp_path, CODE_PATHS) == clean + " plus uncommitted changes"
