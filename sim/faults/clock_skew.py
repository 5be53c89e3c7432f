"""A shifted client clock: one client's tracking SDK stamps its events with the device's
local time written as UTC (a time-zone bug), so they read hours off.

Only the events' logged times move. Nothing users do changes and no event is lost or added;
sessions keep the time the feed-api's server gave their first feed request (the requests
table's time). Conversion joins events to sessions by session id, so it does not move: the
fault is a logging oddity to rule out. It shows in the events table from the onset, in the
scope's clients only: events hours after (or before) their session's start, and an
hour-of-day profile of events shifted against the same client's sessions.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator

from sim.effects import NO_EFFECTS, Effects, FaultView
from sim.faults.base import FaultBase
from sim.tracking import ClockSkewRule


class ClockSkew(FaultBase):
    """The scope's clients stamp their events a whole number of hours off."""

    type: Literal["clock_skew"] = "clock_skew"
    hours: int = Field(
        default=8,
        ge=-14,
        le=14,
        description="Hours the events' logged time is off by (+8: a client in UTC+8 writing "
        "its local time as UTC). Any severity above 0 shifts by the full amount: a clock is "
        "off by whole hours or not at all.",
    )

    hit_set: ClassVar[tuple[str, ...]] = ("DATA",)
    evidence: ClassVar[str] = (
        "From the onset, the events of the affected platform or app version carry times hours "
        "away from their session's start (sessions and requests keep the server's time), and "
        "their hour-of-day profile is shifted against the same client's sessions; which "
        "events are logged, conversion and the ledger do not change."
    )
    changelog_service: ClassVar[str] = "tracking-sdk"
    scope_dimensions: ClassVar[frozenset[str]] = frozenset({"platform", "app_version"})

    @field_validator("hours")
    @classmethod
    def _nonzero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("hours must not be 0 (a clock off by no time is no fault)")
        return value

    def effects(self, level: float, key: str, view: FaultView) -> Effects:
        if level <= 0:
            return NO_EFFECTS
        return Effects(clock=ClockSkewRule(self.scope.match(), self.hours * 3600))
