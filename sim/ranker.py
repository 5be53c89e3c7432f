"""The ranker: learns from logged impressions, serves by its reward policy.

Two scikit-learn models, retrained on a schedule from what was shown and what happened:
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
from sklearn.linear_model import LogisticRegression

from sim.feed import Snapshot
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
    log_price = np.log(np.maximum(snap.price, 0.01))
    cat_median = np.zeros(N_CAT)
    for c in range(N_CAT):
        sel = snap.category == c
        cat_median[c] = np.median(log_price[sel]) if sel.any() else 0.0
    return np.column_stack(
        [
            log_price - cat_median[snap.category],
            snap.seller_rating - 4.5,
            snap.image_score,
            snap.title_score,
            history.ctr_logit(),
            history.cvr_logit(),
        ]
    ).astype(np.float64)


@dataclass
class Model:
    """A trained (or initial) pair of models; version 0 is the hand-set cold-start model."""

    version: int
    ctr: LogisticRegression | None = None
    cvr: LogisticRegression | None = None
    trained_rows: int = 0

    def predict(self, feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """pCTR at the top position and pCVR for every item."""
        if self.ctr is None or self.cvr is None:
            ctr_logit = -3.2 + 1.2 * feats[:, 2] + 0.5 * feats[:, 3] + 0.5 * feats[:, 4] + 1.5
            cvr_logit = -2.2 + 0.8 * feats[:, 1] - 0.3 * feats[:, 0] + 0.5 * (feats[:, 5] + 2.8)
            return 1 / (1 + np.exp(-ctr_logit)), 1 / (1 + np.exp(-cvr_logit))
        top = np.column_stack([feats, np.zeros(len(feats))])
        return self.ctr.predict_proba(top)[:, 1], self.cvr.predict_proba(feats)[:, 1]


@dataclass
class TrainingLog:
    """A rolling window of logged impressions the next retrain learns from.

    Which impressions are logged is decided by counter-based draws (per session and slot), so
    two counterfactual branches log the same impressions wherever they showed the same thing;
    `base` marks the uniform sample the click model learns from, while clicked impressions
    are logged at a higher rate for the conversion model.
    """

    hours: list[dict[str, np.ndarray]] = field(default_factory=list)
    keep_hours: int = 48

    def add(self, **columns: np.ndarray) -> None:
        self.hours.append(columns)
        del self.hours[: -self.keep_hours]

    def rows(self) -> dict[str, np.ndarray]:
        keys = ("item", "position", "clicked", "ordered", "base")
        if not self.hours:
            return {k: np.zeros(0, bool if k == "base" else float) for k in keys}
        return {k: np.concatenate([h[k] for h in self.hours]) for k in keys}


def retrain(
    version: int, log: TrainingLog, snap: Snapshot, history: History
) -> tuple[Model, dict[str, float]]:
    """Fit both models on the logged window; returns the model and its training report."""
    rows = log.rows()
    feats = item_features(snap, history)
    base = rows["base"]
    clicked = rows["clicked"].astype(bool)
    n_base = int(base.sum())
    if n_base < 500 or rows["clicked"][base].sum() < 30 or rows["ordered"][clicked].sum() < 10:
        return Model(version), {"rows": float(n_base), "auc": float("nan")}
    x_imp = np.column_stack([feats[rows["item"][base]], np.log1p(rows["position"][base])])
    y_click = rows["clicked"][base]
    ctr = LogisticRegression(C=1.0, max_iter=400, tol=1e-7).fit(x_imp, y_click)
    cvr = LogisticRegression(C=1.0, max_iter=400, tol=1e-7).fit(
        feats[rows["item"][clicked]], rows["ordered"][clicked]
    )
    report = {"rows": float(n_base), "auc": _auc(ctr.predict_proba(x_imp)[:, 1], y_click)}
    return Model(version, ctr, cvr, n_base), report


def _auc(score: np.ndarray, label: np.ndarray) -> float:
    """Rank AUC (training fit), for the retrain history."""
    order = np.argsort(score, kind="stable")
    ranks = np.empty(len(score))
    ranks[order] = np.arange(1, len(score) + 1)
    pos = label.astype(bool)
    n_pos, n_neg = pos.sum(), (~pos).sum()
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


GUIDE_BUCKETS = 16384
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
    """Per-category sampling weights over items, laid out for O(1) sampling per slot.

    A guide table (Chen & Asau) maps each bucket of [0, 1) to the first item whose cumulative
    weight reaches it; a few vectorized steps forward finish the exact inverse-CDF draw.
    """

    items: np.ndarray  # int32 item ids grouped by category
    cdf: np.ndarray  # float64 cumulative share within the category, ending at 1
    end: np.ndarray  # int64 one past each category's last index in `items`
    guide: np.ndarray  # int32 (N_CAT, GUIDE_BUCKETS) first index at or past each bucket

    def sample(self, category: np.ndarray, u: np.ndarray) -> np.ndarray:
        idx = self.guide[category, (u * GUIDE_BUCKETS).astype(np.int64)].astype(np.int64)
        last = self.end[category] - 1
        active = np.flatnonzero((self.cdf[idx] <= u) & (idx < last))
        while active.size:
            idx[active] += 1
            a_idx = idx[active]
            active = active[(self.cdf[a_idx] <= u[active]) & (a_idx < last[active])]
        return self.items[idx]


def build_pools(
    snap: Snapshot,
    pctr: np.ndarray,
    pcvr: np.ndarray,
    policy: dict[str, float],
    temperature: float,
    exploration: float,
) -> Pools:
    """Serving weights per category from the reward policy; feed-out-of-stock items excluded."""
    score = (
        policy["reward.click"] * np.log(np.clip(pctr, 1e-6, 1))
        + policy["reward.conversion"] * np.log(np.clip(pcvr, 1e-6, 1))
        + policy["reward.price"] * np.log(np.maximum(snap.price, 0.01))
    )
    cats = snap.category.astype(np.int64)
    # Items keep a fixed order (by id) within their category, so a small change of weights
    # moves only the slots near the changed items: inverse-CDF sampling then stays coupled
    # across counterfactual branches (sorting by score would reshuffle every slot).
    order = np.lexsort((np.arange(len(cats)), cats))
    items = order.astype(np.int32)
    cat_sorted = cats[order]
    start = np.searchsorted(cat_sorted, np.arange(N_CAT), side="left")
    end = np.searchsorted(cat_sorted, np.arange(N_CAT), side="right")
    cdf = np.ones(len(order))
    guide = np.zeros((N_CAT, GUIDE_BUCKETS), np.int64)
    grid = np.arange(GUIDE_BUCKETS) / GUIDE_BUCKETS
    available = snap.in_stock[order]
    for c in range(N_CAT):
        lo, hi = start[c], end[c]
        if hi <= lo:
            continue
        s = score[order[lo:hi]]
        w = np.exp((s - s.max()) / max(temperature, 1e-3)) * available[lo:hi]
        w = _cap_shares(w, DIVERSITY_CAP)
        total = w.sum()
        w = (1 - exploration) * (w / total if total > 0 else 0) + exploration * available[
            lo:hi
        ] / max(available[lo:hi].sum(), 1)
        cum = np.cumsum(w)
        cdf[lo:hi] = np.minimum(cum / max(cum[-1], 1e-12), 1.0)
        cdf[hi - 1] = 1.0
        guide[c] = lo + np.searchsorted(cdf[lo:hi], grid, side="right")
    guide = np.minimum(guide, np.maximum(end - 1, 0)[:, None]).astype(np.int32)
    return Pools(items, cdf, end.astype(np.int64), guide)
