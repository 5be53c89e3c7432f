"""What every fault (and every scheduled intervention) shares.

A fault changes a mechanism, never the metric: it is scheduled on the engine's clock and,
every hour while it is active, sets its mechanism's knobs to a level between 0 (off) and 1
(full strength, reached after `ramp_hours`). Levels are absolute, not increments, so a fault
switched off in a counterfactual run leaves the mechanism exactly as it would have been.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    from sim.engine import EngineState


class FaultBase(BaseModel):
    """Fields shared by all fault types; subclasses add their typed parameters."""

    model_config = ConfigDict(extra="forbid")

    type: str
    id: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]*$", max_length=40)
    at: datetime = Field(description="When the change takes effect (local time).")
    end: datetime | None = Field(default=None, description="When it is reverted, if ever.")
    ramp_hours: float = Field(default=0.0, ge=0, le=24 * 14)
    changelog: str | None = Field(
        default=None,
        max_length=200,
        description="Change-log wording shown to candidates; null for a silent change.",
    )

    hit_set: ClassVar[tuple[str, ...]] = ()
    evidence: ClassVar[str] = ""
    changelog_kind: ClassVar[str] = "config"
    changelog_service: ClassVar[str] = "platform"

    @model_validator(mode="after")
    def _end_after_start(self) -> FaultBase:
        if self.end is not None and self.end <= self.at:
            raise ValueError("end must be after at")
        return self

    def level_at(self, when: datetime) -> float:
        """The fault's strength at a moment: 0 before onset and after end, ramping to 1."""
        if when < self.at or (self.end is not None and when >= self.end):
            return 0.0
        if self.ramp_hours <= 0:
            return 1.0
        return min(1.0, (when - self.at).total_seconds() / 3600.0 / self.ramp_hours + 1e-9)

    def apply(self, state: EngineState, level: float) -> None:
        """Set this fault's knobs on the engine state for the coming hour."""
        raise NotImplementedError
