"""Overview: KPI tiles with deltas, the funnel before against after, daily and hourly trends."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard import figures, queries, widgets
from readout.metrics import SESSION_METRICS

ctx = widgets.context()
widgets.header("Overview", "Where the metric stands, and when it moved.", ctx)
w = ctx.case.windows
days = {"before": (w.before[1] - w.before[0]).days + 1, "after": (w.after[1] - w.after[0]).days + 1}

# Tiles and the step table name registry metrics only, so one name is one definition.
TILES = (
    "conversion",
    "conversion_ledger",
    "sessions",
    "ctr",
    "click_to_cart",
    "orders",
    "gmv",
    "mean_latency",
)
cols = st.columns(4)
for i, key in enumerate(TILES):
    metric = SESSION_METRICS[key]
    row = queries.compare(ctx.run_key, key).row(0, named=True)
    before, after = row["before"], row["after"]
    label = metric.tile_label
    if metric.den is None:  # totals: compare per day, as the windows may differ in length
        before, after = before / days["before"], after / days["after"]
        label = f"{label} / day"
    widgets.kpi(cols[i % 4], metric, before, after, label=label)

FUNNEL = (  # short step names, two lines at most, so the axis labels stay level
    ("click_sessions", "clicked"),
    ("cart_sessions", "added<br>to cart"),
    ("conversion", "ordered<br>(tracked)"),
    ("conversion_ledger", "ordered<br>(ledger)"),
)
STEPS = ("click_sessions", "click_to_cart", "cart_to_order", "tracking_ratio")
measures = {col for key in (*dict(FUNNEL), *STEPS) for col in SESSION_METRICS[key].measures}
sums = queries.window_sums(ctx.run_key, tuple(sorted(measures)))
funnel = pl.DataFrame(
    {
        "step": [label for _, label in FUNNEL],
        "before": [SESSION_METRICS[k].value(sums["before"]) for k, _ in FUNNEL],
        "after": [SESSION_METRICS[k].value(sums["after"]) for k, _ in FUNNEL],
    }
).with_columns(rel_change=pl.col("after") / pl.col("before") - 1)

left, right = st.columns([2, 3], gap="large")  # the step table needs its four columns
with left:
    widgets.chart(
        figures.before_after_bars(
            funnel,
            "step",
            SESSION_METRICS["conversion"],  # a share of sessions: shown as a rate
            title="Sessions reaching each step",
        ),
        key="overview_funnel",
    )
with right:
    st.markdown("##### Step to step")
    table = pl.DataFrame(
        [
            {
                "step": SESSION_METRICS[k].label,
                "before": SESSION_METRICS[k].value(sums["before"]),
                "after": SESSION_METRICS[k].value(sums["after"]),
            }
            for k in STEPS
        ]
    ).with_columns(change=pl.col("after") / pl.col("before") - 1)
    st.dataframe(
        table,
        hide_index=True,
        column_config={
            "step": st.column_config.TextColumn("Step"),
            "before": st.column_config.NumberColumn("Before", format="percent", width="small"),
            "after": st.column_config.NumberColumn("After", format="percent", width="small"),
            "change": st.column_config.NumberColumn("Change", format="percent", width="small"),
        },
    )
    st.caption("A gap between tracked and ledger conversion points at measurement, not buyers.")

st.subheader("Trends")
controls = st.columns([2, 3], vertical_alignment="bottom")
with controls[0]:
    metric = widgets.metric_picker("Metric", SESSION_METRICS, "overview_metric", "conversion")
with controls[1]:
    changes = widgets.changelog_control(ctx, "overview_markers")
daily_tab, hourly_tab = st.tabs(["Daily", "Hourly"])
with daily_tab:
    daily = queries.series(ctx.run_key, metric.key)
    widgets.chart(
        figures.trend(
            daily,
            "date",
            metric,
            windows=w,
            changes=changes,
            band=queries.noise_band(ctx.run_key, metric.key),
            title=f"{metric.label} by day",
        ),
        key="overview_daily",
    )
    st.caption(
        "Grey band: the before window's level ± the typical week-over-week change, measured on "
        "this year's earlier weeks and last year's reference weeks; the orange line is the "
        "after window's level."
    )
with hourly_tab:
    hourly = queries.series(ctx.run_key, metric.key, hourly=True)
    widgets.chart(
        figures.trend(
            hourly,
            "ts",
            metric,
            windows=w,
            changes=changes,
            hourly=True,
            title=f"{metric.label} by hour",
        ),
        key="overview_hourly",
    )
    st.caption("Hourly values are noisy at night, when few sessions arrive.")
