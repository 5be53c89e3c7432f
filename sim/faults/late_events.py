"""Late-arriving events: a client's tracking SDK holds a share of its sessions' events in its
upload queue (a batching or retry change), so they reach the collector hours or days late.

Nothing users do changes and the server-side order ledger does not move. The tables are the
export taken at a cutoff after the last day (sim/tracking.py EXPORT_CUTOFF_S): a held event
that arrives before it is in the events table with its late logged time, one that arrives
after it is not there at all. Tracked conversion therefore falls for that client in the
days before the export, the more the nearer the cutoff (a lost event's gap would be flat
from the onset), and its events sit many hours after their session's start.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from sim.effects import NO_EFFECTS, Effects, FaultView
from sim.faults.base import FaultBase
from sim.tracking import UploadDelayRule


class LateEvents(FaultBase):
    """The scope's clients upload a share of their sessions' events hours to days late."""

    type: Literal["late_events"] = "late_events"
    held: float = Field(
        default=0.8,
        gt=0,
        le=1,
        description="Share of the scope's sessions whose events wait in the upload queue, at "
        "severity 1.",
    )
    mean_delay_hours: float = Field(
        default=30.0,
        ge=1,
        le=240,
        description="Mean hours a held session's events wait before they arrive (lognormal: "
        "most within a day, a few days later). Those arriving after the export cutoff, 26 "
        "hours after the last day ends, are not in the tables.",
    )

    hit_set: ClassVar[tuple[str, ...]] = ("DATA",)
    evidence: ClassVar[str] = (
        "From the onset, the affected platform or app version's events arrive many hours "
        "after their session's start, and its tracked orders fall below the ledger's by a gap "
        "that widens toward the last day (events still in the upload queue at the export are "
        "missing); the ledger and what users do do not change."
    )
    changelog_service: ClassVar[str] = "tracking-sdk"
    scope_dimensions: ClassVar[frozenset[str]] = frozenset({"platform", "app_version"})

    def effects(self, level: float, key: str, view: FaultView) -> Effects:
        if level <= 0:
            return NO_EFFECTS
        rule = UploadDelayRule(self.scope.match(), self.held * level, self.mean_delay_hours * 3600)
        return Effects(upload=rule)
