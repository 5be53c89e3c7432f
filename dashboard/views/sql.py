"""SQL: DuckDB over the run's tables in a locked-down worker, with a quick chart and a history.

A result is kept in this session's state (keyed by run, query and row cap) so that changing
the quick chart does not run the query again; it is never put in a cache shared by sessions.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard import figures, loaders, sqlpool, state, widgets
from dashboard.sqlresult import (
    CUBE_PREFIX,
    MAX_BYTES,
    MAX_ROWS,
    QueryFailed,
    QueryRefused,
    QueryResult,
)
from dashboard.sqlworker import TIMEOUT_SECONDS

ctx = widgets.context()
widgets.header(
    "SQL",
    "DuckDB SQL over this run's tables and its cube (`cube_*`), listed here (their columns "
    "under *Tables and columns* below). One read-only statement at a time (SELECT, WITH, "
    "FROM, DESCRIBE, SUMMARIZE); files, other folders and the network are out of reach. At most "
    f"{MAX_ROWS:,} rows or {MAX_BYTES >> 20} MB come back; a query stops after "
    f"{TIMEOUT_SECONDS:.0f} s.",
)
run = ctx.run_key
names = list(loaders.table_schemas(run))
st.caption(
    "Tables: "
    + ", ".join(f"`{n}`" for n in names if not n.startswith(CUBE_PREFIX))
    + "  \nCube: "
    + ", ".join(f"`{n}`" for n in names if n.startswith(CUBE_PREFIX))
)
QUERY_KEY, LAST_KEY, HISTORY_KEY, RESULT_KEY = "sql_query", "sql_last", "sql_history", "sql_result"
EXAMPLES = {
    "Conversion by day": (
        "WITH ordered AS (\n"
        "  SELECT DISTINCT session_id FROM events WHERE event = 'order'\n"
        ")\n"
        "SELECT s.date, COUNT(*) AS sessions, COUNT(o.session_id) AS converted,\n"
        "  CAST(COUNT(o.session_id) AS DOUBLE) / COUNT(*) AS conversion\n"
        "FROM sessions s\n"
        "LEFT JOIN ordered o ON o.session_id = s.session_id\n"
        "WHERE s.period = 'current'\n"
        "GROUP BY s.date\n"
        "ORDER BY s.date"
    ),
    "Ledger vs tracked orders": (
        "WITH tracked AS (\n"
        "  SELECT session_id, COUNT(*) AS tracked FROM events\n"
        "  WHERE event = 'order' GROUP BY session_id\n"
        "), ledger AS (\n"
        "  SELECT session_id, COUNT(*) AS ledger FROM orders GROUP BY session_id\n"
        ")\n"
        "SELECT s.date, SUM(l.ledger) AS ledger_orders, SUM(t.tracked) AS tracked_orders\n"
        "FROM sessions s\n"
        "LEFT JOIN ledger l ON l.session_id = s.session_id\n"
        "LEFT JOIN tracked t ON t.session_id = s.session_id\n"
        "WHERE s.period = 'current'\n"
        "GROUP BY s.date\n"
        "ORDER BY s.date"
    ),
    "Cube: conversion by platform": (
        "SELECT date, value AS platform,\n"
        "  CAST(SUM(converted) AS DOUBLE) / SUM(sessions) AS conversion\n"
        "FROM cube_sessions_hourly\n"
        "WHERE dim = 'platform' AND period = 'current'\n"
        "GROUP BY date, value\n"
        "ORDER BY date, platform"
    ),
    "Change log": "SELECT ts, kind, service, title FROM changelog ORDER BY ts",
}
st.session_state.setdefault(QUERY_KEY, EXAMPLES["Conversion by day"])
st.session_state.setdefault(HISTORY_KEY, [])


def load(text: str) -> None:
    st.session_state[QUERY_KEY] = text


def remember(query: str) -> None:
    history = [q for q in st.session_state[HISTORY_KEY] if q != query]
    st.session_state[HISTORY_KEY] = [query, *history][:20]


def outcome(run: str, query: str, max_rows: int) -> QueryResult | QueryFailed | QueryRefused:
    """This session's result for the query: kept from an earlier rerun, or run on the pool
    (showing the queue position while every worker is busy)."""
    key = (run, query, max_rows)
    kept = st.session_state.get(RESULT_KEY)
    if kept is not None and kept[0] == key:
        return kept[1]
    waiting = st.empty()

    def show_place(ahead: int) -> None:
        pool = sqlpool.shared()
        text = f"{ahead} {'query' if ahead == 1 else 'queries'} ahead" if ahead else "next"
        waiting.info(
            f"Waiting: {text} (all {pool.size} SQL workers are busy).",
            icon=":material/hourglass_top:",
        )

    try:
        with st.spinner("Running the query…"):
            got: QueryResult | QueryFailed | QueryRefused = sqlpool.shared().run(
                run, query, max_rows, on_wait=show_place
            )
    except (QueryRefused, QueryFailed) as exc:
        got = exc
    waiting.empty()
    st.session_state[RESULT_KEY] = (key, got)
    if isinstance(got, QueryResult):
        state.record("sql", {"sql": query, "rows": got.frame.height}, ctx.cfg)
    else:
        state.record("sql", {"sql": query, "error": str(got)}, ctx.cfg)
    return got


editor, side = st.columns([3, 1], gap="large")
with side:
    st.markdown("##### Examples")
    for name, text in EXAMPLES.items():
        st.button(name, key=f"sql_example_{name}", on_click=load, args=(text,), width="stretch")
    history = st.session_state[HISTORY_KEY]
    if history:
        st.markdown("##### History")
        pick = st.selectbox(
            "Earlier queries",
            range(len(history)),
            index=None,
            placeholder="reload a query",
            format_func=lambda i: " ".join(history[i].split())[:60],
            key="sql_history_pick",
            label_visibility="collapsed",
        )
        if pick is not None:
            st.button("Load", key="sql_history_load", on_click=load, args=(history[pick],))
with editor:
    query = st.text_area("Query", key=QUERY_KEY, height=220)
    c = st.columns([3, 3, 6], vertical_alignment="bottom")
    run_clicked = c[0].button(
        "Run query", type="primary", key="sql_run", icon=":material/play_arrow:"
    )
    max_rows = c[1].selectbox(
        "Row cap",
        [100, 1000, MAX_ROWS],
        index=2,
        key="sql_cap",
        format_func=lambda n: f"{n:,} rows",
    )
    if run_clicked:
        st.session_state.pop(RESULT_KEY, None)  # run it again, even if unchanged
        st.session_state[LAST_KEY] = query
        if query and query.strip():
            remember(query.strip())

    last = st.session_state.get(LAST_KEY)
    if last:
        result = outcome(run, last, max_rows)
        if isinstance(result, QueryRefused):
            st.error(f"**Refused.** {result}", icon=":material/block:")
        elif isinstance(result, QueryFailed):
            st.error(f"**The query failed.** {result}", icon=":material/error:")
        else:
            frame = result.frame
            took = f"{result.seconds * 1000:.0f} ms"
            note = f"{frame.height:,} rows × {frame.width} columns in {took}"
            if result.truncated:
                note += f": only the first {result.max_rows:,} rows are shown"
            st.caption(note)
            dates = {
                c: st.column_config.DateColumn(c, format="YYYY-MM-DD")
                for c, t in frame.schema.items()
                if t == pl.Date
            }
            st.dataframe(
                frame,
                hide_index=True,
                height=min(420, 38 + 35 * max(frame.height, 1)),
                column_config=dates,
            )
            numeric = [c for c, t in frame.schema.items() if t.is_numeric()]
            if frame.width >= 2 and numeric and frame.height > 0:
                with st.expander("Quick chart", expanded=True, icon=":material/bar_chart:"):
                    q = st.columns([3, 2, 2, 2])
                    kind = q[0].segmented_control(
                        "Chart",
                        ["line", "bar", "scatter"],
                        default="line",
                        required=True,
                        key="sql_chart_kind",
                    )
                    x = q[1].selectbox("x", frame.columns, index=0, key="sql_chart_x")
                    ys = [c for c in numeric if c != x] or numeric
                    y = q[2].selectbox("y", ys, index=0, key="sql_chart_y")
                    groups = ["(none)"] + [c for c in frame.columns if c not in (x, y)]
                    color = q[3].selectbox("colour", groups, index=0, key="sql_chart_color")
                    fig = figures.figure()
                    parts = (
                        [("", frame)]
                        if color == "(none)"
                        else [(str(k[0]), g) for k, g in frame.group_by(color, maintain_order=True)]
                    )
                    for i, (name, part) in enumerate(parts[:12]):
                        data = part.sort(x) if kind == "line" else part
                        trace = figures.bar if kind == "bar" else figures.scatter
                        extra = (
                            {}
                            if kind == "bar"
                            else {"mode": "lines+markers" if kind == "line" else "markers"}
                        )
                        fig.add_trace(
                            trace(
                                x=data[x].to_list(),
                                y=data[y].to_list(),
                                name=name or y,
                                marker_color=figures.PALETTE[i],
                                **extra,
                            )
                        )
                    widgets.chart(figures.styled(fig, 320), key="sql_chart")

with st.expander("Tables and columns", icon=":material/table_chart:"):
    schemas = loaders.table_schemas(run)
    cols = st.columns(3)
    for i, (name, columns) in enumerate(schemas.items()):
        cols[i % 3].markdown(
            f"**{name}**  \n" + ", ".join(f"`{c}` {t.lower()}" for c, t in columns)
        )
