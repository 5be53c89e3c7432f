"""A harmful experiment: an A/B test goes live and its treatment puts buyers off.

The test is an ordinary one: it is in the experiments table and the change log like any
other, and its users are bucketed by a hash of (experiment, user) into the assignments table.
From its start, users in the treatment arm meet the new flow (a checkout step, a layout) and
the purchase logit of what they click falls by `intent_drop` at full strength; control users
and everyone not enrolled are untouched. The platform's conversion falls in proportion to the
treatment arm's share of sessions, and comparing the arms shows where.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from sim.effects import NO_EFFECTS, Effects, FaultView
from sim.experiments import Experiment, Treatment, treated_users
from sim.faults.base import FaultBase

BASELINE_TEST = "exp_feed_card_v2"  # the neutral test every run carries (sim/runner.py)


class HarmfulExperiment(FaultBase):
    """An A/B test whose treatment arm buys less: the gap shows between its arms."""

    type: Literal["harmful_experiment"] = "harmful_experiment"
    experiment_id: str = Field(
        default="exp_checkout_onepage",
        pattern=r"^exp_[a-z0-9_]+$",
        max_length=40,
        description="The test's id in the experiments and assignments tables.",
    )
    name: str = Field(
        default="One-page checkout (address and payment together)",
        min_length=1,
        max_length=80,
        pattern=r"^[^,]+$",
        description="The test's name as the experiment platform lists it (no commas).",
    )
    owner: str = Field(
        default="checkout",
        pattern=r"^[a-z][a-z-]*$",
        max_length=30,
        description="The team that runs it.",
    )
    traffic: float = Field(
        default=0.5, gt=0, le=1, description="Share of users enrolled (split evenly over arms)."
    )
    intent_drop: float = Field(
        default=0.6,
        gt=0,
        le=3,
        description="Purchase-logit fall of treatment-arm users at severity 1.",
    )

    hit_set: ClassVar[tuple[str, ...]] = ("DEPLOY",)
    evidence: ClassVar[str] = (
        "An experiment starts at the onset (experiments table and change log). Joining its "
        "assignments to sessions, the treatment arm converts below control from its start "
        "while control users hold: the fall sits on the treatment arm's users."
    )
    changelog_kind: ClassVar[str] = "experiment"
    changelog_service: ClassVar[str] = "experiment-platform"
    scope_dimensions: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _not_the_baseline_test(self) -> HarmfulExperiment:
        if self.experiment_id == BASELINE_TEST:
            raise ValueError(f"experiment_id {BASELINE_TEST} is the baseline's neutral test")
        return self

    def experiment(self) -> Experiment:
        """The test as the experiment platform records it (and buckets its users)."""
        return Experiment(
            experiment_id=self.experiment_id,
            name=self.name,
            owner=self.owner,
            start=self.at,
            end=self.end,
            traffic=self.traffic,
            salted=True,
        )

    def effects(self, level: float, key: str, view: FaultView) -> Effects:
        if level <= 0:
            return NO_EFFECTS
        memory = view.memory
        if "treated" not in memory:
            memory["treated"] = treated_users(self.experiment(), view.world.users.n)
        return Effects(treatment=Treatment(memory["treated"], -self.intent_drop * level))
