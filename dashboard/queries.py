"""Cached questions the pages ask of the cube: comparisons and series for a metric and a slice.

Arguments are plain hashable values (run path, metric key, tuples of dimensions and filter
values) so Streamlit can cache each answer; answers are small frames. Which cube table
answers a question is decided here: the hourly long table when one dimension is asked for
without filters (fewest rows), the daily wide table otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
import streamlit as st

from dashboard import loaders
from readout import metrics as m
from readout.cube import ITEM_DIMS, SESSION_DIMS
from readout.decompose import mix_rate
from readout.drift import psi_table
from readout.latency import percentiles
from readout.noise import Band, band_widths

Filters = tuple[tuple[str, tuple[str, ...]], ...]
SESSION_DIMENSIONS = SESSION_DIMS
SEGMENT_DIMENSIONS = (*SESSION_DIMS, *ITEM_DIMS)


def metric_for(key: str, items: bool = False) -> m.Metric:
    table = m.ITEM_METRICS if items else m.SESSION_METRICS
    return table[key]


def is_item_dim(dim: str) -> bool:
    return dim in ITEM_DIMS


def _filtered(frame: pl.DataFrame, filters: Filters) -> pl.DataFrame:
    for dim, values in filters:
        if values:
            frame = frame.filter(pl.col(dim).is_in(list(values)))
    return frame


def session_frame(run: str, by: Sequence[str], filters: Filters) -> pl.DataFrame:
    """The session-cube rows to aggregate for `by` under `filters`."""
    active = tuple((d, v) for d, v in filters if v)
    if not active and len(by) <= 1:
        dim = by[0] if by else "all"
        hourly = loaders.cube(run, "sessions_hourly").filter(pl.col("dim") == dim)
        return hourly.rename({"value": dim}) if by else hourly
    return _filtered(loaders.cube(run, "sessions_daily"), active)


@st.cache_data(show_spinner=False, max_entries=512)
def compare(
    run: str,
    metric_key: str,
    by: tuple[str, ...] = (),
    filters: Filters = (),
    items: bool = False,
) -> pl.DataFrame:
    """Before against after of a metric per group (see `analysis.metrics.compare`).

    Item dimensions (category, seller type), or `items=True`, read the item cube and its
    per-impression metrics; session filters do not apply there.
    """
    case = loaders.case(run)
    if items or any(is_item_dim(d) for d in by):
        metric = metric_for(metric_key, items=True)
        return m.compare(loaders.cube(run, "items_hourly"), case.windows, metric, by)
    metric = metric_for(metric_key)
    return m.compare(session_frame(run, by, filters), case.windows, metric, by)


@st.cache_data(show_spinner=False, max_entries=256)
def decomposition(run: str, metric_key: str, dim: str, filters: Filters = ()) -> pl.DataFrame:
    """Mix-versus-rate parts of a ratio metric's change across one dimension's segments."""
    return mix_rate(compare(run, metric_key, (dim,), filters), dim)


@st.cache_data(show_spinner=False, max_entries=256)
def series(
    run: str,
    metric_key: str,
    dim: str | None = None,
    filters: Filters = (),
    hourly: bool = False,
    period: str = "current",
) -> pl.DataFrame:
    """The metric per day (or hour, as a `ts` column) in one period, per segment of `dim`.

    With filters the series is daily: the hourly cube holds one dimension at a time.
    """
    by = (dim,) if dim else ()
    time_cols = ("date", "hour") if hourly else ("date",)
    if dim is not None and is_item_dim(dim):
        metric = metric_for(metric_key, items=True)
        frame = loaders.cube(run, "items_hourly")
    else:
        metric = metric_for(metric_key)
        active = tuple((d, v) for d, v in filters if v)
        if active:  # the hourly cube has one dimension at a time: filters need the daily one
            time_cols = ("date",)
            frame = _filtered(loaders.cube(run, "sessions_daily"), active)
        else:
            frame = loaders.cube(run, "sessions_hourly").filter(pl.col("dim") == (dim or "all"))
            frame = frame.rename({"value": dim}) if dim else frame
    out = m.totals_by_day(frame, metric, by, time_cols, period)
    if "hour" in out.columns:
        out = out.with_columns(
            ts=pl.col("date").cast(pl.Datetime("ms")) + pl.duration(hours=pl.col("hour"))
        )
    return out


def _frame_for(run: str, metric_key: str, by: tuple[str, ...], filters: Filters):
    """The metric and the cube rows that answer it for `by` under `filters`."""
    if any(is_item_dim(d) for d in by):
        return metric_for(metric_key, items=True), loaders.cube(run, "items_hourly")
    return metric_for(metric_key), session_frame(run, by, filters)


@st.cache_data(show_spinner=False, max_entries=256)
def noise_bands(
    run: str, metric_key: str, by: tuple[str, ...] = (), filters: Filters = ()
) -> pl.DataFrame:
    """Per group of `by`: the typical relative week-over-week change (`band`) and the number
    of earlier weekly changes it was measured on (`weeks`); see `analysis.noise`."""
    metric, frame = _frame_for(run, metric_key, by, filters)
    return band_widths(frame, loaders.case(run).windows, metric, by)


def noise_band(run: str, metric_key: str) -> Band | None:
    """The headline band: the whole traffic's window levels (per day for totals) and the
    typical week-over-week change around the before level."""
    widths = noise_bands(run, metric_key)
    if widths.is_empty() or widths["band"][0] is None:
        return None
    row = compare(run, metric_key).row(0, named=True)
    before, after = row["before"], row["after"]
    if before is None or after is None:
        return None
    if metric_for(metric_key).den is None:  # totals are charted per day
        w = loaders.case(run).windows
        before /= (w.before[1] - w.before[0]).days + 1
        after /= (w.after[1] - w.after[0]).days + 1
    return Band(before, after, float(widths["band"][0]), int(widths["weeks"][0]))


@st.cache_data(show_spinner=False, max_entries=128)
def heat(run: str, metric_key: str, dim_x: str, dim_y: str, filters: Filters = ()) -> pl.DataFrame:
    """Before against after per (dim_x, dim_y) cell, from the daily wide cube."""
    case = loaders.case(run)
    frame = _filtered(loaders.cube(run, "sessions_daily"), tuple((d, v) for d, v in filters if v))
    return m.compare(frame, case.windows, metric_for(metric_key), (dim_x, dim_y))


@st.cache_data(show_spinner=False, max_entries=64)
def dim_values(run: str, dim: str) -> list[str]:
    """The values a session dimension takes in this run."""
    hourly = loaders.cube(run, "sessions_hourly").filter(pl.col("dim") == dim)
    return sorted(hourly["value"].unique().to_list(), key=str)


@st.cache_data(show_spinner=False, max_entries=64)
def window_sums(run: str, measures: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """Totals of session measures in each window: {'before': {...}, 'after': {...}}."""
    case = loaders.case(run)
    frame = loaders.cube(run, "sessions_hourly").filter(pl.col("dim") == "all")
    totals = m.window_totals(frame, case.windows, (), measures)
    return {row.pop("side"): row for row in totals.iter_rows(named=True)}


@st.cache_data(show_spinner=False, max_entries=128)
def latency_series(
    run: str, kind: str, dim: str, qs: tuple[float, ...], hourly: bool = False
) -> pl.DataFrame:
    """Latency percentiles per day (per hour, as `ts`, for all traffic) and segment value."""
    if hourly:
        hist = loaders.cube(run, "latency_hourly").filter(
            pl.col("period") == "current", pl.col("kind") == kind
        )
        out = percentiles(hist, ["date", "hour"], qs)
        return out.with_columns(
            ts=pl.col("date").cast(pl.Datetime("ms")) + pl.duration(hours=pl.col("hour"))
        )
    hist = loaders.cube(run, "latency_daily").filter(
        pl.col("period") == "current", pl.col("kind") == kind, pl.col("dim") == dim
    )
    return percentiles(hist, ["date", "value"], qs)


@st.cache_data(show_spinner=False, max_entries=128)
def latency_compare(run: str, kind: str, dim: str, qs: tuple[float, ...]) -> pl.DataFrame:
    """Latency percentiles per segment value in the before and the after window."""
    case = loaders.case(run)
    hist = loaders.cube(run, "latency_daily").filter(pl.col("kind") == kind, pl.col("dim") == dim)
    sided = m.with_side(hist, case.windows).collect()
    return percentiles(sided, ["value", "side"], qs)


@st.cache_data(show_spinner=False, max_entries=32)
def feed_psi(run: str, baseline: int | None) -> pl.DataFrame:
    """PSI of feed attributes by the feed's category, against a snapshot or the previous one."""
    return psi_table(loaders.cube(run, "feed_hist"), baseline)
