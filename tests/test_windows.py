"""Dependency windows (pimopt.windows): geometry, data, the verifier's rule 5, the
pipelined list schedule and the bound valid under the window rule."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

import pimopt
from pimopt import InputError
from pimopt.architecture import Architecture
from pimopt.instance import Instance
from pimopt.models.generate import conv_chain, real_shaped
from pimopt.network import Layer, Network
from pimopt.schedule import Schedule
from pimopt.scheduling.list_scheduler import list_schedule
from pimopt.scheduling.pipelining import chunk_rows, pipeline_schedule
from pimopt.verify import verify
from pimopt.windows import batched, compose, conv_need


def _brute_need(ih: int, iw: int, oh: int, ow: int, k: int, s: int, p: int, d: int
                ) -> np.ndarray:
    """Per output pixel: 1 + the raster index of the last input pixel its window reads
    (0: none), then the running maximum."""
    out = []
    for y in range(oh):
        for x in range(ow):
            read = [r * iw + c for r in range(y * s - p, y * s - p + (k - 1) * d + 1, d)
                    for c in range(x * s - p, x * s - p + (k - 1) * d + 1, d)
                    if 0 <= r < ih and 0 <= c < iw]
            out.append(max(read) + 1 if read else 0)
    return np.maximum.accumulate(np.array(out, dtype=np.int64))


@pytest.mark.parametrize("ih,k,s,p,d", [(5, 3, 1, 1, 1), (6, 3, 2, 1, 1), (7, 1, 2, 0, 1),
                                        (8, 5, 1, 2, 1), (9, 3, 1, 2, 2), (4, 2, 2, 0, 1),
                                        (5, 3, 3, 2, 1)])
def test_conv_need_is_what_the_geometry_reads(ih: int, k: int, s: int, p: int, d: int) -> None:
    oh = (ih + 2 * p - d * (k - 1) - 1) // s + 1
    got = conv_need(ih, oh, k, s, p, d)
    # the windows that lie wholly in the bottom padding read nothing; the array may ask
    # more there (conservative), never less
    want = _brute_need(ih, ih, oh, oh, k, s, p, d)
    assert np.all(got >= want)
    assert np.all(np.diff(got) >= 0) and got.max() <= ih * ih
    inside = np.array([y * s - p <= ih - 1 for y in range(oh) for _ in range(oh)])
    assert np.array_equal(got[inside], want[inside])


def test_batched_and_composed_windows() -> None:
    one = conv_need(4, 4, 3, 1, 1)
    two = conv_need(4, 4, 3, 1, 1, batch=2)
    assert np.array_equal(two[:16], one) and np.array_equal(two[16:], one + 16)
    assert np.array_equal(batched(one, 16, 2), two)
    # a 2x2/2 pool between two 3x3 convs: pixel i of the consumer needs the producer
    # outputs the pooled pixels it reads need
    pool = conv_need(8, 4, 2, 2, 0)
    conv = conv_need(4, 4, 3, 1, 1)
    got = compose(conv, pool)
    assert np.array_equal(got, [pool[c - 1] if c else 0 for c in conv])
    with pytest.raises(InputError, match="needs up to"):
        compose(np.array([5]), np.array([1, 2]))


def _layer(name: str, n: int, deps: tuple[str, ...] | None = None,
           windows: dict[str, object] | None = None) -> Layer:
    return Layer(name, np.ones((8, 2), dtype=np.int32), n_inputs=n, deps=deps, kind="conv",
                 windows=windows or {})  # type: ignore[arg-type]


def test_windows_are_checked_where_the_network_is_built() -> None:
    a = _layer("a", 4)
    with pytest.raises(InputError, match="not non-decreasing: entry 2 = 1 after 3"):
        _layer("b", 3, windows={"a": [1, 3, 1]})
    with pytest.raises(InputError, match="3 entries, the layer has 4 input vectors"):
        _layer("b", 4, windows={"a": [1, 2, 3]})
    with pytest.raises(InputError, match="entry 2 = 5 is out of range: 0 to 4"):
        Network("n", (a, _layer("b", 3, windows={"a": [1, 2, 5]})))
    with pytest.raises(InputError, match="window on 'z', which is not a layer it depends on"):
        Network("n", (a, _layer("b", 3, windows={"z": [1, 2, 3]})))
    with pytest.raises(InputError, match="windows must be a dict"):
        _layer("b", 3, windows=[1, 2, 3])  # type: ignore[arg-type]
    ok = Network("n", (a, _layer("b", 3, windows={"a": [1, 2, 4]})))
    assert ok.windows("window")[1] == [(0, ok.layers[1].windows["a"])]
    assert ok.windows("barrier")[1] == [(0, None)]


def test_windows_round_trip_and_enter_the_hash(tmp_path: Path) -> None:
    net = conv_chain(6, [2, 3, 2], [3, 3], strides=[1, 2])
    plain = conv_chain(6, [2, 3, 2], [3, 3], strides=[1, 2], windows=False)
    assert net.content_hash() != plain.content_hash()
    # without windows a layer's metadata has no such key: old files keep their hashes
    assert all("windows" not in la for la in plain.metadata()["layers"])
    back = Network.load(net.save(tmp_path / "chain"))
    assert back.content_hash() == net.content_hash()
    assert np.array_equal(back.layers[1].windows["conv0"], net.layers[1].windows["conv0"])
    # an NPZ that lost a window array is named
    arrays = dict(np.load(tmp_path / "chain.npz"))
    del arrays["window_1_0"]
    np.savez(tmp_path / "chain.npz", **arrays)
    with pytest.raises(InputError, match="no array 'window_1_0'"):
        Network.load(tmp_path / "chain.json")


def test_real_shaped_windows_follow_pools_and_additions() -> None:
    net = real_shaped("resnet18", "imagenet", width=0.125, windows=True)
    plain = real_shaped("resnet18", "imagenet", width=0.125)
    assert all(not la.windows for la in plain.layers)
    by = {la.name: la for la in net.layers}
    # conv1 (7x7/2 -> 112x112) then a 3x3/2 max-pool (56x56) then layer1.0.conv1 (3x3/1)
    pooled = conv_need(112, 56, 3, 2, 1)
    want = compose(conv_need(56, 56, 3, 1, 1), pooled)
    assert np.array_equal(by["layer1.0.conv1"].windows["conv1"], want)
    # after the residual addition the next conv reads both summands' producers
    assert set(by["layer1.1.conv1"].windows) == {"conv1", "layer1.0.conv2"}
    assert "fc" in by and not by["fc"].windows  # the classifier keeps the barrier


ARCH = Architecture(crossbars=2, rows=16, cols=16, ou_rows=8, ou_cols=8,
                    ous_per_crossbar=2)


def _chain_instance(seed: int = 0) -> Instance:
    return Instance(ARCH, conv_chain(6, [1, 2, 2, 1], [3, 3, 3], seed=seed))


def _ready_times(inst: Instance, s: Schedule, li: int, producer: int,
                 need: np.ndarray) -> np.ndarray:
    """Per compute of layer ``li``: when its needed outputs of ``producer`` are complete,
    output by output (the slow, obvious way)."""
    layer = inst.block_layer[s.comp_block]
    done = np.zeros(inst.network.layers[producer].n_inputs, dtype=np.int64)
    for i in np.flatnonzero(layer == producer):
        f, la = int(s.comp_first[i]), int(s.comp_last[i])
        done[f:la] = np.maximum(done[f:la], s.comp_end[i])
    sel = np.flatnonzero(layer == li)
    return np.array([done[:need[s.comp_last[i] - 1]].max(initial=0) for i in sel])


def test_the_window_schedule_is_never_longer_and_the_verifier_checks_it() -> None:
    inst = _chain_instance()
    m = pimopt.solve(inst, "naive", time_limit=5).mapping
    barrier = list_schedule(inst, m)
    _, piped = pipeline_schedule(inst, m, barrier, deadline=None)
    piped.meta["dependencies"] = "window"
    assert piped.makespan_ps() < barrier.makespan_ps()  # the chain pipelines
    assert verify(inst, piped).ok
    # the same timeline claimed under the barrier breaks rule 5
    as_barrier = piped.copy()
    as_barrier.meta["dependencies"] = "barrier"
    rep = verify(inst, as_barrier)
    assert not rep.ok and rep.violations[0].check == "dependencies"
    assert "finishes at" in rep.violations[0].message
    # every tight compute of a consumer moved 1 ps earlier is a window violation
    tight = 0
    for li in (1, 2):
        need = inst.network.layers[li].windows[f"conv{li - 1}"]
        ready = _ready_times(inst, piped, li, li - 1, need)
        sel = np.flatnonzero(inst.block_layer[piped.comp_block] == li)
        for i in sel[(piped.comp_start[sel] == ready) & (ready > 0)]:
            bad = piped.copy()
            bad.comp_start[i] -= 1
            bad.comp_end[i] -= 1
            rep = verify(inst, bad)
            assert any(v.check == "dependencies" and "completes its first" in v.message
                       for v in rep.violations), rep.violations
            tight += 1
    assert tight >= 2
    bad = piped.copy()
    bad.meta["dependencies"] = "eager"
    assert verify(inst, bad).violations[0].message.startswith("the schedule's dependency rule")


def test_chunks_keep_the_loads_and_cover_every_input() -> None:
    inst = _chain_instance()
    m = pimopt.solve(inst, "sorted", time_limit=5).mapping
    c = chunk_rows(inst, m, 4)
    c.validate(inst)
    assert len(c) > len(m)
    assert len(c.loads(inst)) == len(m.loads(inst))
    with pytest.raises(InputError, match="chunks = 0 is invalid"):
        chunk_rows(inst, m, 0)


@pytest.mark.parametrize("method", ["naive", "balanced"])
def test_solve_under_windows(method: str, tmp_path: Path) -> None:
    inst = _chain_instance(1)
    bar = pimopt.solve(inst, method, time_limit=2)
    win = pimopt.solve(inst, method, time_limit=2, dependencies="window")
    assert win.schedule.meta["dependencies"] == "window"
    assert win.options["dependencies"] == "window"
    assert verify(inst, win.schedule).ok
    # the pipelining stage never lengthens the schedule it is given (a time-limited
    # method may map differently in two runs, so only the deterministic one compares)
    piped = win.info["pipeline"]
    assert win.objective * 1000 == piped["makespan_ps"] <= piped["makespan_before_ps"]
    if method == "naive":
        assert win.objective < bar.objective
    # the bound is the one valid under the rule: below the window makespan
    assert win.info["makespan_bound"]["rule"] == "window"
    assert win.bound is not None and win.bound <= win.objective
    assert bar.bound is not None and win.bound <= bar.bound
    win.save(tmp_path / "out")
    again = Schedule.load(next((tmp_path / "out").glob("schedule.*")))
    assert again.meta["dependencies"] == "window" and verify(inst, again).ok


def test_the_window_bound_is_below_every_window_schedule() -> None:
    for seed in range(3):
        inst = Instance(dataclasses.replace(ARCH, ous_per_crossbar=1),
                        conv_chain(5, [1, 2, 1], [3, 3], seed=seed))
        for method in ("naive", "sorted", "balanced"):
            r = pimopt.solve(inst, method, time_limit=1, dependencies="window")
            assert r.bound is not None and r.bound <= r.objective + 1e-9


def test_the_command_line_generates_and_solves_under_windows(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pimopt.cli import main

    net = tmp_path / "r18"
    assert main(["generate", "real", "--model", "resnet18", "--width", "0.0625",
                 "--windows", "-o", str(net)]) == 0
    assert any(la.windows for la in Network.load(tmp_path / "r18.json").layers)
    # a chain whose barrier bound (its layer-window term) exceeds the window rule's
    chain = conv_chain(8, [4, 8, 8, 4], [3, 3, 3]).save(tmp_path / "chain")
    out = tmp_path / "out"
    assert main(["solve", str(chain), "--arch", "wv-mlc", "--method", "naive",
                 "--time-limit", "8", "--dependencies", "window", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["options"]["dependencies"] == "window"
    assert main(["verify", str(out)]) == 0
    assert main(["verify", str(out), "--check-bound", "5"]) == 0
    # metrics.json naming another rule than the schedule's is refused
    other = dict(metrics, options=dict(metrics["options"], dependencies="barrier"))
    (out / "metrics.json").write_text(json.dumps(other))
    capsys.readouterr()
    assert main(["verify", str(out)]) != 0
    assert "options.dependencies is 'barrier'" in capsys.readouterr().out
    (out / "metrics.json").write_text(json.dumps(metrics))
    # a window run that records the barrier's bound (higher, invalid there) is refused
    barrier = pimopt.solve(Instance(pimopt.load_architecture("wv-mlc"), Network.load(chain)),
                           "naive", time_limit=8)
    assert barrier.bound is not None
    assert barrier.bound > metrics["metrics"]["makespan_bound_ns"]
    # every field that follows from the bound, consistently (so only its value is wrong)
    gap = (metrics["objective"] - barrier.bound) / metrics["objective"]
    metrics["bound"] = metrics["metrics"]["makespan_bound_ns"] = barrier.bound
    metrics["gap"] = metrics["metrics"]["makespan_gap"] = gap
    (out / "metrics.json").write_text(json.dumps(metrics))
    capsys.readouterr()
    assert main(["verify", str(out), "--check-bound", "5"]) != 0
    said = capsys.readouterr()
    assert "exceeds the recomputed bound" in said.out + said.err
    capsys.readouterr()
    assert main(["generate", "synthetic", "--layers", "8x2", "--windows", "-o",
                 str(tmp_path / "s")]) == 2
    assert "--windows applies to generate real" in capsys.readouterr().err


def test_imported_windows_follow_the_graph() -> None:
    from pimopt.models.onnx_import import import_onnx

    root = Path(__file__).resolve().parent.parent / "instances" / "imported"
    net = import_onnx(root / "lenet5.onnx", input_shape=(1, 1, 28, 28), windows=True)
    conv1 = net.layers[0].name
    # conv1 (5x5, 28 -> 24), ReLU, 2x2/2 max-pool (24 -> 12), conv2 (5x5, 12 -> 8)
    want = compose(conv_need(12, 8, 5), conv_need(24, 12, 2, 2))
    assert np.array_equal(net.layers[1].windows[conv1], want)
    assert net.layers[1].info["window_geometry"][conv1]["of"]["window"]["stride"] == [2, 2]
    assert not net.layers[2].windows  # flatten and Gemm: the barrier
    plain = import_onnx(root / "lenet5.onnx", input_shape=(1, 1, 28, 28))
    assert all(not la.windows for la in plain.layers)
    # residual additions: a conv after an Add reads both summands' producers
    r20 = import_onnx(root / "resnet20-cifar.onnx", input_shape=(1, 3, 32, 32), windows=True)
    joined = [la for la in r20.layers if len(la.windows) > 1]
    assert joined and all(set(la.windows) == set(la.deps or ()) for la in joined)
    # an array that is not what its recorded geometry gives is refused
    la = net.layers[1]
    bad = dataclasses.replace(la, windows={conv1: np.minimum(
        la.windows[conv1] + 1, net.layers[0].n_inputs)})
    with pytest.raises(InputError, match="differs from the one its geometry"):
        Network("n", (net.layers[0], bad))


def test_the_joint_model_proves_both_optima_on_a_tiny_chain() -> None:
    """1x1 convolutions on 2x2 pixels: under windows the second layer starts on the first
    pixel the first one finishes; the joint model proves both optima, the window one
    lower, and its schedule passes the verifier under the window rule only."""
    from pimopt.scheduling.joint import joint_schedule

    root = Path(__file__).resolve().parent.parent / "instances" / "tiny-windows"
    inst = Instance(ARCH, Network.load(root / "k11-hw2.json"))
    m = pimopt.solve(inst, "sorted", time_limit=2).mapping
    jb = joint_schedule(inst, m, list_schedule(inst, m), time_limit=30, workers=2)
    jw = joint_schedule(inst, jb.mapping, jb.schedule, time_limit=30, workers=2,
                        dependencies="window")
    assert jb.status == "optimal" and jw.status == "optimal"
    assert jw.makespan_ps < jb.makespan_ps
    assert jw.schedule.meta["dependencies"] == "window" and verify(inst, jw.schedule).ok
    claimed = jw.schedule.copy()
    claimed.meta["dependencies"] = "barrier"
    assert not verify(inst, claimed).ok
    # the bound valid under windows lies below the window optimum
    r = pimopt.solve(inst, "naive", time_limit=2, dependencies="window")
    assert r.bound is not None and r.bound * 1000 <= jw.makespan_ps


@pytest.mark.parametrize("scheduler", ["cpsat", "joint"])
def test_the_cpsat_schedulers_keep_the_windows(scheduler: str) -> None:
    inst = Instance(ARCH, Network.load(Path(__file__).resolve().parent.parent / "instances"
                                       / "tiny-windows" / "k11-hw3.json"))
    bar = pimopt.solve(inst, "sorted", time_limit=4, scheduler=scheduler)
    win = pimopt.solve(inst, "sorted", time_limit=4, scheduler=scheduler,
                       dependencies="window")
    assert win.schedule.meta["dependencies"] == "window" and verify(inst, win.schedule).ok
    assert win.objective < bar.objective  # 1x1 convolutions pipeline
    assert win.bound is not None and win.bound <= win.objective
