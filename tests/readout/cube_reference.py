"""The cube as plain polars queries over whole tables: the reference the span-wise,
integer-coded build in readout/cube.py must equal exactly (same rows, same order, float sums
bit for bit). These are the cube's definitions as first written; the build computes the
same sums another way, so a change to either that makes them differ fails the tests."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from readout.cube import (
    ERROR_LABEL,
    FEED_ATTRIBUTES,
    FEED_KEYS,
    FIRST_PAGE_EDGES,
    FIRST_PAGE_LABELS,
    ITEM_DIMS,
    ITEM_MEASURES,
    LATENCY_DIMS,
    LATENCY_KINDS,
    SESSION_DIMS,
    SESSION_MEASURES,
    Span,
    _feed_edges,
    experiment_exposure,
    experiment_moments,
    in_span,
    latency_bucket,
)
from readout.cube_keys import labelled
from readout.tables import CONVERTED, CONVERTED_LEDGER, scan, session_outcomes
from runfolder import brief


def _first_page_label() -> pl.Expr:
    ms = pl.col("first_ms")
    expr = pl.when(pl.col("first_error")).then(pl.lit(ERROR_LABEL))
    for edge, label in zip(FIRST_PAGE_EDGES, FIRST_PAGE_LABELS, strict=False):
        expr = expr.when(ms < edge).then(pl.lit(label))
    return expr.otherwise(pl.lit(FIRST_PAGE_LABELS[-1]))


def session_facts(run_dir: Path | str, span: Span | None = None) -> pl.LazyFrame:
    """One row per session (of `span`, or all): its dimensions and every session measure.

    Dimensions stay categorical here (cheap to group on); `labelled` turns them into the
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


def _sums(measures: tuple[str, ...]) -> list[pl.Expr]:
    return [pl.col(m).sum() for m in measures]


def sessions_hourly(facts: pl.LazyFrame) -> pl.LazyFrame:
    """Long form: the total (`dim = "all"`) and each dimension alone, per hour."""
    keys = ["period", "date", "hour"]
    parts = [
        labelled(facts.group_by(keys).agg(_sums(SESSION_MEASURES))).with_columns(
            dim=pl.lit("all"), value=pl.lit("all")
        )
    ]
    for dim in SESSION_DIMS:
        parts.append(
            labelled(facts.group_by([*keys, dim]).agg(_sums(SESSION_MEASURES)))
            .rename({dim: "value"})
            .with_columns(dim=pl.lit(dim))
        )
    cols = [*keys, "dim", "value", *SESSION_MEASURES]
    return pl.concat([p.select(cols) for p in parts]).sort([*keys, "dim", "value"])


def sessions_daily(facts: pl.LazyFrame) -> pl.LazyFrame:
    """Wide form: every session dimension at once, per day."""
    keys = ["period", "date", *SESSION_DIMS]
    return labelled(facts.group_by(keys).agg(_sums(SESSION_MEASURES))).sort(keys)


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
    return labelled(
        shown.join(tracked, on=keys, how="full", coalesce=True)
        .join(ledger, on=keys, how="full", coalesce=True)
        .with_columns(pl.col(ITEM_MEASURES).fill_null(0))
        .with_columns(pl.col(m).cast(pl.Int64) for m in ITEM_MEASURES if m != "gmv")
        .with_columns(pl.col("gmv").cast(pl.Float64))
        .select(*keys, *ITEM_MEASURES)
        .sort(keys)
    )


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
            labelled(
                keyed.group_by("period", "date", "kind", "bucket").agg(requests=pl.len())
            ).with_columns(dim=pl.lit("all"), value=pl.lit("all"))
        )
        for dim in LATENCY_DIMS:
            daily.append(
                labelled(
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
    hour = labelled(pl.concat(hourly).select(*hour_cols, "requests")).sort(hour_cols)
    return day, hour


def experiment_tables(
    run_dir: Path | str, facts: pl.LazyFrame, windows: brief.Windows
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per arm: user-level moments by window, and daily rates, of the sessions in `facts`."""
    users, daily = pl.collect_all(experiment_exposure(run_dir, facts, windows))
    return experiment_moments(users), daily


def feed_hist(feed: pl.DataFrame, edges: dict[str, list[float]]) -> pl.DataFrame:
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


def whole_table_feed(run: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The feed tables from every snapshot at once."""
    feed = scan(run, "feed_snapshots").with_columns(pl.col("category").cast(pl.String)).collect()
    first = feed.filter(pl.col("snapshot") == feed["snapshot"].min())
    same_item = pl.col("item_id") == pl.col("item_id").shift(1)
    summary = (
        feed.sort("item_id", "snapshot")
        .with_columns(moved=same_item & (pl.col("category") != pl.col("category").shift(1)))
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
    return feed_hist(feed, _feed_edges(first)), summary


def whole_table_cube(run: Path) -> dict[str, pl.DataFrame]:
    """Every cube table from whole-table queries (no span)."""
    facts = session_facts(run).collect().lazy()
    day, hour = latency_tables(run)
    frames = pl.collect_all(
        [sessions_hourly(facts), sessions_daily(facts), items_hourly(run), day, hour]
    )
    exp, exp_daily = experiment_tables(run, facts, brief.case_windows(brief.read_case(run)))
    feed_hist_, feed_summary = whole_table_feed(run)
    names = ("sessions_hourly", "sessions_daily", "items_hourly", "latency_daily")
    return {
        **dict(zip(names, frames, strict=False)),
        "latency_hourly": frames[4],
        "feed_hist": feed_hist_,
        "feed_summary": feed_summary,
        "experiments": exp,
        "experiments_daily": exp_daily,
    }
