"""The ordinary week-over-week change of a metric, so a chart can show what noise looks like.

A change between the before and the after window means something only against how much the
metric moves from one week to the next anyway. That spread is measured here from the same
cube sums the charts use (nothing a candidate cannot see): for every day, the metric over the
7 days ending that day against the 7 days before them, in this year's weeks that end before
the after window and in last year's reference weeks that end before their counterpart of it
(the after window itself, and the same days last year, are what is being judged, so they
stay out). The band is the root-mean-square week-over-week change: the typical size of a
move between two ordinary weeks (about two in three fall inside it, nineteen in twenty inside
twice it). With a few weeks of history it is a rough guide, and says so by its `weeks`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import polars as pl

from readout.metrics import Metric
from runfolder.brief import Windows

WEEK = 7
WIDTH = 1.0  # the band is WIDTH root-mean-square week-over-week changes


@dataclass(frozen=True)
class Band:
    """The before window's level, the after window's, and the ordinary relative change."""

    before: float
    after: float
    width: float  # relative: 0.03 is ±3%
    weeks: int  # week-over-week pairs it was measured on

    @property
    def low(self) -> float:
        return self.before * (1 - self.width)

    @property
    def high(self) -> float:
        return self.before * (1 + self.width)

    def text(self) -> str:
        return f"±{self.width:.1%}"


def _daily(frame: pl.LazyFrame | pl.DataFrame, metric: Metric, by: Sequence[str]) -> pl.DataFrame:
    """Daily numerator and denominator per period and group, on a complete calendar (a group
    with no sessions on a day has zero sums that day, not a missing row)."""
    cols = list(dict.fromkeys(metric.measures))
    sums = (
        frame.lazy()
        .filter(pl.col("period").is_in(["current", "reference"]))
        .group_by(["period", "date", *by])
        .agg(pl.col(cols).sum().cast(pl.Float64))
        .collect()
    )
    if sums.is_empty():
        return sums
    calendar = sums.group_by("period").agg(
        pl.date_ranges(pl.col("date").min(), pl.col("date").max()).first().alias("date")
    )
    grid = calendar.explode("date")
    if by:
        grid = grid.join(sums.select(by).unique(), how="cross")
    return grid.join(sums, on=["period", "date", *by], how="left").with_columns(
        pl.col(cols).fill_null(0.0)
    )


def weekly_changes(
    frame: pl.LazyFrame | pl.DataFrame,
    windows: Windows,
    metric: Metric,
    by: Sequence[str] = (),
) -> pl.DataFrame:
    """Relative week-over-week changes of the metric, one row per (period, end day, group),
    from weeks that end before the after window (this year) or its counterpart (last year)."""
    keys = list(by)
    daily = _daily(frame, metric, keys)
    if daily.is_empty():
        return pl.DataFrame(schema={"period": pl.String, "date": pl.Date, "change": pl.Float64})
    after_days = (windows.after[1] - windows.after[0]).days + 1
    ends = daily.group_by("period").agg(last=pl.col("date").max())
    over = ["period", *keys]
    week = {
        c: pl.col(c).rolling_sum(WEEK).over(over, order_by="date")
        for c in dict.fromkeys(metric.measures)
    }
    rolled = daily.with_columns(**week)
    value = metric.expr("value")
    rolled = rolled.with_columns(value).with_columns(
        previous=pl.col("value").shift(WEEK).over(over, order_by="date")
    )
    return (
        rolled.join(ends, on="period")
        .filter(pl.col("date") <= pl.col("last") - timedelta(days=after_days))
        .filter(pl.col("previous").is_not_null() & (pl.col("previous") != 0))
        .filter(pl.col("value").is_not_null())
        .with_columns(change=pl.col("value") / pl.col("previous") - 1)
        .select("period", "date", *keys, "change")
        .sort(["period", *keys, "date"])
    )


def band_widths(
    frame: pl.LazyFrame | pl.DataFrame,
    windows: Windows,
    metric: Metric,
    by: Sequence[str] = (),
) -> pl.DataFrame:
    """Per group: `band` (the ordinary relative week-over-week change) and `weeks`."""
    changes = weekly_changes(frame, windows, metric, by)
    agg = [
        (WIDTH * (pl.col("change") ** 2).mean().sqrt()).alias("band"),
        pl.len().alias("weeks"),
    ]
    if not by:
        return changes.select(agg)
    return changes.group_by(list(by)).agg(agg).sort(list(by))
