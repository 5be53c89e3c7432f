"""The ranker falls back to a stale model: the ranking service cannot load its current model
for a share of feed requests and serves them with the model it ships with (version 0, the
hand-set cold-start model; sim/ranker_fallback.py).

That model ranks by listing attributes (image, title, seller rating, price) and the logged
history, with none of what the daily retrains learned about which items sell. The slots it
serves go to items that look good on the card more than to items that sell, so add-to-cart
per click falls (and CTR slips a little), in the scope's categories, on every platform and
city tier alike. The retrains go on and are logged as deployed, and the reward weights do not move:
the policy is the same, the model serving it is not (unlike a reward-policy shift, whose
weights move and whose sellers turn to clickbait over the following days).
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from sim.effects import NO_EFFECTS, Effects, FaultView
from sim.faults.base import FaultBase
from sim.world import N_CAT


class StaleRanker(FaultBase):
    """A share of the feed's slots is served by the ranker's stale cold-start model."""

    type: Literal["stale_ranker"] = "stale_ranker"
    slots: float = Field(
        default=0.6,
        gt=0,
        le=1,
        description="Share of the scope's feed slots the stale model serves at severity 1.",
    )

    hit_set: ClassVar[tuple[str, ...]] = ("RANK",)
    evidence: ClassVar[str] = (
        "From the onset add-to-cart per click (and a little CTR) and conversion fall in the "
        "affected categories, on every platform and city tier; the feed shows more items with "
        "eye-catching cards and fewer that sell. Latency, prices, stock, the feed's attributes "
        "and the ranker's reward weights are unchanged, and the retrains keep deploying."
    )
    changelog_kind: ClassVar[str] = "deploy"
    changelog_service: ClassVar[str] = "ranker"
    scope_dimensions: ClassVar[frozenset[str]] = frozenset({"category"})

    def effects(self, level: float, key: str, view: FaultView) -> Effects:
        if level <= 0:
            return NO_EFFECTS
        share = np.zeros(N_CAT)
        share[list(self.scope.category_codes()) or list(range(N_CAT))] = self.slots * level
        return Effects(ranking_fallback=share)
