"""Sessions that faults add to an hour (a campaign's visitors, crawler bots), apart from the
users' own.

Added sessions are keyed in a range of their own (index 2**19 + lane * 2**15 + j within the
hour, a lane per fault id), so the users' own sessions keep their keys and therefore every
draw: a branch with the added traffic and one without differ only by those sessions and what
they do to the world.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from sim.behavior import NEW_USER_DAYS, Funnel, SessionBatch
from sim.calendar import DIURNAL
from sim.effects import ExtraSessions
from sim.rng import Streams, stable_hash

EXTRA_BASE = 1 << 19  # hour-local indices from here on are added sessions
LANE = 1 << 15  # room for this many added sessions per fault and hour
LANES = 16


def lanes(fault_ids: list[str]) -> dict[str, int]:
    """A lane per fault id, from its name (a clash moves the later id on)."""
    taken: dict[str, int] = {}
    for fid in sorted(fault_ids):
        lane = stable_hash(fid) % LANES
        while lane in taken.values():
            lane = (lane + 1) % LANES
        taken[fid] = lane
    return taken


def added_sessions(
    extras: dict[str, ExtraSessions],
    streams: Streams,
    signup: np.ndarray,
    hour_key: int,
    hour: int,
    hour_start_s: int,
    today: int,
    traffic: float,
) -> SessionBatch | None:
    """The hour's added sessions, every fault's in turn; None when there are none."""
    parts: list[SessionBatch] = []
    for fid, lane in lanes(list(extras)).items():
        extra = extras[fid]
        users = extra.users[signup[extra.users] <= today]  # no visit before signing up
        if extra.max_tenure_days is not None:
            users = users[today - signup[users] < extra.max_tenure_days]
        if len(users) == 0:
            continue
        rate = extra.per_hour * (1.0 if extra.bot else DIURNAL[hour % 24] * traffic)
        first = np.uint64(hour_key | (EXTRA_BASE + lane * LANE))
        # Stochastic rounding with the lane's own uniform: smooth in the rate, no Poisson jumps.
        lift = streams.uniform("traffic.extra.count", np.array([first], np.uint64))[0]
        n = min(int(rate + lift), LANE - 1)
        if n == 0:
            continue
        keys = first + np.arange(n, dtype=np.uint64)
        if extra.bot:  # evenly spaced, the accounts in turn
            offset = (np.arange(n, dtype=np.int64) * 3600) // n
            user = users[(hour * n + np.arange(n)) % len(users)]
        else:
            offset = (streams.uniform("traffic.extra.offset", keys) * 3600).astype(np.int64)
            pick = streams.uniform("traffic.extra.user", keys) * len(users)
            user = users[np.minimum(pick.astype(np.int64), len(users) - 1)]
        parts.append(
            SessionBatch(
                keys,
                user.astype(np.int64),
                np.full(n, extra.source, np.int8),
                hour_start_s + offset,
                today - signup[user] < NEW_USER_DAYS,
                np.full(n, extra.bot),
            )
        )
    if not parts:
        return None
    return SessionBatch(
        *(np.concatenate([getattr(p, f) for p in parts]) for f in SessionBatch.__dataclass_fields__)
    )


def join(batch: SessionBatch, added: SessionBatch) -> SessionBatch:
    """The users' own sessions, then the added ones."""
    own_bot = batch.bot if batch.bot is not None else np.zeros(len(batch.key), bool)
    fields = {
        f: np.concatenate([getattr(batch, f), getattr(added, f)]) for f in vars(batch) if f != "bot"
    }
    fields["bot"] = np.concatenate([own_bot, added.bot])
    return SessionBatch(**fields)


def human_impressions(funnel: Funnel, bot: np.ndarray) -> Funnel:
    """The funnel without crawler impressions: what the ranker's training log keeps (known
    crawlers are filtered out of training, as real pipelines do)."""
    keep = ~bot[funnel.imp_session]
    return replace(
        funnel,
        imp_session=funnel.imp_session[keep],
        imp_page=funnel.imp_page[keep],
        imp_position=funnel.imp_position[keep],
        imp_item=funnel.imp_item[keep],
        clicked=funnel.clicked[keep],
        carted=funnel.carted[keep],
        ordered=funnel.ordered[keep],
        paid=funnel.paid[keep],
        p_click=funnel.p_click[keep],
        p_order=funnel.p_order[keep],
    )
