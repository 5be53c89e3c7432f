"""A scheduled configuration change: the smallest intervention.

It sets one of the serving configuration knobs; setting a knob to its default is an
ordinary, harmless change-log entry (the kind of noise every change log carries).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from sim.effects import NO_EFFECTS, Effects, FaultView
from sim.faults.base import FaultBase

ConfigKey = Literal["ranker.exploration", "ranker.temperature"]


class ConfigChange(FaultBase):
    """Set one serving configuration value from `at` until `end`."""

    type: Literal["config_change"] = "config_change"
    key: ConfigKey
    value: float = Field(ge=0, le=10)

    hit_set: ClassVar[tuple[str, ...]] = ("DEPLOY",)
    evidence: ClassVar[str] = "The change log records the configuration change at its onset."

    def effects(self, level: float, key: str, view: FaultView) -> Effects:
        if level <= 0:
            return NO_EFFECTS
        default = view.config_defaults[self.key]
        return Effects(config={self.key: default + (self.value - default) * level})
