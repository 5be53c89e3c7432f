"""Demand drawn away from the platform: a competitor's campaign, as the engine applies it.

A `DemandShift` names the buyers it reaches (user dimensions, and the categories it sells)
and how strongly: their purchase intent for those categories falls (they buy elsewhere) and
a share of their sessions does not happen at all. Nothing on the platform changes: prices,
stock, latency and ranking are as they were, which is how an analyst tells it apart.
Both parts are keyed by the session (and item), so a branch without a shift draws nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from sim.rng import Streams
from sim.world import N_CAT, Users


@dataclass(frozen=True)
class DemandShift:
    """Who a competitor's campaign reaches and how much of their demand it takes."""

    match: dict[str, tuple[int, ...]]  # user dimension -> codes (city_tier, platform)
    categories: tuple[int, ...]  # the categories it sells; empty: all
    intent: float  # added to the purchase logit of matching buyers on those categories (<= 0)
    skip: float  # share of matching buyers' sessions that go to the competitor instead


def _reached(shift: DemandShift, users: Users, user: np.ndarray) -> np.ndarray:
    hit = np.ones(len(user), bool)
    for dim, codes in shift.match.items():
        hit &= np.isin(getattr(users, dim)[user], codes)
    return hit


def _category_weight(shift: DemandShift, users: Users, user: np.ndarray) -> np.ndarray:
    """How much of each user's browsing is in the shift's categories (1 when it sells all)."""
    if not shift.categories or len(shift.categories) == N_CAT:
        return np.ones(len(user))
    return np.isin(users.category_slots[user], shift.categories).mean(axis=1)


def sessions_kept(
    shifts: Iterable[DemandShift], streams: Streams, users: Users, key: np.ndarray, user: np.ndarray
) -> np.ndarray | None:
    """Which sampled sessions still happen (None when no shift is active: no draws)."""
    shifts = list(shifts)
    if not shifts:
        return None
    stay = np.ones(len(key))
    for shift in shifts:
        p = shift.skip * _category_weight(shift, users, user) * _reached(shift, users, user)
        stay *= 1.0 - p
    return streams.uniform("demand.skip", key) < stay


def intent_offset(
    shifts: Iterable[DemandShift], users: Users, user: np.ndarray, category: np.ndarray
) -> np.ndarray | float:
    """The purchase-logit change per (buyer, item category) pair; 0.0 with no shift."""
    out: np.ndarray | float = 0.0
    for shift in shifts:
        cats = shift.categories or tuple(range(N_CAT))
        out = out + shift.intent * (_reached(shift, users, user) & np.isin(category, cats))
    return out
