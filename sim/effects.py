"""What a fault does to the world, as data: the one protocol between faults and the engine.

A fault never touches the engine's state. Every hour the engine asks each fault for its
`Effects` at that hour's level (0 when it is off) and installs them under the fault's id in
the mechanisms they name; what a fault no longer sets is removed. A fault switched off
therefore leaves every mechanism exactly as it would have been, and a new fault type fills
in only the fields of the mechanism it acts on:

    latency     a LatencyOverlay: slower or failing requests where it matches
    feed        a FeedTransform: what the item-feed pipeline publishes to the ranker
    config      serving-configuration values (ranker temperature, reward weights, ...)
    calendar    a CalendarOverlay: intent, traffic and logistics of the days it covers
    tracking    a TrackingRule: client events lost where it matches
    version     the feed-api version the requests report
    incentive   the click reward sellers perceive (they chase it with clickbait over days)
    app_upgrade users moved to a new app version (mask of users, minor version)
    price       a price multiplier per item (a promotion ends, a fee is passed on)
    supply      a mask of items whose supply is cut: no stock on hand, no restock
    extra       ExtraSessions: sessions added to the hour from a set of users through one
                source (a campaign's visitors; or bots: every page, no clicks)
    demand      a DemandShift: a segment's buyers drawn away (lower intent, fewer sessions)
    session_log a SessionLogRule: which clients' no-feed foregrounds are logged as sessions
    resend      a ResendRule: which clients log quiet sessions' starts twice (same session id)
    clock       a ClockSkewRule: which clients stamp their events hours off (a time-zone bug)
    upload      an UploadDelayRule: which clients' events wait hours in the SDK's upload queue
                (those arriving after the export cutoff are not in the tables)
    checkout    a CheckoutFailure: which clients' checkouts fail (orders lost or left unpaid)
    treatment   a Treatment: an experiment's treatment-arm users buy less while it runs
    ranking_fallback  a share per category of feed slots the ranker serves with its
                bundled cold-start model instead of the retrained one (sim/ranker_fallback.py)

Faults read the world through `FaultView` and keep what they must remember (the stock flags
at onset, say) in its `memory`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sim.calendar import CalendarOverlay
from sim.checkout import CheckoutFailure
from sim.demand import DemandShift
from sim.experiments import Treatment
from sim.feed import FeedTransform, Snapshot
from sim.latency import LatencyOverlay
from sim.tracking import (
    ClockSkewRule,
    ResendRule,
    SessionLogRule,
    TrackingRule,
    UploadDelayRule,
)
from sim.world import World


@dataclass(frozen=True)
class ExtraSessions:
    """Sessions a fault adds to the hour on top of the users' own, which it leaves alone."""

    users: np.ndarray  # int64 user indices the sessions come from
    per_hour: float  # expected sessions an hour (a day's average: humans follow the clock)
    source: int  # index into SOURCES
    bot: bool = False  # automated: every page, no clicks, evenly spaced, accounts in turn
    max_tenure_days: int | None = None  # only users signed up fewer days ago than this


@dataclass(frozen=True)
class Effects:
    """A fault's settings of the mechanisms for one hour; empty when it is off."""

    latency: LatencyOverlay | None = None
    feed: FeedTransform | None = None
    config: Mapping[str, float] = field(default_factory=dict)
    calendar: CalendarOverlay | None = None
    tracking: TrackingRule | None = None
    version: str | None = None
    incentive: float = 0.0
    app_upgrade: tuple[np.ndarray, int] | None = None
    price: np.ndarray | None = None
    supply: np.ndarray | None = None
    extra: ExtraSessions | None = None
    demand: DemandShift | None = None
    session_log: SessionLogRule | None = None
    resend: ResendRule | None = None
    clock: ClockSkewRule | None = None
    upload: UploadDelayRule | None = None
    checkout: CheckoutFailure | None = None
    treatment: Treatment | None = None
    ranking_fallback: np.ndarray | None = None  # float per category, 0..1


NO_EFFECTS = Effects()


@dataclass(frozen=True)
class FaultView:
    """What a fault may read to compute its effects (it must not change any of it)."""

    world: World
    snapshot: Snapshot
    config_defaults: Mapping[str, float]
    memory: dict[str, Any]  # this fault's own, kept across hours
