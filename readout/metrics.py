"""The metrics the dashboard offers, as ratios of additive cube measures, and window sums.

Every metric is `numerator / denominator` of cube columns (or a plain sum), so any slice of
the cube gives its value by summing first and dividing last: never averaging averages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from runfolder.brief import Windows, window_label

SIDES = ("before", "after")


@dataclass(frozen=True)
class Metric:
    """A metric: numerator over denominator (None: a plain total), and how to show it."""

    key: str
    label: str
    num: str
    den: str | None = None
    kind: str = "rate"  # rate (shown in %), count, money, ratio, ms
    scale: float = 1.0
    higher_is_better: bool = True
    help: str = ""
    source: str = "tracked"  # the numerator: tracked (client events), ledger or server (logs)
    cubes: tuple[str, ...] = ("sessions",)  # the cube tables that hold its measures
    short: str = ""  # a shorter name for tiles; the same definition

    @property
    def tile_label(self) -> str:
        return self.short or self.label

    @property
    def is_rate(self) -> bool:
        return self.kind == "rate"

    @property
    def measures(self) -> tuple[str, ...]:
        return (self.num,) if self.den is None else (self.num, self.den)

    def expr(self, alias: str | None = None) -> pl.Expr:
        """The metric over already-summed measure columns."""
        value = pl.col(self.num).cast(pl.Float64)
        if self.den is not None:
            den = pl.col(self.den).cast(pl.Float64)
            value = pl.when(den > 0).then(value / den).otherwise(None)
        return (value * self.scale).alias(alias or self.key)

    def value(self, sums: Mapping[str, float]) -> float | None:
        """The metric from summed measures (a window's totals)."""
        num = float(sums[self.num])
        if self.den is None:
            return num * self.scale
        den = float(sums[self.den])
        return num / den * self.scale if den > 0 else None

    def format(self, value: float | None) -> str:
        return format_value(value, self.kind)

    def delta(self, before: float | None, after: float | None) -> str:
        """The change as people say it: points for rates, percent for everything else."""
        if before is None or after is None:
            return "–"
        rel = relative(before, after)
        text = "±0.0%" if abs(rel) < 0.0005 else f"{rel:+.1%}"
        if self.is_rate:
            return f"{(after - before) * 100:+.2f} pp ({text})"
        return text


def relative(before: float | None, after: float | None) -> float:
    if not before or after is None:
        return float("nan")
    return after / before - 1


def format_value(value: float | None, kind: str) -> str:
    if value is None or value != value:
        return "–"
    if kind == "rate":
        return f"{value:.2%}"
    if kind == "money":
        if abs(value) >= 1e6:
            return f"¥{value / 1e6:,.2f}M"
        if abs(value) >= 1e4:
            return f"¥{value / 1e3:,.1f}k"
        return f"¥{value:,.0f}" if abs(value) >= 100 else f"¥{value:,.2f}"
    if kind == "ms":
        return f"{value:,.0f} ms"
    if kind == "count":
        return f"{value:,.0f}"
    return f"{value:,.2f}"


# Every metric the dashboard shows, each defined once: a label names one definition, and a
# view that shows a metric takes its label and its value from here. `cubes` says which cube
# can compute it (the item cube has no per-session flags such as `clicked` or `carted`).
METRICS: tuple[Metric, ...] = (
    Metric(
        "conversion",
        "Feed session conversion (tracked)",
        "converted",
        "sessions",
        help="Sessions with at least one tracked order event / sessions",
        short="Conversion (tracked)",
    ),
    Metric(
        "conversion_ledger",
        "Feed session conversion (ledger)",
        "converted_ledger",
        "sessions",
        source="ledger",
        help="Sessions with an order in the server-side ledger / sessions",
        short="Conversion (ledger)",
    ),
    Metric("sessions", "Sessions", "sessions", kind="count", source="server"),
    Metric(
        "ctr",
        "Click-through rate",
        "clicks",
        "impressions",
        help="Tracked clicks / impressions",
        cubes=("sessions", "items"),
    ),
    Metric(
        "click_sessions",
        "Session → click",
        "clicked",
        "sessions",
        help="Sessions with at least one tracked click / sessions",
    ),
    Metric(
        "cart_sessions",
        "Session → add-to-cart",
        "carted",
        "sessions",
        help="Sessions with at least one tracked add-to-cart / sessions",
    ),
    Metric(
        "click_to_cart",
        "Click → add-to-cart",
        "carted",
        "clicked",
        help="Sessions with a tracked add-to-cart / sessions with a tracked click (counts "
        "of sessions: one whose click event was lost still counts as adding to cart)",
    ),
    Metric(
        "cart_to_order",
        "Add-to-cart → order (tracked)",
        "converted",
        "carted",
        help="Sessions with a tracked order / sessions with a tracked add-to-cart (counts "
        "of sessions, as every funnel step)",
    ),
    Metric(
        "cart_per_click",
        "Add-to-cart events per click event",
        "carts",
        "clicks",
        help="Tracked add-to-cart events / tracked click events (a session can add many)",
        cubes=("sessions", "items"),
    ),
    Metric(
        "order_per_cart",
        "Order events per add-to-cart event",
        "tracked_orders",
        "carts",
        help="Tracked order events / tracked add-to-cart events",
        cubes=("sessions", "items"),
    ),
    Metric(
        "impressions_per_session",
        "Impressions per session",
        "impressions",
        "sessions",
        kind="ratio",
        source="server",
    ),
    Metric(
        "pages_per_session",
        "Feed pages per session",
        "pages",
        "sessions",
        kind="ratio",
        source="server",
    ),
    Metric("orders", "Orders (ledger)", "ledger_orders", kind="count", source="ledger"),
    Metric("gmv", "GMV (paid)", "gmv", kind="money", source="ledger"),
    Metric("gmv_per_session", "GMV per session", "gmv", "sessions", kind="money", source="ledger"),
    Metric(
        "tracking_ratio",
        "Tracked / ledger converting sessions",
        "converted",
        "converted_ledger",
        kind="ratio",
        help="Below 1: orders in the ledger that tracking did not see",
    ),
    Metric(
        "error_rate",
        "Feed request error rate",
        "errors",
        "pages",
        higher_is_better=False,
        source="server",
    ),
    Metric(
        "unrendered_rate",
        "Pages not rendered",
        "unrendered",
        "pages",
        higher_is_better=False,
        source="server",
    ),
    Metric(
        "mean_latency",
        "Mean page latency",
        "latency_ms",
        "pages",
        kind="ms",
        higher_is_better=False,
        source="server",
    ),
    Metric(
        "orders_per_1k",
        "Tracked orders per 1k impressions",
        "tracked_orders",
        "impressions",
        kind="ratio",
        scale=1000,
        cubes=("items",),
    ),
    Metric(
        "ledger_orders_per_1k",
        "Ledger orders per 1k impressions",
        "ledger_orders",
        "impressions",
        kind="ratio",
        scale=1000,
        source="ledger",
        cubes=("items",),
    ),
    Metric("impressions", "Impressions", "impressions", kind="count", source="server",
           cubes=("items",)),
    Metric(
        "converted",
        "Sessions ordering in the segment (tracked)",
        "converted",
        kind="count",
        cubes=("items",),
    ),
    Metric(
        "gmv_per_1k",
        "GMV per 1k impressions",
        "gmv",
        "impressions",
        kind="money",
        scale=1000,
        source="ledger",
        cubes=("items",),
    ),
)  # fmt: skip

SESSION_METRICS: dict[str, Metric] = {m.key: m for m in METRICS if "sessions" in m.cubes}
# The item cube's metrics, in the order its picker offers them (per-impression outcomes first).
ITEM_METRICS: dict[str, Metric] = {
    m.key: m
    for m in sorted((m for m in METRICS if "items" in m.cubes), key=lambda m: m.cubes != ("items",))
}


def with_side(frame: pl.LazyFrame | pl.DataFrame, windows: Windows) -> pl.LazyFrame:
    """Current-period rows of the before and after windows, labelled by `side`."""
    return (
        frame.lazy()
        .filter(pl.col("period") == "current")
        .with_columns(side=window_label(windows))
        .filter(pl.col("side").is_not_null())
    )


def window_totals(
    frame: pl.LazyFrame | pl.DataFrame,
    windows: Windows,
    by: Sequence[str],
    measures: Sequence[str],
) -> pl.DataFrame:
    """Sums of `measures` per `by` group and side (before / after)."""
    return (
        with_side(frame, windows)
        .group_by(["side", *by])
        .agg(pl.col(list(measures)).sum())
        .collect()
    )


def compare(
    frame: pl.LazyFrame | pl.DataFrame,
    windows: Windows,
    metric: Metric,
    by: Sequence[str] = (),
) -> pl.DataFrame:
    """Per group: the metric's numerator, denominator and value before and after, and change.

    Columns: by..., num_before, num_after, den_before, den_after, before, after, abs_change,
    rel_change.
    """
    totals = window_totals(frame, windows, by, metric.measures)
    keys = list(by)
    wide = None
    for side in SIDES:
        part = totals.filter(pl.col("side") == side).drop("side")
        part = part.rename({metric.num: f"num_{side}"})
        if metric.den is None:
            part = part.with_columns(pl.lit(1.0).alias(f"den_{side}"))
        else:
            part = part.rename({metric.den: f"den_{side}"})
        if not keys:
            part = part.with_columns(_k=pl.lit(0))
        wide = (
            part if wide is None else wide.join(part, on=keys or ["_k"], how="full", coalesce=True)
        )
    assert wide is not None
    num_den = [f"{p}_{s}" for p in ("num", "den") for s in SIDES]
    wide = wide.with_columns(pl.col(num_den).fill_null(0).cast(pl.Float64))
    value = {}
    for side in SIDES:
        num, den = pl.col(f"num_{side}"), pl.col(f"den_{side}")
        if metric.den is None:
            value[side] = num * metric.scale
        else:
            value[side] = pl.when(den > 0).then(num / den * metric.scale).otherwise(None)
    out = wide.with_columns(before=value["before"], after=value["after"]).with_columns(
        abs_change=pl.col("after") - pl.col("before"),
        rel_change=pl.when(pl.col("before") != 0)
        .then(pl.col("after") / pl.col("before") - 1)
        .otherwise(None),
    )
    out = out.drop("_k") if "_k" in out.columns else out
    return out.sort(keys) if keys else out


def totals_by_day(
    frame: pl.LazyFrame | pl.DataFrame,
    metric: Metric,
    by: Sequence[str] = (),
    time: Sequence[str] = ("date",),
    period: str = "current",
) -> pl.DataFrame:
    """The metric per day (or per date and hour), per group, in one period."""
    keys = [*time, *by]
    return (
        frame.lazy()
        .filter(pl.col("period") == period)
        .group_by(keys)
        .agg(pl.col(list(dict.fromkeys(metric.measures))).sum())
        .with_columns(metric.expr("value"))
        .sort(keys)
        .collect()
    )
