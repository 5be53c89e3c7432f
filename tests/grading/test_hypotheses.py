"""The hypothesis registry against the live registries it refers to: the fault types
(sim.faults), the dashboard's pages (dashboard.pages) and the solver (grading.solver)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import dashboard
from dashboard.pages import PAGES, view_path
from grading import solver
from grading.hypotheses import BY_ID, HYPOTHESES, HypothesisEntry
from grading.scoring import MENU_IDS
from sim.faults import FAULT_TYPES

# Menu ids no fault type produces yet (issue 13 adds faults for them). Every other id must be
# confirmed by at least one fault type and have a solver detector.
NOT_PRODUCED_YET = {
    "NOISE",  # the noise remainder of every case, not a fault
}


def fault_hits(cls) -> set[str]:
    """Every id a fault type can hit (a deploy without a regression hits DEPLOY only)."""
    return set(cls.hit_set)


def problems(entries: tuple[HypothesisEntry, ...] = HYPOTHESES) -> list[str]:
    """Every broken link between the registries, one line each."""
    found = []
    by_id = {h.id: h for h in entries}
    if [h.id for h in entries] != list(MENU_IDS):
        found.append("the menu and the registry list different ids")
    for type_name, cls in FAULT_TYPES.items():
        for hid in fault_hits(cls):
            if hid not in by_id:
                found.append(f"fault type {type_name} hits {hid}, which has no registry entry")
            elif type_name not in by_id[hid].fault_types:
                found.append(f"fault type {type_name} hits {hid}, but {hid} does not name it")
    for h in entries:
        for type_name in h.fault_types:
            if type_name not in FAULT_TYPES:
                found.append(f"{h.id} names fault type {type_name}, which does not exist")
            elif h.id not in fault_hits(FAULT_TYPES[type_name]):
                found.append(f"{h.id} names fault type {type_name}, whose hit set lacks {h.id}")
        if not h.fault_types and h.id not in NOT_PRODUCED_YET:
            found.append(f"{h.id}: no fault type produces it and it is not on the allow-list")
        if h.fault_types and h.id in NOT_PRODUCED_YET:
            found.append(f"{h.id}: produced by {h.fault_types}, take it off the allow-list")
        if h.page not in PAGES:
            found.append(f"{h.id}: page {h.page!r} is not a dashboard page")
        elif not (Path(dashboard.__file__).parent / view_path(h.page)).is_file():
            found.append(f"{h.id}: page {h.page!r} has no script {view_path(h.page)}")
        if h.detector is None:
            if h.id not in NOT_PRODUCED_YET:
                found.append(f"{h.id}: a fault produces it but the solver has no detector")
        elif not callable(getattr(solver.Evidence, h.detector, None)):
            found.append(f"{h.id}: detector {h.detector!r} is not a check of the solver")
    return found


def test_the_registries_agree():
    assert problems() == []


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"page": "nowhere"}, "FEED: page 'nowhere' is not a dashboard page"),
        ({"detector": None}, "FEED: a fault produces it but the solver has no detector"),
        ({"detector": "gone"}, "FEED: detector 'gone' is not a check of the solver"),
        ({"fault_types": ()}, "fault type feed_change hits FEED, but FEED does not name it"),
        ({"fault_types": ("feed_change", "nope")}, "FEED names fault type nope, which does"),
    ],
)
def test_a_broken_link_is_named(change, expected):
    """The check fails, naming the link, when a menu id loses its page, detector or fault."""
    broken = dataclasses.replace(BY_ID["FEED"], **change)
    entries = tuple(broken if h.id == "FEED" else h for h in HYPOTHESES)
    assert any(p.startswith(expected) for p in problems(entries)), problems(entries)


def test_an_entry_without_registry_entry_is_named():
    entries = tuple(h for h in HYPOTHESES if h.id != "RANK")
    assert "fault type reward_shift hits RANK, which has no registry entry" in problems(entries)
