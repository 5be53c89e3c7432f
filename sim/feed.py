"""The upstream item feed: periodic snapshots of the item attributes the ranker sees.

The ranker never reads the world's items directly; it reads the latest snapshot. A feed
fault installs a transform on the pipeline (units switched, categories remapped, signals
dropped) or freezes it (stale snapshots), and the ranker serves from what the feed says.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from sim.world import World


@dataclass(frozen=True)
class Snapshot:
    """Item attributes as the feed pipeline published them at one refresh."""

    version: int
    taken_hour: int  # engine hour of the refresh
    price: np.ndarray  # float32
    category: np.ndarray  # int8
    in_stock: np.ndarray  # bool
    seller_rating: np.ndarray  # float32
    image_score: np.ndarray  # float32
    title_score: np.ndarray  # float32

    def with_(self, **changes: np.ndarray) -> Snapshot:
        return replace(self, **changes)


FeedTransform = Callable[[Snapshot], Snapshot]


def _title_noise(n: int) -> np.ndarray:
    """A fixed per-item wording quality, the same in every snapshot."""
    x = np.arange(n, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    return ((x >> np.uint64(40)).astype(np.float64) / float(1 << 24)).astype(np.float32)


def take_snapshot(
    world: World,
    version: int,
    hour: int,
    transforms: dict[str, FeedTransform] | None = None,
) -> Snapshot:
    """Read the items as the pipeline does, then apply any installed transforms in order."""
    items, sellers = world.items, world.sellers
    title = 0.35 + 0.3 * _title_noise(items.n) + 0.3 * items.clickbait
    snap = Snapshot(
        version=version,
        taken_hour=hour,
        price=items.price.copy(),
        category=items.category.copy(),
        in_stock=items.stock > 0,
        seller_rating=sellers.rating[items.seller].copy(),
        image_score=items.image_score.copy(),
        title_score=title.astype(np.float32),
    )
    for name in sorted(transforms or {}):
        snap = (transforms or {})[name](snap)
    return snap


def snapshot_columns(snap: Snapshot) -> dict[str, np.ndarray]:
    """The feed_snapshots table rows for one refresh."""
    n = len(snap.price)
    return {
        "snapshot": np.full(n, snap.version, np.int32),
        "item_id": np.arange(n, dtype=np.int32),
        "price": snap.price,
        "category": snap.category,
        "in_stock": snap.in_stock,
        "seller_rating": snap.seller_rating,
        "image_score": snap.image_score,
        "title_score": snap.title_score,
    }
