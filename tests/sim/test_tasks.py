"""The task layer: a key, a quiet-luck choice and a cancelled case do not depend on where the
tasks ran (this process, local worker processes, a local Ray)."""

from __future__ import annotations

import hashlib
import json

import pytest

from sim.case import make_case
from sim.intent import IntentError, quiet_luck
from sim.scenario import parse_scenario
from sim.tasks import SERIAL, LocalTasks, RayTasks, Tasks
from sim.truth import answer_key, key_runs
from sim.world import SIZES

pytestmark = pytest.mark.xdist_group("tasks")  # one local Ray for the module

TWO_FAULTS = """id: t
title: T
start: 2026-08-03
days: 21
reference_days: 0
seed: 3
target: {change: -0.05}
faults:
  - {type: reward_shift, id: rank, at: 2026-08-16T10:00:00, severity: 1.0}
  - {type: deploy, id: dep, decoy: true, at: 2026-08-17T10:00:00, server_factor: 1.02}
"""


def key_digest(tasks: Tasks) -> str:
    """sha256 of a 2-fault key with one replicate world, its tasks run on `tasks`."""
    scenario = parse_scenario(TWO_FAULTS)
    size = SIZES["tiny"]
    cf, others = key_runs(scenario, size, 3, replicates=1, tasks=tasks)
    key = answer_key(scenario, size, 3, cf, others)
    assert len(cf.changes) == 4 and len(others) == 1
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()


@pytest.fixture(scope="module")
def serial_digest() -> str:
    return key_digest(SERIAL)


@pytest.fixture(scope="module")
def local_ray():
    tasks = RayTasks(None, workers=2)
    yield tasks
    tasks.close()


@pytest.fixture(scope="module")
def local_two():
    """Two local worker processes, started once for the tests that only use them (a task's
    result depends on its arguments alone, not on what its worker ran before)."""
    with LocalTasks(2) as tasks:
        yield tasks


def test_the_key_is_identical_in_two_local_processes(serial_digest, local_two):
    assert key_digest(local_two) == serial_digest


def test_the_key_is_identical_on_a_local_ray(serial_digest, local_ray):
    assert local_ray.workers == 2
    assert key_digest(local_ray) == serial_digest


def test_quiet_luck_chooses_the_same_luck_with_one_or_two_workers(baseline_scenario, local_two):
    loose = baseline_scenario.model_copy(update={"noise_bound": 0.05, "reference_days": 0})
    one = quiet_luck(loose, SIZES["tiny"], 3, tries=5)
    two = quiet_luck(loose, SIZES["tiny"], 3, tries=5, tasks=local_two)
    assert (two.luck, two.tried) == (one.luck, one.tried)  # tries past the choice forgotten


def test_a_refused_search_reports_the_same_tries_with_one_or_two_workers(
    baseline_scenario, local_two
):
    strict = baseline_scenario.model_copy(update={"noise_bound": 0.0005, "reference_days": 0})
    with pytest.raises(IntentError) as one:
        quiet_luck(strict, SIZES["tiny"], 3, tries=3)
    with pytest.raises(IntentError) as two:
        quiet_luck(strict, SIZES["tiny"], 3, tries=3, tasks=local_two)
    assert str(two.value) == str(one.value)


def test_ctrl_c_stops_every_worker_and_writes_nothing(tmp_path, baseline_scenario):
    scenario = baseline_scenario.model_copy(update={"noise_bound": 0.05, "reference_days": 0})

    def interrupt_when_a_task_ends(hours: int) -> None:
        if hours > 1:  # a finished task reports its hours at once; the parent's ticks are 1
            raise KeyboardInterrupt

    tasks = LocalTasks(2)
    tasks.pool.submit(int).result()  # the workers are up
    workers = list(tasks.pool._processes.values())
    with pytest.raises(KeyboardInterrupt), tasks:
        make_case(
            scenario,
            SIZES["tiny"],
            tmp_path / "run",
            seed=3,
            luck_tries=4,
            progress=interrupt_when_a_task_ends,
            tasks=tasks,
        )
    assert workers and not any(p.is_alive() for p in workers)
    assert list(tmp_path.iterdir()) == []


def test_a_failing_task_fails_the_batch_in_every_backend(local_two):
    with LocalTasks(2) as tasks, pytest.raises(ZeroDivisionError):
        tasks.map(_divide, [1, 0, 2])
    with pytest.raises(ZeroDivisionError):
        SERIAL.map(_divide, [1, 0, 2])
    assert local_two.map(_divide, [1, 2, 4], shared=8) == [8, 4, 2]  # in submission order


def _divide(shared: int | None, x: int) -> float:
    return (shared or 1) // x
