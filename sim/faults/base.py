"""What every fault (and every scheduled intervention) shares.

A fault changes a mechanism, never the metric: it is scheduled on the engine's clock and,
every hour, returns its `Effects` (sim/effects.py) for a level between 0 (off) and 1 (full
strength, reached after `ramp_hours`), scaled by its severity. Levels are absolute, not
increments, so a fault switched off in a counterfactual run leaves the mechanism exactly as it
would have been.

A new fault type is one module: a subclass with its typed parameters, its `type` name, the
scope dimensions it accepts, its hit set and evidence, and `effects`; then one line in
sim/faults/registry.py, and its type name under each id of its hit set in
grading/hypotheses.py (tests/grading/test_hypotheses.py checks the two agree).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from sim.behavior import SOURCES
from sim.effects import Effects, FaultView
from sim.rng import Streams, stable_hash
from sim.world import CATEGORIES, PLATFORMS

Platform = Literal["ios", "android", "miniprogram"]
Category = Literal[CATEGORIES]  # type: ignore[valid-type]
Source = Literal[SOURCES]  # type: ignore[valid-type]


class Scope(BaseModel):
    """The segments a fault acts on; an empty scope means everywhere."""

    model_config = ConfigDict(extra="forbid")

    platform: list[Platform] | None = None
    city_tier: list[int] | None = Field(default=None, min_length=1)
    category: list[Category] | None = Field(default=None, min_length=1)
    source: list[Source] | None = Field(default=None, min_length=1)
    app_version: list[str] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _valid_values(self) -> Scope:
        if self.city_tier and not all(1 <= t <= 5 for t in self.city_tier):
            raise ValueError("city_tier values are 1..5")
        for version in self.app_version or []:
            if not version.startswith("10.") or not version[3:].isdigit():
                raise ValueError(f"app_version {version!r} is not like '10.21'")
        return self

    def dimensions(self) -> set[str]:
        return {k for k, v in self.model_dump().items() if v is not None}

    def match(self) -> dict[str, tuple[int, ...]]:
        """Scope as engine codes: dimension -> allowed codes."""
        out: dict[str, tuple[int, ...]] = {}
        if self.platform:
            out["platform"] = tuple(PLATFORMS.index(p) for p in self.platform)
        if self.city_tier:
            out["city_tier"] = tuple(self.city_tier)
        if self.source:
            out["source"] = tuple(SOURCES.index(s) for s in self.source)
        if self.app_version:
            out["app_minor"] = tuple(int(v[3:]) for v in self.app_version)
        return out

    def category_codes(self) -> tuple[int, ...]:
        return tuple(CATEGORIES.index(c) for c in self.category or ())

    def items_in_scope(self, item_category: np.ndarray) -> np.ndarray:
        """A mask of the items in the scope's categories (every item when it names none)."""
        cats = self.category_codes()
        return np.isin(item_category, cats) if cats else np.ones(len(item_category), bool)

    def describe(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class FaultBase(BaseModel):
    """Fields shared by all fault types; subclasses add their typed parameters."""

    model_config = ConfigDict(extra="forbid")

    type: str
    id: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]*$", max_length=40)
    at: datetime = Field(description="When the change takes effect (local time).")
    end: datetime | None = Field(default=None, description="When it is reverted, if ever.")
    ramp_hours: float = Field(default=0.0, ge=0, le=24 * 14)
    severity: float | Literal["auto"] = Field(
        default=1.0,
        description="0..1 on the fault's own scale, or auto: calibrated to the target drop.",
    )
    strength: float = Field(
        default=1.0, gt=0, le=5, description="Relative strength among auto faults."
    )
    scope: Scope = Field(default_factory=Scope)
    decoy: bool = Field(default=False, description="A real change not meant to explain the drop.")
    share: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="The intended share of the change this cause explains (checked on the key).",
    )
    changelog: str | None = Field(
        default=None,
        max_length=200,
        description="Change-log wording shown to candidates; null for a silent change.",
    )

    hit_set: ClassVar[tuple[str, ...]] = ()
    evidence: ClassVar[str] = ""
    changelog_kind: ClassVar[str] = "config"
    changelog_service: ClassVar[str] = "platform"
    scope_dimensions: ClassVar[frozenset[str]] = frozenset()
    recurs_yearly: ClassVar[bool] = False  # also acts in last year's reference weeks

    @model_validator(mode="after")
    def _checks(self) -> FaultBase:
        if self.end is not None and self.end <= self.at:
            raise ValueError("end must be after at")
        if isinstance(self.severity, float | int) and not 0 <= self.severity <= 1:
            raise ValueError("severity must be between 0 and 1, or auto")
        if self.decoy and self.share is not None:
            raise ValueError("a decoy explains (almost) nothing: drop share or decoy")
        extra = self.scope.dimensions() - self.scope_dimensions
        if extra:
            allowed = ", ".join(sorted(self.scope_dimensions)) or "none"
            raise ValueError(
                f"{self.type} cannot be scoped by {', '.join(sorted(extra))} (allowed: {allowed})"
            )
        return self

    @property
    def is_auto(self) -> bool:
        return self.severity == "auto"

    def with_severity(self, value: float) -> FaultBase:
        return self.model_copy(update={"severity": float(np.clip(value, 0.0, 1.0))})

    def shifted(self, days: int) -> FaultBase:
        end = self.end + timedelta(days=days) if self.end else None
        return self.model_copy(update={"at": self.at + timedelta(days=days), "end": end})

    def level_at(self, when: datetime) -> float:
        """Severity times the ramp: 0 before onset and after end."""
        if when < self.at or (self.end is not None and when >= self.end):
            return 0.0
        ramp = 1.0
        if self.ramp_hours > 0:
            ramp = min(1.0, (when - self.at).total_seconds() / 3600.0 / self.ramp_hours + 1e-9)
        if self.is_auto:
            raise ValueError(f"fault {self.type}: severity auto must be calibrated before a run")
        return ramp * float(self.severity)  # type: ignore[arg-type]

    def hits(self) -> list[str]:
        """Menu entries whose investigation confirms this fault."""
        return list(self.hit_set)

    def effects(self, level: float, key: str, view: FaultView) -> Effects:
        """This fault's effects on its mechanism for the coming hour, at `level` (0 is off)."""
        raise NotImplementedError


def stable_share(key: str, ids: np.ndarray) -> np.ndarray:
    """A fixed uniform per id for one fault: which items or users it touches at a given share."""
    return Streams(stable_hash(key)).uniform("fault.members", ids.astype(np.uint64))
