"""traffic_mix adds a campaign's sessions from new users in its scope, through one source,
and leaves the users' own sessions as they were."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from sim.behavior import SOURCES
from sim.engine import Engine, NullSink
from sim.extra_traffic import EXTRA_BASE
from sim.output import hour_columns
from sim.runner import plan
from sim.scenario import parse_scenario
from tests.sim.faults.demand_helpers import BASE, warm_world

ONSET = 10
HOURS = ONSET + 38
MIX = (
    "  - {type: traffic_mix, id: campaign, at: 2026-08-03T10:00:00, volume: 0.25, "
    "source: push, scope: {city_tier: [3, 4]}}\n"
)


class Tables(NullSink):
    """Keeps each hour's rows as the run folder would write them, and the funnel's
    expected orders per session (the conversion a session is worth, without the coin flips)."""

    def __init__(self) -> None:
        self.hours: dict[int, dict[str, dict[str, np.ndarray]]] = {}
        self.worth: dict[int, np.ndarray] = {}

    def hour(self, result, state) -> None:
        self.hours[result.hour] = hour_columns(result, state, 0)
        f = result.funnel
        self.worth[result.hour] = np.bincount(
            f.imp_session, weights=f.p_click * f.p_order, minlength=len(result.batch.key)
        )


@pytest.fixture(scope="module")
def runs():
    streams, state = warm_world()  # the fault modules' one warm world
    period = plan(parse_scenario(BASE)).current
    out = {}
    for name, text in (("base", ""), ("mix", MIX), ("later", MIX.replace("03T10", "04T06", 1))):
        faults = parse_scenario(BASE + "faults:\n" + text).faults if text else []
        sink = Tables()
        Engine(copy.deepcopy(state), streams, period, sink, {f.id: f for f in faults}).run(HOURS)
        out[name] = sink
    return out


def own(cols: dict[str, np.ndarray]) -> np.ndarray:
    return (cols["session_id"] & ((1 << 20) - 1)) < EXTRA_BASE


def test_users_own_sessions_keep_their_users_and_luck(runs):
    """The campaign adds sessions; the users' own keep their ids, users and sources, and in
    the onset hour (before the world has responded) every row."""
    for hour in range(HOURS):
        s, b = runs["mix"].hours[hour]["sessions"], runs["base"].hours[hour]["sessions"]
        keep = own(s)
        for col in ("session_id", "user_id", "source", "ts", "tenure"):
            assert np.array_equal(s[col][keep], b[col]), (hour, col)
    onset = runs["mix"].hours[ONSET]
    for table, cols in onset.items():
        keep = np.isin(cols["session_id"], runs["base"].hours[ONSET]["sessions"]["session_id"])
        for col, values in cols.items():
            assert np.array_equal(values[keep], runs["base"].hours[ONSET][table][col])


def test_off_is_the_baseline(runs):
    for hour in range(30):  # the later campaign starts at hour 30
        for table, cols in runs["later"].hours[hour].items():
            for col, values in cols.items():
                assert np.array_equal(values, runs["base"].hours[hour][table][col])


def test_campaign_sessions_are_new_users_in_scope_through_its_source(runs):
    """What a candidate sees: the source's and new users' shares rise; every added session is
    a new user of the scope's city tiers arriving through the campaign's source."""
    hours = runs["mix"].hours
    added = [
        {k: v[~own(h["sessions"])] for k, v in h["sessions"].items()}
        for h in (hours[x] for x in range(ONSET, HOURS))
    ]
    rows = {k: np.concatenate([a[k] for a in added]) for k in added[0]}
    for hour in range(ONSET):
        assert own(hours[hour]["sessions"]).all()
    assert len(rows["user_id"]) > 500
    assert np.isin(rows["city_tier"], [3, 4]).all()
    assert (rows["tenure"] == 0).all()
    assert (rows["source"] == SOURCES.index("push")).all()
    assert len(np.unique(rows["user_id"])) > 500  # many people, not a few accounts

    def shares(name: str) -> tuple[float, float]:
        s = [runs[name].hours[h]["sessions"] for h in range(ONSET, HOURS)]
        src = np.concatenate([x["source"] for x in s])
        tenure = np.concatenate([x["tenure"] for x in s])
        return float(np.mean(src == SOURCES.index("push"))), float(np.mean(tenure == 0))

    (push0, new0), (push1, new1) = shares("base"), shares("mix")
    assert push1 > push0 + 0.08
    assert new1 > new0 + 0.08


def test_campaign_sessions_convert_like_their_segment(runs):
    """Within a segment (new users from the source, in the tiers) the campaign's sessions are
    worth what the users' own are: the mix moves, the rate does not."""
    mix = runs["mix"]
    worth_added, worth_own = [], []
    for hour in range(ONSET, HOURS):
        s = mix.hours[hour]["sessions"]
        seg = (s["tenure"] == 0) & np.isin(s["city_tier"], [3, 4])
        seg &= s["source"] == SOURCES.index("push")
        worth = mix.worth[hour]
        worth_added.append(worth[seg & ~own(s)])
        worth_own.append(worth[seg & own(s)])
    added, base = np.concatenate(worth_added), np.concatenate(worth_own)
    assert added.mean() == pytest.approx(base.mean(), rel=0.25)
    everyone = np.concatenate([mix.worth[h] for h in range(ONSET, HOURS)])
    assert added.mean() < 0.85 * everyone.mean()  # and lower than the average session's
