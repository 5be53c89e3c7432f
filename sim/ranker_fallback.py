"""The ranker's fallback model: the service's bundled cold-start model serving a share of slots.

When the ranking service cannot load its current model (a failed model push, a model store
outage), it serves with the model it ships with: version 0, the hand-set cold-start model
that ranks by listing attributes (image, title, seller rating, price) and the logged history,
with none of what the retrains learned. Here a share of each category's feed slots is served
from pools built the usual way (same reward policy, temperature, exploration, stock demotion
and diversity cap) on that model's predictions. A slot goes to the fallback when its keyed
uniform ("ranker.fallback") falls below its category's share, so a share moved a little moves
only the slots near the line, and both pools draw each slot's item from the same "feed.item"
uniforms.

Nothing here runs unless a fault sets a share (sim/effects.py `ranking_fallback`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from sim.feed import Snapshot
from sim.ranker import History, Model, Pools, build_pools, item_features
from sim.rng import Streams


def fallback_pools(snap: Snapshot, history: History, config: Mapping[str, float]) -> Pools:
    """Serving pools from the cold-start model's predictions, with the live serving config."""
    pctr, pcvr = Model(0).predict(item_features(snap, history))
    return build_pools(
        snap, pctr, pcvr, dict(config), config["ranker.temperature"], config["ranker.exploration"]
    )


@dataclass
class FallbackPools:
    """The model's pools with a share of each category's slots served by `fallback`."""

    model: Pools
    fallback: Pools
    share: np.ndarray  # float per category: the share of its slots the fallback serves

    def sample_keyed(
        self, category: np.ndarray, streams: Streams, mechanism: str, counters: np.ndarray
    ) -> np.ndarray:
        """`Pools.sample_keyed`, each slot from the current model or (its share) the fallback."""
        current = self.model.sample_keyed(category, streams, mechanism, counters)
        stale = self.fallback.sample_keyed(category, streams, mechanism, counters)
        use = streams.uniform("ranker.fallback", counters) < self.share[category]
        return np.where(use, stale, current)


def with_fallback(
    pools: Pools,
    snap: Snapshot,
    history: History,
    share: np.ndarray,
    config: Mapping[str, float],
) -> Pools | FallbackPools:
    """The serving pools when a fallback share is set (the model's own pools when all 0)."""
    if not (share > 0).any():
        return pools
    return FallbackPools(pools, fallback_pools(snap, history, config), share)
