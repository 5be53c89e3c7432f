"""The coach's tools: `casesim new` scaffolds that validate, the generated reference that
cannot drift from the registries, and `casesim preview` on one shipped case."""

from __future__ import annotations

import re

import pytest
import yaml
from typer.testing import CliRunner

from casesim.cli import app
from casesim.coach import parameters, scaffold
from casesim.coach_reference import DOC_FILE, REGENERATE, reference_markdown
from grading.hypotheses import HYPOTHESES
from sim.faults import FAULT_TYPES
from sim.scenario import parse_scenario
from tests.conftest import SCENARIOS

runner = CliRunner()

# Fault types whose first case has not shipped yet: each is removed when its case ships
# (test_the_allow_list_is_current says when).
NOT_SHIPPED_YET: set[str] = set()  # every registered type ships now


def _uncomment_decoy(text: str) -> str:
    """The scaffold with its commented-out decoy switched on."""
    lines = []
    for line in text.splitlines():
        if line.startswith(("  # - ", "  #   ")):
            line = "  " + line[4:]
        lines.append(line)
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("fault_type", sorted(FAULT_TYPES))
def test_every_fault_types_scaffold_validates_with_and_without_its_decoy(fault_type, tmp_path):
    text = scaffold(fault_type, tmp_path / "case.yaml", "some_case")
    spec = parse_scenario(text, "case.yaml")
    assert [f.type for f in spec.faults] == [fault_type]
    assert spec.faults[0].is_auto and spec.target is not None
    assert (spec.target.change, spec.target.tolerance) == (-0.05, 0.005)
    for param in parameters(FAULT_TYPES[fault_type]):
        assert re.search(rf"^    {param.name}: ", text, re.M), param.name  # each one, set
    with_decoy = parse_scenario(_uncomment_decoy(text), "case.yaml")
    assert [f.decoy for f in with_decoy.faults] == [False, True]


def test_new_writes_a_commented_scenario_that_validates(tmp_path):
    target = tmp_path / "scenarios" / "my_case.yaml"
    result = runner.invoke(app, ["new", "--fault", "price_change", "--out", str(target)])
    assert result.exit_code == 0, result.output
    text = target.read_text()
    assert text.startswith("# yaml-language-server: $schema=")
    prose = " ".join(text.replace("#", " ").split())  # the comments, unwrapped
    assert "Fractional price rise at severity 1" in prose  # the parameter's own description
    assert "Keys this type accepts: category." in prose
    assert yaml.safe_load(text)["id"] == "my_case"
    checked = runner.invoke(app, ["validate", str(target)])
    assert checked.exit_code == 0 and "ok" in checked.output


def test_new_refuses_to_overwrite_without_force(tmp_path):
    target = tmp_path / "case.yaml"
    target.write_text("mine\n")
    result = runner.invoke(app, ["new", "--fault", "deploy", "--out", str(target)])
    assert result.exit_code == 2 and "--force" in result.output
    assert target.read_text() == "mine\n"
    forced = runner.invoke(app, ["new", "--fault", "deploy", "--out", str(target), "--force"])
    assert forced.exit_code == 0 and "type: deploy" in target.read_text()


def test_new_off_a_terminal_asks_nothing_and_names_what_is_missing(tmp_path):
    result = runner.invoke(app, ["new", "--out", str(tmp_path / "x.yaml")])
    assert result.exit_code == 2 and "give --fault" in result.output
    bad = runner.invoke(app, ["new", "--fault", "nope", "--out", str(tmp_path / "x.yaml")])
    assert bad.exit_code == 2 and "price_change" in bad.output
    assert not (tmp_path / "x.yaml").exists()


def test_new_warns_when_the_windows_hold_a_festival(tmp_path):
    out = tmp_path / "x.yaml"
    result = runner.invoke(
        app, ["new", "--fault", "price_change", "--out", str(out), "--start", "2026-10-05"]
    )
    assert result.exit_code == 0 and "Double 11 pre-sale" in result.output


def test_new_warns_when_paydays_fall_on_one_side_only(tmp_path):
    def warnings(start: str) -> list[str]:
        out = tmp_path / f"{start}.yaml"
        args = ["new", "--fault", "price_change", "--out", str(out), "--start", start]
        result = runner.invoke(app, args)
        assert result.exit_code == 0
        return [line for line in result.output.splitlines() if line.startswith("warning: paydays")]

    # 20 July + 28 days: the after window (10-16 Aug) holds both paydays, the before none.
    assert any(
        "0 payday(s) in the before window, 2 in the after" in w for w in warnings("2026-07-20")
    )
    assert warnings("2026-08-03") == []  # 17-23 vs 24-30 Aug, and last year's too: none


def test_the_committed_reference_is_the_generated_one():
    assert DOC_FILE.read_text() == reference_markdown(), f"stale: run `{REGENERATE}`"
    shown = runner.invoke(app, ["reference"])
    assert shown.exit_code == 0 and shown.output == reference_markdown()


def test_every_fault_type_parameter_scope_and_menu_id_is_documented():
    text = reference_markdown()
    for name, cls in FAULT_TYPES.items():
        section = text.split(f"### `{name}`\n", 1)[1].split("\n### ", 1)[0]
        for param in parameters(cls):
            assert f"| `{param.name}` |" in section, (name, param.name)
        for dim in cls.scope_dimensions:
            assert f"`{dim}`" in section.split("**Scope keys:**", 1)[1].split("\n", 1)[0]
        for hid in cls.hit_set:
            assert f"`{hid}`" in section
    for h in HYPOTHESES:
        row = next(line for line in text.splitlines() if line.startswith(f"| `{h.id}` |"))
        assert h.words in row and h.page in row


def _shipped_types() -> set[str]:
    found = set()
    for path in SCENARIOS.glob("*.yaml"):
        found |= {f.type for f in parse_scenario(path.read_text(), str(path)).faults}
    return found


def test_every_fault_type_is_used_in_a_shipped_scenario():
    missing = set(FAULT_TYPES) - _shipped_types() - NOT_SHIPPED_YET
    assert not missing, f"no shipped case uses {sorted(missing)}"


def test_the_allow_list_is_current():
    shipped = NOT_SHIPPED_YET & _shipped_types()
    assert not shipped, f"{sorted(shipped)} ship now: remove them from NOT_SHIPPED_YET"
    assert NOT_SHIPPED_YET.issubset(FAULT_TYPES)


@pytest.mark.slow
def test_preview_shows_the_key_intent_and_the_solvers_score(monkeypatch, tmp_path):
    """One shipped one-cause case at small size, no other seeds: the cheapest real preview.
    Its luck is set to the one its calibration record holds (the first quiet draw at small
    size): the quiet search, run as ever, keeps its first try rather than re-drawing the six
    loud ones before it. The calibration, the key and the solver run as for the file as is."""
    from casesim import cliutil
    from sim.calibration_record import read_entries, record_path

    # The CLI's console is made on first use and keeps that width: another test in this
    # process may have made it at 80 columns. A fresh one reads COLUMNS below.
    monkeypatch.setattr(cliutil.out, "_console", None)
    shipped = SCENARIOS / "promotion_end.yaml"
    (entry,) = [e for e in read_entries(record_path(shipped)) if e.size == "small"]
    scenario = tmp_path / shipped.name
    scenario.write_text(shipped.read_text() + f"luck: {entry.luck}\n")
    result = runner.invoke(
        app, ["preview", str(scenario), "--size", "small", "--seeds", "0", "--workers", "1"],
        env={"COLUMNS": "200"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    text = result.output
    cause = re.search(r"summer_promotion_end\s+│\s+price_change\s+│\s+([+-][\d.]+)%", text)
    assert cause and 80 <= float(cause.group(1)) <= 130  # the key's share of the one cause
    assert re.search(r"noise\s+│\s+noise\s+│\s+[+-][\d.]+%", text)
    assert "Intent checks" in text and "✓" in text
    solver = re.search(r"score: case (\d\.\d{3})", text)
    assert solver and 0 <= float(solver.group(1)) <= 1
    assert "ships as written" in text
