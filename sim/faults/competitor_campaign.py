"""A competitor's campaign draws a segment away: its buyers shop elsewhere.

The buyers it reaches (a city tier or platform, and the categories it sells) lose purchase
intent on the platform for those categories, and a share of their sessions never happens: at
full strength their cart logit falls by `intent_drop` and `skip` of their sessions go to the
competitor. The platform's own prices, stock, latency and ranking are untouched, so the fall
in conversion sits in one segment with nothing on the platform's side to explain it.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from sim.demand import DemandShift
from sim.effects import NO_EFFECTS, Effects, FaultView
from sim.faults.base import FaultBase


class CompetitorCampaign(FaultBase):
    """Buyers in the scope buy some of what they would have bought here elsewhere."""

    type: Literal["competitor_campaign"] = "competitor_campaign"
    intent_drop: float = Field(
        default=1.0, gt=0, le=3, description="Purchase-logit fall of reached buyers at severity 1."
    )
    skip: float = Field(
        default=0.25,
        ge=0,
        le=0.9,
        description="Share of reached buyers' sessions that do not happen at severity 1.",
    )

    hit_set: ClassVar[tuple[str, ...]] = ("COMP",)
    evidence: ClassVar[str] = (
        "Conversion and sessions fall in one segment (a city tier, or buyers of some "
        "categories) from the onset, while prices, stock, latency and the ranker there hold "
        "and no change of the platform's explains it."
    )
    changelog_kind: ClassVar[str] = "campaign"
    changelog_service: ClassVar[str] = "marketing"
    scope_dimensions: ClassVar[frozenset[str]] = frozenset({"city_tier", "platform", "category"})

    def effects(self, level: float, key: str, view: FaultView) -> Effects:
        if level <= 0:
            return NO_EFFECTS
        match = {k: v for k, v in self.scope.match().items() if k in ("city_tier", "platform")}
        shift = DemandShift(
            match, self.scope.category_codes(), -self.intent_drop * level, self.skip * level
        )
        return Effects(demand=shift)
