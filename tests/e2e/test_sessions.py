"""A small version of bench/load_sessions.py: three people on one run at once, each making
one attempt and submitting it, then starting a retry. Each investigates one page, a different
one, so that together they visit half the pages (the bench's first round gives each person
that whole half: three times the page views for the same checks). No submission is lost,
nobody sees another's attempt or debrief, no page errors; the store holds one attempt per
person per round. (bench/load_sessions.py runs rounds for minutes.)"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from bench.load_sessions import PAGES, run_load
from dashboard.store import AttemptStore
from tests.dashboard.support import case_folder

pytestmark = pytest.mark.e2e


def test_three_sessions_on_one_run(tiny_run, tmp_path):
    run = case_folder(tiny_run, tmp_path / "case")
    log = tmp_path / "server.log"
    with ThreadPoolExecutor(1) as pool:  # its own thread: Playwright's async API needs a loop
        report = pool.submit(run_load, run, 3, 0, tmp_path, log, 1, True).result(timeout=900)
    problems = [p for person in report.people for p in person.foreign + person.errors]
    assert report.errors == 0 and report.foreign == 0, problems
    assert report.lost == 0
    assert all(len(person.submitted) == 1 for person in report.people), "one round each"
    investigated = [set(person.visited) - {"Hypotheses"} for person in report.people]
    assert all(len(pages) == 1 for pages in investigated), investigated
    assert set.union(*investigated) == set(PAGES[::2])  # the first round's half, between them
    stored = AttemptStore(tmp_path / "data").history()
    owners = {a.owner for a in stored}
    assert len(owners) == 3  # one owner per person, never shared
    for person in report.people:
        mine = [a for a in stored if a.id in person.attempts]
        assert len({a.owner for a in mine}) == 1
        assert {a.id for a in mine if a.submitted} == set(person.submitted)
    assert report.rss_mib > 0 and report.page_p95_s > 0
