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

Built a day at a time: the log tables are written one day after another and a session's
rows never leave its day, so each table is read as session-id spans of whole days (row groups
are skipped by their statistics) and the per-span tables are put together. Every key but the
experiments' user-level sums includes the date, so no sum is split across spans and the cube
is the same as one built from whole tables; the user-level sums are integers, merged exactly.
The large per-day tables go to disk span by span and are joined by a streaming copy, so
memory stays at a day's rows, not the run's, nor the cube's.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from readout.drift import decile_edges
from readout.tables import CONVERTED, CONVERTED_LEDGER, scan, session_outcomes
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
NO_SESSIONS: Span = (0, -1)
# Sessions read at once, at least (whole days: a `small`, `default` or `large` day alone, a
# week of `tiny`): larger spans cost memory for no fewer CPU-seconds (measured at default:
# 0.30 GiB alone a day at a time, 0.34 two days at a time, 16.4 CPU-seconds either way).
SPAN_SESSIONS = 20_000

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


def merge_spans(spans: list[Span], sizes: list[int] | None = None, least: int = 0) -> list[Span]:
    """Overlapping spans joined, in order: each result holds its inputs' rows whole.

    With `sizes` (rows per span), neighbours are also joined until a span holds `least`
    rows: fewer, larger reads."""
    sizes = [0] * len(spans) if sizes is None else sizes
    merged: list[Span] = []
    held: list[int] = []
    for (lo, hi), size in sorted(zip(spans, sizes, strict=True)):
        if merged and (lo <= merged[-1][1] or held[-1] < least):
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
            held[-1] += size
        else:
            merged.append((lo, hi))
            held.append(size)
    return merged


def session_spans(run_dir: Path | str, least: int = SPAN_SESSIONS) -> list[Span]:
    """Session-id spans that each hold whole days (per period), in id order, of at least
    `least` sessions where the run has them (1: a day per span).

    Session ids grow with the hour, so a day's sessions are one narrow span; should two
    days' ids ever interleave, their spans merge and the days are read together."""
    days = (
        scan(run_dir, "sessions")
        .group_by("period", "date")
        .agg(lo=pl.col("session_id").min(), hi=pl.col("session_id").max(), n=pl.len())
        .collect(engine="streaming")
    )
    spans = list(zip(days["lo"].to_list(), days["hi"].to_list(), strict=True))
    return merge_spans(spans, days["n"].to_list(), least)


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


# --------------------------------------------------------------------------------------------
# Sessions
# --------------------------------------------------------------------------------------------


def _first_page_label() -> pl.Expr:
    ms = pl.col("first_ms")
    expr = pl.when(pl.col("first_error")).then(pl.lit(ERROR_LABEL))
    for edge, label in zip(FIRST_PAGE_EDGES, FIRST_PAGE_LABELS, strict=False):
        expr = expr.when(ms < edge).then(pl.lit(label))
    return expr.otherwise(pl.lit(FIRST_PAGE_LABELS[-1]))


def session_facts(run_dir: Path | str, span: Span | None = None) -> pl.LazyFrame:
    """One row per session (of `span`, or all): its dimensions and every session measure.

    Dimensions stay categorical here (cheap to group on); `_labelled` turns them into the
    cube's plain strings after aggregation, on far fewer rows.
    """
    total_ms = pl.col("server_ms").cast(pl.Float64) + pl.col("client_ms").cast(pl.Float64)
    first = pl.col("page") == 0
    where = None if span is None else in_span(span)
    requests = (
        _scan(run_dir, "requests", span)
        .group_by("session_id")
        .agg(
            pages=pl.len(),
            errors=(pl.col("status") >= 500).sum(),
            unrendered=(~pl.col("rendered")).sum(),
            latency_ms=total_ms.sum(),
            first_ms=total_ms.filter(first).first(),
            first_error=pl.col("status").filter(first).first() >= 500,
        )
    )
    return (
        session_outcomes(run_dir, where)
        .join(requests, on="session_id", how="left")
        .with_columns(
            pl.col("pages", "errors", "unrendered").fill_null(0).cast(pl.Int64),
            pl.col("latency_ms", "first_ms").fill_null(0.0),
            pl.col("gmv").cast(pl.Float64),
            pl.col("first_error").fill_null(False),
        )
        .with_columns(
            CONVERTED.cast(pl.Int64),
            CONVERTED_LEDGER.cast(pl.Int64),
            latency_bucket=_first_page_label(),
            clicked=(pl.col("clicks") > 0).cast(pl.Int64),
            carted=(pl.col("carts") > 0).cast(pl.Int64),
            sessions=pl.lit(1, pl.Int64),
        )
        .select("session_id", "user_id", "period", "date", "hour", *SESSION_DIMS, *SESSION_MEASURES)
        .sort("session_id")  # float sums (GMV, latency) in one order, whatever the join's
    )


def _scan(run_dir: Path | str, table: str, span: Span | None) -> pl.LazyFrame:
    """A log table, restricted to a span's sessions (row groups outside it are not read)."""
    frame = scan(run_dir, table)
    return frame if span is None else frame.filter(in_span(span))


def _labelled(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Dimension columns as the cube's strings: categoricals to text, city tiers named."""
    schema = frame.collect_schema()
    exprs = []
    for name, dtype in schema.items():
        if name == "city_tier" and dtype.is_integer():
            exprs.append(pl.format("tier {}", pl.col(name)).alias(name))
        elif isinstance(dtype, pl.Categorical | pl.Enum):
            exprs.append(pl.col(name).cast(pl.String))
    return frame.with_columns(exprs) if exprs else frame


def _sums(measures: tuple[str, ...]) -> list[pl.Expr]:
    return [pl.col(m).sum() for m in measures]


def sessions_hourly(facts: pl.LazyFrame) -> pl.LazyFrame:
    """Long form: the total (`dim = "all"`) and each dimension alone, per hour."""
    keys = ["period", "date", "hour"]
    parts = [
        _labelled(facts.group_by(keys).agg(_sums(SESSION_MEASURES))).with_columns(
            dim=pl.lit("all"), value=pl.lit("all")
        )
    ]
    for dim in SESSION_DIMS:
        parts.append(
            _labelled(facts.group_by([*keys, dim]).agg(_sums(SESSION_MEASURES)))
            .rename({dim: "value"})
            .with_columns(dim=pl.lit(dim))
        )
    cols = [*keys, "dim", "value", *SESSION_MEASURES]
    return pl.concat([p.select(cols) for p in parts]).sort([*keys, "dim", "value"])


def sessions_daily(facts: pl.LazyFrame) -> pl.LazyFrame:
    """Wide form: every session dimension at once, per day."""
    keys = ["period", "date", *SESSION_DIMS]
    return _labelled(facts.group_by(keys).agg(_sums(SESSION_MEASURES))).sort(keys)


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


def items_hourly(
    run_dir: Path | str, span: Span | None = None, items: pl.LazyFrame | None = None
) -> pl.LazyFrame:
    """Item-level funnel by the catalogue category and shop type of the item shown."""
    items = item_dims(run_dir) if items is None else items
    when = _scan(run_dir, "sessions", span).select("session_id", "period", "date", "hour")
    keys = ["period", "date", "hour", *ITEM_DIMS]

    def located(table: str, cols: list[str]) -> pl.LazyFrame:
        return (
            _scan(run_dir, table, span)
            .select("session_id", "item_id", *cols)
            .join(items, on="item_id", maintain_order="left")  # the GMV summed in file order
            .join(when, on="session_id", maintain_order="left")
        )

    shown = located("impressions", []).group_by(keys).agg(impressions=pl.len())
    event = pl.col("event").cast(pl.String)
    tracked = (
        located("events", ["event"])
        .group_by(keys)
        .agg(
            clicks=(event == "click").sum(),
            carts=(event == "add_to_cart").sum(),
            tracked_orders=(event == "order").sum(),
            converted=pl.col("session_id").filter(event == "order").n_unique(),
        )
    )
    paid = pl.col("status").cast(pl.String) == "paid"
    ledger = (
        located("orders", ["amount", "status"])
        .group_by(keys)
        .agg(
            ledger_orders=pl.len(),
            converted_ledger=pl.col("session_id").n_unique(),
            gmv=pl.col("amount").cast(pl.Float64).filter(paid).sum(),
        )
    )
    return _labelled(
        shown.join(tracked, on=keys, how="full", coalesce=True)
        .join(ledger, on=keys, how="full", coalesce=True)
        .with_columns(pl.col(ITEM_MEASURES).fill_null(0))
        .with_columns(pl.col(m).cast(pl.Int64) for m in ITEM_MEASURES if m != "gmv")
        .with_columns(pl.col("gmv").cast(pl.Float64))
        .select(*keys, *ITEM_MEASURES)
        .sort(keys)
    )


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


def latency_tables(
    run_dir: Path | str, span: Span | None = None
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """(daily by dimension, hourly in total) request counts per latency bucket and kind.

    Requests (of `span`) are joined to their session's dimensions once and held in memory;
    the many small group-bys then run in parallel over it.
    """
    dims = _scan(run_dir, "sessions", span).select(
        "session_id", "period", "date", "hour", *LATENCY_DIMS[:-1]
    )
    server = pl.col("server_ms").cast(pl.Float64)
    client = pl.col("client_ms").cast(pl.Float64)
    req = (
        _scan(run_dir, "requests", span)
        .select(
            "session_id",
            "service_version",
            total=latency_bucket(server + client),
            server=latency_bucket(server),
            client=latency_bucket(client),
        )
        .join(dims, on="session_id")
        .collect()
        .lazy()
    )
    daily, hourly = [], []
    for kind in LATENCY_KINDS:
        keyed = req.rename({kind: "bucket"}).with_columns(kind=pl.lit(kind))
        daily.append(
            _labelled(
                keyed.group_by("period", "date", "kind", "bucket").agg(requests=pl.len())
            ).with_columns(dim=pl.lit("all"), value=pl.lit("all"))
        )
        for dim in LATENCY_DIMS:
            daily.append(
                _labelled(
                    keyed.group_by("period", "date", "kind", dim, "bucket").agg(requests=pl.len())
                )
                .rename({dim: "value"})
                .with_columns(dim=pl.lit(dim))
            )
        hourly.append(
            keyed.group_by("period", "date", "hour", "kind", "bucket").agg(requests=pl.len())
        )
    cols = ["period", "date", "kind", "dim", "value", "bucket", "requests"]
    day = pl.concat([d.select(cols) for d in daily]).sort(cols[:-1])
    hour_cols = ["period", "date", "hour", "kind", "bucket"]
    hour = _labelled(pl.concat(hourly).select(*hour_cols, "requests")).sort(hour_cols)
    return day, hour


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


def _feed_hist(feed: pl.DataFrame, edges: dict[str, list[float]]) -> pl.DataFrame:
    parts = []
    for attr in FEED_ATTRIBUTES:
        bin_expr = pl.sum_horizontal([(pl.col(attr) > e) for e in edges[attr]] or [pl.lit(0)])
        parts.append(
            feed.lazy()
            .group_by(*FEED_KEYS, bin=bin_expr.cast(pl.Int16))
            .agg(items=pl.len())
            .with_columns(attribute=pl.lit(attr))
        )
    parts.append(
        feed.lazy()
        .group_by(*FEED_KEYS, bin=pl.col("in_stock").cast(pl.Int16))
        .agg(items=pl.len())
        .with_columns(attribute=pl.lit("in_stock"))
    )
    hist_cols = [*FEED_KEYS, "attribute", "bin", "items"]
    return pl.concat([p.select(hist_cols) for p in parts]).sort(hist_cols[:-1]).collect()


def _feed_summary(feed: pl.DataFrame, last: pl.DataFrame) -> pl.DataFrame:
    """Per-snapshot summaries; an item moved in when its category differs from the one it
    had in its previous snapshot (in this span, or `last`: each item's latest one before)."""
    same_item = pl.col("item_id") == pl.col("item_id").shift(1)
    before = pl.when(same_item).then(pl.col("category").shift(1)).otherwise(pl.col("last"))
    seen = same_item | pl.col("seen").fill_null(False)
    return (
        feed.join(last, on="item_id", how="left")
        .sort("item_id", "snapshot")
        .with_columns(moved=seen & (pl.col("category") != before))
        .group_by(FEED_KEYS)
        .agg(
            items=pl.len(),
            moved_in=pl.col("moved").sum(),
            in_stock=pl.col("in_stock").mean(),
            median_price=pl.col("price").median(),
            seller_rating=pl.col("seller_rating").mean(),
            image_score=pl.col("image_score").mean(),
            title_score=pl.col("title_score").mean(),
        )
        .sort(FEED_KEYS)
    )


def feed_tables(run_dir: Path | str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(attribute histograms, per-snapshot summaries) by the feed's own category.

    Read a row group (a day's snapshots) at a time, carrying each item's latest category."""
    feed_scan = scan(run_dir, "feed_snapshots").with_columns(pl.col("category").cast(pl.String))
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
    last = pl.DataFrame(schema={"item_id": pl.Int32, "last": pl.String, "seen": pl.Boolean})
    hists, summaries = [], []
    for span in spans:
        feed = feed_scan.filter(in_span(span, "snapshot")).collect()
        hists.append(_feed_hist(feed, edges))
        summaries.append(_feed_summary(feed, last))
        latest = feed.sort("item_id", "snapshot").select(
            "item_id", last="category", seen=pl.lit(True)
        )
        last = pl.concat([last, latest]).unique("item_id", keep="last", maintain_order=True)
    return pl.concat(hists), pl.concat(summaries)


# --------------------------------------------------------------------------------------------
# Experiments
# --------------------------------------------------------------------------------------------

EXPOSURE_KEYS = ["experiment_id", "arm", "window", "user_id"]


def experiment_exposure(
    run_dir: Path | str, facts: pl.LazyFrame, windows: Windows
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """(user-level sums by window, daily sums) per arm, of the sessions in `facts`.

    Only sessions while the experiment runs count. Windows: `running` (the whole time it ran
    within the case), and its intersection with the brief's `before` and `after` windows.
    The user-level sums of several spans add up (`merge_exposure`); the daily ones concatenate.
    """
    exps = scan(run_dir, "experiments").select("experiment_id", "start", "end")
    assigned = scan(run_dir, "assignments").select("experiment_id", "user_id", "arm")
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


def experiment_tables(
    run_dir: Path | str, facts: pl.LazyFrame, windows: Windows
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per arm: user-level moments by window, and daily rates, of the sessions in `facts`."""
    users, daily = pl.collect_all(experiment_exposure(run_dir, facts, windows))
    return experiment_moments(users), daily


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


def span_tables(
    run_dir: Path, span: Span, windows: Windows, items: pl.LazyFrame
) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    """The cube's rows of one span's sessions, and its experiment users' sums."""
    facts = session_facts(run_dir, span).collect().lazy()
    latency_day, latency_hour = latency_tables(run_dir, span)
    users, exp_daily = experiment_exposure(run_dir, facts, windows)
    frames = pl.collect_all(
        [
            sessions_hourly(facts),
            sessions_daily(facts),
            items_hourly(run_dir, span, items),
            latency_day,
            latency_hour,
            exp_daily,
            users,
        ]
    )
    return dict(zip(SPAN_TABLES, frames[:-1], strict=True)), frames[-1]


# Written span by span: these tables' keys start with the period and the day, which no span
# splits, so their parts follow one another in order (checked) and are never held together.
STREAMED = tuple(name for name in SPAN_TABLES if SORT_KEYS[name][:2] == ["period", "date"])


class SpanParts:
    """The streamed tables' parts, each written to its own file as its span is done, then
    joined into one file per table by a streaming copy (a sort only if spans came out of
    order, which session ids ordered by period and hour never do)."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.files: dict[str, list[Path]] = {name: [] for name in STREAMED}
        self.last: dict[str, tuple[Any, ...] | None] = dict.fromkeys(STREAMED)
        self.ordered = dict.fromkeys(STREAMED, True)

    def add(self, name: str, frame: pl.DataFrame) -> None:
        if frame.height:
            days = frame.select("period", "date")
            first, last = days.row(0), days.row(-1)
            previous = self.last[name]
            if previous is not None and not previous < first:
                self.ordered[name] = False
            self.last[name] = last
        path = self.scratch / f"{name}.{len(self.files[name]):05d}.parquet"
        frame.write_parquet(path)
        self.files[name].append(path)

    def write(self, name: str, target: Path) -> int:
        """The table's parts as one file at `target`; its rows."""
        joined = pl.scan_parquet(self.files.pop(name))
        if not self.ordered[name]:
            joined = joined.sort(SORT_KEYS[name])
        joined.sink_parquet(target, compression="zstd")
        return pq.read_metadata(target).num_rows


def write_cube(
    run_dir: Path | str, folder: Path, span_sessions: int = SPAN_SESSIONS
) -> dict[str, int]:
    """Every cube table of a run written into `folder` (rows per table), read a span of
    days of about `span_sessions` sessions at a time.

    Memory holds one span's rows and the small tables' parts, not the whole cube: the
    large per-day tables go to disk span by span."""
    run_dir = Path(run_dir)
    windows = case_windows(read_case(run_dir))
    items = item_dims(run_dir).collect().lazy()
    scratch = folder / ".parts"
    scratch.mkdir()
    parts = SpanParts(scratch)
    kept: list[pl.DataFrame] = []  # experiments_daily: a few rows per arm and day
    users: list[pl.DataFrame] = []
    pending = merged = 0
    rows: dict[str, int] = {}
    for span in session_spans(run_dir, span_sessions) or [NO_SESSIONS]:
        frames, span_users = span_tables(run_dir, span, windows, items)
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
