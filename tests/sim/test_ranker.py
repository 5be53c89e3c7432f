"""The ranker's fit and its serving trees: exact, smooth, and coupled across branches."""

from __future__ import annotations

import numpy as np

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
