"""A case, end to end: find a quiet luck, calibrate `severity: auto` (or reuse both from the
scenario's calibration record, sim/calibration_record.py), run, and write the answer key.

The resolved scenario (with calibrated severities), the answer key and whatever the caller's
`finish` hook adds (the composition root, casesim.compose, adds the dashboard's cube) are
written beside `tables/`, inside the same atomic folder, so a case folder is complete or
absent. The write side never imports the read side: the hook is passed in.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from runfolder.layout import ANSWER_KEY, MANIFEST, SCENARIO_FILE, TRUTH_FILES
from sim.calibration_record import Calibration, StaleRecordError, lookup, stale_problems
from sim.intent import LUCK_TRIES, check_intent, intent_problems, quiet_luck
from sim.output import atomic_folder
from sim.runner import plan, simulate
from sim.scenario import Scenario, load_scenario
from sim.tasks import SERIAL, Tasks
from sim.truth import (
    CalibrationReport,
    FactualTap,
    answer_key,
    calibrate,
    key_runs,
    run_counterfactuals,
)
from sim.world import SIZES, Size

Progress = Callable[[int], None]
Steps = Callable[[str], None]  # a line per step, for output that is not a terminal
REPLICATES = 2  # other worlds for each cause's expected effect (each costs about a key)


def resolved_yaml(scenario: Scenario) -> str:
    return yaml.safe_dump(scenario.model_dump(mode="json", exclude_none=True), sort_keys=False)


def write_private(path: Path, text: str) -> None:
    """Write a truth file atomically, readable by its owner only (0600)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as fh:
        fh.write(text)
    tmp.replace(path)


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    write_private(path, json.dumps(data, indent=2, default=str) + "\n")


class StepTasks(Tasks):
    """A task backend that reports each finished task as a step (progress off a terminal):
    `step(n, total, result)` after the n-th task of a batch of `total`."""

    def __init__(self, inner: Tasks, step: Callable[[int, int, Any], None]) -> None:
        self.inner, self.step = inner, step
        self.workers, self.name = inner.workers, inner.name

    def share(self, obj: Any) -> Any:
        return self.inner.share(obj)

    def submit(self, fn: Any, arg: Any, shared: Any = None) -> Any:
        return self.inner.submit(fn, arg, shared)

    def gather(self, pending: list[Any], on_done: Any = None) -> list[Any]:
        done = [0]

        def finished(result: Any) -> None:
            done[0] += 1
            self.step(done[0], len(pending), result)
            if on_done is not None:
                on_done(result)

        return self.inner.gather(pending, finished)

    def cancel(self) -> None:
        self.inner.cancel()


def _stepped(tasks: Tasks, steps: Steps | None, say: Callable[[int, int, Any], str]) -> Tasks:
    if steps is None:
        return tasks
    return StepTasks(tasks, lambda n, total, result: steps(say(n, total, result)))


def _days(
    steps: Steps | None, label: str, progress: Progress | None, total: int | None = None
) -> Progress | None:
    """The hour ticks, also told as a line per simulated day (`label` day d/total) when
    `steps` is given. Only an engine's own ticks count: a finished task reports its hours
    at once (a number above 1), and is told by its own step line."""
    if steps is None:
        return progress
    hours = [0]

    def tick(n: int) -> None:
        if n == 1:
            hours[0] += 1
            if hours[0] % 24 == 0:
                day = hours[0] // 24
                steps(f"{label} day {day}/{total}" if total else f"{label} day {day}")
        if progress is not None:
            progress(n)

    return tick


@dataclass
class Realization:
    """A scenario resolved for a (size, seed): its quiet luck and calibrated severities."""

    scenario: Scenario
    tried: list[tuple[int, float]] | None  # None: the luck was not searched (kept as written)
    report: CalibrationReport | None  # None without `severity: auto`
    record: Calibration | None = None  # the record entry it came from, if any


def realize(
    scenario: Scenario,
    size: Size,
    seed: int,
    luck_tries: int = LUCK_TRIES,
    progress: Progress | None = None,
    log: Steps | None = None,
    steps: Steps | None = None,
    tasks: Tasks = SERIAL,
) -> Realization:
    """Search the quiet luck (unless `luck_tries` is 0) and calibrate `severity: auto`."""
    tried = None
    if luck_tries > 0:
        count = iter(range(1, luck_tries + 1))
        tell = steps or log
        if steps:
            steps(f"luck search: the world of seed {seed} at size {size.name}, its history")
        luck_log = (
            None if tell is None else (lambda m: tell(f"luck try {next(count)}/{luck_tries}: {m}"))
        )
        ticks = _days(steps, "luck search: simulated", progress)
        search = quiet_luck(scenario, size, seed, luck_tries, ticks, luck_log, tasks)
        scenario = scenario.model_copy(update={"luck": search.luck})
        tried = search.tried
    report = None
    if any(f.is_auto for f in scenario.faults):
        trials = _stepped(
            tasks, steps, lambda n, _, r: f"calibration trial: the metric moves {r[0]:+.2%}"
        )
        ticks = _days(steps, "calibration: simulated", progress)
        scenario, report = calibrate(scenario, size, seed, ticks, tasks=trials)
    return Realization(scenario, tried, report)


def from_record(scenario: Scenario, entry: Calibration) -> Realization:
    report = None
    if entry.severities:
        report = CalibrationReport(dict(entry.severities), entry.change or float("nan"))
    return Realization(entry.apply(scenario), list(entry.tried), report, entry)


def case_key(
    realized: Realization,
    size: Size,
    seed: int,
    replicates: int = REPLICATES,
    progress: Progress | None = None,
    steps: Steps | None = None,
    tasks: Tasks = SERIAL,
    check: bool = True,
    factual: FactualTap | None = None,
) -> dict[str, Any]:
    """The answer key of a realized case, checked (unless `check` is false): against the
    author's intent when the luck was searched, and against its record's promise when it
    came from one. With `factual` (the tap of the case's run, over) the key reuses the run
    for its root and its all-faults branch."""
    scenario = realized.scenario
    branches = _stepped(tasks, steps, lambda n, total, _: f"key branch {n}/{total}")
    ticks = _days(steps, "key: simulated", progress)
    cf, others = key_runs(scenario, size, seed, replicates, ticks, branches, factual)
    key = answer_key(scenario, size, seed, cf, others)
    if realized.tried is not None:
        key["realization"] = {"luck": scenario.luck, "tried": realized.tried}
        if not check:
            return key
        if realized.record is not None:
            problems = stale_problems(key, scenario, realized.record)
            problems += intent_problems(key, scenario)
            if problems:
                raise StaleRecordError(
                    "its calibration record no longer fits ("
                    + "; ".join(problems)
                    + f"): re-run `casesim calibrate` on the scenario with --size {size.name} "
                    f"--seed {seed} (or run with --recalibrate)"
                )
        check_intent(key, scenario)
    return key


def make_case(
    scenario: Scenario,
    size: Size,
    out: Path,
    seed: int | None = None,
    force: bool = False,
    with_key: bool = True,
    progress: Progress | None = None,
    luck_tries: int = LUCK_TRIES,
    replicates: int = REPLICATES,
    log: Callable[[str], None] | None = None,
    finish: Callable[[Path], None] | None = None,
    tasks: Tasks = SERIAL,
    calibration: Path | None = None,
    steps: Steps | None = None,
) -> tuple[dict[str, Any], CalibrationReport | None]:
    """Find a quiet realization, calibrate if needed, simulate into `out`, add the answer
    key (checked against the author's intent), then `finish(folder)` (the composition root
    passes the cube builder here): all inside the atomic folder, so the run is complete or
    absent.

    `luck_tries` bounds the search for the luck of the case windows whose null branch stays
    within the scenario's noise bound (0 keeps the scenario's luck, unchecked); `replicates`
    other worlds give each cause's expected effect beside its realized share. With
    `calibration` (the scenario's record file, sim/calibration_record.py), an entry for this
    scenario, size and seed replaces the search and the calibration; its key is then checked
    against the record (StaleRecordError: nothing is written). `steps` receives a line per
    step (luck try, calibration trial, simulated day, key branch) for output that is not a
    terminal. Returns the manifest and the calibration report (None without `severity:
    auto`). The luck tries, calibration trials, branches and replicate worlds run as `tasks`;
    the folder is written by this process alone."""
    seed = scenario.seed if seed is None else seed
    entry = None
    if calibration is not None and with_key and luck_tries > 0:
        entry = lookup(calibration, scenario, size.name, seed)
    if entry is not None:
        realized = from_record(scenario, entry)
        if log:
            log(f"reusing its calibration record (size {size.name}, seed {seed}): no luck search")
    else:
        realized = realize(scenario, size, seed, luck_tries, progress, log, steps, tasks)
    scenario = realized.scenario
    tap = FactualTap() if with_key else None  # the key reuses the run (sim/truth.py)

    def complete(folder: Path) -> None:
        write_private(folder / SCENARIO_FILE, resolved_yaml(scenario))
        if tap is not None:
            key = case_key(realized, size, seed, replicates, progress, steps, tasks, factual=tap)
            tap.root = None  # the fork's state (tens of MB) is garbage before `finish`
            write_json_atomic(folder / ANSWER_KEY, key)
        if finish is not None:
            finish(folder)

    manifest = simulate(
        scenario,
        size,
        out,
        seed=seed,
        force=force,
        progress=_days(steps, "simulated", progress, plan(scenario).total_hours // 24),
        finish=complete,
        tap=tap,
    )
    return manifest, realized.report


def key_for_run(
    run_dir: Path, progress: Progress | None = None, tasks: Tasks = SERIAL
) -> dict[str, Any]:
    """The run's answer key, computing and saving it if it is missing."""
    path = run_dir / ANSWER_KEY
    if path.is_file():
        return json.loads(path.read_text())
    manifest = json.loads((run_dir / MANIFEST).read_text())
    if not (run_dir / SCENARIO_FILE).is_file():
        raise FileNotFoundError(f"{run_dir} has no {SCENARIO_FILE}: its key cannot be computed")
    scenario = load_scenario(run_dir / SCENARIO_FILE)
    size = SIZES.get(manifest["size"], Size(manifest["size"], manifest["users"]))
    cf = run_counterfactuals(scenario, size, manifest["seed"], progress=progress, tasks=tasks)
    key = answer_key(scenario, size, manifest["seed"], cf)
    write_json_atomic(path, key)
    return key


def make_bundle(
    run_dir: Path, out: Path, force: bool = False, finish: Callable[[Path], None] | None = None
) -> list[str]:
    """Copy a finished run for a candidate, without the truth (key and resolved scenario).

    The copy is written atomically, like a run, with `finish(copy)` run inside (the CLI
    strips the scenario id there). Returns the top-level entries it holds.
    """
    if not (run_dir / MANIFEST).is_file():
        raise FileNotFoundError(f"{run_dir} is not a finished run folder (no {MANIFEST})")
    with atomic_folder(out, force=force) as tmp:
        for entry in sorted(run_dir.iterdir()):
            if entry.name in TRUTH_FILES or entry.name.startswith("."):
                continue
            if entry.is_dir():
                shutil.copytree(entry, tmp / entry.name)
            else:
                shutil.copy2(entry, tmp / entry.name)
        if finish is not None:
            finish(tmp)
        return sorted(p.name for p in tmp.iterdir())
