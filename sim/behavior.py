"""The user funnel for one batch of sessions: feed pages, impressions, clicks, carts, orders.

Every draw is counter-based (keyed by session and page or slot), so the same session meets
the same luck in every counterfactual run; only the mechanisms a fault changed differ.

    session -> page requests (latency; slow pages are abandoned before they render)
            -> impressions (category by affinity, item from the ranker's pools)
            -> click (position bias x appeal x affinity)
            -> add to cart (purchase propensity, intent, price sensitivity, stock)
            -> order (logistics) -> payment
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from sim import latency as lat
from sim.checkout import CheckoutFailure, checkout_outcomes, failure_chances
from sim.demand import DemandShift, intent_offset
from sim.experiments import Treatment, treatment_offset
from sim.latency import LatencyModel
from sim.ranker import Pools, feed_slots
from sim.rng import Streams, slot_counter
from sim.world import CATEGORY_PRICE, DEVICES, N_CAT, NETWORKS, Items, Users, World

MAX_PAGES = 8
PAGE_SIZE = 6
SOURCES = ("organic", "push", "search", "paid", "livestream", "share")
SOURCE_SHARE = np.array([0.5, 0.12, 0.16, 0.09, 0.08, 0.05])
SOURCE_INTENT = np.array([0.0, -0.35, 0.45, -0.15, 0.3, 0.1], np.float32)
NEW_USER_DAYS = 30
NEW_USER_TRUST = 0.45  # new users hesitate to buy from a platform they do not know yet
SOURCE_DEPTH = np.array([1.0, 0.85, 0.9, 0.85, 1.0, 0.8], np.float32)
# Position bias: the chance a card at a feed position is examined at all.
EXAMINE = ((1.0 + np.arange(MAX_PAGES * PAGE_SIZE)) ** -0.45).astype(np.float32)


@dataclass
class Conditions:
    """What the hour's calendar and platform state do to behaviour."""

    intent: float = 0.0  # added to the purchase logit
    logistics: float = 1.0  # chance that an intended order is placed
    payment_success: float = 0.94
    click_offset: float = -3.3
    demand: tuple[DemandShift, ...] = ()  # buyers a competitor draws away (sim/demand.py)
    checkout: tuple[CheckoutFailure, ...] = ()  # clients whose checkouts fail (sim/checkout.py)
    treatments: tuple[Treatment, ...] = ()  # experiments' harmful arms (sim/experiments.py)


@dataclass
class SessionBatch:
    key: np.ndarray  # uint64 session keys (also the session_id)
    user: np.ndarray  # int64 user index
    source: np.ndarray  # int8 index into SOURCES
    start_s: np.ndarray  # int64 start time, Unix seconds
    new_user: np.ndarray  # bool: signed up less than NEW_USER_DAYS before the session
    bot: np.ndarray | None = None  # bool: automated (a crawler): every page, no clicks


@dataclass
class Funnel:
    """Everything that happened in a batch, as flat arrays indexed into the batch."""

    req_session: np.ndarray  # index into batch
    req_page: np.ndarray
    req_server_ms: np.ndarray
    req_client_ms: np.ndarray
    req_error: np.ndarray
    req_rendered: np.ndarray
    imp_session: np.ndarray
    imp_page: np.ndarray
    imp_position: np.ndarray
    imp_item: np.ndarray
    clicked: np.ndarray  # per impression
    carted: np.ndarray
    ordered: np.ndarray
    paid: np.ndarray
    p_click: np.ndarray  # per impression: the chance it was clicked
    p_order: np.ndarray  # per impression: the chance of an order, given a click
    # per impression: its slot counter (session key, position), as the funnel's draws used
    imp_counter: np.ndarray | None = None


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


_REL_PRICE: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # the last items' (one entry)


def _relative_price(items: Items) -> np.ndarray:
    """Each item's log price over its category's typical price: the same numbers as for each
    impression, computed once per item while prices and categories stay (every hour asks)."""
    if _REL_PRICE:
        price, category, rel = _REL_PRICE[0]
        if (
            price.dtype == items.price.dtype
            and category.dtype == items.category.dtype
            and np.array_equal(price, items.price)
            and np.array_equal(category, items.category)
        ):
            return rel
    rel = np.log(items.price / CATEGORY_PRICE[items.category])
    _REL_PRICE[:] = [(items.price.copy(), items.category.copy(), rel)]
    return rel


_ITEM_LOGIT: list[tuple[np.ndarray, np.ndarray, float, np.ndarray]] = []  # the last one's


def _item_logit(items: Items, click_offset: float) -> np.ndarray:
    """Each item's click logit before the user's affinity (appeal, clickbait titles, the
    offset), float32: computed once while appeal and titles stay (sellers redraw titles once
    a day; every hour asks)."""
    if _ITEM_LOGIT:
        appeal, clickbait, offset, logit = _ITEM_LOGIT[0]
        if (
            type(click_offset) is type(offset)
            and repr(click_offset) == repr(offset)  # (the same value, -0.0 apart from 0.0)
            and appeal.dtype == items.appeal.dtype
            and clickbait.dtype == items.clickbait.dtype
            and np.array_equal(appeal, items.appeal)
            and np.array_equal(clickbait, items.clickbait)
        ):
            return logit
    logit = (items.appeal + 0.9 * items.clickbait + click_offset).astype(np.float32)
    _ITEM_LOGIT[:] = [(items.appeal.copy(), items.clickbait.copy(), click_offset, logit)]
    return logit


def cart_logit(
    world: World, batch: SessionBatch, cond: Conditions, session: np.ndarray, item: np.ndarray
) -> np.ndarray:
    """The purchase logit of a clicked item: the truth decides (propensity, intent, price).
    numpy's reference; `_chances_compiled` computes the same numbers in one pass."""
    users, items = world.users, world.items
    item_rel_price = _relative_price(items)
    user = batch.user[session]
    logit = (
        items.propensity[item]
        + users.intent[user]
        + SOURCE_INTENT[batch.source[session]]
        + cond.intent
        - users.price_sens[user] * item_rel_price[item]
        - 1.6 * items.clickbait[item]
        - NEW_USER_TRUST * batch.new_user[session]
        - 2.8
    )
    if cond.demand:
        logit = logit + intent_offset(cond.demand, users, user, items.category[item])
    if cond.treatments:
        logit = logit + treatment_offset(cond.treatments, user)
    return logit


class Pages(NamedTuple):
    """Each session's pages: the rendered grid (sessions x pages) and per request (the pages
    reached, session by session) its session, page, server and client ms, error and
    rendered flags."""

    rendered: np.ndarray
    req_session: np.ndarray
    req_page: np.ndarray
    req_server_ms: np.ndarray
    req_client_ms: np.ndarray
    req_error: np.ndarray
    req_rendered: np.ndarray


def _pages(batch: SessionBatch, users: Users, latency: LatencyModel, streams: Streams) -> Pages:
    """Each session's pages: latency, abandonment before render, and scrolling on. Returns
    the rendered grid (sessions x pages) and per request (the pages reached, session by
    session): session, page, server and client ms, error and rendered flags."""
    n = len(batch.key)
    u_idx = batch.user
    page = np.broadcast_to(np.arange(MAX_PAGES, dtype=np.uint64), (n, MAX_PAGES))
    counters = slot_counter(batch.key[:, None], page).ravel()
    # Each request's user attributes: gathered per session, then repeated per page (the
    # same values as gathering per request; platform and version matter only to overlays).
    names = ("city_tier", "device", "network")
    if latency.overlays:
        names += ("platform", "app_minor")
    dims = {name: np.repeat(getattr(users, name)[u_idx], MAX_PAGES) for name in names}
    server, client, error = latency.sample(streams, counters, dims)
    total = (server + client).reshape(n, MAX_PAGES)
    patience = users.patience_ms[u_idx][:, None]
    hazard = 1.0 - np.exp(-0.5 * (total / patience) ** 1.5)
    abandon = streams.uniform("behavior.abandon", counters).reshape(n, MAX_PAGES) < hazard
    rendered_ok = ~abandon & ~error.reshape(n, MAX_PAGES)
    depth = (users.depth[u_idx] * SOURCE_DEPTH[batch.source])[:, None]
    depth = depth * np.exp(-0.25 * total / patience)  # slow pages also shorten scrolling
    go_on = streams.uniform("behavior.continue", counters).reshape(n, MAX_PAGES) < depth
    bots = batch.bot if batch.bot is not None and batch.bot.any() else None
    if bots is not None:  # a crawler fetches every page, however slow, until one fails
        go_on |= bots[:, None]
        rendered_ok = np.where(bots[:, None], ~error.reshape(n, MAX_PAGES), rendered_ok)
    step = rendered_ok & go_on
    reached = np.ones((n, MAX_PAGES), bool)
    np.logical_and.accumulate(step[:, :-1], axis=1, out=reached[:, 1:])  # every step so far
    rendered = reached & rendered_ok
    req_s, req_p = np.nonzero(reached)
    flat = req_s * MAX_PAGES + req_p
    return Pages(
        rendered, req_s, req_p.astype(np.int8), server[flat], client[flat], error[flat],
        rendered.ravel()[flat],
    )  # fmt: skip


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _latency_factors() -> tuple[np.ndarray, ...]:
    """sim/latency.py's factor tables, read when asked (as its `sample` reads them)."""
    return (lat.TIER_FACTOR, lat.NETWORK_SERVER_FACTOR, lat.DEVICE_RENDER_MS, lat.NETWORK_FACTOR)


def _tables_cover(users: Users) -> bool:
    """Whether every code table the kernels index has an entry for each code sim/world.py
    can give (numba does not check bounds where numpy raises IndexError; a short table is
    left to numpy). Cheap: the tables' lengths against the code domains, not the codes."""
    sources = max(len(SOURCES), len(SOURCE_SHARE))
    tier, net_server, device_ms, net = _latency_factors()
    return (
        len(tier) >= lat.CITY_TIERS
        and min(len(net_server), len(net)) >= len(NETWORKS)
        and len(device_ms) >= len(DEVICES)
        and min(len(SOURCE_DEPTH), len(SOURCE_INTENT)) >= sources
        and users.affinity_logit.shape[1] >= N_CAT
        and len(EXAMINE) >= MAX_PAGES * PAGE_SIZE
    )


def _pages_compiled(
    batch: SessionBatch, users: Users, latency: LatencyModel, streams: Streams
) -> Pages | None:
    """`_pages` compiled: the same draws and float32 steps in four passes, the log, exps and
    power in numpy between them (None with a latency overlay or other input types)."""
    from sim import kernels

    f32 = (users.patience_ms, users.depth)
    if latency.overlays or any(a.dtype != np.float32 for a in f32):
        return None
    # the factor tables: float32 or float64 (the kernel rounds each product to float32 as
    # numpy's in-place products do); other types are left to numpy
    if any(a.dtype not in _FLOATS for a in _latency_factors()) or not _tables_cover(users):
        return None
    keys = np.ascontiguousarray(batch.key, dtype=np.uint64)
    u_idx = np.ascontiguousarray(batch.user, dtype=np.int64)
    log_odds = kernels.latency_odds(
        keys, MAX_PAGES, np.uint64(streams.salt("latency.server")),
        np.uint64(streams.salt("latency.client")),
    )  # fmt: skip
    np.log(log_odds[0], out=log_odds[0])  # the odds, now their logs (in place)
    np.log(log_odds[1], out=log_odds[1])
    args = kernels.latency_exp_args(
        log_odds, lat.LOGISTIC_UNIT, np.float32(lat.SERVER_SHAPE), np.float32(lat.CLIENT_SHAPE)
    )
    np.exp(args[0], out=args[0])
    np.exp(args[1], out=args[1])
    server, client, error, ratio = kernels.page_latency(
        args, keys, u_idx, MAX_PAGES, users.city_tier, users.device, users.network,
        users.patience_ms, lat.TIER_FACTOR, lat.NETWORK_SERVER_FACTOR,
        np.float32(latency.server_median_ms), lat.DEVICE_RENDER_MS, lat.NETWORK_FACTOR,
        np.float32(lat.BASE_ERROR_RATE), np.uint64(streams.salt("latency.error")),
    )  # fmt: skip
    hazard_exp = np.exp(-0.5 * ratio[0] ** 1.5)
    depth_exp = np.exp(ratio[1])
    bot = batch.bot if batch.bot is not None else np.zeros(len(keys), bool)
    return Pages(*kernels.page_reach(
        hazard_exp, depth_exp, keys, u_idx, batch.source, bot, MAX_PAGES, users.depth,
        SOURCE_DEPTH, server, client, error, np.uint64(streams.salt("behavior.abandon")),
        np.uint64(streams.salt("behavior.continue")),
    ))  # fmt: skip


def _chances(
    world: World, batch: SessionBatch, cond: Conditions, item_logit: np.ndarray,
    imp_s: np.ndarray, imp_user: np.ndarray, imp_pos: np.ndarray, item: np.ndarray,
    slot_ctr: np.ndarray, streams: Streams, bots: np.ndarray | None,
) -> tuple[np.ndarray, ...]:  # fmt: skip
    """Per impression: the chance of a click and the click draw (position bias x appeal x
    affinity; clickbait titles attract clicks), the chance of adding to cart (the truth
    decides: propensity, intent, price) and whether the item is in stock. numpy's reference,
    and the path for inputs `_chances_compiled` leaves to numpy (other types, short tables)."""
    users, items = world.users, world.items
    click_logit = item_logit[item] + users.affinity_logit[imp_user, items.category[item]]
    p_click = EXAMINE[imp_pos] * _sigmoid(click_logit)
    clicked = streams.uniform("behavior.click", slot_ctr) < p_click
    if bots is not None:  # it reads the cards but never clicks one
        p_click = np.where(bots[imp_s], 0.0, p_click)
        clicked &= ~bots[imp_s]
    # --- cart: the truth decides (propensity, intent, price, stock) ---
    p_cart = _sigmoid(cart_logit(world, batch, cond, imp_s, item))
    in_stock_imp = items.stock[item] > 0
    return p_click, clicked, p_cart, in_stock_imp


def _chances_compiled(
    world: World, batch: SessionBatch, cond: Conditions, item_logit: np.ndarray,
    imp_s: np.ndarray, imp_pos: np.ndarray, item: np.ndarray, slot_ctr: np.ndarray,
    streams: Streams, bots: np.ndarray | None,
) -> tuple[np.ndarray, ...] | None:  # fmt: skip
    """`_chances` in two compiled passes (the two logits in one, the sigmoids' exps in numpy
    between; a competitor's demand and experiments' arms subtracted from the negated purchase
    logit in numpy's order): None for inputs of other types or code tables too short."""
    from sim import kernels

    users, items = world.users, world.items
    item_rel_price = _relative_price(items)
    f32 = (items.propensity, users.intent, users.price_sens, SOURCE_INTENT, item_logit,
           users.affinity_logit, EXAMINE)  # fmt: skip
    if type(cond.intent) is not float:  # numpy adds a Python float in float32
        return None
    if any(a.dtype != np.float32 for a in f32) or item_rel_price.dtype != np.float64:
        return None
    if items.clickbait.dtype != np.bool_ or batch.new_user.dtype != np.bool_:
        return None
    if not _tables_cover(users):
        return None
    item = np.ascontiguousarray(item)
    imp_s = np.ascontiguousarray(imp_s)
    neg_click, neg_cart = kernels.impression_logits(
        item, imp_s, batch.user, batch.source, batch.new_user, item_logit,
        users.affinity_logit, items.category, items.propensity, users.intent, SOURCE_INTENT,
        np.float32(cond.intent), users.price_sens, item_rel_price, items.clickbait,
        float(NEW_USER_TRUST),
    )  # fmt: skip
    if cond.demand or cond.treatments:
        # numpy's (logit + demand) + treatment, negated: -(a + b) is (-a) - b exactly (a zero's
        # sign apart, which the exp does not see)
        user = batch.user[imp_s]
        if cond.demand:
            neg_cart = neg_cart - intent_offset(cond.demand, users, user, items.category[item])
        if cond.treatments:
            neg_cart = neg_cart - treatment_offset(cond.treatments, user)
        if neg_cart.dtype != np.float64:  # an offset of a wider type: numpy's sigmoid is too
            return None
    exp_click = np.exp(neg_click)
    exp_cart = np.exp(neg_cart)
    bot = bots if bots is not None else np.zeros(len(batch.key), bool)
    return kernels.impression_chances(
        exp_click, exp_cart, EXAMINE, imp_pos, slot_ctr,
        np.uint64(streams.salt("behavior.click")), item, items.stock, imp_s, bot,
    )  # fmt: skip


def simulate_sessions(
    batch: SessionBatch,
    world: World,
    pools: Pools,
    latency: LatencyModel,
    streams: Streams,
    cond: Conditions,
) -> Funnel:
    users, items = world.users, world.items
    u_idx = batch.user
    # --- pages: latency, abandonment before render, and scrolling on ---
    pages = _pages_compiled(batch, users, latency, streams)
    if pages is None:
        pages = _pages(batch, users, latency, streams)
    rendered, req_s, req_p, req_server, req_client, req_error, req_rendered = pages
    bots = batch.bot if batch.bot is not None and batch.bot.any() else None
    # --- impressions on rendered pages ---
    imp_s, imp_pg, imp_pos, slot_ctr, imp_user, cat = feed_slots(
        rendered, batch.key, u_idx, users.category_slots, streams, PAGE_SIZE
    )  # which category each slot shows (the "feed.slot" draw)
    item = pools.sample_keyed(cat, streams, "feed.item", slot_ctr)
    # --- click: position bias x appeal x affinity (clickbait titles attract clicks) ---
    item_logit = _item_logit(items, cond.click_offset)
    chances = _chances_compiled(world, batch, cond, item_logit, imp_s, imp_pos, item, slot_ctr,
                                streams, bots)  # fmt: skip
    if chances is None:
        chances = _chances(world, batch, cond, item_logit, imp_s, imp_user, imp_pos, item,
                           slot_ctr, streams, bots)  # fmt: skip
    p_click, clicked, p_cart, in_stock_imp = chances
    # --- after a click: add to cart (wanted, in stock), order (logistics), pay ---
    from sim import kernels

    p_placed = 0.6 * cond.logistics  # an intended order is placed (logistics permitting)
    ci, cart, order, pay = kernels.click_outcomes(
        clicked, p_cart, in_stock_imp, slot_ctr, *(np.uint64(streams.salt(f"behavior.{step}"))
        for step in ("cart", "order", "pay")), np.float64(p_placed),
        np.float64(cond.payment_success),
    )  # fmt: skip
    if cond.checkout:  # an outage: some checkouts fail (no draws, no change when none)
        c_ctr = slot_ctr[ci]
        lost, failed = checkout_outcomes(cond.checkout, streams, users, u_idx[imp_s[ci]], c_ctr)
        order &= ~lost
        pay &= ~failed
        p_placed = p_placed * (1.0 - failure_chances(cond.checkout, users, u_idx[imp_s])[0])

    def on_impressions(mask_on_clicks: np.ndarray) -> np.ndarray:
        out = np.zeros(len(item), bool)
        out[ci[mask_on_clicks]] = True
        return out

    return Funnel(
        p_click=p_click.astype(np.float32, copy=False),
        p_order=(p_cart * in_stock_imp * p_placed).astype(np.float32),
        req_session=req_s,
        req_page=req_p,
        req_server_ms=req_server,
        req_client_ms=req_client,
        req_error=req_error,
        req_rendered=req_rendered,
        imp_session=imp_s,
        imp_page=imp_pg.astype(np.int8),
        imp_position=imp_pos,
        imp_item=item.astype(np.int32, copy=False),
        clicked=clicked,
        carted=on_impressions(cart),
        ordered=on_impressions(order),
        paid=on_impressions(pay),
        imp_counter=slot_ctr,
    )
