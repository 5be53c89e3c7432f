"""Client-side tracking: the events the app reports, with the imperfections real logs have.

Tracked events are kept apart from the server-side order ledger. Ordinarily a few events are
lost, a few duplicated (retries) and a few arrive late; a tracking fault installs a rule
that drops or mislabels events for some clients, and the ledger shows the business truth.
A resend rule rewrites rather than drops: a client re-sends the session start of sessions
that logged nothing else, so the sessions table holds the same session twice. A clock rule
rewrites times only: a client stamps its events with a clock off by whole hours (a time-zone
bug), while sessions keep the feed-api's server time; which events are logged does not change.
An upload-delay rule holds a share of a client's sessions' events in the SDK's upload queue
for hours; the tables are the export taken at a cutoff, so events that arrive after it are
not in them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sim.rng import Streams

EVENT_TYPES = ("click", "add_to_cart", "order", "pay")


@dataclass
class TrackingRule:
    """Drop a share of one event type for clients that match (a fault's knob)."""

    event: str
    match: dict[str, tuple[int, ...]]
    drop: float


@dataclass
class SessionLogRule:
    """Also log app foregrounds that open no feed page, as sessions with no pages, for
    clients that match (a metric-definition change: the denominator grows, behaviour does not).
    `extra` is the chance that a feed session's user also logs one such foreground."""

    match: dict[str, tuple[int, ...]]
    extra: float


@dataclass
class ResendRule:
    """Re-send the session-start event of a share of the sessions that logged no other
    event, for clients that match (an SDK whose retry queue re-sends a batch holding only the
    session start although the server took it): the session is logged twice, same id."""

    match: dict[str, tuple[int, ...]]
    share: float


@dataclass
class ClockSkewRule:
    """Stamp the events of clients that match `shift` seconds off the true time (an SDK that
    reports the device's local time as UTC). Only the logged time moves: the same events are
    logged, and sessions keep the server's time of their first feed request."""

    match: dict[str, tuple[int, ...]]
    shift: int


EXPORT_CUTOFF_S = 26 * 3600
"""Seconds after a period's last day ends at which its tables are exported: events that
arrive later are not in them. The pipeline closes a day's partition at 02:00 the second
morning after it (a day for late uploads to settle). The baseline's ordinary late events
never reach it: their delay is at most 2400 s x -log(2**-53) = 88,174 s (a 53-bit uniform),
and an event comes at most 320 s after its session's start (page 7, slot 5, pay), so no
event of a run without an upload-delay rule arrives after the cutoff and such runs are
unchanged byte for byte."""

UPLOAD_DELAY_SIGMA = 1.0
"""Log-sd of a queued upload's delay: lognormal, so most batches come within a day and a
few days later (phones left offline, apps not reopened)."""


@dataclass
class UploadDelayRule:
    """Hold a `share` of the sessions of clients that match in the SDK's upload queue: their
    events arrive (and are logged) a lognormal delay of mean `mean_delay` seconds late, one
    delay per session (a session's events go up in one batch)."""

    match: dict[str, tuple[int, ...]]
    share: float
    mean_delay: float


@dataclass
class Tracker:
    loss: float = 0.004
    duplicate: float = 0.003
    late: float = 0.01
    rules: dict[str, TrackingRule] = field(default_factory=dict)
    session_rules: dict[str, SessionLogRule] = field(default_factory=dict)
    resend_rules: dict[str, ResendRule] = field(default_factory=dict)
    clock_rules: dict[str, ClockSkewRule] = field(default_factory=dict)
    upload_rules: dict[str, UploadDelayRule] = field(default_factory=dict)

    def foregrounds(
        self, streams: Streams, key: np.ndarray, dims: dict[str, np.ndarray]
    ) -> np.ndarray:
        """Indices of sessions whose user also logs a no-feed foreground (none, and no draws,
        when no rule is active)."""
        if not self.session_rules:
            return np.zeros(0, np.int64)
        p = np.zeros(len(key))
        for rule in self.session_rules.values():
            hit = np.ones(len(key), bool)
            for dim, codes in rule.match.items():
                hit &= np.isin(dims[dim], codes)
            p = 1.0 - (1.0 - p) * (1.0 - rule.extra * hit)
        return np.flatnonzero(streams.uniform("tracking.foreground", key) < p)

    def resent(
        self, streams: Streams, key: np.ndarray, dims: dict[str, np.ndarray], quiet: np.ndarray
    ) -> np.ndarray:
        """Indices of sessions whose start is logged a second time: of the `quiet` ones (no
        other event logged) of matching clients (none, and no draws, when no rule is active)."""
        if not self.resend_rules:
            return np.zeros(0, np.int64)
        p = np.zeros(len(key))
        for rule in self.resend_rules.values():
            hit = quiet.copy()
            for dim, codes in rule.match.items():
                hit &= np.isin(dims[dim], codes)
            p = 1.0 - (1.0 - p) * (1.0 - rule.share * hit)
        return np.flatnonzero(streams.uniform("tracking.resend", key) < p)

    def skew(self, dims: dict[str, np.ndarray], n: int) -> np.ndarray | int:
        """Seconds each event's client clock is off by (0, with no array built, when no clock
        rule is active: no random numbers either way)."""
        if not self.clock_rules:
            return 0
        shift = np.zeros(n, np.int64)
        for rule in self.clock_rules.values():
            hit = np.ones(n, bool)
            for dim, codes in rule.match.items():
                hit &= np.isin(dims[dim], codes)
            shift += np.where(hit, np.int64(rule.shift), np.int64(0))
        return shift

    def queued(
        self, streams: Streams, session_key: np.ndarray | None, dims: dict[str, np.ndarray]
    ) -> np.ndarray | int:
        """Seconds each event waits in its client's upload queue (0, with no array built and
        no draws, when no upload-delay rule is active). Draws are keyed by session."""
        if not self.upload_rules or session_key is None:
            return 0
        n = len(session_key)
        p = np.zeros(n)
        mean = np.zeros(n)
        for rule in self.upload_rules.values():
            hit = np.ones(n, bool)
            for dim, codes in rule.match.items():
                hit &= np.isin(dims[dim], codes)
            p = 1.0 - (1.0 - p) * (1.0 - rule.share * hit)
            mean = np.where(hit, np.maximum(mean, rule.mean_delay), mean)
        keys = session_key.astype(np.uint64)
        held = streams.uniform("tracking.upload_queue", keys) < p
        u1, u2 = streams.uniform_pair("tracking.upload_delay", keys)
        z = np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)
        mu = np.log(np.maximum(mean, 1.0)) - UPLOAD_DELAY_SIGMA**2 / 2
        return np.where(held, np.exp(mu + UPLOAD_DELAY_SIGMA * z), 0.0).astype(np.int64)

    def track(
        self,
        streams: Streams,
        counters: np.ndarray,
        event: np.ndarray,
        ts: np.ndarray,
        dims: dict[str, np.ndarray],
        session_key: np.ndarray | None = None,
        cutoff: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Indices of events as logged (with duplicates) and their logged timestamps: those
        that arrive by the export `cutoff` (Unix seconds), when one is given. `session_key`
        (each event's session's key) is needed only by upload-delay rules."""
        salted = counters * np.uint64(4) + event.astype(np.uint64)
        keep = streams.uniform("tracking.loss", salted) >= self.loss
        for rule in self.rules.values():
            hit = event == EVENT_TYPES.index(rule.event)
            for dim, codes in rule.match.items():
                hit &= np.isin(dims[dim], codes)
            keep &= ~(hit & (streams.uniform("tracking.rule", salted) < rule.drop))
        delay = np.where(
            streams.uniform("tracking.late", salted) < self.late,
            (-np.log1p(-streams.uniform("tracking.delay", salted)) * 2400).astype(np.int64),
            0,
        )
        arrival = ts + delay + self.queued(streams, session_key, dims)
        if cutoff is not None:
            keep &= arrival <= cutoff  # the export is taken before these arrive
        dup = keep & (streams.uniform("tracking.dup", salted) < self.duplicate)
        idx = np.concatenate([np.flatnonzero(keep), np.flatnonzero(dup)])
        logged_ts = arrival + self.skew(dims, len(ts))
        return idx, logged_ts[idx] + np.where(np.arange(len(idx)) >= keep.sum(), 2, 0)


FOREGROUND_ID_BIT = 46  # foreground sessions' ids: the feed session's id with this bit set


def with_foregrounds(sessions: dict[str, np.ndarray], idx: np.ndarray) -> dict[str, np.ndarray]:
    """The hour's session rows plus one no-feed foreground row per index (same user and
    segment, another moment of the same hour, no pages)."""
    extra = {k: v[idx] for k, v in sessions.items()}
    extra["session_id"] = extra["session_id"] + np.int64(1 << FOREGROUND_ID_BIT)
    start = extra["ts"]
    extra["ts"] = start - start % 3600 + (start * 7919 + 1301) % 3600
    extra["pages"] = np.zeros(len(idx), sessions["pages"].dtype)
    return {k: np.concatenate([sessions[k], extra[k]]) for k in sessions}


def with_resent(sessions: dict[str, np.ndarray], idx: np.ndarray) -> dict[str, np.ndarray]:
    """The hour's session rows plus an exact copy of each re-sent session's row (a retry
    carries the original payload: the same id, client time and everything else)."""
    return {k: np.concatenate([v, v[idx]]) for k, v in sessions.items()}
