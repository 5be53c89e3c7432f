"""The agents: users, sellers and items, held as numpy arrays (one row per agent).

Latent truth (item appeal and purchase propensity, user intent, price sensitivity, category
affinities, latency patience) lives here and only here; sim/runner.world_tables writes the
columns an analyst may see.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np

from sim.rng import Streams

CATEGORIES = (
    "womens_apparel", "mens_apparel", "beauty", "phones_digital", "home_living", "food_snacks",
    "mother_baby", "sports_outdoor", "appliances", "books_stationery", "pets", "shoes_bags",
)  # fmt: skip
CATEGORY_PRICE = np.array([129, 149, 99, 1299, 79, 39, 119, 199, 899, 45, 69, 239], float)
PLATFORMS = ("ios", "android", "miniprogram")
DEVICES = ("high", "mid", "low")
NETWORKS = ("wifi", "5g", "4g", "3g")
TENURES = ("new", "returning")
SHOP_TYPES = ("flagship", "small_shop")
N_CAT = len(CATEGORIES)
AFFINITY_SLOTS = 32


@dataclass(frozen=True)
class Size:
    """How big a world to simulate."""

    name: str
    users: int

    @property
    def items(self) -> int:
        return max(600, self.users // 5)

    @property
    def sellers(self) -> int:
        return max(60, self.items // 12)


SIZES = {
    "tiny": Size("tiny", 6_000),
    "small": Size("small", 50_000),
    "default": Size("default", 100_000),
    "large": Size("large", 1_000_000),
}


@dataclass
class Users:
    city_tier: np.ndarray  # int8 1..5
    platform: np.ndarray  # int8 index into PLATFORMS
    device: np.ndarray  # int8 index into DEVICES
    network: np.ndarray  # int8 index into NETWORKS
    signup: np.ndarray  # int32 days since 2000-01-01
    activity: np.ndarray  # float32 expected sessions per day (latent)
    intent: np.ndarray  # float32 purchase logit offset (latent)
    price_sens: np.ndarray  # float32 (latent)
    category_slots: np.ndarray  # uint8 (n, AFFINITY_SLOTS): categories in proportion (latent)
    affinity_logit: np.ndarray  # float32 (n, N_CAT) click logit boost by category (latent)
    patience_ms: np.ndarray  # float32 latency tolerance (latent)
    depth: np.ndarray  # float32 probability of scrolling to another page (latent)
    app_minor: np.ndarray  # int16 installed app version (minor number)

    @property
    def n(self) -> int:
        return len(self.city_tier)


@dataclass
class Sellers:
    shop_type: np.ndarray  # int8 index into SHOP_TYPES
    category: np.ndarray  # int8
    quality: np.ndarray  # float32 (latent)
    price_level: np.ndarray  # float32
    rating: np.ndarray  # float32 shop rating shown to users and the feed
    incentive_response: np.ndarray  # float32 how fast they chase platform incentives (latent)
    clickbait_habit: np.ndarray  # float32 their usual share of clickbait listings (latent)
    clickbait: np.ndarray  # float32 share of their listings with clickbait titles (state)

    @property
    def n(self) -> int:
        return len(self.shop_type)


@dataclass
class Items:
    seller: np.ndarray  # int32
    category: np.ndarray  # int8
    price: np.ndarray  # float32 (yuan)
    appeal: np.ndarray  # float32 true click appeal (latent)
    propensity: np.ndarray  # float32 true purchase logit given a click (latent)
    image_score: np.ndarray  # float32 image quality signal the feed carries
    stock: np.ndarray  # int32 units on hand (state)
    stock_target: np.ndarray  # int32 restock level
    clickbait: np.ndarray  # bool: listing has a clickbait title (state)
    listed: np.ndarray  # int32 days since 2000-01-01

    @property
    def n(self) -> int:
        return len(self.seller)


@dataclass
class World:
    users: Users
    sellers: Sellers
    items: Items
    epoch: date = field(default=date(2000, 1, 1))


def day_number(day: date) -> int:
    return (day - date(2000, 1, 1)).days


def _choice(rng: np.random.Generator, n: int, probs: list[float]) -> np.ndarray:
    p = np.asarray(probs, float)
    return rng.choice(len(p), size=n, p=p / p.sum()).astype(np.int8)


def _slots(share: np.ndarray, k: int) -> np.ndarray:
    """Each row's shares as k category slots (largest remainder), so that a feed slot's
    category is one table lookup: a user's taste *is* this table."""
    exact = share * k
    count = np.floor(exact).astype(np.int64)
    short = k - count.sum(axis=1)
    remainder_rank = np.argsort(-(exact - count), axis=1, kind="stable")
    ranks = np.empty_like(remainder_rank)
    np.put_along_axis(ranks, remainder_rank, np.arange(share.shape[1])[None, :], axis=1)
    count += ranks < short[:, None]
    cats = np.tile(np.arange(share.shape[1], dtype=np.uint8), share.shape[0])
    return np.repeat(cats, count.ravel()).reshape(share.shape[0], k)


def make_users(streams: Streams, n: int, period_start: date, period_days: int) -> Users:
    rng = streams.generator("world.users")
    tier = (_choice(rng, n, [0.12, 0.2, 0.25, 0.23, 0.2]) + 1).astype(np.int8)
    p_ios = np.array([0.5, 0.4, 0.3, 0.22, 0.15])[tier - 1]
    u = rng.random(n)
    platform = np.where(u < p_ios, 0, np.where(u < p_ios + 0.22, 2, 1)).astype(np.int8)
    high = np.where(platform == 0, 0.75, 0.25 - 0.03 * (tier - 1))
    low = np.where(platform == 0, 0.02, 0.15 + 0.06 * (tier - 1))
    u = rng.random(n)
    device = np.where(u < high, 0, np.where(u < 1 - low, 1, 2)).astype(np.int8)
    wifi = rng.random(n) < 0.55
    cell = _choice(rng, n, [0.3, 0.6, 0.1]) + 1
    slow_city = (tier >= 4) & (rng.random(n) < 0.25)
    cell = np.where(slow_city & (cell == 1), 2, cell)
    cell = np.where(slow_city & (rng.random(n) < 0.4), 3, cell)
    network = np.where(wifi, 0, cell).astype(np.int8)
    # Most users signed up long ago; a steady stream joins during the period.
    start_day = day_number(period_start)
    is_new = rng.random(n) < 0.12
    signup = np.where(
        is_new,
        start_day - 30 + rng.integers(0, period_days + 30, n),
        start_day - 60 - rng.integers(0, 6 * 365, n),
    ).astype(np.int32)
    activity = rng.lognormal(np.log(0.42), 0.6, n).astype(np.float32)
    activity = np.minimum(activity, 6.0).astype(np.float32)
    intent = rng.normal(0.0, 0.6, n).astype(np.float32)
    price_sens = rng.lognormal(np.log(0.8), 0.4, n).astype(np.float32)
    price_sens *= np.array([0.8, 0.9, 1.0, 1.1, 1.2], np.float32)[tier - 1]
    aff = rng.dirichlet(np.full(N_CAT, 0.35), n).astype(np.float32)
    aff = 0.85 * aff + 0.15 / N_CAT
    category_slots = _slots(aff, AFFINITY_SLOTS)
    share = np.stack([(category_slots == c).mean(axis=1) for c in range(N_CAT)], axis=1)
    affinity_logit = (np.log(np.maximum(share, 0.5 / AFFINITY_SLOTS) * N_CAT) * 0.35).astype(
        np.float32
    )
    patience = rng.lognormal(np.log(1600.0), 0.45, n).astype(np.float32)
    depth = rng.beta(6, 2.5, n).astype(np.float32)
    app_minor = (20 - rng.geometric(0.55, n).clip(1, 5)).astype(np.int16)
    return Users(
        tier,
        platform,
        device,
        network,
        signup,
        activity,
        intent,
        price_sens,
        category_slots,
        affinity_logit,
        patience,
        depth,
        app_minor,
    )


def make_sellers(streams: Streams, n: int) -> Sellers:
    rng = streams.generator("world.sellers")
    shop_type = _choice(rng, n, [0.15, 0.85])
    category = rng.integers(0, N_CAT, n).astype(np.int8)
    quality = np.clip(rng.beta(4, 3, n) + 0.15 * (shop_type == 0), 0, 1).astype(np.float32)
    price_level = rng.lognormal(0.0, 0.25, n).astype(np.float32) * np.where(shop_type == 0, 1.3, 1)
    rating = np.clip(4.2 + 0.75 * quality + rng.normal(0, 0.08, n), 3.5, 5.0).astype(np.float32)
    response = rng.beta(2, 5, n).astype(np.float32) * np.where(shop_type == 0, 0.4, 1.0)
    habit = np.clip(rng.beta(1, 18, n), 0, 1).astype(np.float32)
    return Sellers(
        shop_type,
        category,
        quality,
        price_level.astype(np.float32),
        rating,
        response.astype(np.float32),
        habit,
        habit.copy(),
    )


def make_items(streams: Streams, n: int, sellers: Sellers, period_start: date) -> Items:
    rng = streams.generator("world.items")
    # Heavy-tailed shop sizes: a few sellers list many items.
    weights = rng.pareto(1.5, sellers.n) + 0.2
    seller = rng.choice(sellers.n, size=n, p=weights / weights.sum()).astype(np.int32)
    own_cat = rng.random(n) < 0.9
    category = np.where(own_cat, sellers.category[seller], rng.integers(0, N_CAT, n))
    category = category.astype(np.int8)
    price = CATEGORY_PRICE[category] * sellers.price_level[seller] * rng.lognormal(0, 0.5, n)
    price = np.round(np.maximum(price, 1.0), 1).astype(np.float32)
    quality = sellers.quality[seller]
    appeal = (rng.normal(0, 0.7, n) + 0.8 * (quality - 0.55)).astype(np.float32)
    propensity = (rng.normal(0, 0.6, n) + 1.6 * (quality - 0.55)).astype(np.float32)
    image_score = np.clip(0.5 + 0.25 * appeal + rng.normal(0, 0.15, n), 0, 1).astype(np.float32)
    stock_target = rng.lognormal(np.log(60), 1.0, n).astype(np.int32) + 3
    stock = (stock_target * rng.uniform(0.3, 1.0, n)).astype(np.int32)
    clickbait = rng.random(n) < sellers.clickbait[seller]
    listed = (day_number(period_start) - rng.integers(1, 720, n)).astype(np.int32)
    return Items(
        seller,
        category,
        price,
        appeal,
        propensity,
        image_score,
        stock,
        stock_target,
        clickbait,
        listed,
    )


def make_world(streams: Streams, size: Size, period_start: date, period_days: int) -> World:
    sellers = make_sellers(streams, size.sellers)
    items = make_items(streams, size.items, sellers, period_start)
    users = make_users(streams, size.users, period_start, period_days)
    return World(users, sellers, items)
