"""Session state: which run is open and which attempt it is. Small values only (paths, ids).

The run comes from, in order: a case picked in this session, the `case` query parameter (a
run folder's name inside the data folder, so a reload keeps the case), the run given at
launch. The attempt is the latest one stored for that run, or a new one.
"""

from __future__ import annotations

import json
from pathlib import Path

import streamlit as st

from dashboard import loaders
from dashboard.settings import Settings, parse
from sim.cube import MANIFEST
from sim.store import Attempt

RUN_KEY = "casesim_run"
ATTEMPT_KEY = "casesim_attempt"
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


def current_run(cfg: Settings) -> Path | None:
    chosen = st.session_state.get(RUN_KEY)
    if chosen and _is_run(Path(chosen)):
        return Path(chosen)
    name = st.query_params.get("case")
    if name and "/" not in name and "\\" not in name and not name.startswith("."):
        candidate = cfg.data_dir / name
        if _is_run(candidate):
            return candidate
    if cfg.run_dir is not None and _is_run(cfg.run_dir):
        return cfg.run_dir
    return None


def open_run(path: Path | str, cfg: Settings) -> None:
    """Make `path` this session's run (and its attempt the latest one of that run)."""
    path = Path(path).absolute()
    st.session_state[RUN_KEY] = str(path)
    st.session_state.pop(ATTEMPT_KEY, None)
    if path.parent != cfg.data_dir:
        st.query_params.pop("case", None)
    keep_in_url(path, cfg)


def keep_in_url(run: Path, cfg: Settings) -> None:
    """Name a run of the data folder in the URL (page switches clear it), so a reload keeps it."""
    if run.parent == cfg.data_dir and st.query_params.get("case") != run.name:
        st.query_params["case"] = run.name


def current_attempt(run: Path, cfg: Settings) -> Attempt:
    """This session's attempt at `run`: the one in session state, else the run's latest."""
    store = loaders.store(str(cfg.data_dir))
    attempt_id = st.session_state.get(ATTEMPT_KEY)
    if attempt_id is not None:
        attempt = store.get(int(attempt_id))
        if attempt.run_dir == str(run):
            return attempt
    attempt = store.latest(run) or _start(run, cfg)
    st.session_state[ATTEMPT_KEY] = attempt.id
    return attempt


def _start(run: Path, cfg: Settings) -> Attempt:
    manifest = json.loads((run / MANIFEST).read_text())
    return loaders.store(str(cfg.data_dir)).start(
        run,
        str(manifest.get("scenario", run.name)),
        None,
        manifest.get("size"),
        manifest.get("seed"),
    )


def new_attempt(run: Path, cfg: Settings) -> Attempt:
    """A fresh attempt at the same run (the previous one stays in the history), with the
    hypotheses form emptied."""
    for key in [k for k in st.session_state if str(k).startswith(HYPOTHESES_PREFIX)]:
        if key != HYPOTHESES_NAME_KEY:
            del st.session_state[key]
    attempt = _start(run, cfg)
    st.session_state[ATTEMPT_KEY] = attempt.id
    return attempt
