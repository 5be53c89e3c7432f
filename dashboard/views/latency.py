"""Latency: percentiles over time by segment, and conversion by first-page latency."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard import figures, queries, widgets
from readout.cube import ERROR_LABEL, FIRST_PAGE_LABELS, LATENCY_DIMS
from readout.latency import label
from readout.metrics import SESSION_METRICS, Metric

ctx = widgets.context()
widgets.header(
    "Latency",
    "Feed request latency by segment, and what slow pages do to conversion.",
    ctx,
)
run = ctx.run_key
w = ctx.case.windows
QS = (0.5, 0.9, 0.99)
KINDS = {"total": "Total (server + client)", "server": "Server", "client": "Client"}
ms = Metric("latency", "Latency", "x", kind="ms", higher_is_better=False)

c = st.columns([3, 2, 2])
with c[0]:
    kind = st.segmented_control(
        "Latency",
        list(KINDS),
        default="total",
        required=True,
        format_func=KINDS.get,
        key="latency_kind",
        persist_state="session",
    )
with c[1]:
    dim = widgets.dim_picker("By", ("all", *LATENCY_DIMS), "latency_dim", "all")
with c[2]:
    q = st.segmented_control(
        "Percentile",
        list(QS),
        default=0.9,
        required=True,
        format_func=label,
        key="latency_q",
        persist_state="session",
        disabled=dim == "all",
    )
changes = widgets.changelog_control(ctx, "latency_markers")

if dim == "all":
    hourly = queries.latency_series(run, kind, "all", QS, hourly=True)
    long = hourly.unpivot(index=["ts"], on=[label(x) for x in QS], variable_name="percentile")
    widgets.chart(
        figures.trend(
            long,
            "ts",
            ms,
            color="percentile",
            order=[label(x) for x in QS],
            windows=w,
            changes=changes,
            hourly=True,
            title=f"{KINDS[kind]} latency percentiles by hour",
        ),
        key="latency_hourly",
    )
else:
    daily = queries.latency_series(run, kind, dim, QS)
    order = widgets.ordered_values(dim, daily["value"].unique().to_list())
    widgets.chart(
        figures.trend(
            daily,
            "date",
            ms,
            y=label(q),
            color="value",
            order=order,
            windows=w,
            changes=changes,
            title=f"{KINDS[kind]} latency {label(q)} by day and {widgets.dim_label(dim).lower()}",
        ),
        key="latency_daily",
    )

st.markdown(f"##### {widgets.dim_label(dim)}: before against after")
cmp = queries.latency_compare(run, kind, dim, QS)
wide = cmp.pivot(on="side", index="value", values=[label(x) for x in QS])
for x in QS:
    lab = label(x)
    if f"{lab}_before" in wide.columns and f"{lab}_after" in wide.columns:
        wide = wide.with_columns(
            (pl.col(f"{lab}_after") / pl.col(f"{lab}_before") - 1).alias(f"{lab}_change")
        )
cols = ["value"] + [
    f"{label(x)}_{s}"
    for x in QS
    for s in ("before", "after", "change")
    if f"{label(x)}_{s}" in wide.columns
]
wide = wide.select(cols).with_columns(pl.col("value").cast(pl.String))
wide = wide.sort(
    pl.col("value").replace_strict(
        {v: i for i, v in enumerate(widgets.ordered_values(dim, wide["value"].to_list()))}
    )
)
config = {"value": st.column_config.TextColumn(widgets.dim_label(dim))}
for col in cols[1:]:
    lab, side = col.rsplit("_", 1)
    config[col] = st.column_config.NumberColumn(
        f"{lab} {side}", format="percent" if side == "change" else "%.0f ms"
    )
st.dataframe(wide, hide_index=True, column_config=config)

left, right = st.columns([3, 2], gap="large")
with left:
    st.markdown("##### Conversion by first-page latency")
    conversion = SESSION_METRICS["conversion"]
    by_bucket = queries.compare(run, "conversion", ("latency_bucket",))
    order = widgets.ordered_values("latency_bucket", by_bucket["latency_bucket"].to_list())
    widgets.chart(
        figures.before_after_bars(by_bucket, "latency_bucket", conversion, order=order, height=300),
        key="latency_buckets",
    )
    shares = by_bucket.with_columns(
        share_before=pl.col("den_before") / pl.col("den_before").sum(),
        share_after=pl.col("den_after") / pl.col("den_after").sum(),
    )
with right:
    st.markdown("##### Sessions by first-page latency")
    st.dataframe(
        shares.select("latency_bucket", "share_before", "share_after").sort(
            pl.col("latency_bucket").replace_strict({v: i for i, v in enumerate(order)})
        ),
        hide_index=True,
        column_config={
            "latency_bucket": st.column_config.TextColumn("First page"),
            "share_before": st.column_config.NumberColumn("Share before", format="percent"),
            "share_after": st.column_config.NumberColumn("Share after", format="percent"),
        },
    )
    slow = shares.filter(pl.col("latency_bucket").is_in([*FIRST_PAGE_LABELS[-2:], ERROR_LABEL]))
    st.caption(
        f"Sessions whose first page took ≥ 0.9 s or failed: "
        f"{slow['share_before'].sum():.1%} before, {slow['share_after'].sum():.1%} after."
    )

st.markdown("##### Errors and unrendered pages")
e = st.columns(2)
for col, key in zip(e, ("error_rate", "unrendered_rate"), strict=True):
    metric = SESSION_METRICS[key]
    widgets.chart(
        where=col,
        fig=figures.trend(
            queries.series(run, key),
            "date",
            metric,
            windows=w,
            changes=changes,
            title=f"{metric.label} by day",
            height=260,
        ),
        key=f"latency_{key}",
    )
