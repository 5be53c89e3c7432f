"""A scheduled configuration change: the smallest intervention.

It sets one of the serving configuration knobs; setting a knob to its default is an
ordinary, harmless change-log entry (the kind of noise every change log carries).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import Field

from sim.faults.base import FaultBase

if TYPE_CHECKING:
    from sim.engine import EngineState

ConfigKey = Literal["ranker.exploration", "ranker.temperature"]


class ConfigChange(FaultBase):
    """Set one serving configuration value from `at` until `end`."""

    type: Literal["config_change"] = "config_change"
    key: ConfigKey
    value: float = Field(ge=0, le=10)

    hit_set: ClassVar[tuple[str, ...]] = ("DEPLOY",)
    evidence: ClassVar[str] = "The change log records the configuration change at its onset."

    def apply(self, state: EngineState, level: float, key: str) -> None:
        default = state.config_defaults[self.key]
        state.config[self.key] = default + (self.value - default) * level
