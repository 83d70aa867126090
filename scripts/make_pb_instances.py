"""Generate the tiny programming-bound suite into instances/tiny-pb.

Each instance is a small chain of fully connected layers (2-3 layers, 8-12
non-zero 8x8 blocks, batch 1) on a chip of its own with 4-8 OU slots, in one
of three families where programming competes with compute:

- ``few-xb``: 1-2 crossbars of 4 slots, every crossbar may program at once;
- ``multi-ou``: 2 crossbars of 4 slots, 2-4 OUs of a crossbar compute at once;
- ``budget``: 3-4 crossbars of 2 slots, of which only 1-2 may program at once
  (a binding write budget).

Write timings are those of the `wv-mlc` preset (100 ns incremental pulses,
50 ns verify) or of `multi-ou` (50.88 ns pulses, 10 ns verify); ``t_ou`` is
drawn from 25, 100 and 400 ns so that a block's compute (``8 * t_ou``) is
3-60% of an average write. Every layer has ``n_inputs = 1`` and every
non-zero pattern is distinct, so no input can be split and no load shared:
the joint CP-SAT model's optimum (``scripts/bench_pb.py``) is then the optimum
of the problem as docs/model.md states it. Weights are N(0, 1), 8-bit per tensor.

Usage: python scripts/make_pb_instances.py [--seed 0] [--per-family 8] [--out DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from pimopt import Instance
from pimopt.architecture import Architecture
from pimopt.network import Layer, Network
from pimopt.quantize import quantize_symmetric

FAMILIES = ("few-xb", "multi-ou", "budget")
WRITES = {"wv": {"t_set": 100.0, "t_reset": 100.0, "t_verify": 50.0},
          "mlc": {"t_set": 50.88, "t_reset": 50.88, "t_verify": 10.0}}


def _arch(family: str, rng: np.random.Generator, name: str) -> Architecture:
    write = WRITES[str(rng.choice(sorted(WRITES)))]
    kw: dict[str, object] = dict(name=name, rows=16, cols=16, cell_bits=2, ou_rows=8, ou_cols=8,
                                 t_ou=float(rng.choice([25.0, 100.0, 400.0])), input_bits=8,
                                 write_width=8, write_parallel=8, pulse_mode="incremental",
                                 block_whole_crossbar=True, **write)
    if family == "few-xb":
        x = int(rng.integers(1, 3))
        kw.update(crossbars=x, ous_per_crossbar=1, max_programming_crossbars=x)
    elif family == "multi-ou":
        kw.update(crossbars=2, ous_per_crossbar=int(rng.choice([2, 4])),
                  max_programming_crossbars=int(rng.integers(1, 3)))
    else:
        x = int(rng.integers(3, 5))
        kw.update(crossbars=x, rows=8, ous_per_crossbar=1,
                  max_programming_crossbars=int(rng.integers(1, 3)))
    return Architecture(**kw)  # type: ignore[arg-type]


def _network(rng: np.random.Generator, name: str, arch: Architecture, seed: int) -> Network:
    """2-3 FC layers of 2-6 blocks each, 8-12 in all, every pattern distinct and non-zero
    (small enough for the joint model to prove the optimum in about a minute)."""
    while True:
        n_layers = int(rng.integers(2, 4))
        shapes = [(8 * int(rng.integers(1, 4)), int(rng.integers(1, 4))) for _ in range(n_layers)]
        blocks = [k // 8 * n for k, n in shapes]
        if not (8 <= sum(blocks) <= 12 and all(2 <= b <= 6 for b in blocks)):
            continue
        layers = tuple(Layer(f"l{j}", quantize_symmetric(rng.normal(size=s), bits=8)[0],
                             n_inputs=1, kind="fc") for j, s in enumerate(shapes))
        net = Network(name, layers, source=f"scripts/make_pb_instances.py --seed {seed}: "
                                           "N(0,1) weights, 8-bit per-tensor symmetric")
        inst = Instance(arch, net)
        nz = inst.nonzero_blocks
        if nz.size == inst.n_blocks and np.unique(inst.pattern_id[nz]).size == nz.size:
            return net


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--per-family", type=int, default=8)
    ap.add_argument("--out", default=str(Path(__file__).parents[1] / "instances/tiny-pb"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for f, family in enumerate(FAMILIES):
        for i in range(args.per_family):
            rng = np.random.default_rng([args.seed, f, i])
            name = f"pb-{family}-{i}"
            arch = _arch(family, rng, name)
            net = _network(rng, name, arch, args.seed)
            (out / f"{name}.toml").write_text(arch.to_toml())
            print(f"wrote {net.save(out / name)} and {name}.toml")


if __name__ == "__main__":
    main()
