"""The answer key of a 2-cause case as parallel tasks: 1 worker, local processes, local Ray.

Measures, side by side in one run, the wall time of the key of scenarios/feed_and_reward.yaml
(its severities fixed, so no calibration) with replicate worlds: in this process alone, in
N local worker processes, and on a local Ray with N CPUs; checks the keys are identical
(sha256 of the key JSON) and prints the speed-ups. Each configuration builds the case's warm
world itself, as `casesim key` does. Ray's start-up is timed apart.

    python bench/parallel.py [--size small|default] [--replicates 2] [--workers 2] [--no-ray]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sim import runner  # noqa: E402
from sim.scenario import load_scenario  # noqa: E402
from sim.tasks import SERIAL, LocalTasks, RayTasks, Tasks  # noqa: E402
from sim.truth import answer_key, key_runs  # noqa: E402
from sim.world import SIZES  # noqa: E402

SEVERITIES = {"electronics_mapping": 0.55, "engagement_objective": 0.12}


def case():
    scenario = load_scenario(ROOT / "scenarios" / "feed_and_reward.yaml")
    ids = scenario.fault_ids()
    faults = [f.with_severity(SEVERITIES[i]) for i, f in zip(ids, scenario.faults, strict=True)]
    return scenario.model_copy(update={"faults": faults})


def timed_key(tasks: Tasks, size_name: str, replicates: int) -> tuple[float, str]:
    scenario, size = case(), SIZES[size_name]
    runner._WARM.clear()  # every configuration builds the warm world, as `casesim key` does
    started = time.perf_counter()
    cf, others = key_runs(scenario, size, scenario.seed, replicates, tasks=tasks)
    key = answer_key(scenario, size, scenario.seed, cf, others)
    wall = time.perf_counter() - started
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()
    return wall, digest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="default", choices=list(SIZES))
    parser.add_argument("--replicates", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-ray", action="store_true")
    args = parser.parse_args()
    n = args.workers
    print(
        f"key of feed_and_reward at {args.size} size, {args.replicates} replicate worlds "
        f"(2 faults: 4 branches per world); {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"
    )
    rows = [("1 worker (this process)", *timed_key(SERIAL, args.size, args.replicates))]
    print(f"  {rows[-1][0]:32s} {rows[-1][1]:7.1f} s  key {rows[-1][2][:16]}", flush=True)
    with LocalTasks(n) as tasks:
        rows.append((f"{n} local processes", *timed_key(tasks, args.size, args.replicates)))
    print(f"  {rows[-1][0]:32s} {rows[-1][1]:7.1f} s  key {rows[-1][2][:16]}", flush=True)
    if not args.no_ray:
        started = time.perf_counter()
        with RayTasks(None, n) as tasks:
            boot = time.perf_counter() - started
            rows.append((f"Ray local, {n} CPUs", *timed_key(tasks, args.size, args.replicates)))
        print(
            f"  {rows[-1][0]:32s} {rows[-1][1]:7.1f} s  key {rows[-1][2][:16]}"
            f"  (+{boot:.1f} s to start Ray)",
            flush=True,
        )
    base = rows[0][1]
    for name, wall, _ in rows[1:]:
        print(f"  speed-up, {name}: {base / wall:.2f}x")
    same = len({d for _, _, d in rows}) == 1
    print(f"  identical keys: {'yes' if same else 'NO'}")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
