"""stale_ranker: a share of the feed's slots is served by the ranker's cold-start model, in
its categories only; off, it changes nothing; its evidence is in the candidate's tables."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from grading.solver import Evidence
from readout.tables import scan
from sim.ranker_fallback import FallbackPools
from sim.runner import simulate
from sim.scenario import parse_scenario
from sim.world import CATEGORIES
from tests.sim.faults.demand_helpers import SIZE, branch, fault, same_hours, warm_world

STALE = "{{type: stale_ranker, id: s, at: {at}, slots: 0.5{scope}}}"
SCOPED = ", scope: {category: [beauty, phones_digital]}"
HOURS = 3  # before the first retrain: only the serving pools differ between branches


@pytest.fixture(scope="module")
def warm():
    return warm_world()


def _shown(hours, world) -> tuple[np.ndarray, np.ndarray]:
    items = np.concatenate([h.funnel.imp_item for h in hours])
    return items, world.items.category[items]


def test_it_serves_the_fallback_in_its_categories_only(warm):
    base, state = branch(warm, {}, HOURS)
    text = STALE.format(at="2026-08-03T00:00:00", scope=SCOPED)
    stale, after = branch(warm, {"s": fault(text)}, HOURS)
    assert isinstance(after.pools, FallbackPools)
    for b, s in zip(base, stale, strict=True):  # the same sessions, pages and slots
        assert np.array_equal(b.batch.key, s.batch.key)
        assert np.array_equal(b.funnel.imp_position, s.funnel.imp_position)
    items_b, cat_b = _shown(base, state.world)
    items_s, _ = _shown(stale, state.world)
    scoped = np.isin(cat_b, [CATEGORIES.index("beauty"), CATEGORIES.index("phones_digital")])
    assert np.array_equal(items_b[~scoped], items_s[~scoped])  # elsewhere: the very same items
    changed = (items_b[scoped] != items_s[scoped]).mean()
    assert 0.05 < changed < 0.5  # half the slots, many drawing the same item from either


def test_a_branch_with_it_off_is_the_baseline(warm):
    base, _ = branch(warm, {}, HOURS)
    later = {"s": fault(STALE.format(at="2026-08-10T00:00:00", scope=""))}
    assert same_hours(base, branch(warm, later, HOURS)[0])
    zero = {"s": fault(STALE.format(at="2026-08-03T00:00:00", scope="")).with_severity(0.0)}
    hours, after = branch(warm, zero, HOURS)
    assert same_hours(base, hours)
    assert not isinstance(after.pools, FallbackPools)


def test_it_lowers_add_to_cart_per_click_more_than_ctr(warm):
    """The stale model shows items that look good on the card, not items that sell."""
    on = {"s": fault(STALE.format(at="2026-08-03T00:00:00", scope=""))}
    totals = {}
    for name, faults in (("base", {}), ("stale", on)):
        hours, _ = branch(warm, faults, 24)
        clicks = sum(h.funnel.clicked.sum() for h in hours)
        shown = sum(len(h.funnel.imp_item) for h in hours)
        carts = sum(h.funnel.carted.sum() for h in hours)
        totals[name] = (clicks / shown, carts / clicks)
    ctr = totals["stale"][0] / totals["base"][0] - 1
    cart = totals["stale"][1] / totals["base"][1] - 1
    assert cart < -0.02 and cart < ctr - 0.01


CASE = (
    "id: t\ntitle: T\nstart: 2026-08-03\ndays: 15\nreference_days: 0\nseed: 2\n"
    "faults:\n  - "
    + STALE.format(at="2026-08-10T21:00:00", scope="").replace("slots: 0.5", "slots: 0.6")
    + "\n"
)


@pytest.fixture(scope="module")
def stale_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("stale") / "run"
    simulate(parse_scenario(CASE), SIZE, out)
    return out


def test_its_evidence_is_in_the_candidates_tables(stale_run):
    """Add-to-cart per click falls on every platform while the retrains go on with the same
    weights, and the items the feed shows had converted worse the week before."""
    ev = Evidence(stale_run)
    _, _, funnel = ev.change()
    assert funnel["cart_per_click"] < -0.02
    by_platform = (
        ev.sessions.group_by("platform", "side")
        .agg(pl.col("carts").sum() / pl.col("clicks").sum())
        .pivot(on="side", index="platform", values="carts")
    )
    assert (by_platform["after"] < by_platform["before"]).all()
    runs = scan(stale_run, "ranker_runs").collect()
    assert runs["deployed"].all() and ev.reward_weights_moved() == 0.0
    assert ev.served_conversion() < -0.02
