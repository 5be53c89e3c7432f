"""The compiled kernels (sim/kernels.py) give bit-identical results to the numpy code they
replace, on random inputs and on edge values (0, 2**64-1, high bits set, zero-weight trees)."""

from __future__ import annotations

import subprocess
import sys
from datetime import date

import numpy as np
import pytest

from sim import kernels
from sim.behavior import (
    EXAMINE,
    NEW_USER_TRUST,
    SOURCE_INTENT,
    Conditions,
    SessionBatch,
    _sigmoid,
    cart_logit,
)
from sim.ranker import Pools, _sum_tree, _sum_tree_reference, feed_slots, feed_slots_reference
from sim.rng import Streams, _splitmix64, splitmix64_int, stable_hash
from sim.world import CATEGORY_PRICE, Size, make_world

EDGES = np.array(
    [0, 1, 2**16 - 1, 2**32 - 1, 2**32, 2**39, 2**53 + 1, 2**63, 2**64 - 2, 2**64 - 1],
    np.uint64,
)


def _counters(seed: int, n: int = 20_000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    random = rng.integers(0, 2**64 - 1, n, dtype=np.uint64, endpoint=True)
    return np.concatenate([EDGES, random, np.arange(1000, dtype=np.uint64)])


def _reference_bits(streams: Streams, mechanism: str, counters: np.ndarray) -> np.ndarray:
    """The numpy implementation sim/rng.py used before the kernels (kept here verbatim)."""
    mix = streams.seed * 0x1000193 + stable_hash(mechanism) + streams.luck * 0x9E3779B1
    salt = _splitmix64(np.array([mix % 2**64], np.uint64))
    with np.errstate(over="ignore"):
        state = (counters.astype(np.uint64, copy=False) ^ salt[0]) * np.uint64(0x9E3779B97F4A7C15)
    return _splitmix64(state)


def _bytes(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a).tobytes()


@pytest.mark.parametrize(("seed", "luck"), [(7, 0), (0, 3), (2**32 - 1, 64), (123456, 1)])
def test_draws_equal_the_numpy_reference(seed, luck):
    streams = Streams(seed, luck)
    counters = _counters(seed % 1000)
    ref = _reference_bits(streams, "behavior.click", counters)
    assert _bytes(streams._bits("behavior.click", counters)) == _bytes(ref)
    uniform = (ref >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))
    assert _bytes(streams.uniform("behavior.click", counters)) == _bytes(uniform)
    low, high = streams.uniform_pair("behavior.click", counters)
    scale = 1.0 / (1 << 32)
    assert _bytes(low) == _bytes((ref & np.uint64(0xFFFFFFFF)).astype(np.float64) * scale)
    assert _bytes(high) == _bytes((ref >> np.uint64(32)).astype(np.float64) * scale)
    assert uniform.min() >= 0 and uniform.max() < 1 and high.max() < 1


@pytest.mark.parametrize("k", [1, 2, 5, 17])
def test_uniform_rows_equal_the_pairs(k):
    streams = Streams(11)
    counters = _counters(k)
    rows = streams.uniform_rows("feed.item", counters, k)
    assert rows.shape == (k, len(counters))
    for i in range(k):
        low, high = streams.uniform_pair(f"feed.item.{i // 2}", counters)
        assert _bytes(rows[i]) == _bytes(low if i % 2 == 0 else high)


def test_draws_keep_the_counters_shape_and_accept_other_integer_types():
    streams = Streams(5)
    grid = np.arange(24, dtype=np.int64).reshape(4, 6)
    assert streams.uniform("x", grid).shape == (4, 6)
    assert _bytes(streams.uniform("x", grid)) == _bytes(
        streams.uniform("x", grid.astype(np.uint64).ravel())
    )
    assert streams.uniform("x", np.zeros(0, np.uint64)).shape == (0,)


def test_salt_matches_the_array_finaliser():
    for x in [0, 1, 2**63, 2**64 - 1, 0x1234567890ABCDEF]:
        assert splitmix64_int(x) == int(_splitmix64(np.array([x], np.uint64))[0])


def _random_pools(seed: int, cats: int = 5, leaves: int = 256) -> Pools:
    rng = np.random.default_rng(seed)
    weights = rng.random((cats, leaves)) * (rng.random((cats, leaves)) < 0.3)
    weights[0] = 0.0  # an empty category: every node has zero weight
    weights[1, :] = 0.0
    weights[1, leaves - 1] = 1.0  # one item holds the whole category
    tree = np.stack([_sum_tree_reference(w) for w in weights])
    return Pools(tree, leaves.bit_length() - 1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tree_descent_equals_sampling_from_uniform_rows(seed):
    pools = _random_pools(seed)
    streams = Streams(seed + 40)
    n = 30_000
    rng = np.random.default_rng(seed)
    category = rng.integers(0, 5, n)
    counters = rng.integers(0, 2**56, n, dtype=np.uint64)
    u = streams.uniform_rows("feed.item", counters, pools.depth)
    expected = pools.sample(category, u)
    drawn = pools.sample_keyed(category, streams, "feed.item", counters)
    assert drawn.dtype == np.int32
    assert _bytes(drawn) == _bytes(expected)
    assert (drawn[category == 1] == 255).all()


def test_p_left_equals_numpy_division():
    pools = _random_pools(3)
    tree, leaves = pools.tree, pools.leaves
    inner = tree[:, :leaves]
    left = tree[:, 0 : 2 * leaves : 2]
    expected = np.divide(left, inner, out=np.full(inner.shape, 0.5), where=inner > 0)
    assert _bytes(pools.p_left) == _bytes(expected)


@pytest.mark.parametrize("leaves", [2, 8, 1024])
def test_sum_tree_equals_the_reference(leaves):
    rng = np.random.default_rng(leaves)
    weights = rng.random(leaves) * (rng.random(leaves) < 0.5)
    weights[0] = 1e-300
    weights[-1] = 1e300
    assert _bytes(_sum_tree(weights)) == _bytes(_sum_tree_reference(weights))
    assert kernels.sum_tree(np.zeros(leaves)).sum() == 0


def test_fill_tree_equals_the_sum_tree_of_the_full_leaf_array():
    rng = np.random.default_rng(9)
    leaves = 512
    members = np.sort(rng.choice(leaves, 100, replace=False))
    weights = rng.random(100)
    full = np.zeros(leaves)
    full[members] = weights
    row = np.zeros((3, 2 * leaves))
    kernels.fill_tree(row[1], members, weights)
    assert _bytes(row[1]) == _bytes(_sum_tree_reference(full))
    assert not row[0].any() and not row[2].any()


@pytest.mark.parametrize("seed", [0, 1])
def test_feed_slots_equal_the_numpy_reference(seed):
    rng = np.random.default_rng(seed)
    n, pages = 700, 8
    rendered = rng.random((n, pages)) < 0.4
    rendered[0] = True  # a session that saw every page
    rendered[1] = False  # and one that saw none
    keys = np.concatenate([[0, 2**40 - 1], rng.integers(0, 2**40, n - 2)]).astype(np.uint64)
    users = rng.integers(0, 500, n).astype(np.int64)
    slots = rng.integers(0, 12, (500, 10)).astype(np.int8)
    streams = Streams(seed + 3, luck=seed)
    got = feed_slots(rendered, keys, users, slots, streams, 6)
    want = feed_slots_reference(rendered, keys, users, slots, streams, 6)
    assert len(got[0]) == 6 * rendered.sum()
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype
        assert _bytes(g) == _bytes(w)


def _reference_cart_logit(world, batch, cond, session, item):
    """sim/behavior.py's numpy expression, verbatim (without a competitor's demand)."""
    users, items = world.users, world.items
    user = batch.user[session]
    rel_price = np.log(items.price[item] / CATEGORY_PRICE[items.category[item]])
    return (
        items.propensity[item]
        + users.intent[user]
        + SOURCE_INTENT[batch.source[session]]
        + cond.intent
        - users.price_sens[user] * rel_price
        - 1.6 * items.clickbait[item]
        - NEW_USER_TRUST * batch.new_user[session]
        - 2.8
    )


def _random_batch(rng, world, n: int, key=None, new_users: float = 0.0) -> SessionBatch:
    """`n` sessions of random users and sources starting at 0, a share `new_users` of them by
    new users, with random keys unless `key` is given (drawn in the fields' order)."""
    return SessionBatch(
        key=rng.integers(0, 2**40, n).astype(np.uint64) if key is None else key,
        user=rng.integers(0, world.users.n, n).astype(np.int64),
        source=rng.integers(0, len(SOURCE_INTENT), n).astype(np.int8),
        start_s=np.zeros(n, np.int64),
        new_user=rng.random(n) < new_users if new_users else np.zeros(n, bool),
    )


@pytest.mark.parametrize("intent", [0.0, 0.1234567891, -0.35, 0.2, np.float64(0.2)])
def test_cart_logit_equals_the_numpy_expression(intent):
    world = make_world(Streams(3), Size("kernels", 3000), date(2026, 8, 3), 7)
    rng = np.random.default_rng(5)
    n = 4000
    batch = _random_batch(rng, world, n, key=np.arange(n, dtype=np.uint64), new_users=0.3)
    session = rng.integers(0, n, 30_000)
    item = rng.integers(0, world.items.n, 30_000)
    cond = Conditions(intent=intent)
    got = cart_logit(world, batch, cond, session, item)
    want = _reference_cart_logit(world, batch, cond, session, item)
    assert got.dtype == want.dtype == np.float64
    assert _bytes(got) == _bytes(want)
    from sim.behavior import _chances_compiled, _item_logit

    imp_pos = rng.integers(0, len(EXAMINE), len(item)).astype(np.int16)
    slot_ctr = rng.integers(0, 2**56, len(item), dtype=np.uint64)
    item_logit = _item_logit(world.items, cond.click_offset)
    compiled = _chances_compiled(
        world, batch, cond, item_logit, session, imp_pos, item, slot_ctr, Streams(3), None
    )
    if compiled is not None:  # the relative price is read per item, as numpy gathers it
        assert _bytes(compiled[2]) == _bytes(_sigmoid(want))
    assert (compiled is not None) == (type(intent) is float)  # a numpy float64 goes to numpy


def test_compiled_clicks_equal_the_numpy_steps():
    """The click chance and draw at the sigmoid's edges (exp overflows to inf, underflows to
    0), compiled and in numpy; float64 affinities are left to numpy."""
    from sim.behavior import _chances, _chances_compiled

    world = make_world(Streams(8), Size("kernels", 3000), date(2026, 8, 3), 7)
    rng = np.random.default_rng(8)
    n_sessions, n = 500, 50_000
    item_logit = (rng.normal(-3, 2, world.items.n)).astype(np.float32)
    item_logit[:3] = [-200.0, 200.0, 0.0]
    item = np.concatenate([[0, 1, 2], rng.integers(0, world.items.n, n - 3)]).astype(np.int32)
    batch = _random_batch(rng, world, n_sessions)
    imp_s = np.sort(rng.integers(0, n_sessions, n))
    position = rng.integers(0, len(EXAMINE), n).astype(np.int16)
    counters = rng.integers(0, 2**56, n, dtype=np.uint64)
    args = (world, batch, Conditions(), item_logit, imp_s)
    rest = (position, item, counters, Streams(21), None)
    with np.errstate(over="ignore"):
        got = _chances_compiled(*args, *rest)
        want = _chances(*args, batch.user[imp_s], *rest)
    assert got is not None
    assert got[0].dtype == want[0].dtype == np.float32
    assert _bytes(got[0]) == _bytes(want[0])
    assert _bytes(got[1]) == _bytes(want[1])
    assert 0 < want[1].mean() < 1 and want[0][1] > 0 and want[0][0] == 0
    world.users.affinity_logit = world.users.affinity_logit.astype(np.float64)
    assert _chances_compiled(*args, *rest) is None


@pytest.mark.parametrize("today", [-1, 0, 11_000, 2**31 - 1])
def test_cumulative_rate_equals_numpy_cumsum(today):
    """The session rate over users: float32 activity x the active flag x a float64 scale,
    summed in float64 in user order, as sim/engine.py's numpy line computes it."""
    rng = np.random.default_rng(today % 97)
    n = 30_000
    activity = rng.lognormal(np.log(0.42), 0.6, n).astype(np.float32)
    activity[:4] = [0.0, 6.0, np.float32(1e-30), np.float32(3e38)]
    signup = rng.integers(10_500, 11_500, n).astype(np.int32)
    signup[:3] = [-(2**31), 2**31 - 1, 0]
    for scale in (np.float64(0.0), np.float64(1 / 24), np.float64(1.7e-3) * 1.37, np.float64(2.5)):
        got = kernels.cumulative_rate(activity, signup, today, scale)
        ref = np.cumsum(activity * (signup <= today) * scale, dtype=np.float64)
        assert got is not None and got.dtype == ref.dtype == np.float64
        assert _bytes(got) == _bytes(ref)
    assert kernels.cumulative_rate(activity, signup, today, 0.5) is None  # numpy: float32
    assert kernels.cumulative_rate(activity.astype(np.float64), signup, today, scale) is None
    assert len(kernels.cumulative_rate(activity[:0], signup[:0], today, scale)) == 0


def test_category_grouping_follows_the_column():
    """The cached grouping of items by category is the stable argsort of the current column,
    also after the column changes (a remap) and changes back."""
    from sim.ranker import _by_category

    rng = np.random.default_rng(5)
    first = rng.integers(0, 12, 5000).astype(np.int8)
    second = first.copy()
    second[[3, 77, 4000]] = (second[[3, 77, 4000]] + 1) % 12
    second[second == 5] = 6  # an empty category
    for column in (first, first.copy(), second, first):
        by_cat, bounds = _by_category(column)
        cats = column.astype(np.int64)
        assert np.array_equal(by_cat, np.argsort(cats, kind="stable"))
        assert np.array_equal(bounds, np.searchsorted(cats[by_cat], np.arange(13)))
    mutated = first.copy()
    _by_category(mutated)
    mutated[0] = (mutated[0] + 1) % 12  # changed in place: not served from the cache
    assert np.array_equal(_by_category(mutated)[0], np.argsort(mutated, kind="stable"))


def test_relative_price_per_item_equals_the_per_impression_log():
    """The purchase logit's price term, cached per item, is the log of each impression's own
    price ratio, and follows a price change (a new array or one changed in place)."""
    from sim.behavior import _relative_price

    world = make_world(Streams(3), Size("t", 6000), date(2024, 1, 1), 7)
    items = world.items
    item = np.random.default_rng(2).integers(0, items.n, 40_000)
    for change in range(3):
        if change == 1:
            items.price = np.round(items.price * np.float32(0.9), 1).astype(np.float32)
        if change == 2:
            items.price[item[:10]] *= np.float32(1.5)
        got = _relative_price(items)[item]
        ref = np.log(items.price[item] / CATEGORY_PRICE[items.category[item]])
        assert _bytes(got) == _bytes(ref)


def test_p_left_rows_without_the_tree_equal_the_full_tree():
    """The pools' chances summed in one reused row per category equal `p_left` of the
    full trees (`fill_tree`), and the root sums are returned."""
    rng = np.random.default_rng(4)
    leaves, cats = 1024, 5
    tree = np.zeros((cats, 2 * leaves))
    p_left = np.empty((cats, leaves))
    row = np.full(2 * leaves, 7.0)  # scratch left dirty: zeroed by the kernel
    for c in range(cats):
        members = np.sort(rng.choice(1000, 150, replace=False))
        weights = rng.random(150) * (rng.random(150) < 0.8)  # some zero-weight leaves
        kernels.fill_tree(tree[c], members, weights)
        root = kernels.fill_p_left(row, members, weights, p_left[c])
        assert root == tree[c, 1]
    assert _bytes(p_left) == _bytes(kernels.p_left(tree))


def test_pools_from_rows_equal_pools_from_the_full_tree(monkeypatch):
    """build_pools keeps only the chances when every category has items and the full trees
    otherwise (an empty category is served from the rest): forced down the full-tree path
    (a root sum of 0 sends it there), the same snapshot gives the same chances."""
    from sim.feed import take_snapshot
    from sim.ranker import DEFAULT_POLICY, build_pools

    world = make_world(Streams(6), Size("t", 6000), date(2024, 1, 1), 7)
    snap = take_snapshot(world, 0, 0)
    rng = np.random.default_rng(6)
    pctr, pcvr = rng.random(world.items.n) * 0.1, rng.random(world.items.n) * 0.2
    rows = build_pools(snap, pctr, pcvr, DEFAULT_POLICY, 0.7, 0.05)
    assert rows.tree is None and rows.leaves == 2048  # 1,200 items
    fill = kernels.fill_p_left
    monkeypatch.setattr(kernels, "fill_p_left", lambda *a: fill(*a) * 0.0)
    full = build_pools(snap, pctr, pcvr, DEFAULT_POLICY, 0.7, 0.05)
    assert full.tree is not None
    assert _bytes(rows.p_left) == _bytes(full.p_left)
    one_empty = snap.with_(category=np.where(snap.category == 3, 4, snap.category).astype(np.int8))
    monkeypatch.setattr(kernels, "fill_p_left", fill)
    assert build_pools(one_empty, pctr, pcvr, DEFAULT_POLICY, 0.7, 0.05).tree is not None


def test_item_counts_equal_numpy_bincounts():
    """The history's per-item counts in one pass equal numpy's three bincounts (the weighted
    ones summed in float64 in impression order); other inputs go back to numpy."""
    rng = np.random.default_rng(12)
    n_items = 3000
    item = rng.integers(0, n_items, 80_000).astype(np.int32)
    item[:5] = [0, n_items - 1, 0, 0, n_items - 1]
    p_click = (rng.random(80_000) * 0.2).astype(np.float32)
    p_click[:3] = [0.0, np.float32(1e-40), np.float32(0.7)]
    expected = p_click * (rng.random(80_000) * 0.1).astype(np.float32)
    got = kernels.item_counts(item, p_click, expected, n_items)
    assert got is not None
    ref = (
        np.bincount(item, minlength=n_items),
        np.bincount(item, weights=p_click, minlength=n_items),
        np.bincount(item, weights=expected, minlength=n_items),
    )
    for a, b in zip(got, ref, strict=True):
        assert a.dtype == b.dtype and _bytes(a) == _bytes(b)
    assert kernels.item_counts(item, p_click.astype(np.float64), expected, n_items) is None
    assert kernels.item_counts(item, p_click, expected, n_items - 1) is None  # out of range
    empty = kernels.item_counts(item[:0], p_click[:0], expected[:0], 4)
    assert empty is not None and empty[0].tolist() == [0, 0, 0, 0]


def test_importing_the_simulator_does_not_import_numba():
    """numba takes about half a second to import: only a run that draws pays it."""
    code = (
        "import sys, sim.runner, sim.behavior, sim.engine, sim.ranker, sim.rng, sim.latency\n"
        "assert 'numba' not in sys.modules, 'numba imported eagerly'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_loading_the_kernels_skips_scipy_linalg_and_leaves_it_importable():
    """numba's BLAS probe is skipped (scipy.linalg is not loaded by the kernels), and the
    probe's placeholder is gone afterwards: scipy.linalg imports as usual."""
    code = (
        "import sys, numpy as np\n"
        "from sim import kernels\n"
        "kernels.uniform(np.arange(3, dtype=np.uint64), np.uint64(1))\n"
        "assert 'scipy.linalg' not in sys.modules\n"
        "assert 'scipy.linalg.cython_blas' not in sys.modules\n"
        "import importlib.util\n"
        "if importlib.util.find_spec('scipy'):  # not a dependency: checked where installed\n"
        "    import scipy.linalg.cython_blas\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_pairwise_sum_equals_numpy_sum():
    """numpy's pairwise summation, replicated: every length up to a few blocks, long arrays
    (the halving), offsets into an array, zeros and values of mixed magnitude."""
    rng = np.random.default_rng(8)
    lengths = [*range(300), 1000, 1759, 8191, 8192, 8193, 25_627, 100_000]
    for n in lengths:
        a = rng.standard_normal(n + 5) * 10 ** rng.uniform(-4, 4, n + 5)
        a[rng.random(n + 5) < 0.1] = 0.0
        assert kernels.pairwise_sum(a, 0, n) == a[:n].sum(), n
        assert kernels.pairwise_sum(a, 3, n) == a[3 : n + 3].sum(), n


def test_capped_shares_equal_the_numpy_capping():
    """The compiled exposure cap equals sim/ranker.py's `_cap_shares` bit for bit, whether it
    converges, runs out of passes, or leaves the weights alone (all zero, too few items)."""
    from sim.ranker import _cap_shares

    rng = np.random.default_rng(9)
    for trial in range(600):
        n = int(rng.integers(1, 2000))
        w = np.exp(rng.standard_normal(n) * rng.uniform(0.1, 5))
        if trial % 4 == 0:
            w[rng.random(n) < 0.3] = 0.0
        if trial % 50 == 0:
            w[:] = 0.0
        cap = float(rng.choice([0.02, 0.05, 0.3, 1.0]))
        got = w.copy()
        kernels._cap_shares(got, cap, np.empty(n), np.empty(n, np.bool_))
        assert _bytes(got) == _bytes(_cap_shares(w.copy(), cap)), trial


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_pool_weights_equal_the_per_category_numpy_loop(seed):
    """build_pools' weights from one softmax pass and the compiled capping equal the
    category-by-category numpy loop bit for bit: sold-out items, an emptied category, ties at
    a category's top score, temperatures below the floor."""
    from sim.feed import take_snapshot
    from sim.ranker import _pool_weights, _pool_weights_reference

    world = make_world(Streams(seed), Size("t", 6000), date(2024, 1, 1), 7)
    snap = take_snapshot(world, 0, 0)
    rng = np.random.default_rng(seed)
    n = world.items.n
    category = np.where(snap.category == seed, seed + 1, snap.category).astype(np.int8)
    snap = snap.with_(in_stock=rng.random(n) < 0.8, category=category)
    score = rng.standard_normal(n) * 2
    score[rng.random(n) < 0.05] = score.max()
    for temperature, exploration in [(0.6, 0.05), (0.1, 0.0), (0.0, 0.2), (3.0, 1.0)]:
        got = _pool_weights(snap, score, temperature, exploration)
        ref = _pool_weights_reference(snap, score, temperature, exploration)
        assert [c for c, _, _ in got] == [c for c, _, _ in ref]
        assert len(got) == 11
        for (_, members, weights), (_, ref_members, ref_weights) in zip(got, ref, strict=True):
            assert _bytes(members) == _bytes(ref_members)
            assert _bytes(weights) == _bytes(ref_weights)


def test_stable_argsort_equals_numpy_stable_argsort():
    """The unstable sort with its ties put back in index order is numpy's stable argsort:
    many ties, NaNs, infinities, signed zeros, sorted and reversed input, one and no value."""
    from sim.ranker import stable_argsort

    rng = np.random.default_rng(12)
    cases = [np.zeros(0), np.array([1.0]), np.arange(5000.0), np.arange(5000.0)[::-1].copy()]
    for _ in range(20):
        n = int(rng.integers(2, 30_000))
        values = np.round(rng.standard_normal(n), int(rng.integers(0, 4)))
        special = rng.random(n)
        values[special < 0.02] = np.nan
        values[(special > 0.02) & (special < 0.04)] = -0.0
        values[(special > 0.04) & (special < 0.05)] = np.inf
        values[(special > 0.05) & (special < 0.06)] = -np.inf
        cases.append(values)
    cases.append(np.full(3000, 0.25))
    for values in cases:
        assert _bytes(stable_argsort(values)) == _bytes(np.argsort(values, kind="stable"))


@pytest.mark.parametrize(("seed", "luck"), [(3, 0), (8, 5)])
def test_compiled_pages_equal_the_numpy_pages(seed, luck):
    from sim.behavior import _pages, _pages_compiled
    from sim.latency import LatencyModel, LatencyOverlay

    world = make_world(Streams(seed), Size("kernels", 3000), date(2026, 8, 3), 7)
    rng = np.random.default_rng(seed)
    n = 5000
    batch = SessionBatch(
        key=np.concatenate([[0, 2**40 - 1], rng.integers(0, 2**40, n - 2)]).astype(np.uint64),
        user=rng.integers(0, world.users.n, n).astype(np.int64),
        source=rng.integers(0, len(SOURCE_INTENT), n).astype(np.int8),
        start_s=np.zeros(n, np.int64),
        new_user=rng.random(n) < 0.3,
        bot=rng.random(n) < 0.1,  # crawlers fetch every page until one fails
    )
    world.users.patience_ms[:50] = 1.0  # impatient users abandon slow pages
    streams = Streams(seed, luck)
    latency = LatencyModel(server_median_ms=400.0)
    got = _pages_compiled(batch, world.users, latency, streams)
    want = _pages(batch, world.users, latency, streams)
    assert got is not None
    rendered, _, req_p, *_ = want
    assert rendered.shape == (n, 8) and 0 < rendered.mean() < 1 and req_p.max() == 7
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype and g.shape == w.shape
        assert _bytes(g) == _bytes(w)
    latency.overlays = {"f": LatencyOverlay({"platform": (0,)}, server_factor=3.0)}
    assert _pages_compiled(batch, world.users, latency, streams) is None  # numpy then


@pytest.mark.parametrize(
    ("crawlers", "moved"), [(False, ""), (True, ""), (False, "demand"), (True, "both")]
)
def test_compiled_chances_equal_the_numpy_chances(crawlers, moved):
    """The same chances compiled and in numpy, also when a competitor's demand and an
    experiment's arm move the purchase logit (subtracted from its negation, in numpy's
    order of additions)."""
    from sim.behavior import _chances, _chances_compiled, _item_logit
    from sim.demand import DemandShift
    from sim.experiments import Treatment

    world = make_world(Streams(4), Size("kernels", 3000), date(2026, 8, 3), 7)
    world.items.stock[::3] = 0  # sold out
    rng = np.random.default_rng(9)
    n, m = 800, 30_000
    batch = _random_batch(rng, world, n, new_users=0.3)
    imp_s = np.sort(rng.integers(0, n, m))
    imp_pos = rng.integers(0, len(EXAMINE), m).astype(np.int16)
    item = rng.integers(0, world.items.n, m).astype(np.int32)
    slot_ctr = (batch.key[imp_s] << np.uint64(16)) | imp_pos.astype(np.uint64)
    bots = rng.random(n) < 0.2 if crawlers else None
    cond = Conditions(intent=0.15, click_offset=-1.0)
    if moved:  # buyers on two platforms, two categories; a third of users in the arm
        shift = DemandShift({"platform": (0, 2)}, (1, 3), intent=-0.7123456789, skip=0.2)
        cond.demand = (shift, DemandShift({"city_tier": (2,)}, (), intent=-0.3, skip=0.0))
    if moved == "both":
        arm = rng.random(world.users.n) < 0.33
        cond.treatments = (Treatment(arm, -0.41234567), Treatment(~arm, 0.1))
    item_logit = _item_logit(world.items, cond.click_offset)
    args = (world, batch, cond, item_logit, imp_s)
    rest = (imp_pos, item, slot_ctr, Streams(6), bots)
    got = _chances_compiled(*args, *rest)
    want = _chances(*args, batch.user[imp_s], *rest)
    assert got is not None
    p_click, clicked, p_cart, in_stock = want
    assert 0 < clicked.mean() < 1 and 0 < in_stock.mean() < 1 and p_cart.dtype == np.float64
    assert (p_click == 0).any() == crawlers
    if moved:  # the offsets did move the purchase chances
        plain = Conditions(intent=0.15, click_offset=-1.0)
        unmoved = _chances_compiled(world, batch, plain, *args[3:], *rest)
        assert unmoved is not None and (unmoved[2] != p_cart).any()
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype and g.shape == w.shape
        assert _bytes(g) == _bytes(w)
    assert (
        _chances_compiled(world, batch, Conditions(intent=np.float64(0.1)), *args[3:], *rest)
        is None
    )


def test_compiled_events_equal_the_numpy_events():
    from sim.behavior import Funnel
    from sim.engine import _events, _events_reference

    rng = np.random.default_rng(12)
    n, m = 300, 5000
    batch = SessionBatch(
        key=np.arange(n, dtype=np.uint64),
        user=np.zeros(n, np.int64),
        source=np.zeros(n, np.int8),
        start_s=rng.integers(1.7e9, 1.8e9, n),
        new_user=np.zeros(n, bool),
    )
    clicked = rng.random(m) < 0.3
    carted = clicked & (rng.random(m) < 0.5)
    ordered = carted & (rng.random(m) < 0.6)
    empty = np.zeros(0)
    funnel = Funnel(
        *(empty,) * 6,
        imp_session=np.sort(rng.integers(0, n, m)),
        imp_page=rng.integers(0, 8, m).astype(np.int8),
        imp_position=rng.integers(0, 48, m).astype(np.int16),
        imp_item=np.zeros(m, np.int32),
        clicked=clicked,
        carted=carted,
        ordered=ordered,
        paid=ordered & (rng.random(m) < 0.9),
        p_click=empty,
        p_order=empty,
    )
    counter = rng.integers(0, 2**56, m, dtype=np.uint64)
    got = _events(funnel, batch, counter)
    want = _events_reference(funnel, batch, counter)
    assert (
        len(want[0])
        == clicked.sum() + carted.sum() + 2 * ordered.sum() - (ordered & ~funnel.paid).sum()
    )
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype
        assert _bytes(g) == _bytes(w)


def test_click_outcomes_equal_the_numpy_steps():
    rng = np.random.default_rng(14)
    m = 40_000
    clicked = rng.random(m) < 0.2
    p_cart = rng.random(m)
    in_stock = rng.random(m) < 0.8
    slot_ctr = rng.integers(0, 2**56, m, dtype=np.uint64)
    streams = Streams(17, 2)
    logistics, payment = 0.8123, 0.94
    ci = np.flatnonzero(clicked)
    c_ctr = slot_ctr[ci]
    want = streams.uniform("behavior.cart", c_ctr) < p_cart[ci]
    cart = want & in_stock[ci]
    order = cart & (streams.uniform("behavior.order", c_ctr) < 0.6 * logistics)
    pay = order & (streams.uniform("behavior.pay", c_ctr) < payment)
    salts = [np.uint64(streams.salt(f"behavior.{s}")) for s in ("cart", "order", "pay")]
    got = kernels.click_outcomes(
        clicked, p_cart, in_stock, slot_ctr, *salts, np.float64(0.6 * logistics),
        np.float64(payment),
    )  # fmt: skip
    assert 0 < pay.sum() < order.sum() < cart.sum() < len(ci)
    for g, w in zip(got, (ci, cart, order, pay), strict=True):
        assert g.dtype == w.dtype
        assert _bytes(g) == _bytes(w)


def test_compiled_events_take_strided_columns():
    """Views with a stride (every other impression) beside contiguous masks go to the kernel
    as contiguous copies: the same events as numpy's, not a numba typing error (the kernel
    indexes its tuple of masks, which must then share one layout)."""
    from sim.behavior import Funnel
    from sim.engine import _events, _events_reference

    rng = np.random.default_rng(13)
    n, m = 200, 6000
    batch = SessionBatch(
        key=np.arange(n, dtype=np.uint64),
        user=np.zeros(n, np.int64),
        source=np.zeros(n, np.int8),
        start_s=rng.integers(1.7e9, 1.8e9, 2 * n)[::2],
        new_user=np.zeros(n, bool),
    )
    clicked = rng.random(m) < 0.3
    empty = np.zeros(0)
    funnel = Funnel(
        *(empty,) * 6,
        imp_session=np.sort(rng.integers(0, n, m))[::2],
        imp_page=rng.integers(0, 8, m).astype(np.int8)[::2],
        imp_position=rng.integers(0, 48, m).astype(np.int16)[::2],
        imp_item=np.zeros(m // 2, np.int32),
        clicked=clicked[::2],
        carted=(clicked & (rng.random(m) < 0.5))[::2],
        ordered=np.zeros(m // 2, bool),
        paid=np.zeros(m // 2, bool),
        p_click=empty,
        p_order=empty,
    )
    counter = rng.integers(0, 2**56, m, dtype=np.uint64)[::2]
    assert not funnel.clicked.flags.c_contiguous and funnel.paid.flags.c_contiguous
    got = _events(funnel, batch, counter)
    want = _events_reference(funnel, batch, counter)
    assert len(want[0]) == funnel.clicked.sum() + funnel.carted.sum() > 0
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype
        assert _bytes(g) == _bytes(w)


@pytest.mark.parametrize("as_type", [np.float64, np.int64])
def test_compiled_pages_with_other_factor_types(monkeypatch, as_type):
    """Latency factor tables of float64 give numpy's pages (each product rounded to float32
    as numpy's in-place products round it); other types are left to numpy."""
    from sim import latency as lat
    from sim.behavior import _pages, _pages_compiled
    from sim.latency import LatencyModel

    world = make_world(Streams(5), Size("kernels", 3000), date(2026, 8, 3), 7)
    rng = np.random.default_rng(5)
    n = 3000
    batch = _random_batch(rng, world, n)
    factors = ("TIER_FACTOR", "NETWORK_SERVER_FACTOR", "DEVICE_RENDER_MS", "NETWORK_FACTOR")
    for name in factors:  # values float32 cannot hold, so the rounding shows
        value = (getattr(lat, name).astype(np.float64) * 1.0123456789).astype(as_type)
        monkeypatch.setattr(lat, name, value)
    streams = Streams(5)
    latency = LatencyModel(server_median_ms=333.3)
    got = _pages_compiled(batch, world.users, latency, streams)
    if as_type is not np.float64:
        assert got is None
        return
    want = _pages(batch, world.users, latency, streams)
    assert got is not None and want[3].dtype == np.float32
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype and g.shape == w.shape
        assert _bytes(g) == _bytes(w)


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("sim.latency", "TIER_FACTOR"),
        ("sim.latency", "NETWORK_FACTOR"),
        ("sim.latency", "NETWORK_SERVER_FACTOR"),
        ("sim.latency", "DEVICE_RENDER_MS"),
        ("sim.behavior", "SOURCE_DEPTH"),
        ("sim.behavior", "SOURCE_INTENT"),
        ("sim.behavior", "EXAMINE"),
    ],
)
def test_a_short_code_table_is_left_to_numpy(monkeypatch, module, name):
    """numba reads past a table's end without an error: a table shorter than its codes' domain
    (a new source, device or network without its entry) sends the hour to numpy, which
    raises IndexError."""
    import importlib

    from sim.behavior import _chances_compiled, _item_logit, _pages_compiled
    from sim.latency import LatencyModel

    world = make_world(Streams(4), Size("kernels", 3000), date(2026, 8, 3), 7)
    n = 50
    batch = SessionBatch(
        key=np.arange(n, dtype=np.uint64),
        user=np.arange(n, dtype=np.int64),
        source=np.zeros(n, np.int8),
        start_s=np.zeros(n, np.int64),
        new_user=np.zeros(n, bool),
    )
    streams, cond = Streams(4), Conditions()
    item_logit = _item_logit(world.items, cond.click_offset)
    imp = (np.zeros(n, np.int64), np.zeros(n, np.int16), np.zeros(n, np.int32))
    chances = (world, batch, cond, item_logit, *imp, np.arange(n, dtype=np.uint64), streams, None)
    assert _pages_compiled(batch, world.users, LatencyModel(), streams) is not None
    assert _chances_compiled(*chances) is not None
    table = getattr(importlib.import_module(module), name)
    monkeypatch.setattr(importlib.import_module(module), name, table[:-1])
    pages = _pages_compiled(batch, world.users, LatencyModel(), streams)
    assert pages is None and _chances_compiled(*chances) is None


def test_short_event_offsets_are_left_to_numpy(monkeypatch):
    from sim import engine
    from sim.behavior import Funnel

    n = 4
    batch = SessionBatch(
        key=np.arange(n, dtype=np.uint64),
        user=np.zeros(n, np.int64),
        source=np.zeros(n, np.int8),
        start_s=np.zeros(n, np.int64),
        new_user=np.zeros(n, bool),
    )
    paid = np.ones(n, bool)
    empty = np.zeros(0)
    funnel = Funnel(
        *(empty,) * 6,
        imp_session=np.arange(n, dtype=np.int64),
        imp_page=np.zeros(n, np.int8),
        imp_position=np.zeros(n, np.int16),
        imp_item=np.zeros(n, np.int32),
        clicked=paid,
        carted=paid,
        ordered=paid,
        paid=paid,
        p_click=empty,
        p_order=empty,
    )
    monkeypatch.setattr(engine, "EVENT_OFFSET_S", engine.EVENT_OFFSET_S[:3])
    with pytest.raises(IndexError):  # no pay offset: numpy's error, not a read past the end
        engine._events(funnel, batch, np.arange(n, dtype=np.uint64))
