"""Overview: KPI tiles with deltas, the funnel before against after, daily and hourly trends."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard import figures, queries, widgets
from dashboard.analysis.metrics import SESSION_METRICS, Metric

ctx = widgets.context()
widgets.header("Overview", "Where the metric stands, and when it moved.", ctx)
w = ctx.case.windows
days = {"before": (w.before[1] - w.before[0]).days + 1, "after": (w.after[1] - w.after[0]).days + 1}

TILES = (
    ("conversion", "Conversion (tracked)"),
    ("conversion_ledger", "Conversion (ledger)"),
    ("sessions", "Sessions / day"),
    ("ctr", "Click-through rate"),
    ("cart_per_click", "Add-to-cart / click"),
    ("orders", "Orders / day (ledger)"),
    ("gmv", "GMV / day (paid)"),
    ("mean_latency", "Mean page latency"),
)
cols = st.columns(4)
for i, (key, label) in enumerate(TILES):
    metric = SESSION_METRICS[key]
    row = queries.compare(ctx.run_key, key).row(0, named=True)
    before, after = row["before"], row["after"]
    if metric.den is None:  # totals: compare per day, as the windows may differ in length
        before, after = before / days["before"], after / days["after"]
    widgets.kpi(cols[i % 4], metric, before, after, label=label)

STEPS = (
    ("sessions", "all sessions"),
    ("clicked", "clicked"),
    ("carted", "added to cart"),
    ("converted", "ordered (tracked)"),
    ("converted_ledger", "ordered (ledger)"),
)
sums = queries.window_sums(ctx.run_key, tuple(col for col, _ in STEPS))
funnel = pl.DataFrame(
    {
        "step": [label for _, label in STEPS[1:]],
        "before": [sums["before"][c] / sums["before"]["sessions"] for c, _ in STEPS[1:]],
        "after": [sums["after"][c] / sums["after"]["sessions"] for c, _ in STEPS[1:]],
    }
).with_columns(rel_change=pl.col("after") / pl.col("before") - 1)
share = Metric("share", "Share of sessions", "x", "y")

left, right = st.columns(2, gap="large")
with left:
    widgets.chart(
        figures.before_after_bars(
            funnel, "step", share, title="Share of sessions reaching each step"
        ),
        key="overview_funnel",
    )
with right:
    st.markdown("##### Step to step")
    step_rows = []
    for a, b, label in (
        ("sessions", "clicked", "session → click"),
        ("clicked", "carted", "click → add-to-cart"),
        ("carted", "converted", "add-to-cart → order"),
    ):
        before = sums["before"][b] / sums["before"][a]
        after = sums["after"][b] / sums["after"][a]
        step_rows.append(
            {"step": label, "before": before, "after": after, "change": after / before - 1}
        )
    step_rows.append(
        {
            "step": "tracked ÷ ledger orderers",
            "before": sums["before"]["converted"] / sums["before"]["converted_ledger"],
            "after": sums["after"]["converted"] / sums["after"]["converted_ledger"],
            "change": None,
        }
    )
    table = pl.DataFrame(step_rows).with_columns(
        change=pl.when(pl.col("change").is_null())
        .then(pl.col("after") / pl.col("before") - 1)
        .otherwise(pl.col("change"))
    )
    st.dataframe(
        table,
        hide_index=True,
        column_config={
            "step": st.column_config.TextColumn("Step"),
            "before": st.column_config.NumberColumn("Before", format="percent"),
            "after": st.column_config.NumberColumn("After", format="percent"),
            "change": st.column_config.NumberColumn("Change", format="percent"),
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
            daily, "date", metric, windows=w, changes=changes, title=f"{metric.label} by day"
        ),
        key="overview_daily",
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
