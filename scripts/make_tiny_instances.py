"""Generate the tiny benchmark instances (optimum provable by exact models).

Each is a small network of 8-bit differential weights drawn from N(0, 1)
(quantised per tensor), with shapes chosen so that a whole-network exact model
proves the optimum on the chip in ``instances/tiny/arch.toml`` (one 16x16
crossbar, 8x8 OUs: 4 slots, so every layer takes several rounds).

Usage: python scripts/make_tiny_instances.py [--seed 0] [--out instances/tiny]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from pimopt.network import Layer, Network
from pimopt.quantize import quantize_symmetric

SHAPES = {
    "tiny-fc2": [(24, 3, 1), (16, 2, 1)],
    "tiny-conv": [(27, 2, 16), (18, 3, 4)],
    "tiny-mlp3": [(16, 2, 1), (16, 2, 1), (16, 2, 1)],
}


def build(name: str, seed: int) -> Network:
    rng = np.random.default_rng(seed)
    layers = []
    for i, (k, n, n_inputs) in enumerate(SHAPES[name]):
        q, _ = quantize_symmetric(rng.normal(size=(k, n)), bits=8)
        layers.append(Layer(f"l{i}", q, n_inputs=n_inputs, kind="conv" if n_inputs > 1 else "fc"))
    return Network(name, tuple(layers),
                   source=f"scripts/make_tiny_instances.py --seed {seed}: N(0,1) weights, "
                          "8-bit per-tensor symmetric")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(Path(__file__).parents[1] / "instances/tiny"))
    args = ap.parse_args()
    for i, name in enumerate(SHAPES):
        print(f"wrote {build(name, args.seed + i).save(Path(args.out) / name)}")


if __name__ == "__main__":
    main()
