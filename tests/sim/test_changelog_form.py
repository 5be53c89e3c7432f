"""Injected change-log entries look like ordinary ones: same minutes, same title shapes."""

from __future__ import annotations

from datetime import datetime

import numpy as np

from sim.changelog import LEAD_SECONDS, fits_template
from sim.engine import NOISE_CONFIGS, NOISE_SERVICES, Engine, NullSink
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
  - {type: config_change, id: a, at: 2026-08-04T14:00:00, key: ranker.temperature, value: 1.0,
     changelog: "Config ranker.temperature: 0.6 -> 1.0 (tuning after the review, see doc)"}
  - {type: config_change, id: b, at: 2026-08-06T10:00:00, key: ranker.exploration, value: 0.04,
     changelog: "re-applied exploration after the config migration"}
  - {type: deploy, id: c, at: 2026-08-08T16:00:00, changelog: "Ship the new feed-api build"}
  - {type: app_release, id: d, platform: ios, at: 2026-08-10T11:00:00,
     changelog: "iOS 10.21 release to the app store"}
  - {type: config_change, id: e, at: 2026-08-12T09:00:00, key: ranker.temperature, value: 0.7,
     changelog: "Config ranker.temperature: 1.0 -> 0.7"}
"""


class Log(NullSink):
    def __init__(self) -> None:
        self.entries: list[tuple[datetime, str, str]] = []

    def rows(self, table, columns) -> None:
        if table == "changelog":
            for ts, service, title in zip(
                columns["ts"], columns["service"], columns["title"], strict=True
            ):
                self.entries.append((np.datetime64(ts, "s").item(), service, title))


def _log(with_faults: bool) -> list[tuple[datetime, str, str]]:
    scenario = parse_scenario(SCENARIO)
    streams, world = build_world(scenario, Size("test", 1500), 3)
    run_plan = plan(scenario)
    state = warm_state(world, streams, run_plan.current)
    sink = Log()
    faults = fault_map(scenario) if with_faults else {}
    Engine(state, streams, run_plan.current, sink, faults).run(24 * 14)
    return sink.entries


def test_injected_entries_do_not_stand_out():
    scenario = parse_scenario(SCENARIO)
    background = _log(False)
    logged = _log(True)
    injected = [e for e in logged if e not in background]
    assert len(injected) == len(scenario.faults) and len(background) > 20
    # The real change happens within the hour after its entry is logged.
    onsets = sorted(f.at for f in scenario.faults)
    for (ts, _, _), onset in zip(sorted(injected), onsets, strict=True):
        assert 0 < (onset - ts).total_seconds() < LEAD_SECONDS
    # Minute-of-hour and seconds do not isolate them: not all on the hour, not all alike.
    minutes = {ts.minute for ts, _, _ in injected}
    assert len(minutes) >= 3 and {ts.second for ts, _, _ in injected} != {0}
    # Title shape does not either: every entry fits the ordinary templates.
    assert all(fits_template(title) for _, _, title in background)
    assert all(fits_template(title) for _, _, title in injected), injected
    # Nor the service: every injected entry's service is one ordinary entries come from.
    ordinary = set(NOISE_SERVICES) | {service for service, _, _ in NOISE_CONFIGS}
    assert {s for _, s, _ in injected} <= ordinary


def test_background_minutes_spread_over_the_hour():
    minutes = np.array([ts.minute for ts, _, _ in _log(False)])
    assert minutes.min() < 15 and minutes.max() > 45
