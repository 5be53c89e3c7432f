"""event_duplication: a client logs the start of quiet sessions twice, in its scope only;
nobody behaves differently and no event is lost."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from grading.solver import Evidence
from readout.tables import scan
from sim.runner import simulate
from sim.scenario import parse_scenario
from sim.truth import MetricSink
from sim.world import PLATFORMS
from tests.sim.faults.demand_helpers import SIZE, branch, fault, same_hours, warm_world

DUPLICATION = "{{type: event_duplication, id: e, at: {at}, resend: 0.5, " \
    "scope: {{platform: [android], app_version: ['10.19']}}}}"  # fmt: skip
HOURS = 14  # it changes nothing users do, so the branches agree however long they run


@pytest.fixture(scope="module")
def warm():
    return warm_world()


def test_it_resends_quiet_sessions_in_its_scope_and_changes_no_behaviour(warm):
    base, state = branch(warm, {}, HOURS)
    dup, _ = branch(warm, {"e": fault(DUPLICATION.format(at="2026-08-03T00:00:00"))}, HOURS)
    users = state.world.users
    quiet_scoped = total = 0
    for b, d in zip(base, dup, strict=True):
        # What users do is the same session for session, event for event ...
        assert np.array_equal(b.batch.key, d.batch.key)
        assert np.array_equal(b.ledger_order, d.ledger_order)
        assert np.array_equal(b.tracked_order, d.tracked_order)
        assert np.array_equal(b.event_index, d.event_index)
        assert len(b.resent) == 0
        # ... and only the scoped clients' sessions with no logged event are sent again.
        who = d.batch.user[d.resent]
        assert (users.platform[who] == PLATFORMS.index("android")).all()
        assert (users.app_minor[who] == 19).all()
        logged = np.zeros(len(d.batch.key), bool)
        logged[d.funnel.imp_session[d.event_imp]] = True
        assert not logged[d.resent].any()
        in_scope = (users.platform[d.batch.user] == PLATFORMS.index("android")) & (
            users.app_minor[d.batch.user] == 19
        )
        quiet_scoped += (in_scope & ~logged).sum()
        total += len(d.resent)
    assert total / quiet_scoped == pytest.approx(0.5, abs=0.06)


def test_the_observed_metric_counts_them_and_the_business_metric_does_not(warm):
    on = {"e": fault(DUPLICATION.format(at="2026-08-03T00:00:00"))}
    runs = {}
    for name, faults in (("base", {}), ("on", on)):
        sink = MetricSink()
        for hour in branch(warm, faults, HOURS)[0]:
            sink.hour(hour, None)
        runs[name] = sink.daily[0]
    assert np.array_equal(runs["base"][:3], runs["on"][:3])  # sessions and orders: the same
    assert runs["base"][3] == runs["base"][0]
    assert runs["on"][3] > runs["on"][0] * 1.03  # logged session rows: more


def test_a_branch_with_it_off_is_the_baseline(warm):
    base, _ = branch(warm, {}, HOURS)
    later = {"e": fault(DUPLICATION.format(at="2026-08-10T00:00:00"))}
    assert same_hours(base, branch(warm, later, HOURS)[0])
    zero = {"e": fault(DUPLICATION.format(at="2026-08-03T00:00:00")).with_severity(0.0)}
    assert same_hours(base, branch(warm, zero, HOURS)[0])


CASE = (
    "id: t\ntitle: T\nstart: 2026-08-03\ndays: 15\nreference_days: 0\nseed: 2\n"
    "faults:\n  - " + DUPLICATION.format(at="2026-08-11T00:00:00") + "\n"
)


@pytest.fixture(scope="module")
def duplication_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("dup") / "run"
    simulate(parse_scenario(CASE), SIZE, out)
    return out


def test_its_evidence_is_in_the_candidates_tables(duplication_run):
    """Session ids appear twice from the onset, in android 10.19 only, as identical rows of
    sessions with no click; the events and the ledger hold no copies."""
    sessions = scan(duplication_run, "sessions").collect()
    twice = sessions.filter(pl.col("session_id").is_duplicated())
    assert twice.height > 0
    assert twice["date"].min().isoformat() == "2026-08-11"
    assert set(twice["platform"].cast(pl.String)) == {"android"}
    assert set(twice["app_version"].cast(pl.String)) == {"10.19"}
    assert twice.unique().height * 2 == twice.height  # each is one row, exactly twice
    clicked = scan(duplication_run, "events").select("session_id").collect()["session_id"]
    assert not set(twice["session_id"]) & set(clicked)
    orders = scan(duplication_run, "orders").collect()
    assert orders["order_id"].n_unique() == orders.height
    rows = Evidence(duplication_run).duplicate_sessions()
    assert rows.height == 1
    assert rows.row(0, named=True)["platform"] == "android"
    assert rows.row(0, named=True)["app_version"] == "10.19"
