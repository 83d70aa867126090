"""The timeline of a solution (docs/model.md, *Correctness*): timed program and compute operations.

Times are integer picoseconds. A program operation writes one or more slots
of one crossbar; each write names the block whose pattern it loads and the
cell levels it leaves in the slot (stored, so that the verifier replays what
is physically written rather than trusting the block reference). A compute
operation applies the input vectors ``[first, last)`` of its block's layer to
one slot.

Files: ``.json`` (below), ``.json.gz`` (the same, gzip-compressed) or
``.npz`` (columnar: one compressed array per field of :class:`Schedule`, and
the header fields as a JSON string in ``header``), chosen by the name's
extension when saving and loading. JSON format (``schedule.json``)::

    {"format": "pimopt-schedule", "version": 1, "time_unit": "ps",
     "method": ..., "instance": {"name", "sha256", "network_sha256"},
     "architecture": {...every parameter...},
     "layout": {...pimopt-layout, only if the blocks were cut after a layout...},
     "program": [{"crossbar", "start", "end",
                  "writes": [{"slot", "block", "levels": "<hex digit per cell>"}]}],
     "compute": [{"crossbar", "slot", "block", "inputs": [first, last],
                  "start", "end"}]}
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pimopt.architecture import MAX_TIME_PS, Architecture
from pimopt.errors import InputError
from pimopt.io.files import (
    format_by_name,
    gunzip_text,
    load_npz,
    npz_bytes,
    read_bytes,
    read_json,
    write_atomic_bytes,
)
from pimopt.io.schemas import validate
from pimopt.layout.layout import Layout

FORMAT = "pimopt-schedule"
PROGRAM_FIELDS = ("prog_crossbar", "prog_start", "prog_end")
WRITE_FIELDS = ("write_op", "write_slot", "write_block")
COMPUTE_FIELDS = ("comp_crossbar", "comp_slot", "comp_block", "comp_first", "comp_last",
                  "comp_start", "comp_end")
_HEX = np.frombuffer(b"0123456789abcdef", dtype="S1")


FORMATS = ("json", "json.gz", "npz")


def format_of(path: str | Path) -> str:
    """The schedule format a file name asks for: ``.json``, ``.json.gz`` or ``.npz``."""
    return format_by_name(path, FORMATS, "schedule file")


MAX_OU = 1024  # rows or columns of an OU a schedule file may declare


def _int(v: object, what: str, lo: int = 0, hi: int = MAX_TIME_PS) -> int:
    """An integer field of a schedule file: no floats, no booleans, within [lo, hi]."""
    if isinstance(v, bool) or not isinstance(v, int):
        raise InputError(f"{what} = {v!r} must be an integer")
    if not lo <= v <= hi:
        raise InputError(f"{what} = {v} is outside [{lo}, {hi}]")
    return v


def _layout(head: dict[str, Any], source: str) -> Layout | None:
    """The layout a schedule header records (``None`` if none)."""
    data = head.get("layout")
    return None if data is None else Layout.from_json(data, f"{source}: layout")


_I64_MAX = np.iinfo(np.int64).max


def _integers(name: str, a: object, hi: int = _I64_MAX, lo: int = -_I64_MAX
              ) -> NDArray[Any]:
    """``a`` as a flat array of integers in ``[lo, hi]``, never rounded or wrapped: a
    float that is not a whole number, a bool, a non-number or a value outside is an
    :class:`InputError` naming the field."""
    try:
        arr = np.asarray(a)
    except (TypeError, ValueError) as exc:
        raise InputError(f"Schedule.{name} must be an array of integers: {exc}") from None
    if arr.dtype.kind == "f":
        ok = np.isfinite(arr) & (arr == np.round(arr))
        if not ok.all():
            bad = arr.reshape(-1)[np.flatnonzero(~ok.reshape(-1))[0]]
            raise InputError(f"Schedule.{name} must hold integers, got {bad!r}")
        if arr.size and (arr.max() > hi or arr.min() < lo):
            raise InputError(f"Schedule.{name} must hold integers in [{lo}, {hi}], got "
                             f"{arr.max() if arr.max() > hi else arr.min()!r}")
        return arr.astype(np.int64).reshape(-1)
    if arr.dtype.kind not in "iu" and not (arr.dtype.kind == "O" and arr.size == 0):
        raise InputError(f"Schedule.{name} must be an array of integers, got dtype "
                         f"{arr.dtype}")
    if arr.size and (int(arr.max()) > hi or int(arr.min()) < lo):  # uint64 above int64,
        # levels above a byte, times the verifier could not subtract
        bad = int(arr.max()) if int(arr.max()) > hi else int(arr.min())
        raise InputError(f"Schedule.{name} must hold integers in [{lo}, {hi}], got {bad}")
    return arr.reshape(-1)


def _i64(name: str, a: object) -> NDArray[np.int64]:
    # times and indices alike stay within the files' limit, which the verifier replays
    # exactly (it never adds two of them)
    try:
        shape: tuple[int, ...] | None = np.shape(a)  # type: ignore[call-overload]
    except ValueError:  # ragged: _integers names it
        shape = None
    if shape is not None and len(shape) != 1:  # one entry per operation, never flattened
        raise InputError(f"Schedule.{name} must be a 1-D array (one entry per operation), "
                         f"got shape {shape}")
    return _integers(name, a, hi=MAX_TIME_PS, lo=-MAX_TIME_PS).astype(np.int64)


@dataclass(eq=False)
class Schedule:
    """Program and compute operations, column-wise (one array per field).

    Attributes
    ----------
    prog_crossbar, prog_start, prog_end
        One entry per program operation.
    write_op, write_slot, write_block, write_levels
        One entry per slot written; ``write_op`` indexes the program operation
        and ``write_levels`` (writes, ou_rows, ou_cols) holds the new levels.
    comp_crossbar, comp_slot, comp_block, comp_first, comp_last, comp_start, comp_end
        One entry per compute operation on inputs ``[comp_first, comp_last)``.
    method
        Name of the method that produced the schedule.
    meta
        Free-form provenance (instance hash, architecture, ...).
    layout
        The row and column permutations the blocks were cut after
        (:class:`pimopt.layout.Layout`); ``None``: the tiles as imported. Block
        numbers and written levels refer to the laid-out tiles; the instance
        recorded in ``meta`` is the one before layout.
    """

    prog_crossbar: NDArray[np.int64]
    prog_start: NDArray[np.int64]
    prog_end: NDArray[np.int64]
    write_op: NDArray[np.int64]
    write_slot: NDArray[np.int64]
    write_block: NDArray[np.int64]
    write_levels: NDArray[np.uint8]
    comp_crossbar: NDArray[np.int64]
    comp_slot: NDArray[np.int64]
    comp_block: NDArray[np.int64]
    comp_first: NDArray[np.int64]
    comp_last: NDArray[np.int64]
    comp_start: NDArray[np.int64]
    comp_end: NDArray[np.int64]
    method: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    layout: Layout | None = None

    def __post_init__(self) -> None:
        for f in PROGRAM_FIELDS + WRITE_FIELDS + COMPUTE_FIELDS:
            setattr(self, f, _i64(f, getattr(self, f)))
        raw = np.asarray(self.write_levels)
        flat = _integers("write_levels", raw, hi=255, lo=0)  # never wrapped to uint8
        lv: NDArray[np.uint8] = flat.astype(np.uint8).reshape(raw.shape)
        if lv.ndim != 3 or lv.shape[0] != self.write_op.size:
            raise InputError(f"Schedule.write_levels must have shape (writes, ou_rows, ou_cols) "
                             f"with {self.write_op.size} writes, got {lv.shape}")
        self.write_levels = lv
        for group in (PROGRAM_FIELDS, WRITE_FIELDS, COMPUTE_FIELDS):
            sizes = {getattr(self, f).size for f in group}
            if len(sizes) != 1:
                raise InputError(f"Schedule fields {group} have different lengths")
        if self.write_op.size and (self.write_op.min() < 0
                                   or self.write_op.max() >= self.prog_start.size):
            raise InputError("Schedule.write_op refers to a program operation that does not "
                             "exist")

    @property
    def n_program(self) -> int:
        """Number of program operations."""
        return int(self.prog_start.size)

    @property
    def n_compute(self) -> int:
        """Number of compute operations."""
        return int(self.comp_start.size)

    def makespan_ps(self) -> int:
        """End of the last operation, ps (operations start at time >= 0)."""
        ends = np.concatenate([self.prog_end, self.comp_end, [0]])
        return int(ends.max())

    def copy(self) -> Schedule:
        """A deep copy (arrays copied)."""
        kw = {f: getattr(self, f).copy() for f in self.__dataclass_fields__
              if isinstance(getattr(self, f), np.ndarray)}
        return Schedule(**kw, method=self.method, meta=json.loads(json.dumps(self.meta)),
                        layout=self.layout)

    def _header(self) -> dict[str, Any]:
        head = {"format": FORMAT, "version": 1, "time_unit": "ps", "method": self.method,
                **self.meta}
        if self.layout is not None:
            head["layout"] = self.layout.to_json()
        return head

    # ------------------------------------------------------------------ I/O
    def to_json(self) -> dict[str, Any]:
        """JSON-serialisable dict (see the module docstring for the format)."""
        nw = self.write_op.size
        cells = self.write_levels.reshape(nw, -1)
        hexes: Any = _HEX[cells].view(f"S{cells.shape[1]}").ravel() if nw else []
        order = np.argsort(self.write_op, kind="stable")
        writes: list[list[dict[str, Any]]] = [[] for _ in range(self.n_program)]
        for i in order:
            writes[self.write_op[i]].append({"slot": int(self.write_slot[i]),
                                             "block": int(self.write_block[i]),
                                             "levels": hexes[i].decode()})
        program = [{"crossbar": int(x), "start": int(s), "end": int(e), "writes": w}
                   for x, s, e, w in zip(self.prog_crossbar.tolist(), self.prog_start.tolist(),
                                         self.prog_end.tolist(), writes, strict=True)]
        compute = [{"crossbar": x, "slot": s, "block": b, "inputs": [f, la], "start": st,
                    "end": en}
                   for x, s, b, f, la, st, en in zip(
                       self.comp_crossbar.tolist(), self.comp_slot.tolist(),
                       self.comp_block.tolist(), self.comp_first.tolist(),
                       self.comp_last.tolist(), self.comp_start.tolist(),
                       self.comp_end.tolist(), strict=True)]
        shape = list(self.write_levels.shape[1:])
        return {**self._header(), "levels_shape": shape, "program": program, "compute": compute}

    def dumps(self) -> str:
        """``schedule.json`` text."""
        return json.dumps(self.to_json(), separators=(",", ":")) + "\n"

    def to_bytes(self, fmt: str) -> bytes:
        """The file contents in format ``fmt`` (:data:`FORMATS`: json, json.gz, npz).

        ``json.gz`` is the JSON text gzip-compressed; ``npz`` is columnar (one
        compressed array per field, the header as JSON): about 20x smaller and
        much faster to read and write for millions of operations.
        """
        if fmt == "json":
            return self.dumps().encode()
        if fmt == "json.gz":
            return gzip.compress(self.dumps().encode(), compresslevel=6, mtime=0)
        if fmt == "npz":
            return npz_bytes({"header": np.array(json.dumps(self._header())),
                              "write_levels": self.write_levels,
                              **{f: getattr(self, f)
                                 for f in PROGRAM_FIELDS + WRITE_FIELDS + COMPUTE_FIELDS}})
        raise InputError(f"schedule format {fmt!r} is unknown: one of {', '.join(FORMATS)}")

    def save(self, path: str | Path) -> None:
        """Write the schedule atomically, in the format its name ends with
        (``.json``, ``.json.gz`` or ``.npz``)."""
        write_atomic_bytes(Path(path), self.to_bytes(format_of(path)))

    @classmethod
    def from_json(cls, data: dict[str, Any], source: str = "schedule") -> Schedule:
        """Build from the dict written by :meth:`to_json`; errors name the bad entry."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise InputError(f"{source}: 'format' must be {FORMAT!r}")
        # the header by the schema; the operation lists entry by entry below (fast)
        validate({k: v for k, v in data.items() if k not in ("program", "compute")},
                 "schedule", source)
        if data.get("version", 1) != 1 or isinstance(data.get("version"), bool):
            raise InputError(f"{source}: version {data.get('version')!r} is not supported "
                             "(this pimopt reads version 1)")
        if data.get("time_unit", "ps") != "ps":
            raise InputError(f"{source}: time_unit {data.get('time_unit')!r} is not 'ps'")
        try:
            r, c = (_int(v, "levels_shape", 1, MAX_OU) for v in data["levels_shape"])
            prog = data["program"]
            comp = data["compute"]
            if not isinstance(prog, list) or not isinstance(comp, list):
                raise TypeError("'program' and 'compute' must be lists")
            pc = [(_int(p["crossbar"], "crossbar"), _int(p["start"], "start"),
                   _int(p["end"], "end")) for p in prog]
            wr = [(i, _int(w["slot"], "slot"), _int(w["block"], "block"), str(w["levels"]))
                  for i, p in enumerate(prog) for w in p["writes"]]
            cc = [(_int(o["crossbar"], "crossbar"), _int(o["slot"], "slot"),
                   _int(o["block"], "block"), _int(o["inputs"][0], "inputs"),
                   _int(o["inputs"][1], "inputs"), _int(o["start"], "start"),
                   _int(o["end"], "end")) for o in comp]
        except InputError as exc:
            raise InputError(f"{source}: {exc}") from None
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise InputError(f"{source}: malformed operation entry ({exc!r})") from None
        levels = np.zeros((len(wr), r, c), dtype=np.uint8)
        if wr:
            text = "".join(w[3] for w in wr)
            if any(len(w[3]) != r * c for w in wr):
                raise InputError(f"{source}: every write needs {r * c} level digits")
            raw = np.frombuffer(text.encode("ascii", "replace"), dtype=np.uint8).astype(np.int16)
            digit = (raw >= ord("0")) & (raw <= ord("9"))
            letter = (raw >= ord("a")) & (raw <= ord("f"))
            if not (digit | letter).all():
                raise InputError(f"{source}: levels must be hexadecimal digits 0-9a-f")
            vals = np.where(letter, raw - ord("a") + 10, raw - ord("0"))
            levels = vals.reshape(len(wr), r, c).astype(np.uint8)
        pa = np.array(pc, dtype=np.int64).reshape(-1, 3)
        wa = np.array([w[:3] for w in wr], dtype=np.int64).reshape(-1, 3)
        ca = np.array(cc, dtype=np.int64).reshape(-1, 7)
        meta = {k: v for k, v in data.items()
                if k not in ("format", "version", "time_unit", "method", "levels_shape",
                             "program", "compute", "layout")}
        return cls(prog_crossbar=pa[:, 0], prog_start=pa[:, 1], prog_end=pa[:, 2],
                   write_op=wa[:, 0], write_slot=wa[:, 1], write_block=wa[:, 2],
                   write_levels=levels, comp_crossbar=ca[:, 0], comp_slot=ca[:, 1],
                   comp_block=ca[:, 2], comp_first=ca[:, 3], comp_last=ca[:, 4],
                   comp_start=ca[:, 5], comp_end=ca[:, 6], method=str(data.get("method", "")),
                   meta=meta, layout=_layout(data, source))

    @classmethod
    def load(cls, path: str | Path) -> Schedule:
        """Read a schedule file in the format its name ends with (see :meth:`save`)."""
        if not isinstance(path, (str, Path)):
            raise InputError(f"Schedule.load: path must be a file path (str or Path), got "
                             f"{type(path).__name__}")
        fmt = format_of(path)
        if fmt == "json":
            return cls.from_json(read_json(path, "schedule file"), source=str(path))
        p = Path(path)
        raw = read_bytes(p, "schedule file")
        if fmt == "json.gz":
            text = gunzip_text(raw, p, "schedule file", "JSON")
            try:
                data = json.loads(text)
            except (ValueError, RecursionError) as exc:
                raise InputError(f"schedule file {p} is not gzip-compressed JSON: {exc}"
                                 ) from None
            return cls.from_json(data, source=str(p))
        return cls._from_npz(load_npz(raw, p, "schedule file"), str(p))

    @classmethod
    def _from_npz(cls, arrays: dict[str, Any], source: str) -> Schedule:
        need = ("header", "write_levels", *PROGRAM_FIELDS, *WRITE_FIELDS, *COMPUTE_FIELDS)
        missing = [k for k in need if k not in arrays]
        if missing:
            raise InputError(f"schedule file {source}: missing array(s) {', '.join(missing)}")
        try:
            head = json.loads(str(arrays.pop("header")))
        except ValueError as exc:
            raise InputError(f"schedule file {source}: header is not JSON: {exc}") from None
        if not isinstance(head, dict) or head.get("format") != FORMAT:
            raise InputError(f"{source}: 'format' must be {FORMAT!r}")
        validate(head, "schedule", source)
        if head.get("time_unit", "ps") != "ps":
            raise InputError(f"{source}: time_unit {head.get('time_unit')!r} is not 'ps'")
        for k in need[1:]:
            a = arrays[k]
            kind = "u" if k == "write_levels" else "iu"
            if a.dtype.kind not in kind:
                raise InputError(f"schedule file {source}: array {k!r} has dtype {a.dtype}, "
                                 "not integers")
        meta = {k: v for k, v in head.items()
                if k not in ("format", "version", "time_unit", "method", "layout")}
        return cls(**{k: arrays[k] for k in need[1:]}, method=str(head.get("method", "")),
                   meta=meta, layout=_layout(head, source))

    def architecture(self) -> Architecture | None:
        """The architecture recorded in the schedule, if any."""
        a = self.meta.get("architecture")
        return Architecture.from_dict(a, source="schedule architecture") if a else None
