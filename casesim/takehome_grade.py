"""Gathering a cohort for grading: each seat's sealed key, submission, events and the
reference solver's submission on its variant, as plain `grading.cohort.SeatInput`s.

The submission is the seat's submitted attempt in the attempt store (DIR/casesim.sqlite, found
by the seat and checked against the variant folder), else DIR/submissions/<variant>.json.
What cannot be read becomes the seat's `problem`; the other seats are gathered regardless.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dashboard.store import DB_FILE, AttemptStore
from grading.cohort import SeatInput, Step
from grading.solver import solve
from runfolder.takehome import Cohort, Seat
from sim.inputs import InputError, load_answer_key, load_json


def _solver(run_dir: Path) -> dict[str, Any] | None:
    """The reference solver's submission on a variant (None if it cannot read the folder)."""
    try:
        return solve(run_dir).submission
    except Exception:  # a damaged variant: graded without its difficulty marker
        return None


def _seat(cohort: Cohort, seat: Seat, store: AttemptStore | None) -> SeatInput:
    run_dir = cohort.variant_dir(seat.variant)
    base = {"name": seat.name, "variant": seat.variant}
    try:
        key = load_answer_key(cohort.sealed_dir(seat.variant))
    except InputError as exc:
        return SeatInput(**base, causes=(), problem=f"sealed key unreadable: {exc}")
    if key is None:
        return SeatInput(**base, causes=(), problem="no sealed key")
    attempt = store.by_seat(seat.variant) if store else None
    if attempt is not None and Path(attempt.run_dir).resolve() != run_dir.resolve():
        attempt = None  # a store from another folder: not this seat's attempt
    steps = []
    if attempt is not None and store is not None:
        steps = [Step(e.at, e.kind, e.detail) for e in store.events(attempt.id)]
    timing = {
        "steps": steps,
        "started_at": attempt.started_at if attempt else None,
        "submitted_at": attempt.submitted_at if attempt else None,
        "solver": _solver(run_dir),
    }
    if attempt is not None and attempt.submitted:
        return SeatInput(
            **base, causes=key["causes"], submission=attempt.submission, source="store", **timing
        )
    path = cohort.submission_file(seat.variant)
    if not path.exists():
        problem = None
        if attempt is not None:
            late = any(step.kind == "late" for step in steps)
            problem = f"opened at {attempt.started_at}, never submitted" + (
                " (a submit was refused by the time box)" if late else ""
            )
        return SeatInput(**base, causes=key["causes"], problem=problem, **timing)
    try:
        submission = load_json(path)
    except InputError as exc:
        return SeatInput(
            **base, causes=key["causes"], source="file", problem=f"malformed submission: {exc}",
            **timing,
        )  # fmt: skip
    return SeatInput(**base, causes=key["causes"], submission=submission, source="file", **timing)


def gather_seats(cohort: Cohort) -> list[SeatInput]:
    """Every seat, in the cohort's order."""
    store = AttemptStore(cohort.root) if (cohort.root / DB_FILE).is_file() else None
    return [_seat(cohort, seat, store) for seat in cohort.seats]
