"""The take-home folder: the contract between `takehome create`, `serve` and `grade`.

DIR/                       0700: the hiring team's folder, never handed to a candidate
  cohort.json              0600: who gets which variant, the time box, the debrief policy
  tokens.csv               0600: name, variant, token (the team sends each candidate theirs)
  variants/<variant>/      a candidate-facing run folder per candidate (no truth files),
                           with a neutral id and title
  sealed/<variant>/        0700: that variant's truth files (answer_key.json, scenario.yaml)
  submissions/<variant>.json   optional: a submission sent back by hand (offline bundles)
  casesim.sqlite           the attempt store of the hosted session (attempts and events)

A candidate's token is stored only as its SHA-256 in cohort.json: the served dashboard maps a
token to its variant by the hash, and the plain token lives in tokens.csv for the team alone.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

COHORT_FILE = "cohort.json"
TOKENS_FILE = "tokens.csv"
VARIANTS_DIR = "variants"
SEALED_DIR = "sealed"
SUBMISSIONS_DIR = "submissions"
FORMAT = 1


def token_hash(token: str) -> str:
    """The form in which a candidate's token is kept in cohort.json."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Seat:
    """One candidate's place in the cohort: their variant and the hash of their token."""

    name: str
    variant: str
    token_sha256: str


@dataclass(frozen=True)
class Cohort:
    """A take-home as `serve` and `grade` read it."""

    root: Path
    hours: float
    allow_debrief: bool
    seats: tuple[Seat, ...]
    meta: dict[str, Any]

    def variant_dir(self, variant: str) -> Path:
        return self.root / VARIANTS_DIR / variant

    def sealed_dir(self, variant: str) -> Path:
        return self.root / SEALED_DIR / variant

    def submission_file(self, variant: str) -> Path:
        return self.root / SUBMISSIONS_DIR / f"{variant}.json"

    def seat_for(self, token: str) -> Seat | None:
        """The seat a token opens (compared in constant time), or None."""
        given = token_hash(token)
        found = None
        for seat in self.seats:
            if hmac.compare_digest(seat.token_sha256, given):
                found = seat
        return found


class CohortError(ValueError):
    """A folder that is not a readable take-home; the message says why."""


def load_cohort(root: Path | str) -> Cohort:
    root = Path(root)
    path = root / COHORT_FILE
    try:
        data = json.loads(path.read_text())
        if data.get("format") != FORMAT:
            raise CohortError(f"{path}: format {data.get('format')!r}, expected {FORMAT}")
        seats = tuple(
            Seat(str(s["name"]), str(s["variant"]), str(s["token_sha256"]))
            for s in data["candidates"]
        )
        return Cohort(
            root=root,
            hours=float(data["hours"]),
            allow_debrief=bool(data.get("allow_debrief", False)),
            seats=seats,
            meta=data,
        )
    except OSError as exc:
        raise CohortError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except (ValueError, KeyError, TypeError) as exc:
        if isinstance(exc, CohortError):
            raise
        raise CohortError(f"{path}: not a take-home cohort ({type(exc).__name__}: {exc})") from None
