"""Generate the bundled default instance: LeNet-5 layer shapes on 28x28 MNIST inputs.

Weights are synthetic (not trained): each layer's float weights are drawn from
N(0, 2 / fan_in) (He initialisation) with numpy's default_rng(seed), then
quantised symmetrically per tensor to 8 bits. Batch 1.

Usage: python scripts/make_default_instance.py [--seed 0] [--out pimopt/data/lenet5]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from pimopt.network import Layer, Network
from pimopt.quantize import quantize_symmetric

# (name, kind, K = fan-in, N = outputs, n_inputs = output positions x batch)
LENET5 = [
    ("conv1", "conv", 1 * 5 * 5, 6, 24 * 24),   # 1x28x28 -> 6x24x24, 5x5 kernels
    ("conv2", "conv", 6 * 5 * 5, 16, 8 * 8),    # pool -> 6x12x12 -> 16x8x8
    ("fc1", "fc", 16 * 4 * 4, 120, 1),          # pool -> 16x4x4 = 256
    ("fc2", "fc", 120, 84, 1),
    ("fc3", "fc", 84, 10, 1),
]


def build(seed: int) -> Network:
    """The LeNet-5-shaped network with seeded synthetic 8-bit weights."""
    rng = np.random.default_rng(seed)
    layers = []
    for name, kind, k, n, n_inputs in LENET5:
        w = rng.normal(0.0, np.sqrt(2.0 / k), size=(k, n))
        q, _ = quantize_symmetric(w, bits=8, mode="per-tensor")
        layers.append(Layer(name=name, weights=q, n_inputs=n_inputs, kind=kind,
                            info={"fan_in": k}))
    return Network(name="lenet5", layers=tuple(layers), weight_bits=8,
                   encoding="differential",
                   source=f"scripts/make_default_instance.py --seed {seed}: LeNet-5 shapes, "
                          "He-normal synthetic weights, 8-bit per-tensor symmetric")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(Path(__file__).parents[1] / "pimopt/data/lenet5"))
    args = ap.parse_args()
    path = build(args.seed).save(args.out)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
