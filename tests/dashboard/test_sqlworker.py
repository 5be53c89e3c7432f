"""The SQL workers: answers, caps, a query stopped or a worker lost, and the pool's queue."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import polars as pl
import pytest

from dashboard import sqlpool
from dashboard.sqlpool import WorkerPool
from dashboard.sqlresult import QueryFailed, QueryRefused, QueryResult
from dashboard.sqlworker import QueryWorker
from tests.dashboard.support import go, ok

COUNT = "SELECT platform, COUNT(*) AS n FROM sessions GROUP BY platform ORDER BY platform"
RUNAWAY = (
    "SELECT COUNT(*) AS n FROM impressions a CROSS JOIN impressions b CROSS JOIN impressions c"
)


@pytest.fixture(scope="module")
def worker():
    w = QueryWorker(timeout=4.0, memory_bytes=4 << 30)
    yield w
    w.close()


def test_worker_answers_like_duckdb_on_the_files(worker, dash_run):
    got = worker.run(dash_run, COUNT, 100)
    path = dash_run / "tables" / "sessions.parquet"
    want = duckdb.sql(COUNT.replace("FROM sessions", f"FROM read_parquet('{path}')")).pl()
    assert got.frame.equals(want)
    assert not got.truncated and got.seconds > 0


def test_rows_are_capped_and_marked(worker, dash_run):
    got = worker.run(dash_run, "SELECT * FROM range(250) t(i)", 100)
    assert got.frame.height == 100 and got.truncated
    assert got.frame["i"].to_list() == list(range(100))


def test_a_result_over_the_byte_cap_is_refused(worker, dash_run):
    with pytest.raises(QueryRefused, match="larger than"):
        worker.run(dash_run, "SELECT repeat('x', 20000000) AS cell", 10)
    assert worker.run(dash_run, "SELECT repeat('x', 1000) AS cell", 10).frame.height == 1


def test_sums_come_back_as_numbers(worker, dash_run):
    """DuckDB's SUM of integers is a HUGEINT (an Arrow decimal): charts need plain numbers."""
    got = worker.run(dash_run, "SELECT SUM(pages) AS p, SUM(pages) / 2 AS half FROM sessions", 10)
    assert got.frame.schema["p"] == pl.Int64 and got.frame.schema["half"] == pl.Float64


def test_worker_passes_on_refusals_and_failures(worker, dash_run):
    with pytest.raises(QueryRefused, match="not allowed"):
        worker.run(dash_run, "DROP VIEW sessions", 10)
    with pytest.raises(QueryRefused, match="out of reach"):
        worker.run(dash_run, "SELECT * FROM read_csv('x')", 10)
    with pytest.raises(QueryFailed):
        worker.run(dash_run, "SELECT no_such_column FROM sessions", 10)


def test_an_error_while_rows_stream_is_explained(worker, dash_run):
    """DuckDB errors met after the first rows reach Python through Arrow as a bare OSError."""
    late = "SELECT CASE WHEN i > 5000 THEN CAST('x' AS INT) ELSE i END AS v FROM range(9000) t(i)"
    with pytest.raises(QueryFailed, match="Conversion Error"):
        worker.run(dash_run, late, 10_000)
    assert worker.run(dash_run, "SELECT 1 AS one", 1).frame.item() == 1


def test_runaway_query_is_interrupted_and_the_worker_kept(worker, dash_run, monkeypatch):
    monkeypatch.setattr(worker, "timeout", 1.0)  # the limit is sent with each query
    pid = worker.pid
    started = time.monotonic()
    with pytest.raises(QueryFailed, match="stopped after 1 s"):
        worker.run(dash_run, RUNAWAY, 10)
    print(f"runaway stopped after {time.monotonic() - started:.2f} s")
    assert worker.pid == pid  # interrupt() stopped it: no restart needed
    assert worker.run(dash_run, COUNT, 100).frame.height == 3


def test_a_worker_lost_mid_query_is_replaced_and_said_so(dash_run):
    w = QueryWorker(timeout=30.0, memory_bytes=4 << 30)
    try:
        w.run(dash_run, "SELECT 1", 1)
        pid = w.pid
        assert pid is not None
        threading.Timer(1.0, w._process.kill).start()  # a crash, as a segfault would be
        with pytest.raises(QueryFailed, match="stopped the SQL worker"):
            w.run(dash_run, RUNAWAY, 10)
        assert w.run(dash_run, COUNT, 100).frame.height == 3 and w.pid != pid
    finally:
        w.close()


def test_a_worker_deaf_to_interrupt_gets_replaced(dash_run):
    """A worker that cannot answer (here: stopped by a signal, as a query that never checks
    for interrupts would hold it) is killed after the grace period and replaced."""
    w = QueryWorker(timeout=1.0, grace=1.0, memory_bytes=4 << 30)
    try:
        w.run(dash_run, "SELECT 1", 1)
        pid = w.pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        with pytest.raises(QueryFailed, match=r"stopped after 1 s \(the worker was replaced\)"):
            w.run(dash_run, "SELECT 1", 1)
        assert w.pid != pid and w.run(dash_run, "SELECT 1 AS one", 1).frame.item() == 1
    finally:
        w.close()


def test_a_query_deaf_to_interrupt_is_stopped_one_way_or_the_other(dash_run):
    """LPAD builds its cell without checking for interrupts: depending on the machine's speed
    the cell is refused as too large, the interrupt lands after it, or the worker is replaced;
    the 150 MB cell never reaches the server and the next query answers."""
    w = QueryWorker(timeout=1.0, grace=1.0, memory_bytes=4 << 30)
    try:
        with pytest.raises((QueryFailed, QueryRefused)):
            w.run(dash_run, "SELECT LPAD('d', 150000000, 'd') AS cell", 1)
        assert w.run(dash_run, "SELECT 1 AS one", 1).frame.item() == 1
    finally:
        w.close()


def until(condition: Callable[[], bool], what: str, seconds: float = 60.0) -> None:
    """Wait for `condition()`: a guard against hangs, not a speed target."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"still waiting for {what}"
        time.sleep(0.01)


def crash_until_done(thread: threading.Thread, worker: QueryWorker) -> None:
    """Kill `worker`'s process (as a crash would) until the query `thread` runs on it gives
    up: sooner than waiting out its time limit. The worker restarts on its next query."""
    while thread.is_alive():
        process = worker._process
        if process is not None:
            process.kill()
        thread.join(0.2)


def hold(pool: WorkerPool, run_dir: Path) -> threading.Thread:
    """A runaway query on `pool`, returned once it holds a worker (until its limit, or until
    `crash_until_done` ends it)."""
    blocker = threading.Thread(
        target=lambda: pytest.raises(QueryFailed, pool.run, run_dir, RUNAWAY, 1)  # noqa: RUF061
    )
    blocker.start()
    until(lambda: any(w._lock.locked() for w in pool.workers), "the runaway to hold a worker")
    return blocker


def test_the_pool_answers_while_one_worker_is_stuck(dash_run):
    pool = WorkerPool(2, lambda: QueryWorker(timeout=20.0, memory_bytes=4 << 30))
    try:
        for _ in range(2):  # both workers have the run open
            pool.run(dash_run, "SELECT 1", 1)
        runaway = hold(pool, dash_run)
        (stuck,) = [w for w in pool.workers if w._lock.locked()]
        assert pool.run(dash_run, "SELECT 1 AS one", 1).frame.item() == 1
        # Answered while the runaway still holds the other worker: it did not queue behind
        # it (bench/sql_pool.py measures how fast).
        assert runaway.is_alive() and stuck._lock.locked()
        crash_until_done(runaway, stuck)  # the time limit: see the runaway test above
    finally:
        pool.close()


def test_a_full_pool_queues_and_reports_the_place(dash_run):
    pool = WorkerPool(1, lambda: QueryWorker(timeout=30.0, memory_bytes=4 << 30))
    places: list[int] = []
    ending: list[threading.Thread] = []

    def waits(ahead: int) -> None:
        places.append(ahead)
        if not ending:  # in line behind the second query: now end the runaway
            ending.append(threading.Thread(target=crash_until_done, args=(blocker, worker)))
            ending[0].start()

    try:
        pool.run(dash_run, "SELECT 1", 1)
        (worker,) = pool.workers
        blocker = hold(pool, dash_run)
        second = threading.Thread(target=lambda: pool.run(dash_run, "SELECT 2", 1))
        second.start()
        until(lambda: pool.waiting() == 1, "the second query to queue")
        assert pool.waiting() == 1 and blocker.is_alive()
        got = pool.run(dash_run, "SELECT 3 AS three", 1, on_wait=waits)
        assert got.frame.item() == 3
        assert 1 in places and places[-1] in (0, 1)  # one query ahead, then next in line
        blocker.join(30)
        second.join(30)
        ending[0].join(30)
    finally:
        pool.close()


def test_a_waiter_that_gives_up_leaves_the_queue(dash_run):
    pool = WorkerPool(1, lambda: QueryWorker(timeout=30.0, memory_bytes=4 << 30))

    def give_up(_: int) -> None:
        raise RuntimeError("the session went away")

    try:
        blocker = hold(pool, dash_run)
        with pytest.raises(RuntimeError):
            pool.run(dash_run, "SELECT 1", 1, on_wait=give_up)
        assert pool.waiting() == 0
        crash_until_done(blocker, pool.workers[0])
        assert pool.run(dash_run, "SELECT 1 AS one", 1).frame.item() == 1
    finally:
        pool.close()


class StubPool:
    """A pool whose every worker is busy for two polls, then answers: counts its queries."""

    size = 2

    def __init__(self) -> None:
        self.queries: list[str] = []

    def run(self, run_dir, sql, max_rows, on_wait=None) -> QueryResult:
        self.queries.append(sql)
        for ahead in (1, 0):
            on_wait(ahead)
        frame = pl.DataFrame({"day": [1, 2, 3], "n": [5, 7, 6]})
        return QueryResult(frame, False, max_rows, 0.01)


def test_the_page_waits_its_turn_then_keeps_its_result(app, monkeypatch):
    pool = StubPool()
    monkeypatch.setattr(sqlpool, "shared", lambda: pool)
    at = go(app(), "sql")
    at.text_area(key="sql_query").input("SELECT day, n FROM t").run()
    at.button(key="sql_run").click().run()
    ok(at)
    assert list(at.dataframe[0].value.columns) == ["day", "n"]
    at.segmented_control(key="sql_chart_kind").set_value("bar").run()
    ok(at)
    assert pool.queries == ["SELECT day, n FROM t"]  # a chart change does not run it again
    at.button(key="sql_run").click().run()
    assert len(pool.queries) == 2  # the button does


def test_scratch_of_dead_servers_is_swept_and_live_ones_kept(tmp_path):
    """A server killed outright leaves its workers' scratch folders; the next one removes
    them, and leaves alone those of servers still running (this one's own, here)."""
    from dashboard.sqlworker import SCRATCH_PREFIX, sweep_scratch

    gone = subprocess.Popen(["true"])
    gone.wait()
    dead = tmp_path / f"{SCRATCH_PREFIX}{gone.pid}-abc"
    live = tmp_path / f"{SCRATCH_PREFIX}{os.getpid()}-def"
    unnamed = tmp_path / f"{SCRATCH_PREFIX}xyz"  # an older server's: no pid to go by
    for folder in (dead, live, unnamed):
        (folder / "spill").mkdir(parents=True)
    assert sweep_scratch(tmp_path) == [dead]
    assert not dead.exists() and live.exists() and unnamed.exists()


def test_a_worker_scratch_is_named_after_its_server(worker):
    assert worker._scratch is not None
    assert Path(worker._scratch).name.startswith(f"casesim-sql-{os.getpid()}-")
