"""Stable truth: no-op faults change nothing, faults act only in their scope, severity is a
dial, and a case that breaks its author's intent is refused."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from sim.engine import Engine, HourResult, NullSink
from sim.faults.feed_change import FeedChange
from sim.intent import IntentError, check_intent, intent_problems, quiet_luck
from sim.runner import plan, simulate, warm_world
from sim.scenario import load_scenario
from sim.truth import (
    MetricSink,
    answer_key,
    calibrate,
    onset_hour,
    replicate_effects,
    run_counterfactuals,
)
from sim.world import CATEGORIES, SIZES

DATA = Path(__file__).parent / "data"
ONSET = "2026-08-24T02:00:00"


def test_noop_fault_leaves_every_table_identical(tmp_path, baseline_scenario, tiny_run):
    """The baseline at tiny size (the session's run) and the same with a no-op fault added."""
    off = json.loads((tiny_run / "manifest.json").read_text())
    noop = FeedChange(type="feed_change", at=ONSET, severity=0.0, changelog="Deploy x v1.0.0")
    faults = [*baseline_scenario.faults, noop]
    on = simulate(
        baseline_scenario.model_copy(update={"faults": faults}), SIZES["tiny"], tmp_path / "b"
    )
    assert {t: v["sha256"] for t, v in off["tables"].items()} == {
        t: v["sha256"] for t, v in on["tables"].items()
    }


class CategoryOrders(NullSink):
    """Ledger orders per item category and hour."""

    def __init__(self, categories: np.ndarray) -> None:
        self.categories = categories
        self.by_hour: dict[int, np.ndarray] = {}

    def hour(self, result: HourResult, state: object) -> None:
        items = result.funnel.imp_item[result.funnel.ordered]
        self.by_hour[result.hour] = np.bincount(self.categories[items], minlength=len(CATEGORIES))


def test_a_scoped_fault_leaves_other_categories_alone_on_its_first_day(baseline_scenario):
    scope = ["womens_apparel", "mens_apparel"]
    fault = FeedChange(type="feed_change", at=ONSET, severity=1.0, scope={"category": scope})
    scenario = baseline_scenario.model_copy(update={"faults": [], "reference_days": 0})
    streams, state = warm_world(scenario, SIZES["tiny"], 5)
    period = plan(scenario).current
    categories = state.world.items.category.astype(np.int64)
    start = onset_hour(fault, period)
    root = Engine(state, streams, period, NullSink())
    root.run(start)
    branches = {}
    for name, faults in (("off", {}), ("on", {"remap": fault})):
        engine = root.fork(CategoryOrders(categories), faults)
        engine.run(start + 20)  # until just before the next day's retrain
        branches[name] = sum(engine.sink.by_hour.values())
    inside = [CATEGORIES.index(c) for c in scope]
    outside = [c for c in range(len(CATEGORIES)) if c not in inside]
    assert not np.array_equal(branches["on"][inside], branches["off"][inside])
    np.testing.assert_array_equal(branches["on"][outside], branches["off"][outside])


@pytest.mark.slow
@pytest.mark.xdist_group("small_run")
def test_severity_is_a_dial():
    """The change moves monotonically with the severity, close to a straight line.

    On the worker that builds the small baseline (tests/sim/test_realism.py), just before
    it: feed_remap's world is the baseline's (same seed, size, start and days), and the
    runner keeps the last warm world of a process, so the two warm it up once."""
    scenario = load_scenario(Path(__file__).parents[2] / "scenarios" / "feed_remap.yaml")
    scenario = scenario.model_copy(update={"reference_days": 0})
    fault = scenario.faults[0]
    streams, state = warm_world(scenario, SIZES["small"], 7)
    period = plan(scenario).current
    root = Engine(state, streams, period, MetricSink())
    root.run(onset_hour(fault, period))
    severities = np.linspace(0.35, 0.55, 5)
    changes = []
    for severity in severities:
        engine = root.fork(copy.deepcopy(root.sink), {"f": fault.with_severity(severity)})
        engine.run()
        daily = engine.sink.daily
        before = sum(daily[d] for d in range(14, 21))
        after = sum(daily[d] for d in range(21, 28))
        changes.append((after[1] / after[0]) / (before[1] / before[0]) - 1)
    assert all(np.diff(changes) < 0), changes
    fit = np.polyval(np.polyfit(severities, changes, 1), severities)
    assert np.max(np.abs(fit - changes)) < 0.003, changes


@pytest.fixture(scope="module")
def dominant_decoy():
    """The dominant-decoy case at tiny size, its counterfactual branches and its key: made
    once for the tests that read them (none changes them)."""
    scenario = load_scenario(DATA / "dominant_decoy.yaml")
    cf = run_counterfactuals(scenario, SIZES["tiny"], scenario.seed)
    return scenario, cf, answer_key(scenario, SIZES["tiny"], scenario.seed, cf)


def test_intent_check_refuses_a_dominant_decoy(dominant_decoy):
    scenario, _, key = dominant_decoy
    problems = intent_problems(key, scenario)
    assert any(p.startswith("noisy_deploy: a decoy explains") for p in problems), problems
    with pytest.raises(IntentError, match="noisy_deploy"):
        check_intent(key, scenario)


def test_intent_check_names_a_cause_off_its_intended_share(dominant_decoy):
    scenario, _, key = dominant_decoy
    faults = list(scenario.faults)
    faults[0] = faults[0].model_copy(update={"share": 0.9})
    faults[1] = faults[1].model_copy(update={"decoy": False})
    intended = scenario.model_copy(update={"faults": faults})
    assert any(p.startswith("small_remap: explains") for p in intent_problems(key, intended))


def test_quiet_luck_refuses_after_its_tries_and_names_them(baseline_scenario):
    strict = baseline_scenario.model_copy(update={"noise_bound": 0.0005, "reference_days": 0})
    with pytest.raises(IntentError, match=r"no quiet realization in 2 tries .*change 0: "):
        quiet_luck(strict, SIZES["tiny"], 3, tries=2)


def test_quiet_luck_keeps_the_first_quiet_draw(baseline_scenario):
    loose = baseline_scenario.model_copy(update={"noise_bound": 0.05, "reference_days": 0})
    search = quiet_luck(loose, SIZES["tiny"], 3, tries=6)
    change = dict(search.tried)[search.luck]
    assert abs(change) <= 0.05
    assert all(abs(c) > 0.05 for luck, c in search.tried if luck != search.luck)


def test_the_key_sees_the_luck_the_search_kept(baseline_scenario):
    """The noise entry of the key is the null branch the quiet search measured."""
    remap = FeedChange(type="feed_change", at=ONSET, severity=0.5)
    scenario = baseline_scenario.model_copy(
        update={"noise_bound": 0.05, "reference_days": 0, "faults": [remap], "luck": 3}
    )
    search = quiet_luck(scenario, SIZES["tiny"], 3, tries=1)
    cf = run_counterfactuals(scenario, SIZES["tiny"], 3)
    assert cf.changes[frozenset()].observed == pytest.approx(search.tried[0][1], abs=1e-12)


def test_calibration_solves_an_intended_split():
    scenario = load_scenario(Path(__file__).parents[2] / "scenarios" / "feed_and_reward.yaml")
    scenario = scenario.model_copy(update={"reference_days": 0})
    resolved, report = calibrate(scenario, SIZES["tiny"], 3)
    assert abs(report.change - scenario.target.change) <= scenario.target.tolerance
    cf = run_counterfactuals(resolved, SIZES["tiny"], 3)
    key = answer_key(resolved, SIZES["tiny"], 3, cf)
    shares = {c["id"]: c["share"] for c in key["causes"]}
    effect = {c["id"]: c["effect"] for c in key["causes"]}
    split = effect["electronics_mapping"] / (
        effect["electronics_mapping"] + effect["engagement_objective"]
    )
    assert split == pytest.approx(0.6, abs=0.1), shares


def test_the_key_gives_each_cause_its_expectation_over_other_worlds(dominant_decoy):
    scenario, cf, _ = dominant_decoy
    others = replicate_effects(scenario, SIZES["tiny"], scenario.seed, 2)
    key = answer_key(scenario, SIZES["tiny"], scenario.seed, cf, others)
    realized = {c["id"]: c["effect"] for c in key["causes"]}
    for cause in key["causes"]:
        expected = cause["expected"]
        assert expected["worlds"] == 3
        lo, hi = expected["interval"]
        assert lo <= expected["effect"] <= hi
        values = [realized[cause["id"]]] + [w[cause["id"]] for w in others]
        assert expected["effect"] == pytest.approx(sum(values) / 3)
