"""One attempt per person: sessions on one run never share an attempt, a debrief or a history;
the host sees everyone's with the server's token; bad query parameters are harmless."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import debrief_data, state
from dashboard.generation import Jobs
from dashboard.store import AttemptStore
from grading.scoring import parse_submission
from tests.dashboard.support import (
    APP,
    fake_generator,
    fill_and_submit,
    go,
    ok,
    page_text,
    pages_of,
)

HOST_TOKEN = "host-secret-0123456789"


@pytest.fixture
def session(
    dash_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., AppTest]:
    """A new browser session on the case (all sessions of a test share one server's data
    folder), optionally with query parameters in its address."""
    monkeypatch.setenv("CASESIM_RUN", str(dash_run))
    monkeypatch.setenv("CASESIM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CASESIM_HOST_TOKEN", HOST_TOKEN)
    monkeypatch.setenv("CASESIM_DASHBOARD_RAISE", "1")

    def open_session(**params: str) -> AppTest:
        at = AppTest.from_file(str(APP), default_timeout=60)
        for key, value in params.items():
            at.query_params[key] = value
        at.run()
        ok(at)
        return at

    return open_session


def held(at: AppTest) -> tuple[int, str]:
    return at.session_state[state.ATTEMPT_KEY], at.session_state[state.TOKEN_KEY]


def test_two_sessions_never_share_an_attempt(session, tmp_path):
    ada, bob = session(), session()
    (ada_id, ada_token), (bob_id, bob_token) = held(ada), held(bob)
    assert ada_id != bob_id and ada_token != bob_token
    assert ada.query_params["attempt"] == ada_token  # a reload keeps it
    ada = fill_and_submit(ada, name="Ada")
    assert "debrief" in pages_of(ada)
    bob.run()  # Bob's form is still open, his attempt unsubmitted, the truth locked
    ok(bob)
    assert held(bob) == (bob_id, bob_token)
    assert "debrief" not in pages_of(bob)
    bob = go(bob, "hypotheses")
    assert any(b.key == "hyp_submit" for b in bob.button)
    assert "secret_feed_remap" not in page_text(bob)
    assert not AttemptStore(tmp_path / "data").get(bob_id).submitted


def test_a_reload_resumes_only_with_the_token(session):
    ada = session()
    ada_id, ada_token = held(ada)
    assert held(session(attempt=ada_token))[0] == ada_id  # the same person, reloading
    assert held(session())[0] != ada_id  # anyone else starts their own
    assert held(session(attempt="x" * 24))[0] != ada_id  # an unknown token is no key


def test_a_foreign_attempt_is_never_adopted(session):
    ada = fill_and_submit(session(), name="Ada")
    ada_id = held(ada)[0]
    bob = session()
    bob.session_state[state.ATTEMPT_KEY] = ada_id  # a stale or forged id in Bob's session
    bob.run()
    ok(bob)
    assert held(bob)[0] != ada_id
    assert "debrief" not in pages_of(bob)
    assert any("is not this session's attempt" in w.value for w in bob.sidebar.warning)


def test_submit_on_an_attempt_that_is_not_the_sessions_is_refused(session, tmp_path):
    ada, bob = session(), session()
    bob = go(bob, "hypotheses")
    bob.multiselect(key="hyp_order").set_value(["FEED"]).run()
    bob.text_input(key="hyp_name").input("Bob").run()
    bob.checkbox(key="hyp_confirm").check().run()
    ok(bob)
    bob_id = held(bob)[0]
    bob.session_state[state.TOKEN_KEY] = held(ada)[1]  # the form is Bob's, the token not
    bob.button(key="hyp_submit").click().run()
    ok(bob)
    assert any("is not this session's attempt" in e.value for e in bob.error)
    store = AttemptStore(tmp_path / "data")
    assert not store.get(bob_id).submitted and not store.get(held(ada)[0]).submitted
    assert "debrief" not in pages_of(bob)


def test_an_edit_that_arrives_with_the_click_is_submitted(session, tmp_path):
    """The submission is read when the button is clicked, not when the form was last drawn."""
    at = go(session(), "hypotheses")
    at.multiselect(key="hyp_order").set_value(["FEED", "RANK"]).run()
    at.number_input(key="hyp_share_FEED").set_value(60.0).run()
    at.text_input(key="hyp_name").input("Ada").run()
    at.checkbox(key="hyp_confirm").check().run()
    at.number_input(key="hyp_share_FEED").set_value(40.0)  # no run: sent with the click
    at.button(key="hyp_submit").click().run()
    ok(at)
    stored = AttemptStore(tmp_path / "data").get(held(at)[0])
    assert stored.submission["shares"]["FEED"] == pytest.approx(0.4)
    assert stored.submission["shares"]["unexplained"] == pytest.approx(0.6)


def test_history_shows_your_own_attempts(session, tmp_path):
    fill_and_submit(session(), name="Ada")
    bob = fill_and_submit(session(), name="Bob")
    bob = go(bob, "history")
    table = bob.dataframe[0].value
    assert table["who"].tolist() == ["Bob"]
    text = page_text(bob)
    assert "Ada" not in text and str(tmp_path) not in text
    newcomer = go(session(), "history")  # an attempt just opened, nothing submitted
    assert newcomer.dataframe[0].value["who"].tolist() == [""]


def test_host_view_with_the_token(session, tmp_path):
    fill_and_submit(session(), name="Ada")
    fill_and_submit(session(), name="Bob")
    wrong = session(host="not-the-host-token")
    wrong = go(wrong, "history")
    assert "Ada" not in page_text(wrong) and "Bob" not in page_text(wrong)
    host = session(host=HOST_TOKEN)
    host = go(host, "history")
    assert "Everyone's attempts" in page_text(host)
    assert {"Ada", "Bob"} <= set(host.dataframe[0].value["who"])
    assert "host" not in host.query_params  # not left in the address bar
    # ... or typed into the History page
    typed = go(session(), "history")
    typed.text_input(key="history_host_token").input(HOST_TOKEN).run()
    typed.button(key="history_host_open").click().run()
    ok(typed)
    assert {"Ada", "Bob"} <= set(typed.dataframe[0].value["who"])


@pytest.mark.parametrize(
    "params",
    [
        {"case": "c" * 300},
        {"case": "../../etc"},
        {"case": "x" * 5000, "attempt": "y" * 5000},
        {"attempt": "../../answer_key.json"},
        {"host": "h" * 400},
    ],
)
def test_bad_query_parameters_are_ignored(session, params):
    at = session(**params)  # `session` asserts no exception
    assert at.title[0].value == "Weekly review: feed conversion"
    assert "Traceback" not in page_text(at)


def test_a_page_error_is_a_friendly_message(session, monkeypatch):
    """An exception in a page shows a message with a reference, no traceback or paths."""
    monkeypatch.delenv("CASESIM_DASHBOARD_RAISE")
    import dashboard.svgchart

    def broken(*_, **__):
        raise RuntimeError("/secret/server/path exploded")

    monkeypatch.setattr(dashboard.svgchart, "daily_line", broken)
    at = session()
    assert not at.exception
    (message,) = [e.value for e in at.error]
    assert "Something went wrong" in message and "reference" in message
    assert "/secret/server/path" not in page_text(at)


def test_the_submission_file_says_who_which_run_and_how_long(session, dash_run, tmp_path):
    at = fill_and_submit(session(), name="Ada")
    attempt = AttemptStore(tmp_path / "data").get(held(at)[0])
    data = debrief_data.submission_file(dash_run, attempt)
    about = data["about"]
    assert about["name"] == "Ada" and about["run"] == dash_run.name
    assert about["attempt"] == attempt.id and about["time_spent_minutes"] is not None
    assert len(about["run_fingerprint"]) == 16
    parsed = parse_submission(json.loads(json.dumps(data)))  # `casesim score` reads it
    assert parsed.order == ["FEED", "RANK", "DEPLOY"]
    assert parsed.notes == {"FEED": "PSI jumps in phones"}
    assert at.get("download_button"), "the debrief offers the file"


def test_one_generation_at_a_time(monkeypatch, tmp_path):
    """A second case waits in the queue until the first is generated."""
    gates, log = tmp_path / "gates", tmp_path / "log"
    gates.mkdir()
    fake_generator(monkeypatch, gate=gates, log=log)
    jobs = Jobs()
    a = jobs.start(tmp_path / "s.yaml", "small", tmp_path / "a", None)
    b = jobs.start(tmp_path / "s.yaml", "small", tmp_path / "b", None)
    time.sleep(0.3)
    assert jobs.ahead(b) == 1 and jobs.ahead(a) is None and b.hours == 0
    (gates / "a").touch()
    (gates / "b").touch()
    for _ in range(1200):
        if a.done and b.done:
            break
        time.sleep(0.05)
    assert a.done and b.done and a.error is None and b.error is None
    assert log.read_text().split("\n")[:4] == ["start a", "end a", "start b", "end b"]
