"""clock_skew: a client stamps its events hours off, in its scope and from its onset only;
the same events are logged, nobody behaves differently and conversion does not move."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from readout.tables import scan
from sim.runner import simulate
from sim.scenario import ScenarioError, parse_scenario
from sim.truth import MetricSink
from sim.world import PLATFORMS
from tests.sim.faults.demand_helpers import SIZE, branch, fault, same_hours, warm_world

SKEW = "{{type: clock_skew, id: c, at: {at}, hours: 8, " \
    "scope: {{platform: [android], app_version: ['10.19']}}}}"  # fmt: skip
HOURS = 12
ONSET_HOUR = 5


@pytest.fixture(scope="module")
def warm():
    return warm_world()


@pytest.fixture(scope="module")
def base(warm):
    return branch(warm, {}, HOURS)


def _in_scope(hour, users) -> np.ndarray:
    who = hour.batch.user[hour.funnel.imp_session[hour.event_imp]]
    return (users.platform[who] == PLATFORMS.index("android")) & (users.app_minor[who] == 19)


def test_it_shifts_the_scoped_clients_events_after_its_onset_and_nothing_else(warm, base):
    runs, state = base
    skewed, _ = branch(warm, {"c": fault(SKEW.format(at="2026-08-03T05:00:00"))}, HOURS)
    assert same_hours(runs, skewed)  # the same sessions, outcomes and logged events
    users = state.world.users
    moved = 0
    for b, s in zip(runs, skewed, strict=True):
        assert np.array_equal(b.event_type, s.event_type)
        assert np.array_equal(b.event_imp, s.event_imp)
        shift = s.event_ts - b.event_ts
        scoped = _in_scope(s, users)
        if b.hour < ONSET_HOUR:
            assert not shift.any()
            continue
        assert (shift[scoped] == 8 * 3600).all()
        assert not shift[~scoped].any()
        moved += scoped.sum()
    assert moved > 20  # the scope has events to move


def test_conversion_observed_and_business_does_not_move(warm, base):
    on = {"c": fault(SKEW.format(at="2026-08-03T00:00:00"))}
    sinks = []
    for hours in (base[0], branch(warm, on, HOURS)[0]):
        sink = MetricSink()
        for hour in hours:
            sink.hour(hour, None)
        sinks.append(sink.daily)
    assert sinks[0].keys() == sinks[1].keys()
    for day in sinks[0]:
        assert np.array_equal(sinks[0][day], sinks[1][day])


def test_a_branch_with_it_off_is_the_baseline(warm, base):
    runs, _ = base
    for faults in (
        {"c": fault(SKEW.format(at="2026-08-10T00:00:00"))},
        {"c": fault(SKEW.format(at="2026-08-03T00:00:00")).with_severity(0.0)},
    ):
        other, _ = branch(warm, faults, HOURS)
        assert same_hours(runs, other)
        assert all(np.array_equal(a.event_ts, b.event_ts) for a, b in zip(runs, other, strict=True))


def test_hours_must_be_nonzero_and_within_a_day_of_utc():
    with pytest.raises(ScenarioError, match="hours must not be 0"):
        fault(SKEW.format(at="2026-08-03T00:00:00").replace("hours: 8", "hours: 0"))
    with pytest.raises(ScenarioError, match="hours"):
        fault(SKEW.format(at="2026-08-03T00:00:00").replace("hours: 8", "hours: 20"))


CASE = (
    "id: t\ntitle: T\nstart: 2026-08-03\ndays: 15\nreference_days: 0\nseed: 2\n"
    "faults:\n  - " + SKEW.format(at="2026-08-11T00:00:00") + "\n"
)


@pytest.fixture(scope="module")
def skew_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("skew") / "run"
    simulate(parse_scenario(CASE), SIZE, out)
    return out


def test_its_evidence_is_in_the_candidates_tables(skew_run):
    """From the onset, android 10.19's events sit about 8 hours after their session's start
    (every other client's, and its own before, within the hour); sessions and the ledger's
    orders keep the server's time."""
    sessions = scan(skew_run, "sessions").select("session_id", start="ts")
    lag = (
        scan(skew_run, "events")
        .join(sessions, on="session_id")
        .with_columns(
            lag_h=(pl.col("ts") - pl.col("start")).dt.total_seconds() / 3600,
            after=pl.col("start").dt.date() >= pl.date(2026, 8, 11),
            client=pl.col("platform").cast(pl.String) + " " + pl.col("app_version").cast(pl.String),
        )
        .group_by("client", "after")
        .agg(median=pl.col("lag_h").median(), n=pl.len())
        .collect()
    )
    for row in lag.iter_rows(named=True):
        if row["client"] == "android 10.19" and row["after"]:
            assert row["median"] == pytest.approx(8, abs=0.1)
        else:
            assert abs(row["median"]) < 0.1, row
    assert lag.filter(pl.col("client") == "android 10.19")["n"].min() > 20
    orders = scan(skew_run, "orders").join(sessions, on="session_id").collect()
    assert ((orders["ts"] - orders["start"]).dt.total_seconds() < 3600).all()
