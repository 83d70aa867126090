"""Compressed files are read within a memory limit: bombs are refused before they inflate
(issue 25)."""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from pimopt.errors import InputError
from pimopt.io.files import UNPACK_ENV, gunzip_text, load_npz, npz_bytes, unpack_limit
from pimopt.mapping import Mapping
from pimopt.network import Network
from pimopt.schedule import Schedule
from tests.conftest import random_network


def _lying_npz(declared: tuple[int, ...]) -> bytes:
    """An .npz whose one member's .npy header declares ``declared`` int64 values but holds 8."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<i8", "fortran_order": False,
                                                  "shape": declared})
    raw = header.getvalue() + np.zeros(8, dtype=np.int64).tobytes()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("comp_start.npy", raw)
    return buf.getvalue()


def test_a_member_that_declares_more_than_it_holds_is_refused_unread() -> None:
    with pytest.raises(InputError, match=r"declares \(1000000000000,\) int64"):
        load_npz(_lying_npz((10**12,)), "s.npz", "schedule file")


def test_an_array_beyond_the_limit_is_refused_before_it_inflates(
        monkeypatch: pytest.MonkeyPatch) -> None:
    bomb = npz_bytes({"comp_start": np.zeros(4 << 20, dtype=np.int64)})  # 32 MiB in ~32 KiB
    assert len(bomb) < 200_000
    assert load_npz(bomb, "s.npz", "schedule file")["comp_start"].size == 4 << 20
    monkeypatch.setenv(UNPACK_ENV, str(8 << 20))
    with pytest.raises(InputError, match=r"unpacks to 33,554,432 bytes of arrays, above the "
                                         r"limit of 8,388,608 bytes"):
        load_npz(bomb, "s.npz", "schedule file")


def test_a_gzip_bomb_is_refused_after_reading_at_most_its_cap(
        monkeypatch: pytest.MonkeyPatch) -> None:
    bomb = gzip.compress(b" " * (64 << 20))
    monkeypatch.setenv(UNPACK_ENV, str(64 << 20))  # text cap: 8 MiB
    with pytest.raises(InputError, match="above the limit"):
        gunzip_text(bomb, "s.json.gz", "schedule file", "JSON")
    assert gunzip_text(gzip.compress(b'{"a": 1}'), "s.json.gz", "schedule file", "JSON") \
        == '{"a": 1}'


@pytest.mark.parametrize("value", ["0", "-5", "lots", "1e9"])
def test_a_bad_limit_is_named(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(UNPACK_ENV, value)
    with pytest.raises(InputError, match=f"PIMOPT_MAX_UNPACKED_BYTES = '{value}' is invalid"):
        unpack_limit()


@pytest.mark.parametrize("member", ["header.txt", "data.pkl"])
def test_a_member_that_is_no_array_is_refused(member: str) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(member, b"x")
    with pytest.raises(InputError, match=r"is not a \.npy array"):
        load_npz(buf.getvalue(), "m.npz", "mapping file")


def test_every_file_kind_goes_through_the_limit(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Network weights, schedule and mapping NPZ and gzip files all honour the limit."""
    net = random_network(3)
    json_path = net.save(tmp_path / "net")
    (tmp_path / "net.npz").write_bytes(_lying_npz((10**12,)))
    with pytest.raises(InputError, match=r"weights file .* declares"):
        Network.load(json_path)
    (tmp_path / "s.npz").write_bytes(_lying_npz((10**12,)))
    with pytest.raises(InputError, match=r"schedule file .* declares"):
        Schedule.load(tmp_path / "s.npz")
    (tmp_path / "m.npz").write_bytes(_lying_npz((10**12,)))
    with pytest.raises(InputError, match=r"mapping file .* declares"):
        Mapping.load(tmp_path / "m.npz")
    monkeypatch.setenv(UNPACK_ENV, str(8 << 20))
    (tmp_path / "s.json.gz").write_bytes(gzip.compress(b" " * (2 << 20)))
    with pytest.raises(InputError, match=r"schedule file .* above the limit"):
        Schedule.load(tmp_path / "s.json.gz")
    (tmp_path / "m.csv.gz").write_bytes(gzip.compress(b" " * (2 << 20)))
    with pytest.raises(InputError, match=r"mapping file .* above the limit"):
        Mapping.load(tmp_path / "m.csv.gz")
