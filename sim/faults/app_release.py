"""An app release on one platform: users upgrade over the ramp (adoption), and the new
version may render pages more slowly. Usually a decoy: it lands near the drop but explains
little of it.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from sim.effects import NO_EFFECTS, Effects, FaultView
from sim.faults.base import FaultBase, stable_share
from sim.latency import LatencyOverlay
from sim.world import PLATFORMS


class AppRelease(FaultBase):
    """A new app version on one platform, adopted over the ramp."""

    type: Literal["app_release"] = "app_release"
    platform: Literal["ios", "android"]
    version_minor: int = Field(default=21, ge=20, le=39, description="The release is 10.<minor>.")
    adoption: float = Field(default=0.7, gt=0, le=1, description="Share of users who upgrade.")
    client_factor: float = Field(default=1.0, ge=0.5, le=5, description="Render time factor.")
    ramp_hours: float = Field(default=72.0, ge=0, le=24 * 14)

    hit_set: ClassVar[tuple[str, ...]] = ("DEPLOY", "PLATFORM")
    evidence: ClassVar[str] = (
        "Sessions by app_version show the new release's adoption; its users' conversion and "
        "render times compared with the previous version show how much it matters."
    )
    changelog_kind: ClassVar[str] = "deploy"
    changelog_service: ClassVar[str] = "mobile-app"

    def effects(self, level: float, key: str, view: FaultView) -> Effects:
        if level <= 0:
            return NO_EFFECTS
        users = view.world.users
        on_platform = users.platform == PLATFORMS.index(self.platform)
        upgraded = on_platform & (stable_share(key, np.arange(users.n)) < self.adoption * level)
        overlay = LatencyOverlay(
            match={"app_minor": (self.version_minor,)}, client_factor=self.client_factor
        )
        return Effects(latency=overlay, app_upgrade=(upgraded, self.version_minor))
