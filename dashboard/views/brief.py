"""Brief: the case as the candidate receives it, the headline chart, and an optional timer."""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from dashboard import queries, state, svgchart, widgets
from readout.metrics import SESSION_METRICS

ctx = widgets.context()
case = ctx.case
widgets.header(case.title, "Case brief", ctx)

if not ctx.attempt.submitted and ctx.cfg.takehome is None:  # a take-home seat is named
    if state.HYPOTHESES_NAME_KEY not in st.session_state and ctx.attempt.user:
        st.session_state[state.HYPOTHESES_NAME_KEY] = ctx.attempt.user
    who, note = st.columns([2, 3], vertical_alignment="bottom")
    who.text_input(
        "Your name",
        key=state.HYPOTHESES_NAME_KEY,
        max_chars=80,
        placeholder="who is taking this case?",
        on_change=state.set_name,
        args=(ctx.cfg,),
        persist_state="session",
    )
    note.caption(
        f"Attempt #{ctx.attempt.id} is yours alone: nobody else on this server sees or "
        "submits it. Its address (with `?attempt=…`) brings you back to it; keep it private."
    )

conversion = SESSION_METRICS["conversion"]
overall = queries.compare(ctx.run_key, "conversion").row(0, named=True)

left, right = st.columns([3, 2], gap="large")
with left, st.container(border=True):
    st.markdown("#### The ask")
    st.markdown(case.brief or "_No brief text._")
with right:
    st.markdown("#### The metric")
    st.markdown(
        "**Feed session conversion** = feed sessions with at least one tracked `order` "
        "event ÷ feed sessions.  \nTracked events come from the app (`events`); the "
        "server-side order ledger (`orders`) is its business twin."
    )
    a, b = st.columns(2)
    widgets.kpi(a, conversion, None, overall["before"], label="Before window")
    widgets.kpi(b, conversion, overall["before"], overall["after"], label="After window")

daily = queries.series(ctx.run_key, "conversion")
headline = svgchart.daily_line(
    daily["date"].to_list(),
    daily["value"].to_list(),
    conversion.kind,
    case.windows,
    title="Feed session conversion by day",
    band=queries.noise_band(ctx.run_key, "conversion"),
)
# In a <div> block markdown leaves the SVG's text alone; st.html would strip SVG altogether.
st.markdown(f"<div>{headline}</div>", unsafe_allow_html=True)

st.markdown("#### How this works")
steps = st.columns(4)
steps[0].markdown(
    "**1 · Explore**  \nOverview, Segments, Changes, Latency, Feed, Seasonality, SQL."
)
steps[1].markdown("**2 · Rank**  \nOrder hypotheses from the menu: each costs time to check.")
steps[2].markdown("**3 · Attribute**  \nClaim how much of the change each one explains.")
steps[3].markdown(
    "**4 · Submit**  \nSubmitting is final"
    + ("." if ctx.cfg.takehome else "; the debrief then shows the truth.")  # the team's call
)
st.page_link("views/overview.py", label="Start with the overview", icon=":material/arrow_forward:")

st.divider()
timer_on = ctx.cfg.takehome is None and st.toggle(  # a take-home's box is the server's
    "Time-box this attempt", key="brief_timer", persist_state="session"
)
if timer_on:
    box = st.number_input(
        "Time box (minutes)",
        min_value=10,
        max_value=480,
        value=90,
        step=15,
        key="brief_timer_minutes",
        persist_state="session",
    )
    started = datetime.fromisoformat(ctx.attempt.started_at)

    @st.fragment(run_every=None if ctx.attempt.submitted else 1)  # a submitted clock stops
    def clock() -> None:
        end = datetime.fromisoformat(ctx.attempt.submitted_at) if ctx.attempt.submitted_at else None
        elapsed = ((end or datetime.now(UTC)) - started).total_seconds()
        left_s = box * 60 - elapsed
        cols = st.columns([1, 1, 3], vertical_alignment="center")
        cols[0].metric("Elapsed", f"{int(elapsed // 60)}:{int(elapsed % 60):02d}")
        cols[1].metric(
            "Remaining" if left_s >= 0 else "Over by",
            f"{int(abs(left_s) // 60)}:{int(abs(left_s) % 60):02d}",
        )
        cols[2].progress(min(1.0, max(0.0, elapsed / (box * 60))))

    clock()
