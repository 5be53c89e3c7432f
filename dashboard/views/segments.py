"""Segments: any metric by any dimension before against after, mix versus rate, and a heatmap."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard import figures, queries, widgets
from readout.decompose import summary
from readout.metrics import ITEM_METRICS, SESSION_METRICS

ctx = widgets.context()
widgets.header(
    "Segments",
    "Split the change by a dimension: is it everywhere, or concentrated somewhere?",
    ctx,
)
run = ctx.run_key

top = st.columns([2, 2, 3])
with top[1]:
    dim = widgets.dim_picker("Dimension", queries.SEGMENT_DIMENSIONS, "segments_dim", "platform")
item_dim = queries.is_item_dim(dim)
with top[0]:
    metrics = ITEM_METRICS if item_dim else SESSION_METRICS
    default = "orders_per_1k" if item_dim else "conversion"
    metric = widgets.metric_picker(
        "Metric", metrics, f"segments_metric_{'items' if item_dim else 'sessions'}", default
    )
with top[2]:
    filters: list[tuple[str, tuple[str, ...]]] = []
    with st.expander("Filters", icon=":material/filter_alt:"):
        if item_dim:
            st.caption("Item dimensions describe the items shown; session filters do not apply.")
        for fdim in queries.SESSION_DIMENSIONS:
            values = widgets.ordered_values(fdim, queries.dim_values(run, fdim))
            chosen = st.multiselect(
                widgets.dim_label(fdim),
                values,
                key=f"segments_filter_{fdim}",
                placeholder="all",
                disabled=item_dim,
                persist_state="session",
            )
            if chosen and not item_dim:
                filters.append((fdim, tuple(sorted(chosen))))
    if filters:
        st.caption(
            "Filtered to "
            + "; ".join(f"{widgets.dim_label(d)} ∈ {', '.join(v)}" for d, v in filters)
        )
filt = tuple(filters)

compared = queries.compare(run, metric.key, (dim,), filt).join(
    queries.noise_bands(run, metric.key, (dim,), filt).select(dim, "band"), on=dim, how="left"
)
order = widgets.ordered_values(dim, [str(v) for v in compared[dim].to_list()])
total = queries.compare(run, metric.key, (), filt, items=item_dim).row(0, named=True)
tiles = st.columns(3)
widgets.kpi(tiles[0], metric, None, total["before"], label="Before window")
widgets.kpi(tiles[1], metric, total["before"], total["after"], label="After window")
biggest = (
    compared.drop_nulls("abs_change")
    .with_columns(weight=(pl.col("den_before") + pl.col("den_after")) / 2)
    .with_columns(contribution=pl.col("abs_change") * pl.col("weight") / pl.col("weight").sum())
)
if not biggest.is_empty() and metric.den is not None:
    sign = 1 if metric.higher_is_better else -1  # the worst change: a drop, or a rise in costs
    worst = biggest.sort(pl.col("contribution") * sign).row(0, named=True)
    tiles[2].metric(
        "Largest drop (weighted)" if metric.higher_is_better else "Largest rise (weighted)",
        str(worst[dim]),
        metric.delta(worst["before"], worst["after"]),
        delta_color="normal" if metric.higher_is_better else "inverse",
        border=True,
        help="The segment whose change, weighted by its size, moves the total most",
    )
else:
    tiles[2].metric("Segments", f"{compared.height}", border=True)

# The bars take the page's width (labels stay apart with many segments); the table follows.
with st.container():
    widgets.chart(
        figures.before_after_bars(
            compared,
            dim,
            metric,
            order=order,
            title=f"{metric.label} by {widgets.dim_label(dim).lower()}",
        ),
        key="segments_bars",
    )
    st.caption(
        "Grey whiskers and the second label: the segment's typical week-over-week change, "
        "from this year's earlier weeks and last year's reference weeks. A move well inside "
        "it is what an ordinary week looks like."
    )
with st.container():
    # A rate's segments are shares of its denominator; a total's, shares of the total itself.
    base, den_label = ("den", metric.den) if metric.den else ("num", metric.label.lower())
    table = compared.with_columns(
        share_before=pl.col(f"{base}_before") / pl.col(f"{base}_before").sum(),
        share_after=pl.col(f"{base}_after") / pl.col(f"{base}_after").sum(),
    ).select(dim, "share_before", "share_after", "before", "after", "rel_change")
    fmt = "percent" if metric.is_rate else "%.3f"
    st.dataframe(
        table,
        hide_index=True,
        column_config={
            dim: st.column_config.TextColumn(widgets.dim_label(dim)),
            "share_before": st.column_config.NumberColumn(
                "Share before", format="percent", help=f"Share of {den_label}"
            ),
            "share_after": st.column_config.NumberColumn(
                "Share after", format="percent", help=f"Share of {den_label}"
            ),
            "before": st.column_config.NumberColumn("Before", format=fmt),
            "after": st.column_config.NumberColumn("After", format=fmt),
            "rel_change": st.column_config.NumberColumn("Change", format="percent"),
        },
    )

st.subheader("Mix or rate?")
if metric.den is None:
    st.info("The decomposition splits ratio metrics; pick a rate or a per-unit metric.")
else:
    parts = queries.decomposition(run, metric.key, dim, filt)
    s = summary(parts)
    unit = 100 * metric.scale if metric.is_rate else metric.scale
    suffix = " pp" if metric.is_rate else ""
    c = st.columns([2, 3], gap="large")
    with c[0]:
        st.markdown(
            f"Across **{widgets.dim_label(dim).lower()}**, the change of "
            f"**{s['change'] * unit:+.3f}{suffix}** splits into:"
        )
        m1 = m2 = st.container()  # stacked: side by side, the values were cut off
        m1.metric(
            "Mix", f"{s['mix'] * unit:+.2f}{suffix}", border=True, help="Segment shares moved"
        )
        m2.metric(
            "Rate",
            f"{s['rate'] * unit:+.2f}{suffix}",
            border=True,
            help="The metric moved within segments",
        )
        st.caption(
            "Mix: a segment gaining share moves the total by how far its level differs from "
            "the average. Rate: the metric moving inside a segment, at its average share. "
            "They add up exactly to the change."
        )
    with c[1]:
        shown = parts.with_columns(pl.col("mix", "rate") * unit)
        widgets.chart(
            figures.mix_rate_bars(
                shown, dim, metric, title="Contribution to the change by segment"
            ),
            key="segments_mixrate",
        )

st.subheader("Two dimensions")
if item_dim:
    st.info("The heatmap crosses session dimensions; pick one to see it.")
else:
    others = [d for d in queries.SESSION_DIMENSIONS if d != dim]
    h = st.columns([2, 2, 3])
    with h[0]:
        dim_y = widgets.dim_picker("Against", others, "segments_dim_y", "city_tier")
    with h[1]:
        min_n = st.number_input(
            f"Hide cells with fewer {metric.den or 'sessions'} than",
            min_value=0,
            value=500,
            step=100,
            key="segments_min_n",
            persist_state="session",
            disabled=metric.den is None,  # a total has no denominator to be small
        )
    cells = queries.heat(run, metric.key, dim, dim_y, filt).join(
        queries.noise_bands(run, metric.key, (dim, dim_y), filt).select(dim, dim_y, "band"),
        on=[dim, dim_y],
        how="left",
    )
    if metric.den is not None:
        cells = cells.filter(pl.min_horizontal("den_before", "den_after") >= min_n)
    cells = cells.with_columns(
        hover=pl.format(
            "before {} · after {} · n {} → {}<br>typical week-over-week change ±{}%",
            pl.col("before").round(4),
            pl.col("after").round(4),
            pl.col("den_before").cast(pl.Int64),
            pl.col("den_after").cast(pl.Int64),
            (pl.col("band") * 100).round(1),
        )
    )
    if cells.is_empty():
        st.info("No cell is large enough; lower the threshold.")
    else:
        widgets.chart(
            figures.heatmap(
                cells,
                dim,
                dim_y,
                "rel_change",
                hover="hover",
                title=f"Relative change of {metric.label.lower()}",
                higher_is_better=metric.higher_is_better,
                x_order=widgets.ordered_values(dim, cells[dim].cast(pl.String).unique()),
                y_order=widgets.ordered_values(dim_y, cells[dim_y].cast(pl.String).unique()),
            ),
            key="segments_heatmap",
        )

st.subheader("Over time")
series = queries.series(run, metric.key, dim, filt)
widgets.chart(
    figures.trend(
        series,
        "date",
        metric,
        color=dim,
        order=order,
        windows=ctx.case.windows,
        title=f"{metric.label} by day and {widgets.dim_label(dim).lower()}",
    ),
    key="segments_trend",
)
