"""On-disk cache of instance bounds, keyed by instance content.

Bounds do not depend on the method, seed or time limit of a run, only on the
instance (network and architecture) and on the code that computes them, so
``pimopt bench``, ``pimopt sweep`` and the benchmark scripts, which start one
process per run, compute each once. The directory is ``$PIMOPT_CACHE_DIR``
(``off`` disables the cache), else ``~/.cache/pimopt``. Entries are small JSON
files written atomically; a missing, unreadable or foreign entry is a miss.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

CACHE_ENV = "PIMOPT_CACHE_DIR"
FORMAT = 3  # bump whenever the computation of a cached bound changes


def cache_dir() -> Path | None:
    """The cache directory, or ``None`` when caching is off."""
    raw = os.environ.get(CACHE_ENV)
    if raw is not None and raw.strip().lower() in ("", "off", "0", "none"):
        return None
    return Path(raw) if raw else Path.home() / ".cache" / "pimopt"


def _path(kind: str, key: str) -> Path | None:
    root = cache_dir()
    return None if root is None else root / f"{kind}-v{FORMAT}" / f"{key}.json"


def load(kind: str, key: str) -> dict[str, Any] | None:
    """The cached record of ``kind`` for ``key``, or ``None``."""
    path = _path(kind, key)
    if path is None or not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        log.debug("ignoring unreadable cache entry %s: %s", path, exc)
        return None
    if not isinstance(record, dict) or record.get("key") != key:
        return None
    return record


def store(kind: str, key: str, record: dict[str, Any]) -> None:
    """Write ``record`` for ``key`` (atomically; failures only log: a cache is optional)."""
    path = _path(kind, key)
    if path is None:
        return
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump({**record, "key": key}, f)
        os.replace(tmp, path)
    except OSError as exc:
        log.debug("could not write cache entry %s: %s", path, exc)
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
