"""Resources: work that cannot fit is refused before it allocates, and a MemoryError that
no estimate foresaw is one line at the CLI (issue 25)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pimopt import InputError, solve
from pimopt.architecture import Architecture
from pimopt.cli import main
from pimopt.instance import Instance
from pimopt.memory import available_memory, solve_bytes
from tests.conftest import random_network


def test_available_memory_is_known_here_and_positive() -> None:
    free = available_memory()
    assert free is not None and free > 0


def test_an_architecture_too_large_for_memory_is_refused_before_solving() -> None:
    """2^20 crossbars of 16384 x 16384: 4.4 x 10^12 slots ("Unable to allocate 256 TiB")."""
    arch = Architecture(crossbars=2**20, rows=16384, cols=16384)
    inst = Instance(arch, random_network(0))
    need = solve_bytes(arch.total_slots, 64, inst.n_blocks)
    assert need > 4 * 10**14
    with pytest.raises(InputError, match=r"\(4,398,046,511,104 slots of 8x8 cells, \d+ "
                                         r"blocks\) needs at least [\d,]+ bytes, more than"):
        solve(inst, "naive", time_limit=5)


def test_a_sweep_grid_is_counted_before_it_is_expanded(tmp_path: Path) -> None:
    """A grid of 4 x 10^8 runs took 117 s and 3.7 GB to list before."""
    sweep = tmp_path / "huge.toml"
    values = ", ".join(str(i) for i in range(1, 201))
    sweep.write_text(f'name = "huge"\nmethods = ["naive"]\nseeds = [0]\n[network]\n'
                     f'generate = "synthetic"\n[grid]\ncrossbars = [{values}]\nrows = [{values}]\n'
                     f't_set = [{values}]\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"the grid gives 8,000,000 runs \(200 crossbars x "
                                         r"200 rows x 200 t_set x 1 methods x 1 seeds\), "
                                         r"above the limit of 1,000,000"):
        from pimopt.bench.sweep import load_sweep

        load_sweep(sweep)


def test_an_unforeseen_memory_error_is_one_line_at_the_cli(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import pimopt.cli as cli

    def exhausted(*args: object, **kwargs: object) -> Instance:
        raise MemoryError
    monkeypatch.setattr(cli, "_instance", exhausted)  # what every command loads first
    assert main(["info"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pimopt: error: out of memory in 'pimopt info'"), err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_the_attack_script_runs_its_resource_cases() -> None:
    """scripts/attack.py end to end (its signal and concurrency cases are the tests of
    tests/test_interrupt.py; the slow ones run by hand)."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    res = subprocess.run([sys.executable, str(root / "scripts" / "attack.py"), "--only",
                          "2^20 crossbars of 16384^2,sweep of 5x10^8 runs"],
                         capture_output=True, text=True, timeout=300, cwd=root)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "2 of 2 cases pass" in res.stdout
