"""A case, end to end: calibrate `severity: auto`, run, and write the answer key.

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
from pathlib import Path
from typing import Any

import yaml

from runfolder.layout import ANSWER_KEY, MANIFEST, SCENARIO_FILE, TRUTH_FILES
from sim.intent import LUCK_TRIES, check_intent, quiet_luck
from sim.output import atomic_folder
from sim.runner import simulate
from sim.scenario import Scenario, load_scenario
from sim.tasks import SERIAL, Tasks
from sim.truth import (
    CalibrationReport,
    answer_key,
    calibrate,
    key_runs,
    run_counterfactuals,
)
from sim.world import SIZES, Size

Progress = Callable[[int], None]
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
) -> tuple[dict[str, Any], CalibrationReport | None]:
    """Find a quiet realization, calibrate if needed, simulate into `out`, add the answer
    key (checked against the author's intent), then `finish(folder)` (the composition root
    passes the cube builder here): all inside the atomic folder, so the run is complete or
    absent.

    `luck_tries` bounds the search for the luck of the case windows whose null branch stays
    within the scenario's noise bound (0 keeps the scenario's luck, unchecked); `replicates`
    other worlds give each cause's expected effect beside its realized share. Returns the
    manifest and the calibration report (None without `severity: auto`). The luck tries,
    calibration trials, branches and replicate worlds run as `tasks`; the folder is written
    by this process alone."""
    seed = scenario.seed if seed is None else seed
    search = None
    if luck_tries > 0:
        search = quiet_luck(scenario, size, seed, luck_tries, progress, log, tasks)
        scenario = scenario.model_copy(update={"luck": search.luck})
    report = None
    if any(f.is_auto for f in scenario.faults):
        scenario, report = calibrate(scenario, size, seed, progress, tasks=tasks)

    def complete(folder: Path) -> None:
        write_private(folder / SCENARIO_FILE, resolved_yaml(scenario))
        if with_key:
            cf, others = key_runs(scenario, size, seed, replicates, progress, tasks)
            key = answer_key(scenario, size, seed, cf, others)
            if search is not None:
                key["realization"] = {"luck": search.luck, "tried": search.tried}
                check_intent(key, scenario)
            write_json_atomic(folder / ANSWER_KEY, key)
        if finish is not None:
            finish(folder)

    manifest = simulate(
        scenario, size, out, seed=seed, force=force, progress=progress, finish=complete
    )
    return manifest, report


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
