"""A reward-policy shift toward clicks: the ranker's objective weights move from conversion
to click-through, and the platform's seller incentives reward clicks, so sellers adopt
clickbait listings over the following days. CTR holds or rises; add-to-cart and conversion fall.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from sim.effects import NO_EFFECTS, Effects, FaultView
from sim.faults.base import FaultBase


class RewardShift(FaultBase):
    """The reward policy (and seller incentives) move from conversion toward clicks."""

    type: Literal["reward_shift"] = "reward_shift"
    click_weight: float = Field(
        default=1.8, ge=0, le=5, description="reward.click at full severity"
    )
    conversion_weight: float = Field(
        default=0.15, ge=0, le=5, description="reward.conversion at full severity"
    )
    seller_incentive: float = Field(
        default=0.05, ge=0, le=0.5, description="Daily pull toward clickbait at full severity."
    )

    hit_set: ClassVar[tuple[str, ...]] = ("RANK",)
    evidence: ClassVar[str] = (
        "The ranker's retrain history shows the reward weights moving toward clicks; CTR "
        "holds or rises while add-to-cart per click and conversion fall, across all segments."
    )
    changelog_service: ClassVar[str] = "ranker"

    def effects(self, level: float, key: str, view: FaultView) -> Effects:
        if level <= 0:
            return NO_EFFECTS
        base = view.config_defaults
        click, conv = base["reward.click"], base["reward.conversion"]
        weights = {
            "reward.click": click + (self.click_weight - click) * level,
            "reward.conversion": conv + (self.conversion_weight - conv) * level,
        }
        return Effects(config=weights, incentive=self.seller_incentive * level)
