"""Scenario loading: every kind of bad input is a clear error naming file, line and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.scenario import ScenarioError, load_scenario, parse_scenario, scenario_json_schema
from tests.conftest import SCENARIOS

GOOD = """\
id: case
title: A case
start: 2026-08-03
days: 28
faults:
  - type: config_change
    at: 2026-08-20T10:00:00
    key: ranker.exploration
    value: 0.05
"""


def problems(text: str) -> list:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "case.yaml")
    return info.value.problems


def test_good_scenario_loads():
    scenario = parse_scenario(GOOD)
    assert scenario.days == 28
    assert scenario.fault_ids() == ["config_change"]


def test_shipped_scenarios_validate():
    for path in SCENARIOS.glob("*.yaml"):
        load_scenario(path)


def test_missing_file(tmp_path):
    with pytest.raises(ScenarioError, match="file not found"):
        load_scenario(tmp_path / "nope.yaml")


def test_unreadable_file(tmp_path):
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ScenarioError, match="not UTF-8"):
        load_scenario(path)


def test_directory_is_refused(tmp_path):
    with pytest.raises(ScenarioError, match="directory"):
        load_scenario(tmp_path)


def test_bad_yaml_syntax_names_line():
    (problem,) = problems("id: x\ntitle: [unclosed\nstart: 2026-08-03\n")
    assert problem.file == "case.yaml"
    assert problem.line in (2, 3, 4)
    assert "invalid YAML" in problem.message


def test_unknown_key_names_field_and_line():
    (problem,) = problems(GOOD.replace("days: 28", "days: 28\ndayz: 3"))
    assert (problem.line, problem.field) == (5, "dayz")
    assert "unknown key" in problem.message


def test_unknown_nested_key():
    (problem,) = problems(GOOD + "    colour: red\n")
    assert problem.field == "faults[0].colour"
    assert problem.line == 10


def test_wrong_type():
    (problem,) = problems(GOOD.replace("days: 28", "days: many"))
    assert problem.field == "days"
    assert problem.line == 4
    assert "integer" in problem.message


def test_out_of_range():
    (problem,) = problems(GOOD.replace("value: 0.05", "value: 500"))
    assert problem.field == "faults[0].value"
    assert problem.line == 9
    assert "10" in problem.message


def test_bad_dates():
    (problem,) = problems(GOOD.replace("start: 2026-08-03", "start: 2026-02-30"))
    assert problem.field == "start"
    assert problem.line == 3


def test_fault_outside_period():
    (problem,) = problems(GOOD.replace("2026-08-20T10:00:00", "2027-01-01T00:00:00"))
    assert "outside the period" in problem.message


def test_unknown_fault_type_lists_valid_ones():
    (problem, *_) = problems(GOOD.replace("config_change", "meteor_strike"))
    assert "config_change" in problem.message
    assert problem.line == 6


def test_duplicate_keys_are_refused():
    (problem,) = problems(GOOD.replace("days: 28", "days: 28\ndays: 21"))
    assert "duplicate key" in problem.message
    assert problem.line == 5


def test_not_a_mapping():
    (problem,) = problems("- just\n- a list\n")
    assert "mapping" in problem.message


def test_windows_must_fit():
    (problem,) = problems(GOOD + "windows: {before_days: 20, after_days: 20}\n")
    assert "do not fit" in problem.message


def test_schema_is_json_and_shipped_copy_is_current():
    schema = scenario_json_schema()
    assert "faults" in schema["properties"]
    shipped = json.loads(Path("scenario.schema.json").read_text())
    assert shipped == json.loads(json.dumps(schema)), "run: casesim schema > scenario.schema.json"


yaml_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20)
)
yaml_values = st.recursive(
    yaml_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.text(max_size=300))
def test_fuzz_arbitrary_text_never_tracebacks(text):
    try:
        parse_scenario(text)
    except ScenarioError as exc:
        assert exc.problems and all(p.message for p in exc.problems)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["id", "title", "start", "days", "faults", "seed", "windows", "x"]),
        yaml_values,
    )
)
def test_fuzz_structured_documents_never_traceback(doc):
    import yaml

    try:
        parse_scenario(yaml.safe_dump(doc))
    except ScenarioError as exc:
        assert exc.problems


@settings(max_examples=200, deadline=None)
@given(st.integers(0, len(GOOD)), st.text(max_size=12))
def test_fuzz_mutated_good_file_never_tracebacks(pos, insert):
    try:
        parse_scenario(GOOD[:pos] + insert + GOOD[pos:])
    except ScenarioError as exc:
        assert exc.problems


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("9" * 5000, "integer longer than"),
        ("[" * 3000 + "]" * 3000, "invalid YAML"),
        ("!!timestamp 2026-02-30", "invalid YAML value"),
        ("!!timestamp x", "not a timestamp: 'x'"),  # PyYAML itself: an AttributeError
        ("!!bool nope", "not a boolean: 'nope'"),  # PyYAML itself: a KeyError
        ("!!python/object:os.system x", "invalid YAML"),
    ],
)
def test_hostile_values_are_one_clear_problem(value, says):
    found = problems(f"id: x\ntitle: T\nstart: 2026-08-03\nseed: {value}\n")
    assert len(found) == 1 and says in found[0].message
    assert str(found[0]).startswith("case.yaml")


def test_many_problems_are_capped_and_counted():
    """100k unknown keys: the first problems with their lines, then one line counting the rest."""
    from sim.scenario import MAX_PROBLEMS

    keys = "".join(f"k{i}: 1\n" for i in range(100_000))
    found = problems("id: x\ntitle: T\nstart: 2026-08-03\n" + keys)
    assert len(found) == MAX_PROBLEMS + 1
    assert (found[0].line, found[0].field) == (4, "k0")
    assert "99980 more problems" in found[-1].message


def test_only_regular_files_are_read(tmp_path):
    import os

    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    for path in (fifo, Path("/dev/zero")):
        with pytest.raises(ScenarioError, match="not a regular file"):
            load_scenario(path)
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * (2 << 20))
    with pytest.raises(ScenarioError, match="limit"):
        load_scenario(big)
