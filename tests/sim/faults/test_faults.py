"""Each fault moves its mechanism as intended, and only in its scope."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from sim.effects import FaultView
from sim.engine import Engine, NullSink
from sim.faults import FAULT_TYPES
from sim.feed import take_snapshot
from sim.rng import Streams
from sim.runner import plan
from sim.scenario import parse_scenario
from sim.world import CATEGORIES, PLATFORMS
from tests.conftest import SCENARIOS
from tests.sim.faults.demand_helpers import BASE, warm_world

HEAD = BASE + "faults:\n"


@pytest.fixture(scope="module")
def warm():
    """The fault modules' one warm world (BASE, SIZE, seed 2: demand_helpers.warm_world)."""
    return warm_world()


def fault(text: str):
    return parse_scenario(HEAD + "  - " + text + "\n").faults[0]


def apply(state, f, level: float, key: str) -> None:
    """What the engine does each hour: ask the fault for its effects, install them."""
    view = FaultView(
        state.world, state.snapshot, state.config_defaults, state.fault_memory.setdefault(key, {})
    )
    state.install({key: f.effects(level, key, view)})


def test_every_registered_fault_has_docs_hit_set_and_a_shipped_example():

    shipped = " ".join(p.read_text() for p in SCENARIOS.glob("*.yaml"))
    for name, cls in FAULT_TYPES.items():
        assert cls.__doc__ and cls.evidence, name
        assert cls.hit_set, name
        if name not in ("app_release", "tracking_bug", "config_change"):
            assert f"type: {name}" in shipped, f"no shipped case uses {name}"


@pytest.mark.parametrize("mode", ["category_remap", "stale_stock", "scrambled_image_signal"])
def test_feed_change_alters_only_scoped_categories(warm, mode):
    _, state = warm
    state = copy.deepcopy(state)
    f = fault(f"{{type: feed_change, mode: {mode}, at: 2026-08-10T00:00:00, "
              "scope: {category: [beauty, pets]}}")  # fmt: skip
    apply(state, f, 1.0, "f")
    items = state.world.items
    items.stock[:200] = 0  # some items sell out after the onset
    before = take_snapshot(state.world, 1, 0)
    after = take_snapshot(state.world, 1, 0, state.feed_transforms)
    scoped = np.isin(items.category, [CATEGORIES.index("beauty"), CATEGORIES.index("pets")])
    changed = (
        (before.category != after.category)
        | (before.in_stock != after.in_stock)
        | (before.image_score != after.image_score)
    )
    assert changed.any()
    assert not changed[~scoped].any()
    apply(state, f, 0.0, "f")
    assert not state.feed_transforms


def test_reward_shift_moves_weights_and_sellers_toward_clicks(warm):
    streams, state = warm
    state = copy.deepcopy(state)
    period = plan(parse_scenario(BASE)).current
    f = fault("{type: reward_shift, id: r, at: 2026-08-03T00:00:00}")
    engine = Engine(state, streams, period, NullSink(), {"r": f})
    before = state.world.sellers.clickbait.mean()
    engine.run(24 * 5)
    assert state.config["reward.click"] == pytest.approx(1.8)
    assert state.config["reward.conversion"] == pytest.approx(0.15)
    assert state.world.sellers.clickbait.mean() > before * 1.5


def test_seasonality_overlays_the_calendar_and_recurs(warm):
    _, state = warm
    state = copy.deepcopy(state)
    f = fault("{type: seasonality, mode: logistics_pause, name: typhoon, at: 2026-08-10T00:00:00}")
    apply(state, f, 1.0, "s")
    overlay = state.calendar_overlays["s"]
    assert overlay.logistics < 0.7 and overlay.intent == 0
    assert f.recurs_yearly
    assert f.shifted(-364).at.year == 2025


def test_deploy_slows_only_its_scope(warm):
    streams, state = warm
    state = copy.deepcopy(state)
    f = fault("{type: deploy, at: 2026-08-10T00:00:00, server_factor: 2.0, "
              "scope: {platform: [android]}}")  # fmt: skip
    counters = np.arange(20_000, dtype=np.uint64)
    n = len(counters)
    dims = {
        "city_tier": np.full(n, 3, np.int8),
        "network": np.zeros(n, np.int8),
        "device": np.ones(n, np.int8),
        "platform": np.repeat(np.array([0, 1], np.int8), n // 2),
        "app_minor": np.full(n, 20, np.int16),
    }
    base, _, _ = state.latency.sample(streams, counters, dims)
    apply(state, f, 1.0, "d")
    slowed, _, _ = state.latency.sample(streams, counters, dims)
    android = dims["platform"] == PLATFORMS.index("android")
    assert np.allclose(slowed[android], base[android] * 2.0, rtol=1e-5)
    assert np.array_equal(slowed[~android], base[~android])
    assert state.version_overrides["d"] == "v3.15.0"


def test_tracking_bug_drops_events_only_in_scope():
    from sim.tracking import Tracker, TrackingRule

    streams = Streams(1)
    n = 40_000
    counters = np.arange(n, dtype=np.uint64)
    event = np.full(n, 2, np.int8)  # order events
    platform = np.repeat(np.array([0, 1], np.int8), n // 2)
    dims = {"platform": platform, "app_minor": np.full(n, 20), "city_tier": np.full(n, 1)}
    tracker = Tracker(loss=0, duplicate=0, late=0)
    tracker.rules["t"] = TrackingRule("order", {"platform": (0,)}, 0.5)
    idx, _ = tracker.track(streams, counters, event, np.zeros(n, np.int64), dims)
    kept = np.bincount(platform[idx], minlength=2) / (n // 2)
    assert kept[0] == pytest.approx(0.5, abs=0.02)
    assert kept[1] == 1.0


def test_app_release_upgrades_only_its_platform(warm):
    _, state = warm
    state = copy.deepcopy(state)
    users = state.world.users
    f = fault("{type: app_release, platform: android, at: 2026-08-10T00:00:00, adoption: 0.6}")
    apply(state, f, 1.0, "a")
    android = users.platform == PLATFORMS.index("android")
    upgraded = users.app_minor == 21
    assert upgraded[android].mean() == pytest.approx(0.6, abs=0.03)
    assert not upgraded[~android].any()
    apply(state, f, 0.0, "a")
    assert not (users.app_minor == 21).any()


ONSET = 7 * 24 + 8  # the hour of the period the faults below switch on


class Clicks(NullSink):
    def __init__(self):
        self.hours = {}

    def hour(self, result, state):
        f = result.funnel
        self.hours[result.hour] = (f.imp_item.copy(), result.event_type.copy())


def _clicks(warm, faults: dict) -> dict:
    """Each hour's shown items and events, to 30 hours past the onset, of a copy of the warm
    world with these faults."""
    streams, state = warm
    sink = Clicks()
    period = plan(parse_scenario(BASE)).current
    Engine(copy.deepcopy(state), streams, period, sink, faults).run(ONSET + 30)
    return sink.hours


@pytest.fixture(scope="module")
def unfaulted(warm) -> dict:
    """The run without a fault: the same for every fault type below, so run once."""
    return _clicks(warm, {})


@pytest.mark.parametrize(
    "text",
    [
        "{type: feed_change, at: 2026-08-10T08:00:00, scope: {category: [beauty]}}",
        "{type: reward_shift, at: 2026-08-10T08:00:00}",
        "{type: seasonality, mode: post_festival_hangover, name: x, at: 2026-08-10T08:00:00}",
        "{type: deploy, at: 2026-08-10T08:00:00, server_factor: 3}",
        "{type: tracking_bug, at: 2026-08-10T08:00:00}",
    ],
)
def test_nothing_changes_before_onset(warm, unfaulted, text):
    runs = [unfaulted, _clicks(warm, {"f": fault(text)})]
    for hour in range(ONSET):
        assert all(np.array_equal(a, b) for a, b in zip(runs[0][hour], runs[1][hour], strict=True))
    assert any(
        not all(np.array_equal(a, b) for a, b in zip(runs[0][h], runs[1][h], strict=True))
        for h in range(ONSET, ONSET + 30)
    )


def test_price_change_raises_scoped_prices_and_restores_them(warm):
    _, state = warm
    state = copy.deepcopy(state)
    items = state.world.items
    base = items.price.copy()
    f = fault("{type: price_change, rise: 0.5, at: 2026-08-10T00:00:00, "
              "scope: {category: [beauty]}}")  # fmt: skip
    apply(state, f, 0.5, "p")
    scoped = items.category == CATEGORIES.index("beauty")
    assert np.allclose(items.price[scoped], base[scoped] * 1.25, atol=0.051)  # list prices
    assert np.array_equal(items.price[~scoped], base[~scoped])
    assert take_snapshot(state.world, 1, 0).price[scoped].mean() > base[scoped].mean() * 1.2
    apply(state, f, 0.0, "p")  # switched off: the base prices exactly
    assert np.array_equal(items.price, base)


def test_supply_shortage_empties_a_share_of_scoped_stock_and_blocks_restock(warm):
    streams, state = warm
    state = copy.deepcopy(state)
    period = plan(parse_scenario(BASE)).current
    f = fault("{type: supply_shortage, id: s, severity: 0.6, at: 2026-08-03T00:00:00, "
              "scope: {category: [pets]}}")  # fmt: skip
    items = state.world.items
    scoped = items.category == CATEGORIES.index("pets")
    engine = Engine(state, streams, period, NullSink(), {"s": f})
    engine.run(24 * 3)  # three sellers' days: no restock of what the shortage holds
    out = items.stock == 0
    assert out[scoped].mean() == pytest.approx(0.6, abs=0.08)
    assert out[~scoped].mean() < 0.1
    assert not state.snapshot.in_stock[scoped & out].any()  # the feed follows at its refresh
