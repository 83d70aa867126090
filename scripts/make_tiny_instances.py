"""Generate the tiny benchmark instances into instances/tiny (same as ``pimopt generate tiny``).

Each is a small network of 8-bit weights drawn from N(0, 1) (quantised per
tensor), with shapes chosen so that a whole-network exact model proves the
optimum on the chip in ``instances/tiny/arch.toml`` (one 16x16 crossbar, 8x8
OUs: 4 slots, so every layer takes several rounds).

Usage: python scripts/make_tiny_instances.py [--seed 0] [--out instances/tiny]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pimopt.models.generate import tiny


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(Path(__file__).parents[1] / "instances/tiny"))
    args = ap.parse_args()
    for net in tiny(args.seed):
        print(f"wrote {net.save(Path(args.out) / net.name)}")


if __name__ == "__main__":
    main()
