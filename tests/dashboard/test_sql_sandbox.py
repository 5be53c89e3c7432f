"""The hostile-query corpus, run against the real SQL worker process.

Every probe that got through (or could) the old lexical guard, and the harmless queries it
refused. A hostile query must end with its expected outcome and, whatever happens, nothing
it returns (rows or message) may hold a byte of the answer key, the scenario, /etc/passwd or
the server's environment. A harmless query must simply succeed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from dashboard.sqlresult import QueryError, QueryFailed, QueryRefused
from dashboard.sqlworker import QueryWorker

TOKEN = "host-token-must-stay-behind"
MARKERS = (
    "secret_feed_remap",  # answer_key.json (tests/dashboard/support.py)
    "secret_reward_shift",
    "truth: never read",  # scenario.yaml
    "root:x:0:0",  # /etc/passwd
    TOKEN,  # the server's environment
)
TIMEOUT = 3.0
# The queries meant to run until the time limit stops them get a shorter one: the limit is
# what they test, not its length, and each second of it is a second of the worker's CPU.
# (A query that may end either way keeps TIMEOUT when its cap is what it is meant to meet.)
STOP_AFTER = 1.0

# Outcomes: "refused" (not one read-only statement), "denied" (the engine may not open the
# file), "failed" (other engine error), "stopped" (time limit), "too large" (byte cap).
REFUSED, DENIED, FAILED, STOPPED = "refused", "denied", "failed", "stopped"
TOO_LARGE, MEMORY, DEPTH = "large", "memory", "depth"
EXPECT = {
    REFUSED: (QueryRefused, r"not allowed|statements; run one query"),
    DENIED: (QueryRefused, r"out of reach \(Permission Error"),
    FAILED: (QueryFailed, r"Error"),
    STOPPED: (QueryFailed, r"stopped after"),
    TOO_LARGE: (QueryRefused, r"larger than"),
    MEMORY: (QueryFailed, r"more memory"),
    DEPTH: (QueryFailed, r"expression depth"),
}
NEST = 50_000  # 100 kB of parentheses

HOSTILE: list[tuple[str, str]] = [
    # Statements that write, configure or reach out: refused by DuckDB's own statement type.
    ("DROP VIEW sessions", REFUSED),
    ("CREATE TABLE x AS SELECT * FROM sessions", REFUSED),
    ("INSERT INTO sessions SELECT * FROM sessions", REFUSED),
    ("UPDATE sessions SET platform = 'x'", REFUSED),
    ("DELETE FROM sessions", REFUSED),
    ("COPY (SELECT * FROM sessions) TO '/tmp/casesim-leak.csv'", REFUSED),
    ("COPY sessions TO 'out.parquet'", REFUSED),
    ("ATTACH '/tmp/casesim-leak.db' AS x", REFUSED),
    ("ATTACH '{run}/answer_key.json' AS k (TYPE sqlite)", REFUSED),
    ("INSTALL httpfs", REFUSED),
    ("LOAD httpfs", REFUSED),
    ("FORCE INSTALL sqlite", REFUSED),
    ("PRAGMA database_list", REFUSED),
    ("PRAGMA threads = 64", REFUSED),
    ("SET enable_external_access = true", REFUSED),
    ("SET lock_configuration = false", REFUSED),
    ("RESET memory_limit", REFUSED),
    ("SET VARIABLE v = 1", REFUSED),
    ("EXPORT DATABASE '/tmp/casesim-dump'", REFUSED),
    ("IMPORT DATABASE '{run}'", REFUSED),
    ("CALL pragma_version()", REFUSED),
    ("CREATE MACRO leak(p) AS TABLE SELECT * FROM read_text(p)", REFUSED),
    ("CREATE SECRET s (TYPE s3, KEY_ID 'x', SECRET 'y')", REFUSED),
    ("DETACH memory", REFUSED),
    ("CHECKPOINT", REFUSED),
    ("BEGIN TRANSACTION", REFUSED),
    ("SELECT 1; SELECT * FROM read_text('/etc/passwd')", REFUSED),
    ("SELECT 1; DROP VIEW sessions", REFUSED),
    # Files, by every road: the engine refuses to open anything but the run's tables.
    ("SELECT * FROM read_csv('/etc/passwd', sep = ':')", DENIED),
    ("SELECT * FROM read_text('/etc/passwd')", DENIED),
    ("SELECT * FROM read_blob('/proc/self/environ')", DENIED),
    ("SELECT * FROM read_text('/proc/self/cmdline')", DENIED),
    ("SELECT * FROM read_json('{run}/answer_key.json')", DENIED),
    ("SELECT * FROM read_json_auto('{run}/answer_key.json')", DENIED),
    ("SELECT * FROM read_text('{run}/scenario.yaml')", DENIED),
    (
        "SELECT $$'$$ AS q, * FROM read_csv('{run}/answer_key.json', header = false, "
        "sep = '~', quote = '~') --'",
        DENIED,
    ),
    ("SELECT /* /* */ ' */ * FROM read_text('{run}/answer_key.json') -- '", DENIED),
    ("SELECT * FROM read_text('answer_key.json')", DENIED),
    ("SELECT * FROM read_text('../answer_key.json')", DENIED),
    ("SELECT * FROM '{run}/answer_key.json'", DENIED),
    ("SELECT * FROM 'tables/../answer_key.json'", DENIED),
    ("SELECT * FROM read_text('{run}/tables/../answer_key.json')", DENIED),
    ("SELECT * FROM read_text('file://{run}/answer_key.json')", DENIED),
    ("SELECT * FROM read_text('/proc/self/cwd/../../etc/passwd')", DENIED),
    ("SELECT * FROM read_text('~/.bash_history')", DENIED),
    ("SELECT * FROM glob('{run}/*')", DENIED),
    ("SELECT * FROM glob('/etc/*')", DENIED),
    ("SELECT * FROM read_parquet('{run}/tables/*.parquet')", DENIED),
    (
        "SELECT * FROM read_parquet(['{run}/tables/sessions.parquet', '{run}/answer_key.json'])",
        DENIED,
    ),
    ("SELECT * FROM sniff_csv('/etc/passwd')", DENIED),
    ("SELECT * FROM parquet_metadata('{run}/answer_key.json')", DENIED),
    ("SELECT * FROM read_csv('http://127.0.0.1:9/x.csv')", DENIED),
    ("SELECT * FROM read_text('https://example.com/')", DENIED),
    ("SELECT * FROM query('SELECT * FROM read_text(''/etc/passwd'')')", DENIED),
    ("SELECT * FROM query('DROP VIEW sessions')", FAILED),
    ("SELECT * FROM sqlite_scan('{run}/answer_key.json', 'k')", FAILED),
    ("SELECT getenv('CASESIM_HOST_TOKEN')", FAILED),
    # Resources: time, memory, result size, parser depth.
    ("SELECT COUNT(*) FROM impressions a, impressions b, impressions c", STOPPED),
    ("SELECT SUM(i) FROM range(100000000000000) t(i)", STOPPED),
    # A 150 MB cell: refused as too large, or stopped first on a loaded machine.
    ("SELECT repeat('d', 150000000) AS cell", TOO_LARGE + "|" + STOPPED),
    ("SELECT LPAD('d', 150000000, 'd') AS cell", STOPPED + "|" + TOO_LARGE),
    ("SELECT list(range(1000000000)) AS l", MEMORY),
    ("SELECT " + "(" * NEST + "1" + ")" * NEST, DEPTH),
    ("SELECT " + "1+" * NEST + "1", DEPTH),
    ("SELECT " + "abs(" * NEST + "1" + ")" * NEST, DEPTH),
]

HARMLESS: list[str] = [
    "SELECT COUNT(*) AS n FROM sessions WHERE platform LIKE '/%'",
    "SELECT '%.json' AS pattern, COUNT(*) AS n FROM sessions WHERE app_version LIKE '%.json'",
    "SELECT COUNT(*) AS n FROM sessions WHERE source NOT LIKE 'http://%'",
    "SELECT 'https://example.com/a.parquet' AS url, '/etc/passwd' AS path",
    "SELECT 'read_csv(''/etc/passwd'')' AS looks_like_a_call",
    "SELECT 'DROP TABLE sessions; --' AS text, 'a;b' AS semi",
    "SELECT platform AS set, COUNT(*) AS load FROM sessions GROUP BY platform",
    "SELECT replace(platform, 'i', 'I') AS replace FROM sessions LIMIT 5",
    "SELECT 1 AS copy, 2 AS update, 3 AS call, 4 AS install, 5 AS attach, 6 AS pragma",
    'SELECT 1 AS "read_parquet", 2 AS export',
    "SELECT $$it's a string$$ AS s",
    "SELECT 1 /* nested /* comment */ still */ AS one",
    "SELECT 1;",
    "WITH d AS (SELECT date, COUNT(*) AS n FROM sessions GROUP BY date) "
    "SELECT date, n, SUM(n) OVER (ORDER BY date) AS running FROM d ORDER BY date",
    "SELECT session_id, platform, ROW_NUMBER() OVER (PARTITION BY platform ORDER BY ts) AS rn "
    "FROM sessions QUALIFY rn <= 2",
    "SELECT date, AVG(pages) AS pages, LAG(AVG(pages)) OVER (ORDER BY date) AS before "
    "FROM sessions GROUP BY date ORDER BY date",
    "FROM sessions SELECT platform, city_tier LIMIT 3",
    "SELECT platform, COUNT(*) AS n FROM sessions GROUP BY ALL ORDER BY ALL",
    "SELECT COLUMNS('.*_id') FROM orders LIMIT 3",
    "SELECT date_trunc('week', date) AS week, COUNT(*) AS n FROM sessions GROUP BY 1 ORDER BY 1",
    "SELECT status, median(amount) AS median, quantile_cont(amount, 0.9) AS p90 "
    "FROM orders GROUP BY status",
    "SELECT event, COUNT(DISTINCT session_id) FILTER (WHERE position < 5) AS top "
    "FROM events GROUP BY event",
    "SELECT platform FROM sessions UNION SELECT 'web'",
    "SELECT * FROM changelog ORDER BY ts",
    "SELECT * FROM cube_sessions_daily LIMIT 5",
    "DESCRIBE sessions",
    "SUMMARIZE orders",
    "SELECT * FROM range(20000) t(i)",
    "SELECT s.platform, COUNT(o.order_id) AS orders FROM sessions s "
    "LEFT JOIN orders o USING (session_id) GROUP BY s.platform",
    "SELECT CAST(SUM(amount) AS DOUBLE) / COUNT(*) AS aov, list(DISTINCT status) AS s FROM orders",
]


@pytest.fixture(scope="module")
def worker():
    os.environ["CASESIM_HOST_TOKEN"] = TOKEN  # the worker must not inherit it
    try:
        w = QueryWorker(timeout=TIMEOUT, memory_bytes=4 << 30, grace=5.0)
    finally:
        del os.environ["CASESIM_HOST_TOKEN"]
    yield w
    w.close()


def leaks(text: str) -> list[str]:
    return [m for m in MARKERS if m in text]


def test_the_corpus_is_large_enough():
    assert len(HOSTILE) >= 40 and len(HARMLESS) >= 24
    assert Path("/etc/passwd").read_text().count("root:x:0:0") == 1  # the marker is real


@pytest.mark.parametrize("query, outcome", HOSTILE, ids=[f"h{i}" for i in range(len(HOSTILE))])
def test_hostile_query_reads_nothing_outside_the_tables(
    worker, dash_run, query, outcome, monkeypatch
):
    sql = query.replace("{run}", str(dash_run))
    if outcome.split("|")[0] == STOPPED:
        monkeypatch.setattr(worker, "timeout", STOP_AFTER)
    try:
        result = worker.run(dash_run, sql, 100)
    except QueryError as exc:
        message = str(exc)
        assert not leaks(message), message
        kinds = outcome.split("|")
        assert any(
            isinstance(exc, EXPECT[k][0]) and re.search(EXPECT[k][1], message) for k in kinds
        ), f"expected {outcome}, got {type(exc).__name__}: {message}"
    else:
        shown = str(result.frame.rows())
        assert not leaks(shown), shown
        pytest.fail(f"expected {outcome}, but it ran: {shown[:200]}")


def test_the_tables_and_the_lock_survive_the_corpus(worker, dash_run):
    """After attempts that reach the engine, the views and the locked settings are intact."""
    for sql in (
        "SELECT * FROM query('DROP VIEW sessions')",
        "SELECT * FROM query('CREATE TABLE x AS SELECT 1')",
        "SELECT * FROM query_table('x')",
        "SELECT set_config('enable_external_access', 'true')",
    ):
        with pytest.raises(QueryFailed):
            worker.run(dash_run, sql, 10)
    got = worker.run(
        dash_run,
        "SELECT current_setting('enable_external_access') AS ext, "
        "current_setting('lock_configuration') AS locked, (SELECT COUNT(*) FROM sessions) AS n",
        10,
    )
    ext, locked, n = got.frame.row(0)
    assert (ext, locked) == (False, True) and n > 0
    with pytest.raises(QueryFailed, match="does not exist"):
        worker.run(dash_run, "SELECT * FROM x", 10)  # the CREATE TABLE left nothing


@pytest.mark.parametrize("query", HARMLESS, ids=[f"ok{i}" for i in range(len(HARMLESS))])
def test_harmless_query_runs(worker, dash_run, query):
    result = worker.run(dash_run, query, 10_000)
    assert result.frame.width >= 1
    assert not leaks(str(result.frame.head(50).rows()))


def test_the_run_tables_are_all_there(worker, dash_run):
    names = set(worker.run(dash_run, "SHOW TABLES", 100).frame["name"])
    assert {"sessions", "orders", "events", "impressions", "cube_sessions_daily"} <= names
