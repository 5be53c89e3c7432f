"""The engine: a simpy clock and the hour's steps on it.

Each simulated hour runs `HOURLY_STEPS` in order: at midnight sellers restock and adapt and
the day's ordinary change-log entries are written; every 6 hours the item feed publishes a
snapshot; at 03:00 the ranker retrains; every hour the faults set their effects, then the
hour's sessions run through the funnel as one vectorized batch. All mutable state lives in
`EngineState`, so a run can be paused at any hour, copied, and continued down two branches
(counterfactual runs share everything before a fault's onset).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol

import numpy as np
import simpy

from sim import calendar
from sim.behavior import (
    NEW_USER_DAYS,
    PAGE_SIZE,
    SOURCE_SHARE,
    Conditions,
    Funnel,
    SessionBatch,
    simulate_sessions,
)
from sim.changelog import logged_at, random_version, stream_key, templated_title
from sim.checkout import CheckoutFailure
from sim.demand import DemandShift, sessions_kept
from sim.effects import Effects, ExtraSessions, FaultView
from sim.experiments import Treatment
from sim.extra_traffic import added_sessions, human_impressions, join
from sim.faults.base import FaultBase
from sim.feed import FeedTransform, Snapshot, snapshot_columns, take_snapshot
from sim.latency import LatencyModel
from sim.ranker import DEFAULT_POLICY, History, Model, Pools, TrainingLog, build_pools, retrain
from sim.rng import Streams, slot_counter
from sim.tracking import EXPORT_CUTOFF_S, Tracker
from sim.world import World, day_number

UNIX_EPOCH = datetime(1970, 1, 1)  # session times are Unix seconds, as Parquet expects
FEED_REFRESH_HOURS = 6
RETRAIN_HOUR = 3
RETRAIN_OFFSET = 0.2  # the retrain is logged at 03:12
HISTORY_DECAY = 0.75  # per day: the per-item history remembers about four days


def log_rate(n_users: int) -> float:
    """Share of impressions logged for training: about 30k rows per 48 h at any world size."""
    return min(0.5, 2000.0 / max(n_users, 1))


CONFIG_DEFAULTS = {"ranker.exploration": 0.04, "ranker.temperature": 0.6, **DEFAULT_POLICY}
# Ordinary entries come from the same services and teams injected changes do, so neither the
# service nor the author of an entry tells an injected change apart.
NOISE_SERVICES = (
    "search-api", "cart-service", "user-profile", "ads-bidder", "push-service",
    "coupon-service", "live-room", "item-detail", "feed-api", "review-service",
    "mobile-app", "item-feed-pipeline", "tracking-sdk", "ranker",
)  # fmt: skip
NOISE_CONFIGS = (
    ("push-service", "push.daily_cap", "3 -> 4"),
    ("search-api", "search.spellcheck", "on"),
    ("coupon-service", "coupon.banner_slot", "2 -> 3"),
    ("item-detail", "detail.video_autoplay", "wifi-only"),
    ("ads-bidder", "ads.floor_price", "+2%"),
    ("ranker", "ranker.dedupe_window", "6 -> 8"),
    ("ranker", "ranker.cache_ttl", "300 -> 240"),
    ("platform", "platform.rate_limit", "+10%"),
    ("tracking-sdk", "tracking.batch_size", "20 -> 50"),
    ("item-feed-pipeline", "pipeline.sync_interval", "15 -> 10"),
)


@dataclass(frozen=True)
class Period:
    """A stretch of simulated time: the case period, or last year's reference weeks."""

    label: str  # "current" or "reference"
    code: int  # 0 current, 1 reference: part of every session key
    start: date
    days: int

    @property
    def start_time(self) -> datetime:
        return datetime.combine(self.start, datetime.min.time())

    def time_of(self, hour: float) -> datetime:
        return self.start_time + timedelta(hours=hour)

    def hour_of(self, when: datetime) -> float:
        return (when - self.start_time).total_seconds() / 3600.0

    def dates(self) -> list[date]:
        return [self.start + timedelta(days=d) for d in range(self.days)]

    @property
    def export_cutoff(self) -> int:
        """Unix seconds at which the period's tables are exported: later arrivals miss them."""
        end = self.start_time + timedelta(days=self.days)
        return int((end - UNIX_EPOCH).total_seconds()) + EXPORT_CUTOFF_S


@dataclass
class EngineState:
    """Everything that changes while the world runs."""

    world: World
    history: History
    log: TrainingLog
    model: Model
    snapshot: Snapshot
    pools: Pools
    latency: LatencyModel = field(default_factory=LatencyModel)
    tracker: Tracker = field(default_factory=Tracker)
    config: dict[str, float] = field(default_factory=lambda: dict(CONFIG_DEFAULTS))
    config_defaults: dict[str, float] = field(default_factory=lambda: dict(CONFIG_DEFAULTS))
    feed_transforms: dict[str, FeedTransform] = field(default_factory=dict)
    seller_incentive: float = 0.0  # platform reward for clicks, as sellers perceive it
    feed_api_version: tuple[int, int, int] = (3, 14, 2)
    announced: set[str] = field(default_factory=set)
    calendar_overlays: dict[str, calendar.CalendarOverlay] = field(default_factory=dict)
    version_overrides: dict[str, str] = field(default_factory=dict)
    fault_memory: dict[str, dict[str, Any]] = field(default_factory=dict)  # per fault id
    app_minor_base: np.ndarray | None = None  # users' app versions before any fault's upgrade
    price_base: np.ndarray | None = None  # items' prices before any fault's change
    supply_cut: np.ndarray | None = None  # items no seller can supply this hour
    extra_sessions: dict[str, ExtraSessions] = field(default_factory=dict)  # campaigns, bots
    demand_shifts: dict[str, DemandShift] = field(default_factory=dict)  # buyers drawn away
    checkout_failures: dict[str, CheckoutFailure] = field(default_factory=dict)  # outages
    treatments: dict[str, Treatment] = field(default_factory=dict)  # experiments' arms
    ranking_fallback: np.ndarray | None = None  # per category: slots a stale model serves
    pools_config: tuple[float, ...] = ()

    def install(self, effects: dict[str, Effects]) -> None:
        """Set every mechanism from this hour's effects, one entry per fault id (in id order,
        so that two faults on one knob resolve the same way in every branch)."""
        ordered = [(key, effects[key]) for key in sorted(effects)]

        def collect(name: str) -> dict[str, Any]:
            return {k: getattr(e, name) for k, e in ordered if getattr(e, name) is not None}

        self.latency.overlays = collect("latency")
        self.feed_transforms = collect("feed")
        self.calendar_overlays = collect("calendar")
        self.tracker.rules = collect("tracking")
        self.tracker.session_rules = collect("session_log")
        self.tracker.resend_rules = collect("resend")
        self.tracker.clock_rules = collect("clock")
        self.tracker.upload_rules = collect("upload")
        self.demand_shifts = collect("demand")
        self.checkout_failures = collect("checkout")
        self.treatments = collect("treatment")
        self.version_overrides = collect("version")
        self.extra_sessions = collect("extra")
        self.seller_incentive = sum(e.incentive for _, e in ordered)
        self.config = dict(self.config_defaults)
        for _, e in ordered:
            self.config.update(e.config)
        upgrades = [e.app_upgrade for _, e in ordered if e.app_upgrade is not None]
        if upgrades and self.app_minor_base is None:
            self.app_minor_base = self.world.users.app_minor.copy()
        if self.app_minor_base is not None:
            minor = self.app_minor_base.copy()
            for who, version in upgrades:
                minor[who] = version
            self.world.users.app_minor = minor
        self._install_prices([e.price for _, e in ordered if e.price is not None])
        self._install_supply([e.supply for _, e in ordered if e.supply is not None])
        shares = [e.ranking_fallback for _, e in ordered if e.ranking_fallback is not None]
        self.ranking_fallback = np.maximum.reduce(shares) if shares else None

    def _install_prices(self, multipliers: list[np.ndarray]) -> None:
        """Prices are the base prices times every active multiplier (rounded like list
        prices), so a change switched off leaves the base prices exactly."""
        items = self.world.items
        if multipliers and self.price_base is None:
            self.price_base = items.price.copy()
        if self.price_base is not None:
            factor = np.prod(multipliers, axis=0) if multipliers else 1.0
            items.price = np.round(self.price_base * factor, 1).astype(np.float32)

    def _install_supply(self, masks: list[np.ndarray]) -> None:
        """Items whose supply is cut have nothing on hand while it lasts (and are not restocked:
        see the sellers' day); sellers restock them once it is over."""
        self.supply_cut = np.logical_or.reduce(masks) if masks else None
        if self.supply_cut is not None:
            items = self.world.items
            items.stock = np.where(self.supply_cut, 0, items.stock).astype(np.int32)

    def refresh_pools(self) -> None:
        from sim.ranker import item_features

        pctr, pcvr = self.model.predict(item_features(self.snapshot, self.history))
        self.pools = build_pools(
            self.snapshot,
            pctr,
            pcvr,
            self.config,
            self.config["ranker.temperature"],
            self.config["ranker.exploration"],
        )
        if self.ranking_fallback is not None:  # the model server's fallback (a fault)
            from sim.ranker_fallback import with_fallback

            self.pools = with_fallback(
                self.pools, self.snapshot, self.history, self.ranking_fallback, self.config
            )
        self.pools_config = self._pool_key()

    def _pool_key(self) -> tuple[float, ...]:
        key = tuple(self.config[k] for k in sorted(self.config))
        if self.ranking_fallback is not None:
            key += (-1.0, *self.ranking_fallback.tolist())
        return key

    def pools_stale(self) -> bool:
        return self.pools_config != self._pool_key()


def initial_state(world: World) -> EngineState:
    snap = take_snapshot(world, 0, 0)
    history = History.empty(world.items.n)
    state = EngineState(
        world=world,
        history=history,
        log=TrainingLog(),
        model=Model(0),
        snapshot=snap,
        pools=None,  # type: ignore[arg-type]
    )
    state.refresh_pools()
    return state


@dataclass
class HourResult:
    """One simulated hour, handed to the sink."""

    period: Period
    hour: int
    batch: SessionBatch
    funnel: Funnel
    conditions: Conditions
    feed_api_version: str
    event_index: np.ndarray  # index into the funnel's event list (with duplicates)
    event_type: np.ndarray  # int8 per logged event
    event_ts: np.ndarray  # int64 seconds
    event_imp: np.ndarray  # impression index per logged event
    tracked_order: np.ndarray  # bool per session: a tracked order event exists
    ledger_order: np.ndarray  # bool per session: the ledger has an order
    # index into the batch: sessions whose user also logged a no-feed foreground (as a session)
    foregrounds: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    # index into the batch: sessions whose start a client logged twice (the same session id)
    resent: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


_SOURCE_CDF = SOURCE_SHARE.astype(np.float64).cumsum()
_SOURCE_CDF /= _SOURCE_CDF[-1]


def _search_sorted_first(cum: np.ndarray, needles: np.ndarray) -> np.ndarray:
    """`np.searchsorted(cum, needles, side="right")`, the needles searched in sorted order
    (each search then starts near the last one's answer; the answers are put back in place)."""
    by_value = np.argsort(needles)
    found = np.empty(len(needles), np.int64)
    found[by_value] = np.searchsorted(cum, needles[by_value], side="right")
    return found


EVENT_OFFSET_S = np.array([0, 40, 95, 130])  # click, add to cart, order, pay: after the view
# When a card is viewed: a feed page about every 25 s after the session starts, and within a
# page (PAGE_SIZE cards) each card 3 s after the one above (a user reads top to bottom).
PAGE_VIEW_S = 25
CARD_VIEW_S = 3
_EVENT_KINDS = tuple(np.dtype(t) for t in (np.int64, np.int8, np.int16, np.uint64, np.int64))


def _events(
    funnel: Funnel, batch: SessionBatch, counter: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Tracked client events (click, add_to_cart, order, pay; each a few seconds apart): the
    impression, type, session, client time and slot counter of each (compiled when the
    columns have the funnel's types; `_events_reference` otherwise)."""
    from sim import kernels

    masks = (funnel.clicked, funnel.carted, funnel.ordered, funnel.paid)
    columns = (funnel.imp_session, funnel.imp_page, funnel.imp_position, counter, batch.start_s)
    kinds = tuple(a.dtype for a in columns)
    covered = len(EVENT_OFFSET_S) >= len(masks)  # numba does not check bounds
    if covered and all(m.dtype == np.bool_ for m in masks) and kinds == _EVENT_KINDS:
        # contiguous copies of strided views (the kernel is compiled for C-order arrays only;
        # no copy for the funnel's own arrays)
        contiguous = [np.ascontiguousarray(a) for a in (*masks, *columns)]
        return kernels.hour_events(*contiguous, EVENT_OFFSET_S, PAGE_VIEW_S, CARD_VIEW_S, PAGE_SIZE)
    return _events_reference(funnel, batch, counter)


def _events_reference(
    funnel: Funnel, batch: SessionBatch, counter: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`_events` in numpy: the reference the compiled pass is tested against, and the path
    for columns of other types."""
    masks = (funnel.clicked, funnel.carted, funnel.ordered, funnel.paid)
    imp_idx = np.concatenate([np.flatnonzero(m) for m in masks])
    ev_type = np.concatenate([np.full(m.sum(), t, np.int8) for t, m in enumerate(masks)])
    sess = funnel.imp_session[imp_idx]
    ts = (
        batch.start_s[sess]
        + funnel.imp_page[imp_idx].astype(np.int64) * PAGE_VIEW_S
        + (funnel.imp_position[imp_idx] % PAGE_SIZE) * CARD_VIEW_S
        + EVENT_OFFSET_S[ev_type]
    )
    return imp_idx, ev_type, sess, ts, counter[imp_idx]


class Sink(Protocol):
    """Where a run's output goes: Parquet tables, or only the metrics (counterfactual runs)."""

    def hour(self, result: HourResult, state: EngineState) -> None: ...
    def rows(self, table: str, columns: dict[str, object]) -> None: ...
    def day_end(self, period: Period, day: date) -> None: ...


class NullSink:
    """Discards everything (the warm-up before a case)."""

    def hour(self, result: HourResult, state: EngineState) -> None:
        pass

    def rows(self, table: str, columns: dict[str, object]) -> None:
        pass

    def day_end(self, period: Period, day: date) -> None:
        pass


class Engine:
    """Runs one period of the world on a simpy clock, writing to a sink."""

    def __init__(
        self,
        state: EngineState,
        streams: Streams,
        period: Period,
        sink: Sink,
        faults: dict[str, FaultBase] | None = None,
        start_hour: int = 0,
        on_hour: Callable[[int], None] | None = None,
        luck: tuple[int, Streams] | None = None,
    ) -> None:
        self.state = state
        self.streams = streams
        # From this hour on, draws come from these streams (the case windows' luck).
        self.luck = luck if luck is not None and luck[0] > start_hour else None
        if luck is not None and self.luck is None:
            self.streams = luck[1]
        self.period = period
        self.sink = sink
        self.faults = dict(faults or {})
        self.on_hour = on_hour
        self.env = simpy.Environment(initial_time=start_hour)
        self.env.process(self._hours())

    def run(self, until_hour: int | None = None) -> None:
        end = self.period.days * 24 if until_hour is None else until_hour
        if self.luck is not None and self.env.now < self.luck[0] <= end:
            self.env.run(until=self.luck[0])  # every event before the luck hour, none at it
            self.streams = self.luck[1]
            self.luck = None
        if end > self.env.now:
            self.env.run(until=end)

    def fork(self, sink: Sink, faults: dict[str, FaultBase], share_state: bool = False) -> Engine:
        """A copy of this engine from the current hour on, with its own sink and faults.
        `share_state` hands over this engine's state instead of a copy (when no one else
        will run this engine again)."""
        return Engine(
            self.state if share_state else copy.deepcopy(self.state),
            self.streams,
            self.period,
            sink,
            faults,
            start_hour=round(self.env.now),
            on_hour=self.on_hour,
            luck=self.luck,
        )

    # ---- the hour, step by step -----------------------------------------------------------
    def _hours(self):
        """One simpy process: each hour runs HOURLY_STEPS in order, then the clock moves on."""
        while True:
            hour = round(self.env.now)
            for step in HOURLY_STEPS:
                if hour % step.every == step.at:
                    step.run(self, hour)
            yield self.env.timeout(1)

    def _day_start(self, hour: int) -> None:
        day = hour // 24
        self._seller_day(day)
        self._changelog_noise(day)

    def _feed_refresh(self, hour: int) -> None:
        state = self.state
        state.snapshot = take_snapshot(
            state.world, state.snapshot.version + 1, hour, state.feed_transforms
        )
        cols = snapshot_columns(state.snapshot)
        cols["taken_at"] = np.full(len(cols["item_id"]), self._ts(hour), "datetime64[s]")
        cols["category"] = cols["category"].astype(np.int8)
        self.sink.rows(f"feed_snapshots:{self.period.label}", cols)
        state.refresh_pools()

    def _retrain(self, hour: int) -> None:
        state = self.state
        model, report = retrain(
            state.model.version + 1, state.log, state.snapshot, state.history, state.model
        )
        if model.ctr is not None:
            state.model = model
            state.refresh_pools()
        self.sink.rows(
            "ranker_runs",
            {
                "period": [self.period.label],
                "trained_at": [self._ts(hour + RETRAIN_OFFSET)],
                "model_version": [state.model.version],
                "rows": [int(report["rows"])],
                "train_auc": [round(report["auc"], 6)],
                "deployed": [model.ctr is not None],
                "reward_click": [state.config["reward.click"]],
                "reward_conversion": [state.config["reward.conversion"]],
                "reward_price": [state.config["reward.price"]],
            },
        )

    def _fault_levels(self, hour: int) -> None:
        """Every fault's effects at this hour's level, installed in their mechanisms."""
        state = self.state
        when = self.period.time_of(hour)
        effects = {}
        for fid, fault in self.faults.items():
            level = fault.level_at(when)
            view = FaultView(
                state.world, state.snapshot, state.config_defaults,
                state.fault_memory.setdefault(fid, {}),
            )  # fmt: skip
            effects[fid] = fault.effects(level, fid, view)
            if level > 0 and fid not in state.announced:
                state.announced.add(fid)
                if fault.changelog:
                    self._log_injected(fid, fault)
        state.install(effects)
        if state.pools_stale():
            state.refresh_pools()

    def _traffic(self, hour: int) -> None:
        self._simulate_hour(hour)
        if self.on_hour is not None:
            self.on_hour(1)
        if hour % 24 == 23:
            self.sink.day_end(self.period, self.period.start + timedelta(days=hour // 24))

    # ---- mechanisms ---------------------------------------------------------------------
    def _ts(self, hour: float) -> np.datetime64:
        return np.datetime64(self.period.time_of(hour).replace(microsecond=0), "s")

    def _log_change(self, when: datetime, kind: str, service: str, title: str) -> None:
        if self.period.label != "current":
            return  # last year's change log is not part of the case
        self.sink.rows(
            "changelog",
            {
                "ts": [np.datetime64(when.replace(microsecond=0), "s")],
                "kind": [kind],
                "service": [service],
                "title": [title],
                "author": ["release-bot" if kind == "deploy" else "ops"],
            },
        )

    def _log_injected(self, fid: str, fault: FaultBase) -> None:
        """An injected change, logged in the form of an ordinary entry (sim/changelog.py)."""
        rng = self.streams.generator("changelog.injected", self.period.code, stream_key(fid))
        kind, service = fault.changelog_kind, fault.changelog_service
        title = templated_title(kind, service, fault.changelog or "", rng)
        self._log_change(logged_at(fault.at, rng), kind, service, title)

    def _changelog_noise(self, day: int) -> None:
        """Ordinary entries every change log carries: unrelated deploys, configs, campaigns."""
        rng = self.streams.generator("changelog.noise", self.period.code, day)
        for _ in range(rng.poisson(2.2)):
            hour = int(rng.integers(9, 22))
            when = self.period.time_of(day * 24 + hour) + timedelta(
                seconds=int(rng.integers(0, 3600))
            )
            roll = rng.random()
            if roll < 0.6:
                service = NOISE_SERVICES[rng.integers(len(NOISE_SERVICES))]
                if service == "feed-api":
                    major, minor, patch = self.state.feed_api_version
                    self.state.feed_api_version = (major, minor, patch + 1)
                    version = "v{}.{}.{}".format(*self.state.feed_api_version)
                else:
                    version = random_version(rng)
                self._log_change(when, "deploy", service, f"Deploy {service} {version}")
            elif roll < 0.85:
                service, key, change = NOISE_CONFIGS[rng.integers(len(NOISE_CONFIGS))]
                self._log_change(when, "config", service, f"Config {key}: {change}")
            else:
                theme = ("flash sale", "new-user coupons", "brand day", "free-shipping week")
                pick = theme[rng.integers(len(theme))]
                self._log_change(when, "campaign", "marketing", f"Campaign: {pick}")

    def _seller_day(self, day: int) -> None:
        """Sellers restock, and adjust clickbait listings to the platform's incentives."""
        world = self.state.world
        items, sellers = world.items, world.sellers
        rng = self.streams.generator("sellers", self.period.code, day)
        # Sellers size stock to recent sales (about two weeks of cover) and reorder when it runs
        # low; small shops are less reliable, so stock-outs happen, but not for weeks.
        daily_sales = self.state.history.orders * (1 - HISTORY_DECAY)
        target = np.maximum(items.stock_target, 14 * daily_sales).astype(np.int32)
        low = items.stock < 0.5 * target
        restock_p = np.where(sellers.shop_type[items.seller] == 0, 0.98, 0.92)
        restock = low & (rng.random(items.n) < restock_p)
        if self.state.supply_cut is not None:
            restock &= ~self.state.supply_cut
        items.stock = np.where(restock, target, items.stock).astype(np.int32)
        # Sellers move toward their habit plus whatever the platform's incentives reward.
        target = sellers.clickbait_habit + self.state.seller_incentive * 8.0
        drift = 0.3 * sellers.incentive_response * (target - sellers.clickbait)
        sellers.clickbait = np.clip(sellers.clickbait + drift, 0.0, 0.9).astype(np.float32)
        redraw = rng.random(items.n) < 0.15
        flag = rng.random(items.n) < sellers.clickbait[items.seller]
        items.clickbait = np.where(redraw, flag, items.clickbait)
        self.state.history.decay(HISTORY_DECAY)

    def _conditions(self, hour: int) -> tuple[Conditions, float]:
        """Behavioural conditions and the traffic factor for an hour (calendar + overlays)."""
        factors = calendar.day_factors(self.period.start + timedelta(days=hour // 24))
        intent, traffic, logistics = factors.intent, factors.traffic, factors.logistics
        for overlay in self.state.calendar_overlays.values():
            intent += overlay.intent
            traffic *= overlay.traffic
            logistics *= overlay.logistics
        demand = tuple(self.state.demand_shifts.values())
        cond = Conditions(
            intent=intent,
            logistics=logistics,
            demand=demand,
            checkout=tuple(self.state.checkout_failures.values()),
            treatments=tuple(self.state.treatments.values()),
        )
        return cond, traffic

    def _sample_sessions(self, hour: int, traffic: float) -> SessionBatch:
        users = self.state.world.users
        day_date = self.period.start + timedelta(days=hour // 24)
        scale = calendar.DIURNAL[hour % 24] * traffic / 24.0
        from sim import kernels  # the same sums, compiled (None: inputs of other types)

        cum = kernels.cumulative_rate(users.activity, users.signup, day_number(day_date), scale)
        if cum is None:
            active = users.signup <= day_number(day_date)
            cum = np.cumsum(users.activity * active * scale, dtype=np.float64)
        rng = self.streams.generator("traffic", self.period.code, hour)
        n = int(rng.poisson(cum[-1])) if len(cum) else 0
        user = _search_sorted_first(cum, rng.random(n) * cum[-1])
        user = np.minimum(user, len(cum) - 1)
        # = rng.choice(len(SOURCE_SHARE), size=n, p=SOURCE_SHARE): numpy's draw (one uniform
        # each, searched in the normalised cumulative shares) without its checks of p
        source = _SOURCE_CDF.searchsorted(rng.random(n), side="right").astype(np.int8)
        offset = rng.integers(0, 3600, n)
        order = np.argsort(offset.astype(np.int16), kind="stable")  # < 3600: a radix sort
        base = int((self.period.time_of(hour) - UNIX_EPOCH).total_seconds())
        keys = (
            (np.uint64(self.period.code) << np.uint64(39))
            | (np.uint64(hour) << np.uint64(20))
            | np.arange(n, dtype=np.uint64)
        )
        user = user[order].astype(np.int64)
        new_user = day_number(day_date) - users.signup[user] < NEW_USER_DAYS
        bot = np.zeros(n, bool)  # the users' own sessions: people
        batch = SessionBatch(keys, user, source[order], base + offset[order], new_user, bot)
        if self.state.extra_sessions:
            hour_key = (self.period.code << 39) | (hour << 20)
            today = day_number(day_date)
            added = added_sessions(
                self.state.extra_sessions, self.streams, users.signup, hour_key, hour, base,
                today, traffic,
            )  # fmt: skip
            if added is not None:
                batch = join(batch, added)
        return batch

    def _resent(self, batch: SessionBatch, logged_sessions: np.ndarray) -> np.ndarray:
        """Sessions whose start a resend rule logs twice: of those with no event logged."""
        if not self.state.tracker.resend_rules:
            return np.zeros(0, np.int64)
        users = self.state.world.users
        quiet = np.ones(len(batch.key), bool)
        quiet[logged_sessions] = False
        dims = {"platform": users.platform[batch.user], "app_minor": users.app_minor[batch.user]}
        return self.state.tracker.resent(self.streams, batch.key, dims, quiet)

    def _simulate_hour(self, hour: int) -> None:
        state = self.state
        cond, traffic = self._conditions(hour)
        batch = self._sample_sessions(hour, traffic)
        kept = sessions_kept(cond.demand, self.streams, state.world.users, batch.key, batch.user)
        if kept is not None:  # sessions drawn away to a competitor do not happen
            batch = SessionBatch(**{f: v if v is None else v[kept] for f, v in vars(batch).items()})
        funnel = simulate_sessions(
            batch, state.world, state.pools, state.latency, self.streams, cond
        )
        users = state.world.users
        # Tracked client events: click, add_to_cart, order, pay; each a few seconds apart.
        counter = funnel.imp_counter  # each impression's slot counter (the funnel's draws')
        assert counter is not None  # simulate_sessions always sets it
        imp_idx, ev_type, sess, ts, ctr = _events(funnel, batch, counter)
        u_ev = batch.user[sess]
        dims = {
            "platform": users.platform[u_ev],
            "app_minor": users.app_minor[u_ev],
            "city_tier": users.city_tier[u_ev],
        }
        queued = batch.key[sess] if state.tracker.upload_rules else None  # upload delays' keys
        logged, logged_ts = state.tracker.track(
            self.streams, ctr, ev_type, ts, dims, queued, self.period.export_cutoff
        )
        foregrounds = state.tracker.foregrounds(
            self.streams,
            batch.key,
            {"platform": users.platform[batch.user], "app_minor": users.app_minor[batch.user]}
            if state.tracker.session_rules
            else {},
        )
        n = len(batch.key)
        tracked_order = np.zeros(n, bool)
        tracked_order[sess[logged][ev_type[logged] == 2]] = True
        resent = self._resent(batch, sess[logged])
        ledger_order = np.zeros(n, bool)
        ledger_order[funnel.imp_session[funnel.ordered]] = True
        version = "v{}.{}.{}".format(*state.feed_api_version)
        for override in state.version_overrides.values():
            version = override
        result = HourResult(
            self.period,
            hour,
            batch,
            funnel,
            cond,
            version,
            logged,
            ev_type[logged],
            logged_ts,
            imp_idx[logged],
            tracked_order,
            ledger_order,
            foregrounds,
            resent,
        )
        self.sink.hour(result, state)
        # The world responds: stock sells down, the ranker's logs and history grow. What the
        # ranker learns from is the expected outcome of what it showed (the chance of a click
        # and of an order), not the coin flips: a learner fed single outcomes turns a branch's
        # few changed sessions into noise of the square-root size, which the feedback loop
        # compounds day after day (a placebo became a different world within a week).
        items = state.world.items
        sold = np.bincount(funnel.imp_item[funnel.ordered], minlength=items.n)
        items.stock = np.maximum(items.stock - sold, 0).astype(np.int32)
        if batch.bot is not None and batch.bot.any():
            funnel = human_impressions(funnel, batch.bot)
            counter = slot_counter(batch.key[funnel.imp_session], funnel.imp_position)
        hist = state.history
        expected_orders = funnel.p_click * funnel.p_order
        from sim import kernels  # the three bincounts in one pass (None: numpy's)

        counts = kernels.item_counts(funnel.imp_item, funnel.p_click, expected_orders, items.n)
        if counts is None:
            counts = (
                np.bincount(funnel.imp_item, minlength=items.n),
                np.bincount(funnel.imp_item, weights=funnel.p_click, minlength=items.n),
                np.bincount(funnel.imp_item, weights=expected_orders, minlength=items.n),
            )
        hist.impressions += counts[0]
        hist.clicks += counts[1]
        hist.orders += counts[2]
        keep = self.streams.uniform("ranker.log", counter) < log_rate(state.world.users.n)
        state.log.add(
            item=funnel.imp_item[keep],
            position=funnel.imp_position[keep],
            p_click=funnel.p_click[keep],
            p_order=funnel.p_order[keep],
        )


@dataclass(frozen=True)
class Step:
    """One step of the engine's hour: runs when hour % every == at."""

    name: str
    every: int
    at: int
    run: Callable[[Engine, int], None]


HOURLY_STEPS = (
    Step("sellers restock and adapt; the day's ordinary change-log entries", 24, 0,
         Engine._day_start),
    Step("the item feed publishes a snapshot; serving weights follow", FEED_REFRESH_HOURS, 0,
         Engine._feed_refresh),
    Step("the ranker retrains on the logged window", 24, RETRAIN_HOUR, Engine._retrain),
    Step("faults set their effects for the hour", 1, 0, Engine._fault_levels),
    Step("the hour's sessions run through the funnel", 1, 0, Engine._traffic),
)  # fmt: skip
