"""Every shipped case, at small size: lands in its band, and its key adds up to the tables."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest

from readout.tables import session_outcomes


def test_lands_in_its_band(case):
    scenario, _, key = case
    if scenario.target is None:
        assert key["control"] is True
        assert abs(key["observed_change"]) < 0.03
    else:
        assert key["within_target"] is True, key["observed_change"]


def test_shares_add_up_to_the_measured_change(case):
    _, out, key = case
    assert sum(c["share"] for c in key["causes"]) == pytest.approx(1.0)
    assert sum(c["effect"] for c in key["causes"]) == pytest.approx(key["observed_change"])
    # The key's change is the change in the written tables, to the last session.
    sessions = session_outcomes(out).filter(pl.col("period") == "current")
    (b0, b1), (a0, a1) = key["windows"]["before"], key["windows"]["after"]

    def rate(lo: str, hi: str) -> float:
        window = sessions.filter(pl.col("date").is_between(pl.lit(lo).str.to_date(),
                                                          pl.lit(hi).str.to_date()))  # fmt: skip
        got = window.select((pl.col("tracked_orders") > 0).mean()).collect().item()
        return float(got)

    assert rate(a0, a1) / rate(b0, b1) - 1 == pytest.approx(key["observed_change"], abs=1e-9)


def test_decoys_explain_little(case):
    _, _, key = case
    for cause in key["causes"]:
        if cause["decoy"]:
            assert abs(cause["effect"]) < 0.012, cause


def test_key_is_beside_the_tables_not_in_them(case):
    _, out, _ = case
    assert (out / "answer_key.json").is_file()
    assert not list((out / "tables").glob("*key*"))
    public = (out / "case.yaml").read_text()
    for word in ("fault", "severity", "feed_change", "reward_shift", "seasonality", "decoy"):
        assert word not in public
    assert "scenario.yaml" not in {p.name for p in (out / "tables").iterdir()}


def test_case_ships_with_its_dashboard_cube(case):
    """The cube is built inside the atomic folder, from the public tables only."""
    from readout.cube import cube_meta, is_current

    scenario, out, _ = case
    assert is_current(out)
    meta = cube_meta(out)
    assert meta["rows"]["sessions_daily"] > 0
    last_day = scenario.start + timedelta(days=scenario.days - 1)
    assert meta["windows"]["after"][1] == last_day.isoformat()


def test_noise_stays_within_its_bound_and_is_out_of_the_order(case):
    scenario, _, key = case
    noise = next(c for c in key["causes"] if c["id"] == "noise")
    assert abs(noise["effect"]) <= scenario.noise_bound
    assert noise["ordered"] is key["control"]
    assert key["realization"]["tried"]  # the quiet search ran and is on record


def test_a_habit_scores_low_and_the_ideal_order_high(case):
    """A fixed, no-analysis order starting with NOISE must not pass for a diagnosis; the
    ideal order (true causes first, by share per cost) must score near 1."""
    from casesim.audit import FIXED_ORDER, ideal_submission
    from grading.scoring import score

    scenario, _, key = case
    ideal = score(ideal_submission(key), key["causes"]).case_score
    assert ideal >= 0.9
    if scenario.target is not None:
        fixed = {"order": list(FIXED_ORDER), "shares": {"unexplained": 1.0}}
        # A fixed order earns nothing for the diagnosis, so it stays at or under 0.7 x its
        # order score. It does well only where the causes sit at its front (DEPLOY or DATA
        # second and third: about 0.6-0.65); its mean over the library is in docs/cases.md.
        habit = score(fixed, key["causes"])
        assert habit.diag_score <= 0.1
        assert habit.case_score <= 0.7
