"""Spoiler checks: a case's id, title, brief or change log should not name its cause.

`casesim validate` prints these as warnings (exit 0): a candidate reads the id in the URL and
the title and brief on the first page, so `android_evening` on an Android latency case, or
"remap" in the title of a category-remap case, gives the answer away. Decoys are exempt: a
brief may well point at a red herring.
"""

from __future__ import annotations

import re
from pathlib import Path

from sim.scenario import Scenario

# Words that name each fault type's cause (matched as whole words, case-insensitive, with `_`
# and `-` as separators). "feed" alone is the product, so only its non-metric uses count.
TYPE_WORDS: dict[str, tuple[str, ...]] = {
    "feed_change": ("remap", "remapped", "remapping", "mapping", "taxonomy", "catalog",
                    "pipeline", "miscategorised", "miscategorized", "feed"),
    "reward_shift": ("reward", "rewards", "ranker", "ranking", "objective", "engaged",
                     "engagement"),
    "deploy": ("latency", "slow", "slower", "timeout", "timeouts", "errors"),
    "app_release": ("latency", "slow", "slower", "app", "release", "version", "upgrade"),
    "seasonality": ("seasonal", "season", "seasonality", "school", "holiday", "holidays"),
    "tracking_bug": ("tracking", "tracker", "instrumentation", "logging", "sdk", "untracked"),
    "config_change": ("config", "configuration", "exploration", "temperature"),
}  # fmt: skip
# Change-log text is meant to name the change; only the type's own name gives it away there.
CHANGELOG_WORDS: dict[str, tuple[str, ...]] = {
    "feed_change": ("remap", "remapped", "remapping", "miscategorised", "miscategorized"),
    "reward_shift": ("reward shift",),
    "seasonality": ("seasonal", "seasonality"),
    "tracking_bug": ("tracking bug", "untracked"),
}
# "feed" as the product and its metric is not a hint.
_FEED_PRODUCT = re.compile(
    r"recommendation feed|feed(?:[\s_-]+)(?:session|sessions|conversion|team|api)", re.I
)


def _words_in(text: str, words: set[str]) -> list[str]:
    text = _FEED_PRODUCT.sub(" ", text.replace("_", " "))
    norm = " " + re.sub(r"[^a-z0-9]+", " ", text.lower()) + " "
    return sorted(w for w in words if f" {w.replace('_', ' ').replace('-', ' ')} " in norm)


def _scope_words(scenario: Scenario) -> set[str]:
    found: set[str] = set()
    for fault in scenario.faults:
        if fault.decoy:
            continue
        if isinstance(getattr(fault, "platform", None), str):  # an app release's platform
            found.add(fault.platform.lower())
        for values in fault.scope.model_dump(exclude_none=True).values():
            for value in values:
                if isinstance(value, str):
                    found.add(value.lower())
    return found


def _line(lines: list[str], field: str, word: str) -> int:
    """The line of `field:` in the file, or the first line after it naming the word."""
    start = next((i for i, ln in enumerate(lines) if re.match(rf"\s*(?:- )?{field}\s*:", ln)), None)
    if start is None:
        return 1
    for i in range(start, min(len(lines), start + 12)):
        if word.split()[0] in lines[i].lower().replace("_", " ").replace("-", " "):
            return i + 1
    return start + 1


def spoiler_warnings(scenario: Scenario, path: Path) -> list[str]:
    """`file:line: field: warning` for every id, title, brief or change log naming its cause."""
    causes = [f for f in scenario.faults if not f.decoy]
    words = {w for f in causes for w in TYPE_WORDS.get(f.type, ())} | _scope_words(scenario)
    log_words = {w for f in causes for w in CHANGELOG_WORDS.get(f.type, ())}
    log_words |= _scope_words(scenario)
    lines = path.read_text(encoding="utf-8").splitlines()
    out = []
    fields = [("id", scenario.id, words), ("title", scenario.title, words)]
    fields.append(("brief", scenario.brief or "", words))
    fields += [("changelog", f.changelog or "", log_words) for f in causes]
    for field, text, vocab in fields:
        for word in _words_in(text, vocab):
            out.append(
                f"{path}:{_line(lines, field, word)}: {field}: warning: names the cause "
                f"({word!r}); a candidate reads it before investigating"
            )
    return out
