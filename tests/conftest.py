"""Shared fixtures: one small simulated run per test session (per xdist worker)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.runner import simulate
from sim.scenario import load_scenario
from sim.world import SIZES

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"


@pytest.fixture(scope="session")
def baseline_scenario():
    return load_scenario(SCENARIOS / "baseline.yaml")


@pytest.fixture(scope="session")
def small_run(tmp_path_factory, baseline_scenario) -> Path:
    """The baseline at `small` size: the realism tests' data."""
    out = tmp_path_factory.mktemp("runs") / "baseline-small"
    simulate(baseline_scenario, SIZES["small"], out)
    return out


# Each case's tests share one xdist worker (one generation per case), cases spread over workers;
# they are the slow lane (`pytest -m "not slow"` runs the rest in minutes).
CASES = [
    pytest.param(p, marks=[pytest.mark.xdist_group(p.stem), pytest.mark.slow], id=p.stem)
    for p in sorted(SCENARIOS.glob("*.yaml"))
    if p.stem != "baseline"
]


_GENERATED: dict[Path, tuple] = {}


@pytest.fixture(scope="session", params=CASES)
def case(request, tmp_path_factory):
    """Every shipped case at small size, with its key: generated once per worker process.

    pytest keeps one value of a parametrised session fixture at a time and sets it up again
    when tests from another module ask for it later (each case was generated twice)."""
    import json

    from casesim.compose import make_case

    if request.param not in _GENERATED:
        scenario = load_scenario(request.param)
        out = tmp_path_factory.mktemp("cases") / scenario.id
        make_case(scenario, SIZES["small"], out, replicates=0)
        key = json.loads((out / "answer_key.json").read_text())
        _GENERATED[request.param] = (scenario, out, key)
    return _GENERATED[request.param]


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, baseline_scenario) -> Path:
    out = tmp_path_factory.mktemp("runs") / "baseline-tiny"
    simulate(baseline_scenario, SIZES["tiny"], out)
    return out
