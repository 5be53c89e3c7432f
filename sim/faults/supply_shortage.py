"""A supply shortage: a warehouse or a group of sellers stops supplying some categories.

A share of the scope's items (the severity) has nothing on hand while the shortage lasts and
is not restocked. The feed's stock flag follows at its next refresh, so the ranker demotes
those items, but until then (and for buyers who find them anyway) clicks end on a sold-out
page; carts and orders fall in the scope while traffic holds.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np

from sim.effects import NO_EFFECTS, Effects, FaultView
from sim.faults.base import FaultBase, stable_share


class SupplyShortage(FaultBase):
    """A share of the scope's items cannot be supplied: out of stock, no restock."""

    type: Literal["supply_shortage"] = "supply_shortage"

    hit_set: ClassVar[tuple[str, ...]] = ("SUPPLY",)
    evidence: ClassVar[str] = (
        "The share of in-stock items in the affected categories falls in the feed snapshots "
        "from the onset; carts and orders fall there while sessions and clicks elsewhere hold."
    )
    changelog_kind: ClassVar[str] = "config"
    changelog_service: ClassVar[str] = "item-detail"  # stock shows on the item page
    scope_dimensions: ClassVar[frozenset[str]] = frozenset({"category"})

    def effects(self, level: float, key: str, view: FaultView) -> Effects:
        if level <= 0:
            return NO_EFFECTS
        items = view.world.items
        in_scope = self.scope.items_in_scope(items.category)
        return Effects(supply=in_scope & (stable_share(key, np.arange(items.n)) < level))
