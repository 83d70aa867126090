from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pimopt import InputError, Instance, Layer, Mapping, Network
from pimopt.methods.baselines import naive_mapping
from tests.conftest import small_arch


def test_naive_mapping_is_valid_and_round_robin(tiny_instance: Instance) -> None:
    m = naive_mapping(tiny_instance)
    m.validate(tiny_instance)
    s = tiny_instance.arch.total_slots
    assert len(m) == tiny_instance.n_nonzero
    assert m.position.max() == (tiny_instance.n_nonzero - 1) // s
    assert (m.crossbar[:4] == 0).all() and m.slot[:4].tolist() == [0, 1, 2, 3]


def test_csv_round_trip(tiny_instance: Instance, tmp_path: Path) -> None:
    m = naive_mapping(tiny_instance)
    m.save_csv(tmp_path / "m.csv", tiny_instance)
    back = Mapping.from_csv(tmp_path / "m.csv")
    key = np.argsort(m.block)
    key2 = np.argsort(back.block)
    for f in ("block", "crossbar", "slot", "position"):
        assert np.array_equal(getattr(m, f)[key], getattr(back, f)[key2])
    header = (tmp_path / "m.csv").read_text().splitlines()[0]
    assert header == "block,layer,row_tile,col_tile,crossbar,slot,position,first,last"
    lo, hi = back.ranges(tiny_instance)
    assert np.array_equal(hi[key2] - lo[key2], tiny_instance.block_n_inputs[m.block[key]])


def test_input_ranges_must_split_each_block(tiny_instance: Instance) -> None:
    inst = tiny_instance
    m = naive_mapping(inst)
    layer = inst.block_layer[m.block]
    # a block of the last layer with several inputs: its second half goes to a new load at
    # the end of slot 0 of crossbar 0 (after every other load there: the layer order holds)
    b = int(np.flatnonzero((layer == layer.max()) & (inst.block_n_inputs[m.block] >= 2))[0])
    n = int(inst.block_n_inputs[m.block[b]])
    last_pos = int(m.position[(m.crossbar == 0) & (m.slot == 0)].max())
    first = np.zeros(len(m) + 1, dtype=np.int64)
    last = np.r_[inst.block_n_inputs[m.block], 0].astype(np.int64)
    last[b] = n // 2
    first[-1], last[-1] = n // 2, n
    split = Mapping(block=np.r_[m.block, m.block[b]], crossbar=np.r_[m.crossbar, 0],
                    slot=np.r_[m.slot, 0], position=np.r_[m.position, last_pos + 1],
                    first=first, last=last)
    split.validate(inst)
    assert len(split.loads(inst)) == len(m.loads(inst)) + 1
    bad_last = last.copy()
    bad_last[-1] = n - 1  # the last input is never computed
    with pytest.raises(InputError, match=r"do not split \[0, "):
        Mapping(block=split.block, crossbar=split.crossbar, slot=split.slot,
                position=split.position, first=first, last=bad_last).validate(inst)
    with pytest.raises(InputError, match="go together"):
        Mapping(block=m.block, crossbar=m.crossbar, slot=m.slot, position=m.position,
                first=np.zeros_like(m.block))


def test_validation_names_each_fault(tiny_instance: Instance) -> None:
    m = naive_mapping(tiny_instance)

    def variant(**kw: np.ndarray) -> Mapping:
        f = {k: getattr(m, k).copy() for k in ("block", "crossbar", "slot", "position")}
        f.update(kw)
        return Mapping(**f)

    with pytest.raises(InputError, match="misses non-zero block"):
        Mapping(m.block[1:], m.crossbar[1:], m.slot[1:], m.position[1:]).validate(tiny_instance)
    b = m.block.copy()
    b[1] = b[0]
    with pytest.raises(InputError, match=r"misses non-zero block|times"):
        variant(block=b).validate(tiny_instance)
    x = m.crossbar.copy()
    x[0] = 99
    with pytest.raises(InputError, match="crossbar 99"):
        variant(crossbar=x).validate(tiny_instance)
    p = m.position.copy()
    p[p == p.max()] += 1
    with pytest.raises(InputError, match="without gaps"):
        variant(position=p).validate(tiny_instance)
    with pytest.raises(InputError, match="negative"):
        variant(slot=m.slot - 1)
    # reverse the layer order within slot 0 of crossbar 0
    sel = np.flatnonzero((m.crossbar == 0) & (m.slot == 0))
    p = m.position.copy()
    p[sel] = p[sel][::-1]
    with pytest.raises(InputError, match="must follow the layer order"):
        variant(position=p).validate(tiny_instance)


def test_shared_load_requires_identical_patterns() -> None:
    w = np.zeros((8, 1), dtype=int)
    w[:, 0] = [3, 3, 3, 3, 3, 3, 3, 3]
    inst = Instance(small_arch(), Network("s", (Layer("a", w),), weight_bits=4))
    ok = Mapping(inst.nonzero_blocks, np.zeros(2, int), np.zeros(2, int), np.zeros(2, int))
    ok.validate(inst)  # both blocks have the same pattern: one load serves both
    w[0, 0] = 2
    inst2 = Instance(small_arch(), Network("s", (Layer("a", w),), weight_bits=4))
    with pytest.raises(InputError, match="share a load but their patterns differ"):
        Mapping(inst2.nonzero_blocks, np.zeros(2, int), np.zeros(2, int),
                np.zeros(2, int)).validate(inst2)
