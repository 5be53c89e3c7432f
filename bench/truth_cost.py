"""What the answer key costs, and what common random numbers buy.

1. Cost: a case with three faults (2^3 = 8 counterfactual branches) against one plain run of
   the same case, in the same process: the key must cost no more than 3x a single run.
2. Stability: the shares of a two-cause case over several seeds, with common random numbers
   (every branch draws the same numbers) and without (each branch its own stream).
Run with `make bench` or `python bench/truth_cost.py [--size small] [--seeds 4]`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sim.runner import simulate  # noqa: E402
from sim.scenario import parse_scenario  # noqa: E402
from sim.truth import answer_key, run_counterfactuals  # noqa: E402
from sim.world import SIZES  # noqa: E402

THREE = """
id: bench_three
title: Three changes
start: 2026-08-03
days: 28
seed: 6
target: {change: -0.05}
faults:
  - {type: feed_change, id: feed, at: 2026-08-24T02:00:00, severity: 0.6,
     scope: {category: [womens_apparel, mens_apparel, shoes_bags, beauty]}}
  - {type: reward_shift, id: rank, at: 2026-08-24T15:00:00, severity: 0.15}
  - {type: deploy, id: dep, decoy: true, at: 2026-08-25T10:00:00, server_factor: 1.02}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", default="small")
    parser.add_argument("--seeds", type=int, default=4)
    args = parser.parse_args()
    size = SIZES[args.size]
    scenario = parse_scenario(THREE)

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        simulate(scenario, size, Path(tmp) / "run")
        single = time.perf_counter() - started
    started = time.perf_counter()
    cf = run_counterfactuals(scenario, size, scenario.seed)
    key_time = time.perf_counter() - started
    print(f"answer key, 3 faults ({len(cf.changes)} branches, {args.size}):")
    print(f"  one plain run (tables written):  {single:6.1f} s")
    print(f"  the key (no tables):             {key_time:6.1f} s")
    print(f"  ratio key / run:                 {key_time / single:6.2f}x   (target <= 3x)")
    print(f"  simulated hours / one period:    {cf.cost_ratio:6.2f}x")

    shares: dict[bool, list[dict[str, float]]] = {True: [], False: []}
    for seed in range(1, args.seeds + 1):
        for crn in (True, False):
            cf = run_counterfactuals(scenario, size, seed, crn=crn)
            key = answer_key(scenario, size, seed, cf)
            shares[crn].append({c["id"]: c["effect"] for c in key["causes"]})
    print(f"\neffect of each change on the relative change, across {args.seeds} seeds:")
    print(
        f"  {'change':8s} {'CRN mean':>9s} {'CRN sd':>8s} {'indep. mean':>12s} {'indep. sd':>10s}"
    )
    for cid in ("feed", "rank", "dep", "noise"):
        with_crn = np.array([s[cid] for s in shares[True]])
        without = np.array([s[cid] for s in shares[False]])
        print(
            f"  {cid:8s} {with_crn.mean():+9.2%} {with_crn.std(ddof=1):8.2%} "
            f"{without.mean():+12.2%} {without.std(ddof=1):10.2%}"
        )
    sd_crn = np.mean(
        [np.std([s[c] for s in shares[True]], ddof=1) for c in ("feed", "rank", "dep")]
    )
    sd_ind = np.mean(
        [np.std([s[c] for s in shares[False]], ddof=1) for c in ("feed", "rank", "dep")]
    )
    print(f"  mean sd of a cause's effect: CRN {sd_crn:.2%} vs independent {sd_ind:.2%} "
          f"(x{sd_ind / sd_crn:.1f})")  # fmt: skip


if __name__ == "__main__":
    main()
