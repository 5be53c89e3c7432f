"""The authoring reference (docs/faults.md), generated from the registries it describes.

Every fault type in sim/faults/registry.py (its docstrings, parameters with types, bounds,
defaults and descriptions, the scope keys it accepts, the menu ids it confirms and its
evidence) and every menu id in grading/hypotheses.py (its words, cost, the fault types that
produce it and the page where its evidence shows). `casesim reference` prints it;
tests/casesim/test_coach.py checks the committed file is this text, so the reference cannot
drift from the code.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from casesim.coach import ROOT, bounds_text, parameters, scope_values, type_text
from grading.hypotheses import HYPOTHESES
from sim.faults import FAULT_TYPES
from sim.faults.base import FaultBase, Scope

DOC_FILE = ROOT / "docs" / "faults.md"
REGENERATE = "casesim reference > docs/faults.md"


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())


def _cell(text: str) -> str:
    """Text for a table cell: pipes escaped, and `<...>` kept from reading as HTML."""
    return re.sub(r"<(?=[A-Za-z/!])", "&lt;", text.replace("|", "\\|"))


def _paragraphs(text: str | None) -> list[str]:
    """A docstring as markdown: its paragraphs joined, its `- ` lists kept as lists."""
    out: list[str] = []
    for block in (text or "").strip().split("\n\n"):
        lines = [line.strip() for line in block.splitlines()]
        items: list[str] = []
        for line in lines:
            if line.startswith("- ") or not items:
                items.append(line)
            else:
                items[-1] += " " + line
        out.append("\n".join(items))
    return out


def _value(value: object) -> str:
    if value is None:
        return "—"
    return f"`{value!r}`" if isinstance(value, str) else f"`{value}`"


def _fault_section(name: str) -> list[str]:
    cls = FAULT_TYPES[name]
    module = sys.modules[cls.__module__]
    lines = [f"### `{name}`", "", f"*{_one_line(cls.__doc__)}*", ""]
    for para in _paragraphs(module.__doc__):
        lines += [para, ""]
    scope = ", ".join(f"`{d}`" for d in sorted(cls.scope_dimensions)) or "none (acts everywhere)"
    lines += [
        f"- **Menu ids it confirms:** {', '.join(f'`{h}`' for h in cls.hit_set)}",
        f"- **Scope keys:** {scope}",
        f"- **Change-log entry:** {cls.changelog_kind} by `{cls.changelog_service}`",
        f"- **Evidence:** {_one_line(cls.evidence)}",
        "",
    ]
    params = parameters(cls)
    if not params:
        return [*lines, "Parameters: only the shared fields.", ""]
    lines += [
        "| parameter | type | bounds | default | description |",
        "|---|---|---|---|---|",
    ]
    for p in params:
        default = "required" if p.required else _value(p.default)
        lines.append(
            f"| `{p.name}` | {_cell(p.type_text)} | {_cell(p.bounds) or '—'} | {default} | "
            f"{_cell(p.description) or '—'} |"
        )
    return [*lines, ""]


def _shared_fields() -> list[str]:
    lines = [
        "| field | type | bounds | default | description |",
        "|---|---|---|---|---|",
    ]
    for name, info in FaultBase.model_fields.items():
        if name == "type":
            continue
        if info.is_required():
            default = "required"
        elif info.default_factory is not None:
            default = "`{}` (everywhere)"
        else:
            default = _value(info.default)
        lines.append(
            f"| `{name}` | {_cell(type_text(info.annotation))} | {_cell(bounds_text(info)) or '—'}"
            f" | {default} | {_cell(_one_line(info.description)) or '—'} |"
        )
    return lines


def _scope_keys() -> list[str]:
    lines = ["| scope key | values | fault types that accept it |", "|---|---|---|"]
    for dim in Scope.model_fields:
        users = sorted(n for n, c in FAULT_TYPES.items() if dim in c.scope_dimensions)
        accepted = ", ".join(f"`{u}`" for u in users) or "—"
        lines.append(f"| `{dim}` | {_cell(scope_values(dim))} | {accepted} |")
    return lines


def _hypotheses() -> list[str]:
    lines = [
        "| id | menu words | cost | fault types that produce it | evidence page |",
        "|---|---|---|---|---|",
    ]
    for h in HYPOTHESES:
        types = ", ".join(f"`{t}`" for t in h.fault_types) or (
            "none: chance (the key's `noise` entry)" if h.id == "NOISE" else "none yet"
        )
        lines.append(
            f"| `{h.id}` | {_cell(h.words)} | {h.cost:g} | {types} | "
            f"`{h.page}`: {_cell(h.page_label)} |"
        )
    return lines


def reference_markdown() -> str:
    """The whole reference, deterministic (registry order for menu ids, sorted fault types)."""
    names = sorted(FAULT_TYPES)
    lines = [
        "# Fault types and menu ids: the authoring reference",
        "",
        f"Generated from the fault registry and the hypothesis registry: `{REGENERATE}` "
        "regenerates it (tests/casesim/test_coach.py fails when it is stale). How to write and "
        "check a case: [scenarios/AUTHORING.md](../scenarios/AUTHORING.md); a commented "
        "scaffold for any type below: `casesim new --fault TYPE --out scenarios/NAME.yaml`.",
        "",
        "Contents: " + ", ".join(f"[`{n}`](#{n})" for n in names) + "; [shared fields]"
        "(#shared-fields); [scope keys](#scope-keys); [menu ids](#menu-ids).",
        "",
        "## Fault types",
        "",
    ]
    for name in names:
        lines += _fault_section(name)
    lines += [
        "## Shared fields",
        "",
        _one_line(FaultBase.__doc__).rstrip(".")
        + " (a type may change a default: its own table then lists the field).",
        "",
        *_shared_fields(),
        "",
        "## Scope keys",
        "",
        _one_line(Scope.__doc__)
        + " A key a fault type does not accept is refused by `casesim validate`.",
        "",
        *_scope_keys(),
        "",
        "## Menu ids",
        "",
        "The hypotheses a candidate orders (grading/hypotheses.py). A cause is found when the "
        "candidate reaches any id of its fault type's hit set; the cost is what investigating "
        "the id costs in the order score.",
        "",
        *_hypotheses(),
        "",
    ]
    return "\n".join(lines)


def write_reference(path: Path = DOC_FILE) -> None:
    path.write_text(reference_markdown())
