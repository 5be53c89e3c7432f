"""A traffic-mix shift: a campaign on one channel brings extra visits from new users.

New users hesitate to buy from a platform they do not know yet, and the channel's visitors
arrive with less purchase intent than organic ones, so the campaign's sessions convert less
than the average session; each segment converts as it did (new users like new users, the
channel like the channel), but there are more of the low-converting ones, and the total
falls. Its sessions come on top of the users' own, which they leave alone.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from sim.behavior import NEW_USER_DAYS, SOURCES
from sim.effects import NO_EFFECTS, Effects, ExtraSessions, FaultView
from sim.faults.base import FaultBase, Source
from sim.faults.bot_traffic import hourly_sessions
from sim.world import PLATFORMS, day_number


class TrafficMix(FaultBase):
    """Extra sessions from new users through one source (a paid or push campaign)."""

    type: Literal["traffic_mix"] = "traffic_mix"
    volume: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="The campaign's sessions at severity 1, as a share of the users' own.",
    )
    source: Source = Field(default="paid", description="The channel the campaign runs on.")

    hit_set: ClassVar[tuple[str, ...]] = ("MIX",)
    evidence: ClassVar[str] = (
        "The campaign's source and new users take a larger share of sessions from the onset; "
        "conversion within each source and tenure segment holds, so the fall is mix, not rate."
    )
    changelog_kind: ClassVar[str] = "campaign"
    changelog_service: ClassVar[str] = "marketing"
    scope_dimensions: ClassVar[frozenset[str]] = frozenset({"platform", "city_tier"})

    def effects(self, level: float, key: str, view: FaultView) -> Effects:
        if level <= 0:
            return NO_EFFECTS
        memory = view.memory
        if "users" not in memory:
            users = view.world.users
            # Users who are new at some point of the campaign (the engine takes those new
            # on the day), in the scope's segments.
            target = users.signup > day_number(self.at.date()) - NEW_USER_DAYS
            if self.scope.platform:
                codes = [PLATFORMS.index(p) for p in self.scope.platform]
                target &= np.isin(users.platform, codes)
            if self.scope.city_tier:
                target &= np.isin(users.city_tier, self.scope.city_tier)
            memory["users"] = np.flatnonzero(target).astype(np.int64)
            memory["hourly"] = hourly_sessions(users, self.at)
        extra = ExtraSessions(
            users=memory["users"],
            per_hour=level * self.volume * memory["hourly"],
            source=SOURCES.index(self.source),
            max_tenure_days=NEW_USER_DAYS,
        )
        return Effects(extra=extra)
