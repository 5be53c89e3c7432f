"""The SQL worker: answers like run_query, and survives a query it must stop."""

from __future__ import annotations

import pytest

from dashboard.sqlworker import QueryWorker
from sim.sqlguard import QueryFailed, QueryRefused, run_query

COUNT = "SELECT platform, COUNT(*) AS n FROM sessions GROUP BY platform ORDER BY platform"


@pytest.fixture
def worker():
    w = QueryWorker(timeout=4.0, memory_bytes=4 << 30)
    yield w
    w.close()


def test_worker_answers_like_run_query(worker, dash_run):
    got = worker.run(dash_run, COUNT, 100)
    assert got.frame.equals(run_query(dash_run, COUNT, 100).frame)
    assert not got.truncated and got.seconds > 0


def test_worker_passes_on_refusals_and_failures(worker, dash_run):
    with pytest.raises(QueryRefused, match="reads files"):
        worker.run(dash_run, "SELECT * FROM read_csv('x')", 10)
    with pytest.raises(QueryFailed):
        worker.run(dash_run, "SELECT no_such_column FROM sessions", 10)


def test_runaway_query_is_stopped_and_the_worker_replaced(worker, dash_run):
    runaway = (
        "SELECT COUNT(*) AS n FROM impressions a CROSS JOIN impressions b CROSS JOIN impressions c"
    )
    with pytest.raises(QueryFailed, match="stopped after 4 s"):
        worker.run(dash_run, runaway, 10)
    assert worker.run(dash_run, COUNT, 100).frame.height == 3


def test_a_dead_worker_is_replaced(worker, dash_run):
    worker._process.kill()
    worker._process.wait()
    assert worker.run(dash_run, COUNT, 100).frame.height == 3
