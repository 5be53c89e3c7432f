"""Checkout failures for some clients: a payment or checkout outage, as the funnel applies it.

A `CheckoutFailure` names the clients it hits (platform, app version) and how often their
checkout fails. A failed checkout either never becomes an order (the submit call errors and
the buyer gives up) or leaves an order whose payment did not go through (unpaid). Browsing,
clicks and carts are untouched. One keyed draw per clicked impression decides both, and only
while a failure is active: a branch without one draws nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sim.rng import Streams
from sim.world import Users


@dataclass(frozen=True)
class CheckoutFailure:
    """Which clients' checkouts fail, and how."""

    match: dict[str, tuple[int, ...]]  # user dimension -> codes (platform, app_minor)
    fail: float  # chance that a matching buyer's checkout fails
    unpaid: float  # share of failed checkouts that still leave an (unpaid) order


def _hit(rule: CheckoutFailure, users: Users, user: np.ndarray) -> np.ndarray:
    hit = np.ones(len(user), bool)
    for dim, codes in rule.match.items():
        hit &= np.isin(getattr(users, dim)[user], codes)
    return hit


def failure_chances(
    rules: Sequence[CheckoutFailure], users: Users, user: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per buyer: the chance the order is lost, and the chance the checkout fails at all
    (lost <= failed, so one uniform draw decides both)."""
    keep_order = np.ones(len(user))
    keep_checkout = np.ones(len(user))
    for rule in rules:
        hit = _hit(rule, users, user)
        keep_order *= 1.0 - rule.fail * (1.0 - rule.unpaid) * hit
        keep_checkout *= 1.0 - rule.fail * hit
    return 1.0 - keep_order, 1.0 - keep_checkout


def checkout_outcomes(
    rules: Sequence[CheckoutFailure],
    streams: Streams,
    users: Users,
    user: np.ndarray,
    counters: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Per clicked impression (its buyer and slot counter): order lost, payment failed."""
    lost_p, failed_p = failure_chances(rules, users, user)
    u = streams.uniform("checkout.fail", counters)
    return u < lost_p, u < failed_p
