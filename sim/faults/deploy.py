"""A service deploy: a new version goes out, with whatever it does to latency and errors.

With no latency change it is the ordinary decoy of every incident review (a deploy in the
same hour as the drop); with one it is a latency regression, visible where it happens.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from sim.effects import NO_EFFECTS, Effects, FaultView
from sim.faults.base import FaultBase
from sim.latency import LatencyOverlay


class Deploy(FaultBase):
    """A feed-api release, with an optional latency or error regression in its scope."""

    type: Literal["deploy"] = "deploy"
    service: Literal["feed-api"] = "feed-api"
    version: str = Field(default="v3.15.0", pattern=r"^v\d+\.\d+\.\d+$")
    server_factor: float = Field(default=1.0, ge=0.5, le=10, description="At full severity.")
    client_factor: float = Field(default=1.0, ge=0.5, le=10, description="At full severity.")
    error_rate: float = Field(default=0.0, ge=0, le=0.5, description="Added at full severity.")

    hit_set: ClassVar[tuple[str, ...]] = ("DEPLOY", "PERF")
    evidence: ClassVar[str] = (
        "The change log and the requests' service_version date the deploy; latency and "
        "errors by segment show whether it changed anything."
    )
    changelog_kind: ClassVar[str] = "deploy"
    changelog_service: ClassVar[str] = "feed-api"
    scope_dimensions: ClassVar[frozenset[str]] = frozenset({"platform", "city_tier"})

    def hits(self) -> list[str]:
        """A deploy that changed latency or errors is found by PERF (where it happened) or by
        DEPLOY (the change log); a harmless one only by the change log."""
        regression = (self.server_factor, self.client_factor, self.error_rate) != (1.0, 1.0, 0.0)
        return ["PERF", "DEPLOY"] if regression else ["DEPLOY"]

    def effects(self, level: float, key: str, view: FaultView) -> Effects:
        if level <= 0:
            return NO_EFFECTS
        overlay = LatencyOverlay(
            match=self.scope.match(),
            server_factor=1 + (self.server_factor - 1) * level,
            client_factor=1 + (self.client_factor - 1) * level,
            error_rate=self.error_rate * level,
        )
        return Effects(latency=overlay, version=self.version)
