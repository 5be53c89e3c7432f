"""Generating a case from the picker: a background job, so the page stays responsive.

`make_case` takes from seconds (tiny) to minutes (default size): calibration, the run and
the counterfactual runs of the answer key. It runs on a worker thread; pages poll the job's
counters, never block on it, and a rerun or a page switch does not interrupt it.
"""

from __future__ import annotations

import math
import threading
import time
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
    """The jobs of one server process (shared by all sessions), one per target folder."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def get(self, target: Path) -> Job | None:
        return self._jobs.get(str(target))

    def start(self, scenario_path: Path, size: str, target: Path, seed: int | None) -> Job:
        """Start generating `target` unless it exists or a job for it is running."""
        with self._lock:
            job = self._jobs.get(str(target))
            if job is not None and (not job.done or job.error is None):
                return job
            job = Job(Path(scenario_path), size, Path(target), seed)
            if (target / MANIFEST).is_file():
                job.phase, job.done, job.finished = "ready", True, job.started
            else:
                threading.Thread(target=job.run, name=f"casesim-{target.name}", daemon=True).start()
            self._jobs[str(target)] = job
            return job
