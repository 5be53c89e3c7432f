"""Shared fixtures: one small simulated run per test session (per xdist worker)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.case_cache import environment_digest

environment_digest()  # the code this session imports next (tests/case_cache.py)

from sim.runner import simulate  # noqa: E402
from sim.scenario import load_scenario  # noqa: E402
from sim.world import SIZES  # noqa: E402

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


UNGROUPED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]):
    """Before the other hooks (xdist's reads the groups): keep a module's tests that share a
    module-scoped fixture (a simulated run) on one worker, which builds it once rather than
    once per worker. After them: mark the tests whose group `--dist loadgroup` dropped
    (pytest 9.2 with pytest-xdist 3.8 does so silently: pytest-xdist#1386). Ungrouped, a
    case's tests land on both workers and one waits, idle, while the other generates it."""
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        shared = info is not None and any(
            fixture.scope == "module" for defs in info.name2fixturedefs.values() for fixture in defs
        )
        if shared and not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))
    result = yield
    if getattr(config.option, "loadgroup", False):  # set in xdist's workers only
        for item in items:
            item.stash[UNGROUPED] = bool(item.get_closest_marker("xdist_group")) and (
                "@" not in item.nodeid
            )
    return result


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.stash.get(UNGROUPED, False):
        pytest.fail("--dist loadgroup ignored this test's xdist_group: pin pytest below 9.2 "
                    "(pytest-xdist#1386)", pytrace=False)  # fmt: skip


# The shipped cases are the slow lane (`pytest -m "not slow"` runs the rest in minutes).
CASES = [
    pytest.param(p, marks=[pytest.mark.xdist_group(p.stem), pytest.mark.slow], id=p.stem)
    for p in sorted(SCENARIOS.glob("*.yaml"))
    if p.stem != "baseline"
]


def built_once(
    tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], object]
) -> Path:
    """`build(folder)` run once per test session, in a folder all xdist workers share, under a
    lock: the first worker to ask builds it, the others wait for it (a worker asking while
    another builds would otherwise build the same thing a second time). Done when the folder
    holds its manifest, which a run folder writes last."""
    import fcntl
    import os

    base = tmp_path_factory.getbasetemp()
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "shared-runs"
    shared.mkdir(exist_ok=True)
    out = shared / name
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / "manifest.json").is_file():
            build(out)
    return out


@pytest.fixture(scope="session", params=CASES)
def case(request, tmp_path_factory):
    """Every shipped case at small size, with its key: generated once per test session.

    The tests of one case run in two modules (tests/sim/test_cases.py, tests/grading/
    test_solver.py) and may land on different xdist workers, so the case is built once for
    all workers (`built_once`). The case's calibration record (scenarios/<stem>.calibration.json,
    `casesim calibrate SCENARIO --size small`) spares the luck search and the calibration; a
    stale one fails. With `$CASESIM_CASE_CACHE` (set by `make test`), a folder an earlier
    session generated from the same scenario, record, code and packages is reused
    (tests/case_cache.py)."""
    import json

    from casesim.compose import make_case
    from sim.calibration_record import record_path
    from tests.case_cache import built_or_cached, fingerprint

    scenario = load_scenario(request.param)
    record = record_path(request.param)
    size, replicates = SIZES["small"], 0
    key = fingerprint(request.param, record, size, replicates)
    out = built_once(
        tmp_path_factory,
        scenario.id,
        lambda out: built_or_cached(
            scenario.id,
            key,
            out,
            lambda folder: make_case(
                scenario, size, folder, replicates=replicates, calibration=record
            ),
            lambda: fingerprint(request.param, record, size, replicates, now=True),
        ),
    )
    return scenario, out, json.loads((out / "answer_key.json").read_text())


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, baseline_scenario) -> Path:
    """The baseline at `tiny` size, simulated once for all workers (never modified by tests)."""
    return built_once(
        tmp_path_factory,
        "baseline-tiny",
        lambda out: simulate(baseline_scenario, SIZES["tiny"], out),
    )
