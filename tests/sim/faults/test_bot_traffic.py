"""bot_traffic adds crawler sessions from a few new accounts and changes nothing else."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from sim.behavior import MAX_PAGES, SOURCES
from sim.engine import Engine, NullSink
from sim.extra_traffic import EXTRA_BASE
from sim.output import hour_columns
from sim.runner import plan
from sim.scenario import parse_scenario
from sim.world import DEVICES, NETWORKS, PLATFORMS
from tests.sim.faults.demand_helpers import BASE, warm_world

ONSET = 10  # hour of the period
HOURS = ONSET + 30
BOT = (
    "  - {type: bot_traffic, id: crawler, at: 2026-08-03T10:00:00, volume: 0.2, "
    "accounts: 12, source: share}\n"
)


class Tables(NullSink):
    """Keeps each hour's rows as the run folder would write them."""

    def __init__(self) -> None:
        self.hours: dict[int, dict[str, dict[str, np.ndarray]]] = {}

    def hour(self, result, state) -> None:
        self.hours[result.hour] = hour_columns(result, state, 0)


@pytest.fixture(scope="module")
def runs():
    streams, state = warm_world()  # the fault modules' one warm world
    period = plan(parse_scenario(BASE)).current
    out = {}
    for name, text in (("base", ""), ("bot", BOT), ("later", BOT.replace("T10", "T20", 1))):
        faults = parse_scenario(BASE + "faults:\n" + text).faults if text else []
        sink = Tables()
        Engine(copy.deepcopy(state), streams, period, sink, {f.id: f for f in faults}).run(HOURS)
        out[name] = sink.hours
    return out, state.world.users


def own(cols: dict[str, np.ndarray], key: str = "session_id") -> np.ndarray:
    return (cols[key] & ((1 << 20) - 1)) < EXTRA_BASE


def test_users_own_sessions_are_untouched(runs):
    """Every table row of the users' own sessions is the same with the bot on."""
    hours, _ = runs
    for hour in range(HOURS):
        base, bot = hours["base"][hour], hours["bot"][hour]
        for table, cols in bot.items():
            keep = own(cols)
            for col, values in cols.items():
                assert np.array_equal(values[keep], base[table][col]), (hour, table, col)


def test_off_is_the_baseline(runs):
    """Before its onset the fault leaves every row exactly as the baseline's."""
    hours, _ = runs
    for hour in range(20):
        for table, cols in hours["later"][hour].items():
            for col, values in cols.items():
                assert np.array_equal(values, hours["base"][hour][table][col])
    assert any(not own(hours["later"][h]["sessions"]).all() for h in range(20, HOURS))


def test_bot_sessions_show_the_tell_tale_pattern(runs):
    """What a candidate finds in sessions/requests/events: few new accounts, one client,
    every page, no clicks, no orders, evenly spaced, day and night."""
    hours, _ = runs
    bot_rows = []
    for hour in range(ONSET, HOURS):
        s = hours["bot"][hour]["sessions"]
        extra = ~own(s)
        assert extra.sum() > 0, hour  # also at night
        gaps = np.diff(np.sort(s["ts"][extra]))
        assert gaps.max() - gaps.min() <= 1  # evenly spaced
        bot_rows.append({k: v[extra] for k, v in s.items()})
        events = hours["bot"][hour]["events"]
        assert not np.isin(events["session_id"], s["session_id"][extra]).any()
        orders = hours["bot"][hour]["orders"]
        assert not np.isin(orders["session_id"], s["session_id"][extra]).any()
    rows = {k: np.concatenate([r[k] for r in bot_rows]) for k in bot_rows[0]}
    for hour in range(ONSET):
        assert own(hours["bot"][hour]["sessions"]).all()
    accounts = np.unique(rows["user_id"])
    assert 3 <= len(accounts) <= 12
    per_account = len(rows["user_id"]) / len(accounts)
    assert per_account > 20  # dozens of sessions each in 30 hours
    assert (rows["platform"] == PLATFORMS.index("android")).all()
    assert (rows["device"] == DEVICES.index("mid")).all()
    assert (rows["network"] == NETWORKS.index("wifi")).all()
    assert (rows["tenure"] == 0).all()  # new
    assert (rows["source"] == SOURCES.index("share")).all()
    assert np.mean(rows["pages"] == MAX_PAGES) > 0.9  # only a failed request stops one
    # about a fifth of the users' own sessions in an average hour
    own_total = sum(own(hours["base"][h]["sessions"]).sum() for h in range(ONSET, HOURS))
    assert len(rows["user_id"]) / own_total == pytest.approx(0.2, rel=0.35)
