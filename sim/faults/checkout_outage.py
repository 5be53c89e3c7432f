"""A checkout outage: the payment step fails for some clients (one platform, or an app
version on it) for some hours or days.

Buyers there browse, click and add to cart as before; at checkout a share of attempts fail.
Most failed attempts never become an order (the submit call errors and the buyer gives up);
the rest leave an order whose payment did not go through (unpaid in the ledger, no pay
event). So conversion falls in the scope only, orders per add-to-cart fall there, and the
ledger's paid share of orders falls there, while clicks and carts hold. The change log may
carry an ordinary-looking platform config entry (payment routing, say) near the onset.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from sim.checkout import CheckoutFailure
from sim.effects import NO_EFFECTS, Effects, FaultView
from sim.faults.base import FaultBase


class CheckoutOutage(FaultBase):
    """Checkouts of the scope's clients fail: orders lost, or placed and left unpaid."""

    type: Literal["checkout_outage"] = "checkout_outage"
    fail: float = Field(
        default=0.6,
        gt=0,
        le=1,
        description="Share of the scope's checkouts that fail at severity 1.",
    )
    unpaid: float = Field(
        default=0.3,
        ge=0,
        lt=1,
        description="Share of failed checkouts that still leave an order, unpaid "
        "(the rest never become an order).",
    )

    hit_set: ClassVar[tuple[str, ...]] = ("PLATFORM",)
    evidence: ClassVar[str] = (
        "Conversion and orders per add-to-cart fall in one platform or app version from the "
        "onset, while clicks and add-to-carts there hold; the ledger's share of unpaid orders "
        "rises there (fewer pay events per order), and latency, prices, stock and the feed are "
        "unchanged."
    )
    changelog_kind: ClassVar[str] = "config"
    changelog_service: ClassVar[str] = "platform"  # payment routing, among ordinary configs
    scope_dimensions: ClassVar[frozenset[str]] = frozenset({"platform", "app_version"})

    def effects(self, level: float, key: str, view: FaultView) -> Effects:
        if level <= 0:
            return NO_EFFECTS
        rule = CheckoutFailure(self.scope.match(), self.fail * level, self.unpaid)
        return Effects(checkout=rule)
