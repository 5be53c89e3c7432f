"""The truth, for the debrief only: the answer key, the score, the reference solver.

Everything here opens only for a submitted attempt: `answer_key` refuses otherwise, and the
debrief page is not even registered before submission. This is the dashboard's one reader
of `answer_key.json`. It never computes a missing key (that runs counterfactual simulations:
`casesim key RUN` does it, outside any web request); the debrief says "no key" instead.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from dashboard.store import Attempt, AttemptStore
from grading.scoring import SUBMISSION_ABOUT, score
from runfolder.layout import ANSWER_KEY, MANIFEST
from runfolder.takehome import COHORT_FILE, SEALED_DIR, VARIANTS_DIR


class NotSubmitted(PermissionError):
    """The answer key was asked for before the attempt was submitted."""


class KeyUnavailable(RuntimeError):
    """The run has no answer key (a hiring bundle, or a run made with --no-key)."""


def _key_path(run: Path) -> Path:
    """The run's key; a take-home variant's is sealed away: DIR/sealed/<variant>/."""
    path = run / ANSWER_KEY
    home = run.parent.parent
    if not path.is_file() and run.parent.name == VARIANTS_DIR and (home / COHORT_FILE).is_file():
        return home / SEALED_DIR / run.name / ANSWER_KEY
    return path


@st.cache_data(show_spinner="Reading the answer key…")
def _key(run: str) -> dict[str, Any]:
    path = _key_path(Path(run))
    if not path.is_file():
        raise KeyUnavailable(
            f"no key: {Path(run).name} has no {ANSWER_KEY} (`casesim key {run}` computes it)"
        )
    return json.loads(path.read_text(encoding="utf-8"))


def answer_key(run: Path, attempt: Attempt) -> dict[str, Any]:
    """The run's answer key, for a submitted attempt at that run only."""
    if not attempt.submitted or attempt.run_dir != str(run):
        raise NotSubmitted("the answer key opens only after this attempt is submitted")
    return _key(str(run))


def attempt_score(store: AttemptStore, run: Path, attempt: Attempt) -> dict[str, Any]:
    """The attempt's stored score, computing and storing it the first time."""
    if attempt.score is not None:
        return attempt.score
    key = answer_key(run, attempt)
    report = score(attempt.submission or {}, key["causes"]).to_dict()
    store.record_score(attempt.id, report)
    return report


def submission_file(run: Path, attempt: Attempt) -> dict[str, Any]:
    """The submission as the candidate downloads it for the hiring team: the scored fields,
    and under `about` who made it, on which run (the folder, and a fingerprint of its
    tables that a bundle shares with its full run), which attempt, and the time it took."""
    manifest = json.loads((run / MANIFEST).read_text())
    shas = "".join(t.get("sha256", "") for _, t in sorted(manifest.get("tables", {}).items()))
    minutes = attempt.minutes
    about = {
        "name": attempt.user,
        "run": run.name,
        "run_fingerprint": hashlib.sha256(shas.encode()).hexdigest()[:16],
        "scenario": attempt.scenario_id,
        "size": attempt.size,
        "seed": attempt.seed,
        "attempt": attempt.id,
        "started_at": attempt.started_at,
        "submitted_at": attempt.submitted_at,
        "time_spent_minutes": None if minutes is None else round(minutes, 1),
    }
    return {**(attempt.submission or {}), SUBMISSION_ABOUT: about}


@dataclass(frozen=True)
class SolverView:
    """The reference solver's submission and reasoning, or why it is not available."""

    submission: dict[str, Any] | None
    reasoning: list[str]
    notice: str | None = None


@st.cache_data(show_spinner="Running the reference solver on this run…")
def solver(run: str) -> SolverView:
    """The reference solver's diagnosis of the run (it reads the tables only)."""
    try:
        from grading.solver import solve
    except ImportError:
        return SolverView(None, [], "The reference solver is not available in this build.")
    try:
        result = solve(Path(run))
    except Exception as exc:  # the debrief must not fail because the baseline did
        return SolverView(None, [], f"The reference solver failed on this run: {exc}")
    return SolverView(dict(result.submission), list(result.reasoning))


def debrief_words(submission: dict[str, Any], key: dict[str, Any]) -> str | None:
    """The plain-text debrief of `grading.debrief`, when that module is present."""
    try:
        from grading.debrief import debrief_text
        from grading.scoring import parse_submission
    except ImportError:
        return None
    try:
        return debrief_text(parse_submission(submission), score(submission, key["causes"]), key)
    except Exception:
        return None
