"""Feed & ranker health: drift of feed attributes between snapshots, and the retrain history."""

from __future__ import annotations

import math

import polars as pl
import streamlit as st

from dashboard import figures, loaders, queries, widgets
from readout.drift import MAJOR, MODERATE

ctx = widgets.context()
widgets.header(
    "Feed & ranker health",
    "The ranker only sees the upstream item feed: did the feed change, did the ranker?",
    ctx,
)
run = ctx.run_key
w = ctx.case.windows
feed_tab, stock_tab, ranker_tab = st.tabs(["Feed drift (PSI)", "Feed contents", "Ranker"])

with feed_tab:
    summary = loaders.cube(run, "feed_summary")
    snaps = summary.select("snapshot", "taken_at").unique().sort("snapshot")
    ATTRS = ("price", "seller_rating", "image_score", "title_score", "in_stock")
    # The attribute's options on a row of their own, so none is cut off on a narrow page.
    c = [st.container(), *st.columns([2, 3])]
    with c[0]:
        attr = st.segmented_control(
            "Attribute",
            ATTRS,
            default="price",
            required=True,
            format_func=lambda a: a.replace("_", " "),
            key="feed_attr",
            persist_state="session",
        )
    with c[1]:
        mode = st.segmented_control(
            "Compare each snapshot with",
            ["baseline", "previous"],
            default="baseline",
            required=True,
            format_func={"baseline": "a baseline", "previous": "the one before"}.get,
            key="feed_mode",
            persist_state="session",
        )
    baseline = None
    with c[2]:
        if mode == "baseline" and not snaps.is_empty():
            options = snaps["snapshot"].to_list()
            taken = dict(zip(options, snaps["taken_at"].to_list(), strict=True))
            baseline = st.selectbox(
                "Baseline snapshot",
                options,
                index=0,
                format_func=lambda s: f"#{s} · {taken[s]:%a %d %b %H:%M}",
                key="feed_baseline",
            )
    if snaps.is_empty():
        st.info("This run has no feed snapshots.")
    else:
        psi = queries.feed_psi(run, baseline if mode == "baseline" else None)
        chosen = psi.filter(pl.col("attribute") == attr)
        widgets.chart(
            figures.drift_heatmap(
                chosen,
                title=f"PSI of {attr.replace('_', ' ')} by feed category",
            ),
            key="feed_heatmap",
        )
        worst = (
            chosen.group_by("category")
            .agg(pl.col("psi").max().alias("max_psi"))
            .sort("max_psi", descending=True, nulls_last=True)
        )
        top = worst.head(5)["category"].to_list()
        lines = chosen.filter(pl.col("category").is_in(top))
        fig = figures.figure()
        for i, cat in enumerate(top):
            part = lines.filter(pl.col("category") == cat)
            floor = part["psi"].fill_null(0.0).clip(1e-3, None)
            fig.add_trace(
                figures.scatter(
                    x=part["taken_at"].to_list(),
                    y=floor.to_list(),
                    name=cat,
                    mode="lines",
                    line={"color": figures.PALETTE[i], "width": 2},
                )
            )
        for level in (MODERATE, MAJOR):
            fig.add_hline(y=level, line={"dash": "dot", "color": "#868E96", "width": 1})
        figures.shade_windows(fig, w)
        top_psi = max(float(lines["psi"].max() or 0.0), MAJOR)
        fig.update_yaxes(
            type="log", title="PSI (log scale)", range=[-3.1, math.log10(top_psi) + 0.2]
        )
        widgets.chart(
            figures.styled(fig, 300, title="The five categories that drifted most"),
            key="feed_lines",
        )
        st.caption(
            "PSI below 0.1: stable; 0.1–0.25 (dotted lines): a moderate shift; above 0.25: a "
            "major one. Values below 0.001 are drawn at 0.001. Bins "
            "are deciles of the first snapshot; categories are the feed's own labels."
        )

with stock_tab:
    if summary.is_empty():
        st.info("This run has no feed snapshots.")
    else:
        metric = st.selectbox(
            "Per category",
            ["items", "in_stock", "median_price", "seller_rating", "image_score", "title_score"],
            format_func=lambda s: s.replace("_", " "),
            key="feed_summary_metric",
        )
        c = st.columns(2, gap="large")
        moved = summary.group_by("taken_at").agg(pl.col("moved_in").sum()).sort("taken_at")
        fig = figures.figure(
            figures.bar(
                x=moved["taken_at"].to_list(),
                y=moved["moved_in"].to_list(),
                marker_color=figures.AFTER,
                name="items",
            )
        )
        figures.shade_windows(fig, w)
        widgets.chart(
            where=c[0],
            fig=figures.styled(fig, 340, title="Items recategorised by the feed, per snapshot"),
            key="feed_moved",
        )
        fig = figures.figure()
        for i, cat in enumerate(sorted(summary["category"].unique().to_list())):
            part = summary.filter(pl.col("category") == cat).sort("taken_at")
            fig.add_trace(
                figures.scatter(
                    x=part["taken_at"].to_list(),
                    y=part[metric].to_list(),
                    name=cat,
                    mode="lines",
                    line={"color": figures.PALETTE[i % len(figures.PALETTE)]},
                )
            )
        figures.shade_windows(fig, w)
        if metric == "in_stock":
            fig.update_yaxes(tickformat=".0%")
        figures.styled(fig, 340, title=f"{metric.replace('_', ' ').capitalize()} by feed category")
        widgets.chart(where=c[1], fig=figures.legend_right(fig), key="feed_summary_lines")

with ranker_tab:
    runs = loaders.small_table(run, "ranker_runs")
    show_ref = st.toggle("Include last year's reference period", key="feed_ranker_ref")
    shown = runs if show_ref else runs.filter(pl.col("period") == "current")
    c = st.columns(2)
    fig = figures.figure()
    for name, color in (
        ("reward_click", figures.PALETTE[1]),
        ("reward_conversion", figures.PALETTE[0]),
        ("reward_price", figures.PALETTE[2]),
    ):
        fig.add_trace(
            figures.scatter(
                x=shown["trained_at"].to_list(),
                y=shown[name].to_list(),
                name=name.removeprefix("reward_"),
                mode="lines+markers",
                line={"shape": "hv", "color": color, "width": 2},
            )
        )
    if not show_ref:
        figures.shade_windows(fig, w)
    widgets.chart(
        where=c[0],
        fig=figures.styled(fig, 300, title="Reward-policy weights at each retrain"),
        key="feed_rewards",
    )
    fig = figures.figure()
    fig.add_trace(
        figures.scatter(
            x=shown["trained_at"].to_list(),
            y=shown["train_auc"].to_list(),
            name="train AUC",
            mode="lines+markers",
            line={"color": figures.PALETTE[3], "width": 2},
        )
    )
    fig.add_trace(
        figures.bar(
            x=shown["trained_at"].to_list(),
            y=shown["rows"].to_list(),
            name="training rows",
            yaxis="y2",
            marker_color="#DEE2E6",
            opacity=0.7,
        )
    )
    fig.update_layout(
        yaxis2={"overlaying": "y", "side": "right", "showgrid": False, "title": "rows"}
    )
    if not show_ref:
        figures.shade_windows(fig, w)
    widgets.chart(
        where=c[1],
        fig=figures.styled(fig, 300, title="Model quality and training volume"),
        key="feed_auc",
    )
    st.dataframe(
        shown.sort("trained_at", descending=True),
        hide_index=True,
        column_config={
            "trained_at": st.column_config.DatetimeColumn(
                "Trained", format="ddd DD MMM YYYY, HH:mm"
            ),
            "model_version": st.column_config.NumberColumn("Model", format="v%d"),
            "rows": st.column_config.NumberColumn("Rows", format="localized"),
            "train_auc": st.column_config.NumberColumn("Train AUC", format="%.3f"),
            "deployed": st.column_config.CheckboxColumn("Deployed"),
        },
    )
