"""The JSON Schemas shipped with pimopt (``pimopt/data/schemas``) and one way to apply them.

``network`` (network files), ``schedule`` (a schedule file's header: every field
but its operation lists), ``run-record`` (bench and sweep records) and
``layout`` (``layout.json``, the row and column permutations of a solution). A file
that breaks its schema is an :class:`~pimopt.errors.InputError` naming the
file, the field, its value and what the schema wants.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from pimopt.errors import InputError

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "data" / "schemas"
NAMES = ("network", "schedule", "run-record", "layout")


def schema_path(name: str) -> Path:
    """The file of schema ``name`` (one of :data:`NAMES`)."""
    if name not in NAMES:
        raise ValueError(f"no schema {name!r}: one of {', '.join(NAMES)}")
    return SCHEMA_DIR / f"{name}.schema.json"


@cache
def validator(name: str) -> Any:
    """A Draft 2020-12 validator of schema ``name`` (the schema itself checked once)."""
    import jsonschema

    schema = json.loads(schema_path(name).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _value(v: Any) -> str:
    text = json.dumps(v) if isinstance(v, (dict, list, str, bool)) or v is None else repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def validate(data: Any, name: str, source: str) -> None:
    """Raise ``InputError`` if ``data`` breaks schema ``name``.

    The error names ``source``, the first offending field (``layers[0].deps``)
    with its value, and what the schema wants.
    """
    errors = sorted(validator(name).iter_errors(data),
                    key=lambda e: (list(map(str, e.path)), e.validator != "required"))
    if not errors:
        return
    e = errors[0]
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e.path).lstrip(".")
    if not where:
        raise InputError(f"{source}: {e.message} (schema {name}.schema.json)")
    if e.validator == "required":
        raise InputError(f"{source}: field {where}: {e.message} (schema {name}.schema.json)")
    raise InputError(f"{source}: field {where} = {_value(e.instance)} is invalid: "
                     f"{e.message} (schema {name}.schema.json)")
