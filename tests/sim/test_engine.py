"""The engine: interventions act through the clock, and branching reproduces a straight run."""

from __future__ import annotations

import copy

import numpy as np

from sim.engine import Engine, NullSink
from sim.runner import build_world, fault_map, plan, warm_state
from sim.scenario import parse_scenario
from sim.world import Size

SCENARIO = """\
id: t
title: T
start: 2026-08-03
days: 15
reference_days: 0
windows: {before_days: 7, after_days: 7}
faults:
  - type: config_change
    at: 2026-08-10T12:00:00
    key: ranker.temperature
    value: 3.0
    changelog: "Config ranker.temperature: 0.6 -> 3.0"
"""
SIZE = Size("test", 3000)


class Recorder(NullSink):
    """Keeps per-hour session keys and clicked items, and change-log rows."""

    def __init__(self) -> None:
        self.hours: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.changes: list[str] = []

    def hour(self, result, state) -> None:
        f = result.funnel
        self.hours[result.hour] = (result.batch.key.copy(), f.imp_item[f.clicked].copy())

    def rows(self, table, columns) -> None:
        if table == "changelog":
            self.changes.extend(columns["title"])


def _engine(with_fault: bool) -> tuple[Engine, Recorder]:
    scenario = parse_scenario(SCENARIO)
    streams, world = build_world(scenario, SIZE, 3)
    run_plan = plan(scenario)
    state = warm_state(world, streams, run_plan.current)
    sink = Recorder()
    faults = fault_map(scenario) if with_fault else {}
    return Engine(state, streams, run_plan.current, sink, faults), sink


def test_intervention_changes_mechanism_only_after_onset():
    on, rec_on = _engine(True)
    off, rec_off = _engine(False)
    on.run(24 * 9)
    off.run(24 * 9)
    onset = 7 * 24 + 12
    for hour in range(onset):
        assert np.array_equal(rec_on.hours[hour][1], rec_off.hours[hour][1]), hour
    assert on.state.config["ranker.temperature"] == 3.0
    assert off.state.config["ranker.temperature"] == 0.6
    assert "Config ranker.temperature: 0.6 -> 3.0" in rec_on.changes
    after = range(onset + 1, 24 * 9)
    differ = sum(not np.array_equal(rec_on.hours[h][1], rec_off.hours[h][1]) for h in after)
    assert differ > len(after) * 0.8
    # Traffic is its own stream: the same sessions arrive either way.
    assert all(np.array_equal(rec_on.hours[h][0], rec_off.hours[h][0]) for h in after)


def test_fork_continues_exactly_like_a_straight_run():
    straight, rec = _engine(True)
    straight.run(24 * 9)
    base, _ = _engine(True)
    base.run(24 * 6)
    branch_sink = Recorder()
    branch = base.fork(branch_sink, copy.deepcopy(base.faults))
    branch.run(24 * 9)
    for hour in range(24 * 6, 24 * 9):
        assert np.array_equal(rec.hours[hour][1], branch_sink.hours[hour][1]), hour
