"""Read-only SQL: a good query runs; anything that writes or reaches outside the run is refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest

from sim.cube import ensure_cube
from sim.sqlguard import QueryFailed, QueryRefused, check_query, run_query, run_tables


@pytest.fixture(scope="session")
def sql_run(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sql") / "run"
    shutil.copytree(tiny_run, out)
    (out / "answer_key.json").write_text('{"causes": []}')
    ensure_cube(out)
    return out


def test_a_good_query(sql_run):
    result = run_query(
        sql_run,
        "-- sessions by platform; a comment with a ; inside\n"
        "SELECT platform, COUNT(*) AS n FROM sessions GROUP BY platform ORDER BY platform;",
    )
    assert result.frame.columns == ["platform", "n"] and not result.truncated
    assert result.frame["n"].sum() > 0
    assert result.frame.schema["platform"] == pl.String  # categoricals read as text


def test_with_joins_and_cube_tables(sql_run):
    query = (
        "WITH o AS (SELECT session_id, COUNT(*) AS k FROM orders GROUP BY session_id)\n"
        "SELECT s.platform, SUM(o.k) AS orders FROM sessions s JOIN o USING (session_id)\n"
        "GROUP BY s.platform"
    )
    assert run_query(sql_run, query).frame.height > 0
    cube = run_query(sql_run, "SELECT dim, SUM(sessions) FROM cube_sessions_hourly GROUP BY dim")
    assert "platform" in cube.frame["dim"].to_list()


def test_rows_are_capped(sql_run):
    result = run_query(sql_run, "SELECT * FROM impressions", max_rows=50)
    assert result.frame.height == 50 and result.truncated


def test_only_the_runs_tables_are_reachable(sql_run):
    names = set(run_tables(sql_run))
    assert "sessions" in names and "cube_sessions_daily" in names
    assert not any("answer" in n or "scenario" in n for n in names)
    with pytest.raises(QueryFailed, match="answer_key"):
        run_query(sql_run, "SELECT * FROM answer_key")


@pytest.mark.parametrize(
    "query, reason",
    [
        ("DROP TABLE sessions", "DROP"),
        ("CREATE TABLE t AS SELECT * FROM sessions", "CREATE"),
        ("INSERT INTO sessions SELECT * FROM sessions", "INSERT"),
        ("DELETE FROM sessions", "DELETE"),
        ("UPDATE sessions SET pages = 0", "UPDATE"),
        ("TRUNCATE sessions", "TRUNCATE"),
        ("SHOW TABLES", "SHOW"),
        ("EXPLAIN SELECT * FROM sessions", "EXPLAIN"),
        ("SELECT * INTO t FROM sessions", "INTO"),
        ("WITH a AS (SELECT 1) DELETE FROM sessions", "DELETE"),
        ("SELECT * FROM read_parquet('tables/sessions.parquet')", "read_parquet() reads files"),
        ("SELECT * FROM READ_CSV('x')", "READ_CSV() reads files"),
        ("SELECT * FROM read_json('x')", "reads files"),
        ("SELECT * FROM \"read_ipc\"('x')", "reads files"),
        ("SELECT * FROM sessions WHERE source = '/etc/passwd'", "file path or URL"),
        ("SELECT * FROM sessions WHERE source = 'https://example.com/x'", "file path or URL"),
        ("SELECT * FROM sessions WHERE source = 'answer_key.json'", "file path or URL"),
        ('SELECT * FROM "../answer_key.json"', "file path or URL"),
        ("SELECT 1; SELECT 2", "one query at a time"),
        ("SELECT 1; DROP TABLE sessions", "one query at a time"),
        ("", "empty"),
        ("  ;  ", "empty"),
        ("SELECT 'unterminated", "unterminated string"),
        ("SELECT 1 /* unterminated", "unterminated comment"),
    ],
)
def test_refusals(sql_run, query, reason):
    with pytest.raises(QueryRefused) as exc:
        run_query(sql_run, query)
    assert reason in str(exc.value)


def test_words_inside_strings_and_comments_are_not_keywords():
    assert check_query("SELECT 'drop table x; delete' AS s -- insert into y") == (
        "SELECT 'drop table x; delete' AS s -- insert into y"
    )
    assert check_query("select replace('a', 'a', 'b');") == "select replace('a', 'a', 'b')"


def test_failures_are_explained(sql_run):
    with pytest.raises(QueryFailed, match="nosuch"):
        run_query(sql_run, "SELECT nosuch FROM sessions")
