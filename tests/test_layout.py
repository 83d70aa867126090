"""The layout lever: permutations, their round trips, the layout methods, and the
verifier's check that a layout preserves the function."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from pimopt import Instance, Schedule, solve, verify
from pimopt.errors import InputError
from pimopt.layout import LAYOUTS, Layout, laid_out, make_layout
from pimopt.layout.methods import _lanes, _path_order, sorted_chain_ps
from pimopt.network import Network
from tests.conftest import random_network, small_arch


def _random_layout(net: Network, seed: int) -> Layout:
    rng = np.random.default_rng(seed)
    return Layout(tuple(rng.permutation(la.shape[0]) for la in net.layers),
                  tuple(rng.permutation(la.shape[1]) for la in net.layers), "random",
                  net.content_hash())


@pytest.fixture
def inst() -> Instance:
    # 4x4 OUs of 2-bit cells, 4-bit differential weights: 2 channels per block, so the
    # column order matters too
    return Instance(small_arch(), random_network(3, n_layers=3, max_k=16, max_n=6, sparsity=0.4))


def test_apply_then_invert_gives_the_original_weights(inst: Instance) -> None:
    net = inst.network
    lay = _random_layout(net, 0)
    moved = lay.apply(net)
    for la, lm, r, c in zip(net.layers, moved.layers, lay.rows, lay.cols, strict=True):
        assert r is not None and c is not None
        back = np.empty_like(lm.weights)
        back[np.ix_(r, c)] = lm.weights  # laid-out row j is original row r[j]
        assert np.array_equal(back, la.weights)
        assert lm.name == la.name and lm.n_inputs == la.n_inputs and lm.deps == la.deps


def test_the_laid_out_function_is_the_original_one(inst: Instance) -> None:
    net = inst.network
    lay = _random_layout(net, 1)
    moved = lay.apply(net)
    x = np.random.default_rng(2).integers(0, 16, size=(5, max(la.shape[0] for la in net.layers)))
    for i, (la, lm) in enumerate(zip(net.layers, moved.layers, strict=True)):
        xi = x[:, : la.shape[0]]
        y = lay.scatter_outputs(i, lay.gather_inputs(i, xi) @ lm.weights.astype(np.int64))
        assert np.array_equal(y, xi @ la.weights.astype(np.int64))


def test_layout_json_round_trip(inst: Instance, tmp_path: Path) -> None:
    net = inst.network
    lay = replace(_random_layout(net, 3), rows=(None, *_random_layout(net, 3).rows[1:]))
    lay.save(tmp_path / "layout.json", net)
    back = Layout.load(tmp_path / "layout.json")
    assert back.equals(lay) and lay.equals(back)
    assert back.method == "random" and back.network_sha256 == net.content_hash()
    assert back.rows[0] is None and back.digest() == lay.digest()
    assert not back.equals(_random_layout(net, 4))


def test_schedule_files_keep_the_layout(inst: Instance, tmp_path: Path) -> None:
    res = solve(inst, "sorted", time_limit=10, layout="similarity", bound=False)
    for name in ("s.json", "s.json.gz", "s.npz"):
        res.schedule.save(tmp_path / name)
        back = Schedule.load(tmp_path / name)
        assert back.layout is not None and back.layout.equals(res.schedule.layout), name
        assert verify(inst, back, functional_samples=None).ok, name


@pytest.mark.parametrize("method", ["magnitude", "similarity", "auto"])
def test_methods_give_permutations(method: str) -> None:
    for seed in range(4):
        net = random_network(seed, n_layers=4, max_k=40, max_n=9)
        lay = make_layout(net, small_arch(), method, seed=seed)
        assert lay.problem(net) is None
        assert lay.method == method and lay.network_sha256 == net.content_hash()


@pytest.mark.parametrize("size", [10, 12, 3])
def test_lanes_put_path_neighbours_in_the_same_position_of_consecutive_tiles(size: int) -> None:
    order = np.random.default_rng(size).permutation(size)  # the path
    dealt = _lanes(order, 4)
    assert sorted(dealt.tolist()) == list(range(size))
    rank = np.empty(size, dtype=np.int64)
    rank[order] = np.arange(size)  # place of every row on the path
    for j in range(size - 4):  # row j and row j + 4: one position, consecutive tiles
        assert rank[dealt[j + 4]] == rank[dealt[j]] + 1


def test_path_order_follows_nearest_neighbours() -> None:
    rng = np.random.default_rng(0)
    x = np.sort(rng.integers(0, 1000, size=30)).astype(np.float64)[:, None]
    shuffled = rng.permutation(30)
    order = _path_order(x[shuffled], 0, None)
    assert sorted(order.tolist()) == list(range(30))
    values = x[shuffled][order, 0]
    # on a line, the greedy path from the smallest value walks it in order
    assert np.all(np.diff(values) >= 0)


def test_auto_never_chooses_tiles_dearer_by_its_proxy() -> None:
    arch = small_arch()
    for seed in range(3):
        net = random_network(seed, n_layers=3, max_k=40, max_n=9)
        lay = make_layout(net, arch, "auto")
        assert lay.info is not None
        for name, costs in lay.info["sorted_chain_ps"].items():
            assert costs[lay.info["layers"][name]] == min(costs.values())
        # the "none" entry is the layer's chain as imported
        one = Network(net.name, (replace(net.layers[0], deps=()),), net.weight_bits,
                      net.encoding)
        assert lay.info["sorted_chain_ps"][net.layers[0].name]["none"] == \
            sorted_chain_ps(Instance(arch, one))


def test_a_spent_time_limit_keeps_the_remaining_layers() -> None:
    net = random_network(0, n_layers=3, max_k=30, max_n=9)
    lay = make_layout(net, small_arch(), "similarity", time_limit=1e-9)
    assert lay.info is not None and lay.info["cut_short"]
    assert lay.problem(net) is None and lay.is_identity


@pytest.mark.parametrize("method", ["sorted", "balanced", "ls"])
@pytest.mark.parametrize("layout", ["magnitude", "similarity", "auto"])
def test_solve_with_a_layout_verifies_on_the_original_weights(inst: Instance, method: str,
                                                              layout: str) -> None:
    res = solve(inst, method, time_limit=4, layout=layout, functional_samples=None)
    assert res.report.ok
    assert verify(inst, res.schedule, functional_samples=None).ok  # the original instance
    assert res.mapping.layout is not None and res.mapping.layout.equals(res.schedule.layout)
    assert res.schedule.meta["instance"]["network_sha256"] == inst.network.content_hash()
    info = res.info["layout"]
    assert info["before"]["blocks"] == info["after"]["blocks"] == inst.n_blocks
    assert res.objective == pytest.approx(res.metrics["makespan_ns"])
    work = laid_out(inst, res.mapping.layout)
    assert res.to_json(inst)["blocks"]["nonzero"] == work.n_nonzero


def test_optimal_is_not_claimed_after_a_layout() -> None:
    inst = Instance(small_arch(crossbars=1), random_network(5, n_layers=1, max_k=8, max_n=2))
    plain = solve(inst, "cpsat", objective="programming", time_limit=20)
    laid = solve(inst, "cpsat", objective="programming", time_limit=20, layout="magnitude")
    assert plain.status == "optimal"
    assert laid.status != "optimal"
    assert "not proven best" in laid.info["layout"]["note"]
    assert "layout 'magnitude'" in laid.info["bound_scope"]


# ---------------------------------------------------------------- rejections
def _swap_two_different_rows(inst: Instance, lay: Layout) -> Layout:
    """The layout with two rows of one layer swapped, rows whose weights differ."""
    rows = list(lay.rows)
    for i, la in enumerate(inst.network.layers):
        given = rows[i]
        r = np.arange(la.shape[0]) if given is None else given.copy()
        w = la.weights[r]
        for a in range(len(r)):
            for b in range(a + 1, len(r)):
                if not np.array_equal(w[a], w[b]):
                    r[[a, b]] = r[[b, a]]
                    rows[i] = r
                    return replace(lay, rows=tuple(rows))
    raise AssertionError("no two different rows")


def test_verifier_rejects_a_wrong_permutation(inst: Instance) -> None:
    res = solve(inst, "sorted", time_limit=10, layout="similarity", bound=False)
    bad = res.schedule.copy()
    bad.layout = _swap_two_different_rows(inst, res.schedule.layout)  # type: ignore[arg-type]
    found = {v.check for v in verify(inst, bad, functional_samples=None).violations}
    assert "state" in found and "function" in found


def test_the_functional_check_applies_the_permutation(inst: Instance,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    res = solve(inst, "sorted", time_limit=10, layout=_random_layout(inst.network, 5),
                bound=False)
    monkeypatch.setattr(Layout, "gather_inputs", lambda self, layer, x, groups=1: x)
    found = [v.check for v in verify(inst, res.schedule, functional_samples=None).violations]
    assert found and set(found) == {"function"}


def test_verifier_names_a_layout_that_is_no_permutation(inst: Instance) -> None:
    res = solve(inst, "sorted", time_limit=10, layout="magnitude", bound=False)
    lay = res.schedule.layout
    assert lay is not None and lay.rows[0] is not None
    rows = list(lay.rows)
    rows[0] = np.zeros_like(rows[0])
    bad = res.schedule.copy()
    bad.layout = replace(lay, rows=tuple(rows))
    v = verify(inst, bad).violations
    assert v[0].check == "format" and "layer 'l0'" in v[0].message \
        and "not a permutation" in v[0].message
    other = Instance(inst.arch, random_network(9))
    v = verify(other, res.schedule).violations
    assert v[0].check == "format" and "made for network" in v[0].message


def test_bad_layouts_are_named() -> None:
    net = random_network(0)
    with pytest.raises(InputError, match="layout = 'bogus' is invalid"):
        make_layout(net, small_arch(), "bogus")
    with pytest.raises(InputError, match="layout = 'bogus' is invalid"):
        solve(Instance(small_arch(), net), "naive", layout="bogus")
    with pytest.raises(InputError, match=r"field layers\[0\]\.rows"):
        Layout.from_json({"format": "pimopt-layout", "version": 1, "method": "x",
                          "layers": [{"rows": [-1], "cols": None}]})
    with pytest.raises(InputError, match="1 row and 2 column"):
        Layout((None,), (None, None))
    short = Layout((np.arange(1),) + (None,) * (len(net.layers) - 1),
                   (None,) * len(net.layers))
    if net.layers[0].shape[0] != 1:
        with pytest.raises(InputError, match="has 1 entries"):
            solve(Instance(small_arch(), net), "naive", layout=short)


def test_cli_writes_and_verifies_the_layout(tmp_path: Path) -> None:
    out = tmp_path / "o"
    net = random_network(2, n_layers=2, max_k=16, max_n=6)
    net.save(tmp_path / "net.json")
    arch = tmp_path / "a.toml"
    arch.write_text('name = "small"\ncrossbars = 2\nrows = 8\ncols = 8\nou_rows = 4\n'
                    'ou_cols = 4\ninput_bits = 4\n', encoding="utf-8")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pimopt", *args], capture_output=True,
                              text=True, check=False)

    r = run("solve", str(tmp_path / "net.json"), "--arch", str(arch), "--layout", "auto",
            "--time-limit", "3", "--out", str(out), "--baseline", "none")
    assert r.returncode == 0, r.stderr
    layout_json = json.loads((out / "layout.json").read_text())
    assert layout_json["format"] == "pimopt-layout"
    r = run("verify", str(tmp_path / "net.json"), str(out))
    assert r.returncode == 0 and "layout.json" in r.stdout, r.stdout + r.stderr
    # a layout.json other than the schedule's: rejected
    lay = Layout.from_json(layout_json)
    _swap_two_different_rows(Instance(small_arch(), net), lay).save(out / "layout.json", net)
    r = run("verify", str(tmp_path / "net.json"), str(out))
    assert r.returncode == 1 and "outputs: the mapping's layout" in r.stdout
    (out / "layout.json").unlink()
    r = run("verify", str(tmp_path / "net.json"), str(out))
    assert r.returncode == 1 and "layout.json is missing" in r.stdout
    # a solve without a layout removes the earlier layout.json
    r = run("solve", str(tmp_path / "net.json"), "--arch", str(arch), "--time-limit", "5",
            "--out", str(out), "--baseline", "none")
    assert r.returncode == 0 and not (out / "layout.json").exists()


def test_layout_names_are_the_documented_ones() -> None:
    assert LAYOUTS == ("none", "magnitude", "similarity", "auto")


def test_info_shows_the_tiles_after_a_layout(capsys: pytest.CaptureFixture[str]) -> None:
    from pimopt.cli import main

    assert main(["info", "pimopt:tiny/tiny-fc2", "--layout", "magnitude"]) == 0
    out = capsys.readouterr().out
    assert "layout magnitude" in out and "before:" in out and "total:" in out
    assert main(["info", "--layout", "auto", "--seed", "-1"]) == 2
    assert "seed = -1 is invalid" in capsys.readouterr().err


def test_suites_and_sweeps_take_a_layout_option() -> None:
    from pimopt.bench import check_options

    check_options({"layout": "auto"}, "suite s")
    with pytest.raises(InputError, match="option layout = 'bogus' is invalid"):
        check_options({"layout": "bogus"}, "suite s")
