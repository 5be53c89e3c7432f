"""History: your own attempts and scores over time; the host (with the server's host token)
sees everyone's. Never shows where the data folder is."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard import figures, loaders, state, widgets
from dashboard.store import Attempt

cfg = state.settings()
host = state.is_host(cfg)
widgets.header(
    "History",
    "Everyone's attempts on this server (host view)." if host else "Your attempts.",
)
store = loaders.store(str(cfg.data_dir))
if host:
    attempts = store.history()
else:
    mine = state.owner()
    attempts = store.history(owner=mine) if mine else []
if not attempts:
    st.info("No attempts yet. Open a case and submit a diagnosis to start your history.")
if host:
    users = sorted({a.user for a in attempts if a.user})
    who = st.selectbox("Whose attempts", ["everyone", *users], key="history_user")
    if who != "everyone":
        attempts = [a for a in attempts if a.user == who]
elif cfg.host_token:
    with st.expander("Host view", icon=":material/admin_panel_settings:"):
        given = st.text_input("Host token", type="password", key="history_host_token")
        if given and st.button("Show everyone's attempts", key="history_host_open"):
            if state.unlock_host(cfg, given):
                st.rerun()
            st.error("That is not this server's host token.")
if not attempts:
    st.stop()

# An attempt that started after an earlier attempt at the same run was submitted (and its
# key shown) is not a first try. Ids grow with time; timestamps are to the second.
submissions = [(a.run_dir, a.id, a.submitted_at) for a in attempts if a.submitted_at]


def key_seen(a: Attempt) -> bool:
    return any(r == a.run_dir and i < a.id and t <= a.started_at for r, i, t in submissions)


rows = []
for a in attempts:
    s = a.score or {}
    rows.append(
        {
            "attempt": a.id,
            "label": f"#{a.id}",
            "case": a.scenario_id,
            "first try": not key_seen(a),
            "size": a.size,
            "who": a.user or "",
            "started": a.started_at.replace("T", " ")[:16],
            "minutes": a.minutes,
            "status": "scored" if a.score else ("submitted" if a.submitted else "open"),
            "case score": s.get("case_score"),
            "order": s.get("order_score"),
            "diagnosis": s.get("diag_score"),
        }
    )
table = pl.DataFrame(rows)
scored = table.filter(pl.col("case score").is_not_null()).sort("attempt")
first_tries = scored.filter(pl.col("first try"))
c = st.columns(4)
c[0].metric("Attempts", f"{table.height}", border=True)
c[1].metric("Submitted", f"{table.filter(pl.col('status') != 'open').height}", border=True)
c[2].metric(
    "Mean case score, first tries",
    "–" if first_tries.is_empty() else f"{first_tries['case score'].mean():.2f}",
    border=True,
    help="Attempts at a run whose key the user had not seen yet",
)
c[3].metric(
    "Best case score",
    "–" if scored.is_empty() else f"{scored['case score'].max():.2f}",
    border=True,
)

if not scored.is_empty():
    fig = figures.figure()
    for name, col, color in (
        ("case score", "case score", figures.AFTER),
        ("order", "order", figures.MIX),
        ("diagnosis", "diagnosis", figures.GOOD),
    ):
        fig.add_trace(
            figures.scatter(
                x=scored["label"].to_list(),
                y=scored[col].to_list(),
                name=name,
                mode="lines+markers",
                line={"color": color, "width": 3 if col == "case score" else 1.5},
                customdata=list(zip(scored["case"], scored["started"], strict=True)),
                hovertemplate="%{customdata[0]}, %{customdata[1]}: %{y:.2f}",
            )
        )
    fig.add_hline(y=0, line={"color": "#ADB5BD", "width": 1})
    fig.update_xaxes(type="category", title="attempt")
    widgets.chart(figures.styled(fig, 320, title="Scores over time"), key="history_chart")
    st.caption(
        "Case score = 0.7 × order + 0.3 × diagnosis. Submitted attempts are scored when "
        "their debrief is first opened."
    )

st.dataframe(
    table.sort("attempt", descending=True).drop("label"),
    hide_index=True,
    column_config={
        "first try": st.column_config.CheckboxColumn(
            "First try", help="Unticked: started after the key of this run was shown"
        ),
        "minutes": st.column_config.NumberColumn("Minutes", format="%.0f"),
        "case score": st.column_config.ProgressColumn(
            "Case score", min_value=-0.5, max_value=1, format="%.2f"
        ),
        "order": st.column_config.NumberColumn("Order", format="%.2f"),
        "diagnosis": st.column_config.NumberColumn("Diagnosis", format="%.2f"),
    },
)
