"""Is the answer key stable? The figures of the stable-truth work, measured on the simulator.

1. Placebos: a deploy adding 0.01% latency, and a config change to the value it already
   has, against the null branch (their effect on the week-over-week change, in pp).
2. Severity as a dial: feed_remap at 11 severities from 0.8·s to 1.2·s; the change must be
   monotone and close to a straight line.
3. Common random numbers that hold: the paired effect of the feed remap (its branch on minus
   off), as a fraction of the target change, over seeds.
4. A stationary world: with no cause, the week-over-week change over seeds, and last year's
   reference weeks against this year's level.
Run `python bench/truth_stability.py [--size small] [--seeds 5] [--parts 1,2,3,4]`.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sim.engine import Engine  # noqa: E402
from sim.faults.config_change import ConfigChange  # noqa: E402
from sim.faults.deploy import Deploy  # noqa: E402
from sim.runner import plan, reference_faults, warm_world  # noqa: E402
from sim.scenario import load_scenario  # noqa: E402
from sim.truth import MetricSink, Windows, measure, onset_hour  # noqa: E402
from sim.world import SIZES  # noqa: E402

FEED_REMAP = ROOT / "scenarios" / "feed_remap.yaml"
BASELINE = ROOT / "scenarios" / "baseline.yaml"


def branches(scenario, size, seed, faults_by_name, at):
    """The change between the windows for each named set of faults, forked at `at`."""
    streams, state = warm_world(scenario, size, seed)
    period = plan(scenario).current
    root = Engine(state, streams, period, MetricSink())
    root.run(onset_hour(at, period))
    out = {}
    for name, faults in faults_by_name.items():
        engine = root.fork(copy.deepcopy(root.sink), faults)
        engine.run()
        out[name] = measure(engine.sink.daily, Windows.of(scenario)).observed
    return out


def placebos(size, seeds):
    scenario = load_scenario(FEED_REMAP)
    at = scenario.faults[0]
    latency = Deploy(type="deploy", at=at.at, server_factor=1.0001)
    same = ConfigChange(type="config_change", at=at.at, key="ranker.exploration", value=0.04)
    print("1. placebo effects on the week-over-week change (pp)")
    for seed in seeds:
        c = branches(
            scenario, size, seed, {"off": {}, "lat": {"p": latency}, "cfg": {"p": same}}, at
        )
        print(
            f"   seed {seed}: latency +0.01%: {100 * (c['lat'] - c['off']):+.3f} pp; "
            f"config to its own value: {100 * (c['cfg'] - c['off']):+.3f} pp"
        )


def dial(size, seed, severity):
    scenario = load_scenario(FEED_REMAP)
    fault = scenario.faults[0]
    grid = np.linspace(0.8, 1.2, 11) * severity
    named = {f"{s:.4f}": {"f": fault.with_severity(s)} for s in grid}
    c = branches(scenario, size, seed, named, fault)
    changes = np.array([c[f"{s:.4f}"] for s in grid])
    fit = np.polyval(np.polyfit(grid, changes, 1), grid)
    print(f"2. severity dial (seed {seed}, s = {severity}): changes (%)")
    print("   " + " ".join(f"{100 * v:+.2f}" for v in changes))
    print(
        f"   monotone: {bool(np.all(np.diff(changes) < 0))}; largest deviation from a straight "
        f"line: {100 * np.max(np.abs(fit - changes)):.3f} pp"
    )


def paired(size, seeds, severity):
    scenario = load_scenario(FEED_REMAP)
    fault = scenario.faults[0].with_severity(severity)
    target = scenario.target.change
    values = []
    for seed in seeds:
        c = branches(scenario, size, seed, {"off": {}, "on": {"f": fault}}, fault)
        values.append((c["on"] - c["off"]) / target)
    print(f"3. paired effect of the remap (severity {severity}) as a fraction of the target")
    print("   " + " ".join(f"{v:.3f}" for v in values) + f"; sd {statistics.stdev(values):.4f}")


class AnyPeriodSink(MetricSink):
    """Daily totals of whatever period runs (MetricSink keeps the case period only)."""

    def hour(self, result, state) -> None:
        day = result.hour // 24
        totals = self.daily.setdefault(day, np.zeros(3, np.int64))
        totals += (len(result.batch.key), result.tracked_order.sum(), result.ledger_order.sum())


def stationary(size, seeds):
    scenario = load_scenario(BASELINE)
    run_plan = plan(scenario)
    changes, levels = [], []

    def rate(daily):
        return sum(v[1] for v in daily.values()) / sum(v[0] for v in daily.values())

    for seed in seeds:
        streams, state = warm_world(scenario, size, seed)
        ref = Engine(
            copy.deepcopy(state), streams, run_plan.reference, AnyPeriodSink(),
            reference_faults(scenario),
        )  # fmt: skip
        ref.run()
        cur = Engine(state, streams, run_plan.current, MetricSink())
        cur.run()
        changes.append(measure(cur.sink.daily, Windows.of(scenario)).observed)
        levels.append(rate(ref.sink.daily) / rate(cur.sink.daily) - 1)
    print(f"4. no cause, {len(seeds)} seeds: week-over-week change (%)")
    print("   " + " ".join(f"{100 * c:+.2f}" for c in changes))
    print(
        f"   mean {100 * statistics.fmean(changes):+.2f} pp, sd "
        f"{100 * statistics.stdev(changes):.2f} pp; reference weeks against the case period: "
        + " ".join(f"{100 * v:+.1f}%" for v in levels)
        + f" (mean {100 * statistics.fmean(levels):+.2f}%)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="small")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--parts", default="1,2,3,4")
    parser.add_argument("--severity", type=float, default=0.55)
    args = parser.parse_args()
    size = SIZES[args.size]
    seeds = list(range(1, args.seeds + 1))
    parts = set(args.parts.split(","))
    started, cpu = time.perf_counter(), time.process_time()
    print(f"size {size.name}, seeds {seeds}, load average {os.getloadavg()[0]:.2f}")
    if "1" in parts:
        placebos(size, seeds)
    if "2" in parts:
        dial(size, 7, args.severity)
    if "3" in parts:
        paired(size, seeds, args.severity)
    if "4" in parts:
        stationary(size, list(range(1, max(8, args.seeds) + 1)))
    print(
        f"{time.perf_counter() - started:.0f} s wall, {time.process_time() - cpu:.0f} CPU-s, "
        f"load average {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
