"""Grading a take-home cohort: each seat's submission against its own variant's key.

Plain data in, plain data out: the composition root (`casesim takehome grade`) reads the
folder, the attempt store and the sealed keys, and hands each seat here as a `SeatInput`.
A seat with no submission, or one that does not parse, is graded as a problem (one line:
who, and why) and the others are graded regardless.

Time to the first correct hypothesis: minutes from the attempt's start (the "open" event,
else the attempt's start time) to the first "order" or "submit" event whose first id is in
the hit set of the variant's top cause (the key entry with the largest relevance, as the
scores weigh it). None when no such event exists (never put first, or no events recorded).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from grading.scoring import (
    ScoreReport,
    SubmissionError,
    parse_submission,
    relevances,
    score,
    true_shares_by_id,
)

HYPOTHESIS_KINDS = ("order", "submit")
CSV_NUMBERS = ("case_score", "order_score", "diag_score", "ndcg5", "ac1", "mrr")


@dataclass(frozen=True)
class Step:
    """One logged event, as grading reads it (the store's `Event`, without the store)."""

    at: str
    kind: str
    detail: Mapping[str, Any]


@dataclass(frozen=True)
class SeatInput:
    """Everything known about one seat, gathered by the caller."""

    name: str
    variant: str
    causes: Sequence[Mapping[str, Any]]  # the sealed answer key's causes
    submission: Any = None  # the decoded submission, if one was found
    source: str | None = None  # "store" or "file": where it was found
    problem: str | None = None  # why there is none, when the caller already knows
    steps: Sequence[Step] = ()
    started_at: str | None = None
    submitted_at: str | None = None
    solver: Mapping[str, Any] | None = None  # the reference solver's submission


@dataclass(frozen=True)
class Moment:
    """A point on a candidate's timeline."""

    minutes: float
    kind: str
    label: str


@dataclass
class SeatGrade:
    """One seat's grade and what the cohort report draws from it."""

    name: str
    variant: str
    source: str | None
    problem: str | None
    report: ScoreReport | None
    solver_score: float | None
    top_cause: str
    top_hit_set: tuple[str, ...]
    order: list[str] = field(default_factory=list)
    best_order: list[str] = field(default_factory=list)
    hit_of: dict[str, str] = field(default_factory=dict)  # menu id -> the cause it confirms
    claimed: dict[str, float] = field(default_factory=dict)
    truth: dict[str, float] = field(default_factory=dict)  # true shares on menu ids
    minutes: float | None = None  # start to submission
    first_correct: float | None = None
    timeline: list[Moment] = field(default_factory=list)

    @property
    def graded(self) -> bool:
        return self.report is not None


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _minutes(since: datetime | None, at: str | None) -> float | None:
    moment = _time(at)
    if since is None or moment is None:
        return None
    return (moment - since).total_seconds() / 60


def start_of(seat: SeatInput) -> datetime | None:
    """When the candidate's clock started: the "open" event, else the attempt's start."""
    opened = next((s.at for s in seat.steps if s.kind == "open"), None)
    return _time(opened) or _time(seat.started_at)


def top_cause(causes: Sequence[Mapping[str, Any]]) -> tuple[str, tuple[str, ...]]:
    """The key entry that weighs most in the order score (largest relevance), and its hit
    set; when none weighs (a key of noise alone), the entry with the largest share."""
    rel = relevances(causes)
    best = max(causes, key=lambda c: (rel.get(str(c["id"]), 0.0), float(c["share"])))
    return str(best["id"]), tuple(best["hit_set"])


def first_correct(
    steps: Sequence[Step], hit_set: Sequence[str], since: datetime | None
) -> float | None:
    """Minutes to the first order (or submit) that puts a confirming hypothesis first."""
    for step in steps:
        ids = step.detail.get("ids") if step.kind in HYPOTHESIS_KINDS else None
        if isinstance(ids, list) and ids and ids[0] in hit_set:
            return _minutes(since, step.at)
    return None


def _label(step: Step) -> str:
    d = step.detail
    if step.kind == "page":
        return str(d.get("page", ""))
    if step.kind == "choice":
        return f"{d.get('widget', '')} = {d.get('value', '')}"[:120]
    if step.kind == "sql":
        tail = f"error: {d['error']}" if "error" in d else f"{d.get('rows', '?')} rows"
        return f"{str(d.get('sql', ''))[:100]} ({tail})"
    if step.kind in HYPOTHESIS_KINDS:
        return " > ".join(str(i) for i in (d.get("ids") or [])[:6])
    return ""


def timeline(steps: Sequence[Step], since: datetime | None) -> list[Moment]:
    """Every event with its minute since the start (events without a time are dropped)."""
    out = []
    for step in steps:
        minutes = _minutes(since, step.at)
        if minutes is not None:
            out.append(Moment(minutes, step.kind, _label(step)))
    return out


def grade_seat(seat: SeatInput) -> SeatGrade:
    """Score the seat's submission (if any) and its solver's against the seat's own key."""
    top, hits = top_cause(seat.causes)
    since = start_of(seat)
    grade = SeatGrade(
        name=seat.name,
        variant=seat.variant,
        source=seat.source,
        problem=seat.problem,
        report=None,
        solver_score=None,
        top_cause=top,
        top_hit_set=hits,
        first_correct=first_correct(seat.steps, hits, since),
        timeline=timeline(seat.steps, since),
        minutes=_minutes(since, seat.submitted_at),
    )
    if seat.solver is not None:
        grade.solver_score = score(seat.solver, seat.causes).case_score
    for cause in seat.causes:
        for hid in cause["hit_set"]:
            grade.hit_of.setdefault(str(hid), str(cause["id"]))
    if seat.problem is not None:
        return grade
    if seat.submission is None:
        grade.problem = "no submission (none in the store, no submissions/ file)"
        return grade
    try:
        sub = parse_submission(seat.submission, seat.source or "<submission>")
    except SubmissionError as exc:
        grade.problem = f"malformed submission: {str(exc).splitlines()[0][:300]}"
        return grade
    grade.report = score(sub, seat.causes)
    grade.order = list(sub.order)
    grade.best_order = list(grade.report.best_order)
    grade.claimed = {("NOISE" if k == "unexplained" else k): v for k, v in sub.shares.items()}
    grade.truth = true_shares_by_id(sub.shares, seat.causes)
    return grade


def grade_cohort(seats: Sequence[SeatInput]) -> list[SeatGrade]:
    return [grade_seat(seat) for seat in seats]


def _round(value: float | None, digits: int = 4) -> float | str:
    return "" if value is None else round(value, digits)


def csv_rows(grades: Sequence[SeatGrade]) -> list[dict[str, Any]]:
    """One row per candidate, for the team's spreadsheet."""
    rows = []
    for g in grades:
        numbers = g.report.to_dict() if g.report else {}
        rows.append(
            {
                "name": g.name,
                "variant": g.variant,
                "source": g.source or "",
                "problem": g.problem or "",
                **{k: _round(numbers.get(k)) for k in CSV_NUMBERS},
                "solver_case_score": _round(g.solver_score),
                "minutes_taken": _round(g.minutes, 1),
                "first_correct_minutes": _round(g.first_correct, 1),
                "events": len(g.timeline),
                "order": " ".join(g.order),
                "top_cause": g.top_cause,
            }
        )
    return rows
