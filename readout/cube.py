"""The precomputed cube: small aggregate tables the dashboard charts from, built once per run.

Raw tables hold millions of rows; every chart of the dashboard needs sums over a few keys.
The cube stores those sums at the finest grain the charts use, so an interaction reads
thousands of rows, not millions. Everything is additive (counts and sums, latency as
histograms), so any window, segment or filter is a sum over cube rows.

Files under `RUN/cube/` (all Parquet, plus `cube.json` written last):

- `sessions_hourly`: (period, date, hour, dim, value) in long form, one dimension at a time
  (`dim = "all"` is the total); session funnel counts, latency sums, GMV.
- `sessions_daily`: (period, date) × every session dimension at once, same measures: for
  filters, two-dimension heatmaps and mix-versus-rate decompositions.
- `items_hourly`: (period, date, hour, category, shop_type): impressions, clicks, carts and
  orders of the items shown, which live at item level, not session level.
- `latency_daily` / `latency_hourly`: request-latency histograms (log-spaced buckets) by
  dimension per day, and in total per hour, so percentiles of any window can be read.
- `feed_hist` / `feed_summary`: feed-snapshot attribute histograms by the feed's category
  (for PSI drift) and per-snapshot summaries (stock, prices, recategorised items).
- `experiments` / `experiments_daily`: per experiment arm, user-level moments (for
  delta-method confidence intervals) by window, and daily conversion.

It reads the tables and `case.yaml` only: never the answer key or the scenario.

Built a few days at a time: the log tables are written one day after another and a
session's rows never leave its day, so each table is read as session-id spans of whole days
(row groups are skipped by their statistics) and the per-span tables are put together. Every
key but the experiments' user-level sums includes the date, so no sum is split across spans
and the cube is the same as one built from whole tables; the user-level sums are integers,
merged exactly. The large per-day tables are appended to their files span by span, so memory
stays at a span's rows, not the run's, nor the cube's.

Within a span, each log table is read once; rows point at their session by position and
every table is a few `np.bincount`s over integer group codes, coded in the cube's sort order
so the groups come out sorted. Float sums add a group's rows one after another in the order
the plain polars definitions do (tests/readout/cube_reference.py): the cube is identical.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from readout.cube_keys import (
    ALL,
    Grid,
    IdIndex,
    Key,
    Packed,
    Runs,
    combined,
    distinct_ids,
    fits_table,
    group_key,
    joint_groups,
    labelled,
    long_key,
    pack_counts,
    per_row,
    session_runs,
    summed_out,
    unique_ids,
)
from readout.drift import decile_edges
from readout.tables import scan
from runfolder.brief import Windows, case_windows, read_case, window_label
from runfolder.layout import CUBE_DIR, CUBE_META, table_path

CUBE_VERSION = 1

SESSION_DIMS: tuple[str, ...] = (
    "platform",
    "app_version",
    "city_tier",
    "device",
    "network",
    "tenure",
    "source",
    "latency_bucket",
)
ITEM_DIMS: tuple[str, ...] = ("category", "shop_type")
# Latency by the session's own dimensions (not its latency class) and by serving version.
LATENCY_DIMS: tuple[str, ...] = (
    *(d for d in SESSION_DIMS if d != "latency_bucket"),
    "service_version",
)
LATENCY_KINDS: tuple[str, ...] = ("total", "server", "client")
FEED_ATTRIBUTES: tuple[str, ...] = ("price", "seller_rating", "image_score", "title_score")
FEED_BINS = 10
BUCKETS_PER_DECADE = 20

# First-page latency classes (total ms), the session dimension `latency_bucket`.
FIRST_PAGE_EDGES: tuple[int, ...] = (250, 400, 600, 900, 1500)
FIRST_PAGE_LABELS: tuple[str, ...] = (
    "<250 ms",
    "250–400 ms",
    "400–600 ms",
    "600–900 ms",
    "0.9–1.5 s",
    "≥1.5 s",
)
ERROR_LABEL = "error"

SESSION_MEASURES: tuple[str, ...] = (
    "sessions",
    "pages",
    "impressions",
    "clicks",
    "carts",
    "tracked_orders",
    "clicked",
    "carted",
    "converted",
    "converted_ledger",
    "ledger_orders",
    "gmv",
    "errors",
    "unrendered",
    "latency_ms",
    "first_ms",
)
ITEM_MEASURES: tuple[str, ...] = (
    "impressions",
    "clicks",
    "carts",
    "tracked_orders",
    "converted",
    "ledger_orders",
    "converted_ledger",
    "gmv",
)
# A span of session ids, both ends included: the sessions of whole days (see `session_spans`).
Span = tuple[int, int]
# Dimensions counted jointly (`joint_groups`): as many together as keep a joint count's cells
# below one per ROWS_PER_CELL rows counted, where summing the cells out costs less than the
# bincounts saved (small: 16 best of 1 to 128, for the hourly sessions and the latency).
ROWS_PER_CELL = 16
NO_SESSIONS: Span = (0, -1)
# Sessions read at once: whole days, joined until a span holds at least SPAN_SESSIONS but
# never past SPAN_MOST (a `default` or `large` day alone, two days of `small`, two weeks of
# `tiny`). Memory follows a span's rows; each span costs some fixed CPU (small: 4.4 CPU-s in
# 36 day-spans, 4.0 in 18; peak 0.26 and 0.28 GiB, a default day's 0.28 GiB).
SPAN_SESSIONS = 40_000
SPAN_MOST = 60_000

TABLES: tuple[str, ...] = (
    "sessions_hourly",
    "sessions_daily",
    "items_hourly",
    "latency_daily",
    "latency_hourly",
    "feed_hist",
    "feed_summary",
    "experiments",
    "experiments_daily",
)


# --------------------------------------------------------------------------------------------
# Spans: the run read a few days at a time
# --------------------------------------------------------------------------------------------


def merge_spans(
    spans: list[Span], sizes: list[int] | None = None, least: int = 0, most: int | None = None
) -> list[Span]:
    """Overlapping spans joined, in order: each result holds its inputs' rows whole.

    With `sizes` (rows per span), neighbours are also joined until a span holds `least`
    rows, but not past `most` rows: fewer, larger reads of bounded size."""
    sizes = [0] * len(spans) if sizes is None else sizes
    merged: list[Span] = []
    held: list[int] = []
    for (lo, hi), size in sorted(zip(spans, sizes, strict=True)):
        small = merged and held[-1] < least and (most is None or held[-1] + size <= most)
        if merged and (lo <= merged[-1][1] or small):
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
            held[-1] += size
        else:
            merged.append((lo, hi))
            held.append(size)
    return merged


def session_spans(
    run_dir: Path | str, least: int = SPAN_SESSIONS, most: int | None = SPAN_MOST
) -> list[Span]:
    """Session-id spans that each hold whole days (per period), in id order, of at least
    `least` sessions where the run has them (1: a day per span), joining no days past
    `most` sessions (None: no bound).

    Session ids grow with the hour, so a day's sessions are one narrow span; should two
    days' ids ever interleave, their spans merge and the days are read together."""
    days = (
        scan(run_dir, "sessions")
        .group_by("period", "date")
        .agg(lo=pl.col("session_id").min(), hi=pl.col("session_id").max(), n=pl.len())
        .collect(engine="streaming")
    )
    spans = list(zip(days["lo"].to_list(), days["hi"].to_list(), strict=True))
    return merge_spans(spans, days["n"].to_list(), least, most)


def in_span(span: Span, column: str = "session_id") -> pl.Expr:
    return pl.col(column).is_between(*span)


def row_group_spans(path: Path, column: str) -> list[Span]:
    """(min, max) of an integer column per row group, merged: spans that split no value."""
    meta = pq.read_metadata(path)
    spans = []
    for i in range(meta.num_row_groups):
        group = meta.row_group(i)
        if group.num_rows == 0:
            continue
        names = [group.column(j).path_in_schema for j in range(group.num_columns)]
        stats = group.column(names.index(column)).statistics
        if stats is None or not stats.has_min_max:
            raise ValueError(f"{path}: row group {i} has no statistics for {column}")
        spans.append((int(stats.min), int(stats.max)))
    return merge_spans(spans)


def _scan(run_dir: Path | str, table: str, span: Span | None) -> pl.LazyFrame:
    """A log table, restricted to a span's sessions (row groups outside it are not read)."""
    frame = scan(run_dir, table)
    return frame if span is None else frame.filter(in_span(span))


# --------------------------------------------------------------------------------------------
# A span's logs, read once
# --------------------------------------------------------------------------------------------

SESSION_COLUMNS = ("session_id", "user_id", "period", "date", "hour", "pages", *SESSION_DIMS[:-1])


@dataclass(frozen=True)
class SpanLogs:
    """One span's log rows (the columns the cube needs), each pointing at its session:
    `at[table]` (-1 for a row whose session is not in the sessions table), or for the many
    impressions, `runs` of rows of one session. They point at the distinct session, which is
    its row of the sessions table unless a client logged it twice (`by_row`)."""

    sessions: pl.DataFrame  # in session-id order (an id twice if a client logged it twice)
    rows: np.ndarray  # each session row's index among the distinct session ids
    requests: pl.DataFrame
    impressions: pl.DataFrame
    events: pl.DataFrame
    orders: pl.DataFrame
    at: dict[str, np.ndarray]
    runs: Runs

    def by_row(self) -> SpanLogs:
        """The logs joined to the sessions table's rows, pointing at a session row: a row of
        a session logged twice is there once per session row, its copies together (the
        order of a join that keeps the logs' order). The same logs when no id repeats."""
        if len(self.rows) == 0 or self.rows[-1] + 1 == len(self.rows):
            return self
        first = np.flatnonzero(np.concatenate(([True], self.rows[1:] != self.rows[:-1])))
        copies = np.diff(first, append=len(self.rows))

        def joined(frame: pl.DataFrame, at: np.ndarray) -> tuple[pl.DataFrame, np.ndarray]:
            known = at >= 0
            repeat = np.where(known, copies[np.where(known, at, 0)], 1)
            take = np.repeat(np.arange(len(at)), repeat)
            nth = np.arange(len(take)) - np.repeat(np.cumsum(repeat) - repeat, repeat)
            return frame[take], np.where(at[take] >= 0, first[at[take]] + nth, -1)

        tables = {"requests": self.requests, "events": self.events, "orders": self.orders}
        frames, at = {}, {}
        for name, frame in tables.items():
            frames[name], at[name] = joined(frame, self.at[name])
        impressions, owners = joined(self.impressions, self.runs.per_row())
        starts = np.flatnonzero(np.concatenate(([True], owners[1:] != owners[:-1])))
        runs = Runs(owners[starts], np.diff(starts, append=len(owners)))
        return SpanLogs(self.sessions, self.rows, **frames, impressions=impressions, at=at,
                        runs=runs)  # fmt: skip


def read_span(run_dir: Path | str, span: Span | None = None) -> SpanLogs:
    def read(table: str, *columns: str | pl.Expr, **named: pl.Expr) -> pl.LazyFrame:
        return _scan(run_dir, table, span).select(*columns, **named)

    server = pl.col("server_ms").cast(pl.Float64)
    client = pl.col("client_ms").cast(pl.Float64)
    event = pl.col("event")
    sessions, requests, events, orders, impressions = pl.collect_all(
        [
            read("sessions", *SESSION_COLUMNS),
            read(
                "requests",
                "session_id",
                "service_version",
                first=(pl.col("page") == 0).fill_null(False),
                error=(pl.col("status") >= 500).fill_null(False),
                unrendered=(~pl.col("rendered")).fill_null(False),
                ms=server + client,
                total=latency_bucket(server + client),
                server=latency_bucket(server),
                client=latency_bucket(client),
            ),
            read(
                "events",
                "session_id",
                "item_id",
                click=(event == "click").fill_null(False),
                cart=(event == "add_to_cart").fill_null(False),
                order=(event == "order").fill_null(False),
            ),
            read("orders", "session_id", "item_id", "amount", "status"),
            read("impressions", "session_id", "item_id"),
        ]
    )
    if not sessions["session_id"].is_sorted():
        sessions = sessions.sort("session_id")
    ids, rows = distinct_ids(sessions, "session_id", "sessions")
    frames = {"requests": requests, "events": events, "orders": orders}
    index = IdIndex(ids)
    at = {name: session_runs(index, f["session_id"]).per_row() for name, f in frames.items()}
    runs = session_runs(index, impressions["session_id"])
    return SpanLogs(sessions, rows, requests, impressions, events, orders, at, runs)


# --------------------------------------------------------------------------------------------
# Sessions
# --------------------------------------------------------------------------------------------


def _first_page_label(first_ms: np.ndarray, first_error: np.ndarray) -> pl.Series:
    """The session dimension `latency_bucket`: its first page's latency class, or error."""
    labels = (*FIRST_PAGE_LABELS, ERROR_LABEL)
    code = np.full(len(first_ms), len(FIRST_PAGE_EDGES), dtype=np.int64)
    for i in reversed(range(len(FIRST_PAGE_EDGES))):
        code[first_ms < FIRST_PAGE_EDGES[i]] = i
    code[first_error] = len(labels) - 1
    return pl.Series("latency_bucket", labels, dtype=pl.Enum(labels)).gather(code)


def session_facts(logs: SpanLogs) -> pl.DataFrame:
    """One row per session row (in id order): its dimensions and every session measure.

    Pages are the sessions table's own count; a session's latency sums its requests in file
    order, its first page is its first request of page 0, its GMV sums its paid orders. The
    measures are the distinct session's (`n` of them), on each of its rows: a session logged
    twice counts twice, as a join of the logs to the sessions table counts it."""
    sessions, n = logs.sessions, int(logs.rows[-1]) + 1 if len(logs.rows) else 0
    req, at = logs.requests, logs.at
    ms = req["ms"].fill_null(0.0).to_numpy()  # a null adds nothing, as a sum skips it
    starts = np.flatnonzero((at["requests"] >= 0) & req["first"].to_numpy())
    owners = at["requests"][starts]
    if not len(owners):  # no first page
        first = np.zeros(0, dtype=np.int64)
    elif (owners[1:] >= owners[:-1]).all():  # requests in session order: first of each run
        first = np.flatnonzero(np.concatenate(([True], owners[1:] != owners[:-1])))
        owners = owners[first]
    else:
        owners, first = np.unique(owners, return_index=True)
    first_ms = np.zeros(n)
    first_ms[owners] = ms[starts[first]]
    first_error = np.zeros(n, dtype=bool)
    first_error[owners] = req["error"].to_numpy()[starts[first]]
    ev = logs.events
    orders, owner = logs.orders, at["orders"]
    paid = (owner >= 0) & (orders["status"].cast(pl.String) == "paid").fill_null(False).to_numpy()
    amounts = orders["amount"].fill_null(0).to_numpy()
    gmv = np.zeros(n, dtype=amounts.dtype)  # in the amounts' own type, added in file order
    np.add.at(gmv, owner[paid], amounts[paid])
    ledger_orders = per_row(owner, n)
    clicks = per_row(at["events"], n, ev["click"].to_numpy())
    carts = per_row(at["events"], n, ev["cart"].to_numpy())
    tracked = per_row(at["events"], n, ev["order"].to_numpy())
    measures = {
        "impressions": logs.runs.counts(n),
        "clicks": clicks,
        "carts": carts,
        "tracked_orders": tracked,
        "clicked": clicks > 0,
        "carted": carts > 0,
        "converted": tracked > 0,
        "converted_ledger": ledger_orders > 0,
        "ledger_orders": ledger_orders,
        "gmv": gmv,
        "errors": per_row(at["requests"], n, req["error"].to_numpy()),
        "unrendered": per_row(at["requests"], n, req["unrendered"].to_numpy()),
        "latency_ms": per_row(at["requests"], n, ms),
        "first_ms": first_ms,
    }
    floats = ("gmv", "latency_ms", "first_ms")
    rows: np.ndarray | slice = logs.rows
    if len(logs.rows) == n:  # no session logged twice: each distinct session is its row
        rows = slice(None)
    return sessions.select("session_id", "user_id", "period", "date", "hour").with_columns(
        *(sessions[d] for d in SESSION_DIMS[:-1]),
        _first_page_label(first_ms[rows], first_error[rows]),
        pl.Series("sessions", np.ones(sessions.height, dtype=np.int64)),
        sessions["pages"].fill_null(0).cast(pl.Int64),
        *(
            pl.Series(m, np.asarray(v, dtype=np.float64 if m in floats else np.int64)[rows])
            for m, v in measures.items()
        ),
    )


@dataclass(frozen=True)
class SessionSums:
    """A span's session measures ready to be summed by any grouping: the floats as they
    are (added one by one, in row order), the integer counts packed several to a sum."""

    floats: dict[str, np.ndarray]
    counts: Packed
    dtypes: dict[str, pl.DataType]

    @classmethod
    def of(cls, facts: pl.DataFrame) -> SessionSums:
        floats = {m: facts[m].to_numpy() for m in SESSION_MEASURES if facts[m].dtype.is_float()}
        counts = {m: facts[m].to_numpy() for m in SESSION_MEASURES if m not in floats}
        return cls(floats, pack_counts(counts), {m: facts[m].dtype for m in SESSION_MEASURES})

    def sums(
        self,
        total: Callable[[np.ndarray], np.ndarray],
        counts: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> dict[str, np.ndarray]:
        """Every measure per group: the floats by `total`, the counts by `counts` (exact
        in any order; `total` by default)."""
        sums = self.counts.sums(total if counts is None else counts)
        return sums | {m: total(v) for m, v in self.floats.items()}

    def series(self, sums: dict[str, np.ndarray]) -> list[pl.Series]:
        return [pl.Series(m, sums[m]).cast(self.dtypes[m]) for m in SESSION_MEASURES]


def sessions_hourly(
    facts: pl.DataFrame, hours: Key, dims: dict[str, Key], measures: SessionSums | None = None
) -> pl.DataFrame:
    """Long form: the total (`dim = "all"`) and each dimension alone, per hour.

    Float sums go block by block (each dimension's groups, in row order); the counts of
    several dimensions are counted jointly and each one's summed out of those (exact)."""
    measures = SessionSums.of(facts) if measures is None else measures
    offsets, values = long_key({"all": ALL} | {d: key.values for d, key in dims.items()})
    grid = Grid(hours.values, values)
    base = hours.codes * values.height
    blocks = [base + offsets["all"]]
    blocks += [base + (dims[d].codes + offsets[d]) for d in SESSION_DIMS]
    sizes = {d: dims[d].size for d in SESSION_DIMS}
    joint = []
    for group in joint_groups(sizes, max(len(base) // (ROWS_PER_CELL * max(hours.size, 1)), 1)):
        code = hours.codes
        for d in group:
            code = code * sizes[d] + dims[d].codes
        joint.append((group, code))

    def counted(weight: np.ndarray) -> np.ndarray:
        total = np.zeros((hours.size, values.height))
        for n, (group, code) in enumerate(joint):
            shape = (hours.size, *(sizes[d] for d in group))
            sums = np.bincount(code, weight, minlength=int(np.prod(shape))).reshape(shape)
            for d, part in summed_out(sums, group, total=n == 0):
                total[:, offsets[d] : offsets[d] + part.shape[1]] = part
        return total.reshape(-1)

    sums = measures.sums(lambda weights: grid.sum(weights, *blocks), counted)
    groups = np.flatnonzero(sums["sessions"])  # a session each: the groups' rows
    series = measures.series({m: v[groups] for m, v in sums.items()})
    keys = ["period", "date", "hour", "dim", "value"]
    return labelled(grid.rows(groups)).with_columns(series).select(*keys, *SESSION_MEASURES)


def sessions_daily(
    facts: pl.DataFrame, days: Key, dims: dict[str, Key], measures: SessionSums | None = None
) -> pl.DataFrame:
    """Wide form: every session dimension at once, per day."""
    measures = SessionSums.of(facts) if measures is None else measures
    key = combined(days, *(dims[d] for d in SESSION_DIMS))  # its values: the rows, in order
    grid = Grid(key.values)
    sums = measures.sums(lambda weights: grid.sum(weights, key.codes))
    return labelled(key.values).with_columns(measures.series(sums))


# --------------------------------------------------------------------------------------------
# Items (category, seller type)
# --------------------------------------------------------------------------------------------


def item_dims(run_dir: Path | str) -> pl.LazyFrame:
    """Each item's category and its seller's shop type."""
    return (
        scan(run_dir, "items")
        .join(scan(run_dir, "sellers").select("seller_id", "shop_type"), on="seller_id")
        .select("item_id", *ITEM_DIMS)
    )


@dataclass(frozen=True)
class Items:
    """The catalogue's (category, shop type) as a key, looked up by item id: in `table`
    (code by id, -1 last for any other id) when ids are small, else by binary search."""

    ids: np.ndarray  # sorted
    key: Key
    table: np.ndarray | None

    def codes_of(self, item_ids: pl.Series) -> np.ndarray:
        """Each id's key code, -1 for an item not in the catalogue (or of no known seller)."""
        values = item_ids.fill_null(-1).to_numpy() if item_ids.null_count() else item_ids.to_numpy()
        if self.table is not None:
            top = len(self.table) - 2
            if len(values) and (values.min() < 0 or values.max() > top):
                values = np.where((values >= 0) & (values <= top), values, -1)
            return self.table[values]
        if not len(self.ids):
            return np.full(len(values), -1, dtype=np.int64)
        rows = np.searchsorted(self.ids, values).clip(max=len(self.ids) - 1)
        codes = np.where(self.ids[rows] == values, self.key.codes[rows], -1)
        if item_ids.null_count():
            codes[item_ids.is_null().to_numpy()] = -1
        return codes


def item_key(run_dir: Path | str) -> Items:
    frame = item_dims(run_dir).collect().sort("item_id")
    ids = unique_ids(frame, "item_id", "items")
    key = group_key(frame.select(ITEM_DIMS))
    table = None
    if len(ids) and ids[0] >= 0 and fits_table(int(ids[-1]), len(ids)):
        table = np.full(int(ids[-1]) + 2, -1, dtype=np.int64)
        table[ids] = key.codes
    return Items(ids, key, table)


def _shown(
    hour: np.ndarray, lengths: np.ndarray, item: np.ndarray, size: int, grid: Grid
) -> np.ndarray:
    """Impressions per (hour, item key) code, of runs of rows of one session each, at
    `hour` (-1: no known session) of `lengths` rows, each showing `item` (-1: unknown).
    Sessions come in hour order (ids grow with the hour): each hour's rows are one slice."""
    if len(hour) and (hour[1:] >= hour[:-1]).all() and item.min() >= 0:
        change = np.flatnonzero(hour[1:] != hour[:-1]) + 1
        ends = np.cumsum(lengths)
        starts = np.concatenate(([0], ends[change - 1]))
        stops = np.concatenate((ends[change - 1], ends[-1:]))
        counts = np.zeros((grid.size // max(size, 1), size), dtype=np.int64)
        for h, start, stop in zip(hour[np.concatenate(([0], change))], starts, stops, strict=True):
            if h >= 0:
                counts[h] = np.bincount(item[start:stop], minlength=size)
        return counts.reshape(-1)
    shown = np.repeat(hour * size, lengths)
    shown += item  # the grid's code
    if (hour < 0).any() or (item < 0).any():  # rows of no known session or item
        shown = shown[(np.repeat(hour, lengths) >= 0) & (item >= 0)]
    return grid.count(shown)


def items_hourly(logs: SpanLogs, hours: Key, items: Items) -> pl.DataFrame:
    """Item-level funnel by the catalogue category and shop type of the item shown."""
    grid = Grid(hours.values, items.key.values)
    n = logs.sessions.height
    logs = logs.by_row()

    def located(table: str, frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rows kept, their group codes, their distinct sessions): rows of a known session
        and item."""
        item, rows = items.codes_of(frame["item_id"]), logs.at[table]
        kept = np.flatnonzero((rows >= 0) & (item >= 0))
        return kept, grid.code(hours.codes[rows[kept]], item[kept]), logs.rows[rows[kept]]

    def sessions_per_group(codes: np.ndarray, sessions: np.ndarray) -> np.ndarray:
        return np.bincount(np.unique(codes * n + sessions) // max(n, 1), minlength=grid.size)

    runs, item = logs.runs, items.codes_of(logs.impressions["item_id"])
    hour = np.where(runs.sessions >= 0, hours.codes[runs.sessions], -1) if n else runs.sessions
    impressions = _shown(hour, runs.lengths, item, items.key.size, grid)
    ev = logs.events
    kept, tracked, tracked_by = located("events", ev)
    order = ev["order"].to_numpy()[kept]
    kept_o, ledger, ledger_by = located("orders", logs.orders)
    paid = (logs.orders["status"].cast(pl.String) == "paid").fill_null(False).to_numpy()[kept_o]
    amount = logs.orders["amount"].cast(pl.Float64).fill_null(0.0).to_numpy()[kept_o]
    measures = {
        "impressions": impressions,
        "clicks": grid.sum(ev["click"].to_numpy()[kept], tracked),
        "carts": grid.sum(ev["cart"].to_numpy()[kept], tracked),
        "tracked_orders": grid.sum(order, tracked),
        "converted": sessions_per_group(tracked[order], tracked_by[order]),
        "ledger_orders": grid.count(ledger),
        "converted_ledger": sessions_per_group(ledger, ledger_by),
        "gmv": grid.sum(amount[paid], ledger[paid]),  # in file order
    }
    groups = np.flatnonzero(impressions + grid.count(tracked, ledger))
    sums = [
        pl.Series(m, v[groups]).cast(pl.Float64 if m == "gmv" else pl.Int64)
        for m, v in measures.items()
    ]
    keys = ["period", "date", "hour", *ITEM_DIMS]
    return labelled(grid.rows(groups)).with_columns(sums).select(*keys, *ITEM_MEASURES)


# --------------------------------------------------------------------------------------------
# Latency histograms
# --------------------------------------------------------------------------------------------


def latency_bucket(ms: pl.Expr) -> pl.Expr:
    """Log-spaced bucket code: bucket b covers [10^(b/k), 10^((b+1)/k)) ms, k per decade."""
    return (ms.clip(1.0, None).log10() * BUCKETS_PER_DECADE).floor().cast(pl.Int16)


def bucket_bounds(bucket: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper latency (ms) of bucket codes."""
    b = np.asarray(bucket, dtype=np.float64)
    return 10 ** (b / BUCKETS_PER_DECADE), 10 ** ((b + 1) / BUCKETS_PER_DECADE)


def bucket_key(columns: list[pl.Series], name: str) -> tuple[pl.DataFrame, list[np.ndarray], int]:
    """Columns of small integer codes (latency buckets, histogram bins) under one key named
    `name`: its values, every code from the lowest seen to the highest (a few dozen; empty
    ones count nothing); each column's codes in it, each `low` more than the code (callers
    take `low` off in their own offsets, not in a pass of its own); and `low`. A null is a
    value of its own."""
    if any(column.null_count() for column in columns) or not any(len(c) for c in columns):
        key = group_key(pl.concat([column.rename(name) for column in columns]).to_frame())
        ends = np.cumsum([0, *(len(column) for column in columns)])
        return key.values, [key.codes[start:end] for start, end in itertools.pairwise(ends)], 0
    numbers = [column.to_numpy() for column in columns]
    low = min(int(values.min()) for values in numbers)
    high = max(int(values.max()) for values in numbers)
    values = pl.Series(name, np.arange(low, high + 1), dtype=columns[0].dtype)
    return values.to_frame(), numbers, low


KIND_ORDER = sorted(LATENCY_KINDS)  # the cube's order of kinds


def latency_tables(
    logs: SpanLogs, days: Key, hours: Key, dims: dict[str, Key]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(daily by dimension, hourly in total) request counts per latency bucket and kind, of
    the requests of a known session."""
    logs = logs.by_row()
    owner, req = logs.at["requests"], logs.requests
    if (owner < 0).any():
        kept = np.flatnonzero(owner >= 0)
        owner = owner[kept]
        req = req.select(*LATENCY_KINDS, "service_version")[kept]
    buckets, bucket, low = bucket_key([req[k] for k in KIND_ORDER], "bucket")
    kinds = pl.DataFrame({"kind": KIND_ORDER})
    version = group_key(req.select("service_version"))
    parts = {d: dims[d].values for d in LATENCY_DIMS[:-1]}
    offsets, values = long_key({"all": ALL, "service_version": version.values} | parts)
    counted = KindCounts(bucket, buckets.height, low)
    by_hour = counted(hours.codes[owner], hours.size)
    keys = {d: dims[d] for d in LATENCY_DIMS[:-1]} | {"service_version": version}
    by_day = _latency_by_day(counted, owner, days, keys, offsets, values.height)
    frames = []
    daily = Grid(days.values, kinds, values, buckets)
    hourly = Grid(hours.values, kinds, buckets)
    for grid, counts in ((daily, by_day), (hourly, by_hour)):
        groups = np.flatnonzero(counts)  # in code order: sorted
        requests = pl.Series("requests", counts[groups]).cast(pl.UInt32)
        frames.append(labelled(grid.rows(groups)).with_columns(requests))
    day_cols = ["period", "date", "kind", "dim", "value", "bucket"]
    hour_cols = ["period", "date", "hour", "kind", "bucket"]
    return frames[0].select(*day_cols, "requests"), frames[1].select(*hour_cols, "requests")


class KindCounts:
    """Requests counted per (lead, kind, bucket) code: every kind's requests one after
    another, each one's (kind, bucket) code computed once, the lead added in front per count
    (into one buffer, not temporaries per kind per count)."""

    def __init__(self, bucket: list[np.ndarray], n_buckets: int, low: int) -> None:
        """`bucket`: each kind's bucket codes, `low` more (`bucket_key`)."""
        self.cells = len(bucket) * n_buckets  # (kind, bucket) codes
        self.tail = np.empty((len(bucket), len(bucket[0])), dtype=np.int64)
        for k, codes in enumerate(bucket):
            np.add(codes, np.int64(k * n_buckets - low), out=self.tail[k])
        self.flat = np.empty_like(self.tail)

    @property
    def requests(self) -> int:
        return self.tail.size

    def __call__(self, lead: np.ndarray, size: int) -> np.ndarray:
        """Requests per (lead, kind, bucket) code, `lead` (< size) per request."""
        np.add(lead * self.cells, self.tail, out=self.flat)
        return np.bincount(self.flat.reshape(-1), minlength=size * self.cells)


def _latency_by_day(
    counted: KindCounts,
    owner: np.ndarray,
    days: Key,
    keys: dict[str, Key],
    offsets: dict[str, int],
    n_values: int,
) -> np.ndarray:
    """Requests per daily grid code ((day, kind), value, bucket) of every dimension's value
    and "all": dimensions counted jointly a few at a time (`joint_groups`), each one's counts
    summed out of the joint ones (exact). `keys`: the session dimensions' keys (of session
    rows, looked up by `owner`) and the request-level "service_version" (of the requests)."""
    kinds_n = len(KIND_ORDER)
    n_buckets = counted.cells // kinds_n
    by_day = np.zeros((days.size, kinds_n, n_values, n_buckets), dtype=np.int64)
    cells = ROWS_PER_CELL * max(days.size * counted.cells, 1)
    sizes = {d: key.size for d, key in keys.items()}
    for n, group in enumerate(joint_groups(sizes, max(counted.requests // cells, 1))):
        group.sort(key=lambda d: d == "service_version")  # the request-level key last
        joint = days.codes
        for d in group[: len(group) - ("service_version" in group)]:
            joint = joint * sizes[d] + keys[d].codes
        joint = joint[owner]
        if group[-1] == "service_version":
            joint = joint * sizes["service_version"] + keys["service_version"].codes
        shape = (days.size, *(sizes[d] for d in group), kinds_n, n_buckets)
        counts = counted(joint, int(np.prod(shape[:-2]))).reshape(shape)
        for d, part in summed_out(counts, group, total=n == 0):
            by_day[:, :, offsets[d] : offsets[d] + part.shape[1]] += part.transpose(0, 2, 1, 3)
    return by_day.reshape(-1)


# --------------------------------------------------------------------------------------------
# Feed snapshots
# --------------------------------------------------------------------------------------------

FEED_KEYS = ["snapshot", "taken_at", "category"]


def _feed_edges(first: pl.DataFrame) -> dict[str, list[float]]:
    """Decile edges of each attribute in the first snapshot: the PSI bins for every snapshot
    (readout.drift's one binning rule; a value is in bin b when it exceeds b edges)."""
    return {
        attr: decile_edges(first[attr].drop_nulls().cast(pl.Float64).to_numpy(), FEED_BINS)
        for attr in FEED_ATTRIBUTES
    }


FEED_HIST_ATTRIBUTES = sorted((*FEED_ATTRIBUTES, "in_stock"))  # the table's order


def _feed_bins(values: pl.Series, edges: list[float]) -> pl.Series | pl.Expr:
    """How many edges each value exceeds, compared in the column's own float type (as polars
    compares a float column with a number: NaN above every number); a null exceeds none."""
    if not values.dtype.is_float():
        return pl.sum_horizontal([(pl.col(values.name) > e) for e in edges] or [pl.lit(0)]).cast(
            pl.Int16
        )
    floats = values.to_numpy()  # a null as NaN, counted below
    bounds = np.asarray(edges, dtype=floats.dtype)
    numbers = bounds[~np.isnan(bounds)]  # no value exceeds a NaN edge
    counts = np.zeros(len(floats), dtype=np.int16)
    for bound in numbers:
        counts += floats > bound
    if len(numbers):  # NaN exceeds every number (numpy's NaN > x is False)
        counts[np.isnan(floats)] = len(numbers)
    if values.null_count():
        counts[values.is_null().to_numpy()] = 0
    return pl.Series(values.name, counts, dtype=pl.Int16)


def _feed_hist(feed: pl.DataFrame, edges: dict[str, list[float]]) -> pl.DataFrame:
    """Items per snapshot, category, attribute and bin (how many of the attribute's edges
    a value exceeds; in stock or not)."""
    columns = [
        _feed_bins(feed[attr], edges[attr]) if attr in edges else feed[attr].cast(pl.Int16)
        for attr in FEED_HIST_ATTRIBUTES
    ]
    series = [c if isinstance(c, pl.Series) else feed.select(c).to_series() for c in columns]
    bin_values, bins, low = bucket_key(series, "bin")
    snapshots = group_key(feed.select(FEED_KEYS))
    n_attr, n_bins = len(FEED_HIST_ATTRIBUTES), bin_values.height
    grid = Grid(snapshots.values, pl.DataFrame({"attribute": FEED_HIST_ATTRIBUTES}), bin_values)
    counts = np.zeros(grid.size, dtype=np.int64)
    for a in range(n_attr):
        code = (snapshots.codes * n_attr + a) * n_bins - low
        counts += np.bincount(code + bins[a], minlength=grid.size)
    groups = np.flatnonzero(counts)  # in code order: sorted
    items = pl.Series("items", counts[groups]).cast(pl.UInt32)
    return labelled(grid.rows(groups)).with_columns(items)


def _feed_summary(ordered: pl.DataFrame, last: pl.DataFrame) -> pl.DataFrame:
    """Per-snapshot summaries of snapshots `ordered` by item and snapshot; an item moved in
    when its category differs from the one it had in its previous snapshot (in this span,
    or `last`: each item's latest one before)."""
    same_item = pl.col("item_id") == pl.col("item_id").shift(1)
    before = pl.when(same_item).then(pl.col("category").shift(1)).otherwise(pl.col("last"))
    seen = same_item | pl.col("seen").fill_null(False)
    return _summarise(
        ordered.join(last, on="item_id", how="left", maintain_order="left").with_columns(
            moved=seen & (pl.col("category") != before)
        )
    )


def _summarise(feed: pl.DataFrame) -> pl.DataFrame:
    """The per-snapshot summaries of snapshots with their `moved` flags. A group's means add
    its rows in item order: `feed` ordered by item, or by snapshot with its items in order."""
    return (
        feed.group_by(FEED_KEYS)
        .agg(
            items=pl.len(),
            moved_in=pl.col("moved").sum(),
            in_stock=pl.col("in_stock").mean(),
            median_price=pl.col("price").median(),
            seller_rating=pl.col("seller_rating").mean(),
            image_score=pl.col("image_score").mean(),
            title_score=pl.col("title_score").mean(),
        )
        .with_columns(pl.col("category").cast(pl.String))
        .sort(FEED_KEYS)
    )


# Item ids a `LatestCategory` table may span whatever their density (8 MiB of int64 codes): it
# grows to the highest id seen and lives through the run; higher ids sort and join instead.
LATEST_SLOTS = 1 << 20


class LatestCategory:
    """Each item's category in its latest snapshot so far, in a table by item id: whether a
    snapshot's item moved in, without sorting the snapshots by item or joining."""

    UNSEEN, NULL = -2, -1

    def __init__(self) -> None:
        self.codes = np.full(0, self.UNSEEN, dtype=np.int64)  # by item id
        self.names: dict[str, int] = {}  # a category's code

    def moved(self, feed: pl.DataFrame) -> pl.Series | None:
        """`moved` of each row of snapshots in order, each with its items in order (each
        once), the table updated; None (nothing updated) for any other rows."""
        ids, snapshot = feed["item_id"], feed["snapshot"]
        if ids.null_count() or snapshot.null_count() or not snapshot.is_sorted():
            return None
        items, snaps = ids.cast(pl.Int64).to_numpy(), snapshot.to_numpy()
        if len(items) and (
            items.min() < 0 or not fits_table(int(items.max()), len(items), LATEST_SLOTS)
        ):
            return None
        new = snaps[1:] != snaps[:-1]
        if not (new | (items[1:] > items[:-1])).all():
            return None
        codes = self._codes(feed["category"])
        if len(items) and items.max() >= len(self.codes):
            grown = np.full(int(items.max()) + 1, self.UNSEEN, dtype=np.int64)
            grown[: len(self.codes)] = self.codes
            self.codes = grown
        moved = np.zeros(len(items), dtype=bool)
        bounds = [0, *(np.flatnonzero(new) + 1).tolist(), len(items)]
        for start, end in itertools.pairwise(bounds):  # snapshot by snapshot
            item, code = items[start:end], codes[start:end]
            before = self.codes[item]
            moved[start:end] = (before >= 0) & (code >= 0) & (code != before)
            self.codes[item] = code
        return pl.Series("moved", moved)

    def _codes(self, category: pl.Series) -> np.ndarray:
        """Categories as codes of this table (NULL for a null)."""
        key = group_key(category.to_frame())
        names = key.values.to_series().cast(pl.String).to_list()
        lookup = np.array(
            [self.NULL if n is None else self.names.setdefault(n, len(self.names)) for n in names],
            dtype=np.int64,
        )
        return lookup[key.codes]

    def frame(self, dtype: pl.DataType) -> pl.DataFrame:
        """The table as (item_id, last, seen) rows, for the sorting and joining way."""
        ids = np.flatnonzero(self.codes != self.UNSEEN)
        names = [None, *sorted(self.names, key=self.names.__getitem__)]
        last = [names[c + 1] for c in self.codes[ids].tolist()]
        return pl.DataFrame(
            {
                "item_id": pl.Series(ids, dtype=pl.Int32),
                "last": pl.Series(last, dtype=pl.String).cast(dtype),
                "seen": pl.Series(np.ones(len(ids), dtype=bool)),
            }
        )


def feed_tables(run_dir: Path | str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(attribute histograms, per-snapshot summaries) by the feed's own category.

    Read a row group (a day's snapshots) at a time, carrying each item's latest category."""
    feed_scan = scan(run_dir, "feed_snapshots")  # categories as text only once counted
    spans = row_group_spans(table_path(run_dir, "feed_snapshots"), "snapshot")
    if not spans:
        hist = pl.DataFrame(
            schema={
                "snapshot": pl.Int32,
                "taken_at": pl.Datetime("ms"),
                "category": pl.String,
                "attribute": pl.String,
                "bin": pl.Int16,
                "items": pl.UInt32,
            }
        )
        return hist, pl.DataFrame(schema={k: hist.schema[k] for k in FEED_KEYS})
    edges = _feed_edges(feed_scan.filter(pl.col("snapshot") == spans[0][0]).collect())
    category = feed_scan.collect_schema()["category"]
    latest = LatestCategory()
    last: pl.DataFrame | None = None  # the latest categories as a frame, once needed
    hists, summaries = [], []
    for span in spans:
        feed = feed_scan.filter(in_span(span, "snapshot")).collect()
        hists.append(_feed_hist(feed, edges))
        if last is None and (moved := latest.moved(feed)) is not None:
            summaries.append(_summarise(feed.with_columns(moved)))
            continue
        if last is None:
            last = latest.frame(category)
        if feed["snapshot"].is_sorted():  # as written: a stable sort by item is enough
            ordered = feed.sort("item_id", maintain_order=True)
        else:
            ordered = feed.sort("item_id", "snapshot")
        del feed
        summaries.append(_feed_summary(ordered, last))
        newest = ordered.select("item_id", last="category", seen=pl.lit(True))
        last = pl.concat([last, newest]).unique("item_id", keep="last", maintain_order=True)
    return pl.concat(hists), pl.concat(summaries)


# --------------------------------------------------------------------------------------------
# Experiments
# --------------------------------------------------------------------------------------------

EXPOSURE_KEYS = ["experiment_id", "arm", "window", "user_id"]


def experiment_exposure(
    run_dir: Path | str,
    facts: pl.LazyFrame,
    windows: Windows,
    tables: tuple[pl.LazyFrame, pl.LazyFrame] | None = None,
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """(user-level sums by window, daily sums) per arm, of the sessions in `facts`.

    Only sessions while the experiment runs count. Windows: `running` (the whole time it ran
    within the case), and its intersection with the brief's `before` and `after` windows.
    The user-level sums of several spans add up (`merge_exposure`); the daily ones concatenate.
    `tables`: `experiment_inputs` read once for every span.
    """
    exps, assigned = experiment_inputs(run_dir) if tables is None else tables
    case_end = datetime.combine(windows.end + timedelta(days=1), datetime.min.time())
    at = pl.col("date").cast(pl.Datetime("ms")) + pl.duration(hours=pl.col("hour"))
    exposed = (
        facts.filter(pl.col("period") == "current")
        .select("user_id", "date", "hour", "sessions", "converted", "converted_ledger")
        .join(assigned, on="user_id")
        .join(exps, on="experiment_id")
        .filter(at >= pl.col("start"), at < pl.col("end").fill_null(case_end))
        .with_columns(window=window_label(windows))
        .cache()
    )
    per_window = [
        exposed.with_columns(window=pl.lit("running")),
        exposed.filter(pl.col("window").is_not_null()),
    ]
    users = (
        pl.concat(per_window)
        .group_by(EXPOSURE_KEYS)
        .agg(
            s=pl.col("sessions").sum(),
            c=pl.col("converted").sum(),
            l=pl.col("converted_ledger").sum(),
        )
    )
    daily = (
        exposed.group_by("experiment_id", "arm", "date")
        .agg(pl.col("sessions", "converted", "converted_ledger").sum())
        .sort("experiment_id", "arm", "date")
    )
    return users, daily


def experiment_inputs(run_dir: Path | str) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """(experiments, assignments): the columns `experiment_exposure` reads."""
    return (
        scan(run_dir, "experiments").select("experiment_id", "start", "end"),
        scan(run_dir, "assignments").select("experiment_id", "user_id", "arm"),
    )


def merge_exposure(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """User-level sums of several spans as one (integers: exact in any order)."""
    if len(parts) == 1:
        return parts[0]
    return pl.concat(parts).group_by(EXPOSURE_KEYS).agg(pl.col("s", "c", "l").sum())


def experiment_moments(users: pl.DataFrame) -> pl.DataFrame:
    """Per arm and window: users and the moments of their sums (delta-method intervals)."""
    s, c, l_ = pl.col("s"), pl.col("c"), pl.col("l")
    return (
        users.group_by("experiment_id", "arm", "window")
        .agg(
            users=pl.len(),
            sessions=s.sum(),
            converted=c.sum(),
            converted_ledger=l_.sum(),
            ss=(s * s).sum(),
            cc=(c * c).sum(),
            sc=(s * c).sum(),
            ll=(l_ * l_).sum(),
            sl=(s * l_).sum(),
        )
        .with_columns(pl.exclude("experiment_id", "arm", "window").cast(pl.Int64))
        .sort("experiment_id", "window", "arm")
    )


# --------------------------------------------------------------------------------------------
# Building and locating the cube
# --------------------------------------------------------------------------------------------

# How each table is ordered (its keys; unique per row), to put the spans' parts together.
SORT_KEYS: dict[str, list[str]] = {
    "sessions_hourly": ["period", "date", "hour", "dim", "value"],
    "sessions_daily": ["period", "date", *SESSION_DIMS],
    "items_hourly": ["period", "date", "hour", *ITEM_DIMS],
    "latency_daily": ["period", "date", "kind", "dim", "value", "bucket"],
    "latency_hourly": ["period", "date", "hour", "kind", "bucket"],
    "experiments_daily": ["experiment_id", "arm", "date"],
}
SPAN_TABLES = tuple(SORT_KEYS)


@dataclass(frozen=True)
class RunInputs:
    """What every span reads of the run besides its logs, read once; and the experiment
    sums of a span no experiment has started by, the same for every such span."""

    windows: Windows
    items: Items
    experiments: tuple[pl.LazyFrame, pl.LazyFrame]
    first_start: datetime | None  # the earliest experiment's start
    unexposed: list[tuple[pl.DataFrame, pl.DataFrame]] = field(default_factory=list)

    def exposure(self, run_dir: Path, facts: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """`experiment_exposure` of a span's sessions, collected."""
        if self.first_start is None or not facts.select(self.started().any()).item():
            if not self.unexposed:
                self.unexposed.append(self.collected(run_dir, facts.head(0)))
            return self.unexposed[0]
        return self.collected(run_dir, facts)

    def started(self) -> pl.Expr:
        """A session of the case's own period once some experiment has started."""
        at = pl.col("date").cast(pl.Datetime("ms")) + pl.duration(hours=pl.col("hour"))
        return (pl.col("period") == "current") & (at >= self.first_start)

    def collected(self, run_dir: Path, facts: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        exposure = experiment_exposure(run_dir, facts.lazy(), self.windows, self.experiments)
        users, daily = pl.collect_all(exposure)
        return users, daily


def run_inputs(run_dir: Path | str) -> RunInputs:
    exps, assigned = pl.collect_all(experiment_inputs(run_dir))
    first_start = exps["start"].min() if exps.height else None
    return RunInputs(
        case_windows(read_case(run_dir)),
        item_key(run_dir),
        (exps.lazy(), assigned.lazy()),
        first_start,  # type: ignore[arg-type]
    )


def span_tables(
    run_dir: Path, span: Span | None, run: RunInputs
) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    """The cube's rows of one span's sessions (or all), and its experiment users' sums."""
    logs = read_span(run_dir, span)
    facts = session_facts(logs)
    days = group_key(facts.select("period", "date"))
    hours = combined(days, group_key(facts["hour"].to_frame()))
    dims = {d: group_key(facts[d].to_frame()) for d in SESSION_DIMS}
    latency_day, latency_hour = latency_tables(logs, days, hours, dims)
    users, exp_daily = run.exposure(run_dir, facts)
    measures = SessionSums.of(facts)
    frames = {
        "sessions_hourly": sessions_hourly(facts, hours, dims, measures),
        "sessions_daily": sessions_daily(facts, days, dims, measures),
        "items_hourly": items_hourly(logs, hours, run.items),
        "latency_daily": latency_day,
        "latency_hourly": latency_hour,
        "experiments_daily": exp_daily,
    }
    return frames, users


# Written span by span: these tables' keys start with the period and the day, which no span
# splits, so their parts follow one another in order (checked) and are never held together.
STREAMED = tuple(name for name in SPAN_TABLES if SORT_KEYS[name][:2] == ["period", "date"])


class SpanParts:
    """The streamed tables, each appended to one Parquet file (a row group per span) as its
    span is done; a table whose spans came out of day order (which session ids, ordered by
    period and hour, never do) is sorted when it is finished."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.writers: dict[str, pq.ParquetWriter] = {}
        self.last: dict[str, tuple[Any, ...] | None] = dict.fromkeys(STREAMED)
        self.ordered = dict.fromkeys(STREAMED, True)

    def add(self, name: str, frame: pl.DataFrame) -> None:
        if frame.height:
            period, date = frame["period"], frame["date"]
            first, last = (period[0], date[0]), (period[-1], date[-1])
            previous = self.last[name]
            if previous is not None and not previous < first:
                self.ordered[name] = False
            self.last[name] = last
        table = frame.to_arrow()
        if name not in self.writers:
            path = self.scratch / f"{name}.parquet"
            self.writers[name] = pq.ParquetWriter(  # plain strings: zstd packs them as well
                path, table.schema, compression="zstd", use_dictionary=False
            )
        if frame.height:
            self.writers[name].write_table(table)

    def write(self, name: str, target: Path) -> int:
        """The table as one file at `target`; its rows."""
        self.writers.pop(name).close()
        part = self.scratch / f"{name}.parquet"
        if self.ordered[name]:
            part.replace(target)
        else:
            scanned = pl.scan_parquet(part).sort(SORT_KEYS[name])
            scanned.sink_parquet(target, compression="zstd")
        return pq.read_metadata(target).num_rows

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()


def write_cube(
    run_dir: Path | str, folder: Path, span_sessions: int = SPAN_SESSIONS
) -> dict[str, int]:
    """Every cube table of a run written into `folder` (rows per table), read a span of
    days of about `span_sessions` sessions at a time.

    Memory holds one span's rows and the small tables' parts, not the whole cube: the
    large per-day tables are appended to their files span by span."""
    run_dir = Path(run_dir)
    inputs = run_inputs(run_dir)
    scratch = folder / ".parts"
    scratch.mkdir()
    parts = SpanParts(scratch)
    try:
        kept: list[pl.DataFrame] = []  # experiments_daily: a few rows per arm and day
        users: list[pl.DataFrame] = []
        pending = merged = 0
        rows: dict[str, int] = {}
        spans = session_spans(run_dir, span_sessions, max(span_sessions, SPAN_MOST))
        for span in spans or [NO_SESSIONS]:
            frames, span_users = span_tables(run_dir, span, inputs)
            for name in STREAMED:
                parts.add(name, frames[name])
            kept.append(frames["experiments_daily"])
            del frames
            users.append(span_users)
            pending += span_users.height
            if pending > max(merged, 1_000_000):  # keep the users' sums about their final size
                users = [merge_exposure(users)]
                pending = merged = users[0].height
        small = {
            "experiments": experiment_moments(merge_exposure(users)),
            "experiments_daily": pl.concat(kept).sort(SORT_KEYS["experiments_daily"]),
        }
        del users, kept
        small.update(zip(("feed_hist", "feed_summary"), feed_tables(run_dir), strict=True))
        for name, frame in small.items():
            frame.write_parquet(folder / f"{name}.parquet", compression="zstd")
            rows[name] = frame.height
        for name in STREAMED:
            rows[name] = parts.write(name, folder / f"{name}.parquet")
    finally:
        parts.close()
    shutil.rmtree(scratch)
    return rows


def build_cube(run_dir: Path | str, span_sessions: int = SPAN_SESSIONS) -> dict[str, pl.DataFrame]:
    """Every cube table of a run, in memory (written and read back: the same path as
    `ensure_cube`'s)."""
    with tempfile.TemporaryDirectory(prefix="cube-") as tmp:
        write_cube(run_dir, Path(tmp), span_sessions)
        return {name: pl.read_parquet(Path(tmp) / f"{name}.parquet") for name in TABLES}


def cube_dir(run_dir: Path | str) -> Path:
    return Path(run_dir) / CUBE_DIR


def is_current(run_dir: Path | str) -> bool:
    """True when the run has a complete cube of this code's version."""
    meta = cube_dir(run_dir) / CUBE_META
    try:
        return json.loads(meta.read_text())["version"] == CUBE_VERSION
    except (OSError, ValueError, KeyError):
        return False


def ensure_cube(run_dir: Path | str) -> Path:
    """The run's cube folder, built first if missing or stale.

    Built under a hidden temporary name with `cube.json` written last, then renamed: a reader
    never sees half a cube, and of two concurrent builders one simply wins.
    """
    run_dir = Path(run_dir)
    target = cube_dir(run_dir)
    if is_current(run_dir):
        return target
    started = time.perf_counter()
    tag = f"{os.getpid()}-{threading.get_ident()}"
    tmp = run_dir / f".{CUBE_DIR}.partial-{tag}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        rows = write_cube(run_dir, tmp)
        meta = {
            "version": CUBE_VERSION,
            "build_seconds": round(time.perf_counter() - started, 2),
            "windows": case_windows(read_case(run_dir)).to_dict(),
            "rows": {name: rows[name] for name in TABLES},
        }
        (tmp / CUBE_META).write_text(json.dumps(meta, indent=2) + "\n")
        if target.exists() and not is_current(run_dir):
            stale = run_dir / f".{CUBE_DIR}.old-{tag}"
            target.rename(stale)
            shutil.rmtree(stale, ignore_errors=True)
        try:
            tmp.rename(target)
        except OSError:
            if not is_current(run_dir):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def load_cube(run_dir: Path | str, table: str) -> pl.LazyFrame:
    """A lazy scan of one cube table (call `ensure_cube` first)."""
    if table not in TABLES:
        raise ValueError(f"unknown cube table {table!r}; valid tables: {', '.join(TABLES)}")
    return pl.scan_parquet(cube_dir(run_dir) / f"{table}.parquet")


def cube_meta(run_dir: Path | str) -> dict[str, Any]:
    return json.loads((cube_dir(run_dir) / CUBE_META).read_text())
