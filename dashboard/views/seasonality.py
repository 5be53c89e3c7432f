"""Seasonality: this year against last year's reference weeks, aligned by day offset."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import streamlit as st

from dashboard import figures, loaders, queries, widgets
from readout.metrics import SESSION_METRICS, relative

ctx = widgets.context()
widgets.header(
    "Seasonality",
    "Did the same weeks move last year? Last year's reference weeks are aligned day by day "
    "with the end of this year's case period (same weekdays).",
    ctx,
)
run = ctx.run_key
case = ctx.case
w = case.windows
metric = widgets.metric_picker("Metric", SESSION_METRICS, "season_metric", "conversion")

current = queries.series(run, metric.key)
reference = queries.series(run, metric.key, period="reference")
if reference.is_empty() or case.reference_start is None:
    st.info("This run has no reference period from last year.")
    st.stop()
ref_days = case.reference_days or reference.height
aligned_start = w.end - timedelta(days=ref_days - 1)
shift = aligned_start - case.reference_start
reference = reference.with_columns(
    last_year=pl.col("date"), date=pl.col("date") + pl.duration(days=shift.days)
)

fig = figures.figure()
fig.add_trace(
    figures.scatter(
        x=current["date"].to_list(),
        y=current["value"].to_list(),
        name=f"this year ({w.end.year})",
        mode="lines+markers",
        line={"color": figures.AFTER, "width": 2.5},
    )
)
fig.add_trace(
    figures.scatter(
        x=reference["date"].to_list(),
        y=reference["value"].to_list(),
        name=f"last year ({case.reference_start.year}), aligned",
        mode="lines+markers",
        line={"color": figures.REFERENCE, "width": 2, "dash": "dash"},
        customdata=[d.strftime("%a %d %b %Y") for d in reference["last_year"].to_list()],
        hovertemplate="%{y" + figures.hover_format(metric.kind) + "} (%{customdata})",
    )
)
fig.update_yaxes(**figures.axis_format(metric.kind))
figures.shade_windows(fig, w, hourly=False)
widgets.chart(
    figures.styled(fig, 360, title=f"{metric.label}: this year and last"), key="season_yoy"
)


def window_value(frame: pl.DataFrame, a, b) -> float | None:
    """The metric over dates a..b, from daily numerators and denominators."""
    part = frame.filter(pl.col("date").is_between(a, b))
    if part.is_empty():
        return None
    num = part[metric.num].sum()
    if metric.den is None:
        return float(num) * metric.scale
    den = part[metric.den].sum()
    return float(num) / float(den) * metric.scale if den else None


rows = []
for label, frame in (("This year", current), ("Last year (same weekdays)", reference)):
    before = window_value(frame, *w.before)
    after = window_value(frame, *w.after)
    rows.append(
        {
            "year": label,
            "before": before,
            "after": after,
            "change": relative(before, after) if before and after else None,
        }
    )
table = pl.DataFrame(rows)
c = st.columns([3, 2], gap="large")
with c[0]:
    fmt = "percent" if metric.is_rate else "%.3f"
    st.dataframe(
        table,
        hide_index=True,
        column_config={
            "year": "Period",
            "before": st.column_config.NumberColumn("Before window", format=fmt),
            "after": st.column_config.NumberColumn("After window", format=fmt),
            "change": st.column_config.NumberColumn("Change", format="percent"),
        },
    )
with c[1]:
    this, last = rows[0]["change"], rows[1]["change"]
    if this is not None and last is not None:
        st.metric("Change this year", f"{this:+.2%}", border=True)
        st.metric(
            "Beyond last year's seasonal move",
            f"{(this - last) * 100:+.2f} pp",
            help="This year's relative change minus last year's over the same weekdays, in "
            "percentage points of relative change",
            border=True,
        )
    else:
        st.caption("Last year's reference weeks do not cover both windows.")

st.markdown("##### Calendar")
cal = loaders.small_table(run, "calendar").filter(pl.col("events").str.len_chars() > 0)
if cal.is_empty():
    st.caption("No calendar events (holidays, paydays, campaigns) in either period.")
else:
    st.dataframe(
        cal.sort("date"),
        hide_index=True,
        column_config={
            "date": st.column_config.DateColumn("Date", format="ddd DD MMM YYYY"),
            "period": "Period",
            "weekday": "Weekday",
            "events": st.column_config.TextColumn("Events", width="large"),
        },
    )
