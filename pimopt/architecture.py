"""The hardware description: crossbars, OUs, compute and programming parameters.

All latencies are in nanoseconds (ns) and energies in picojoules (pJ) in files
and in this object. Internally, time is integer picoseconds (ps): every
latency is rounded to the nearest ps once, here, so that schedules are exact
integers (no floating-point drift in the verifier, and CP-SAT needs integers).

Defaults and their sources (see ``docs/architecture.md``):

- 128 x 128 crossbars, 2-bit cells: ISAAC (ISCA 2016) and PIMCOMP.
- 8 x 8 operation units (OUs): the common OU size of OU-based ReRAM designs.
- ``t_set = t_reset = 10 ns`` single-pulse writes: MNSIM 2.0 device write.
- ``t_ou = 10 ns``: one OU activation cycle at 100 MHz (an assumption; set it
  per study).
- ``e_set = e_reset = 2 pJ`` per cell pulse: order of magnitude of published
  RRAM cell write energies (an assumption; set it per study).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pimopt.errors import InputError, field_error
from pimopt.io.files import read_toml

PULSE_MODES = ("single", "incremental")
_OWNER = "Architecture"


MAX_TIME_PS = 1 << 55  # 10 hours: longer schedules are refused, never overflowed in replay


def ns_to_ps(value_ns: float) -> int:
    """Convert nanoseconds to integer picoseconds (the internal time unit)."""
    return round(value_ns * 1000.0)


@dataclass(frozen=True)
class Architecture:
    """A ReRAM PIM accelerator (docs/model.md, *Hardware*).

    Parameters
    ----------
    crossbars
        Number of crossbars X.
    rows, cols
        Cells per crossbar (wordlines x bitlines).
    cell_bits
        Bits per cell; levels are ``0 .. 2**cell_bits - 1`` and 0 is erased.
    ou_rows, ou_cols
        Operation-unit size; must divide ``rows`` and ``cols``.
    t_ou
        Latency of one OU activation (one input bit), ns.
    input_bits
        Bits of an input vector element (bit-serial inputs, unsigned).
    ous_per_crossbar
        OUs of one crossbar that may compute at the same time (ADC sharing).
    write_width
        Width of a write segment in cells (default ``ou_cols``); must divide
        ``cols`` and be a multiple or a divisor of ``ou_cols``.
    write_parallel
        Cells written at most per pass (default ``write_width``).
    t_set, t_reset
        Latency of one SET / RESET pulse, ns.
    t_verify
        Latency of the verify read after each pass, ns.
    pulse_mode
        ``"single"``: one pulse per pass; ``"incremental"``: a pass takes as
        many pulses as the largest level change among its cells.
    e_set, e_reset
        Energy of one SET / RESET pulse on one cell, pJ.
    max_programming_crossbars
        Crossbars that may program at the same time (write power budget);
        default: all crossbars.
    block_whole_crossbar
        If true, a crossbar does not compute while it programs; if false,
        only the slots being written are blocked.
    name
        A label for reports.
    """

    crossbars: int = 8
    rows: int = 128
    cols: int = 128
    cell_bits: int = 2
    ou_rows: int = 8
    ou_cols: int = 8
    t_ou: float = 10.0
    input_bits: int = 8
    ous_per_crossbar: int = 1
    write_width: int | None = None
    write_parallel: int | None = None
    t_set: float = 10.0
    t_reset: float = 10.0
    t_verify: float = 0.0
    pulse_mode: str = "single"
    e_set: float = 2.0
    e_reset: float = 2.0
    max_programming_crossbars: int | None = None
    block_whole_crossbar: bool = True
    name: str = "default"

    def __post_init__(self) -> None:
        for f in ("crossbars", "rows", "cols", "cell_bits", "ou_rows", "ou_cols",
                  "input_bits", "ous_per_crossbar"):
            _check_int(f, getattr(self, f), 1)
        if self.cell_bits > 4:
            raise field_error(_OWNER, "cell_bits", self.cell_bits, "an integer from 1 to 4")
        if self.input_bits > 32:
            raise field_error(_OWNER, "input_bits", self.input_bits, "an integer from 1 to 32")
        if self.rows % self.ou_rows:
            raise field_error(_OWNER, "ou_rows", self.ou_rows,
                              f"a divisor of rows = {self.rows}")
        if self.cols % self.ou_cols:
            raise field_error(_OWNER, "ou_cols", self.ou_cols,
                              f"a divisor of cols = {self.cols}")
        if self.ous_per_crossbar > self.slots_per_crossbar:
            raise field_error(_OWNER, "ous_per_crossbar", self.ous_per_crossbar,
                              f"at most the {self.slots_per_crossbar} OU slots of a crossbar")
        ww = self.ou_cols if self.write_width is None else self.write_width
        _check_int("write_width", ww, 1)
        if self.cols % ww or (ww % self.ou_cols and self.ou_cols % ww):
            raise field_error(_OWNER, "write_width", ww,
                              f"a divisor of cols = {self.cols} that is a multiple or a "
                              f"divisor of ou_cols = {self.ou_cols}")
        object.__setattr__(self, "write_width", ww)
        wp = ww if self.write_parallel is None else self.write_parallel
        _check_int("write_parallel", wp, 1)
        if wp > ww:
            raise field_error(_OWNER, "write_parallel", wp,
                              f"an integer from 1 to write_width = {ww}")
        object.__setattr__(self, "write_parallel", wp)
        mpc = self.crossbars if self.max_programming_crossbars is None \
            else self.max_programming_crossbars
        _check_int("max_programming_crossbars", mpc, 1)
        if mpc > self.crossbars:
            raise field_error(_OWNER, "max_programming_crossbars", mpc,
                              f"an integer from 1 to crossbars = {self.crossbars}")
        object.__setattr__(self, "max_programming_crossbars", mpc)
        for f, positive in (("t_ou", True), ("t_set", True), ("t_reset", True),
                            ("t_verify", False), ("e_set", False), ("e_reset", False)):
            v = getattr(self, f)
            unit = "ns" if f.startswith("t_") else "pJ"
            hi = MAX_TIME_NS if unit == "ns" else MAX_ENERGY_PJ
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
                    or v < 0 or (positive and v == 0) or v > hi:
                kind = "positive" if positive else "non-negative"
                raise field_error(_OWNER, f, v, f"a {kind} number of at most {hi:g} {unit}")
            if f.startswith("t_") and positive and ns_to_ps(float(v)) == 0:
                raise field_error(_OWNER, f, v, "at least 0.0005 ns (time resolution is 1 ps)")
        if self.pulse_mode not in PULSE_MODES:
            raise field_error(_OWNER, "pulse_mode", self.pulse_mode, f"one of {PULSE_MODES}")
        if not isinstance(self.block_whole_crossbar, bool):
            raise field_error(_OWNER, "block_whole_crossbar", self.block_whole_crossbar,
                              "true or false")
        if not isinstance(self.name, str) or not self.name.strip():
            raise field_error(_OWNER, "name", self.name, "a non-empty string")

    # ------------------------------------------------------------------ derived
    @property
    def slots_per_write_segment(self) -> int:
        """OU slots of one crossbar row band that share a write segment (1 unless
        ``write_width`` is wider than an OU); whole-crossbar operations share passes there."""
        return max(1, int(self.write_width or self.ou_cols) // self.ou_cols)

    @property
    def slot_rows(self) -> int:
        """OU slots along the rows of a crossbar."""
        return self.rows // self.ou_rows

    @property
    def slot_cols(self) -> int:
        """OU slots along the columns of a crossbar."""
        return self.cols // self.ou_cols

    @property
    def slots_per_crossbar(self) -> int:
        """OU slots of one crossbar."""
        return self.slot_rows * self.slot_cols

    @property
    def total_slots(self) -> int:
        """OU slots of the whole chip."""
        return self.crossbars * self.slots_per_crossbar

    @property
    def levels(self) -> int:
        """Number of cell levels, ``2**cell_bits``."""
        return 1 << self.cell_bits

    def slot_position(self, slot: int) -> tuple[int, int]:
        """(slot row, slot column) of a slot index inside its crossbar (row-major)."""
        return divmod(int(slot), self.slot_cols)

    # ------------------------------------------------------------------ I/O
    def to_dict(self) -> dict[str, Any]:
        """Plain dict of every parameter (resolved defaults included)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "architecture") -> Architecture:
        """Build from a dict, rejecting unknown keys by name."""
        if not isinstance(data, dict):
            raise InputError(f"{source}: expected a table of parameters, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(f"{source}: unknown key(s) {', '.join(unknown)}; "
                             f"allowed: {', '.join(sorted(known))}")
        return cls(**data)

    @classmethod
    def from_toml(cls, path: str | Path) -> Architecture:
        """Load from a TOML file (a flat table, or one ``[architecture]`` table)."""
        p = Path(path)
        data = read_toml(p, "architecture file")
        if set(data) == {"architecture"}:
            data = data["architecture"]
        data.setdefault("name", p.stem)
        return cls.from_dict(data, source=str(p))

    def to_toml(self) -> str:
        """TOML text of every parameter."""
        lines = []
        for key, value in self.to_dict().items():
            if isinstance(value, bool):
                text = "true" if value else "false"
            elif isinstance(value, str):
                text = f'"{value}"'
            else:
                text = repr(value)
            lines.append(f"{key} = {text}")
        return "\n".join(lines) + "\n"

    # ------------------------------------------------------------------ times in ps
    @property
    def t_ou_ps(self) -> int:
        """``t_ou`` in ps."""
        return ns_to_ps(self.t_ou)

    def compute_ps(self, n_inputs: int) -> int:
        """Latency of one block computing ``n_inputs`` input vectors, ps."""
        return int(n_inputs) * self.input_bits * self.t_ou_ps


# sane maxima: far beyond any chip in the literature, small enough that no product of
# them overflows int64 picosecond arithmetic or allocates more memory than exists
MAXIMA = {"crossbars": 1 << 20, "rows": 1 << 14, "cols": 1 << 14, "ou_rows": 1 << 10,
          "ou_cols": 1 << 10, "input_bits": 32, "ous_per_crossbar": 1 << 16,
          "write_width": 1 << 14, "write_parallel": 1 << 14,
          "max_programming_crossbars": 1 << 20}
MAX_TIME_NS = 1e9  # a second per pulse, verify or OU compute: beyond any device
MAX_ENERGY_PJ = 1e9


def _check_int(field: str, value: object, minimum: int) -> None:
    hi = MAXIMA.get(field, 1 << 30)
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= hi:
        raise field_error(_OWNER, field, value, f"an integer from {minimum} to {hi:,}")


def preset_names() -> list[str]:
    """Names of the architecture presets shipped with pimopt."""
    files = resources.files("pimopt.presets").iterdir()
    return sorted(f.name[:-5] for f in files if f.name.endswith(".toml"))


def load_architecture(spec: str | Path | None) -> Architecture:
    """Load an architecture from a preset name, a TOML file path or ``pimopt:NAME``
    (a TOML file shipped with the package, e.g. ``pimopt:tiny/arch``).

    ``None`` gives the ``default`` preset.
    """
    if spec is None:
        spec = "default"
    text = str(spec)
    if text in preset_names():
        ref = resources.files("pimopt.presets").joinpath(f"{text}.toml")
        with resources.as_file(ref) as p:
            return Architecture.from_toml(p)
    if text.startswith("pimopt:"):  # a file shipped with the package
        from pimopt.io.files import package_path

        return Architecture.from_toml(package_path(text, ".toml"))
    p = Path(text)
    if p.suffix == ".toml" or p.exists():
        return Architecture.from_toml(p)
    raise InputError(f"architecture {text!r} is neither a preset ({', '.join(preset_names())}) "
                     "nor a TOML file")
