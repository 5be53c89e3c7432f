"""Variants of a case: another scope from the scenario's variant space, and a run folder that
no longer names its scenario.

A take-home gives each candidate their own variant (own seed; where the scenario declares a
variant space, another scope for a fault), so candidates cannot share answers. A variant's
folder must not say which shipped scenario it came from: with the shipped file and the seed,
`casesim run` + `casesim key` would rebuild the key. `neutralise` replaces the scenario id
and title in manifest.json and case.yaml and drops the seed and the scenario's digest.
"""

from __future__ import annotations

import json
import os
import random
import secrets
from pathlib import Path
from typing import Any

import yaml

from runfolder.layout import CASE_FILE, MANIFEST
from sim.scenario import Scenario

NEUTRAL_TITLE = "Conversion review"
DROPPED_MANIFEST_KEYS = ("seed", "scenario_sha256")  # what would let a run be rebuilt


def neutral_id() -> str:
    """A case id that says nothing: `case-` and six random hex digits."""
    return f"case-{secrets.token_hex(3)}"


def deal_scopes(scenario: Scenario, n: int, rng: random.Random) -> list[dict[str, dict[str, Any]]]:
    """One scope choice per variant: fault id -> scope, from the scenario's variant space.

    Each fault's alternatives are shuffled once and dealt in turn, so up to as many variants
    as there are alternatives all differ; beyond that they repeat as evenly as possible.
    Empty dicts when the scenario declares no variant space.
    """
    space = scenario.variants.scope if scenario.variants else {}
    shuffled = {fid: rng.sample(scopes, len(scopes)) for fid, scopes in space.items()}
    return [
        {fid: alts[i % len(alts)].describe() for fid, alts in shuffled.items()} for i in range(n)
    ]


def with_scopes(scenario: Scenario, scopes: dict[str, dict[str, Any]]) -> Scenario:
    """The scenario with those faults' scopes replaced and its variant space dropped,
    validated again as a whole (so a variant is as sound as a shipped scenario)."""
    data = scenario.model_dump(mode="json", exclude_none=True)
    data.pop("variants", None)
    ids = scenario.fault_ids()
    for fault, fid in zip(data["faults"], ids, strict=True):
        if fid in scopes:
            fault["scope"] = scopes[fid]
    return Scenario.model_validate(data)


def _replace_text(path: Path, text: str) -> None:
    """Rewrite a file atomically, keeping its mode."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.chmod(tmp, path.stat().st_mode & 0o777)
    tmp.replace(path)


def neutralise(run_dir: Path, case_id: str, title: str | None = NEUTRAL_TITLE) -> None:
    """Make a run folder name neither its scenario nor its seed: `case_id` (and `title`,
    unless None) in manifest.json and case.yaml; no seed and no scenario digest."""
    manifest_path = Path(run_dir) / MANIFEST
    manifest = json.loads(manifest_path.read_text())
    manifest["scenario"] = case_id
    if title is not None:
        manifest["title"] = title
    for key in DROPPED_MANIFEST_KEYS:
        manifest.pop(key, None)
    case_path = Path(run_dir) / CASE_FILE
    case = yaml.safe_load(case_path.read_text())
    case["id"] = case_id
    if title is not None:
        case["title"] = title
    case.pop("seed", None)
    _replace_text(case_path, yaml.safe_dump(case, sort_keys=False, allow_unicode=True))
    _replace_text(manifest_path, json.dumps(manifest, indent=2, default=str) + "\n")
