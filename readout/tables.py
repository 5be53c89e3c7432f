"""Metric definitions over a run's tables: pure polars functions, no caching, no I/O beyond
lazy scans of the run folder.

Feed session conversion (observed) = sessions with at least one tracked `order` event /
sessions. Its business twin counts sessions with an order in the server-side ledger.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from readout.metrics import SESSION_METRICS as METRIC
from runfolder.layout import TABLES_DIR

# A session converted when it has at least one tracked `order` event (observed), or an order
# in the server-side ledger (business). The one definition of the conversion flags: the cube,
# the solver and `describe` use these; the rates are readout.metrics' `conversion` entries.
CONVERTED = (pl.col("tracked_orders") > 0).alias("converted")
CONVERTED_LEDGER = (pl.col("ledger_orders") > 0).alias("converted_ledger")


def scan(run_dir: Path | str, table: str) -> pl.LazyFrame:
    return pl.scan_parquet(Path(run_dir) / TABLES_DIR / f"{table}.parquet")


# A session's outcomes from its funnel events and its ledger orders (session_outcomes; the
# solver builds the same columns for the sessions it compares, grading/solver_tables.py).
EVENT_COUNTS = {
    "clicks": (pl.col("event") == "click").sum(),
    "carts": (pl.col("event") == "add_to_cart").sum(),
    "tracked_orders": (pl.col("event") == "order").sum(),
}
ORDER_SUMS = {
    "ledger_orders": pl.len(),
    "gmv": pl.col("amount").filter(pl.col("status") == "paid").sum(),
}
OUTCOME_COUNTS = ("impressions", "clicks", "carts", "tracked_orders", "ledger_orders")


def session_outcomes(run_dir: Path | str, where: pl.Expr | None = None) -> pl.LazyFrame:
    """One row per session with its dimensions and funnel flags (observed and ledger).

    `where` (a predicate on `session_id`) restricts every table read to those sessions, so
    the cube can build a day at a time."""

    def read(table: str) -> pl.LazyFrame:
        frame = scan(run_dir, table)
        return frame if where is None else frame.filter(where)

    events = read("events").group_by("session_id").agg(**EVENT_COUNTS)
    orders = read("orders").group_by("session_id").agg(**ORDER_SUMS)
    impressions = read("impressions").group_by("session_id").agg(impressions=pl.len())
    return (
        read("sessions")
        .join(impressions, on="session_id", how="left")
        .join(events, on="session_id", how="left")
        .join(orders, on="session_id", how="left")
        .with_columns(
            pl.col(*OUTCOME_COUNTS).fill_null(0).cast(pl.Int64),
            pl.col("gmv").fill_null(0.0),
        )
    )


def funnel_summary(sessions: pl.LazyFrame, by: list[str]) -> pl.LazyFrame:
    """Sessions, impressions, CTR, conversion (observed and ledger), orders and GMV by group."""
    return (
        sessions.group_by(by)
        .agg(
            sessions=pl.len(),
            impressions=pl.col("impressions").sum(),
            clicks=pl.col("clicks").sum(),
            converted=CONVERTED.sum(),
            converted_ledger=CONVERTED_LEDGER.sum(),
            orders=pl.col("ledger_orders").sum(),
            gmv=pl.col("gmv").sum(),
        )
        .with_columns(
            METRIC["conversion"].expr(),
            METRIC["conversion_ledger"].expr(),
            ctr=pl.col("clicks") / pl.col("impressions"),
        )
        .sort(by)
    )
