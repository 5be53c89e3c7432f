"""Generating a case from the picker: a background job, so the page stays responsive.

`make_case` takes from seconds (tiny) to minutes (default size): calibration, the run and
the counterfactual runs of the answer key. Jobs run one at a time on one worker thread per
server (two at once would halve each other's speed on a small machine and double the memory);
the others wait in a queue whose position the picker shows. Pages poll the job's counters,
never block on it, and a rerun or a page switch does not interrupt it.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from sim.cube import MANIFEST


@dataclass
class Job:
    """One case being generated into `target`."""

    scenario_path: Path
    size: str
    target: Path
    seed: int | None = None
    hours: int = 0
    phase: str = "queued"
    error: str | None = None
    done: bool = False
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    expected_hours: int = 2000

    def tick(self, hours: int) -> None:
        self.hours += int(hours)

    @property
    def fraction(self) -> float:
        """A progress estimate: calibration and counterfactual runs make the total unknown,
        so it approaches 1 as simulated hours grow, and is 1 only when finished."""
        if self.done:
            return 1.0
        return min(0.95, 1 - math.exp(-self.hours / max(self.expected_hours, 1)))

    @property
    def elapsed(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    def run(self) -> None:
        from sim.case import make_case
        from sim.scenario import ScenarioError, load_scenario
        from sim.truth import CalibrationError
        from sim.world import SIZES

        try:
            self.phase = "simulating (calibration, the case, counterfactual runs, the cube)"
            scenario = load_scenario(self.scenario_path)
            per_run = (scenario.days + (scenario.reference_days or 0)) * 24
            self.expected_hours = per_run * (4 + 2 ** len(scenario.faults))
            make_case(scenario, SIZES[self.size], self.target, seed=self.seed, progress=self.tick)
            self.phase = "ready"
        except (CalibrationError, ScenarioError) as exc:
            self.error = f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # shown to the user; the folder was not created
            self.error = f"generation failed: {exc}"
        finally:
            self.finished = time.monotonic()
            self.done = True


class Jobs:
    """The jobs of one server process (shared by all sessions), one per target folder, run
    one at a time in the order they were asked for."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._queue: deque[Job] = deque()
        self._current: Job | None = None
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()

    def get(self, target: Path) -> Job | None:
        return self._jobs.get(str(target))

    def ahead(self, job: Job) -> int | None:
        """How many jobs run or wait before `job` (None unless it is waiting)."""
        with self._lock:
            if job not in self._queue:
                return None
            return self._queue.index(job) + (self._current is not None)

    def start(self, scenario_path: Path, size: str, target: Path, seed: int | None) -> Job:
        """Queue generating `target` unless it exists or a job for it is queued or running."""
        with self._lock:
            job = self._jobs.get(str(target))
            if job is not None and (not job.done or job.error is None):
                return job
            job = Job(Path(scenario_path), size, Path(target), seed)
            if (target / MANIFEST).is_file():
                job.phase, job.done, job.finished = "ready", True, job.started
            else:
                self._queue.append(job)
                if self._worker is None:
                    self._worker = threading.Thread(
                        target=self._drain, name="casesim-generation", daemon=True
                    )
                    self._worker.start()
            self._jobs[str(target)] = job
            return job

    def _drain(self) -> None:
        """Run queued jobs one after another; the thread ends when the queue is empty."""
        while True:
            with self._lock:
                if not self._queue:
                    self._current = self._worker = None
                    return
                job = self._current = self._queue.popleft()
            job.started = time.monotonic()  # the clock counts from the start, not the queue
            job.run()
