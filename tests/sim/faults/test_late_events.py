"""late_events: a client's SDK holds a share of its sessions' events in its upload queue, in
its scope and from its onset only; events arriving after the export cutoff are not logged,
the rest keep their ids; nobody behaves differently and the ledger does not move."""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import polars as pl
import pytest

from readout.tables import scan
from sim.engine import Engine
from sim.runner import plan, simulate
from sim.scenario import parse_scenario
from sim.truth import MetricSink
from sim.world import PLATFORMS
from tests.sim.faults.demand_helpers import (
    BASE,
    SIZE,
    Capture,
    fault,
    same_hours,
    warm_world,
)

LATE = "{{type: late_events, id: q, at: {at}, held: 0.8, mean_delay_hours: 72, " \
    "scope: {{platform: [android]}}}}"  # fmt: skip
# A one-day period (no scenario is this short, so the test builds it): its export cutoff,
# 26 h after it ends, falls within two days of its events, so some held ones arrive too late.
PERIOD = replace(plan(parse_scenario(BASE)).current, days=1)
HOURS = 24
ONSET_HOUR = 6
ON = LATE.format(at="2026-08-03T06:00:00")


@pytest.fixture(scope="module")
def warm():
    return warm_world()


def _branch(warm, faults: dict) -> tuple[list, object]:
    """The one-day period's hours from a copy of the warm world, with these faults."""
    streams, state = warm
    sink = Capture()
    state = copy.deepcopy(state)
    Engine(state, streams, PERIOD, sink, faults).run(HOURS)
    return sink.hours, state


@pytest.fixture(scope="module")
def base(warm):
    return _branch(warm, {})


@pytest.fixture(scope="module")
def late(warm):
    return _branch(warm, {"q": fault(ON)})


def _first(hour) -> dict[int, int]:
    """Each logged event (by its index in the hour's event list) -> its logged time (the
    first copy: a duplicate comes after every kept event)."""
    idx, first = np.unique(hour.event_index, return_index=True)
    return dict(zip(idx.tolist(), hour.event_ts[first].tolist(), strict=True))


def test_it_delays_or_drops_the_scoped_clients_events_after_its_onset_only(warm, base, late):
    runs, state = base
    users = state.world.users
    cutoff = PERIOD.export_cutoff
    delayed = dropped = 0
    for b, q in zip(runs, late[0], strict=True):
        # The same sessions, outcomes and orders in the ledger ...
        assert np.array_equal(b.batch.key, q.batch.key)
        assert np.array_equal(b.ledger_order, q.ledger_order)
        assert np.array_equal(b.funnel.clicked, q.funnel.clicked)
        before, after = _first(b), _first(q)
        assert set(after) <= set(before)  # ... no event added, the kept ones keep their ids
        if b.hour < ONSET_HOUR:
            assert after == before and np.array_equal(b.event_ts, q.event_ts)
            continue
        # Index into the funnel's events -> the event's session, for every base event.
        session = b.funnel.imp_session[b.event_imp]
        android = users.platform[b.batch.user[session]] == PLATFORMS.index("android")
        scoped_by_event = dict(zip(b.event_index.tolist(), android.tolist(), strict=True))
        session_of = dict(zip(b.event_index.tolist(), session.tolist(), strict=True))
        lag_by_session: dict[int, int] = {}
        for i, ts in before.items():
            if not scoped_by_event[i]:
                assert after[i] == ts  # other clients' events: untouched
                continue
            if i not in after:
                dropped += 1
                continue
            lag = after[i] - ts
            assert lag >= 0 and after[i] <= cutoff
            delayed += lag > 3600
            assert lag_by_session.setdefault(session_of[i], lag) == lag  # a session: one batch
    assert delayed > 50
    assert dropped > 20
    assert all(ts <= cutoff for h in late[0] for ts in h.event_ts.tolist())


def test_the_observed_metric_falls_and_the_business_metric_does_not(base, late):
    sinks = []
    for hours, _ in (base, late):
        sink = MetricSink()
        for hour in hours:
            sink.hour(hour, None)
        sinks.append(sink.daily[0])
    b, q = sinks
    assert b[0] == q[0] and b[2] == q[2] and b[3] == q[3]  # sessions, ledger orders, rows
    assert q[1] < b[1] * 0.97  # tracked orders: some still in the queue at the export


def test_a_branch_with_it_off_is_the_baseline(warm, base):
    runs, _ = base
    for faults in (
        {"q": fault(LATE.format(at="2026-08-10T00:00:00"))},
        {"q": fault(ON).with_severity(0.0)},
    ):
        other, _ = _branch(warm, faults)
        assert same_hours(runs, other)
        assert all(np.array_equal(a.event_ts, b.event_ts) for a, b in zip(runs, other, strict=True))


CASE = (
    "id: t\ntitle: T\nstart: 2026-08-03\ndays: 15\nreference_days: 0\nseed: 2\n"
    "faults:\n  - " + LATE.format(at="2026-08-11T00:00:00") + "\n"
)


@pytest.fixture(scope="module")
def late_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("late") / "run"
    simulate(parse_scenario(CASE), SIZE, out)
    return out


def test_its_evidence_is_in_the_candidates_tables(late_run):
    """From the onset android's events sit many hours after their session's start (every
    other client's, and its own before, within a few hours), and its tracked orders fall
    below the ledger's by a gap that widens toward the last day."""
    sessions = scan(late_run, "sessions").select("session_id", "platform", start="ts")
    lag = (
        scan(late_run, "events")
        .join(sessions.drop("platform"), on="session_id")
        .with_columns(
            late=(pl.col("ts") - pl.col("start")).dt.total_seconds() > 3 * 3600,
            after=pl.col("start").dt.date() >= pl.date(2026, 8, 11),
            android=pl.col("platform").cast(pl.String) == "android",
        )
        .group_by("android", "after")
        .agg(late=pl.col("late").mean(), n=pl.len())
        .collect()
    )
    for row in lag.iter_rows(named=True):
        if row["android"] and row["after"]:
            assert row["late"] > 0.4, row
        else:
            assert row["late"] < 0.002, row
    tracked = (
        scan(late_run, "events")
        .filter(pl.col("event") == "order")
        .join(sessions, on="session_id")
        .group_by(day=pl.col("start").dt.date(), android=pl.col("platform") == "android")
        .agg(tracked=pl.col("session_id").n_unique())
    )
    ledger = (
        scan(late_run, "orders")
        .join(sessions, on="session_id")
        .group_by(day=pl.col("start").dt.date(), android=pl.col("platform") == "android")
        .agg(ledger=pl.col("session_id").n_unique())
    )
    gap = (
        ledger.join(tracked, on=["day", "android"], how="left")
        .with_columns(gap=1 - pl.col("tracked").fill_null(0) / pl.col("ledger"))
        .sort("day")
        .collect()
    )
    android = gap.filter(pl.col("android"))["gap"].to_list()
    others = gap.filter(~pl.col("android"))["gap"].to_list()
    assert max(android[:8]) < 0.05 and max(others) < 0.05  # before: ordinary loss only
    assert android[-1] > 0.25  # the last day: many still queued at the export
    assert android[-1] > android[-3] + 0.1 > android[8] + 0.1  # the gap widens toward the end
