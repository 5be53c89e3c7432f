"""Attempts and submissions: a submission is stored once, durably, and never replaced."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from sim.scoring import SubmissionError
from sim.store import DB_FILE, AlreadySubmitted, AttemptStore, StoreError, UnknownAttempt

GOOD = {"order": ["FEED", "RANK"], "shares": {"FEED": 0.6, "RANK": 0.3, "unexplained": 0.1}}


def test_start_and_get(tmp_path):
    store = AttemptStore(tmp_path)
    a = store.start("/runs/x", "late_august_dip", size="default", seed=7)
    assert a.id == 1 and not a.submitted and a.minutes is None
    assert store.get(a.id) == a
    assert store.latest("/runs/x") == a and store.latest("/runs/y") is None
    with pytest.raises(UnknownAttempt):
        store.get(99)


def test_submit_once(tmp_path):
    store = AttemptStore(tmp_path)
    a = store.start("/runs/x", "s")
    done = store.submit(a.id, GOOD, user="  Ada ")
    assert done.submitted and done.user == "Ada" and done.minutes is not None
    assert done.submission["order"] == ["FEED", "RANK"]
    with pytest.raises(AlreadySubmitted, match="submitting is final"):
        store.submit(a.id, {"order": ["NOISE"], "shares": {"unexplained": 1.0}})
    assert store.get(a.id).submission == done.submission


def test_invalid_submissions_store_nothing(tmp_path):
    store = AttemptStore(tmp_path)
    a = store.start("/runs/x", "s")
    with pytest.raises(SubmissionError, match="shares sum"):
        store.submit(a.id, {"order": ["FEED"], "shares": {"FEED": 0.5}})
    with pytest.raises(SubmissionError, match="unknown hypothesis"):
        store.submit(a.id, {"order": ["MAGIC"], "shares": {"unexplained": 1.0}})
    assert not store.get(a.id).submitted
    with pytest.raises(UnknownAttempt):
        store.submit(42, GOOD)


def test_submission_survives_a_new_store(tmp_path):
    a = AttemptStore(tmp_path).start("/runs/x", "s")
    AttemptStore(tmp_path).submit(a.id, GOOD)
    again = AttemptStore(tmp_path).get(a.id)
    assert again.submitted and again.submission["shares"]["FEED"] == 0.6


def test_durable_settings(tmp_path):
    AttemptStore(tmp_path)
    db = sqlite3.connect(tmp_path / DB_FILE)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA user_version").fetchone()[0] == 1
    db.close()


def test_concurrent_submissions_one_wins(tmp_path):
    store = AttemptStore(tmp_path)
    a = store.start("/runs/x", "s")
    outcomes: list[str] = []

    def submit(share: float) -> None:
        sub = {"order": ["FEED"], "shares": {"FEED": share, "unexplained": 1 - share}}
        try:
            AttemptStore(tmp_path).submit(a.id, sub)
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
    store.submit(a.id, GOOD)
    scored = store.record_score(a.id, {"case_score": 0.8})
    assert scored.score == {"case_score": 0.8} and scored.scored_at


def test_history(tmp_path):
    store = AttemptStore(tmp_path)
    a = store.start("/runs/x", "s")
    b = store.start("/runs/y", "t")
    store.submit(a.id, GOOD, user="ada")
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
