"""The ranker's fit and its serving trees: exact, smooth, and coupled across branches."""

from __future__ import annotations

import numpy as np
import pytest

from sim.logit import GRID, fit_logistic
from sim.ranker import Pools, _sum_tree
from sim.world import N_CAT


def _pools(weights: np.ndarray) -> Pools:
    rows = np.zeros((N_CAT, weights.shape[1]))
    rows[: len(weights)] = weights
    return Pools(np.stack([_sum_tree(r) for r in rows]), weights.shape[1].bit_length() - 1)


def test_trees_sample_items_in_proportion_to_their_weights():
    weights = np.zeros((2, 8))
    weights[0, [1, 3, 6]] = [0.2, 0.5, 0.3]
    weights[1, [0, 7]] = [0.9, 0.1]
    pools = _pools(weights)
    u = np.random.default_rng(0).random((pools.depth, 100_000))
    for c in (0, 1):
        drawn = np.bincount(pools.sample(np.full(100_000, c), u), minlength=8) / 100_000
        np.testing.assert_allclose(drawn, weights[c] / weights[c].sum(), atol=0.005)


def test_a_changed_item_moves_only_a_proportional_share_of_slots():
    """Coupling: raising one item's weight by 1% of the total, or removing an item, moves at
    most about depth times that share of the slots, whatever the item's place."""
    rng = np.random.default_rng(1)
    weights = rng.random((1, 1024))
    weights /= weights.sum()
    u = rng.random((10, 200_000))
    cat = np.zeros(200_000, np.int64)
    before = _pools(weights).sample(cat, u)
    raised = weights.copy()
    raised[0, 100] += 0.01
    moved = np.mean(_pools(raised).sample(cat, u) != before)
    assert moved < 0.05  # at most ~depth x 1%; an inverse CDF in item order moved ~50%
    removed = weights.copy()
    removed[0, 3] = 0.0
    after = _pools(removed).sample(cat, u)
    own = np.mean(before == 3)
    assert own <= np.mean(after != before) <= pools_depth(weights) * own


def pools_depth(weights: np.ndarray) -> int:
    return _pools(weights).depth


def test_newton_fit_reaches_the_penalised_optimum():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(5000, 4))
    chance = 1 / (1 + np.exp(-(x @ np.array([0.5, -1.0, 0.2, 0.0]) - 1.0)))
    model = fit_logistic(x, chance, c=1.0)
    p = model.predict(x)
    grad = np.concatenate([[np.sum(p - chance)], x.T @ (p - chance) + model.coef])
    assert np.max(np.abs(grad)) < 1e-3  # zero up to the 2^-24 rounding of the coefficients
    assert np.all(np.round(model.coef / GRID) * GRID == model.coef)


def test_newton_fit_is_smooth_in_the_data():
    """A changed row moves the coefficients in proportion to the change: twice the change,
    twice the step (an iterative solver stopped at a tolerance jumps instead)."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(20_000, 5))
    y = 1 / (1 + np.exp(-(x @ np.ones(5) * 0.3 - 2)))
    a = fit_logistic(x, y)
    steps = []
    for delta in (0.05, 0.1):
        changed = y.copy()
        changed[:10] = np.minimum(1.0, changed[:10] + delta)
        steps.append(fit_logistic(x, changed, start=a).coef - a.coef)
    assert np.max(np.abs(steps[1])) < 1e-3
    np.testing.assert_allclose(steps[1], 2 * steps[0], atol=4 * GRID)


def _newton_reference(x, y, c=1.0, weight=None, start=None):
    """sim/logit.py's fit before its fast path (kept verbatim, unrounded): the design by
    column_stack, weights of 1 multiplied in, the logits recomputed for every step."""
    from sim.logit import MAX_STEPS, STEP_TOLERANCE, _threadpools

    def loss_of(design, target, rows, w, ridge):
        z = design @ w
        terms = rows * (np.logaddexp(0.0, z) - target * z)
        return float(np.sum(terms) + 0.5 * np.sum(ridge * w * w))

    n, k = x.shape
    rows = np.ones(n) if weight is None else weight.astype(np.float64)
    design = np.column_stack([np.ones(n), x])
    target = y.astype(np.float64)
    ridge = np.full(k + 1, 1.0 / c)
    ridge[0] = 0.0
    w = np.zeros(k + 1)
    if start is not None:
        w[0], w[1:] = start.intercept, start.coef
    with _threadpools().limit(limits=1):
        loss = loss_of(design, target, rows, w, ridge)
        for _ in range(MAX_STEPS):
            p = 1.0 / (1.0 + np.exp(-(design @ w)))
            grad = design.T @ (rows * (p - target)) + ridge * w
            hess = (design * (rows * p * (1 - p))[:, None]).T @ design + np.diag(ridge)
            hess[np.diag_indices_from(hess)] += 1e-9
            step = np.linalg.solve(hess, grad)
            t = 1.0
            while True:
                trial = w - t * step
                trial_loss = loss_of(design, target, rows, trial, ridge)
                if trial_loss <= loss + 1e-12 * abs(loss) or t < 1e-6:
                    break
                t /= 2
            w, loss = trial, trial_loss
            if np.max(np.abs(t * step)) < STEP_TOLERANCE:
                break
    return w


@pytest.mark.parametrize("steps", [1, 2, 50])
def test_newton_fit_equals_the_reference_bit_for_bit(steps, monkeypatch):
    """The fit's fast path (logits kept from the loss, no weights of 1 multiplied in, the
    Hessian's scaled rows compiled) takes the same steps to the same unrounded optimum as the
    plain numpy fit, weighted or not, cold (with backtracking) or warm-started, float32 or
    float64 features; stopped after one or two steps too (where a last-bit difference in a
    step has not converged away)."""
    from sim import logit
    from sim.logit import Logit, _newton

    monkeypatch.setattr(logit, "MAX_STEPS", steps)

    rng = np.random.default_rng(11)
    for trial in range(12):
        n, k = int(rng.integers(600, 30_000)), int(rng.integers(2, 9))
        x = rng.normal(size=(n, k)) * rng.uniform(0.2, 3, k)
        if trial % 3 == 0:
            x = x.astype(np.float32)
        y = 1 / (1 + np.exp(-(x @ rng.normal(size=k) - 2)))
        weight = rng.random(n) if trial % 2 else None
        start = Logit(-1.0, rng.normal(size=k) * 0.1) if trial % 4 == 1 else None
        ref = _newton_reference(x, y, 1.0, weight, start)
        design = np.column_stack([np.ones(n), x])
        rows = None if weight is None else weight.astype(np.float64)
        ridge = np.concatenate([[0.0], np.ones(k)])
        w = np.zeros(k + 1) if start is None else np.concatenate([[start.intercept], start.coef])
        got = _newton(design, y.astype(np.float64), rows, ridge, w)
        assert got.tobytes() == ref.tobytes(), trial
        if steps < 50:
            continue
        fitted = fit_logistic(x, y, weight=weight, start=start)
        assert (
            np.concatenate([[fitted.intercept], fitted.coef]).tobytes()
            == (np.round(ref / GRID) * GRID).tobytes()
        )


def _item_features_reference(snap, history):
    """sim/ranker.py's item_features before its feed columns were kept (verbatim)."""
    from sim.ranker import _by_category

    log_price = np.log(np.maximum(snap.price, 0.01))
    cat_median = np.zeros(N_CAT)
    by_cat, bounds = _by_category(snap.category)
    grouped = log_price[by_cat]
    for c in range(N_CAT):
        if bounds[c + 1] > bounds[c]:
            cat_median[c] = np.median(grouped[bounds[c] : bounds[c + 1]])
    return np.column_stack(
        [
            log_price - cat_median[snap.category],
            snap.seller_rating - 4.5,
            snap.image_score,
            snap.title_score,
            history.ctr_logit(),
            history.cvr_logit(),
        ]
    ).astype(np.float64, copy=False)


def test_item_features_equal_the_reference_as_feed_and_history_change():
    """The feed's columns are reused only while they are unchanged: the features equal the
    from-scratch ones bit for bit through a repeated snapshot, a history that moved, a price
    change, a remapped category, a new rating and the return of an earlier snapshot."""
    from datetime import date

    from sim.feed import take_snapshot
    from sim.ranker import History, item_features
    from sim.rng import Streams
    from sim.world import Size, make_world

    world = make_world(Streams(5), Size("t", 6000), date(2024, 1, 1), 7)
    n = world.items.n
    rng = np.random.default_rng(5)
    history = History.empty(n)
    first = take_snapshot(world, 0, 0)
    price = first.with_(price=(first.price * np.float32(1.1)).astype(np.float32))
    remap = first.with_(category=np.where(first.category == 2, 3, first.category).astype(np.int8))
    rating = first.with_(seller_rating=first.seller_rating[::-1].copy())
    steps = [first, first, price, price, remap, rating, first]
    for step, snap in enumerate(steps):
        got = item_features(snap, history)
        assert got.dtype == np.float64 and got.flags.c_contiguous
        assert got.tobytes() == _item_features_reference(snap, history).tobytes(), step
        history.impressions += rng.poisson(3.0, n)
        history.clicks += rng.binomial(3, 0.05, n)
        history.orders += rng.binomial(1, 0.01, n)
