"""Throughput of the simulator, end to end (simulation + Parquet), against a naive model.

Prints impressions per second for the default case, per wall-second and per CPU-second
(the machine is shared: CPU-seconds are the figure that load does not inflate), its peak
memory and the load average around it, and, in the same run, the same funnel written as a
naive per-agent simpy model (one process per user, one yield per impression) at a small size,
with the ratios. Memory growth with days is measured on two shorter runs (`--no-memory` skips
them). `--cold-jit` adds a run whose compiled kernels start from an empty numba cache (the
first run after an install or a change to sim/kernels.py). Run with `make bench` (or
`python bench/throughput.py`).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import simpy

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _run_case(args: tuple[str, int, int | None, str | None]) -> dict:
    """Run one case in a fresh process so its peak memory (and CPU time) is its own. The
    timed part is `simulate` alone, numba's import and cache loading included."""
    size_name, users, days, jit_cache = args
    if jit_cache is not None:  # before numba is imported: it reads this once
        os.environ["NUMBA_CACHE_DIR"] = jit_cache
    from sim.runner import simulate
    from sim.scenario import load_scenario
    from sim.world import SIZES, Size

    scenario = load_scenario(ROOT / "scenarios" / "baseline.yaml")
    if days is not None:
        scenario = scenario.model_copy(update={"days": days, "faults": []})
    size = SIZES[size_name] if users == 0 else Size(size_name, users)
    with tempfile.TemporaryDirectory() as tmp:
        load_before = os.getloadavg()[0]
        started, cpu_started = time.perf_counter(), time.process_time()
        manifest = simulate(scenario, size, Path(tmp) / "run")
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "impressions": manifest["tables"]["impressions"]["rows"],
        "seconds": elapsed,
        "cpu_seconds": cpu,
        "load": (load_before, os.getloadavg()[0]),
        "peak_mib": peak_kib / 1024,
    }


def in_subprocess(
    size_name: str, users: int = 0, days: int | None = None, jit_cache: str | None = None
) -> dict:
    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(_run_case, ((size_name, users, days, jit_cache),))


class NumpyDraws:
    """The stdlib `random` calls the naive model makes, served by numpy scalar draws."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def random(self) -> float:
        return self.rng.random()

    def expovariate(self, rate: float) -> float:
        return self.rng.exponential(1 / rate)

    def lognormvariate(self, mu: float, sigma: float) -> float:
        return self.rng.lognormal(mu, sigma)

    def randrange(self, n: int) -> int:
        return int(self.rng.integers(n))


def naive_model(
    users: int, days: int, out_dir: Path, seed: int = 0, draws: str = "stdlib"
) -> tuple[int, float, float]:
    """The same funnel, written the naive way: one simpy process per user, one yield per
    impression, scalar draws, rows appended to lists and written to Parquet at the end.

    It uses the real world and the real ranker pools, so the work per impression matches the
    vectorized engine: category by affinity, item from the pools, position bias, click, cart
    (price, intent, stock), order, payment, latency and abandonment per page, tracked events.
    """
    import math
    import random

    import pyarrow as pa
    import pyarrow.parquet as pq

    from sim.behavior import EXAMINE, MAX_PAGES, PAGE_SIZE
    from sim.engine import initial_state
    from sim.latency import DEVICE_RENDER_MS, NETWORK_FACTOR, TIER_FACTOR
    from sim.rng import Streams
    from sim.world import CATEGORY_PRICE, Size, make_world

    world = make_world(Streams(seed), Size("naive", users), date(2026, 8, 3), days)
    state = initial_state(world)
    pools = state.pools
    u, it = world.users, world.items
    p_left = pools.p_left.tolist()  # per category, the chance of going left at each node
    leaves, depth = pools.leaves, pools.depth
    rnd = random.Random(seed) if draws == "stdlib" else NumpyDraws(seed)
    env = simpy.Environment()
    impressions: list[tuple[int, int, int]] = []
    events: list[tuple[int, int, str]] = []
    session_ids = iter(range(1 << 40))

    def user(i: int):
        rate = float(u.activity[i]) / 24.0
        while True:
            yield env.timeout(rnd.expovariate(rate))
            if env.now >= days * 24:
                return
            sid = next(session_ids)
            for page in range(MAX_PAGES):
                server = 170 * TIER_FACTOR[u.city_tier[i] - 1] * rnd.lognormvariate(0, 0.45)
                client = DEVICE_RENDER_MS[u.device[i]] * NETWORK_FACTOR[u.network[i]]
                total = server + client * rnd.lognormvariate(0, 0.35)
                ratio = total / float(u.patience_ms[i])
                if rnd.random() < 1 - math.exp(-0.35 * ratio**1.5):
                    break
                for slot in range(PAGE_SIZE):
                    yield env.timeout(1 / 3600)
                    pos = page * PAGE_SIZE + slot
                    cat = int(u.category_slots[i, rnd.randrange(u.category_slots.shape[1])])
                    node = 1  # down the category's sum tree, one draw per level
                    for _ in range(depth):
                        node = 2 * node + (rnd.random() >= p_left[cat][node])
                    item = node - leaves
                    impressions.append((sid, pos, item))
                    logit = it.appeal[item] + u.affinity_logit[i, cat] - 3.3
                    if rnd.random() >= EXAMINE[pos] / (1 + math.exp(-logit)):
                        continue
                    events.append((sid, item, "click"))
                    rel = math.log(it.price[item] / CATEGORY_PRICE[it.category[item]])
                    cart = it.propensity[item] + u.intent[i] - u.price_sens[i] * rel - 3.2
                    if it.stock[item] > 0 and rnd.random() < 1 / (1 + math.exp(-cart)):
                        events.append((sid, item, "add_to_cart"))
                        if rnd.random() < 0.6:
                            events.append((sid, item, "order"))
                            it.stock[item] -= 1
                if rnd.random() > u.depth[i] * math.exp(-0.25 * ratio):
                    break

    for i in range(users):
        env.process(user(i))
    started, cpu_started = time.perf_counter(), time.process_time()
    env.run(until=days * 24)
    sid, pos, item = zip(*impressions, strict=True) if impressions else ((), (), ())
    pq.write_table(
        pa.table({"session_id": sid, "position": pos, "item_id": item}),
        out_dir / "impressions.parquet",
        compression="zstd",
    )
    e_sid, e_item, e_type = zip(*events, strict=True) if events else ((), (), ())
    pq.write_table(
        pa.table({"session_id": e_sid, "item_id": e_item, "event": e_type}),
        out_dir / "events.parquet",
        compression="zstd",
    )
    return len(impressions), time.perf_counter() - started, time.process_time() - cpu_started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", default="default")
    parser.add_argument("--naive-users", type=int, default=3000)
    parser.add_argument("--no-memory", action="store_true", help="skip the 15/42-day runs")
    parser.add_argument("--cold-jit", action="store_true", help="also run with an empty cache")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    load_start = os.getloadavg()
    cold = None
    if args.cold_jit:
        with tempfile.TemporaryDirectory() as cache:
            cold = in_subprocess(args.size, jit_cache=cache)
    case = in_subprocess(args.size)
    rate = case["impressions"] / case["seconds"]
    cpu_rate = case["impressions"] / case["cpu_seconds"]
    naive = {}
    for draws in ("stdlib", "numpy"):
        with tempfile.TemporaryDirectory() as tmp:
            imps, secs, cpu = naive_model(args.naive_users, days=7, out_dir=Path(tmp), draws=draws)
        naive[draws] = (imps / secs, imps / cpu)
    figures = {
        "size": args.size,
        "impressions": case["impressions"],
        "seconds": round(case["seconds"], 2),
        "cpu_seconds": round(case["cpu_seconds"], 2),
        "impressions_per_s": round(rate),
        "impressions_per_cpu_s": round(cpu_rate),
        "load_during_case": [round(x, 2) for x in case["load"]],
        "peak_mib": round(case["peak_mib"]),
        "naive_stdlib_impressions_per_s": round(naive["stdlib"][0]),
        "naive_stdlib_impressions_per_cpu_s": round(naive["stdlib"][1]),
        "naive_numpy_impressions_per_s": round(naive["numpy"][0]),
        "naive_numpy_impressions_per_cpu_s": round(naive["numpy"][1]),
        "speedup_vs_naive_stdlib": round(rate / naive["stdlib"][0], 1),
        "speedup_vs_naive_stdlib_cpu": round(cpu_rate / naive["stdlib"][1], 1),
        "speedup_vs_naive_numpy": round(rate / naive["numpy"][0], 1),
        "speedup_vs_naive_numpy_cpu": round(cpu_rate / naive["numpy"][1], 1),
    }
    if cold is not None:
        figures["cold_jit_cpu_seconds"] = round(cold["cpu_seconds"], 2)
        figures["cold_jit_seconds"] = round(cold["seconds"], 2)
    if not args.no_memory:
        short = in_subprocess("memory-7d", users=100_000, days=15)
        long = in_subprocess("memory-28d", users=100_000, days=42)
        figures["peak_mib_15_days"] = round(short["peak_mib"])
        figures["peak_mib_42_days"] = round(long["peak_mib"])
        figures["memory_growth_for_2_8x_days"] = round(long["peak_mib"] / short["peak_mib"], 2)
    figures["load_average_start_end"] = [
        [round(x, 2) for x in load_start],
        [round(x, 2) for x in os.getloadavg()],
    ]
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(
        f"default case ({args.size}): {case['impressions']:,} impressions, "
        f"{case['seconds']:.1f} s wall, {case['cpu_seconds']:.1f} CPU-s "
        f"(load average {case['load'][0]:.1f} -> {case['load'][1]:.1f} on {os.cpu_count()} cores)"
    )
    print(f"  per CPU-second:       {cpu_rate / 1e6:.2f} M impressions   (target >= 1.5 M)")
    print(f"  per wall-second:      {rate / 1e6:.2f} M impressions   (target >= 2 M/s)")
    print(f"  peak memory:          {case['peak_mib']:.0f} MiB          (target <= 4096)")
    if cold is not None:
        print(
            f"  with an empty JIT cache: {cold['cpu_seconds']:.1f} CPU-s, {cold['seconds']:.1f} s "
            f"wall (+{cold['cpu_seconds'] - case['cpu_seconds']:.1f} CPU-s to compile the kernels)"
        )
    for draws, label in (("stdlib", "stdlib random"), ("numpy", "numpy scalar draws")):
        wall, cpu = naive[draws]
        print(
            f"naive per-agent simpy ({label}, {args.naive_users} users): "
            f"{wall / 1e3:.0f} k/s wall, "
            f"{cpu / 1e3:.0f} k/CPU-s; speedup {rate / wall:.0f}x wall, {cpu_rate / cpu:.0f}x CPU "
            "(target >= 30x)"
        )
    if not args.no_memory:
        print(
            f"memory, 15 vs 42 days:  {short['peak_mib']:.0f} vs {long['peak_mib']:.0f} MiB "
            f"(x{long['peak_mib'] / short['peak_mib']:.2f} for x2.8 days)"
        )
    print(
        "load average (1, 5, 15 min) at start {} and end {}".format(
            *figures["load_average_start_end"]
        )
    )


if __name__ == "__main__":
    main()
