"""The case library's table: difficulty from the solver's and a random order's scores."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from casesim.library import CaseRow, case_row, markdown, random_order_score
from tests.conftest import CASES

ROOT = Path(__file__).resolve().parents[2]


def _row(solver: float, random: float, best: float = 1.0) -> CaseRow:
    return CaseRow("c", "c.yaml", ("feed_change",), -0.05, {}, solver, random, best, 0.1)


@pytest.mark.parametrize(
    ("solver", "random", "tier"),
    [(1.0, 0.0, "easy"), (0.95, 0.0, "easy"), (0.9, 0.0, "medium"), (0.6, 0.0, "hard"),
     (0.6, 0.5, "hard"), (0.98, 0.6, "easy")],
)  # fmt: skip
def test_tier_is_the_solvers_headroom_over_a_random_order(solver, random, tier):
    assert _row(solver, random).tier == tier


def test_a_random_order_scores_near_zero_on_the_order_and_is_seeded():
    causes = [
        {"id": "remap", "type": "feed_change", "decoy": False, "share": 0.9, "hit_set": ["FEED"]},
        {"id": "noise", "type": "noise", "decoy": False, "share": 0.1, "hit_set": ["NOISE"],
         "ordered": False},
    ]  # fmt: skip
    first = random_order_score(causes)
    assert first == random_order_score(causes)
    # 0.7 x (order score ~0 in expectation) + 0.3 x the diagnosis of claiming nothing
    assert -0.15 < first < 0.15


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.id == "feed_and_reward"], indirect=True
)  # one two-cause case is enough: the solver's floor on every case is tests/grading's
def test_case_row_ranks_the_solver_between_random_and_best(case):
    scenario, out, _ = case
    row = case_row(ROOT / "scenarios" / "x.yaml", out)
    assert row.case == scenario.id
    assert row.random_score < row.solver_score <= row.best_score + 1e-9
    assert set(row.fault_types) == {f.type for f in scenario.faults}
    assert row.tier in {"easy", "medium", "hard"}
    assert row.habit_score < row.solver_score


def test_the_committed_table_lists_every_shipped_case():
    table = (ROOT / "docs" / "cases.md").read_text()
    listed = set(re.findall(r"^\| \S+ \| (\S+\.yaml) \|", table, re.M))
    shipped = {p.name for p in (ROOT / "scenarios").glob("*.yaml")} - {"baseline.yaml"}
    assert listed == shipped


def test_markdown_has_a_row_per_case():
    text = markdown([_row(0.9, 0.0), _row(1.0, 0.1)], "small")
    assert text.count("| c | c.yaml |") == 2
