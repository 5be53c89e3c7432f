"""An upstream item-feed change: the pipeline that feeds the ranker starts publishing
wrong attributes for some categories. The ranker serves from what the feed says, so it
serves worse items where the feed is wrong, and conversion falls there.

Modes (severity = the share of the scope's items affected):
- category_remap: items are filed under the wrong category (a mapping table was replaced);
- stale_stock: the stock flag stops updating, so sold-out items keep being served;
- scrambled_image_signal: the image-quality signal is joined on the wrong key, so items
  carry other items' scores.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np

from sim.effects import NO_EFFECTS, Effects, FaultView
from sim.faults.base import FaultBase, stable_share
from sim.feed import Snapshot
from sim.world import N_CAT


class FeedChange(FaultBase):
    """The item-feed pipeline publishes wrong attributes for a share of the scope's items."""

    type: Literal["feed_change"] = "feed_change"
    mode: Literal["category_remap", "stale_stock", "scrambled_image_signal"] = "category_remap"

    hit_set: ClassVar[tuple[str, ...]] = ("FEED",)
    evidence: ClassVar[str] = (
        "Feed attributes drift between snapshots (PSI) in the affected categories from the "
        "onset, and conversion falls there while other categories hold."
    )
    changelog_kind: ClassVar[str] = "deploy"
    changelog_service: ClassVar[str] = "item-feed-pipeline"
    scope_dimensions: ClassVar[frozenset[str]] = frozenset({"category"})

    def effects(self, level: float, key: str, view: FaultView) -> Effects:
        if level <= 0:
            view.memory.clear()
            return NO_EFFECTS
        items = view.world.items
        in_scope = self.scope.items_in_scope(items.category)
        hit = in_scope & (stable_share(key, np.arange(items.n)) < level)
        if self.mode == "stale_stock" and "in_stock" not in view.memory:
            view.memory["in_stock"] = view.snapshot.in_stock.copy()
        frozen = view.memory.get("in_stock")
        remap = _rotation(self.scope.category_codes() or tuple(range(N_CAT)))
        mode = self.mode
        wrong_key = np.roll(np.arange(items.n), 7_919)  # another item's row

        def transform(snap: Snapshot) -> Snapshot:
            if mode == "category_remap":
                return snap.with_(category=np.where(hit, remap[snap.category], snap.category))
            if mode == "stale_stock":
                return snap.with_(in_stock=np.where(hit, frozen, snap.in_stock))
            scrambled = snap.image_score[wrong_key]
            return snap.with_(image_score=np.where(hit, scrambled, snap.image_score))

        return Effects(feed=transform)


def _rotation(cats: tuple[int, ...]) -> np.ndarray:
    """Category c of the scope is filed under the next one (a single category: its neighbour)."""
    table = np.arange(N_CAT, dtype=np.int8)
    if len(cats) == 1:
        table[cats[0]] = (cats[0] + 1) % N_CAT
    else:
        for a, b in zip(cats, (*cats[1:], cats[0]), strict=True):
            table[a] = b
    return table
