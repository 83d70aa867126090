"""What each term of the makespan bound adds: an ablation on named instances.

Usage::

    python scripts/bench_bound_terms.py [--instances lenet5,resnet20,...]
        [--presets multi-ou,small-chip,wv-mlc] [--time-limit 240]

For every instance and preset it computes the makespan bound (docs/bounds.md,
section 6) four ways: without the two terms added for the programming-bound
regime, with the writes in layer order only, with the writes after each
window's opening only, and with both (the bound ``solve`` reports), and prints
the values, the programming term and the seconds. Instances are those of
``scripts/bench_makespan.py``; tiny programming-bound ones are named
``tiny-pb/NAME``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_makespan import instance_path

from pimopt.bounds import makespan as mk
from pimopt.instance import load_instance
from pimopt.provenance import versions

ROOT = Path(__file__).resolve().parents[1]
ORDER, SUFFIX = mk._layer_order, mk._suffix_writes


def _no_suffix(lb: Any, nodes: Any, deps: Any, path: Any, slots: int) -> Any:
    return np.zeros(path.size)


def bound(inst: Any, order: bool, suffix: bool, time_limit: float) -> tuple[float, float, float]:
    """(bound us, programming term us, seconds) with the chosen terms."""
    mk._layer_order = ORDER if order else (lambda *args: None)
    mk._suffix_writes = SUFFIX if suffix else _no_suffix  # type: ignore[assignment]
    try:
        t = time.perf_counter()
        mb = mk.makespan_bound(inst, time_limit=time_limit)
        return mb.value_ps / 1e6, mb.programming_lb_ps / 1e6, time.perf_counter() - t
    finally:
        mk._layer_order, mk._suffix_writes = ORDER, SUFFIX


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--instances", default="lenet5,resnet20,digits-cnn,digits-mlp")
    ap.add_argument("--presets", default="multi-ou,small-chip,wv-mlc")
    ap.add_argument("--time-limit", type=float, default=240.0)
    args = ap.parse_args(argv)
    print(f"versions: {versions()}")
    print("| instance | preset | neither (us) | layer order | after opening | both | "
          "programming term: neither -> both (us) | s (both) |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.instances.split(","):
        for preset in args.presets.split(","):
            if name.startswith("tiny-pb/"):
                base = ROOT / "instances" / "tiny-pb" / name.split("/", 1)[1]
                inst = load_instance(base.with_suffix(".json"), base.with_suffix(".toml"))
            else:
                inst = load_instance(instance_path(name), preset)
            rows = [bound(inst, o, s, args.time_limit)
                    for o, s in ((False, False), (True, False), (False, True), (True, True))]
            v0 = rows[0][0]
            cells = [f"{rows[0][0]:,.1f}"] + [f"{r[0]:,.1f} ({r[0] / v0 - 1:+.1%})"
                                              for r in rows[1:]]
            print(f"| {name} | {preset} | {' | '.join(cells)} | {rows[0][1]:,.1f} -> "
                  f"{rows[3][1]:,.1f} | {rows[3][2]:.1f} |", flush=True)
            if name.startswith("tiny-pb/"):
                break  # a tiny instance carries its own architecture
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
