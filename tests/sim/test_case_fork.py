"""A case's key reuses its factual run (the root at the earliest onset and the all-faults
branch): the key must be the one the counterfactual runs give from scratch."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from sim.case import key_for_run, make_case
from sim.runner import case_engine, first_onset, plan, warm_world
from sim.scenario import load_scenario, parse_scenario
from sim.truth import MetricSink, run_counterfactuals
from sim.world import SIZES

# The module's tests share one made case: one worker makes it.
pytestmark = pytest.mark.xdist_group("case_fork")
SIZE = SIZES["tiny"]
SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
HEAD = "id: t\ntitle: T\nstart: 2026-08-03\ndays: 21\nreference_days: 7\nseed: 3\n"
# Two faults with different onsets (the later one joins the factual run mid-way), the
# earlier one before the windows' luck starts (day 7) and the later one after it.
TWO_ONSETS = (
    HEAD
    + "luck: 5\ntarget: {change: -0.05}\n"
    + """faults:
  - {type: deploy, id: dep, decoy: true, at: 2026-08-06T10:00:00, server_factor: 1.02}
  - {type: reward_shift, id: rank, at: 2026-08-17T10:00:00, severity: 1.0}
"""
)


def as_json(data: dict) -> dict:
    """A key as its file holds it."""
    return json.loads(json.dumps(data, default=str))


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    scenario = parse_scenario(TWO_ONSETS)
    out = tmp_path_factory.mktemp("fork") / "case"
    make_case(scenario, SIZE, out, luck_tries=0, replicates=0)
    return scenario, out, json.loads((out / "answer_key.json").read_text())


@pytest.fixture(scope="module")
def recomputed(made):
    """The made folder's key computed again from scratch, as an old run without its key gets
    it (`key_for_run`: the counterfactual runs from the folder's scenario, without the
    factual run), and the counterfactual runs it simulated. Made once: both tests below
    compare the made key with it."""
    _, out, _ = made
    (out / "answer_key.json").unlink()
    runs = []

    def kept(*args, **kwargs):
        runs.append(run_counterfactuals(*args, **kwargs))
        return runs[-1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sim.case.run_counterfactuals", kept)
        again = key_for_run(out)
    (cf,) = runs
    return cf, again


def test_reused_run_key_equals_the_resimulated_key(made, recomputed):
    """Every field, to the last bit: the shares, the changes, the cost in simulated hours."""
    _, _, key = made
    cf, again = recomputed
    assert len(cf.changes) == 4
    assert key == as_json(again)
    assert {c["id"] for c in key["causes"]} == {"dep", "rank", "noise"}


def test_key_for_run_computes_the_same_key_again(made, recomputed):
    """A folder without its key (an old run) gets it by simulating: the same key."""
    _, out, key = made
    assert recomputed[1] == key
    assert json.loads((out / "answer_key.json").read_text()) == key
    assert key_for_run(out) == key  # now read back, not computed


def state_differences(a: object, b: object, path: str = "state") -> list[str]:
    """Where two engine states differ (arrays bit for bit, numbers by value)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        same = (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.dtype == b.dtype
            and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
        )
        return [] if same else [path]
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return [f"{path} keys {sorted(map(str, set(a) ^ set(b)))}"]
        return [d for k in a for d in state_differences(a[k], b[k], f"{path}[{k!r}]")]
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        if len(a) != len(b):
            return [f"{path} length"]
        pairs = enumerate(zip(a, b, strict=True))
        return [d for i, (x, y) in pairs for d in state_differences(x, y, f"{path}[{i}]")]
    if dataclasses.is_dataclass(a) or hasattr(a, "__dict__"):
        if type(a) is not type(b):
            return [f"{path} type"]
        return state_differences(vars(a), vars(b), path)
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def test_a_fault_changes_nothing_before_its_onset():
    """Every fault type the shipped cases use, in an engine before its onset, leaves the
    world as it is without it. The key's branches and the factual run switch a fault on at
    its onset, but calibration trials and the luck search carry later faults from the first
    onset on: they count on this."""
    head = parse_scenario(HEAD)
    onset = head.start_time + timedelta(days=3)
    faults = {}
    for path in sorted(SCENARIOS.glob("*.yaml")):
        shipped = load_scenario(path)
        for fid, fault in zip(shipped.fault_ids(), shipped.faults, strict=True):
            if fault.type in {f.type for f in faults.values()}:
                continue
            fault = fault.with_severity(1.0) if fault.is_auto else fault
            faults[f"{fault.type}_{fid}"] = fault.shifted((onset.date() - fault.at.date()).days)
    assert len(faults) >= 10
    scenario = head.model_copy(update={"faults": list(faults.values())})
    hour = first_onset(faults, plan(scenario).current)
    assert 72 <= hour < 96
    states = []
    for present in ({}, faults):
        streams, state = warm_world(scenario, SIZE, scenario.seed)
        engine = case_engine(scenario, streams, state, MetricSink(), present)
        engine.run(hour)
        states.append(engine.state)
    bare, carried = states
    assert not any(carried.fault_memory.values()), "a fault remembered something before onset"
    carried.fault_memory = {}
    assert state_differences(bare, carried) == []
