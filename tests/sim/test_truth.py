"""The truth: counterfactual branching, Shapley shares, calibration and the answer key."""

from __future__ import annotations

import itertools

import pytest

from sim.scenario import parse_scenario
from sim.truth import (
    CalibrationError,
    Windows,
    answer_key,
    calibrate,
    measure,
    run_counterfactuals,
    shapley,
)
from sim.world import SIZES, Size

SIZE = Size("test", 30_000)
TINY = SIZES["tiny"]  # for claims that hold exactly at any size (each test says why)
HEAD = "id: t\ntitle: T\nstart: 2026-08-03\ndays: 21\nreference_days: 0\nseed: 3\n"


def test_shapley_is_exact_on_an_additive_game_with_interaction():
    players = ["a", "b", "c"]
    base = {"a": 1.0, "b": 2.0, "c": -0.5}

    def v(s: frozenset) -> float:
        return sum(base[p] for p in s) + (3.0 if {"a", "b"} <= s else 0.0)

    values = {
        frozenset(c): v(frozenset(c)) for r in range(4) for c in itertools.combinations(players, r)
    }
    phi = shapley(values, players)
    assert phi == pytest.approx({"a": 2.5, "b": 3.5, "c": -0.5})
    assert sum(phi.values()) == pytest.approx(v(frozenset(players)) - v(frozenset()))


def test_windows_are_the_last_days():
    scenario = parse_scenario(HEAD)
    assert Windows.of(scenario) == Windows((7, 14), (14, 21))


TWO_FAULTS = (
    HEAD
    + "target: {change: -0.05}\n"
    + """faults:
  - {type: reward_shift, id: rank, at: 2026-08-17T10:00:00, severity: 1.0}
  - {type: deploy, id: dep, decoy: true, at: 2026-08-17T10:00:00, server_factor: 1.02}
"""
)


@pytest.fixture(scope="module")
def two_fault_key():
    scenario = parse_scenario(TWO_FAULTS)
    cf = run_counterfactuals(scenario, SIZE, 3)
    return scenario, cf, answer_key(scenario, SIZE, 3, cf)


def test_shares_add_up_to_the_measured_change(two_fault_key):
    _, cf, key = two_fault_key
    assert sum(c["share"] for c in key["causes"]) == pytest.approx(1.0)
    assert sum(c["business_share"] for c in key["causes"]) == pytest.approx(1.0)
    effects = sum(c["effect"] for c in key["causes"])
    assert effects == pytest.approx(key["observed_change"])
    assert len(cf.changes) == 4


def test_decoy_effect_is_near_zero_beside_the_cause(two_fault_key):
    _, _, key = two_fault_key
    by_id = {c["id"]: c for c in key["causes"]}
    assert by_id["rank"]["effect"] < -0.03
    assert abs(by_id["dep"]["effect"]) < 0.15 * abs(by_id["rank"]["effect"])
    assert by_id["rank"]["hit_set"] == ["RANK"]
    assert by_id["noise"]["hit_set"] == ["NOISE"]


def test_branching_costs_less_than_separate_runs(two_fault_key):
    _, cf, _ = two_fault_key
    assert cf.cost_ratio < 2.0  # four branches for the price of fewer than two runs


def test_tracking_bug_moves_observed_but_not_business():
    """At tiny size: the branches share their luck, so the bug alone separates them (half
    the tracked orders lost moves the observed change far past 0.15), and the business
    figures do not see the tracking at all."""
    scenario = parse_scenario(
        HEAD
        + "target: {change: -0.05}\nfaults:\n"
        + "  - {type: tracking_bug, id: bug, at: 2026-08-17T00:00:00, drop: 0.5}\n"
    )
    cf = run_counterfactuals(scenario, TINY, 3)
    on, off = cf.changes[frozenset({"bug"})], cf.changes[frozenset()]
    assert on.observed < off.observed - 0.15
    assert on.business == pytest.approx(off.business)
    key = answer_key(scenario, TINY, 3, cf)
    bug = next(c for c in key["causes"] if c["id"] == "bug")
    assert bug["business_effect"] == pytest.approx(0.0)


def test_without_common_random_numbers_a_no_op_looks_like_an_effect():
    """At tiny size: equality with common random numbers is exact at any size, and without
    them the branches draw different luck at any size."""
    scenario = parse_scenario(
        HEAD + "faults:\n  - {type: deploy, id: dep, at: 2026-08-17T10:00:00, server_factor: 1.0}\n"
    )
    crn = run_counterfactuals(scenario, TINY, 3)
    assert crn.changes[frozenset({"dep"})] == crn.changes[frozenset()]
    independent = run_counterfactuals(scenario, TINY, 3, crn=False)
    assert independent.changes[frozenset({"dep"})] != independent.changes[frozenset()]


def test_control_case_gives_noise_everything():
    """At tiny size: a case without a target is a control case, whose shares are set by
    that rule, not measured, at any size."""
    scenario = parse_scenario(
        HEAD + "faults:\n  - {type: deploy, id: dep, decoy: true, at: 2026-08-17T10:00:00}\n"
    )
    key = answer_key(scenario, TINY, 3, run_counterfactuals(scenario, TINY, 3))
    by_id = {c["id"]: c for c in key["causes"]}
    assert key["control"] is True
    assert by_id["noise"]["share"] == 1.0
    assert by_id["dep"]["share"] == 0.0
    assert "effect" in by_id["dep"]


def test_calibration_lands_on_target(two_fault_key):
    """The ends of rank's severity range in a world where it is the only fault are branches
    the two-fault key already ran: at severity 0 rank is off (the null branch), at 1 it is
    the rank-only branch (a branch's engine holds only the faults it switches on, and both
    faults start at the same hour, so the decoy is not in it at all)."""
    fault = "  - {type: reward_shift, id: rank, at: 2026-08-17T10:00:00, severity: %s}\n"
    _, full, _ = two_fault_key
    ends = [full.changes[frozenset()].observed, full.changes[frozenset({"rank"})].observed]
    target = (ends[0] + ends[1]) / 2  # reachable whatever this world's noise is
    scenario = parse_scenario(
        HEAD + f"target: {{change: {target:.4f}, tolerance: 0.005}}\nfaults:\n" + fault % "auto"
    )
    resolved, report = calibrate(scenario, SIZE, 3)
    assert 0.02 < report.severities["rank"] < 0.98
    assert abs(report.change - target) <= 0.005
    cf = run_counterfactuals(resolved, SIZE, 3)
    assert cf.changes[frozenset({"rank"})].observed == pytest.approx(report.change)


def test_calibration_out_of_reach_is_a_clear_error():
    """At tiny size: a server 5% slower moves conversion nowhere near 45% at any size."""
    scenario = parse_scenario(
        HEAD
        + "target: {change: -0.45, tolerance: 0.01}\nfaults:\n"
        + "  - {type: deploy, id: dep, at: 2026-08-17T10:00:00, server_factor: 1.05, "
        + "severity: auto}\n"
    )
    with pytest.raises(CalibrationError, match="out of reach"):
        calibrate(scenario, TINY, 3)


def test_measure_uses_whole_windows():
    import numpy as np

    # per day: real sessions, tracked converting, ledger converting, logged sessions
    daily = {d: np.array([100, 5, 6, 100]) for d in range(21)}
    for d in range(14, 21):
        daily[d] = np.array([100, 4, 6, 100])
    change = measure(daily, Windows((7, 14), (14, 21)))
    assert change.observed == pytest.approx(-0.2)
    assert change.business == pytest.approx(0.0)
    # sessions the pipeline logs but nobody had (a definition change) move only the tracked
    for d in range(14, 21):
        daily[d] = np.array([100, 5, 6, 125])
    change = measure(daily, Windows((7, 14), (14, 21)))
    assert change.observed == pytest.approx(-0.2)
    assert change.business == pytest.approx(0.0)
