"""Change-log entries in one form, whoever wrote them.

Injected changes must not stand out from the ordinary entries every log carries: both are
logged at a realistic time (minutes and seconds, shortly before the change takes effect) and
titled by the same templates. A scenario's free text is kept only where it already fits one.
"""

from __future__ import annotations

import re
import zlib
from datetime import datetime, timedelta

import numpy as np

# Logged up to an hour before the change takes effect: the rollout lands inside the entry's
# window, and minute-of-hour is uniform as it is for ordinary entries.
LEAD_SECONDS = 3600

_VERSION = r"v\d+\.\d+\.\d+"
_KEY = r"[a-z][a-z_]*(?:\.[a-z][a-z_]*)+"
_CHANGE = r"[\w.+%-]+(?: -> [\w.+%-]+)?(?: v\d+)?"
TEMPLATES = {
    "deploy": rf"Deploy [a-z][a-z-]* {_VERSION}",
    "config": rf"Config {_KEY}: {_CHANGE}",
    "campaign": r"Campaign: [a-z -]+",
    "experiment": r"Experiment \S+ started: [^,]+, \d+% of users",
}
TITLE = re.compile("|".join(f"(?:{t})" for t in TEMPLATES.values()))


def fits_template(title: str) -> bool:
    """Whether a title has the shape of an ordinary entry."""
    return TITLE.fullmatch(title) is not None


def stream_key(name: str) -> int:
    """A stable integer for a fault or experiment id, to key its own random stream."""
    return zlib.crc32(name.encode())


def logged_at(effective: datetime, rng: np.random.Generator) -> datetime:
    """When an entry for a change effective at `effective` is logged: shortly before it."""
    return effective.replace(microsecond=0) - timedelta(seconds=int(rng.integers(1, LEAD_SECONDS)))


def random_version(rng: np.random.Generator) -> str:
    return f"v{rng.integers(1, 9)}.{rng.integers(0, 40)}.{rng.integers(0, 9)}"


def templated_title(kind: str, service: str, text: str, rng: np.random.Generator) -> str:
    """The author's text in the form ordinary entries take, keeping what already fits."""
    if fits_template(text) and (kind != "deploy" or text.startswith(f"Deploy {service} ")):
        return text
    if kind == "deploy":
        found = re.search(_VERSION, text)
        return f"Deploy {service} {found.group(0) if found else random_version(rng)}"
    if kind == "config":
        found = re.search(rf"({_KEY}):\s*([^()]*)", text)
        if found:
            change = re.match(_CHANGE, found.group(2).strip())
            if change and change.group(0):
                return f"Config {found.group(1)}: {change.group(0)}"
            return f"Config {found.group(1)}: updated"
        return f"Config {service.replace('-', '_')}.settings: updated"
    return text if fits_template(text) else f"Config {service.replace('-', '_')}.settings: updated"
