"""A tracking bug: the client stops reporting some events (a release broke a logging call).
The observed metric drops; the order ledger, and so the business, does not.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from sim.effects import NO_EFFECTS, Effects, FaultView
from sim.faults.base import FaultBase
from sim.tracking import TrackingRule


class TrackingBug(FaultBase):
    """The client stops reporting a share of one event type in its scope."""

    type: Literal["tracking_bug"] = "tracking_bug"
    event: Literal["click", "add_to_cart", "order", "pay"] = "order"
    drop: float = Field(default=0.6, gt=0, le=1, description="Share lost at full severity.")

    hit_set: ClassVar[tuple[str, ...]] = ("DATA",)
    evidence: ClassVar[str] = (
        "Tracked order events fall below the server-side order ledger from the onset, in the "
        "affected clients only."
    )
    changelog_service: ClassVar[str] = "tracking-sdk"
    scope_dimensions: ClassVar[frozenset[str]] = frozenset({"platform", "app_version", "city_tier"})

    def effects(self, level: float, key: str, view: FaultView) -> Effects:
        if level <= 0:
            return NO_EFFECTS
        return Effects(tracking=TrackingRule(self.event, self.scope.match(), self.drop * level))
