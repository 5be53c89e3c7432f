"""Session state: which run is open and which attempt is this person's. Small values only.

The run comes from, in order: a case picked in this session, the `case` query parameter (a
run folder's name inside the data folder, so a reload keeps the case), the run given at
launch.

An attempt belongs to a person, never to the run: a session starts its own attempt and
keeps its unguessable token in the session and in the URL (`?attempt=<token>`), so a reload
resumes it. A session never adopts an attempt whose token it does not hold; the store refuses
a submission made with another attempt's token. Attempts one person starts after another
share the first one's `owner` token, which is what "your history" lists. Query parameters
are bounded and validated before use: a malformed one is ignored, never an error.

In take-home mode (`cfg.takehome`) the run and the attempt come from the seat token only
(`dashboard.takehome`). `record` logs what the person does to their attempt's events, in
practice as in take-home mode (cheap: a few small rows per interaction); a failure to log
never breaks a page.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import streamlit as st

from dashboard import loaders, takehome
from dashboard.settings import Settings, parse
from dashboard.store import Attempt, StoreError, UnknownAttempt
from runfolder.layout import MANIFEST

RUN_KEY = "casesim_run"
ATTEMPT_KEY = "casesim_attempt"  # this session's attempt id ...
TOKEN_KEY = "casesim_token"  # ... and the token that proves it is this session's
OWNER_KEY = "casesim_owner"  # the owner token of this person's attempts
HOST_KEY = "casesim_host"  # True once the host token was given in this session
REFUSED_KEY = "casesim_refused"  # why an attempt named by this session was not adopted
TOKEN_PARAM = "attempt"
HOST_PARAM = "host"
_RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")
_HOST_TOKEN = re.compile(r"[!-~]{8,128}")  # printable ASCII, as given on the command line
GOTO_KEY = "casesim_goto"
HYPOTHESES_PREFIX = "hyp_"  # the hypotheses page's widget keys
HYPOTHESES_NAME_KEY = "hyp_name"  # kept across attempts


def go_to(page: str) -> None:
    """Ask the app to open `page` on its next run (pages cannot switch to a page that the
    navigation of the current run does not have yet, such as a just-unlocked debrief)."""
    st.session_state[GOTO_KEY] = page


def settings() -> Settings:
    return parse()


def _is_run(path: Path) -> bool:
    return (path / MANIFEST).is_file() and (path / "case.yaml").is_file()


def param(name: str, pattern: re.Pattern[str]) -> str | None:
    """A query parameter if it is a short string matching `pattern`, else None."""
    value = st.query_params.get(name)
    if isinstance(value, str) and len(value) <= 128 and pattern.fullmatch(value):
        return value
    return None


def current_run(cfg: Settings) -> Path | None:
    if cfg.takehome is not None:
        seat = takehome.seat(cfg)
        if seat is None:
            return None
        run = takehome.run_of(cfg, seat)
        return run if _is_run(run) else None
    chosen = st.session_state.get(RUN_KEY)
    if chosen and _is_run(Path(chosen)):
        return Path(chosen)
    name = param("case", _RUN_NAME)
    if name and not name.startswith("."):
        candidate = cfg.data_dir / name
        try:
            if _is_run(candidate):
                return candidate
        except OSError:  # a name the file system refuses is simply not a case
            pass
    if cfg.run_dir is not None and _is_run(cfg.run_dir):
        return cfg.run_dir
    return None


def open_run(path: Path | str, cfg: Settings) -> None:
    """Make `path` this session's run (and its attempt the latest one of that run)."""
    path = Path(path).absolute()
    st.session_state[RUN_KEY] = str(path)
    st.session_state.pop(ATTEMPT_KEY, None)
    st.session_state.pop(TOKEN_KEY, None)
    st.query_params.pop(TOKEN_PARAM, None)
    if path.parent != cfg.data_dir:
        st.query_params.pop("case", None)
    keep_in_url(path, cfg)


def keep_in_url(run: Path, cfg: Settings) -> None:
    """Name a run of the data folder in the URL (page switches clear it), so a reload keeps it."""
    if run.parent == cfg.data_dir and st.query_params.get("case") != run.name:
        st.query_params["case"] = run.name


def _own(attempt: Attempt | None, run: Path, token: str | None) -> bool:
    return (
        attempt is not None
        and attempt.run_dir == str(run)
        and attempt.token is not None
        and token is not None
        and secrets.compare_digest(attempt.token, token)
    )


def _hold(attempt: Attempt) -> Attempt:
    """Make `attempt` this session's: its id and token in the session, its token in the URL."""
    st.session_state[ATTEMPT_KEY] = attempt.id
    st.session_state[TOKEN_KEY] = attempt.token
    st.session_state[OWNER_KEY] = attempt.owner
    if st.query_params.get(TOKEN_PARAM) != attempt.token:
        st.query_params[TOKEN_PARAM] = attempt.token
    return attempt


def current_attempt(run: Path, cfg: Settings) -> Attempt:
    """This session's attempt at `run`: the one it holds the token of, the one the URL's token
    names (a reload), or a new one. Never another session's. In take-home mode: the seat's
    one attempt (the token of which stays out of the URL: the seat token is there)."""
    if cfg.takehome is not None:
        seat = takehome.seat(cfg)
        if seat is None or takehome.run_of(cfg, seat) != run:
            raise UnknownAttempt("no take-home seat is open in this session")
        attempt = takehome.attempt(cfg, seat)
        st.session_state[ATTEMPT_KEY] = attempt.id
        st.session_state[TOKEN_KEY] = attempt.token
        st.session_state[OWNER_KEY] = attempt.owner
        return attempt
    store = loaders.store(str(cfg.data_dir))
    attempt_id = st.session_state.get(ATTEMPT_KEY)
    token = st.session_state.get(TOKEN_KEY)
    if attempt_id is not None:
        try:
            held = store.get(int(attempt_id))
        except (UnknownAttempt, ValueError, TypeError):
            held = None
        if _own(held, run, token):
            assert held is not None
            return _hold(held)
        if held is not None and held.run_dir == str(run):
            st.session_state[REFUSED_KEY] = (
                f"Attempt #{held.id} is not this session's attempt, so it was not opened: "
                "an attempt belongs to the person who started it."
            )
        st.session_state.pop(ATTEMPT_KEY, None)
    url_token = param(TOKEN_PARAM, _TOKEN)
    if url_token is not None:
        named = store.by_token(url_token)
        if _own(named, run, url_token):
            assert named is not None
            return _hold(named)
    return _hold(_start(run, cfg))


def owner() -> str | None:
    """The owner token of this person's attempts (None before their first attempt)."""
    return st.session_state.get(OWNER_KEY)


def is_host(cfg: Settings) -> bool:
    """Whether this session gave the server's host token (`?host=<token>` or the History
    page's field); checked in constant time, remembered for the session."""
    if st.session_state.get(HOST_KEY):
        return True
    given = param(HOST_PARAM, _HOST_TOKEN)
    if given is not None:
        st.query_params.pop(HOST_PARAM, None)  # not left in the address bar
        return unlock_host(cfg, given)
    return False


def unlock_host(cfg: Settings, given: str) -> bool:
    ok = bool(cfg.host_token) and secrets.compare_digest(given.strip(), str(cfg.host_token))
    if ok:
        st.session_state[HOST_KEY] = True
    return ok


def _start(run: Path, cfg: Settings) -> Attempt:
    manifest = json.loads((run / MANIFEST).read_text())
    return loaders.store(str(cfg.data_dir)).start(
        run,
        str(manifest.get("scenario", run.name)),
        st.session_state.get(HYPOTHESES_NAME_KEY) or None,
        manifest.get("size"),
        manifest.get("seed"),
        owner=owner(),
    )


def new_attempt(run: Path, cfg: Settings) -> Attempt:
    """A fresh attempt at the same run by the same person (the previous one stays in their
    history), with the hypotheses form emptied."""
    for key in [k for k in st.session_state if str(k).startswith(HYPOTHESES_PREFIX)]:
        if key != HYPOTHESES_NAME_KEY:
            del st.session_state[key]
    return _hold(_start(run, cfg))


def set_name(cfg: Settings) -> None:
    """Store the name typed into the name field on this session's open attempt. An emptied
    field keeps the stored name (Streamlit empties a keyed field that moves from one page to
    another); in take-home mode the name is the seat's, set by the hiring team."""
    attempt_id, token = st.session_state.get(ATTEMPT_KEY), st.session_state.get(TOKEN_KEY)
    if cfg.takehome is not None or not str(st.session_state.get(HYPOTHESES_NAME_KEY) or ""):
        return
    if attempt_id is not None:
        loaders.store(str(cfg.data_dir)).set_user(
            int(attempt_id), token, st.session_state.get(HYPOTHESES_NAME_KEY)
        )


def record(kind: str, detail: Mapping[str, Any], cfg: Settings | None = None) -> None:
    """Log an event of this session's attempt (nothing before it holds one). Never raises:
    a lost event must not cost the person their page."""
    attempt_id, token = st.session_state.get(ATTEMPT_KEY), st.session_state.get(TOKEN_KEY)
    if attempt_id is None or token is None:
        return
    try:
        store = loaders.store(str((cfg or settings()).data_dir))
        store.log(int(attempt_id), token, kind, detail)
    except (StoreError, sqlite3.Error, OSError, ValueError, TypeError):
        logging.getLogger("casesim.dashboard").exception("could not log a %s event", kind)
