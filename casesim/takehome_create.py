"""Composing a take-home: one audited variant of a case per candidate, in one atomic folder.

Each candidate gets a seed drawn from the system's secret randomness (so the shipped scenario
file and a guessed seed cannot rebuild their key), a scope dealt from the scenario's variant
space where it declares one, a neutral case id, and a token. Each variant is a whole case
(`casesim.compose.make_case`: quiet-luck search, calibration, key checked against the
author's intent, cube); its truth files move to DIR/sealed/<variant>/ and its candidate-facing
folder is neutralised (sim/variants.py). The folder layout is `runfolder.takehome`'s.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from casesim.compose import make_case
from runfolder.layout import ANSWER_KEY, TRUTH_FILES
from runfolder.takehome import (
    COHORT_FILE,
    FORMAT,
    SEALED_DIR,
    TOKENS_FILE,
    VARIANTS_DIR,
    token_hash,
)
from sim.intent import IntentError
from sim.output import atomic_folder
from sim.scenario import Scenario
from sim.tasks import SERIAL, Tasks
from sim.truth import CalibrationError
from sim.variants import NEUTRAL_TITLE, deal_scopes, neutral_id, neutralise, with_scopes
from sim.world import Size

MAX_CANDIDATES = 200
MAX_NAME = 80
MAX_CANDIDATES_BYTES = 64 * 1024
TOKEN_BYTES = 18  # 24 URL-safe characters
SEED_ATTEMPTS = 3  # fresh seeds tried for a candidate whose variant is refused


class CandidatesError(ValueError):
    """A candidates file that cannot be used; the message names the file and line."""


def read_candidates(path: Path) -> list[str]:
    """Candidate names from a CSV with a `name` column, or from one name per line.

    Refused: an unreadable, oversized or empty file; blank, over-long or control-character
    names; a name given twice (case-insensitively: the team tells candidates apart by it).
    """
    try:
        if not path.is_file():
            raise CandidatesError(f"{path}: not a file")
        if path.stat().st_size > MAX_CANDIDATES_BYTES:
            raise CandidatesError(f"{path}: larger than {MAX_CANDIDATES_BYTES // 1024} KB")
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise CandidatesError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise CandidatesError(f"{path}: cannot read ({exc.strerror or exc})") from None
    rows = list(csv.reader(io.StringIO(text)))
    header = [c.strip().lower() for c in rows[0]] if rows else []
    if "name" in header:
        col = header.index("name")
        named = [
            (i + 2, row[col] if col < len(row) else "")
            for i, row in enumerate(rows[1:])
            if any(cell.strip() for cell in row)
        ]
    else:
        named = [(i + 1, line) for i, line in enumerate(text.splitlines()) if line.strip()]
    if not named:
        raise CandidatesError(f"{path}: no candidates (one name per line, or a `name` column)")
    if len(named) > MAX_CANDIDATES:
        raise CandidatesError(f"{path}: {len(named)} candidates; at most {MAX_CANDIDATES}")
    names: list[str] = []
    seen: dict[str, int] = {}
    for line, raw in named:
        name = raw.strip()
        if not name:
            raise CandidatesError(f"{path}:{line}: empty name")
        if len(name) > MAX_NAME:
            raise CandidatesError(f"{path}:{line}: name longer than {MAX_NAME} characters")
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
            raise CandidatesError(f"{path}:{line}: name holds control characters")
        if name.casefold() in seen:
            raise CandidatesError(
                f"{path}:{line}: {name!r} is already on line {seen[name.casefold()]}"
            )
        seen[name.casefold()] = line
        names.append(name)
    return names


@dataclass
class VariantAudit:
    """What the team checks on each variant: the drop in band, the noise within its bound."""

    change: float
    target: float | None
    tolerance: float | None
    in_band: bool
    noise_effect: float
    noise_share: float
    noise_bound: float
    noise_ok: bool
    shares: dict[str, float]


@dataclass
class Made:
    """One candidate's variant as created."""

    name: str
    variant: str
    token: str
    seed: int
    scope: dict[str, dict[str, Any]]
    seconds: float
    audit: VariantAudit
    refused: list[str] = field(default_factory=list)  # seeds refused before this one


def audit_key(key: dict[str, Any], scenario: Scenario) -> VariantAudit:
    """The variant's numbers from its answer key (the change, its band, the noise)."""
    change = float(key["observed_change"])
    target = key.get("target")
    in_band = True if not target else abs(change - target["change"]) <= target["tolerance"]
    noise = next((c for c in key["causes"] if c["id"] == "noise"), None)
    effect = float(noise["effect"]) if noise else 0.0
    return VariantAudit(
        change=change,
        target=target["change"] if target else None,
        tolerance=target["tolerance"] if target else None,
        in_band=bool(in_band),
        noise_effect=effect,
        noise_share=float(noise["share"]) if noise else 0.0,
        noise_bound=scenario.noise_bound,
        noise_ok=abs(effect) <= scenario.noise_bound,
        shares={c["id"]: float(c["share"]) for c in key["causes"]},
    )


def _private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def _write_private(path: Path, text: str) -> None:
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as fh:
        fh.write(text)
    os.chmod(path, 0o600)


def _seal(variant_dir: Path, sealed: Path) -> dict[str, Any]:
    """Move the variant's truth files into its sealed folder (0700, files 0600)."""
    _private_dir(sealed)
    for name in TRUTH_FILES:
        src = variant_dir / name
        if src.exists():
            shutil.move(str(src), sealed / name)
            os.chmod(sealed / name, 0o600)
    return json.loads((sealed / ANSWER_KEY).read_text())


def _unique(make: Callable[[], Any], taken: set[Any]) -> Any:
    value = make()
    while value in taken:
        value = make()
    taken.add(value)
    return value


def create_cohort(
    scenario: Scenario,
    scenario_path: Path,
    size: Size,
    names: list[str],
    out: Path,
    hours: float,
    allow_debrief: bool = False,
    force: bool = False,
    luck_tries: int = 12,
    replicates: int = 2,
    tasks: Tasks = SERIAL,
    log: Callable[[str], None] | None = None,
    on_variant: Callable[[Made], None] | None = None,
) -> list[Made]:
    """Make every candidate's variant and write the whole take-home folder atomically.

    A variant refused by the audits (no quiet realization, calibration, intent) is tried
    again with a fresh seed, up to `SEED_ATTEMPTS` seeds; after that the whole cohort is
    refused (IntentError or CalibrationError) and nothing is written. So is an interrupt.
    """
    rng = random.Random(secrets.randbits(64))
    scopes = deal_scopes(scenario, len(names), rng)
    seeds: set[int] = set()
    ids: set[str] = set()
    made: list[Made] = []
    with atomic_folder(out, force=force) as tmp:
        os.chmod(tmp, 0o700)
        variants = tmp / VARIANTS_DIR
        variants.mkdir()
        for name, scope in zip(names, scopes, strict=True):
            spec = with_scopes(scenario, scope)
            variant = _unique(neutral_id, ids)
            refused: list[str] = []
            started = time.perf_counter()
            while True:
                seed = _unique(lambda: secrets.randbits(32), seeds)
                try:
                    make_case(
                        spec,
                        size,
                        variants / variant,
                        seed=seed,
                        luck_tries=luck_tries,
                        replicates=replicates,
                        tasks=tasks,
                    )
                    break
                except (IntentError, CalibrationError) as exc:
                    refused.append(str(exc))
                    if log:
                        log(f"{variant}: a seed was refused ({str(exc)[:160]}); trying another")
                    if len(refused) >= SEED_ATTEMPTS:
                        raise type(exc)(
                            f"{name}'s variant: {SEED_ATTEMPTS} seeds refused; last: {exc}"
                        ) from None
            key = _seal(variants / variant, tmp / SEALED_DIR / variant)
            neutralise(variants / variant, variant, NEUTRAL_TITLE)
            item = Made(
                name=name,
                variant=variant,
                token=secrets.token_urlsafe(TOKEN_BYTES),
                seed=seed,
                scope=scope,
                seconds=time.perf_counter() - started,
                audit=audit_key(key, spec),
                refused=refused,
            )
            made.append(item)
            if on_variant:
                on_variant(item)
        os.chmod(tmp / SEALED_DIR, 0o700)
        cohort = _cohort_json(scenario, scenario_path, size, made, hours, allow_debrief)
        _write_private(tmp / COHORT_FILE, json.dumps(cohort, indent=2) + "\n")
        _write_private(tmp / TOKENS_FILE, _tokens_csv(made))
    return made


def _tokens_csv(made: list[Made]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["name", "variant", "token"])
    for m in made:
        writer.writerow([m.name, m.variant, m.token])
    return buf.getvalue()


def cohort_audit(made: list[Made], scoped: bool) -> dict[str, Any]:
    """The cohort-level checks: every variant in band and quiet, seeds (and scopes) distinct."""
    scopes = [json.dumps(m.scope, sort_keys=True) for m in made]
    return {
        "all_in_band": all(m.audit.in_band for m in made),
        "all_noise_within_bound": all(m.audit.noise_ok for m in made),
        "seeds_distinct": len({m.seed for m in made}) == len(made),
        "scopes_distinct": (len(set(scopes)) == len(made)) if scoped else None,
    }


def _cohort_json(
    scenario: Scenario,
    scenario_path: Path,
    size: Size,
    made: list[Made],
    hours: float,
    allow_debrief: bool,
) -> dict[str, Any]:
    """cohort.json: the contract's keys (format, hours, allow_debrief, candidates) and, for
    the team alone, where each variant came from and how it audited."""
    return {
        "format": FORMAT,
        "hours": hours,
        "allow_debrief": allow_debrief,
        "candidates": [
            {"name": m.name, "variant": m.variant, "token_sha256": token_hash(m.token)}
            for m in made
        ],
        "scenario": {
            "id": scenario.id,
            "title": scenario.title,
            "path": str(scenario_path),
            "sha256": scenario.digest(),
        },
        "size": size.name,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "variants": {
            m.variant: {
                "name": m.name,
                "seed": m.seed,
                "scope": m.scope,
                "seconds": round(m.seconds, 1),
                "refused_seeds": len(m.refused),
                "audit": asdict(m.audit),
            }
            for m in made
        },
        "audit": cohort_audit(made, scoped=bool(scenario.variants and scenario.variants.scope)),
    }
