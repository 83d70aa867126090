"""The weight-to-OU mapping table (docs/model.md, *Correctness*).

One row per non-zero block: the crossbar, the slot inside that crossbar, and
the position of the block's load in that slot's sequence of loads. Blocks
with identical patterns may share a load (same crossbar, slot and position).

Input splitting: a row may also name an input range ``[first, last)`` of the
block's input vectors; a block then has several rows (usually in different
loads) whose ranges partition ``[0, n_inputs)``. Without ranges every row
computes all of its block's inputs.
"""

from __future__ import annotations

import csv
import gzip
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from pimopt.errors import InputError
from pimopt.instance import Instance
from pimopt.io.files import (
    format_by_name,
    gunzip_text,
    load_npz,
    npz_bytes,
    read_bytes,
    write_atomic,
    write_atomic_bytes,
)
from pimopt.layout.layout import Layout

CSV_FIELDS = ("block", "layer", "row_tile", "col_tile", "crossbar", "slot", "position", "first",
              "last")


def _format_of(path: str | Path) -> str:
    return format_by_name(path, ("csv", "csv.gz", "npz"), "mapping file")


@dataclass(frozen=True, eq=False)
class Mapping:
    """Where and in which order every non-zero block is loaded.

    Attributes
    ----------
    block, crossbar, slot, position
        Parallel integer arrays, one entry per mapped block.
    first, last
        Optional input ranges of the rows (``None``: every row computes all of
        its block's inputs).
    layout
        The row and column permutations the blocks were cut after
        (:class:`pimopt.layout.Layout`, ``None``: the tiles as imported); block
        numbers refer to the laid-out tiles (:func:`pimopt.layout.laid_out`).
        Mapping files hold the table only: ``pimopt solve`` writes the layout
        beside it as ``layout.json``.
    """

    block: NDArray[np.int64]
    crossbar: NDArray[np.int64]
    slot: NDArray[np.int64]
    position: NDArray[np.int64]
    first: NDArray[np.int64] | None = None
    last: NDArray[np.int64] | None = None
    layout: Layout | None = None

    def __post_init__(self) -> None:
        if (self.first is None) != (self.last is None):
            raise InputError("Mapping.first and Mapping.last go together: give both or neither")
        arrays = {}
        names = ("block", "crossbar", "slot", "position") + (
            () if self.first is None else ("first", "last"))
        for f in names:
            a = np.asarray(getattr(self, f))
            if a.ndim != 1 or (a.size and a.dtype.kind not in "iu"):
                raise InputError(f"Mapping.{f} must be a 1-D integer array, got "
                                 f"{a.dtype} with shape {a.shape}")
            arrays[f] = a.astype(np.int64)
            object.__setattr__(self, f, arrays[f])
        sizes = {a.size for a in arrays.values()}
        if len(sizes) != 1:
            raise InputError(f"Mapping arrays have different lengths: "
                             f"{ {k: v.size for k, v in arrays.items()} }")
        for f, a in arrays.items():
            if a.size and a.min() < 0:
                raise InputError(f"Mapping.{f} has a negative value {int(a.min())}")

    def __len__(self) -> int:
        return int(self.block.size)

    @property
    def has_ranges(self) -> bool:
        """True if rows carry input ranges (input splitting)."""
        return self.first is not None

    def ranges(self, inst: Instance) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """(first, last) input range of every row (whole blocks without ranges)."""
        if self.first is None or self.last is None:
            return np.zeros_like(self.block), inst.block_n_inputs[self.block].astype(np.int64)
        return self.first, self.last

    def validate(self, inst: Instance) -> None:
        """Check the mapping against an instance; raise :class:`InputError` naming the fault.

        Every non-zero block appears exactly once, crossbars and slots exist,
        each slot's positions are 0, 1, 2, ... without gaps, blocks sharing a
        load have identical patterns, and along a slot's sequence the layer
        index never decreases (a later load never feeds a layer that an earlier
        load of the same slot depends on, which would deadlock the layer barrier).
        """
        a = inst.arch
        if self.block.size and (self.block.max() >= inst.n_blocks):
            raise InputError(f"mapping names block {int(self.block.max())}, the instance has "
                             f"{inst.n_blocks} blocks")
        counts = np.bincount(self.block, minlength=inst.n_blocks)
        nz = inst.nonzero_blocks
        missing = nz[counts[nz] == 0]
        if missing.size:
            raise InputError(f"mapping misses non-zero block {int(missing[0])} "
                             f"({missing.size} missing)")
        dup = np.flatnonzero(counts > 1)
        if dup.size and not self.has_ranges:
            raise InputError(f"mapping lists block {int(dup[0])} {int(counts[dup[0]])} times")
        if self.has_ranges:
            self._check_ranges(inst)
        zero = self.block[inst.is_zero[self.block]]
        if zero.size:
            raise InputError(f"mapping lists zero block {int(zero[0])}: all-zero blocks are "
                             "neither programmed nor computed")
        if self.crossbar.size and self.crossbar.max() >= a.crossbars:
            raise InputError(f"mapping uses crossbar {int(self.crossbar.max())}, the "
                             f"architecture has {a.crossbars}")
        if self.slot.size and self.slot.max() >= a.slots_per_crossbar:
            raise InputError(f"mapping uses slot {int(self.slot.max())}, a crossbar has "
                             f"{a.slots_per_crossbar}")
        loads = self.loads(inst)
        for gslot, lo, hi in _runs(loads.global_slot):
            pos = loads.position[lo:hi]
            if not np.array_equal(pos, np.arange(hi - lo)):
                xb, s = divmod(int(gslot), a.slots_per_crossbar)
                raise InputError(f"crossbar {xb} slot {s}: positions {pos[:8].tolist()}... are "
                                 "not 0, 1, 2, ... without gaps")
        pid = inst.pattern_id[self.block]
        order = np.lexsort((self.position, self.slot, self.crossbar))
        same_load = np.diff(loads.load_of_row[order]) == 0
        bad = np.flatnonzero(same_load & (np.diff(pid[order]) != 0))
        if bad.size:
            b1, b2 = self.block[order[bad[0]]], self.block[order[bad[0] + 1]]
            raise InputError(f"blocks {int(b1)} and {int(b2)} share a load but their "
                             "patterns differ")
        back = np.flatnonzero((np.diff(loads.global_slot) == 0)
                              & (loads.min_layer[1:] < loads.max_layer[:-1]))
        if back.size:
            i = int(back[0]) + 1
            xb, s = divmod(int(loads.global_slot[i]), a.slots_per_crossbar)
            raise InputError(f"crossbar {xb} slot {s}: position {int(loads.position[i])} loads "
                             f"layer {int(loads.min_layer[i])} after layer "
                             f"{int(loads.max_layer[i - 1])}; a slot's loads must follow the "
                             "layer order")

    def _check_ranges(self, inst: Instance) -> None:
        """The rows of every block split its inputs into contiguous, non-empty, complete parts."""
        f, la = self.ranges(inst)
        order = np.lexsort((f, self.block))
        b, f, la = self.block[order], f[order], la[order]
        n_in = inst.block_n_inputs[b]
        head = np.r_[True, b[1:] != b[:-1]]
        tail = np.r_[b[1:] != b[:-1], True]
        prev_last = np.r_[0, la[:-1]]
        bad = (f >= la) | (head & (f != 0)) | (tail & (la != n_in)) | (~head & (f != prev_last))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            blk = int(b[i])
            parts = [(int(x), int(y)) for x, y in zip(f[b == blk], la[b == blk], strict=True)]
            raise InputError(f"block {blk}: input ranges {parts} do not split [0, "
                             f"{int(inst.block_n_inputs[blk])}) into contiguous non-empty parts")

    def loads(self, inst: Instance) -> Loads:
        """Group rows into loads, sorted by (crossbar, slot, position)."""
        gslot = self.crossbar * inst.arch.slots_per_crossbar + self.slot
        key = np.stack([gslot, self.position], axis=1)
        uniq, load_of_row = np.unique(key, axis=0, return_inverse=True)
        load_of_row = load_of_row.ravel()
        layer = inst.block_layer[self.block]
        n = len(uniq)
        min_layer = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
        max_layer = np.full(n, -1, dtype=np.int64)
        np.minimum.at(min_layer, load_of_row, layer)
        np.maximum.at(max_layer, load_of_row, layer)
        first_row = np.full(n, len(self), dtype=np.int64)
        np.minimum.at(first_row, load_of_row, np.arange(len(self)))
        return Loads(global_slot=uniq[:, 0], position=uniq[:, 1], load_of_row=load_of_row,
                     block=self.block[first_row] if n else self.block[:0],
                     min_layer=min_layer, max_layer=max_layer)

    # ------------------------------------------------------------------ I/O
    def to_csv(self, inst: Instance) -> str:
        """CSV text of the mapping table, sorted by crossbar, slot and position."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(CSV_FIELDS)
        first, last = self.ranges(inst)
        order = np.lexsort((first, self.block, self.position, self.slot, self.crossbar))
        layer = inst.block_layer[self.block]
        tile = inst.block_tile[self.block]
        for i in order:
            w.writerow((int(self.block[i]), inst.network.layers[layer[i]].name,
                        int(tile[i, 0]), int(tile[i, 1]), int(self.crossbar[i]),
                        int(self.slot[i]), int(self.position[i]), int(first[i]),
                        int(last[i])))
        return buf.getvalue()

    def save_csv(self, path: str | Path, inst: Instance) -> None:
        """Write the mapping table as CSV (atomically)."""
        write_atomic(Path(path), self.to_csv(inst))

    def to_bytes(self, inst: Instance, fmt: str) -> bytes:
        """The file contents in format ``fmt``: ``csv``, ``csv.gz`` or ``npz`` (columnar)."""
        if fmt == "csv":
            return self.to_csv(inst).encode()
        if fmt == "csv.gz":
            return gzip.compress(self.to_csv(inst).encode(), compresslevel=6, mtime=0)
        if fmt == "npz":
            first, last = self.ranges(inst)
            return npz_bytes({"block": self.block, "crossbar": self.crossbar,
                              "slot": self.slot, "position": self.position, "first": first,
                              "last": last})
        raise InputError(f"mapping format {fmt!r} is unknown: one of csv, csv.gz, npz")

    def save(self, path: str | Path, inst: Instance) -> None:
        """Write the mapping atomically in the format its name ends with
        (``.csv``, ``.csv.gz`` or ``.npz``)."""
        write_atomic_bytes(Path(path), self.to_bytes(inst, _format_of(path)))

    @classmethod
    def load(cls, path: str | Path) -> Mapping:
        """Read a mapping file in the format its name ends with (see :meth:`save`)."""
        fmt = _format_of(path)
        p = Path(path)
        if fmt == "csv":
            return cls.from_csv(p)
        raw = read_bytes(p, "mapping file")
        if fmt == "csv.gz":
            text = gunzip_text(raw, p, "mapping file", "CSV")
            return cls._from_rows(list(csv.DictReader(io.StringIO(text))), p)
        arrays = load_npz(raw, p, "mapping file")
        names = ("block", "crossbar", "slot", "position", "first", "last")
        for f in names:
            if f not in arrays or arrays[f].dtype.kind not in "iu" or arrays[f].ndim != 1:
                raise InputError(f"mapping file {p}: array {f!r} is missing or not a vector "
                                 "of integers")
        return cls(**{f: arrays[f].astype(np.int64) for f in names})

    @classmethod
    def from_csv(cls, path: str | Path) -> Mapping:
        """Read a mapping table written by :meth:`save_csv`."""
        p = Path(path)
        try:
            with p.open(newline="", encoding="utf-8") as fh:
                rows = list(csv.DictReader(fh))
        except FileNotFoundError:
            raise InputError(f"mapping file {p} does not exist") from None
        except (UnicodeDecodeError, csv.Error) as exc:
            raise InputError(f"mapping file {p} is not a UTF-8 CSV table: {exc}") from None
        return cls._from_rows(rows, p)

    @classmethod
    def _from_rows(cls, rows: list[dict[str, str]], p: Path) -> Mapping:
        names = ["block", "crossbar", "slot", "position"]
        if rows and rows[0].get("first") not in (None, ""):
            names += ["first", "last"]  # input ranges (files of older versions have none)
        cols: dict[str, list[int]] = {f: [] for f in names}
        for n, row in enumerate(rows, start=2):
            for f in cols:
                try:
                    cols[f].append(int(row[f]))
                except (KeyError, TypeError, ValueError):
                    raise InputError(f"mapping file {p} line {n}: field {f!r} = "
                                     f"{row.get(f)!r} is not an integer") from None
        arrays = {f: np.array(v, dtype=np.int64) for f, v in cols.items()}
        return cls(arrays["block"], arrays["crossbar"], arrays["slot"], arrays["position"],
                   arrays.get("first"), arrays.get("last"))


def label_errors(path: str | Path, inst: Instance, limit: int = 3) -> list[str]:
    """Rows of a CSV mapping file whose ``layer``, ``row_tile`` or ``col_tile`` is not
    the one its block has in ``inst`` (these columns are labels :meth:`Mapping.load`
    does not read; an NPZ mapping has none). At most ``limit`` messages."""
    p = Path(path)
    fmt = _format_of(p)
    if fmt == "npz":
        return []
    text = (gunzip_text(read_bytes(p, "mapping file"), p, "mapping file", "CSV")
            if fmt == "csv.gz" else p.read_text(encoding="utf-8"))
    names = [la.name for la in inst.network.layers]
    out: list[str] = []
    for n, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        b = int(row["block"])  # Mapping.load read it, and validate() bounded it
        want = {"layer": names[int(inst.block_layer[b])],
                "row_tile": str(int(inst.block_tile[b, 0])),
                "col_tile": str(int(inst.block_tile[b, 1]))}
        for col, value in want.items():
            if row.get(col) != value:
                out.append(f"mapping file {p.name} line {n}: {col} = {row.get(col)!r}, "
                           f"block {b} has {col} {value!r}")
                break
        if len(out) >= limit:
            break
    return out


@dataclass(frozen=True, eq=False)
class Loads:
    """The loads of a mapping (one per distinct crossbar, slot and position)."""

    global_slot: NDArray[np.int64]
    position: NDArray[np.int64]
    load_of_row: NDArray[np.int64]
    block: NDArray[np.int64]
    min_layer: NDArray[np.int64]
    max_layer: NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.global_slot.size)

    def transitions(self, inst: Instance) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
        """(old, new) patterns of every load: what the slot held before, what it loads.

        A slot's first load replaces the all-zero pattern of a fresh chip.
        """
        new = inst.patterns[self.block]
        old = np.zeros_like(new)
        follows = np.r_[False, self.global_slot[1:] == self.global_slot[:-1]]
        old[follows] = new[np.flatnonzero(follows) - 1]
        return old, new


def _runs(values: NDArray[np.int64]) -> list[tuple[int, int, int]]:
    """(value, start, stop) of the runs of equal values in a sorted array."""
    if values.size == 0:
        return []
    starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
    stops = np.r_[starts[1:], values.size]
    return [(int(values[s]), int(s), int(e)) for s, e in zip(starts, stops, strict=True)]
