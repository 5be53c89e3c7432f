"""`casesim new`: a scenario scaffold for one fault type, commented from the models themselves.

The comments come from the pydantic field descriptions (the same text the JSON Schema gives an
editor), the fault's docstring, its parameters' bounds and the scope keys its type accepts, so
a new fault type or parameter shows up in the scaffold without editing this file. The
scaffold validates as written: `severity: auto` on a -5% ±0.5% target, neutral id and title,
and a commented-out decoy to start from.
"""

from __future__ import annotations

import json
import os
import textwrap
import types
import typing
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from sim.faults import FAULT_TYPES
from sim.faults.base import FaultBase, Scope

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_FILE = ROOT / "scenario.schema.json"
WIDTH = 96
SCOPE_ORDER = ("category", "platform", "city_tier", "app_version", "source")
SCOPE_EXAMPLES: dict[str, list[Any]] = {
    "category": ["womens_apparel", "mens_apparel", "shoes_bags", "beauty"],  # enough to reach -5%
    "platform": ["android"],
    "city_tier": [3, 4],
    "app_version": ["10.21"],
    "source": ["paid"],
}
SCOPE_NOTES = {"city_tier": "1..5", "app_version": "'10.NN', e.g. '10.21'"}
# Scenario fields the model leaves undescribed: what a coach needs to know about them.
FIELD_NOTES = {
    "id": "Shows in run folders and the dashboard's URL: never name the cause.",
    "title": "What the candidate reads first: neutral, never the cause or the number of causes.",
    "brief": "The case as the candidate receives it: the metric and the windows, not the cause.",
    "seed": "The world; its quiet 'luck' for the case windows is searched for you.",
    "days": "The period's length in days (the case windows are its last days).",
}
DECOY_FOR = {"config_change": "app_release"}  # the decoy example's type (default config_change)
# Parameters whose default (harmless: a decoy's) or first choice makes a poor cause to start
# from; an auto severity cannot calibrate a deploy that changes nothing.
EXAMPLES: dict[tuple[str, str], Any] = {
    ("config_change", "value"): 0.08,  # ranker.exploration, from its default 0.04
    ("seasonality", "name"): "Mid-Autumn Festival",
    ("deploy", "server_factor"): 8.0,  # as in scenarios/drafts/android_latency.yaml
    ("deploy", "error_rate"): 0.08,
    ("app_release", "client_factor"): 5.0,
}


@dataclass(frozen=True)
class Param:
    """One parameter of a fault type, as a coach reads it."""

    name: str
    type_text: str
    required: bool
    default: Any
    bounds: str
    description: str


def parameters(cls: type[FaultBase]) -> list[Param]:
    """The type's own parameters, and the shared fields whose default it changes."""
    base = FaultBase.model_fields
    out = []
    for name, info in cls.model_fields.items():
        if name == "type":
            continue
        if name in base and _default(info) == _default(base[name]):
            continue
        out.append(
            Param(
                name,
                type_text(info.annotation),
                info.is_required(),
                _default(info),
                bounds_text(info),
                info.description or "",
            )
        )
    return out


def _default(info: FieldInfo) -> Any:
    return None if info.default is PydanticUndefined else info.default


def type_text(annotation: Any) -> str:
    """`float`, `'a' | 'b'`, `list of int`: a type as a coach reads it."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Literal:
        return " | ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_text(a) for a in args if a is not type(None)) + (
            " | null" if type(None) in args else ""
        )
    if origin is list:
        return f"list of {type_text(args[0])}"
    if origin is typing.Annotated:
        return type_text(args[0])
    return getattr(annotation, "__name__", str(annotation))


def bounds_text(info: FieldInfo) -> str:
    """`0 < x <= 2`, from the field's constraints (empty when it has none)."""
    low = high = ""
    for item in info.metadata:
        for attr, sign in (("ge", "<="), ("gt", "<")):
            if getattr(item, attr, None) is not None:
                low = f"{getattr(item, attr)} {sign} "
        for attr, sign in (("le", "<="), ("lt", "<")):
            if getattr(item, attr, None) is not None:
                high = f" {sign} {getattr(item, attr)}"
        if getattr(item, "pattern", None):
            return f"matches {item.pattern}"
    return f"{low}x{high}" if low or high else ""


def scope_values(dimension: str) -> str:
    """The values a scope key accepts."""
    if dimension in SCOPE_NOTES:
        return SCOPE_NOTES[dimension]
    annotation = Scope.model_fields[dimension].annotation
    inner = typing.get_args(annotation)[0]  # list[Literal[...]] | None
    return ", ".join(str(v) for v in typing.get_args(typing.get_args(inner)[0]))


def example_value(fault_type: str, param: Param, decoy: bool = False) -> Any:
    """A valid value for a parameter: a cause's example, its default (a decoy keeps those), or
    the first choice or a bounded number."""
    if decoy and not param.required:
        return param.default
    if (fault_type, param.name) in EXAMPLES:
        return EXAMPLES[fault_type, param.name]
    if not param.required:
        return param.default
    info = FAULT_TYPES[fault_type].model_fields[param.name]
    args = typing.get_args(info.annotation)
    if typing.get_origin(info.annotation) is Literal:
        return args[0]
    lo = hi = None
    for item in info.metadata:
        lo = next(
            (getattr(item, a) for a in ("ge", "gt") if getattr(item, a, None) is not None), lo
        )
        hi = next(
            (getattr(item, a) for a in ("le", "lt") if getattr(item, a, None) is not None), hi
        )
    if info.annotation in (int, float):
        value = ((lo or 0) + (hi if hi is not None else (lo or 0) + 2)) / 2
        return int(value) if info.annotation is int else round(value, 3)
    return "an event"  # a free-text parameter (a calendar name): the coach words it


def _yaml(value: Any) -> str:
    """A value in YAML flow style (JSON is YAML for the values a scenario holds)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return json.dumps(value)


def _comment(text: str, indent: str = "") -> list[str]:
    text = " ".join(text.split())
    return [f"{indent}# {line}" for line in textwrap.wrap(text, WIDTH - len(indent) - 2)]


def _doc(obj: Any) -> str:
    return " ".join((obj.__doc__ or "").split())


def fault_lines(
    fault_type: str, fault_id: str, at: datetime, decoy: bool = False, indent: str = "  "
) -> list[str]:
    """One fault entry, each field with its description above it (a decoy's without: it is
    written commented out, and uncommenting it must give YAML, not prose)."""
    lines = _fault_lines(fault_type, fault_id, at, decoy, indent)
    return [line for line in lines if not decoy or not line.lstrip().startswith("#")]


def _fault_lines(
    fault_type: str, fault_id: str, at: datetime, decoy: bool, indent: str
) -> list[str]:
    cls = FAULT_TYPES[fault_type]
    base = FaultBase.model_fields
    inner = indent + "  "
    lines = _comment(f"{fault_type}: {_doc(cls)}", indent)
    lines += _comment(f"Menu ids it confirms: {', '.join(cls.hit_set)}.", indent)
    lines += _comment(f"Evidence a candidate can find: {cls.evidence}", indent)
    lines.append(f"{indent}- type: {fault_type}")
    lines.append(f"{inner}id: {fault_id}")
    lines += _comment(base["at"].description or "", inner)
    lines.append(f"{inner}at: {at.isoformat()}")
    if decoy:
        lines += _comment(f"decoy: {base['decoy'].description} It must explain at most 15% "
                          "of the change (the intent check).", inner)  # fmt: skip
        lines += [f"{inner}decoy: true", f"{inner}severity: 0.3"]
    else:
        lines += _comment(f"severity: {base['severity'].description}", inner)
        lines.append(f"{inner}severity: auto")
        if not any(p.name == "share" for p in parameters(cls)):  # a type may reuse the name
            lines += _comment(f"share (optional): {base['share'].description} Give it on every "
                              "auto fault or on none.", inner)  # fmt: skip
            lines.append(f"{inner}# share: 1.0")
        lines += _comment(f"strength (optional, without shares): {base['strength'].description}",
                          inner)  # fmt: skip
    for param in parameters(cls):
        what = "; ".join(x for x in (param.type_text, param.bounds, param.description) if x)
        lines += _comment(f"{param.name}: {what}", inner)
        lines.append(f"{inner}{param.name}: {_yaml(example_value(fault_type, param, decoy))}")
    lines += _scope_lines(cls, inner)
    lines += _comment(f"changelog: {base['changelog'].description} Service: "
                      f"{cls.changelog_service} ({cls.changelog_kind}).", inner)  # fmt: skip
    wording = f"{cls.changelog_kind.capitalize()} {cls.changelog_service}: describe the change"
    lines.append(f"{inner}changelog: {_yaml(wording)}")
    return lines


def _scope_lines(cls: type[FaultBase], indent: str) -> list[str]:
    dims = [d for d in SCOPE_ORDER if d in cls.scope_dimensions]
    dims += sorted(cls.scope_dimensions - set(dims))
    if not dims:
        note = _comment("scope: this type acts everywhere (it accepts no scope keys).", indent)
        return [*note, f"{indent}scope: {{}}"]
    lines = _comment(f"scope: {_doc(Scope)} Keys this type accepts: {', '.join(dims)}.", indent)
    for dim in dims:
        lines += _comment(f"- {dim}: {scope_values(dim)}", indent)
    example = ", ".join(_plain(v) for v in SCOPE_EXAMPLES.get(dims[0], []))
    return [*lines, f"{indent}scope: {{{dims[0]}: [{example}]}}"]


def _plain(value: Any) -> str:
    """A scope value as the shipped cases write it: unquoted unless YAML would misread it."""
    text = str(value)
    return text if isinstance(value, int) or text.replace("_", "").isalpha() else _yaml(text)


def _scenario_comment(name: str) -> list[str]:
    from sim.scenario import Scenario

    info = Scenario.model_fields[name]
    return _comment(f"{name}: {info.description or FIELD_NOTES.get(name, '')}")


def schema_line(out: Path) -> str:
    """The editor's schema header, relative to where the file is written."""
    rel = os.path.relpath(SCHEMA_FILE, out.resolve().parent)
    return f"# yaml-language-server: $schema={Path(rel).as_posix()}"


def neutral_title(after: date) -> str:
    return f"Conversion review for {after:%B} {after.day}"


def scaffold(
    fault_type: str,
    out: Path,
    case_id: str,
    title: str | None = None,
    start: date = date(2026, 8, 3),
    seed: int = 7,
    days: int = 28,
) -> str:
    """The scenario YAML text for a one-cause case of `fault_type`, commented throughout."""
    from sim.scenario import Scenario, Target, Windows

    if fault_type not in FAULT_TYPES:
        raise ValueError(f"unknown fault type {fault_type!r}; valid: {', '.join(FAULT_TYPES)}")
    win = Windows()
    target = Target()
    after = start + timedelta(days=days - win.after_days)
    before = after - timedelta(days=win.before_days)
    at = datetime.combine(after, time(2, 0))
    brief = (
        "Feed session conversion (sessions with at least one order / feed sessions) fell "
        f"week over week. Compare {_span(after, win.after_days)} with "
        f"{_span(before, win.before_days)}, find out why, and say how much of the change each "
        "cause explains."
    )
    lines = [
        schema_line(out),
        *_comment(
            f"Scaffolded by `casesim new --fault {fault_type}`. {_doc(Scenario)} Check "
            "it with `casesim validate` and `casesim preview`; every fault type's "
            "parameters and scopes: docs/faults.md."
        ),
        *_scenario_comment("id"),
        f"id: {case_id}",
        *_scenario_comment("title"),
        f"title: {_yaml(title or neutral_title(after))}",
        *_scenario_comment("brief"),
        "brief: |",
        *("  " + line for line in textwrap.wrap(brief, WIDTH - 2)),
        *_teaching(Scenario, fault_type),
        *_scenario_comment("start"),
        f"start: {start.isoformat()}",
        *_scenario_comment("days"),
        f"days: {days}",
        *_scenario_comment("seed"),
        f"seed: {seed}",
        *_comment(f"windows: {_doc(Windows)}"),
        f"windows: {{before_days: {win.before_days}, after_days: {win.after_days}}}",
        *_comment(f"target: {_doc(Target)} {Scenario.model_fields['target'].description}"),
        f"target: {{change: {target.change}, tolerance: {target.tolerance}}}",
        *_scenario_comment("noise_bound"),
        f"noise_bound: {Scenario.model_fields['noise_bound'].default}",
        "faults:",
        *fault_lines(fault_type, fault_type, at),
    ]
    decoy_type = DECOY_FOR.get(fault_type, "config_change")
    lines += _comment(
        indent="  ",
        text=f"A decoy to start from (uncomment it): a {decoy_type} near the onset that explains "
        "(almost) nothing; a decoy must explain at most 15% of the change (the intent check).",
    )
    decoy_at = at - timedelta(hours=20)
    lines += [
        "  # " + line.removeprefix("  ")
        for line in fault_lines(decoy_type, "other_change", decoy_at, decoy=True)
    ]
    return "\n".join(lines) + "\n"


def calendar_events(scenario: Any) -> list[str]:
    """The built-in calendar's events (festival run-ups and hangovers) inside the case windows:
    the metric moves there by itself, so no quiet realization may exist. Paydays are in every
    month; `payday_imbalance` says when they tilt the comparison."""
    from sim.calendar import day_factors

    found: dict[str, list[date]] = {}
    for day in _window_days(scenario, 0)[0] + _window_days(scenario, 0)[1]:
        for event in day_factors(day).events:
            if event != "payday":
                found.setdefault(event, []).append(day)
    return [f"{e} ({days[0]:%d %b}..{days[-1]:%d %b})" for e, days in found.items()]


def payday_imbalance(scenario: Any) -> list[str]:
    """Where the paydays (the 10th and the 15th, when buyers' intent rises) fall unevenly
    between the two windows, this year or in last year's aligned weeks: a case drafted that way
    moved by itself, and its last-year comparison read as a season to the solver."""
    from sim.calendar import day_factors

    warnings = []
    for label, years_back in (("this year", 0), ("last year's aligned weeks", 1)):
        before, after = (
            sum("payday" in day_factors(day).events for day in window)
            for window in _window_days(scenario, years_back)
        )
        if before != after:
            warnings.append(
                f"{label}: {before} payday(s) in the before window, {after} in the after window"
            )
    return warnings


def _window_days(scenario: Any, years_back: int) -> tuple[list[date], list[date]]:
    """The before and after windows' days, shifted back by whole 364-day years (the reference
    period keeps weekdays aligned)."""
    last = scenario.end_date - timedelta(days=364 * years_back)
    after_first = last - timedelta(days=scenario.windows.after_days - 1)
    before_first = after_first - timedelta(days=scenario.windows.before_days)

    def days(first: date, n: int) -> list[date]:
        return [first + timedelta(days=i) for i in range(n)]

    return (
        days(before_first, scenario.windows.before_days),
        days(after_first, scenario.windows.after_days),
    )


def _teaching(model: Any, fault_type: str) -> list[str]:
    """The debrief's teaching note, drafted from the fault's evidence (when scenarios have
    one): the coach rewrites it as what a strong candidate checks first, and why."""
    if "teaching" not in model.model_fields:
        return []
    draft = f"Draft from the fault's evidence, to rewrite: {FAULT_TYPES[fault_type].evidence}"
    return [
        *_scenario_comment("teaching"),
        "teaching: |",
        *("  " + line for line in textwrap.wrap(" ".join(draft.split()), WIDTH - 2)),
    ]


def _span(first: date, days: int) -> str:
    last = first + timedelta(days=days - 1)
    if first.month == last.month:
        return f"{first.day}–{last.day} {first:%B}"
    return f"{first.day} {first:%B}–{last.day} {last:%B}"


def default_id(out: Path) -> str:
    """The file's stem as a scenario id (lower case, `_` for anything else)."""
    stem = "".join(c if c.isalnum() else "_" for c in out.stem.lower()).strip("_")
    return stem if stem[:1].isalpha() else f"case_{stem}"
