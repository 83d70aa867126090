"""On-disk cache of instance bounds, keyed by instance content.

Bounds do not depend on the method, seed or time limit of a run, only on the
instance (network and architecture) and on the code that computes them, so
``pimopt bench``, ``pimopt sweep`` and the benchmark scripts, which start one
process per run, compute each once. The directory is ``$PIMOPT_CACHE_DIR``
(``off`` disables the cache), else ``~/.cache/pimopt``. Entries are small JSON
files written atomically, each with a checksum of its kind, key and content; a
missing, unreadable, foreign or altered entry is a miss. The reader of a record
also checks its values (:mod:`pimopt.bounds.cache`): a cache can only save time,
never change an answer.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

CACHE_ENV = "PIMOPT_CACHE_DIR"
FORMAT = 4  # bump whenever the computation of a cached bound or the entry format changes


def _checksum(kind: str, key: str, record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "checksum"}
    text = json.dumps({"kind": kind, "key": key, "record": body}, sort_keys=True,
                      allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()


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
    if record.get("checksum") != _checksum(kind, key, record):
        log.warning("ignoring cache entry %s: its checksum does not match its content", path)
        return None
    return {k: v for k, v in record.items() if k != "checksum"}


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
            entry = {**record, "key": key}
            json.dump({**entry, "checksum": _checksum(kind, key, entry)}, f)
        os.replace(tmp, path)
    except OSError as exc:
        log.debug("could not write cache entry %s: %s", path, exc)
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
