"""Bot traffic: a crawler logs in with a handful of freshly registered accounts and pages
through the feed around the clock.

Its sessions come on top of the users' own (which they leave alone) and count as feed
sessions, so conversion falls while orders hold. They are easy to tell once looked for: a few
brand-new accounts with dozens of sessions a day each, all on one kind of client (Android, a
mid-range device on wifi), every session fetching every feed page and never clicking, evenly
spaced through the day and the night. The ranker's training pipeline filters known crawlers,
so what users are shown does not change.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from sim.behavior import SOURCES
from sim.effects import NO_EFFECTS, Effects, ExtraSessions, FaultView
from sim.faults.base import FaultBase, Source, stable_share
from sim.world import DEVICES, NETWORKS, PLATFORMS, Users, day_number

SIGNED_UP_WITHIN_DAYS = 21  # the bot's accounts were registered this close to its start
PROFILE = {"platform": PLATFORMS.index("android"), "device": DEVICES.index("mid"),
           "network": NETWORKS.index("wifi")}  # fmt: skip


def hourly_sessions(users: Users, when: datetime) -> float:
    """The users' own sessions in an average hour of that day (before the calendar)."""
    active = users.signup <= day_number(when.date())
    return float(users.activity[active].sum()) / 24.0


class BotTraffic(FaultBase):
    """Crawler sessions from a few new accounts: every page, no clicks, around the clock."""

    type: Literal["bot_traffic"] = "bot_traffic"
    volume: float = Field(
        default=0.2,
        gt=0,
        le=1,
        description="Bot sessions at severity 1, as a share of the users' own sessions.",
    )
    accounts: int = Field(
        default=30,
        ge=1,
        le=500,
        description="At most this many accounts (fewer if the world "
        "has fewer new Android/mid-range/wifi accounts).",
    )
    source: Source = Field(default="share", description="The source the bot's sessions report.")

    hit_set: ClassVar[tuple[str, ...]] = ("BOT",)
    evidence: ClassVar[str] = (
        "Sessions rise while orders hold. A few brand-new accounts (one platform, device and "
        "network) have dozens of sessions a day each, evenly spaced day and night, every one "
        "fetching every feed page with no click; their source's share of sessions rises."
    )
    scope_dimensions: ClassVar[frozenset[str]] = frozenset()

    def effects(self, level: float, key: str, view: FaultView) -> Effects:
        if level <= 0:
            return NO_EFFECTS
        memory = view.memory
        if "accounts" not in memory:
            memory["accounts"] = self.bot_accounts(view.world.users, key)
            memory["hourly"] = hourly_sessions(view.world.users, self.at)
        extra = ExtraSessions(
            users=memory["accounts"],
            per_hour=level * self.volume * memory["hourly"],
            source=SOURCES.index(self.source),
            bot=True,
        )
        return Effects(extra=extra)

    def bot_accounts(self, users: Users, key: str) -> np.ndarray:
        """The accounts it logs in as: new ones on one kind of client, a fixed pick per id."""
        onset = day_number(self.at.date())
        fresh = (users.signup <= onset) & (users.signup > onset - SIGNED_UP_WITHIN_DAYS)
        match = fresh.copy()
        for dim, code in PROFILE.items():
            match &= getattr(users, dim) == code
        ids = np.flatnonzero(match)
        if len(ids) == 0:  # a tiny world: any new account
            ids = np.flatnonzero(fresh)
        order = np.argsort(stable_share(key, ids), kind="stable")
        return ids[order[: self.accounts]].astype(np.int64)
