"""Changes & experiments: the change log with filters; each experiment's arms with intervals."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import polars as pl
import streamlit as st

from dashboard import figures, loaders, widgets
from readout import stats

ctx = widgets.context()
widgets.header(
    "Changes & experiments",
    "What shipped, what was switched on, and what the experiments say.",
    ctx,
)
run = ctx.run_key
w = ctx.case.windows
log_tab, exp_tab = st.tabs(["Change log", "Experiments"])

with log_tab:
    log = loaders.small_table(run, "changelog")
    kinds = sorted(log["kind"].unique().to_list())
    services = sorted(log["service"].unique().to_list())
    f = st.columns([4, 2, 2, 2])  # the kind pills in one row, none cut off
    chosen_kinds = f[0].pills(
        "Kind",
        kinds,
        selection_mode="multi",
        default=kinds,
        key="changes_kinds",
        persist_state="session",
    )
    chosen_services = f[1].multiselect(
        "Service",
        services,
        key="changes_services",
        placeholder="all services",
        persist_state="session",
    )
    text = f[2].text_input(
        "Search titles",
        key="changes_search",
        placeholder="e.g. ranker, feed, v2",
        persist_state="session",
    )
    span = f[3].slider(
        "Dates",
        min_value=w.start,
        max_value=w.end,
        value=(w.start, w.end),
        format="DD MMM",
        key="changes_dates",
    )
    shown = log.filter(
        pl.col("kind").is_in(list(chosen_kinds or [])),
        pl.col("ts").dt.date().is_between(span[0], span[1]),
    )
    if chosen_services:
        shown = shown.filter(pl.col("service").is_in(chosen_services))
    if text:
        shown = shown.filter(
            pl.col("title").str.to_lowercase().str.contains(text.lower(), literal=True)
        )
    fig = figures.figure()
    for kind in kinds:
        part = shown.filter(pl.col("kind") == kind)
        if part.is_empty():
            continue
        fig.add_trace(
            figures.scatter(
                x=part["ts"].to_list(),
                y=part["service"].to_list(),
                mode="markers",
                name=kind,
                marker={
                    "size": 10,
                    "color": figures.KIND_COLORS.get(kind, "#868E96"),
                    "line": {"width": 1, "color": "white"},
                },
                text=part["title"].to_list(),
                hovertemplate="%{text}<br>%{x}<extra>%{y}</extra>",
            )
        )
    figures.shade_windows(fig, w)
    fig.update_yaxes(type="category", categoryorder="category descending")
    fig.update_layout(hovermode="closest")
    widgets.chart(
        figures.styled(
            fig,
            max(280, 90 + 26 * shown["service"].n_unique()),
            title=f"{shown.height} of {log.height} change-log entries",
        ),
        key="changes_timeline",
    )
    st.dataframe(
        shown.sort("ts", descending=True),
        hide_index=True,
        height=min(600, 38 + 35 * max(shown.height, 1)),
        column_config={
            "ts": st.column_config.DatetimeColumn("When", format="ddd DD MMM, HH:mm"),
            "kind": st.column_config.TextColumn("Kind"),
            "service": st.column_config.TextColumn("Service"),
            "title": st.column_config.TextColumn("Change", width="large"),
            "author": st.column_config.TextColumn("Author"),
        },
    )

with exp_tab:
    experiments = loaders.small_table(run, "experiments")
    moments = loaders.cube(run, "experiments")
    daily = loaders.cube(run, "experiments_daily")
    if experiments.is_empty():
        st.info("No experiment ran during this case.")
    c = st.columns([3, 2, 3])
    window = c[0].segmented_control(
        "Sessions from",
        ["running", "before", "after"],
        default="running",
        required=True,
        format_func={
            "running": "the whole run",
            "before": "before window",
            "after": "after window",
        }.get,
        key="changes_exp_window",
        persist_state="session",
    )
    measure = c[1].segmented_control(
        "Conversion",
        ["tracked", "ledger"],
        default="tracked",
        required=True,
        key="changes_exp_measure",
        persist_state="session",
    )
    mde = c[2].slider(
        "Effect to detect (relative change of conversion)",
        min_value=0.5,
        max_value=20.0,
        value=5.0,
        step=0.5,
        format="%.1f%%",
        key="changes_exp_mde",
        persist_state="session",
    )
    conv, sq, cross = (
        ("converted", "cc", "sc") if measure == "tracked" else ("converted_ledger", "ll", "sl")
    )

    for exp in experiments.iter_rows(named=True):
        eid = exp["experiment_id"]
        arms = [a.strip() for a in str(exp["arms"]).split(",") if a.strip()]
        with st.container(border=True):
            st.markdown(f"#### {exp['name']}")
            end = exp["end"]
            st.caption(
                f"`{eid}` · owner {exp['owner']} · {exp['traffic']:.0%} of users · started "
                f"{exp['start']:%a %d %b %H:%M}"
                + (f" · ended {end:%a %d %b %H:%M}" if end else " · still running")
            )
            rows = moments.filter(pl.col("experiment_id") == eid, pl.col("window") == window)
            estimates: dict[str, stats.RatioEstimate] = {}
            table = []
            for arm in arms:
                r = rows.filter(pl.col("arm") == arm)
                if r.is_empty():
                    continue
                rec = r.row(0, named=True)
                est = stats.ratio_estimate(
                    rec["users"], rec["sessions"], rec[conv], rec["ss"], rec[sq], rec[cross]
                )
                estimates[arm] = est
                lo, hi = est.interval()
                table.append(
                    {
                        "arm": arm,
                        "users": rec["users"],
                        "sessions": rec["sessions"],
                        "conversion": est.value,
                        "ci_low": lo,
                        "ci_high": hi,
                    }
                )
            if len(table) < 1:
                st.info("No sessions of this experiment fall in the chosen window.")
                continue
            left, right = st.columns([3, 2], gap="large")
            with left:
                st.dataframe(
                    pl.DataFrame(table),
                    hide_index=True,
                    column_config={
                        "arm": "Arm",
                        "users": st.column_config.NumberColumn("Users", format="localized"),
                        "sessions": st.column_config.NumberColumn("Sessions", format="localized"),
                        "conversion": st.column_config.NumberColumn("Conversion", format="percent"),
                        "ci_low": st.column_config.NumberColumn("95% CI low", format="percent"),
                        "ci_high": st.column_config.NumberColumn("95% CI high", format="percent"),
                    },
                )
                widgets.chart(
                    figures.interval_chart(
                        [t["arm"] for t in table],
                        [t["conversion"] for t in table],
                        [t["ci_low"] for t in table],
                        [t["ci_high"] for t in table],
                        height=60 + 50 * len(table),
                    ),
                    key=f"changes_ci_{eid}",
                )
            with right:
                control = "control" if "control" in estimates else arms[0]
                others = [a for a in estimates if a != control]
                if control not in estimates or not others:
                    st.info("Needs a control arm and at least one other arm to compare.")
                for arm in others:
                    cmp = stats.compare_arms(estimates[control], estimates[arm])
                    lo, hi = cmp.interval()
                    target = estimates[control].value * mde / 100
                    pw = stats.power(target, cmp.se)
                    detectable = stats.minimum_detectable_effect(cmp.se)
                    k = st.columns(2)
                    k[0].metric(
                        f"{arm.capitalize()} effect",
                        f"{cmp.diff * 100:+.2f} pp",
                        f"{cmp.relative:+.2%} relative",
                        border=True,
                        help=f"{arm} − {control}; 95% CI {lo * 100:+.3f} to {hi * 100:+.3f} pp",
                    )
                    k[1].metric(
                        "p-value",
                        f"{cmp.p_value:.3f}",
                        border=True,
                        help="Two-sided z test, delta-method standard errors",
                    )
                    k = st.columns(2)
                    k[0].metric(
                        f"Power for ±{mde:.1f}%",
                        f"{pw:.0%}",
                        border=True,
                        help="Chance this comparison detects a true relative change of that "
                        "size at α = 0.05",
                    )
                    k[1].metric(
                        "MDE at 80% power",
                        f"±{detectable / estimates[control].value:.1%}",
                        border=True,
                        help=f"Minimum detectable effect: {detectable * 100:.3f} pp absolute",
                    )
            trend = daily.filter(pl.col("experiment_id") == eid).with_columns(
                value=pl.col(conv) / pl.col("sessions")
            )
            fig = figures.figure()
            for i, arm in enumerate(arms):
                part = trend.filter(pl.col("arm") == arm).sort("date")
                fig.add_trace(
                    figures.scatter(
                        x=part["date"].to_list(),
                        y=part["value"].to_list(),
                        name=arm,
                        mode="lines+markers",
                        line={"color": figures.PALETTE[i], "width": 2},
                        hovertemplate="%{y:.2%}",
                    )
                )
            start_line = datetime.combine(exp["start"].date(), time()) + timedelta(
                hours=exp["start"].hour
            )
            fig.add_shape(
                type="line",
                x0=start_line,
                x1=start_line,
                yref="paper",
                y0=0,
                y1=1,
                line={"dash": "dot", "color": "#868E96"},
            )
            fig.update_yaxes(tickformat=".1%")
            figures.shade_windows(fig, w, hourly=False)
            widgets.chart(
                figures.styled(fig, 280, title="Daily conversion by arm"),
                key=f"changes_daily_{eid}",
            )
