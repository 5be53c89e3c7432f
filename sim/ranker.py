"""The ranker: learns from logged impressions, serves by its reward policy.

Two logistic models (sim/logit.py), retrained on a schedule from what was shown and what happened:
predicted click-through (pCTR) and predicted order given a click (pCVR). Serving combines
them with the reward policy's weights, log-linearly:

    score = w_click·log pCTR + w_conversion·log pCVR + w_price·log price

and turns scores into per-category sampling weights (a softmax at a temperature, with some
exploration). Scores are computed once per retrain or feed refresh; serving a slot is a
lookup and a binary search, so the feedback loop is real and cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sim.feed import Snapshot
from sim.logit import Logit, fit_logistic
from sim.rng import Streams, slot_counter
from sim.world import N_CAT

DEFAULT_POLICY = {"reward.click": 1.0, "reward.conversion": 1.0, "reward.price": 0.15}


@dataclass
class History:
    """Decayed per-item counts from the server logs (impressions, clicks, orders)."""

    impressions: np.ndarray
    clicks: np.ndarray
    orders: np.ndarray

    @classmethod
    def empty(cls, n: int) -> History:
        return cls(np.zeros(n), np.zeros(n), np.zeros(n))

    def decay(self, factor: float) -> None:
        self.impressions *= factor
        self.clicks *= factor
        self.orders *= factor

    def ctr_logit(self) -> np.ndarray:
        ctr = (self.clicks + 0.4) / (self.impressions + 10.0)
        return np.log(ctr / (1 - ctr))

    def cvr_logit(self) -> np.ndarray:
        cvr = (self.orders + 0.6) / (self.clicks + 10.0)
        return np.log(cvr / (1 - cvr))


def item_features(snap: Snapshot, history: History) -> np.ndarray:
    """The model's view of each item: feed attributes and logged history, never the truth."""
    static = _snapshot_features(snap)
    feats = np.empty((len(static), 6))  # = np.column_stack of the six columns
    feats[:, :4] = static
    feats[:, 4] = history.ctr_logit()
    feats[:, 5] = history.cvr_logit()
    return feats


_SNAPSHOT_FEATURES: list[tuple[tuple[np.ndarray, ...], np.ndarray]] = []  # the last one's


def _snapshot_features(snap: Snapshot) -> np.ndarray:
    """The features that come from the feed alone (price against its category's median,
    seller rating, image and title scores), float64 (n, 4): reused while the feed's columns
    are unchanged (the model's features are built hundreds of times a run, the snapshot
    changes every few hours, and the twelve medians cost more than the rest)."""
    columns = (snap.price, snap.category, snap.seller_rating, snap.image_score, snap.title_score)
    if _SNAPSHOT_FEATURES:
        kept, static = _SNAPSHOT_FEATURES[0]
        same = (
            a.dtype == b.dtype and np.array_equal(a, b) for a, b in zip(kept, columns, strict=True)
        )
        if all(same):
            return static
    static = _snapshot_features_uncached(snap)
    _SNAPSHOT_FEATURES[:] = [(tuple(c.copy() for c in columns), static)]
    return static


def _snapshot_features_uncached(snap: Snapshot) -> np.ndarray:
    log_price = np.log(np.maximum(snap.price, 0.01))
    cat_median = np.zeros(N_CAT)
    by_cat, bounds = _by_category(snap.category)
    grouped = log_price[by_cat]  # each category's values together (a median needs no order)
    for c in range(N_CAT):
        if bounds[c + 1] > bounds[c]:
            cat_median[c] = np.median(grouped[bounds[c] : bounds[c + 1]])
    return np.column_stack(
        [
            log_price - cat_median[snap.category],
            snap.seller_rating - 4.5,
            snap.image_score,
            snap.title_score,
        ]
    ).astype(np.float64, copy=False)


_GROUPING: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # the last category column's


def _by_category(category: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Item ids grouped by category (in item order within each) and each group's bounds,
    reused while the feed's category column is unchanged (it changes only with a remap; the
    pools and the model's features are rebuilt hundreds of times a run)."""
    if _GROUPING and np.array_equal(_GROUPING[0][0], category):
        return _GROUPING[0][1], _GROUPING[0][2]
    cats = category.astype(np.int64)
    by_cat = np.argsort(cats, kind="stable")
    bounds = np.searchsorted(cats[by_cat], np.arange(N_CAT + 1))
    _GROUPING[:] = [(category.copy(), by_cat, bounds)]
    return by_cat, bounds


@dataclass
class Model:
    """A trained (or initial) pair of models; version 0 is the hand-set cold-start model."""

    version: int
    ctr: Logit | None = None
    cvr: Logit | None = None
    trained_rows: int = 0

    def predict(self, feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """pCTR at the top position and pCVR for every item."""
        if self.ctr is None or self.cvr is None:
            ctr_logit = -3.2 + 1.2 * feats[:, 2] + 0.5 * feats[:, 3] + 0.5 * feats[:, 4] + 1.5
            cvr_logit = -2.2 + 0.8 * feats[:, 1] - 0.3 * feats[:, 0] + 0.5 * (feats[:, 5] + 2.8)
            return 1 / (1 + np.exp(-ctr_logit)), 1 / (1 + np.exp(-cvr_logit))
        top = np.column_stack([feats, np.zeros(len(feats))])
        return self.ctr.predict(top), self.cvr.predict(feats)


@dataclass
class TrainingLog:
    """A rolling window of logged impressions the next retrain learns from.

    Which impressions are logged is decided by counter-based draws (per session and slot), so
    two counterfactual branches log the same impressions wherever they showed the same thing.
    Each row carries the expected outcome (chance of a click; chance of an order given one).
    """

    hours: list[dict[str, np.ndarray]] = field(default_factory=list)
    keep_hours: int = 48

    def add(self, **columns: np.ndarray) -> None:
        self.hours.append(columns)
        del self.hours[: -self.keep_hours]

    def rows(self) -> dict[str, np.ndarray]:
        keys = ("item", "position", "p_click", "p_order")
        if not self.hours:
            return {k: np.zeros(0) for k in keys}
        return {k: np.concatenate([h[k] for h in self.hours]) for k in keys}


def retrain(
    version: int, log: TrainingLog, snap: Snapshot, history: History, previous: Model | None = None
) -> tuple[Model, dict[str, float]]:
    """Fit both models on the logged window, warm-started from the previous model; returns
    the model and its training report. The click model learns the chance of a click at a
    position; the conversion model the chance of an order given a click, weighted by clicks."""
    rows = log.rows()
    feats = item_features(snap, history)
    n_rows = len(rows["item"])
    p_click, p_order = rows["p_click"].astype(np.float64), rows["p_order"].astype(np.float64)
    if n_rows < 500 or p_click.sum() < 30 or (p_click * p_order).sum() < 10:
        return Model(version), {"rows": float(n_rows), "auc": float("nan")}
    item_x = feats[rows["item"]]
    x_imp = np.column_stack([item_x, np.log1p(rows["position"])])
    ctr = fit_logistic(x_imp, p_click, start=previous.ctr if previous else None)
    cvr = fit_logistic(item_x, p_order, weight=p_click, start=previous.cvr if previous else None)
    report = {"rows": float(n_rows), "auc": _auc(ctr.predict(x_imp), p_click)}
    return Model(version, ctr, cvr, n_rows), report


def stable_argsort(values: np.ndarray) -> np.ndarray:
    """`np.argsort(values, kind="stable")` of a 1-D array, four times faster: numpy's
    vectorised (unstable) sort, then each run of equal values (NaNs, sorted last, are one
    run) put back in index order. A stable sort's order is unique, so it is the same order."""
    from sim import kernels

    order = np.argsort(values)
    kernels.order_ties(values[order], order)
    return order


def _auc(score: np.ndarray, chance: np.ndarray) -> float:
    """Rank AUC of the click model on its training rows, for the retrain history: each row
    counts as a click with weight `chance` and as a non-click with weight 1 - chance."""
    order = stable_argsort(score)
    pos = chance[order]
    neg = 1.0 - pos
    total_pos, total_neg = pos.sum(), neg.sum()
    if total_pos <= 0 or total_neg <= 0:
        return float("nan")
    # Each positive's share of negatives ranked below it (ties counted as below).
    below = np.cumsum(neg) - neg
    return float((pos * below).sum() / (total_pos * total_neg))


SOLD_OUT_WEIGHT = 0.02  # a sold-out listing keeps this fraction of its weight
DIVERSITY_CAP = 0.02  # no item takes more than this share of its category's feed slots


def _cap_shares(w: np.ndarray, cap: float) -> np.ndarray:
    """Exposure capping, as production feeds do for diversity: clip each item's share at
    `cap` and hand the excess to the rest in proportion (a few passes converge)."""
    total = w.sum()
    if total <= 0 or cap * np.count_nonzero(w) <= 1:
        return w
    w = w / total
    for _ in range(6):
        over = w > cap
        if not over.any():
            break
        excess = (w[over] - cap).sum()
        w = np.where(over, cap, w)
        free = ~over & (w > 0)
        w[free] += excess * w[free] / w[free].sum()
    return w


@dataclass
class Pools:
    """Per-category serving weights as binary sum trees, for coupled sampling.

    A slot descends its category's tree from the root, going left with probability
    left weight / node weight, with one keyed uniform per level. Every tree has a leaf for
    every item, at the item's id (zero weight outside the category), so an item's place never
    depends on which other items are in the category. A change in one item's weight (or an
    item filed under another category) then moves only the slots whose path runs through its
    ancestors, in proportion to the change. An inverse CDF in item order would move every
    slot after the item: one sold-out item reshuffled half a category's feed in a branch.
    """

    # float64 (N_CAT, 2 * leaves): heap-ordered sums, node 1 is the root (None when the
    # pools were built from `p_left` directly: the sums are not kept)
    tree: np.ndarray | None
    depth: int
    p_left: np.ndarray | None = None  # (N_CAT, leaves): chance of going left at a node

    def __post_init__(self) -> None:
        from sim import kernels

        if self.p_left is None:
            self.p_left = kernels.p_left(self.tree)

    @property
    def leaves(self) -> int:
        return self.p_left.shape[1]

    def sample(self, category: np.ndarray, u: np.ndarray) -> np.ndarray:
        """One item per slot: `u` holds `depth` uniforms per slot (shape (depth, n))."""
        flat = self.p_left.ravel()
        base = category.astype(np.int64) * self.leaves
        node = np.ones(len(category), np.int64)
        for level in range(self.depth):
            node = 2 * node + (u[level] >= flat[base + node])
        return (node - self.leaves).astype(np.int32)

    def sample_keyed(
        self, category: np.ndarray, streams: Streams, mechanism: str, counters: np.ndarray
    ) -> np.ndarray:
        """`sample(category, streams.uniform_rows(mechanism, counters, depth))`, compiled:
        each slot's uniforms are drawn as it descends (identical items, no (depth, n) array)."""
        from sim import kernels

        return kernels.tree_sample(
            self.p_left.reshape(-1),
            self.leaves,
            self.depth,
            np.ascontiguousarray(category, dtype=np.int64),
            np.ascontiguousarray(counters, dtype=np.uint64).reshape(-1),
            streams.row_salts(mechanism, self.depth),
        )


def feed_slots(
    rendered: np.ndarray,
    keys: np.ndarray,
    users: np.ndarray,
    category_slots: np.ndarray,
    streams: Streams,
    page_size: int,
) -> tuple[np.ndarray, ...]:
    """The impressions of the rendered pages (`rendered`: sessions x pages) and the category
    each slot shows, drawn from its user's category slots with the keyed uniform "feed.slot":
    session index, page, position, slot counter, user and category per impression, in
    session and page order (compiled; `feed_slots_reference` is the numpy original)."""
    from sim import kernels

    return kernels.feed_slots(
        np.ascontiguousarray(rendered, dtype=np.bool_),
        np.ascontiguousarray(keys, dtype=np.uint64),
        np.ascontiguousarray(users, dtype=np.int64),
        category_slots,
        np.uint64(streams.salt("feed.slot")),
        page_size,
    )


def feed_slots_reference(
    rendered: np.ndarray,
    keys: np.ndarray,
    users: np.ndarray,
    category_slots: np.ndarray,
    streams: Streams,
    page_size: int,
) -> tuple[np.ndarray, ...]:
    """`feed_slots` in numpy, as sim/behavior.py wrote it before the kernel."""
    pg_s, pg_p = np.nonzero(rendered)
    imp_s = np.repeat(pg_s, page_size)
    imp_pg = np.repeat(pg_p, page_size)
    imp_pos = (imp_pg * page_size + np.tile(np.arange(page_size), len(pg_s))).astype(np.int16)
    slot_ctr = slot_counter(keys[imp_s], imp_pos.astype(np.uint64))
    imp_user = users[imp_s]
    u_cat = streams.uniform("feed.slot", slot_ctr)
    cat = category_slots[imp_user, (u_cat * category_slots.shape[1]).astype(np.int64)]
    return imp_s, imp_pg, imp_pos, slot_ctr, imp_user, cat.astype(np.int64)


def _sum_tree(weights: np.ndarray) -> np.ndarray:
    """Heap-ordered sums over leaf weights (a power-of-two count): sim/kernels.py's compiled
    version of `_sum_tree_reference`."""
    from sim import kernels

    return kernels.sum_tree(np.ascontiguousarray(weights, dtype=np.float64))


def _sum_tree_reference(weights: np.ndarray) -> np.ndarray:
    """Heap-ordered sums over leaf weights, level by level in numpy."""
    leaves = len(weights)
    tree = np.zeros(2 * leaves)
    tree[leaves:] = weights
    width = leaves
    while width > 1:
        tree[width // 2 : width] = tree[width : 2 * width : 2] + tree[width + 1 : 2 * width : 2]
        width //= 2
    return tree


def _pool_weights(
    snap: Snapshot,
    score: np.ndarray,
    temperature: float,
    exploration: float,
) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """Each category's members (in item order) and serving weights: a softmax of the scores
    at the temperature, sold-out items demoted, shares capped, mixed with exploration in
    proportion to availability. Every category's softmax runs in one numpy pass over the
    items in grouped order (each category's max subtracted, the same elementwise steps as
    `_pool_weights_reference`), the capping and mixing compiled: bit-identical to the
    category-by-category numpy loop, without its ~100 small numpy calls per category."""
    from sim import kernels

    # The feed's sold-out flag demotes an item rather than dropping it: a stock-out moves the
    # slots it held in proportion to its share, and a listing can still be clicked (and then
    # found sold out), as in a real feed whose stock flag lags.
    available = np.where(snap.in_stock, 1.0, SOLD_OUT_WEIGHT)
    by_cat, bounds = _by_category(snap.category)
    grouped = score[by_cat]
    sizes = np.diff(bounds)
    filled = sizes > 0
    if not filled.any():
        return []
    top = np.maximum.reduceat(grouped, bounds[:-1][filled])
    grouped_available = available[by_cat]
    w = np.exp((grouped - np.repeat(top, sizes[filled])) / max(temperature, 1e-3))
    weights = kernels.pool_weights(
        w * grouped_available, grouped_available, bounds, DIVERSITY_CAP, float(exploration)
    )
    return [
        (c, by_cat[bounds[c] : bounds[c + 1]], weights[bounds[c] : bounds[c + 1]])
        for c in range(N_CAT)
        if filled[c]
    ]


def _pool_weights_reference(
    snap: Snapshot,
    score: np.ndarray,
    temperature: float,
    exploration: float,
) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """Each category's members and serving weights, category by category in numpy: what
    `build_pools` computed before `kernels.pool_weights` (kept for the kernel's tests)."""
    available = np.where(snap.in_stock, 1.0, SOLD_OUT_WEIGHT)
    by_cat, bounds = _by_category(snap.category)
    groups = []
    for c in range(N_CAT):
        members = by_cat[bounds[c] : bounds[c + 1]]
        if not len(members):
            continue
        s = score[members]
        w = np.exp((s - s.max()) / max(temperature, 1e-3)) * available[members]
        w = _cap_shares(w, DIVERSITY_CAP)
        explore = available[members] / available[members].sum()
        weights = (1 - exploration) * w / w.sum() + exploration * explore
        groups.append((c, members, weights))
    return groups


def build_pools(
    snap: Snapshot,
    pctr: np.ndarray,
    pcvr: np.ndarray,
    policy: dict[str, float],
    temperature: float,
    exploration: float,
) -> Pools:
    """Serving weights per category from the reward policy; out-of-stock items demoted."""
    score = (
        policy["reward.click"] * np.log(np.clip(pctr, 1e-6, 1))
        + policy["reward.conversion"] * np.log(np.clip(pcvr, 1e-6, 1))
        + policy["reward.price"] * np.log(np.maximum(snap.price, 0.01))
    )
    n = len(snap.category)
    leaves = 1 << max(n - 1, 1).bit_length()
    from sim import kernels

    groups = _pool_weights(snap, score, temperature, exploration)
    depth = leaves.bit_length() - 1
    if len(groups) == N_CAT:
        # Usually every category has items: each tree is summed in one reused row and only
        # its chances are kept (the full trees are 6 MB of fresh memory per build at default).
        row, p_left = np.zeros(2 * leaves), np.empty((N_CAT, leaves))
        roots = [kernels.fill_p_left(row, members, w, p_left[c]) for c, members, w in groups]
        if min(roots) > 0:  # (a NaN root is no empty category either, as below)
            return Pools(None, depth, p_left)
    tree = np.zeros((N_CAT, 2 * leaves))
    for c, members, weights in groups:
        kernels.fill_tree(tree[c], members, weights)  # = _sum_tree of the leaf weights
    # A category the feed holds no item of (a remap can empty one) is served from the rest.
    empty = tree[:, 1] <= 0
    if empty.any() and not empty.all():
        tree[empty] = tree[~empty].mean(axis=0)
    return Pools(tree, depth)
