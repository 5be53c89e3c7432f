"""The `casesim` command line: its contract with users and other tools."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from sim.cli import app

runner = CliRunner()
BASELINE = "scenarios/baseline.yaml"


def test_validate_ok_and_bad(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\ntitle: T\nstart: 2026-08-03\ndays: lots\n")
    ok = runner.invoke(app, ["validate", BASELINE])
    assert ok.exit_code == 0, ok.output
    result = runner.invoke(app, ["validate", BASELINE, str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:4: days:" in result.output


def test_schema_prints_json():
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.output)["title"] == "casesim scenario"


def test_run_bad_scenario_writes_nothing(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\ntitle: T\nstart: 2026-08-03\nbogus: 1\n")
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", str(bad), "--out", str(out), "--size", "tiny"])
    assert result.exit_code == 2
    assert "bogus" in result.output
    assert list(tmp_path.iterdir()) == [bad]


def test_run_unknown_size(tmp_path):
    result = runner.invoke(app, ["run", BASELINE, "--out", str(tmp_path / "r"), "--size", "huge"])
    assert result.exit_code == 2
    assert "valid sizes" in result.output


def test_existing_folder_is_refused_untouched(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = runner.invoke(app, ["run", BASELINE, "--out", str(out), "--size", "tiny"])
    assert result.exit_code == 2
    assert "--force" in result.output
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_describe_summarises_a_run(tiny_run):
    result = runner.invoke(app, ["describe", str(tiny_run)])
    assert result.exit_code == 0, result.output
    for word in ("Totals", "By day", "By platform", "conversion", "2026-08-30"):
        assert word in result.output


def test_bundle_leaves_the_truth_behind(tiny_run, tmp_path):
    """A take-home copy: everything a candidate needs, never the key or the scenario."""
    import shutil

    from sim.output import sha256_file

    run = shutil.copytree(tiny_run, tmp_path / "run")
    (run / "answer_key.json").write_text("{}")
    (run / "scenario.yaml").write_text("faults: []\n")
    result = runner.invoke(app, ["bundle", str(run), str(tmp_path / "take-home")])
    assert result.exit_code == 0, result.output
    copied = {p.name for p in (tmp_path / "take-home").iterdir()}
    assert copied == {p.name for p in run.iterdir()} - {"answer_key.json", "scenario.yaml"}
    manifest = json.loads((tmp_path / "take-home" / "manifest.json").read_text())
    for name, table in manifest["tables"].items():
        assert sha256_file(tmp_path / "take-home" / "tables" / f"{name}.parquet") == table["sha256"]
    again = runner.invoke(app, ["bundle", str(run), str(tmp_path / "take-home")])
    assert again.exit_code == 2 and "exists" in again.output


def test_describe_refuses_unfinished_folder(tmp_path):
    result = runner.invoke(app, ["describe", str(tmp_path)])
    assert result.exit_code == 2


def test_killed_run_leaves_no_finished_looking_folder(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(Path.cwd())}
    cmd = [sys.executable, "-m", "sim.cli", "run", BASELINE, "--out", str(out),
           "--size", "small", "--quiet"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline and not any(tmp_path.glob(".run.partial-*/tables/*.parquet")):
        time.sleep(0.1)
    assert any(tmp_path.glob(".run.partial-*")), "the run never started writing"
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    assert proc.returncode != 0
    assert not out.exists()
    assert not any(tmp_path.glob(".run.partial-*")), "partial folder left behind"

    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    while time.time() < deadline + 60 and not any(tmp_path.glob(".run.partial-*/tables/*")):
        time.sleep(0.1)
    proc.kill()  # SIGKILL: no cleanup possible, but nothing may look finished
    proc.wait(timeout=60)
    assert not out.exists()
    assert not any((p / "manifest.json").exists() for p in tmp_path.iterdir())
