"""Calibration records: a matching record replaces the luck search and the calibration, and
gives the very case the search would; anything else is ignored or refused, never shipped."""

from __future__ import annotations

import json

import pytest

from sim import calibration_record as records
from sim.case import make_case, realize
from sim.scenario import parse_scenario
from sim.world import SIZES

pytestmark = pytest.mark.xdist_group("calibration_record")

AUTO = """id: rec
title: T
start: 2026-08-03
days: 21
reference_days: 0
seed: 3
noise_bound: 0.05
target: {change: -0.08, tolerance: 0.01}
faults:
  - {type: reward_shift, id: rank, at: 2026-08-16T10:00:00, severity: auto}
"""
TINY = SIZES["tiny"]


class Searched(Exception):
    """Raised by the stand-ins: the case searched a luck or calibrated."""


def _forbid_search(monkeypatch):
    def refuse(*args, **kwargs):
        raise Searched

    monkeypatch.setattr("sim.case.quiet_luck", refuse)
    monkeypatch.setattr("sim.case.calibrate", refuse)


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    """The scenario, a fresh case of it (searched and calibrated), and its record file: the
    record holds the realization that case searched (kept as make_case's call of `realize`
    returned it) and the key it wrote, as `casesim calibrate` would record them."""
    where = tmp_path_factory.mktemp("records")
    scenario = parse_scenario(AUTO)
    searched = []

    def kept(*args, **kwargs):
        searched.append(realize(*args, **kwargs))
        return searched[-1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sim.case.realize", kept)
        make_case(scenario, TINY, where / "fresh", luck_tries=3, replicates=0)
    (realized,) = searched
    key = json.loads((where / "fresh" / "answer_key.json").read_text())
    assert realized.report is not None and realized.tried is not None
    entry = records.from_key(
        realized.scenario, scenario, "tiny", 3, realized.tried, realized.report.severities, key
    )
    path = where / "rec.calibration.json"
    records.store(path, "rec.yaml", entry)
    return scenario, where / "fresh", path


def test_a_matching_record_gives_the_searched_case_without_searching(
    calibrated, tmp_path, monkeypatch
):
    scenario, fresh, path = calibrated
    _forbid_search(monkeypatch)
    said: list[str] = []
    make_case(
        scenario, TINY, tmp_path / "reused", luck_tries=3, replicates=0, calibration=path,
        log=said.append,
    )  # fmt: skip
    assert any("reusing" in line for line in said)
    for name in ("answer_key.json", "scenario.yaml"):
        assert (tmp_path / "reused" / name).read_bytes() == (fresh / name).read_bytes(), name


def test_a_changed_scenario_ignores_the_record(calibrated, tmp_path, monkeypatch):
    scenario, _, path = calibrated
    edited = scenario.model_copy(update={"noise_bound": 0.04})
    assert records.lookup(path, edited, "tiny", 3) is None
    assert records.lookup(path, scenario, "tiny", 4) is None  # another seed
    assert records.lookup(path, scenario, "small", 3) is None  # another size
    _forbid_search(monkeypatch)
    with pytest.raises(Searched):
        make_case(edited, TINY, tmp_path / "r", luck_tries=3, calibration=path)
    with pytest.raises(Searched):  # --recalibrate: no record passed
        make_case(scenario, TINY, tmp_path / "r", luck_tries=3)
    assert not (tmp_path / "r").exists()


def test_a_stale_record_is_refused_and_writes_nothing(calibrated, tmp_path, monkeypatch):
    """A record the simulator no longer agrees with (here: a severity that lands the change
    far from its band) fails in one line that says to re-calibrate."""
    scenario, _, path = calibrated
    stale = tmp_path / "rec.calibration.json"
    (entry,) = records.read_entries(path)
    entry.severities = {"rank": 0.0}
    records.store(stale, "rec.yaml", entry)
    _forbid_search(monkeypatch)
    with pytest.raises(records.StaleRecordError) as refused:  # no replicate worlds: not needed
        make_case(scenario, TINY, tmp_path / "run", luck_tries=3, replicates=0, calibration=stale)
    message = str(refused.value)
    assert "\n" not in message and "casesim calibrate" in message and "outside its band" in message
    assert not (tmp_path / "run").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.calibration.json"]


def test_store_keeps_other_entries_and_replaces_its_own(calibrated, tmp_path):
    _, _, path = calibrated
    (entry,) = records.read_entries(path)
    target = tmp_path / "r.calibration.json"
    records.store(target, "r.yaml", entry)
    other = records.Calibration.from_json({**entry.to_json(), "seed": 9, "luck": 99})
    records.store(target, "r.yaml", other)
    records.store(target, "r.yaml", records.Calibration.from_json({**entry.to_json(), "luck": 5}))
    got = {(e.seed, e.luck) for e in records.read_entries(target)}
    assert got == {(3, 5), (9, 99)}
    assert [p.name for p in tmp_path.iterdir()] == [target.name]  # no temporary file left
    assert json.loads(target.read_text())["scenario"] == "r.yaml"


def test_a_damaged_record_is_one_clear_error(tmp_path):
    bad = tmp_path / "x.calibration.json"
    bad.write_text("{not json")
    with pytest.raises(records.RecordError, match="casesim calibrate"):
        records.read_entries(bad)


def test_rewording_a_case_keeps_its_record_and_changing_it_does_not():
    """Only what the simulation depends on is in the record's digest: a coach may reword the
    title, brief or teaching note without re-calibrating."""
    scenario = parse_scenario(AUTO)
    entry = records.Calibration(scenario.calibration_digest(), "tiny", 3, 0)
    reworded = scenario.model_copy(
        update={"id": "other", "title": "U", "brief": "Why?", "teaching": "Look first."}
    )
    assert entry.matches(reworded, "tiny", 3)
    moved = parse_scenario(AUTO.replace("2026-08-16T10:00:00", "2026-08-16T11:00:00"))
    assert not entry.matches(moved, "tiny", 3)
    assert not entry.matches(scenario, "tiny", 4)
