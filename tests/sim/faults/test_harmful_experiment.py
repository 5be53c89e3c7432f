"""harmful_experiment: an A/B test whose treatment arm buys less; nobody else is touched."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from grading.solver import Evidence, solve
from readout.tables import CONVERTED, scan
from sim.experiments import treated_users
from sim.runner import simulate
from sim.scenario import ScenarioError, parse_scenario
from tests.sim.faults.demand_helpers import SIZE, branch, fault, same_hours, warm_world

TEST = "{{type: harmful_experiment, id: x, at: {at}, experiment_id: exp_checkout_onepage, " \
    "traffic: 0.5, intent_drop: 1.0}}"  # fmt: skip
HOURS = 3  # before the first retrain (03:00): the ranker has not seen the branches differ


@pytest.fixture(scope="module")
def warm():
    return warm_world()


def test_it_acts_only_on_the_treatment_arm(warm):
    test = fault(TEST.format(at="2026-08-03T00:00:00"))
    base, state = branch(warm, {}, HOURS)
    on, _ = branch(warm, {"x": test}, HOURS)
    treated = treated_users(test.experiment(), state.world.users.n)
    assert treated.mean() == pytest.approx(0.25, abs=0.02)  # half the enrolled half
    orders_base = orders_on = 0
    for b, o in zip(base, on, strict=True):
        # The same sessions and the same clicks: only what treated users buy changes.
        assert np.array_equal(b.batch.key, o.batch.key)
        assert np.array_equal(b.funnel.clicked, o.funnel.clicked)
        arm = treated[o.batch.user]
        orders_base += b.ledger_order[arm].sum()
        orders_on += o.ledger_order[arm].sum()
    # In the first hour (same stock, same pools) everyone outside the arm is untouched.
    b, o = base[0], on[0]
    arm = treated[o.batch.user]
    assert np.array_equal(b.ledger_order[~arm], o.ledger_order[~arm])
    assert np.array_equal(b.funnel.carted[~arm[b.funnel.imp_session]],
                          o.funnel.carted[~arm[o.funnel.imp_session]])  # fmt: skip
    assert orders_on < 0.8 * orders_base


def test_a_branch_with_it_off_is_the_baseline(warm):
    base, _ = branch(warm, {}, HOURS)
    later = {"x": fault(TEST.format(at="2026-08-10T00:00:00"))}  # not yet on
    assert same_hours(base, branch(warm, later, HOURS)[0])
    zero = {"x": fault(TEST.format(at="2026-08-03T00:00:00")).with_severity(0.0)}
    assert same_hours(base, branch(warm, zero, HOURS)[0])


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("exp_checkout_onepage", "exp_feed_card_v2", "baseline"),
        ("traffic: 0.5", "traffic: 0", "traffic"),
        ("intent_drop: 1.0", "intent_drop: 1.0, name: 'Checkout, one page'", "name"),
    ],
)
def test_it_rejects_a_test_the_tables_could_not_hold(old, new, field):
    fault(TEST.format(at="2026-08-03T00:00:00"))  # as written, it is valid
    with pytest.raises(ScenarioError, match=field):
        fault(TEST.format(at="2026-08-03T00:00:00").replace(old, new))


CASE = (
    "id: t\ntitle: T\nstart: 2026-08-03\ndays: 15\nreference_days: 0\nseed: 2\n"
    "faults:\n  - " + TEST.format(at="2026-08-11T10:00:00") + "\n"
)


@pytest.fixture(scope="module")
def experiment_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("exp") / "run"
    simulate(parse_scenario(CASE), SIZE, out)
    return out


def test_the_test_is_listed_like_any_other(experiment_run):
    """The experiments table, its change-log entry and its assignments: the very users the
    fault treats, bucketed by the test's id."""
    exps = scan(experiment_run, "experiments").collect()
    row = exps.filter(pl.col("experiment_id") == "exp_checkout_onepage").row(0, named=True)
    assert row["owner"] == "checkout" and row["traffic"] == 0.5
    assert str(row["start"]) == "2026-08-11 10:00:00"
    log = scan(experiment_run, "changelog").collect()
    entry = log.filter(pl.col("title").str.starts_with("Experiment exp_checkout_onepage started"))
    assert entry.height == 1 and entry["kind"][0] == "experiment"
    assigned = scan(experiment_run, "assignments").filter(
        pl.col("experiment_id") == "exp_checkout_onepage"
    )
    arm = assigned.filter(pl.col("arm") == "treatment").collect()["user_id"].to_numpy()
    n_users = scan(experiment_run, "users").select(pl.len()).collect().item()
    test = fault(TEST.format(at="2026-08-11T10:00:00"))
    assert np.array_equal(np.sort(arm), np.flatnonzero(treated_users(test.experiment(), n_users)))
    text = " ".join(exps["name"].to_list() + exps["owner"].to_list()).lower()
    assert "harm" not in text and "fault" not in text


def test_its_evidence_is_in_the_candidates_tables(experiment_run):
    """Arm against arm: the treatment arm falls against control from before to after, the
    neutral test's arms do not, and users outside the arm hold; the solver calls it DEPLOY."""
    ev = Evidence(experiment_run)
    arms = {r["experiment_id"]: r for r in ev.experiment_arms().iter_rows(named=True)}
    harmful, neutral = arms["exp_checkout_onepage"], arms["exp_feed_card_v2"]
    assert harmful["gap"] < -0.15 and harmful["z"] < -4 and harmful["share"] > 0.6
    assert abs(neutral["z"]) < 3
    treated = scan(experiment_run, "assignments").filter(
        (pl.col("experiment_id") == "exp_checkout_onepage") & (pl.col("arm") == "treatment")
    )
    rates = (
        ev.sessions.join(treated.collect().select("user_id", "arm"), on="user_id", how="left")
        .group_by(in_arm=pl.col("arm").is_not_null(), side="side")
        .agg(cr=CONVERTED.mean())
        .pivot(on="side", index="in_arm", values="cr")
        .with_columns(change=pl.col("after") / pl.col("before") - 1)
    )
    change = dict(zip(rates["in_arm"], rates["change"], strict=True))
    assert change[True] < -0.15 and abs(change[False]) < 0.05
    result = solve(experiment_run)
    assert result.submission["order"][0] == "DEPLOY", result.reasoning
