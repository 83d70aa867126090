"""Generate the real-shaped instance library on demand and print its table.

Large instances are not committed: this script regenerates them
(deterministically, from the seed) into ``--out`` and prints one Markdown
table row per instance: layers, blocks, zero blocks, distinct non-zero
patterns (on the default architecture), generation time and the peak memory
of the generating process (each instance is generated in a child process).

Usage: python scripts/make_instances.py [--models vgg16,resnet18,resnet50,mobilenetv2]
       [--datasets cifar,imagenet] [--seed 0] [--out instances/real/generated] [--no-save]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def child(model: str, dataset: str, seed: int, out: str, save: bool) -> None:
    from pimopt import Architecture, Instance
    from pimopt.models.generate import real_shaped

    t0 = time.perf_counter()
    net = real_shaped(model, dataset, seed=seed)
    inst = Instance(Architecture(), net)
    row = {"name": net.name, "layers": len(net.layers), "weights": int(
        sum(la.weights.size for la in net.layers)), "blocks": inst.n_blocks,
        "zero": inst.n_blocks - inst.n_nonzero, "distinct": inst.n_distinct_nonzero,
        "sha256": net.content_hash()[:16]}
    if save:
        net.save(Path(out) / net.name)
    row["seconds"] = round(time.perf_counter() - t0, 1)
    row["peak_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(row))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", default="vgg16,resnet18,resnet50,mobilenetv2")
    ap.add_argument("--datasets", default="cifar,imagenet")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "instances/real/generated"))
    ap.add_argument("--no-save", action="store_true")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.seed, args.out, not args.no_save)
        return
    print("| instance | layers | weights | blocks | zero blocks | distinct non-zero | sha256 "
          "| generation (s) | peak memory (MiB) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for model in args.models.split(","):
        for dataset in args.datasets.split(","):
            cmd = [sys.executable, __file__, "--child", model, dataset, "--seed",
                   str(args.seed), "--out", args.out] + (["--no-save"] if args.no_save else [])
            r = json.loads(subprocess.run(cmd, capture_output=True, text=True,
                                          check=True).stdout.strip().splitlines()[-1])
            print(f"| {r['name']} | {r['layers']} | {r['weights']:,} | {r['blocks']:,} | "
                  f"{r['zero']:,} | {r['distinct']:,} | {r['sha256']} | {r['seconds']} | "
                  f"{r['peak_mib']} |", flush=True)


if __name__ == "__main__":
    main()
