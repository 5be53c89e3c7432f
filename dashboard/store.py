"""Attempts and submissions, kept in SQLite in the data folder (`DATA_DIR/casesim.sqlite`).

An attempt is one go at one run folder: started when the candidate opens the case,
submitted once, scored when the answer key is read. A submission, once accepted, must never
be lost and never be replaced: it is written in its own transaction (WAL journal,
`synchronous=FULL`, so the commit is on disk before `submit` returns), and the update only
applies to an attempt that has not been submitted yet ("submitting is final").

An attempt belongs to the person who started it, not to the run: it carries an unguessable
`token` (the dashboard keeps it in the session and the URL) and only that token may name,
submit or resume it. Attempts started one after another by the same person share an `owner`
token, so a person's history is theirs alone. The database file is readable by its owner
only (0600); SQLite gives its -wal and -shm files the same mode.

Take-home mode (`casesim takehome serve`, the store is DIR/casesim.sqlite): each seat has
exactly one attempt, made by `seat_attempt` in one write transaction (a unique index on
`seat` makes a second one impossible), with `seat` = the seat's variant name,
`user` = the seat's name, `run_dir` = str(DIR/variants/<variant>) resolved, and `deadline_at`
= started_at + the cohort's hours. `submit` checks that deadline inside its own write
transaction: a late submit stores nothing but a "late" event and raises `TooLate`.

Events (`log`, `events`): what a person did during an attempt, timestamped, in order. Kinds:
"open" {} (the take-home attempt was created: the clock starts), "page" {"page"},
"choice" {"page", "widget", "value"} (filters and dimensions), "sql" {"sql", "rows" | "error"},
"order" {"ids": [...]} (the full hypothesis order after a change), "submit" {"ids": [...]},
"late" {} (a submit refused by the time box). Practice sessions log too (it is cheap).
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from grading.scoring import Submission, parse_submission

DB_FILE = "casesim.sqlite"
SCHEMA_VERSION = 2
TOKEN_BYTES = 18  # 24 URL-safe characters

_SCHEMA = """
CREATE TABLE IF NOT EXISTS attempts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    run_dir      TEXT NOT NULL,
    scenario_id  TEXT NOT NULL,
    size         TEXT,
    seed         INTEGER,
    user_name    TEXT,
    started_at   TEXT NOT NULL,
    submitted_at TEXT,
    submission   TEXT,
    score        TEXT,
    scored_at    TEXT,
    CHECK ((submitted_at IS NULL) = (submission IS NULL))
);
CREATE INDEX IF NOT EXISTS attempts_by_run ON attempts (run_dir, submitted_at);
CREATE TABLE IF NOT EXISTS events (
    id         INTEGER PRIMARY KEY,
    attempt_id INTEGER NOT NULL,
    at         TEXT NOT NULL,
    kind       TEXT NOT NULL,
    detail     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_attempt ON events (attempt_id, id);
"""
# Version 2: each attempt has its person's token and the owner token of their attempts
# (attempts stored by version 1 have neither: only the host view lists them).
# Take-home columns and the events table are additive (a version-2 reader ignores them), so
# the version stays 2: `seat` (one attempt per seat) and `deadline_at` (the time box).
_COLUMNS_2 = ("token", "owner", "seat", "deadline_at")
_INDEXES_2 = (
    "CREATE UNIQUE INDEX IF NOT EXISTS attempts_by_token ON attempts (token)",
    "CREATE INDEX IF NOT EXISTS attempts_by_owner ON attempts (owner, id)",
    "CREATE UNIQUE INDEX IF NOT EXISTS attempts_by_seat ON attempts (seat)",
)
EVENT_KINDS = ("open", "page", "choice", "sql", "order", "submit", "late")
MAX_DETAIL = 16_000  # characters of an event's JSON detail (a long SQL text is cut)


class StoreError(RuntimeError):
    """A request the attempt store refuses; the message says why."""


class AlreadySubmitted(StoreError):
    """The attempt already has a submission: submitting is final."""


class TooLate(StoreError):
    """The attempt's time box is over: the submit was refused (and logged as "late")."""


class UnknownAttempt(StoreError):
    """No attempt has this id."""


class NotYourAttempt(StoreError):
    """The request names an attempt with a token that is not the attempt's."""


def new_token() -> str:
    """An unguessable token (URL-safe)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def _same(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and secrets.compare_digest(a, b)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _stamp() -> str:
    """An event's time: finer than `now()`, so events of one second keep their order visible."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Event:
    """One thing a person did during an attempt."""

    at: str
    kind: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class Attempt:
    """One attempt at one case, as stored."""

    id: int
    run_dir: str
    scenario_id: str
    size: str | None
    seed: int | None
    user: str | None
    started_at: str
    submitted_at: str | None
    submission: dict[str, Any] | None
    score: dict[str, Any] | None
    scored_at: str | None
    token: str | None = field(default=None, repr=False)
    owner: str | None = field(default=None, repr=False)
    seat: str | None = None
    deadline_at: str | None = None

    @property
    def submitted(self) -> bool:
        return self.submitted_at is not None

    def seconds_left(self, at: datetime | None = None) -> float | None:
        """Seconds until the time box closes (negative after; None without a time box)."""
        if self.deadline_at is None:
            return None
        moment = at or datetime.now(UTC)
        return (datetime.fromisoformat(self.deadline_at) - moment).total_seconds()

    @property
    def minutes(self) -> float | None:
        """Time from start to submission, in minutes (None while open)."""
        if self.submitted_at is None:
            return None
        start = datetime.fromisoformat(self.started_at)
        return (datetime.fromisoformat(self.submitted_at) - start).total_seconds() / 60


def _attempt(row: sqlite3.Row) -> Attempt:
    return Attempt(
        id=row["id"],
        run_dir=row["run_dir"],
        scenario_id=row["scenario_id"],
        size=row["size"],
        seed=row["seed"],
        user=row["user_name"],
        started_at=row["started_at"],
        submitted_at=row["submitted_at"],
        submission=json.loads(row["submission"]) if row["submission"] else None,
        score=json.loads(row["score"]) if row["score"] else None,
        scored_at=row["scored_at"],
        token=row["token"],
        owner=row["owner"],
        seat=row["seat"],
        deadline_at=row["deadline_at"],
    )


class AttemptStore:
    """The attempt history of one data folder. Cheap to create; each call opens its own
    connection, so one store may serve many threads (Streamlit sessions)."""

    def __init__(self, data_dir: Path | str) -> None:
        self.path = Path(data_dir) / DB_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Created private before SQLite opens it (its -wal and -shm files copy this mode).
        os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        os.chmod(self.path, 0o600)
        with self._write() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} was written by a newer casesim (schema {version}); "
                    f"this one reads schema {SCHEMA_VERSION}"
                )
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            columns = {r["name"] for r in db.execute("PRAGMA table_info(attempts)")}
            for column in _COLUMNS_2:
                if column not in columns:
                    db.execute(f"ALTER TABLE attempts ADD COLUMN {column} TEXT")
            for statement in _INDEXES_2:
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.path, timeout=30, isolation_level=None)) as db:
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = FULL")
            yield db

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken before reading so checks and writes cannot race."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def start(
        self,
        run_dir: Path | str,
        scenario_id: str,
        user: str | None = None,
        size: str | None = None,
        seed: int | None = None,
        owner: str | None = None,
    ) -> Attempt:
        """A new, open attempt with its own token; `owner` links it to the person's earlier
        attempts (a new owner token when None)."""
        with self._write() as db:
            cur = db.execute(
                "INSERT INTO attempts (run_dir, scenario_id, size, seed, user_name, started_at,"
                " token, owner) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    str(run_dir),
                    scenario_id,
                    size,
                    seed,
                    _name(user),
                    now(),
                    new_token(),
                    owner or new_token(),
                ),
            )
            attempt_id = cur.lastrowid
        assert attempt_id is not None
        return self.get(attempt_id)

    def seat_attempt(
        self,
        seat: str,
        run_dir: Path | str,
        scenario_id: str,
        user: str | None,
        hours: float,
    ) -> tuple[Attempt, bool]:
        """The one attempt of a take-home seat: the existing one, or a new one whose clock
        starts now (logged as "open"). Returns (attempt, created). Two browsers with the same
        seat token race here; the write transaction and the unique `seat` index make one."""
        existing = self.by_seat(seat)  # every page run asks: a read, no write lock
        if existing is not None:
            return existing, False
        with self._write() as db:
            row = db.execute("SELECT id FROM attempts WHERE seat = ?", (seat,)).fetchone()
            if row is not None:
                attempt_id, created = int(row["id"]), False
            else:
                started = datetime.now(UTC).replace(microsecond=0)
                deadline = started + timedelta(hours=hours)
                cur = db.execute(
                    "INSERT INTO attempts (run_dir, scenario_id, user_name, started_at, token,"
                    " owner, seat, deadline_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        str(run_dir),
                        scenario_id,
                        _name(user),
                        started.isoformat(),
                        new_token(),
                        new_token(),
                        seat,
                        deadline.isoformat(),
                    ),
                )
                assert cur.lastrowid is not None
                attempt_id, created = int(cur.lastrowid), True
                self._insert_event(db, attempt_id, "open", {"hours": hours})
        return self.get(attempt_id), created

    def by_seat(self, seat: str) -> Attempt | None:
        """A take-home seat's attempt (None before its first open)."""
        with self._connect() as db:
            row = db.execute("SELECT * FROM attempts WHERE seat = ?", (seat,)).fetchone()
        return _attempt(row) if row is not None else None

    @staticmethod
    def _insert_event(
        db: sqlite3.Connection, attempt_id: int, kind: str, detail: Mapping[str, Any]
    ) -> None:
        if kind not in EVENT_KINDS:
            raise StoreError(f"unknown event kind {kind!r}")
        text = json.dumps(dict(detail), sort_keys=True, default=str)
        if len(text) > MAX_DETAIL:
            text = json.dumps({"truncated": text[:MAX_DETAIL]})
        db.execute(
            "INSERT INTO events (attempt_id, at, kind, detail) VALUES (?, ?, ?, ?)",
            (attempt_id, _stamp(), kind, text),
        )

    def log(self, attempt_id: int, token: str | None, kind: str, detail: Mapping[str, Any]) -> None:
        """Record one event of an attempt, for the attempt's own token only (NotYourAttempt
        otherwise). Logging continues after the submit (pages opened afterwards)."""
        with self._write() as db:
            self._check_token(db, attempt_id, token)
            self._insert_event(db, attempt_id, kind, detail)

    def events(self, attempt_id: int) -> list[Event]:
        """An attempt's events in the order they happened."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT at, kind, detail FROM events WHERE attempt_id = ? ORDER BY id",
                (attempt_id,),
            ).fetchall()
        return [Event(r["at"], r["kind"], json.loads(r["detail"])) for r in rows]

    def by_token(self, token: str) -> Attempt | None:
        """The attempt this token belongs to (None for an unknown token)."""
        with self._connect() as db:
            row = db.execute("SELECT * FROM attempts WHERE token = ?", (token,)).fetchone()
        return _attempt(row) if row is not None and _same(row["token"], token) else None

    def _check_token(self, db: sqlite3.Connection, attempt_id: int, token: str | None) -> Any:
        row = db.execute(
            "SELECT token, submitted_at, deadline_at FROM attempts WHERE id = ?", (attempt_id,)
        ).fetchone()
        if row is None:
            raise UnknownAttempt(f"no attempt with id {attempt_id}")
        if not _same(row["token"], token):
            raise NotYourAttempt(
                f"attempt {attempt_id} is not this session's attempt: only the person who "
                "started an attempt can name or submit it"
            )
        return row

    def set_user(self, attempt_id: int, token: str | None, user: str | None) -> Attempt:
        """Name the person making an open attempt (their own token only)."""
        with self._write() as db:
            self._check_token(db, attempt_id, token)
            db.execute(
                "UPDATE attempts SET user_name = ? WHERE id = ? AND submitted_at IS NULL",
                (_name(user), attempt_id),
            )
        return self.get(attempt_id)

    def get(self, attempt_id: int) -> Attempt:
        with self._connect() as db:
            row = db.execute("SELECT * FROM attempts WHERE id = ?", (attempt_id,)).fetchone()
        if row is None:
            raise UnknownAttempt(f"no attempt with id {attempt_id}")
        return _attempt(row)

    def submit(
        self,
        attempt_id: int,
        submission: Submission | Mapping[str, Any],
        user: str | None = None,
        *,
        token: str | None,
    ) -> Attempt:
        """Record the attempt's submission (and who made it), once, for the attempt's own
        token only.

        Raises AlreadySubmitted the second time, NotYourAttempt for another token,
        SubmissionError for an invalid submission, TooLate after the attempt's time box
        (checked in the same transaction; the refusal is logged as a "late" event).
        An accepted submit is logged as a "submit" event with its order.
        """
        sub = submission if isinstance(submission, Submission) else parse_submission(submission)
        payload = json.dumps(sub.model_dump(mode="json"), sort_keys=True)
        late_at = None
        with self._write() as db:
            row = self._check_token(db, attempt_id, token)
            if row["submitted_at"] is not None:
                raise AlreadySubmitted(
                    f"attempt {attempt_id} was submitted at {row['submitted_at']}; "
                    "submitting is final"
                )
            moment = datetime.now(UTC)
            deadline = row["deadline_at"]
            if deadline is not None and moment > datetime.fromisoformat(deadline):
                self._insert_event(db, attempt_id, "late", {})
                late_at = deadline  # committed with the "late" event, then refused below
            else:
                db.execute(
                    "UPDATE attempts SET submitted_at = ?, submission = ?,"
                    " user_name = COALESCE(?, user_name) WHERE id = ? AND submitted_at IS NULL",
                    (moment.isoformat(timespec="seconds"), payload, _name(user), attempt_id),
                )
                self._insert_event(db, attempt_id, "submit", {"ids": list(sub.order)})
        if late_at is not None:
            raise TooLate(f"the time box of attempt {attempt_id} closed at {late_at}")
        return self.get(attempt_id)

    def record_score(self, attempt_id: int, score: Mapping[str, Any]) -> Attempt:
        """Attach the score of a submitted attempt (scores can be recomputed; submissions not)."""
        with self._write() as db:
            cur = db.execute(
                "UPDATE attempts SET score = ?, scored_at = ?"
                " WHERE id = ? AND submitted_at IS NOT NULL",
                (json.dumps(dict(score), default=str), now(), attempt_id),
            )
            if cur.rowcount != 1:
                raise StoreError(f"attempt {attempt_id} is unknown or not submitted yet")
        return self.get(attempt_id)

    def history(
        self,
        user: str | None = None,
        run_dir: Path | str | None = None,
        owner: str | None = None,
    ) -> list[Attempt]:
        """Attempts, oldest first; optionally one name's, one run's, or one owner's."""
        sql = "SELECT * FROM attempts WHERE 1 = 1"
        args: list[Any] = []
        if owner is not None:
            sql += " AND owner = ?"
            args.append(owner)
        if user is not None:
            sql += " AND user_name IS ?"
            args.append(user or None)
        if run_dir is not None:
            sql += " AND run_dir = ?"
            args.append(str(run_dir))
        with self._connect() as db:
            rows = db.execute(sql + " ORDER BY started_at, id", args).fetchall()
        return [_attempt(r) for r in rows]


MAX_NAME = 80


def _name(user: str | None) -> str | None:
    """A display name: trimmed, bounded, None when empty."""
    text = " ".join((user or "").split())[:MAX_NAME]
    return text or None
