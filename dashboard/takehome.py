"""The take-home mode of a session (`casesim takehome serve DIR`): a seat token opens one variant.

The candidate's link carries their seat token (`?token=...`, from DIR/tokens.csv). It is
checked against the hashes in DIR/cohort.json (`Cohort.seat_for`), then kept in the session and
put back in the URL on every run (page switches clear query parameters), so a reload resumes.
In this mode nothing else chooses the run: `?case=`, `?attempt=` and a picked case are
ignored, the run is always DIR/variants/<the seat's variant>, and the attempt is the seat's
one attempt (`AttemptStore.seat_attempt`: created at the first open, which starts the
clock; a second browser with the same token resumes it). A missing or unknown token gets a
plain refusal that names no variant and no path.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import streamlit as st

from dashboard import loaders
from dashboard.settings import Settings
from dashboard.store import Attempt
from runfolder.layout import MANIFEST
from runfolder.takehome import Cohort, CohortError, Seat, load_cohort

SEAT_PARAM = "token"
SEAT_KEY = "casesim_seat_token"  # the seat token this session was opened with
_SEAT_TOKEN = re.compile(r"[A-Za-z0-9_.~-]{8,128}")
_IGNORED_PARAMS = ("case", "attempt")  # other modes' ways of naming a run or an attempt


def cohort(cfg: Settings) -> Cohort:
    """The cohort being served (read each time: cohort.json is small, and may be edited)."""
    assert cfg.takehome is not None
    return load_cohort(cfg.takehome)


def _given_token() -> str | None:
    value = st.query_params.get(SEAT_PARAM)
    if isinstance(value, str) and _SEAT_TOKEN.fullmatch(value):
        return value
    if value is not None:
        return ""  # a malformed token in the URL is a wrong token, not "no token"
    held = st.session_state.get(SEAT_KEY)
    return held if isinstance(held, str) else None


def seat(cfg: Settings) -> Seat | None:
    """This session's seat: the URL's token (a link just opened), else the session's; None
    for a missing or unknown token (the session then forgets any seat it held)."""
    token = _given_token()
    found = None
    if token:
        try:
            found = cohort(cfg).seat_for(token)
        except CohortError:
            found = None
    if found is None:
        st.session_state.pop(SEAT_KEY, None)
        return None
    st.session_state[SEAT_KEY] = token
    for name in _IGNORED_PARAMS:
        st.query_params.pop(name, None)
    if st.query_params.get(SEAT_PARAM) != token:
        st.query_params[SEAT_PARAM] = token
    return found


def run_of(cfg: Settings, found: Seat) -> Path:
    """The seat's variant folder (resolved: it is the attempt's `run_dir`)."""
    return cohort(cfg).variant_dir(found.variant).resolve()


def attempt(cfg: Settings, found: Seat) -> Attempt:
    """The seat's one attempt, created (and its clock started) at the first open."""
    run = run_of(cfg, found)
    try:
        manifest = json.loads((run / MANIFEST).read_text())
    except (OSError, ValueError):
        manifest = {}
    made, _ = loaders.store(str(cfg.data_dir)).seat_attempt(
        found.variant,
        run,
        str(manifest.get("scenario") or found.variant),
        found.name,
        cohort(cfg).hours,
    )
    return made


def refuse() -> None:
    """The page for a missing or wrong token: says so, names nothing, and stops."""
    st.title("Take-home")
    st.error(
        "This link does not open a take-home on this server. Open the exact link you were "
        "sent (it ends in `?token=…`), or ask the hiring team for yours.",
        icon=":material/block:",
    )
    st.stop()


def unavailable() -> None:
    """The page for a seat whose variant folder is missing or broken (the team's problem)."""
    st.title("Take-home")
    st.error(
        "Your case is not available on this server right now. Please tell the hiring team.",
        icon=":material/error:",
    )
    st.stop()


def time_left(att: Attempt, at: datetime | None = None) -> str:
    """The time box in words: what is left, or that it is over."""
    left = att.seconds_left(at or datetime.now(UTC))
    if left is None:
        return "no time box"
    closes = datetime.fromisoformat(att.deadline_at or "").strftime("%H:%M UTC")
    if left <= 0:
        return f"time is up (closed at {closes}); submissions are refused"
    hours, minutes = divmod(int(left // 60), 60)
    text = f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"
    return f"{text} left (closes at {closes})"
