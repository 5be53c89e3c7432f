"""Duplicated events: a client's tracking SDK re-sends the session-start event of sessions
that logged nothing else (its retry queue re-sends a batch holding only the session start,
although the server took it the first time).

Nothing users do changes and no event is lost. The sessions table gains exact copies of
quiet sessions' rows (the same session id, client time and segment) from the onset, in the
scope's clients only; conversion computed over session rows falls because its denominator
grew with sessions that never order. Counting distinct session ids undoes it; the ledger's
orders hold.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from sim.effects import NO_EFFECTS, Effects, FaultView
from sim.faults.base import FaultBase
from sim.tracking import ResendRule


class EventDuplication(FaultBase):
    """The scope's clients log the start of a share of their quiet sessions twice."""

    type: Literal["event_duplication"] = "event_duplication"
    resend: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Share of sessions with no other logged event whose start is logged twice, "
        "at severity 1.",
    )

    hit_set: ClassVar[tuple[str, ...]] = ("DATA",)
    evidence: ClassVar[str] = (
        "From the onset, the sessions table holds session ids twice (identical rows, none of "
        "them with a click), in the affected platform or app version only; sessions per user "
        "rise there while distinct session ids, orders and the ledger do not."
    )
    changelog_service: ClassVar[str] = "tracking-sdk"
    scope_dimensions: ClassVar[frozenset[str]] = frozenset({"platform", "app_version"})

    def effects(self, level: float, key: str, view: FaultView) -> Effects:
        if level <= 0:
            return NO_EFFECTS
        return Effects(resend=ResendRule(self.scope.match(), self.resend * level))
