"""Scenario files: the typed model, YAML loading, and errors that name file, line and field.

A scenario is what a coach writes and the engine runs: the period, the seed, the metric and
its windows, the target drop, and the faults. Loading never raises a traceback at the user:
every problem becomes a `ScenarioProblem` with the file, the line, the field path and what
was expected, collected into one `ScenarioError`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from sim.faults import FaultSpec, fault_type_names
from sim.faults.base import Scope
from sim.inputs import MAX_SCENARIO_BYTES, InputError, read_text

SCHEMA_URL = "../scenario.schema.json"


class Windows(BaseModel):
    """The comparison windows: the last `after_days` against the `before_days` preceding them."""

    model_config = ConfigDict(extra="forbid")

    before_days: int = Field(default=7, ge=1, le=28)
    after_days: int = Field(default=7, ge=1, le=28)


class Target(BaseModel):
    """The intended relative change of the metric (after/before − 1) and its tolerance."""

    model_config = ConfigDict(extra="forbid")

    change: float = Field(default=-0.05, ge=-0.5, le=0.5)
    tolerance: float = Field(default=0.005, gt=0, le=0.1)


MAX_VARIANT_SCOPES = 12


class Variants(BaseModel):
    """The variant space of a case: what a take-home may change per candidate besides the seed.

    `scope` maps a fault id to the scopes it may take instead of its own (e.g. another set of
    categories), so two candidates' keys differ in more than chance. Each alternative must be
    a valid scope for that fault's type; `casesim takehome create` deals them out.
    """

    model_config = ConfigDict(extra="forbid")

    scope: dict[str, list[Scope]] = Field(
        default_factory=dict,
        max_length=8,
        description="Fault id -> the scopes a variant may give it instead of its own.",
    )


class Scenario(BaseModel):
    """One case: a period of marketplace life, with the faults injected into it."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z][a-z0-9_-]*$", max_length=60)
    title: str = Field(min_length=1, max_length=120)
    brief: str = Field(default="", max_length=4000)
    teaching: str = Field(
        default="",
        max_length=2000,
        description=(
            "For the debrief, shown only after a submission: what a strong candidate checks "
            "first, and why. Never in the candidate's brief."
        ),
    )
    start: date = Field(description="First day of the period under study.")
    days: int = Field(default=28, ge=15, le=120)
    reference_days: int = Field(
        default=14, ge=0, le=56, description="Days of last year's reference weeks."
    )
    seed: int = Field(default=1, ge=0, le=2**32 - 1)
    metric: Literal["feed_session_conversion"] = "feed_session_conversion"
    windows: Windows = Field(default_factory=Windows)
    target: Target | None = Field(
        default=None, description="The target change; omit for a control case with no drop."
    )
    luck: int = Field(
        default=0,
        ge=0,
        le=2**32 - 1,
        description=(
            "Which draw of chance the case windows use (0: the seed's own). The case "
            "generator picks one whose null branch is quiet and writes it here."
        ),
    )
    noise_bound: float = Field(
        default=0.005,
        ge=0.0005,
        le=0.05,
        description=(
            "The most the metric may move with every fault off (absolute relative change): "
            "the case generator searches realizations for one this quiet."
        ),
    )
    faults: list[FaultSpec] = Field(default_factory=list, max_length=8)  # type: ignore[valid-type]
    variants: Variants | None = Field(
        default=None,
        description="What a take-home variant may change per candidate besides the seed.",
    )

    @field_validator("variants")
    @classmethod
    def _valid_variants(cls, variants: Variants | None, info: ValidationInfo) -> Variants | None:
        """Each fault id is the scenario's, each alternative a scope its type accepts."""
        faults = info.data.get("faults")
        if variants is None or faults is None:
            return variants
        by_id = dict(zip(_fault_ids(faults), faults, strict=True))
        for fid, scopes in variants.scope.items():
            fault = by_id.get(fid)
            if fault is None:
                known = ", ".join(by_id) or "none"
                raise ValueError(f"scope: {fid!r} is not a fault id of this scenario ({known})")
            if not 1 <= len(scopes) <= MAX_VARIANT_SCOPES:
                raise ValueError(f"scope.{fid}: give 1..{MAX_VARIANT_SCOPES} alternative scopes")
            for i, scope in enumerate(scopes):
                extra = scope.dimensions() - fault.scope_dimensions
                if extra or not scope.dimensions():
                    allowed = ", ".join(sorted(fault.scope_dimensions)) or "none"
                    raise ValueError(
                        f"scope.{fid}[{i}]: a {fault.type} is scoped by {allowed} "
                        f"(got {', '.join(sorted(scope.dimensions())) or 'an empty scope'})"
                    )
            seen = [s.describe() for s in scopes]
            if any(x in seen[:i] for i, x in enumerate(seen)):
                raise ValueError(f"scope.{fid}: the alternative scopes must differ")
        return variants

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        if self.windows.before_days + self.windows.after_days > self.days:
            raise ValueError(
                f"windows ({self.windows.before_days}+{self.windows.after_days} days) "
                f"do not fit in {self.days} days"
            )
        if self.start.year < 2000 or self.start.year > 2100:
            raise ValueError("start must be a date between 2000 and 2100")
        ids = [f.id for f in self.faults if f.id is not None]
        if len(ids) != len(set(ids)):
            raise ValueError("fault ids must be unique")
        for fault in self.faults:
            if not self.start_time <= fault.at < self.end_time:
                raise ValueError(
                    f"fault {fault.id or fault.type} starts at {fault.at:%Y-%m-%d %H:%M}, "
                    f"outside the period {self.start} .. {self.end_date}"
                )
        return self

    @property
    def start_time(self) -> datetime:
        return datetime.combine(self.start, datetime.min.time())

    @property
    def end_time(self) -> datetime:
        return self.start_time + timedelta(days=self.days)

    @property
    def end_date(self) -> date:
        return self.start + timedelta(days=self.days - 1)

    def fault_ids(self) -> list[str]:
        """Each fault's id, defaulting to `type` (with a number when a type repeats)."""
        return _fault_ids(self.faults)

    def digest(self) -> str:
        """A hash of the scenario's meaning (not its formatting)."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def calibration_digest(self) -> str:
        """A hash of what the simulation depends on: the words people read (id, title, brief,
        teaching note) are left out, so rewording a case keeps its calibration record."""
        data = self.model_dump(mode="json", exclude={"id", "title", "brief", "teaching"})
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _fault_ids(faults: list[Any]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for fault in faults:
        if fault.id:
            out.append(fault.id)
            continue
        seen[fault.type] = seen.get(fault.type, 0) + 1
        out.append(fault.type if seen[fault.type] == 1 else f"{fault.type}_{seen[fault.type]}")
    return out


@dataclass(frozen=True)
class ScenarioProblem:
    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field or '(file)'}: {self.message}"


class ScenarioError(Exception):
    """One or more problems in a scenario file."""

    def __init__(self, problems: list[ScenarioProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


_BaseLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when installed


class _UniqueKeyLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """SafeLoader that refuses duplicate keys and huge integers, and leaves dates as text.

    Dates stay strings so that the model validates them and names the field of a bad one
    (PyYAML would raise a bare ValueError for 2026-02-30). Integers are bounded in digits:
    Python refuses to parse more than 4300 and nothing in a scenario needs more than 20.
    """


_UniqueKeyLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
MAX_INT_DIGITS = 64
MAX_PROBLEMS = 20  # more would bury the first; the rest are counted, not listed


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str | int | float | bool | None):
            raise yaml.constructor.ConstructorError(
                None, None, "mapping keys must be plain values", key_node.start_mark
            )
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    if len(str(node.value)) > MAX_INT_DIGITS:
        raise yaml.constructor.ConstructorError(
            None, None, f"integer longer than {MAX_INT_DIGITS} digits", node.start_mark
        )
    return yaml.constructor.SafeConstructor.construct_yaml_int(loader, node)


def _construct_bool(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> bool:
    """An explicit `!!bool` whose value is not a YAML boolean is an error at its line (PyYAML
    itself fails with a KeyError)."""
    if str(node.value).lower() not in loader.bool_values:
        raise yaml.constructor.ConstructorError(
            None, None, f"not a boolean: {node.value!r}", node.start_mark
        )
    return yaml.constructor.SafeConstructor.construct_yaml_bool(loader, node)


def _construct_timestamp(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    """An explicit `!!timestamp` whose value is not a timestamp is an error at its line
    (PyYAML itself fails with an AttributeError)."""
    if loader.timestamp_regexp.match(str(node.value)) is None:
        raise yaml.constructor.ConstructorError(
            None, None, f"not a timestamp: {node.value!r}", node.start_mark
        )
    return yaml.constructor.SafeConstructor.construct_yaml_timestamp(loader, node)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,  # type: ignore[arg-type]
)
_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)  # type: ignore[arg-type]
_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:bool", _construct_bool)  # type: ignore[arg-type]
_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)  # type: ignore[arg-type]


def _compose_and_load(text: str, source: str) -> tuple[yaml.Node | None, Any]:
    """Parse once: the node tree (for line numbers) and the data built from it."""
    loader = _UniqueKeyLoader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or str(exc)
        raise _one(source, line, f"invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise _one(source, None, f"invalid YAML: {exc}") from None
    except RecursionError:
        raise _one(source, None, "invalid YAML: nested too deeply") from None
    except (ValueError, TypeError, OverflowError, ArithmeticError) as exc:
        # an explicit tag with a bad value (`!!timestamp 2026-02-30`, `!!float x`)
        raise _one(source, None, f"invalid YAML value: {exc}") from None
    finally:
        loader.dispose()
    return root, data


def _one(source: str, line: int | None, message: str) -> ScenarioError:
    return ScenarioError([ScenarioProblem(source, line, "", message)])


def _line_of(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the YAML node at a pydantic error location (or its nearest parent)."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            hit = next(
                (
                    (k, v)
                    for k, v in node.value
                    if isinstance(k, yaml.ScalarNode) and k.value == str(part)
                ),
                None,
            )  # stops at the key: a problem near the top of a 100k-key file is found at once
            if hit is None:
                continue  # a discriminator tag or a missing key: stay on the parent
            node = hit[1]
            line = hit[0].start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _field_path(loc: tuple[Any, ...], data: Any) -> str:
    """`faults[0].severity`, skipping the discriminator tags pydantic inserts."""
    out = ""
    node = data
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
            continue
        if isinstance(node, dict) and part not in node and part in fault_type_names():
            continue
        out += f".{part}" if out else str(part)
        node = node.get(part) if isinstance(node, dict) else None
    return out


def _message(err: dict[str, Any]) -> str:
    msg = str(err["msg"])
    if err["type"] == "extra_forbidden":
        return "unknown key (check the spelling; `casesim schema` lists the valid keys)"
    if err["type"] == "union_tag_invalid":
        return f"unknown fault type; valid types: {', '.join(fault_type_names())}"
    if err["type"] == "literal_error" and err["loc"][-1:] == ("type",):
        return f"unknown fault type; valid types: {', '.join(fault_type_names())}"
    if err["type"] == "missing":
        return "required field is missing"
    given = err.get("input")
    if err["type"] != "value_error" and isinstance(given, str | int | float | bool):
        return f"{msg} (got {given!r})"
    return msg.removeprefix("Value error, ")


def parse_scenario(text: str, source: str = "<scenario>") -> Scenario:
    """Parse and validate scenario YAML text; raise ScenarioError naming source and line.

    Work is linear in the text: one parse, and at most `MAX_PROBLEMS` problems located
    (a file with 100k unknown keys reports the first ones and counts the rest).
    """
    root, data = _compose_and_load(text, source)
    if not isinstance(data, dict):
        kind = "empty" if data is None else type(data).__name__
        raise _one(source, 1, f"expected a mapping of scenario fields, got {kind}")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False, include_input=True)
        problems = [
            ScenarioProblem(
                source,
                _line_of(root, tuple(err["loc"])),
                _field_path(tuple(err["loc"]), data),
                _message(dict(err)),
            )
            for err in errors[:MAX_PROBLEMS]
        ]
        if len(errors) > MAX_PROBLEMS:
            more = f"... and {len(errors) - MAX_PROBLEMS} more problems"
            problems.append(ScenarioProblem(source, None, "", more))
        raise ScenarioError(problems) from None
    except RecursionError:
        raise _one(source, None, "nested too deeply") from None
    except (TypeError, ValueError, OverflowError) as exc:
        raise _one(source, None, str(exc)) from None


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; any problem is a ScenarioError, never a traceback.

    Only a regular file up to `MAX_SCENARIO_BYTES` is read (never a FIFO or a device).
    """
    try:
        text = read_text(path, MAX_SCENARIO_BYTES)
    except InputError as exc:
        raise _one(exc.source, None, exc.problem) from None
    return parse_scenario(text, str(path))


def scenario_json_schema() -> dict[str, Any]:
    """The JSON Schema editors use to complete and check scenario YAML."""
    schema = Scenario.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "casesim scenario"
    return schema
