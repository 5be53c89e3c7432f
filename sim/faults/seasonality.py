"""A calendar effect: a recurring event that changes how people shop. It acts in last year's
reference weeks too (on the same weekdays), which is how a candidate can tell it apart.

Modes (severity scales the effect):
- pre_festival_waiting: people browse and wait for an upcoming sale (intent falls);
- post_festival_hangover: after a sale, fewer visits and less buying;
- logistics_pause: couriers pause, so fewer intended orders are placed.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from sim.calendar import CalendarOverlay
from sim.effects import NO_EFFECTS, Effects, FaultView
from sim.faults.base import FaultBase

EFFECTS = {  # intent (logit), traffic (factor), logistics (factor) at full severity
    "pre_festival_waiting": (-0.55, 1.05, 1.0),
    "post_festival_hangover": (-0.4, 0.9, 1.0),
    "logistics_pause": (0.0, 0.97, 0.55),
}


class Seasonality(FaultBase):
    """A recurring calendar event that changes intent, traffic or logistics."""

    type: Literal["seasonality"] = "seasonality"
    mode: Literal["pre_festival_waiting", "post_festival_hangover", "logistics_pause"]
    name: str = Field(
        min_length=1, max_length=60, description="The event as the calendar names it."
    )

    hit_set: ClassVar[tuple[str, ...]] = ("SEASON",)
    evidence: ClassVar[str] = (
        "Last year's reference weeks show the same dip on the same weekdays, and the calendar "
        "names the event."
    )
    recurs_yearly: ClassVar[bool] = True

    def effects(self, level: float, key: str, view: FaultView) -> Effects:
        if level <= 0:
            return NO_EFFECTS
        intent, traffic, logistics = EFFECTS[self.mode]
        overlay = CalendarOverlay(
            intent=intent * level,
            traffic=1 + (traffic - 1) * level,
            logistics=1 + (logistics - 1) * level,
        )
        return Effects(calendar=overlay)
