"""A metric-definition change: the session pipeline starts counting app foregrounds that
open no feed page, for some clients (an app version on, or one platform).

Nothing users do changes. The sessions table gains rows with no pages from the onset, in
the scope's clients only, so feed session conversion falls there because its denominator
grew: at full strength `extra` foregrounds are logged per feed session. The pipeline change
is in the change log; the ledger's orders and every per-page rate hold.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from sim.effects import NO_EFFECTS, Effects, FaultView
from sim.faults.base import FaultBase
from sim.tracking import SessionLogRule


class MetricDefinition(FaultBase):
    """The session pipeline logs no-feed foregrounds of the scope's clients as sessions."""

    type: Literal["metric_definition"] = "metric_definition"
    extra: float = Field(
        default=0.3,
        gt=0,
        le=1,
        description="No-feed foregrounds logged per feed session of a scoped client at severity 1.",
    )

    hit_set: ClassVar[tuple[str, ...]] = ("DEF",)
    evidence: ClassVar[str] = (
        "Sessions per user and the share of sessions with no feed page step up from the onset "
        "in the affected app versions or platform; orders, clicks and pages per session with "
        "a page hold, and the pipeline change is in the change log."
    )
    changelog_kind: ClassVar[str] = "config"
    changelog_service: ClassVar[str] = "tracking-sdk"
    scope_dimensions: ClassVar[frozenset[str]] = frozenset({"platform", "app_version"})

    def effects(self, level: float, key: str, view: FaultView) -> Effects:
        if level <= 0:
            return NO_EFFECTS
        return Effects(session_log=SessionLogRule(self.scope.match(), self.extra * level))
