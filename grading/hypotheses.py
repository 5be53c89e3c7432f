"""One registry per hypothesis id: the menu entry, the fault types it confirms, the dashboard
page that shows its evidence, and the reference solver's detector.

This is the one place a hypothesis is described. The menu (`grading.scoring.MENU`), the
debrief's "where the evidence was" links and the solver's ordering read it; a test over the
live registries (tests/grading/test_hypotheses.py) checks every link against the fault
registry (sim.faults.FAULT_TYPES), the dashboard's pages (dashboard.pages.PAGES) and the
solver (grading.solver.Evidence). Adding a fault type: give it a hit set in its own file,
then name the type here under each id of that hit set.

Names only, no imports of sim/ or dashboard/: grading reads runs, it does not build them.
"""

from __future__ import annotations

from dataclasses import dataclass

NONE_YET = None  # a detector the reference solver does not have yet


@dataclass(frozen=True)
class HypothesisEntry:
    """A menu entry and everything that refers to it."""

    id: str
    words: str  # what the candidate reads on the menu
    cost: float  # the nominal cost of investigating it (scoring's unit)
    fault_types: tuple[str, ...]  # fault types (by `type` name) whose hit set includes this id
    page: str  # the dashboard page (url path = views/<page>.py) that shows its evidence
    page_label: str  # the link's words in the debrief
    detector: str | None  # the solver's check (a method of grading.solver.Evidence)


HYPOTHESES: tuple[HypothesisEntry, ...] = (
    HypothesisEntry("NOISE", "normal variance or a wrongly chosen window", 0.5, (),
                    "brief", "Brief: the change against the week-over-week band", "noise_level"),
    HypothesisEntry("DEF", "metric definition or denominator changed", 0.5,
                    ("metric_definition",), "segments",
                    "Segments: sessions and feed pages per session by app version",
                    "empty_sessions"),
    HypothesisEntry("DATA", "tracking / logging / pipeline bug", 1.0,
                    ("tracking_bug", "event_duplication", "clock_skew", "late_events"),
                    "overview",
                    "Overview: tracked against ledger conversion (and in SQL, session rows "
                    "against distinct ids, event times against their session's start)", "change"),
    HypothesisEntry("DEPLOY", "a release, feature flag or experiment", 1.0,
                    ("deploy", "app_release", "config_change", "harmful_experiment"),
                    "changes", "Changes & experiments", "changes_near"),
    HypothesisEntry("MIX", "traffic or user mix shifted", 1.5, ("traffic_mix",),
                    "segments", "Segments: mix against rate", "mix_rate"),
    HypothesisEntry("BOT", "bot or fraud traffic", 1.0, ("bot_traffic",),
                    "segments", "Segments: traffic by source", "bot_sessions"),
    HypothesisEntry("SEASON", "seasonality or calendar effect", 1.0, ("seasonality",),
                    "seasonality", "Seasonality: last year's weeks", "last_year_change"),
    HypothesisEntry("PERF", "latency, errors or outages in some segment", 2.0, ("deploy",),
                    "latency", "Latency: percentiles by segment", "latency_shift"),
    HypothesisEntry("FEED", "upstream item-feed change", 2.0, ("feed_change",),
                    "feed", "Feed & ranker health: PSI by category", "feed_drift"),
    HypothesisEntry("PRICE", "prices, promotions, coupons, fees", 2.0, ("price_change",),
                    "feed", "Feed & ranker health: median prices", "price_moved"),
    HypothesisEntry("SUPPLY", "sellers, stock, fulfilment", 2.0, ("supply_shortage",),
                    "feed", "Feed & ranker health: stock", "stock_fell"),
    HypothesisEntry("PLATFORM", "OS, app store, payment gateway", 2.0,
                    ("app_release", "checkout_outage"),
                    "segments", "Segments: platform and app version", "localise"),
    HypothesisEntry("RANK", "ranking model or reward policy", 3.0,
                    ("reward_shift", "stale_ranker"),
                    "feed", "Feed & ranker health: ranker retrain history",
                    "reward_weights_moved"),
    HypothesisEntry("COMP", "competitors or macro conditions", 3.0, ("competitor_campaign",),
                    "segments", "Segments: conversion and sessions by city tier",
                    "segment_drawn_away"),
)  # fmt: skip

BY_ID: dict[str, HypothesisEntry] = {h.id: h for h in HYPOTHESES}
