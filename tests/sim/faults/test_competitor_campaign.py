"""competitor_campaign: a segment's buyers drawn away, and nothing else touched."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from grading.solver import Evidence
from sim.runner import simulate
from sim.scenario import parse_scenario
from tests.sim.faults.demand_helpers import SIZE, branch, fault, same_hours, warm_world

CAMPAIGN = "{{type: competitor_campaign, id: c, at: {at}, skip: 0.5, intent_drop: 1.0, " \
    "scope: {{city_tier: [3]}}}}"  # fmt: skip


@pytest.fixture(scope="module")
def warm():
    return warm_world()


HOURS = 3  # before the first retrain (03:00): the ranker has not seen the branches differ


def _tier(hour, state) -> np.ndarray:
    return state.world.users.city_tier[hour.batch.user] == 3


def test_it_acts_only_on_the_scoped_buyers(warm):
    base, state = branch(warm, {}, HOURS)
    comp, _ = branch(warm, {"c": fault(CAMPAIGN.format(at="2026-08-03T00:00:00"))}, HOURS)
    kept = lost = 0
    for b, c in zip(base, comp, strict=True):
        b3, c3 = _tier(b, state), _tier(c, state)
        # Everyone else: the very same sessions.
        assert np.array_equal(b.batch.key[~b3], c.batch.key[~c3])
        # The scoped buyers: about half their sessions go elsewhere, the rest are theirs.
        assert np.isin(c.batch.key[c3], b.batch.key[b3]).all()
        kept += c3.sum()
        lost += b3.sum() - c3.sum()
    assert kept / (kept + lost) == pytest.approx(0.5, abs=0.05)
    # In the first hour (same stock, same pools) outcomes outside the scope are identical,
    # and the scoped buyers who stay convert less.
    b, c = base[0], comp[0]
    b3, c3 = _tier(b, state), _tier(c, state)
    assert np.array_equal(b.ledger_order[~b3], c.ledger_order[~c3])
    stayed = np.isin(b.batch.key, c.batch.key) & b3
    assert c.ledger_order[c3].sum() < 0.75 * b.ledger_order[stayed].sum()


def test_a_branch_with_it_off_is_the_baseline(warm):
    base, _ = branch(warm, {}, HOURS)
    later = {"c": fault(CAMPAIGN.format(at="2026-08-10T00:00:00"))}  # not yet on
    off, _ = branch(warm, later, HOURS)
    assert same_hours(base, off)
    zero = {"c": fault(CAMPAIGN.format(at="2026-08-03T00:00:00")).with_severity(0.0)}
    assert same_hours(base, branch(warm, zero, HOURS)[0])


CASE = (
    "id: t\ntitle: T\nstart: 2026-08-03\ndays: 15\nreference_days: 0\nseed: 2\n"
    "faults:\n  - " + CAMPAIGN.format(at="2026-08-11T00:00:00") + "\n"
)


@pytest.fixture(scope="module")
def campaign_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("comp") / "run"
    simulate(parse_scenario(CASE), SIZE, out)
    return out


def test_its_evidence_is_in_the_candidates_tables(campaign_run):
    """From the tables alone: tier 3's sessions and conversion fall against the rest, while
    its latency does not move."""
    ev = Evidence(campaign_run)
    found = ev.segment_drawn_away()
    tiers = {segment: part for dim, segment, part in found if dim == "city_tier"}
    assert set(tiers) == {"3"} and tiers["3"] > 0.5, found
    lat = ev.latency_shift().filter(pl.col("city_tier") == 3)
    assert (lat["rise"].abs() < 0.05).all()
    assert ev.empty_sessions().is_empty()  # not a definition change
