"""casesim investigation dashboard: the script `streamlit run` executes on every interaction.

It decides which pages exist (the debrief only once this attempt is submitted), shows the
case and attempt in the sidebar, and runs the chosen page (an error in a page shows a
friendly message and a reference; its details go to the server log only). Pages are thin scripts in
`dashboard/views/`; the numbers come from readout/ (cube, metrics, stats) and
grading/ (scoring, debrief); attempts live in dashboard/store.py.

In take-home mode (`casesim takehome serve`) the seat token decides the run and the attempt
(dashboard/takehome.py); there is no picker and no history, the debrief only when the team
allows it, and the sidebar shows the time left. Each page opened is logged ("page"), and so is
each change of a page's keyed widgets ("choice": filters, dimensions, metrics, toggles), by
comparing their values after each run with the previous run's: one place for every page.
"""

from __future__ import annotations

import logging
import os
import secrets
from datetime import UTC, datetime

import streamlit as st

from dashboard import preload

preload.wait(charts=False)  # never import alongside the warm-up thread (dashboard.preload)

from dashboard import loaders, state, takehome  # noqa: E402
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


LAST_PAGE_KEY = "casesim_last_page"  # the page last logged as opened in this session
CHOICES_KEY = "casesim_choices"  # the keyed widgets' values after the previous run
# Not choices: this app's own state, typed texts (the hypotheses form is logged as "order",
# queries as "sql"), and buttons (True for one run only).
_UNLOGGED = (
    "casesim_",
    "hyp_",
    "sql_query",
    "sql_last",
    "sql_history",
    "sql_result",
    "sql_run",
    "sql_example_",
    "history_",
    "picker_",
    "$$",
)
_SIMPLE = (str, int, float, bool)


def choices() -> dict[str, object]:
    """The session's keyed widget values that are plain choices (no texts typed, no state)."""
    out: dict[str, object] = {}
    for key in list(st.session_state):
        name = str(key)
        if name.startswith(_UNLOGGED):
            continue
        value = st.session_state[key]
        if isinstance(value, list | tuple) and all(isinstance(v, _SIMPLE) for v in value):
            out[name] = list(value)
        elif value is None or isinstance(value, _SIMPLE):
            out[name] = value
    return out


def log_choices(page_name: str | None) -> None:
    """Log each keyed widget whose value changed since the previous run (a widget drawn for
    the first time is its default, not a choice)."""
    now = choices()
    before = st.session_state.get(CHOICES_KEY) or {}
    for key, value in now.items():
        if key in before and before[key] != value:
            state.record("choice", {"page": page_name, "widget": key, "value": value}, cfg)
    st.session_state[CHOICES_KEY] = now


cfg = state.settings()
if cfg.takehome is not None and takehome.seat(cfg) is None:
    takehome.refuse()
run = state.current_run(cfg)
if cfg.takehome is not None and run is None:
    takehome.unavailable()
pages: dict[str, st.Page] = {}
if cfg.takehome is None:
    pages["picker"] = page("picker", default=run is None)
    pages["history"] = page("history")
if run is None:
    nav = {"Start": [pages["picker"]], "Practice": [pages["history"]]}
else:
    loaders.forget_if_regenerated(str(run))
    state.keep_in_url(run, cfg)
    attempt = state.current_attempt(run, cfg)
    pages["brief"] = page("brief", default=True)
    pages |= {name: page(name) for name in (*INVESTIGATE, "hypotheses")}
    conclude = [pages["hypotheses"]]
    debrief_open = cfg.takehome is None or takehome.cohort(cfg).allow_debrief
    if attempt.submitted and debrief_open:
        pages["debrief"] = page("debrief")
        conclude.append(pages["debrief"])
    if "history" in pages:
        conclude.append(pages["history"])
    nav = {
        "Case": [pages[k] for k in ("brief", "picker") if k in pages],
        "Investigate": [pages[k] for k in INVESTIGATE],
        "Conclude": conclude,
    }

    with st.sidebar:
        info = loaders.case(str(run))
        st.markdown(f"**{info.title}**")
        w = info.windows
        where = "" if cfg.takehome else f"  \nRun: {run.name} · {info.size} · seed {info.seed}"
        st.caption(
            f"Before {w.before[0]:%d %b}–{w.before[1]:%d %b} · after {w.after[0]:%d %b}–"
            f"{w.after[1]:%d %b %Y}{where}"
        )
        refused = st.session_state.pop(state.REFUSED_KEY, None)
        if refused:
            st.warning(refused, icon=":material/block:")
        started = datetime.fromisoformat(attempt.started_at)
        if attempt.user:
            st.caption(f"Candidate: {attempt.user}")
        if attempt.submitted:
            st.success(f"Attempt #{attempt.id} submitted", icon=":material/lock:")
        elif attempt.deadline_at is not None:
            left = attempt.seconds_left()
            text = f"Time box: {takehome.time_left(attempt)}"
            if left is not None and left <= 0:
                st.error(text, icon=":material/timer_off:")
            else:
                st.info(text, icon=":material/timer:")
        else:
            minutes = (datetime.now(UTC) - started).total_seconds() / 60
            st.caption(f"Attempt #{attempt.id} · open · {minutes:.0f} min since start")

selected = st.navigation(nav, expanded=True)
goto = st.session_state.pop(state.GOTO_KEY, None)
if goto in pages:
    st.switch_page(pages[goto], query_params=st.query_params.to_dict())
selected_name = next((k for k, p in pages.items() if p is selected), None)
if selected_name is not None and st.session_state.get(LAST_PAGE_KEY) != selected_name:
    st.session_state[LAST_PAGE_KEY] = selected_name
    state.record("page", {"page": selected_name}, cfg)
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
    log_choices(selected_name)
    preload.first_page_drawn()
