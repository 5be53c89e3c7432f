"""A price change: a promotion ends, or a fee is passed on to buyers, in some categories.

Prices of the scope's items rise by `rise` at full strength. Buyers are price sensitive (more
so in lower-tier cities), so fewer clicks turn into carts there; clicks hardly move, because
the feed shows the same items. The feed snapshots carry the new prices from the next refresh,
which is where an analyst sees it: median prices by category step up at the onset.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from sim.effects import NO_EFFECTS, Effects, FaultView
from sim.faults.base import FaultBase


class PriceChange(FaultBase):
    """Prices in the scope's categories rise by `rise` times the level."""

    type: Literal["price_change"] = "price_change"
    rise: float = Field(
        default=0.4, gt=0, le=2, description="Fractional price rise at severity 1 (0.4: +40%)."
    )

    hit_set: ClassVar[tuple[str, ...]] = ("PRICE",)
    evidence: ClassVar[str] = (
        "Median prices in the affected categories step up in the feed snapshots at the onset; "
        "add-to-cart per click falls there (most in price-sensitive, lower-tier cities) while "
        "click-through holds."
    )
    changelog_kind: ClassVar[str] = "config"
    changelog_service: ClassVar[str] = "coupon-service"
    scope_dimensions: ClassVar[frozenset[str]] = frozenset({"category"})

    def effects(self, level: float, key: str, view: FaultView) -> Effects:
        if level <= 0:
            return NO_EFFECTS
        items = view.world.items
        in_scope = self.scope.items_in_scope(items.category)
        return Effects(price=np.where(in_scope, 1.0 + self.rise * level, 1.0))
