"""Benchmark the core pipeline (naive mapping + list schedule + verify) at scale.

Builds a synthetic MLP with about 50,000 non-zero 8x8 blocks (8-bit weights,
2-bit cells, differential encoding), then times each phase in-process and the
whole ``pimopt solve`` command end to end (file writing included), and prints
the figures with the peak memory of the process.

Usage: python scripts/bench_core.py [--seed 0] [--scale 1.0]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from pimopt import Instance, Layer, Network, load_architecture, verify
from pimopt.methods.baselines import naive_mapping
from pimopt.quantize import quantize_symmetric
from pimopt.scheduling.list_scheduler import list_schedule


def build(seed: int, scale: float) -> Network:
    rng = np.random.default_rng(seed)
    shapes = [(512, 400), (400, 256), (256, 400)]
    layers = []
    for i, (k, n) in enumerate(shapes):
        n = max(1, int(n * scale))
        q, _ = quantize_symmetric(rng.normal(0, 1 / np.sqrt(k), size=(k, n)), bits=8)
        layers.append(Layer(f"fc{i}", q, n_inputs=16))
    return Network("bench-mlp", tuple(layers), source=f"scripts/bench_core.py --seed {seed}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scale", type=float, default=1.0)
    args = ap.parse_args()
    net = build(args.seed, args.scale)
    inst = Instance(load_architecture("default"), net)
    t0 = time.perf_counter()
    _ = inst.patterns, inst.pattern_id
    t1 = time.perf_counter()
    mapping = naive_mapping(inst)
    t2 = time.perf_counter()
    sched = list_schedule(inst, mapping)
    t3 = time.perf_counter()
    rep = verify(inst, sched)
    t4 = time.perf_counter()
    print(f"instance: {inst.n_nonzero} non-zero blocks ({inst.n_blocks} total), "
          f"{sched.n_program} program ops, {sched.n_compute} computes")
    print(f"blocks+patterns {t1 - t0:.2f} s | naive {t2 - t1:.2f} s | "
          f"schedule {t3 - t2:.2f} s | verify {t4 - t3:.2f} s | "
          f"verdict {rep.first()}")
    with tempfile.TemporaryDirectory() as d:
        path = net.save(Path(d) / "bench")
        t5 = time.perf_counter()
        res = subprocess.run([sys.executable, "-m", "pimopt", "solve", str(path), "--out",
                              str(Path(d) / "out")], capture_output=True, text=True, check=False)
        t6 = time.perf_counter()
        if res.returncode:
            raise SystemExit(res.stderr)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"pimopt solve end to end (load, naive, schedule, verify, write): {t6 - t5:.2f} s; "
          f"peak RSS in-process {peak:.0f} MiB, CLI {child:.0f} MiB")


if __name__ == "__main__":
    main()
