"""Throughput of the simulator, end to end (simulation + Parquet), against a naive model.

Prints impressions per second for the default case, its wall time and peak memory, and, in
the same run, the same funnel written as a naive per-agent simpy model (one process per user,
one yield per impression) at a small size, with the ratio. Memory growth with days is
measured on two shorter runs. Run with `make bench` (or `python bench/throughput.py`).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
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


def _run_case(args: tuple[str, int, int | None]) -> dict:
    """Run one case in a fresh process so its peak memory is its own."""
    from sim.runner import simulate
    from sim.scenario import load_scenario
    from sim.world import SIZES, Size

    size_name, users, days = args
    scenario = load_scenario(ROOT / "scenarios" / "baseline.yaml")
    if days is not None:
        scenario = scenario.model_copy(update={"days": days, "faults": []})
    size = SIZES[size_name] if users == 0 else Size(size_name, users)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        manifest = simulate(scenario, size, Path(tmp) / "run")
        elapsed = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "impressions": manifest["tables"]["impressions"]["rows"],
        "seconds": elapsed,
        "peak_mib": peak_kib / 1024,
    }


def in_subprocess(size_name: str, users: int = 0, days: int | None = None) -> dict:
    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(_run_case, ((size_name, users, days),))


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
) -> tuple[int, float]:
    """The same funnel, written the naive way: one simpy process per user, one yield per
    impression, scalar draws, rows appended to lists and written to Parquet at the end.

    It uses the real world and the real ranker pools, so the work per impression matches the
    vectorized engine: category by affinity, item from the pools, position bias, click, cart
    (price, intent, stock), order, payment, latency and abandonment per page, tracked events.
    """
    import bisect
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
    cdf = pools.cdf.tolist()
    ends = pools.end.tolist()
    starts = [0, *ends[:-1]]
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
                    k = bisect.bisect_right(cdf, rnd.random(), starts[cat], ends[cat] - 1)
                    item = int(pools.items[k])
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
    started = time.perf_counter()
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
    return len(impressions), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", default="default")
    parser.add_argument("--naive-users", type=int, default=3000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    case = in_subprocess(args.size)
    rate = case["impressions"] / case["seconds"]
    naive = {}
    for draws in ("stdlib", "numpy"):
        with tempfile.TemporaryDirectory() as tmp:
            imps, secs = naive_model(args.naive_users, days=7, out_dir=Path(tmp), draws=draws)
        naive[draws] = imps / secs
    short = in_subprocess("memory-7d", users=100_000, days=15)
    long = in_subprocess("memory-28d", users=100_000, days=42)
    figures = {
        "size": args.size,
        "impressions": case["impressions"],
        "seconds": round(case["seconds"], 2),
        "impressions_per_s": round(rate),
        "peak_mib": round(case["peak_mib"]),
        "naive_stdlib_impressions_per_s": round(naive["stdlib"]),
        "naive_numpy_impressions_per_s": round(naive["numpy"]),
        "speedup_vs_naive_stdlib": round(rate / naive["stdlib"], 1),
        "speedup_vs_naive_numpy": round(rate / naive["numpy"], 1),
        "peak_mib_15_days": round(short["peak_mib"]),
        "peak_mib_42_days": round(long["peak_mib"]),
        "memory_growth_for_2_8x_days": round(long["peak_mib"] / short["peak_mib"], 2),
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(
        f"default case ({args.size}): {case['impressions']:,} impressions, {case['seconds']:.1f} s"
    )
    print(f"  end to end:           {rate / 1e6:.2f} M impressions/s   (target >= 2 M/s)")
    print(f"  peak memory:          {case['peak_mib']:.0f} MiB          (target <= 4096)")
    for draws, label in (("stdlib", "stdlib random"), ("numpy", "numpy scalar draws")):
        print(
            f"naive per-agent simpy ({label}): {naive[draws] / 1e3:.0f} k impressions/s "
            f"({args.naive_users} users); speedup {rate / naive[draws]:.0f}x (target >= 30x)"
        )
    print(
        f"memory, 15 vs 42 days:  {short['peak_mib']:.0f} vs {long['peak_mib']:.0f} MiB "
        f"(x{long['peak_mib'] / short['peak_mib']:.2f} for x2.8 days)"
    )


if __name__ == "__main__":
    main()
