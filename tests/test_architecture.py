from __future__ import annotations

from pathlib import Path

import pytest

from pimopt import Architecture, InputError, load_architecture
from pimopt.architecture import ns_to_ps, preset_names


def test_defaults_resolve_derived_fields() -> None:
    a = Architecture()
    assert (a.rows, a.cols, a.cell_bits, a.ou_rows, a.ou_cols) == (128, 128, 2, 8, 8)
    assert a.write_width == 8 and a.write_parallel == 8
    assert a.max_programming_crossbars == a.crossbars
    assert a.slots_per_crossbar == 256 and a.total_slots == 256 * a.crossbars
    assert a.levels == 4
    assert a.slot_position(17) == (1, 1)
    assert a.compute_ps(3) == 3 * 8 * 10_000


def test_presets_ship_as_files_and_load() -> None:
    names = preset_names()
    assert {"default", "mnsim", "mlc2"} <= set(names)
    assert load_architecture("default") == Architecture()
    mn = load_architecture("mnsim")
    assert mn.pulse_mode == "single" and mn.write_width == 128 and mn.t_set == 10.0
    mlc = load_architecture("mlc2")
    assert mlc.pulse_mode == "incremental" and mlc.t_set == 50.88 and mlc.cell_bits == 2


def test_toml_round_trip(tmp_path: Path) -> None:
    a = Architecture(crossbars=3, t_set=50.88, pulse_mode="incremental", name="x")
    p = tmp_path / "a.toml"
    p.write_text(a.to_toml())
    assert Architecture.from_toml(p) == a
    assert Architecture.from_dict(a.to_dict()) == a


def test_toml_section_form(tmp_path: Path) -> None:
    p = tmp_path / "chip.toml"
    p.write_text("[architecture]\ncrossbars = 2\n")
    a = load_architecture(p)
    assert a.crossbars == 2 and a.name == "chip"


@pytest.mark.parametrize(("kw", "fragment"), [
    ({"ou_rows": 7}, "ou_rows = 7 is invalid: a divisor of rows = 128"),
    ({"ou_cols": 48}, "ou_cols = 48"),
    ({"t_set": -1.0}, "t_set = -1.0 is invalid: a positive number of at most 1e+09 ns"),
    ({"t_set": 1e300}, "t_set = 1e+300 is invalid: a positive number of at most 1e+09 ns"),
    ({"e_reset": 1e20}, "e_reset = 1e+20 is invalid: a non-negative number of at most"),
    ({"crossbars": 10**20}, "crossbars = 100000000000000000000 is invalid: an integer from 1"),
    ({"rows": 1 << 20}, "rows = 1048576 is invalid: an integer from 1 to 16,384"),
    ({"t_verify": float("nan")}, "t_verify"),
    ({"crossbars": 0}, "crossbars = 0 is invalid: an integer from 1 to 1,048,576"),
    ({"crossbars": 2.0}, "crossbars = 2.0"),
    ({"cell_bits": 5}, "cell_bits = 5"),
    ({"pulse_mode": "multi"}, "pulse_mode = 'multi'"),
    ({"write_width": 12}, "write_width = 12"),
    ({"write_parallel": 9}, "write_parallel = 9"),
    ({"max_programming_crossbars": 9}, "max_programming_crossbars = 9"),
    ({"ous_per_crossbar": 1000}, "ous_per_crossbar = 1000"),
    ({"block_whole_crossbar": 1}, "block_whole_crossbar = 1"),
])
def test_invalid_parameters_name_field_value_and_allowed(kw: dict[str, object],
                                                          fragment: str) -> None:
    with pytest.raises(InputError) as exc:
        Architecture(**kw)  # type: ignore[arg-type]
    assert fragment in str(exc.value)
    assert "Architecture." in str(exc.value)


def test_unknown_key_and_bad_toml(tmp_path: Path) -> None:
    p = tmp_path / "bad.toml"
    p.write_text("crossbars = 2\nt_sett = 10\n")
    with pytest.raises(InputError, match=r"unknown key.*t_sett"):
        Architecture.from_toml(p)
    p.write_text("crossbars = = 2\n")
    with pytest.raises(InputError, match="not valid TOML"):
        Architecture.from_toml(p)
    with pytest.raises(InputError, match="does not exist"):
        Architecture.from_toml(tmp_path / "missing.toml")
    with pytest.raises(InputError, match="neither a preset"):
        load_architecture("no-such-preset")


def test_time_resolution_is_picoseconds() -> None:
    assert ns_to_ps(50.88) == 50_880
    with pytest.raises(InputError, match="time resolution"):
        Architecture(t_ou=0.0001)
