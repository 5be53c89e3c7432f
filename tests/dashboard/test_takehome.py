"""The take-home mode of the dashboard: a seat token opens its own variant only, once, within
the time box; everything the candidate does is logged; nothing of the truth or of other
seats is reachable (by URL or by SQL)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import state, takehome
from dashboard.sqlresult import QueryFailed, QueryRefused
from dashboard.sqlworker import QueryWorker
from dashboard.store import AttemptStore, TooLate
from runfolder.takehome import load_cohort, token_hash
from tests.dashboard.support import APP, SECRETS, go, ok, page_text, pages_of

TRUTH = ("answer_key.json", "scenario.yaml")


def make_cohort(
    source: Path,
    root: Path,
    *,
    seats: int = 3,
    hours: float = 2.0,
    allow_debrief: bool = False,
) -> dict[str, str]:
    """A take-home folder as `takehome create` makes it, from copies of one run: variants
    v1..vN (no truth files), sealed/<v>/ with the truth, cohort.json with token hashes and
    tokens.csv. Returns {variant: token}."""
    root.mkdir(parents=True, mode=0o700)
    tokens = {f"v{i}": f"seat-token-{i}-{os.urandom(9).hex()}" for i in range(1, seats + 1)}
    for variant in tokens:
        run = root / "variants" / variant
        shutil.copytree(source, run, ignore=shutil.ignore_patterns(*TRUTH, ".*"))
        sealed = root / "sealed" / variant
        sealed.mkdir(parents=True, mode=0o700)
        for name in TRUTH:
            if (source / name).is_file():
                shutil.copy(source / name, sealed / name)
                (sealed / name).chmod(0o600)
    cohort = {
        "format": 1,
        "hours": hours,
        "allow_debrief": allow_debrief,
        "candidates": [
            {"name": f"Candidate {v}", "variant": v, "token_sha256": token_hash(t)}
            for v, t in tokens.items()
        ],
    }
    (root / "cohort.json").write_text(json.dumps(cohort, indent=2))
    with (root / "tokens.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["name", "variant", "token"])
        for v, t in tokens.items():
            writer.writerow([f"Candidate {v}", v, t])
    for name in ("cohort.json", "tokens.csv"):
        (root / name).chmod(0o600)
    return tokens


@pytest.fixture
def cohort_dir(dash_run: Path, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    root = tmp_path / "takehome"
    return root, make_cohort(dash_run, root)


@pytest.fixture
def candidate(
    cohort_dir: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., AppTest]:
    """A new browser session on the served take-home, with query parameters in its address."""
    root, _ = cohort_dir
    monkeypatch.delenv("CASESIM_RUN", raising=False)
    monkeypatch.setenv("CASESIM_TAKEHOME", str(root))
    monkeypatch.setenv("CASESIM_DATA_DIR", str(root.parent / "elsewhere"))  # ignored
    monkeypatch.setenv("CASESIM_DASHBOARD_RAISE", "1")

    def open_session(**params: str) -> AppTest:
        at = AppTest.from_file(str(APP), default_timeout=60)
        for key, value in params.items():
            at.query_params[key] = value
        at.run()
        ok(at)
        return at

    return open_session


def fill_and_submit(at: AppTest, **_: str) -> AppTest:
    """The hypotheses form as a candidate fills it (no name field: the seat's name is used)."""
    at = go(at, "hypotheses")
    assert not [t for t in at.text_input if t.key == state.HYPOTHESES_NAME_KEY]
    at.multiselect(key="hyp_order").set_value(["FEED", "RANK", "DEPLOY"]).run()
    at.number_input(key="hyp_share_FEED").set_value(60.0).run()
    at.button(key="hyp_down_FEED").click().run()  # FEED below RANK ...
    at.button(key="hyp_up_FEED").click().run()  # ... and back on top
    at.checkbox(key="hyp_confirm").check().run()
    ok(at)
    at.button(key="hyp_submit").click().run()
    ok(at)
    return at


def store_of(root: Path) -> AttemptStore:
    return AttemptStore(root)


def kinds(root: Path, attempt_id: int) -> list[str]:
    return [e.kind for e in store_of(root).events(attempt_id)]


def test_a_token_opens_its_own_variant_only(candidate, cohort_dir):
    root, tokens = cohort_dir
    at = candidate(token=tokens["v2"], case="v1", attempt="x" * 24)
    attempt = store_of(root).get(at.session_state[state.ATTEMPT_KEY])
    assert attempt.run_dir == str((root / "variants" / "v2").resolve())
    assert attempt.seat == "v2" and attempt.user == "Candidate v2"
    assert at.query_params["token"] == tokens["v2"]  # a reload resumes
    assert "case" not in at.query_params and "attempt" not in at.query_params
    assert {"picker", "history", "debrief"}.isdisjoint(pages_of(at))
    assert "hypotheses" in pages_of(at) and "sql" in pages_of(at)
    text = page_text(at)
    assert "left" in text and "Time box" in text
    assert "seed" not in text and "v1" not in text  # no run name or seed in the sidebar
    assert [a.seat for a in store_of(root).history()] == ["v2"]  # nothing opened for v1


@pytest.mark.parametrize("params", [{}, {"token": "wrong-token-123456"}, {"token": "<b>"}])
def test_a_missing_or_wrong_token_is_refused(candidate, cohort_dir, params):
    root, _ = cohort_dir
    at = candidate(**params, case="v1")
    text = page_text(at)
    assert "does not open a take-home" in text
    for leak in ("v1", "v2", "variants", str(root), "Candidate"):
        assert leak not in text
    assert not pages_of(at) - {"app"}  # no navigation at all
    assert store_of(root).history() == []


def test_one_attempt_per_seat_across_sessions(candidate, cohort_dir):
    root, tokens = cohort_dir
    first = candidate(token=tokens["v1"])
    second = candidate(token=tokens["v1"])  # another browser, the same person
    other = candidate(token=tokens["v3"])
    ids = [s.session_state[state.ATTEMPT_KEY] for s in (first, second, other)]
    assert ids[0] == ids[1] != ids[2]
    assert sorted(a.seat for a in store_of(root).history()) == ["v1", "v3"]
    assert kinds(root, ids[0]).count("open") == 1  # the clock started once
    second = go(second, "overview")  # a page switch clears the URL; the token comes back
    assert second.query_params["token"] == tokens["v1"]
    assert second.session_state[state.ATTEMPT_KEY] == ids[0]


def test_a_wrong_token_after_a_good_one_is_refused(candidate, cohort_dir):
    _, tokens = cohort_dir
    at = candidate(token=tokens["v1"])
    at.query_params["token"] = "not-a-seat-token-0"
    at.run()
    assert "does not open a take-home" in page_text(at)
    assert takehome.SEAT_KEY not in at.session_state


def test_events_are_logged_for_pages_choices_sql_order_and_submit(candidate, cohort_dir):
    root, tokens = cohort_dir
    at = candidate(token=tokens["v1"])
    attempt_id = at.session_state[state.ATTEMPT_KEY]
    at = go(at, "segments")
    at.selectbox(key="segments_dim").set_value("city_tier").run()
    ok(at)
    at = go(at, "sql")
    at.text_area(key="sql_query").input("SELECT COUNT(*) AS n FROM sessions").run()
    at.button(key="sql_run").click().run()
    ok(at)
    at.text_area(key="sql_query").input("SELECT nope FROM nowhere").run()
    at.button(key="sql_run").click().run()
    ok(at)
    at = fill_and_submit(at)
    events = store_of(root).events(attempt_id)
    by_kind: dict[str, list[dict]] = {}
    for e in events:
        by_kind.setdefault(e.kind, []).append(e.detail)
    assert events[0].kind == "open"
    assert [e.at for e in events] == sorted(e.at for e in events)
    assert {"page": "brief"} in by_kind["page"] and {"page": "segments"} in by_kind["page"]
    assert {"page": "segments", "widget": "segments_dim", "value": "city_tier"} in by_kind["choice"]
    ok_sql, bad_sql = by_kind["sql"]
    assert ok_sql["rows"] == 1 and "sessions" in ok_sql["sql"]
    assert "error" in bad_sql and "rows" not in bad_sql
    orders = [d["ids"] for d in by_kind["order"]]
    assert orders[0] == ["FEED", "RANK", "DEPLOY"]
    assert ["RANK", "FEED", "DEPLOY"] in orders and orders[-1] == ["FEED", "RANK", "DEPLOY"]
    assert by_kind["submit"] == [{"ids": ["FEED", "RANK", "DEPLOY"]}]
    assert not any(d["widget"] == "sql_run" for d in by_kind["choice"])  # a button
    done = store_of(root).get(attempt_id)
    assert done.submitted and done.user == "Candidate v1"  # the seat's name


def test_debrief_hidden_unless_allowed(candidate, cohort_dir):
    root, tokens = cohort_dir
    at = fill_and_submit(candidate(token=tokens["v1"]))
    assert "debrief" not in pages_of(at)
    assert "hiring team has your submission" in page_text(at)
    assert not any(s in page_text(at) for s in SECRETS)
    data = json.loads((root / "cohort.json").read_text())
    data["allow_debrief"] = True
    (root / "cohort.json").write_text(json.dumps(data))
    at.run()
    ok(at)
    assert "debrief" in pages_of(at)
    at = go(at, "debrief")  # the key comes from sealed/<variant>/, after the submit only
    assert "no key" not in page_text(at) and "secret_feed_remap" in page_text(at)


def test_a_late_submit_is_refused_and_logged(candidate, cohort_dir):
    root, tokens = cohort_dir
    data = json.loads((root / "cohort.json").read_text())
    data["hours"] = 0.5 / 3600  # half a second
    (root / "cohort.json").write_text(json.dumps(data))
    at = candidate(token=tokens["v1"])
    attempt_id = at.session_state[state.ATTEMPT_KEY]
    time.sleep(1.5)
    at = fill_and_submit(at)
    assert "time box is over" in page_text(at)
    attempt = store_of(root).get(attempt_id)
    assert not attempt.submitted
    assert kinds(root, attempt_id)[-1] == "late"
    with pytest.raises(TooLate):  # and the store, not the page, is what refuses
        store_of(root).submit(
            attempt_id, {"order": ["FEED"], "shares": {"FEED": 1.0}}, token=attempt.token
        )


def test_the_store_keeps_one_attempt_per_seat(tmp_path):
    store = AttemptStore(tmp_path)
    a, made = store.seat_attempt("v1", "/t/variants/v1", "v1", "Ada", 2.0)
    b, again = store.seat_attempt("v1", "/t/variants/v1", "v1", "Ada", 2.0)
    assert made and not again and a.id == b.id and a.token == b.token
    assert a.deadline_at is not None and 7100 < (a.seconds_left() or 0) <= 7200
    with pytest.raises(Exception, match="not this session's"):
        store.log(a.id, "someone-else-token", "page", {"page": "sql"})
    with pytest.raises(Exception, match="unknown event kind"):
        store.log(a.id, a.token, "debug", {})
    assert [e.kind for e in store.events(a.id)] == ["open"]


def test_browsers_racing_on_one_seat_share_one_attempt(tmp_path):
    AttemptStore(tmp_path)
    got: list[int] = []

    def open_seat() -> None:
        attempt, _ = AttemptStore(tmp_path).seat_attempt("v1", "/t/variants/v1", "v1", "A", 1.0)
        got.append(attempt.id)

    threads = [threading.Thread(target=open_seat) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 8 and len(set(got)) == 1
    assert len(AttemptStore(tmp_path).history()) == 1
    assert [e.kind for e in AttemptStore(tmp_path).events(got[0])] == ["open"]


def test_sql_cannot_read_the_team_files(cohort_dir, tmp_path):
    """The sandbox holds the seat's variant only: the cohort, the tokens, the sealed key and
    another variant's tables are out of reach by any file-reading function."""
    root, _ = cohort_dir
    cohort = load_cohort(root)
    run = cohort.variant_dir("v1")
    targets = [
        root / "cohort.json",
        root / "tokens.csv",
        cohort.sealed_dir("v1") / "answer_key.json",
        cohort.variant_dir("v2") / "tables" / "sessions.parquet",
        root / "casesim.sqlite",
    ]
    worker = QueryWorker()
    try:
        assert worker.run(run, "SELECT COUNT(*) AS n FROM sessions", 10).frame.height == 1
        for target in targets:
            for sql in (
                f"SELECT * FROM read_text('{target}')",
                f"SELECT * FROM read_csv('{target}')",
                f"SELECT * FROM read_json_auto('{target}')",
                f"SELECT * FROM read_parquet('{target}')",
                f"SELECT * FROM read_blob('{target}')",
                f"SELECT * FROM '{target}'",
                f"SELECT * FROM glob('{root}/**')",
            ):
                try:
                    got = worker.run(run, sql, 10)
                except (QueryFailed, QueryRefused):
                    continue
                text = got.frame.write_csv()
                assert "token" not in text and "secret" not in text, (sql, text[:200])
                assert got.frame.height == 0, (sql, text[:200])
    finally:
        worker.close()


def test_serve_refuses_a_bad_folder(cohort_dir, tmp_path):
    """`casesim takehome serve` checks the folder before serving: exit 2, one line a problem."""
    from typer.testing import CliRunner

    from casesim.cli import app as cli

    runner = CliRunner()
    missing = runner.invoke(cli, ["takehome", "serve", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "cohort.json: cannot read" in missing.output
    root, _ = cohort_dir
    shutil.copy(root / "sealed" / "v2" / "answer_key.json", root / "variants" / "v2")
    shutil.rmtree(root / "variants" / "v3")
    bad = runner.invoke(cli, ["takehome", "serve", str(root)])
    assert bad.exit_code == 2 and "Traceback" not in bad.output
    assert "v2: holds truth files" in bad.output and "v3: not a finished run" in bad.output
