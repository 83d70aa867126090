"""Bound floors, time limits and the bound cache."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from pimopt import Instance
from pimopt.bounds.cache import (
    _BOUND_CACHE,
    _MAKESPAN_BOUNDS,
    cached_makespan_bound,
    instance_bound,
)
from pimopt.bounds.programming import layered_ap_bound
from pimopt.latency import pair_costs, write_floor
from tests.conftest import random_network, small_arch
from tests.test_validity import make_case


@pytest.mark.parametrize("metric", ["latency", "cell_writes"])
@pytest.mark.parametrize("seed", range(6))
def test_write_floor_is_below_every_write_from_another_pattern(metric: str, seed: int) -> None:
    """Brute force over all ordered pairs of distinct patterns."""
    inst = make_case(seed).inst
    pats = np.unique(inst.patterns[inst.nonzero_blocks], axis=0)
    n = len(pats)
    floor = write_floor(inst.arch, pats, metric)
    c = pair_costs(inst.arch, np.repeat(pats, n, axis=0), np.tile(pats, (n, 1, 1)))
    vals = np.asarray(c.latency_ps if metric == "latency" else c.cell_writes).reshape(n, n)
    vals[np.arange(n), np.arange(n)] = np.iinfo(np.int64).max
    cheapest = vals.min(axis=0)
    if n > 1:
        assert (floor <= cheapest).all(), (floor, cheapest)
        assert (floor > 0).all()


@pytest.mark.parametrize("seed", range(12))
def test_instance_bound_cut_by_time_is_a_floor_below_the_full_bound(seed: int) -> None:
    case = make_case(seed)
    inst = case.inst
    _BOUND_CACHE.clear()
    cut = instance_bound(inst, "latency", time_limit=0.0)
    assert not cut.complete
    _BOUND_CACHE.clear()
    full = instance_bound(inst, "latency", time_limit=None)
    assert full.complete
    assert 0 < cut.value <= full.value <= case.optimum["latency"]


def test_layered_bound_without_floors_is_none_above_its_size_limit() -> None:
    inst = make_case(1).inst
    from pimopt.chains.problem import ChainProblem, layer_items

    li = layer_items(inst)[0]
    a = inst.arch
    n = len(li.patterns)
    p = ChainProblem(a, np.zeros((a.total_slots, a.ou_rows, a.ou_cols), np.uint8), li.patterns,
                     np.zeros(n, np.int64), {0: n}, "latency")
    zero = np.zeros((1, a.ou_rows, a.ou_cols), np.uint8)
    assert layered_ap_bound([p], [zero], sparse_limit=0) is None
    report: dict[str, object] = {}
    floors = [np.ones(n, dtype=np.int64)]
    assert layered_ap_bound([p], [zero], sparse_limit=0, floors=floors, report=report) == n
    assert report == {"complete": False, "floored": [0]}
    past = time.perf_counter() - 1
    assert layered_ap_bound([p], [zero], floors=floors, deadline=past) == n


def test_bounds_are_cached_on_disk_by_instance_content(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIMOPT_CACHE_DIR", str(tmp_path))
    inst = Instance(small_arch(), random_network(5, sparsity=0.2))
    _BOUND_CACHE.clear()
    _MAKESPAN_BOUNDS.clear()
    ib = instance_bound(inst, "latency")
    mb = cached_makespan_bound(inst, 10.0)
    files = sorted(p.name for p in tmp_path.rglob("*.json"))
    assert files == sorted([f"{inst.content_hash()}.json"] * 2)
    # a fresh process (empty memory caches) reads them back instead of recomputing
    _BOUND_CACHE.clear()
    _MAKESPAN_BOUNDS.clear()
    src: dict[str, str] = {}
    assert instance_bound(inst, "latency", source=src) == ib
    assert cached_makespan_bound(inst, 10.0, src) == mb
    assert src == {"instance": "cache", "makespan": "cache"}  # results say where bounds came from
    # a corrupt entry is a miss, not an error
    for p in tmp_path.rglob("*.json"):
        p.write_text("{not json")
    _BOUND_CACHE.clear()
    assert instance_bound(inst, "latency").value == ib.value
    monkeypatch.setenv("PIMOPT_CACHE_DIR", "off")
    _BOUND_CACHE.clear()
    assert instance_bound(inst, "latency").value == ib.value
    assert not list(tmp_path.rglob("*.tmp"))


@pytest.mark.parametrize("seed", range(4))
def test_segment_distances_are_the_exact_nearest_distance(seed: int) -> None:
    """Masked hashing against brute force over all pairs (segments that differ)."""
    from pimopt.latency import segment_distances

    rng = np.random.default_rng(seed)
    arch = small_arch(ou_rows=4, ou_cols=4, write_width=2, write_parallel=2)  # 8 segments
    base = rng.integers(0, 4, size=(40, 4, 4)).astype(np.uint8)
    near = base[rng.integers(0, 40, size=200)].copy()  # near copies: small distances
    flip = rng.random(near.shape) < 0.15
    near[flip] = rng.integers(0, 4, size=int(flip.sum()))
    pats = np.unique(np.concatenate([base, near]), axis=0)
    dist, complete = segment_distances(arch, pats)
    assert complete
    seg = pats.reshape(len(pats), 8, 2)
    differ = (seg[:, None] != seg[None, :]).any(axis=3).sum(axis=2)
    np.fill_diagonal(differ, 99)
    assert (dist == differ.min(axis=1)).all()
    cut, done = segment_distances(arch, pats, deadline=time.perf_counter() - 1)
    assert not done and (cut == 1).all()


def _entry(tmp_path: Path) -> Path:
    (path,) = [p for p in tmp_path.rglob("*.json") if "makespan-bound" in str(p.parent)]
    return path


@pytest.mark.parametrize("edit", ["nan", "negative", "string", "extra key", "missing key",
                                  "value not the largest term", "hand edit"])
def test_a_bad_cache_entry_is_a_miss(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     edit: str) -> None:
    """NaN, negative, a string or an extra key once gave a NaN or negative bound or a
    TypeError; an entry edited by hand kept its value. Each is now a miss."""
    import json

    from pimopt import cache

    monkeypatch.setenv("PIMOPT_CACHE_DIR", str(tmp_path))
    inst = Instance(small_arch(), random_network(5, sparsity=0.2))
    _MAKESPAN_BOUNDS.clear()
    mb = cached_makespan_bound(inst, 10.0)
    path = _entry(tmp_path)
    rec = json.loads(path.read_text())
    rec.pop("checksum")
    key = rec.pop("key")
    if edit == "nan":
        rec["path_ps"] = float("nan")
    elif edit == "negative":
        rec["value_ps"] = rec["resource_ps"] = -5
    elif edit == "string":
        rec["seconds"] = "fast"
    elif edit == "extra key":
        rec["bonus"] = 1
    elif edit == "missing key":
        rec.pop("flow")
    elif edit == "value not the largest term":
        rec["value_ps"] += 1000
    if edit == "hand edit":  # the old checksum no longer matches
        stored = json.loads(path.read_text())
        stored["value_ps"] = stored["path_ps"] = stored["value_ps"] + 1000
        path.write_text(json.dumps(stored))
    else:  # a well-formed entry (valid checksum) with a bad value
        cache.store("makespan-bound-5", key, rec)
    _MAKESPAN_BOUNDS.clear()
    src: dict[str, str] = {}
    again = cached_makespan_bound(inst, 10.0, src)
    assert src["makespan"] == "computed" and again.value_ps == mb.value_ps


def test_a_plausible_wrong_cached_bound_never_proves_optimality(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cached makespan bound equal to a found makespan (self-consistent, checksum
    valid) once made solve report 'optimal' with gap 0; a cached bound above it made
    it fail. The bound is recomputed whenever a cached one meets the objective."""
    from dataclasses import replace

    from pimopt import cache, solve
    from pimopt.bounds.makespan import makespan_bound

    monkeypatch.setenv("PIMOPT_CACHE_DIR", str(tmp_path))
    inst = Instance(small_arch(crossbars=1), random_network(7, n_layers=3, max_inputs=3))
    _MAKESPAN_BOUNDS.clear()
    true = makespan_bound(inst, time_limit=None)
    res = solve(inst, "naive", objective="makespan", time_limit=5)
    found = res.schedule.makespan_ps()
    assert found > true.value_ps  # naive is not optimal here
    for lie in (found, found + 10_000):
        fake = replace(true, value_ps=lie, path_ps=lie, complete=True)
        cache.store("makespan-bound-5", inst.content_hash(), fake.to_dict())
        _MAKESPAN_BOUNDS.clear()
        again = solve(inst, "naive", objective="makespan", time_limit=5)
        assert again.status.value != "optimal" and again.report.ok
        assert again.bound == true.value_ps / 1000.0 and again.gap and again.gap > 0
        assert "checked" in again.info["bound_source"]
