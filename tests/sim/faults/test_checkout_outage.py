"""checkout_outage: checkouts of one platform's app version fail (orders lost or left unpaid);
nobody else's outcome changes and nobody browses differently."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from grading.solver import Evidence
from readout.tables import scan
from sim.checkout import checkout_outcomes
from sim.runner import simulate
from sim.scenario import parse_scenario
from sim.world import PLATFORMS
from tests.sim.faults.demand_helpers import SIZE, branch, fault, same_hours, warm_world

OUTAGE = "{{type: checkout_outage, id: o, at: {at}, fail: 0.6, unpaid: 0.25, " \
    "scope: {{platform: [android], app_version: ['10.19']}}}}"  # fmt: skip
ONSET = "2026-08-03T12:00:00"  # right after a feed refresh (hour 12) ...
HOURS = 18  # ... and before the next (hour 18): the pools are the same in every branch


@pytest.fixture(scope="module")
def warm():
    return warm_world()


@pytest.fixture(scope="module")
def branches(warm):
    base, state = branch(warm, {}, HOURS)
    out, _ = branch(warm, {"o": fault(OUTAGE.format(at=ONSET))}, HOURS)
    return base, out, state.world.users


def test_it_fails_checkouts_in_its_scope_only(branches):
    base, out, users = branches
    lost = unpaid = 0
    for b, o in zip(base, out, strict=True):
        bf, of = b.funnel, o.funnel
        # The same sessions see the same feed, click and add to cart the same items ...
        assert np.array_equal(b.batch.key, o.batch.key)
        assert np.array_equal(bf.imp_item, of.imp_item)
        assert np.array_equal(bf.clicked, of.clicked)
        assert np.array_equal(bf.carted, of.carted)
        # ... and orders are only ever lost, never gained, and only in the scope.
        user = o.batch.user[of.imp_session]
        scoped = in_scope(users, user)
        assert not (of.ordered & ~bf.ordered).any()
        assert np.array_equal(bf.ordered[~scoped], of.ordered[~scoped])
        assert np.array_equal(bf.paid[~scoped], of.paid[~scoped])
        if o.hour < 12:
            assert np.array_equal(bf.ordered, of.ordered) and np.array_equal(bf.paid, of.paid)
            continue
        lost += (bf.ordered & ~of.ordered).sum()
        unpaid += (of.ordered & ~of.paid & bf.paid).sum()
    assert lost > 0 and unpaid > 0


def in_scope(users, user: np.ndarray) -> np.ndarray:
    return (users.platform[user] == PLATFORMS.index("android")) & (users.app_minor[user] == 19)


def test_its_rates_are_the_parameters(warm):
    """At full strength 0.6 of the scope's checkouts fail, a quarter of those still placed:
    0.45 of its orders are lost and 0.15 left unpaid; nobody else's checkout fails."""
    streams, state = warm
    users = state.world.users
    rule = fault(OUTAGE.format(at=ONSET)).effects(1.0, "o", None).checkout
    user = np.arange(400_000) % users.n
    lost, failed = checkout_outcomes([rule], streams, users, user, np.arange(len(user)))
    scoped = in_scope(users, user)
    assert scoped.sum() > 30_000
    assert not (lost | failed)[~scoped].any()
    assert not (lost & ~failed).any()
    assert lost[scoped].mean() == pytest.approx(0.45, abs=0.01)
    assert (failed & ~lost)[scoped].mean() == pytest.approx(0.15, abs=0.01)


def test_a_branch_with_it_off_is_the_baseline(warm, branches):
    base = branches[0]
    later = {"o": fault(OUTAGE.format(at="2026-08-10T00:00:00"))}
    assert same_hours(base, branch(warm, later, HOURS)[0])
    zero = {"o": fault(OUTAGE.format(at=ONSET)).with_severity(0.0)}
    assert same_hours(base, branch(warm, zero, HOURS)[0])


CASE = (
    "id: t\ntitle: T\nstart: 2026-08-03\ndays: 15\nreference_days: 0\nseed: 2\n"
    "faults:\n  - " + OUTAGE.format(at="2026-08-12T10:00:00") + "\n"
)


@pytest.fixture(scope="module")
def outage_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("outage") / "run"
    simulate(parse_scenario(CASE), SIZE, out)
    return out


def _by_segment(run, after: str) -> pl.DataFrame:
    """Per platform and app version, before and after the onset: the share of ledger orders
    left unpaid, orders per add-to-cart event and clicks per session (candidate tables)."""
    sessions = scan(run, "sessions").select(
        "session_id", "platform", "app_version", side=pl.col("date") >= pl.lit(after).str.to_date()
    )
    orders = (
        scan(run, "orders")
        .group_by("session_id")
        .agg(orders=pl.len(), unpaid=(pl.col("status").cast(pl.String) == "unpaid").sum())
    )
    events = (
        scan(run, "events")
        .group_by("session_id")
        .agg(
            clicks=(pl.col("event") == "click").sum(),
            carts=(pl.col("event") == "add_to_cart").sum(),
        )
    )
    return (
        sessions.join(orders, on="session_id", how="left")
        .join(events, on="session_id", how="left")
        .fill_null(0)
        .group_by("platform", "app_version", "side")
        .agg(
            unpaid=pl.col("unpaid").sum() / pl.col("orders").sum(),
            per_cart=pl.col("orders").sum() / pl.col("carts").sum(),
            clicks=pl.col("clicks").mean(),
        )
        .with_columns(pl.col("platform", "app_version").cast(pl.String))
        .collect()
    )


def test_its_evidence_is_in_the_candidates_tables(outage_run):
    """From the onset, android 10.19 alone leaves many more orders unpaid and turns fewer
    add-to-carts into orders; its clicks per session hold; the solver finds the segment."""
    seg = _by_segment(outage_run, "2026-08-12")

    def value(platform: str, version: str, after: bool, col: str) -> float:
        row = seg.filter(
            (pl.col("platform") == platform)
            & (pl.col("app_version") == version)
            & (pl.col("side") == after)
        )
        return float(row[col].item())

    hit = ("android", "10.19")
    assert value(*hit, True, "unpaid") > value(*hit, False, "unpaid") + 0.1
    assert value(*hit, True, "per_cart") < 0.8 * value(*hit, False, "per_cart")
    assert value(*hit, True, "clicks") == pytest.approx(value(*hit, False, "clicks"), rel=0.1)
    for platform, version in (("ios", "10.19"), ("android", "10.18")):
        before = value(platform, version, False, "unpaid")
        assert value(platform, version, True, "unpaid") == pytest.approx(before, abs=0.03)
    found = Evidence(outage_run).unpaid_rise()
    assert [(r["platform"], r["app_version"]) for r in found.to_dicts()] == [("android", "10.19")]
