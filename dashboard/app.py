"""casesim investigation dashboard: the script `streamlit run` executes on every interaction.

It decides which pages exist (the debrief only once this attempt is submitted), shows the
case and attempt in the sidebar, and runs the chosen page (an error in a page shows a
friendly message and a reference; its details go to the server log only). Pages are thin scripts in
`dashboard/views/`; the numbers come from readout/ (cube, metrics, stats) and
grading/ (scoring, debrief); attempts live in dashboard/store.py.
"""

from __future__ import annotations

import logging
import os
import secrets
from datetime import UTC, datetime

import streamlit as st

from dashboard import preload

preload.wait(charts=False)  # never import alongside the warm-up thread (dashboard.preload)

from dashboard import loaders, state  # noqa: E402
from dashboard.pages import INVESTIGATE, PAGES, view_path  # noqa: E402

st.set_page_config(
    page_title="casesim · metric investigation",
    page_icon=":material/query_stats:",
    layout="wide",
    initial_sidebar_state="expanded",
)


def page(name: str, default: bool = False) -> st.Page:
    title, icon = PAGES[name]
    return st.Page(view_path(name), title=title, icon=icon, url_path=name, default=default)


cfg = state.settings()
run = state.current_run(cfg)
pages: dict[str, st.Page] = {
    "picker": page("picker", default=run is None),
    "history": page("history"),
}
if run is None:
    nav = {"Start": [pages["picker"]], "Practice": [pages["history"]]}
else:
    loaders.forget_if_regenerated(str(run))
    state.keep_in_url(run, cfg)
    attempt = state.current_attempt(run, cfg)
    pages["brief"] = page("brief", default=True)
    pages |= {name: page(name) for name in (*INVESTIGATE, "hypotheses")}
    conclude = [pages["hypotheses"]]
    if attempt.submitted:
        pages["debrief"] = page("debrief")
        conclude.append(pages["debrief"])
    conclude.append(pages["history"])
    nav = {
        "Case": [pages["brief"], pages["picker"]],
        "Investigate": [pages[k] for k in INVESTIGATE],
        "Conclude": conclude,
    }

    with st.sidebar:
        info = loaders.case(str(run))
        st.markdown(f"**{info.title}**")
        w = info.windows
        st.caption(
            f"Before {w.before[0]:%d %b}–{w.before[1]:%d %b} · after {w.after[0]:%d %b}–"
            f"{w.after[1]:%d %b %Y}  \nRun: {run.name} · {info.size} · seed {info.seed}"
        )
        refused = st.session_state.pop(state.REFUSED_KEY, None)
        if refused:
            st.warning(refused, icon=":material/block:")
        started = datetime.fromisoformat(attempt.started_at)
        if attempt.user:
            st.caption(f"Candidate: {attempt.user}")
        if attempt.submitted:
            st.success(f"Attempt #{attempt.id} submitted", icon=":material/lock:")
        else:
            minutes = (datetime.now(UTC) - started).total_seconds() / 60
            st.caption(f"Attempt #{attempt.id} · open · {minutes:.0f} min since start")

selected = st.navigation(nav, expanded=True)
goto = st.session_state.pop(state.GOTO_KEY, None)
if goto in pages:
    st.switch_page(pages[goto], query_params=st.query_params.to_dict())
preload.wait(charts=selected is not pages.get("brief"))  # the brief draws no plotly chart
try:
    selected.run()
except Exception:  # a friendly page; the details go to the server's log, never the browser
    if os.environ.get("CASESIM_DASHBOARD_RAISE"):  # tests want the exception itself
        raise
    ref = secrets.token_hex(4)
    logging.getLogger("casesim.dashboard").exception("page failed (reference %s)", ref)
    st.error(
        "Something went wrong while drawing this page. Your attempt and anything you "
        "submitted are safe. Try another page or reload; if it persists, tell the host "
        f"(reference `{ref}`).",
        icon=":material/error:",
    )
finally:
    preload.first_page_drawn()
