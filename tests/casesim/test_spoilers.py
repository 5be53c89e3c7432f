"""`casesim validate` warns (exit 0) when an id, title, brief or change log names the cause."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from casesim.cli import app
from tests.conftest import SCENARIOS

runner = CliRunner()

HINTING = """\
id: android_evening
title: "Latency complaints"
brief: |
  Conversion fell week over week.
  Find out why.
start: 2026-08-03
days: 28
faults:
  - type: app_release
    platform: android
    at: 2026-08-24T10:00:00
    client_factor: 2.0
  - type: feed_change
    mode: category_remap
    at: 2026-08-22T02:00:00
    severity: 0.5
    changelog: "Deploy item-feed-pipeline v2.8.0: category remap"
"""
LINE = re.compile(r"^(?P<file>.+):(?P<line>\d+): (?P<field>\w+): warning: .*$")


def test_hinting_case_warns_with_file_line_field(tmp_path):
    path = tmp_path / "hint.yaml"
    path.write_text(HINTING)
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    warnings = [m.groupdict() for ln in result.output.splitlines() if (m := LINE.match(ln))]
    found = {(w["line"], w["field"]) for w in warnings}
    assert ("1", "id") in found  # 'android', the release's platform
    assert ("2", "title") in found  # 'latency'
    assert ("17", "changelog") in found  # 'remap'
    assert all(w["file"] == str(path) for w in warnings)
    assert f"{path}: ok" in result.output


def test_neutral_wording_and_decoys_do_not_warn(tmp_path):
    path = tmp_path / "neutral.yaml"
    text = HINTING.replace("android_evening", "case_17").replace("Latency complaints", "Dip")
    path.write_text(text.replace(": category remap", ""))
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 0 and "warning" not in result.output, result.output
    # A brief pointing at a decoy is by design (the red herring), not a spoiler.
    ok = runner.invoke(app, ["validate", str(SCENARIOS / "seasonal_with_deploy.yaml")])
    assert ok.exit_code == 0 and "warning" not in ok.output, ok.output


def test_shipped_ids_and_titles_do_not_hint():
    result = runner.invoke(app, ["validate", *map(str, sorted(SCENARIOS.glob("*.yaml")))])
    assert result.exit_code == 0
    assert not [ln for ln in result.output.splitlines() if re.search(r": (id|title): warn", ln)]
