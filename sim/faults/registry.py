"""The registry of fault types: scenario files select one by its `type:` name."""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field

from sim.faults.app_release import AppRelease
from sim.faults.base import FaultBase
from sim.faults.bot_traffic import BotTraffic
from sim.faults.checkout_outage import CheckoutOutage
from sim.faults.clock_skew import ClockSkew
from sim.faults.competitor_campaign import CompetitorCampaign
from sim.faults.config_change import ConfigChange
from sim.faults.deploy import Deploy
from sim.faults.event_duplication import EventDuplication
from sim.faults.feed_change import FeedChange
from sim.faults.harmful_experiment import HarmfulExperiment
from sim.faults.late_events import LateEvents
from sim.faults.metric_definition import MetricDefinition
from sim.faults.price_change import PriceChange
from sim.faults.reward_shift import RewardShift
from sim.faults.seasonality import Seasonality
from sim.faults.stale_ranker import StaleRanker
from sim.faults.supply_shortage import SupplyShortage
from sim.faults.tracking_bug import TrackingBug
from sim.faults.traffic_mix import TrafficMix

FAULT_TYPES: dict[str, type[FaultBase]] = {
    cls.model_fields["type"].default: cls
    for cls in (
        FeedChange,
        RewardShift,
        Seasonality,
        Deploy,
        AppRelease,
        TrackingBug,
        ConfigChange,
        PriceChange,
        SupplyShortage,
        BotTraffic,
        TrafficMix,
        CompetitorCampaign,
        MetricDefinition,
        StaleRanker,
        EventDuplication,
        CheckoutOutage,
        HarmfulExperiment,
        ClockSkew,
        LateEvents,
    )
}


def fault_type_names() -> list[str]:
    return sorted(FAULT_TYPES)


FaultSpec = Annotated[Union[tuple(FAULT_TYPES.values())], Field(discriminator="type")]  # noqa: UP007
