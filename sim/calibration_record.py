"""Calibration records: a case's quiet luck and calibrated severities, kept beside its scenario.

Searching a quiet luck and calibrating `severity: auto` cost more than the run itself, and
they come out the same every time for the same scenario, size and seed. `casesim calibrate`
does them once and writes `<stem>.calibration.json` beside the scenario, one entry per
(size, seed), stamped with the digest of the authored scenario (its validated model without
the words people read, so comments, formatting and rewording do not matter). `make_case`
reuses an entry only when digest, size and seed all match, and then checks the key it gets: a
record the simulator no longer agrees with (the change out of its band, the noise over its
bound) is refused, never shipped.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sim.intent import IntentError
from sim.scenario import Scenario

SUFFIX = ".calibration.json"
FORMAT = 1


class RecordError(ValueError):
    """A calibration record file that cannot be read (damaged, or of another format)."""


class StaleRecordError(IntentError):
    """A matching record gave a case that misses its band or noise bound: re-calibrate."""


@dataclass
class Calibration:
    """One (size, seed) entry: what the luck search and calibration found, and the key."""

    digest: str
    size: str
    seed: int
    luck: int
    tried: list[tuple[int, float]] = field(default_factory=list)  # (luck, null change)
    severities: dict[str, float] = field(default_factory=dict)  # fault id -> calibrated
    change: float | None = None  # the key's observed change
    noise: float | None = None  # the null branch's change (every fault off)
    within_target: bool | None = None
    split: dict[str, float] = field(default_factory=dict)  # cause id -> share of the change

    def matches(self, scenario: Scenario, size: str, seed: int) -> bool:
        return (self.digest, self.size, self.seed) == (scenario.calibration_digest(), size, seed)

    def apply(self, scenario: Scenario) -> Scenario:
        """The scenario with the recorded luck and severities (as the search resolved it)."""
        faults = list(scenario.faults)
        for i, fid in enumerate(scenario.fault_ids()):
            if faults[i].is_auto and fid in self.severities:
                faults[i] = faults[i].with_severity(self.severities[fid])
        return scenario.model_copy(update={"luck": self.luck, "faults": faults})

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["tried"] = [list(t) for t in self.tried]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Calibration:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        entry = cls(**known)
        entry.tried = [(int(luck), float(change)) for luck, change in entry.tried]
        return entry


def record_path(scenario_path: Path) -> Path:
    """Where a scenario's calibration record lives: beside it, `<stem>.calibration.json`."""
    return scenario_path.with_name(scenario_path.stem + SUFFIX)


def read_entries(path: Path) -> list[Calibration]:
    """The entries of a record file (none when it does not exist)."""
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text())
        if data.get("format") != FORMAT:
            raise RecordError(f"{path}: format {data.get('format')!r}, expected {FORMAT}")
        return [Calibration.from_json(e) for e in data["entries"]]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        if isinstance(exc, RecordError):
            raise
        raise RecordError(
            f"{path}: unreadable calibration record ({type(exc).__name__}: {exc}); delete it "
            "and re-run `casesim calibrate`"
        ) from None


def lookup(path: Path, scenario: Scenario, size: str, seed: int) -> Calibration | None:
    """The entry for this scenario (same digest), size and seed, if the record has one."""
    for entry in read_entries(path):
        if entry.matches(scenario, size, seed):
            return entry
    return None


def store(path: Path, scenario_name: str, entry: Calibration) -> None:
    """Add or replace the (size, seed) entry, atomically (a reader sees the old file or the
    new one); the other entries are kept, in (size, seed) order so diffs stay small."""
    kept = [e for e in read_entries(path) if (e.size, e.seed) != (entry.size, entry.seed)]
    entries = sorted([*kept, entry], key=lambda e: (e.size, e.seed))
    data = {
        "format": FORMAT,
        "scenario": scenario_name,
        "about": (
            "Written by `casesim calibrate`: the quiet luck and calibrated severities that "
            "`casesim run` reuses for this scenario (same content), size and seed."
        ),
        "entries": [e.to_json() for e in entries],
    }
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


def from_key(
    scenario: Scenario,
    authored: Scenario,
    size: str,
    seed: int,
    tried: list[tuple[int, float]],
    severities: dict[str, float],
    key: dict[str, Any] | None,
) -> Calibration:
    """The entry for a case resolved from `authored` into `scenario`, with its key's figures."""
    entry = Calibration(
        authored.calibration_digest(), size, seed, scenario.luck, list(tried), dict(severities)
    )
    if key is not None:
        entry.change = key["observed_change"]
        entry.within_target = key["within_target"]
        entry.split = {c["id"]: c["share"] for c in key["causes"]}
        entry.noise = next(c["effect"] for c in key["causes"] if c["id"] == "noise")
    return entry


def stale_problems(key: dict[str, Any], scenario: Scenario, entry: Calibration) -> list[str]:
    """How a key made from a record misses what the record promised (empty when it fits)."""
    problems = []
    target = scenario.target
    if target is not None and not key["within_target"] and entry.within_target is not False:
        problems.append(
            f"the change is {key['observed_change']:+.2%}, outside its band "
            f"{target.change:+.1%} ± {target.tolerance * 100:.1f} pp"
        )
    noise = next(c["effect"] for c in key["causes"] if c["id"] == "noise")
    if not math.isfinite(noise) or abs(noise) > scenario.noise_bound:
        problems.append(
            f"the metric moves {noise:+.2%} with every change off "
            f"(bound ±{scenario.noise_bound:.1%})"
        )
    return problems
