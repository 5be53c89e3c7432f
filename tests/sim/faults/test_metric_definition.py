"""metric_definition: the pipeline counts no-feed foregrounds as sessions, in its scope only;
nobody behaves differently."""

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

DEFINITION = "{{type: metric_definition, id: d, at: {at}, extra: 0.5, " \
    "scope: {{platform: [android], app_version: ['10.19']}}}}"  # fmt: skip
HOURS = 14  # it changes nothing users do, so the branches agree however long they run


@pytest.fixture(scope="module")
def warm():
    return warm_world()


def test_it_logs_foregrounds_in_its_scope_and_changes_no_behaviour(warm):
    base, state = branch(warm, {}, HOURS)
    defn, _ = branch(warm, {"d": fault(DEFINITION.format(at="2026-08-03T00:00:00"))}, HOURS)
    users = state.world.users
    scoped = total = 0
    for b, d in zip(base, defn, strict=True):
        # What users do is the same session for session, event for event ...
        assert np.array_equal(b.batch.key, d.batch.key)
        assert np.array_equal(b.ledger_order, d.ledger_order)
        assert np.array_equal(b.event_index, d.event_index)
        assert len(b.foregrounds) == 0
        # ... and only the scoped clients' sessions bring a logged foreground.
        who = d.batch.user[d.foregrounds]
        assert (users.platform[who] == PLATFORMS.index("android")).all()
        assert (users.app_minor[who] == 19).all()
        in_scope = (users.platform[d.batch.user] == PLATFORMS.index("android")) & (
            users.app_minor[d.batch.user] == 19
        )
        scoped += in_scope.sum()
        total += len(d.foregrounds)
    assert total / scoped == pytest.approx(0.5, abs=0.06)


def test_the_observed_metric_counts_them_and_the_business_metric_does_not(warm):
    on = {"d": fault(DEFINITION.format(at="2026-08-03T00:00:00"))}
    runs = {}
    for name, faults in (("base", {}), ("on", on)):
        sink = MetricSink()
        for hour in branch(warm, faults, HOURS)[0]:
            sink.hour(hour, None)
        runs[name] = sink.daily[0]
    assert np.array_equal(runs["base"][:3], runs["on"][:3])  # sessions and orders: the same
    assert runs["base"][3] == runs["base"][0]
    assert runs["on"][3] > runs["on"][0] * 1.05  # logged sessions: more


def test_a_branch_with_it_off_is_the_baseline(warm):
    base, _ = branch(warm, {}, HOURS)
    later = {"d": fault(DEFINITION.format(at="2026-08-10T00:00:00"))}
    assert same_hours(base, branch(warm, later, HOURS)[0])
    zero = {"d": fault(DEFINITION.format(at="2026-08-03T00:00:00")).with_severity(0.0)}
    assert same_hours(base, branch(warm, zero, HOURS)[0])


CASE = (
    "id: t\ntitle: T\nstart: 2026-08-03\ndays: 15\nreference_days: 0\nseed: 2\n"
    "faults:\n  - " + DEFINITION.format(at="2026-08-11T00:00:00") + "\n"
)


@pytest.fixture(scope="module")
def definition_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("def") / "run"
    simulate(parse_scenario(CASE), SIZE, out)
    return out


def test_its_evidence_is_in_the_candidates_tables(definition_run):
    """Sessions with no feed page appear from the onset, in android 10.19 only, and own no
    requests, impressions or events."""
    sessions = scan(definition_run, "sessions").collect()
    empty = sessions.filter(pl.col("pages") == 0)
    assert empty.height > 0
    assert empty["date"].min().isoformat() == "2026-08-11"
    assert set(empty["platform"].cast(pl.String)) == {"android"}
    assert set(empty["app_version"].cast(pl.String)) == {"10.19"}
    assert empty["session_id"].n_unique() == empty.height
    assert not set(empty["session_id"]) & set(sessions.filter(pl.col("pages") > 0)["session_id"])
    for table in ("requests", "impressions", "events", "orders"):
        ids = scan(definition_run, table).select("session_id").collect()["session_id"]
        assert not set(ids) & set(empty["session_id"]), table
    rows = Evidence(definition_run).empty_sessions()
    assert rows.height == 1 and rows.row(0, named=True)["app_version"] == "10.19"
