"""The calendar: diurnal, weekly and festival patterns that shape traffic and intent.

Festivals act on mechanisms: traffic (how often users come), intent (how ready they are to
buy) and logistics (whether sellers ship, so whether an order is worth placing). The calendar
table lists the events by name and date; how strongly they act is the model's latent truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

# Sessions per hour of day, relative (evening peak 20-22h, lunch bump, night trough).
DIURNAL = np.array(
    [0.35, 0.2, 0.12, 0.08, 0.07, 0.1, 0.25, 0.55, 0.8, 0.85, 0.9, 0.95,
     1.15, 1.05, 0.9, 0.88, 0.9, 0.95, 1.05, 1.3, 1.65, 1.85, 1.6, 0.9],
)  # fmt: skip
DIURNAL = DIURNAL / DIURNAL.mean()
# Monday..Sunday traffic.
WEEKLY = np.array([0.96, 0.95, 0.96, 0.98, 1.02, 1.08, 1.05])
WEEKLY = WEEKLY / WEEKLY.mean()

SPRING_FESTIVAL = {
    2024: date(2024, 2, 10), 2025: date(2025, 1, 29), 2026: date(2026, 2, 17),
    2027: date(2027, 2, 6), 2028: date(2028, 1, 26), 2029: date(2029, 2, 13),
    2030: date(2030, 2, 3),
}  # fmt: skip


@dataclass(frozen=True)
class DayFactors:
    """How one day's calendar acts on the mechanisms (multipliers, 1 = ordinary day)."""

    traffic: float = 1.0
    intent: float = 0.0  # added to the purchase logit
    logistics: float = 1.0  # probability that an intended order is placed (shipping works)
    events: tuple[str, ...] = ()


@dataclass(frozen=True)
class CalendarOverlay:
    """An extra calendar effect installed by a seasonality fault."""

    intent: float = 0.0
    traffic: float = 1.0
    logistics: float = 1.0


@dataclass(frozen=True)
class Festival:
    name: str
    day: date
    before_days: int
    after_days: int
    peak_traffic: float
    peak_intent: float
    before_intent: float  # waiting for the festival: browsing, carting, not buying
    after_traffic: float  # the hangover
    after_intent: float


def festivals(year: int) -> list[Festival]:
    out = [
        Festival("Double 11", date(year, 11, 11), 21, 7, 2.4, 0.9, -0.35, 0.88, -0.3),
        Festival("618", date(year, 6, 18), 14, 5, 1.8, 0.6, -0.2, 0.92, -0.15),
        Festival("Double 12", date(year, 12, 12), 5, 3, 1.4, 0.35, -0.1, 0.96, -0.08),
    ]
    return out


def day_factors(day: date) -> DayFactors:
    """The calendar's effect on one day."""
    traffic, intent, logistics = 1.0, 0.0, 1.0
    events: list[str] = []
    for fest in festivals(day.year):
        delta = (day - fest.day).days
        if delta == 0:
            traffic *= fest.peak_traffic
            intent += fest.peak_intent
            events.append(fest.name)
        elif -fest.before_days <= delta < 0:
            ramp = 1.0 - (-delta - 1) / fest.before_days
            traffic *= 1.0 + 0.15 * ramp
            intent += fest.before_intent * ramp
            events.append(f"{fest.name} pre-sale")
        elif 0 < delta <= fest.after_days:
            traffic *= fest.after_traffic
            intent += fest.after_intent * (1.0 - (delta - 1) / fest.after_days)
            events.append(f"after {fest.name}")
    spring = SPRING_FESTIVAL.get(day.year)
    if spring is not None:
        delta = (day - spring).days
        if -10 <= delta <= 7:
            logistics = 0.72 if -4 <= delta <= 5 else 0.88
            traffic *= 0.9
            events.append("Spring Festival logistics pause")
    if day.day in (10, 15):
        intent += 0.06
        events.append("payday")
    traffic *= WEEKLY[day.weekday()]
    return DayFactors(traffic, intent, logistics, tuple(events))


def reference_start(start: date, days: int, reference_days: int) -> date:
    """Last year's reference weeks: the same weekdays, 364 days before the period's end."""
    end = start + timedelta(days=days)
    return end - timedelta(days=364 + reference_days)


def calendar_rows(days: list[date], period: str) -> dict[str, list[object]]:
    """Rows of the calendar table for a list of days."""
    rows: dict[str, list[object]] = {"date": [], "period": [], "weekday": [], "events": []}
    for day in days:
        rows["date"].append(day)
        rows["period"].append(period)
        rows["weekday"].append(day.strftime("%a"))
        rows["events"].append(", ".join(day_factors(day).events))
    return rows
