"""Attempts and submissions: a submission is stored once, durably, and never replaced; an
attempt is its starter's alone (its token), and the store is private to its owner."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading

import pytest

from dashboard.store import (
    DB_FILE,
    AlreadySubmitted,
    AttemptStore,
    NotYourAttempt,
    StoreError,
    UnknownAttempt,
)
from grading.scoring import SubmissionError

GOOD = {"order": ["FEED", "RANK"], "shares": {"FEED": 0.6, "RANK": 0.3, "unexplained": 0.1}}


def test_start_and_get(tmp_path):
    store = AttemptStore(tmp_path)
    a = store.start("/runs/x", "late_august_dip", size="default", seed=7)
    assert a.id == 1 and not a.submitted and a.minutes is None
    assert store.get(a.id) == a
    assert store.by_token(a.token) == a and store.by_token("x" * 24) is None
    with pytest.raises(UnknownAttempt):
        store.get(99)


def test_submit_once(tmp_path):
    store = AttemptStore(tmp_path)
    a = store.start("/runs/x", "s")
    done = store.submit(a.id, GOOD, user="  Ada ", token=a.token)
    assert done.submitted and done.user == "Ada" and done.minutes is not None
    assert done.submission["order"] == ["FEED", "RANK"]
    with pytest.raises(AlreadySubmitted, match="submitting is final"):
        store.submit(a.id, {"order": ["NOISE"], "shares": {"unexplained": 1.0}}, token=a.token)
    assert store.get(a.id).submission == done.submission


def test_invalid_submissions_store_nothing(tmp_path):
    store = AttemptStore(tmp_path)
    a = store.start("/runs/x", "s")
    with pytest.raises(SubmissionError, match="shares sum"):
        store.submit(a.id, {"order": ["FEED"], "shares": {"FEED": 0.5}}, token=a.token)
    with pytest.raises(SubmissionError, match="unknown hypothesis"):
        store.submit(a.id, {"order": ["MAGIC"], "shares": {"unexplained": 1.0}}, token=a.token)
    assert not store.get(a.id).submitted
    with pytest.raises(UnknownAttempt):
        store.submit(42, GOOD, token=a.token)


def test_submission_survives_a_new_store(tmp_path):
    a = AttemptStore(tmp_path).start("/runs/x", "s")
    AttemptStore(tmp_path).submit(a.id, GOOD, token=a.token)
    again = AttemptStore(tmp_path).get(a.id)
    assert again.submitted and again.submission["shares"]["FEED"] == 0.6


def test_durable_settings(tmp_path):
    AttemptStore(tmp_path)
    db = sqlite3.connect(tmp_path / DB_FILE)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA user_version").fetchone()[0] == 2
    db.close()


def test_concurrent_submissions_one_wins(tmp_path):
    store = AttemptStore(tmp_path)
    a = store.start("/runs/x", "s")
    outcomes: list[str] = []

    def submit(share: float) -> None:
        sub = {"order": ["FEED"], "shares": {"FEED": share, "unexplained": 1 - share}}
        try:
            AttemptStore(tmp_path).submit(a.id, sub, token=a.token)
            outcomes.append("ok")
        except AlreadySubmitted:
            outcomes.append("refused")

    threads = [threading.Thread(target=submit, args=(i / 10,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ok"] + ["refused"] * 7


def test_scores_only_for_submitted_attempts(tmp_path):
    store = AttemptStore(tmp_path)
    a = store.start("/runs/x", "s")
    with pytest.raises(StoreError, match="not submitted"):
        store.record_score(a.id, {"case_score": 1.0})
    store.submit(a.id, GOOD, token=a.token)
    scored = store.record_score(a.id, {"case_score": 0.8})
    assert scored.score == {"case_score": 0.8} and scored.scored_at


def test_history(tmp_path):
    store = AttemptStore(tmp_path)
    a = store.start("/runs/x", "s")
    b = store.start("/runs/y", "t")
    store.submit(a.id, GOOD, user="ada", token=a.token)
    assert [x.id for x in store.history()] == [a.id, b.id]
    assert [x.id for x in store.history(user="ada")] == [a.id]
    assert [x.id for x in store.history(run_dir="/runs/y")] == [b.id]


def test_newer_schema_is_refused(tmp_path):
    AttemptStore(tmp_path)
    db = sqlite3.connect(tmp_path / DB_FILE)
    db.execute("PRAGMA user_version = 99")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="newer casesim"):
        AttemptStore(tmp_path)


def test_attempts_are_their_starters(tmp_path):
    """Two people on one run: separate attempts and tokens; a submit with the other's token is
    refused and stores nothing; each person's history holds their attempts only."""
    store = AttemptStore(tmp_path)
    ada = store.start("/runs/x", "s", user="Ada")
    bob = store.start("/runs/x", "s", user="Bob")
    assert ada.id != bob.id and ada.token != bob.token and ada.owner != bob.owner
    assert len(ada.token) >= 24  # unguessable: 18 random bytes
    with pytest.raises(NotYourAttempt, match="not this session's attempt"):
        store.submit(ada.id, GOOD, token=bob.token)
    with pytest.raises(NotYourAttempt):
        store.submit(ada.id, GOOD, token=None)
    with pytest.raises(NotYourAttempt):
        store.set_user(ada.id, bob.token, "Mallory")
    assert not store.get(ada.id).submitted and store.get(ada.id).user == "Ada"
    again = store.start("/runs/x", "s", owner=ada.owner)  # Ada's second attempt
    assert [a.id for a in store.history(owner=ada.owner)] == [ada.id, again.id]
    assert [a.id for a in store.history(owner=bob.owner)] == [bob.id]


def test_names_are_bounded(tmp_path):
    store = AttemptStore(tmp_path)
    a = store.start("/runs/x", "s")
    named = store.set_user(a.id, a.token, "  Ada \n Lovelace" + "x" * 500)
    assert named.user is not None and named.user.startswith("Ada Lovelace")
    assert len(named.user) == 80


def test_store_is_private(tmp_path):
    old = os.umask(0o022)
    try:
        store = AttemptStore(tmp_path)
        a = store.start("/runs/x", "s")
        reader = sqlite3.connect(tmp_path / DB_FILE)  # keeps the -wal and -shm files open
        reader.execute("SELECT COUNT(*) FROM attempts").fetchone()
        store.submit(a.id, GOOD, token=a.token)
        files = [p for p in tmp_path.iterdir() if p.name.startswith(DB_FILE)]
        assert {p.name for p in files} >= {DB_FILE, f"{DB_FILE}-wal", f"{DB_FILE}-shm"}
        for p in files:
            assert stat.S_IMODE(p.stat().st_mode) == 0o600, p.name
        reader.close()
    finally:
        os.umask(old)


def test_version_1_store_is_upgraded(tmp_path):
    """A store written before attempts had tokens keeps its attempts (host view only)."""
    db = sqlite3.connect(tmp_path / DB_FILE)
    db.executescript(
        "CREATE TABLE attempts (id INTEGER PRIMARY KEY AUTOINCREMENT, run_dir TEXT NOT NULL,"
        " scenario_id TEXT NOT NULL, size TEXT, seed INTEGER, user_name TEXT,"
        " started_at TEXT NOT NULL, submitted_at TEXT, submission TEXT, score TEXT,"
        " scored_at TEXT);"
        "INSERT INTO attempts (run_dir, scenario_id, started_at) VALUES ('/r', 's', '2026-01-01');"
        "PRAGMA user_version = 1;"
    )
    db.close()
    store = AttemptStore(tmp_path)
    (old,) = store.history()
    assert old.token is None and old.owner is None
    with pytest.raises(NotYourAttempt):  # nobody holds its token
        store.submit(old.id, GOOD, token=None)
    assert store.start("/r", "s").token


def test_truth_files_are_private(tmp_path):
    """The answer key and the resolved scenario a case writes are readable by the owner only,
    whatever the umask. The baseline made cheap (15 days, no reference weeks, 1,000 users):
    a file's mode does not depend on the size of the world behind it."""
    from casesim.compose import make_case
    from sim.scenario import parse_scenario
    from sim.world import Size
    from tests.conftest import SCENARIOS

    text = (SCENARIOS / "baseline.yaml").read_text()
    short = text.replace("start: 2026-08-03\ndays: 28\nreference_days: 14",
                         "start: 2026-08-16\ndays: 15\nreference_days: 0")  # fmt: skip
    assert "days: 15" in short
    old = os.umask(0o022)
    try:
        make_case(parse_scenario(short), Size("mini", 1_000), tmp_path / "case", luck_tries=0,
                  replicates=0)  # fmt: skip
    finally:
        os.umask(old)
    for name in ("answer_key.json", "scenario.yaml"):
        assert stat.S_IMODE((tmp_path / "case" / name).stat().st_mode) == 0o600, name
    assert stat.S_IMODE((tmp_path / "case" / "case.yaml").stat().st_mode) == 0o644
