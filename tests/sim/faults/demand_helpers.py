"""Shared by the demand-side fault tests: branches of a warm world, hour by hour."""

from __future__ import annotations

import copy

import numpy as np

from sim.engine import Engine, HourResult, NullSink
from sim.runner import plan
from sim.runner import warm_world as cached_warm_world
from sim.scenario import parse_scenario
from sim.world import Size

BASE = "id: t\ntitle: T\nstart: 2026-08-03\ndays: 15\nreference_days: 0\nseed: 2\n"
SIZE = Size("test", 20_000)


def warm_world():
    """A small world warmed up to the period's start, a fresh copy for the caller to use.

    Every fault module uses this one world, and each module's evidence run (`simulate` of a
    case with BASE's start, days, seed and SIZE) starts from it too: the runner keeps the
    last warm world of a process (sim.runner.warm_world), so the modules a worker runs one
    after another build it once instead of twice per module."""
    return cached_warm_world(parse_scenario(BASE), SIZE, 2)


def fault(text: str):
    return parse_scenario(BASE + "faults:\n  - " + text + "\n").faults[0]


class Capture(NullSink):
    """Keeps every hour's result (batch, funnel, tracking) of a branch."""

    def __init__(self) -> None:
        self.hours: list[HourResult] = []

    def hour(self, result: HourResult, state: object) -> None:
        self.hours.append(result)


def branch(warm, faults: dict, hours: int, base: str = BASE) -> tuple[list[HourResult], object]:
    """`hours` hours of a copy of the warm world with these faults (the first hours of the
    period: before the ranker retrains, so only the faults' own mechanisms differ)."""
    streams, state = warm
    state = copy.deepcopy(state)
    sink = Capture()
    Engine(state, streams, plan(parse_scenario(base)).current, sink, faults).run(hours)
    return sink.hours, state


def same_hours(a: list[HourResult], b: list[HourResult]) -> bool:
    """Two branches produced the very same sessions, outcomes and tracked events."""
    fields = ("key", "user", "source", "start_s")
    return all(
        all(np.array_equal(getattr(x.batch, f), getattr(y.batch, f)) for f in fields)
        and np.array_equal(x.ledger_order, y.ledger_order)
        and np.array_equal(x.tracked_order, y.tracked_order)
        and np.array_equal(x.event_index, y.event_index)
        and np.array_equal(x.foregrounds, y.foregrounds)
        for x, y in zip(a, b, strict=True)
    )
