"""Cohort grading on plain data: scores, problems, time to first correct hypothesis, the
report's figures and CSV (tests/e2e/test_cohort_report.py renders it in Chromium)."""

from __future__ import annotations

import csv
import io

import pytest

from grading.cohort import SeatInput, Step, first_correct, grade_cohort, start_of, top_cause
from grading.report import FIGURE_IDS, figures, render_html, to_csv
from grading.scoring import score

KEY_A = [
    {"id": "feed_map", "share": 0.7, "hit_set": ["FEED", "DATA"]},
    {"id": "rank", "share": 0.2, "hit_set": ["RANK"], "decoy": False},
    {"id": "noise", "share": 0.1, "hit_set": ["NOISE"], "ordered": False},
]
KEY_B = [
    {"id": "deploy", "share": 0.9, "hit_set": ["PERF", "DEPLOY"]},
    {"id": "noise", "share": 0.1, "hit_set": ["NOISE"], "ordered": False},
]
GOOD = {
    "order": ["RANK", "FEED", "NOISE"],
    "shares": {"FEED": 0.6, "RANK": 0.3, "unexplained": 0.1},
}
SOLVER = {"order": ["FEED", "RANK"], "shares": {"FEED": 0.7, "RANK": 0.2, "unexplained": 0.1}}
T0 = "2026-11-30T10:00:00+00:00"


def steps() -> list[Step]:
    return [
        Step(T0, "open", {"hours": 3}),
        Step("2026-11-30T10:02:00.000+00:00", "page", {"page": "Segments"}),
        Step("2026-11-30T10:05:00.000+00:00", "sql", {"sql": "SELECT 1", "rows": 1}),
        Step("2026-11-30T10:09:00.000+00:00", "order", {"ids": ["RANK", "FEED"]}),
        Step("2026-11-30T10:12:30.000+00:00", "order", {"ids": ["DATA", "RANK"]}),
        Step("2026-11-30T10:20:00.000+00:00", "submit", {"ids": ["RANK", "FEED", "NOISE"]}),
    ]


def seats() -> list[SeatInput]:
    return [
        SeatInput("Ada", "case-aaaaaa", KEY_A, GOOD, "store", steps=steps(), started_at=T0,
                  submitted_at="2026-11-30T10:20:00+00:00", solver=SOLVER),
        SeatInput("Bob", "case-bbbbbb", KEY_B, {"order": ["DEPLOY"], "shares": {"DEPLOY": 1}},
                  "file", solver=SOLVER),
        SeatInput("Cy", "case-cccccc", KEY_A, solver=SOLVER),
        SeatInput("Di", "case-dddddd", KEY_B, {"order": ["NOPE"], "shares": {}}, "file"),
    ]  # fmt: skip


def test_each_seat_is_scored_against_its_own_key_and_problems_are_named():
    grades = grade_cohort(seats())
    ada, bob, cy, di = grades
    assert ada.report is not None and bob.report is not None
    assert ada.report.case_score == score(GOOD, KEY_A).case_score
    assert bob.report.case_score == score({"order": ["DEPLOY"], "shares": {"DEPLOY": 1}},
                                          KEY_B).case_score  # fmt: skip
    assert bob.report.case_score != score({"order": ["DEPLOY"], "shares": {"DEPLOY": 1}},
                                          KEY_A).case_score  # fmt: skip
    assert cy.report is None and "no submission" in (cy.problem or "")
    assert di.report is None and "malformed" in (di.problem or "") and "NOPE" in di.problem
    assert ada.solver_score == score(SOLVER, KEY_A).case_score
    assert di.solver_score is None


def test_time_to_first_correct_hypothesis_is_the_first_order_led_by_the_top_cause():
    assert top_cause(KEY_A) == ("feed_map", ("FEED", "DATA"))
    since = start_of(seats()[0])
    # 10:09 puts RANK first (a real but smaller cause); 10:12:30 puts DATA (feed_map's) first
    assert first_correct(steps(), ("FEED", "DATA"), since) == pytest.approx(12.5)
    assert first_correct(steps()[:4], ("FEED", "DATA"), since) is None
    ada = grade_cohort(seats())[0]
    assert ada.first_correct == pytest.approx(12.5)
    assert ada.minutes == pytest.approx(20)
    assert [m.kind for m in ada.timeline] == ["open", "page", "sql", "order", "order", "submit"]


def test_csv_has_one_row_per_candidate_with_the_scores():
    grades = grade_cohort(seats())
    rows = list(csv.DictReader(io.StringIO(to_csv(grades))))
    assert [r["name"] for r in rows] == ["Ada", "Bob", "Cy", "Di"]
    assert float(rows[0]["case_score"]) == pytest.approx(score(GOOD, KEY_A).case_score, abs=1e-4)
    assert rows[2]["case_score"] == "" and rows[2]["problem"]
    assert float(rows[0]["first_correct_minutes"]) == pytest.approx(12.5)


def test_html_holds_every_figure_once_with_plotly_inlined_once():
    grades = grade_cohort(seats())
    assert set(figures(grades)) == set(FIGURE_IDS)
    page = render_html(grades, "Cohort", {"case": "x"})
    for fid in FIGURE_IDS:
        assert f'id="fig-{fid}"' in page
    assert page.count("plotly.js v") == 1  # the library's banner: inlined once
    assert "<script src=" not in page  # nothing fetched when viewed
    assert "Cy (case-cccccc): no submission" in page
    assert "Di (case-dddddd): malformed" in page
