"""History: your own attempts, grouped by case, each with its variant (the run folder: the
case's seed), time taken and score, so attempts on fresh variants of one case compare; the
host (with the server's host token) sees everyone's. Never shows where the data folder is,
nor anything of a case's answer key beyond the scores."""

from __future__ import annotations

from pathlib import Path

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

# An attempt that started after the same person's earlier attempt at the same run was
# submitted (and its key shown) is not a first try on that data. Ids grow with time;
# timestamps are to the second. Owner tokens group a person's attempts; never shown.
submissions = [(a.owner, a.run_dir, a.id, a.submitted_at) for a in attempts if a.submitted_at]
owner_of = {a.id: a.owner for a in attempts}


def key_seen(a: Attempt) -> bool:
    return any(
        o == a.owner and r == a.run_dir and i < a.id and t <= a.started_at
        for o, r, i, t in submissions
    )


def row(a: Attempt) -> dict:
    s = a.score or {}
    return {
        "attempt": a.id,
        "variant": Path(a.run_dir).name,  # the folder's name only, never where it is
        "seed": a.seed,
        "size": a.size,
        "first try": not key_seen(a),
        "who": a.user or "",
        "started": a.started_at.replace("T", " ")[:16],
        "minutes": a.minutes,
        "status": "scored" if a.score else ("submitted" if a.submitted else "open"),
        "case score": s.get("case_score"),
        "order": s.get("order_score"),
        "diagnosis": s.get("diag_score"),
    }


table = pl.DataFrame([row(a) for a in attempts], infer_schema_length=None)
scored = table.filter(pl.col("case score").is_not_null())
first_tries = scored.filter(pl.col("first try"))
c = st.columns(4)
c[0].metric("Attempts", f"{table.height}", border=True)
c[1].metric("Submitted", f"{table.filter(pl.col('status') != 'open').height}", border=True)
c[2].metric(
    "Mean case score, first tries",
    "–" if first_tries.is_empty() else f"{first_tries['case score'].mean():.2f}",
    border=True,
    help="Attempts at data whose key the person had not seen yet (a fresh variant counts)",
)
c[3].metric(
    "Best case score",
    "–" if scored.is_empty() else f"{scored['case score'].max():.2f}",
    border=True,
)
st.caption(
    "Case score = 0.7 × order + 0.3 × diagnosis. Submitted attempts are scored when their "
    "debrief is first opened. A retry after the debrief opens a fresh variant of the case "
    "(another seed), so attempts on one case compare without measuring memory."
)

titles = {s["id"]: s["title"] for s in loaders.shipped_scenarios(str(cfg.scenarios_dir))}
cases: dict[str, list[Attempt]] = {}
for a in sorted(attempts, key=lambda a: -a.id):  # the case tried last comes first
    cases.setdefault(a.scenario_id, []).append(a)


def score_chart(rows: pl.DataFrame, index: int) -> None:
    """Case score by attempt, each point labelled with its variant's seed."""
    done = rows.filter(pl.col("case score").is_not_null())
    if done.is_empty():
        st.caption("No scored attempt at this case yet.")
        return
    people: dict[str | None, list[int]] = {}  # one line per person (one in a person's view)
    for n, i in enumerate(done["attempt"].to_list()):
        people.setdefault(owner_of.get(i) if host else None, []).append(n)
    colors = (figures.AFTER, figures.BEFORE, figures.GOOD, figures.MIX)
    fig = figures.figure()
    for k, picked in enumerate(people.values()):
        part = done[picked]
        who = next((w for w in part["who"].to_list() if w), f"person {k + 1}")
        minutes = ["–" if m is None else f"{m:.0f} min" for m in part["minutes"].to_list()]
        fig.add_trace(
            figures.scatter(
                x=[f"#{i}" for i in part["attempt"].to_list()],
                y=part["case score"].to_list(),
                name=who if host else "case score",
                mode="lines+markers+text",
                text=["" if s is None else f"s{s}" for s in part["seed"].to_list()],
                textposition="top center",
                line={"color": colors[k % len(colors)], "width": 2},
                marker={"size": 9},
                customdata=list(zip(part["variant"].to_list(), minutes, strict=True)),
                hovertemplate="%{x} · %{customdata[0]} · %{customdata[1]}: %{y:.2f}<extra></extra>",
            )
        )
    fig.add_hline(y=0, line={"color": "#ADB5BD", "width": 1})
    fig.update_xaxes(
        type="category",
        title="attempt",
        categoryorder="array",
        categoryarray=[f"#{i}" for i in done["attempt"].to_list()],  # in time, across people
    )
    fig.update_yaxes(title="case score")
    widgets.chart(figures.styled(fig, 240, title="Score by attempt"), key=f"history_chart_{index}")


COLUMNS = {
    "first try": st.column_config.CheckboxColumn(
        "First try", help="Unticked: started after the key of this very data was shown"
    ),
    "variant": st.column_config.TextColumn("Variant", help="The run folder: case, size, seed"),
    "minutes": st.column_config.NumberColumn("Minutes", format="%.0f"),
    "case score": st.column_config.ProgressColumn(
        "Case score", min_value=-0.5, max_value=1, format="%.2f"
    ),
    "order": st.column_config.NumberColumn("Order", format="%.2f"),
    "diagnosis": st.column_config.NumberColumn("Diagnosis", format="%.2f"),
}
for index, (scenario_id, group) in enumerate(cases.items()):
    title = titles.get(scenario_id)
    st.subheader(f"{title} ({scenario_id})" if title and title != scenario_id else scenario_id)
    ids = {a.id for a in group}
    rows = table.filter(pl.col("attempt").is_in(ids)).sort("attempt")
    variants = rows["variant"].n_unique()
    st.caption(
        f"{rows.height} attempt{'s' if rows.height != 1 else ''} on "
        f"{variants} variant{'s' if variants != 1 else ''}."
    )
    score_chart(rows, index)
    st.dataframe(
        rows,
        hide_index=True,
        column_config=COLUMNS,
        key=f"history_table_{index}",
    )
