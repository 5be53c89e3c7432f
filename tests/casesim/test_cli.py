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

from casesim.cli import app
from tests.conftest import SCENARIOS

runner = CliRunner()
BASELINE = str(SCENARIOS / "baseline.yaml")


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
    """At tiny size: when its first table appears, the run still has 41 of its 42 days
    (reference weeks first) to simulate, seconds of work against a poll of 0.1 s."""
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(Path.cwd())}
    cmd = [sys.executable, "-m", "casesim.cli", "run", BASELINE, "--out", str(out),
           "--size", "tiny", "--quiet", "--luck-tries", "0", "--no-key"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 300  # generous: a loaded machine starts slowly; guards a hang only
    while time.time() < deadline and not any(tmp_path.glob(".run.partial-*/tables/*.parquet")):
        time.sleep(0.1)
    assert any(tmp_path.glob(".run.partial-*")), "the run never started writing"
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    assert proc.returncode != 0
    assert not out.exists()
    assert not any(tmp_path.glob(".run.partial-*")), "partial folder left behind"

    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while time.time() < deadline and not any(tmp_path.glob(".run.partial-*/tables/*")):
        time.sleep(0.1)
    proc.kill()  # SIGKILL: no cleanup possible, but nothing may look finished
    proc.wait(timeout=60)
    assert not out.exists()
    assert not any((p / "manifest.json").exists() for p in tmp_path.iterdir())
    assert any(tmp_path.glob(".run.partial-*")), "SIGKILL leaves its partial folder"


def test_next_run_removes_partial_folders_of_dead_processes(tmp_path, monkeypatch):
    """A partial folder whose pid is gone is removed by the next run, before it simulates."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    stale = tmp_path / f".other.partial-{dead.stdout.strip()}"
    (stale / "tables").mkdir(parents=True)
    alive = tmp_path / f".busy.partial-{os.getppid()}"  # a concurrent run: left alone
    alive.mkdir()
    monkeypatch.setattr("sim.case.make_case", _refuse_to_simulate)
    result = runner.invoke(app, ["run", BASELINE, "--out", str(tmp_path / "run")])
    assert isinstance(result.exception, _Simulating)
    assert not stale.exists()
    assert alive.exists()


def test_old_partial_folders_are_removed_even_if_their_pid_is_reused(tmp_path):
    from sim.output import STALE_AFTER_S, clean_stale_partials

    folder = tmp_path / f".x.old-{os.getppid()}"
    folder.mkdir()
    assert clean_stale_partials(tmp_path) == []
    assert clean_stale_partials(tmp_path, now=time.time() + STALE_AFTER_S + 60) == [folder]


class _Simulating(Exception):
    pass


def _refuse_to_simulate(*args, **kwargs):
    raise _Simulating


def test_run_names_no_cause_unless_verbose(tmp_path, monkeypatch):
    """What `make demo` prints before a candidate starts must not name the cause."""
    from types import SimpleNamespace

    manifest = {"tables": {"impressions": {"rows": 10}}}
    report = SimpleNamespace(severities={"feed_category_mapping": 0.44}, change=-0.05)
    monkeypatch.setattr("sim.case.make_case", lambda *a, **k: (manifest, report))
    out = tmp_path / "run"
    remap = str(SCENARIOS / "feed_remap.yaml")
    quiet = runner.invoke(app, ["run", remap, "--out", str(out)])
    assert quiet.exit_code == 0, quiet.output
    assert "feed" not in quiet.output.replace(str(out), "")
    loud = runner.invoke(
        app, ["run", str(SCENARIOS / "feed_remap.yaml"), "--out", str(out), "--verbose"]
    )
    assert "feed_category_mapping=0.440" in loud.output


def test_help_and_validate_leave_the_heavy_modules_unloaded():
    code = (
        "import sys; from typer.testing import CliRunner; from casesim.cli import app; "
        "r = CliRunner().invoke(app, ['validate', 'scenarios/baseline.yaml']); "
        "assert r.exit_code == 0, r.output; "
        "print(sorted(m for m in HEAVY if m in sys.modules))"
    )
    heavy = ("sklearn", "polars", "pyarrow", "scipy", "numba", "duckdb", "streamlit", "sim.engine")
    heavy += ("rich.console", "rich.table")  # made on first use (casesim/cliutil.py)
    code = f"HEAVY = {heavy!r}; {code}"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_help_loads_no_scenario_model_and_no_numpy():
    code = (
        "import sys; from typer.testing import CliRunner; from casesim.cli import app; "
        "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0, r.output; "
        "print(sorted(m for m in ('numpy', 'sim.scenario', 'sim.engine') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


RECORDED = """id: rec
title: T
start: 2026-08-09
days: 15
reference_days: 0
seed: 3
noise_bound: 0.05
target: {change: -0.08, tolerance: 0.01}
faults:
  - {type: reward_shift, id: rank, at: 2026-08-16T10:00:00, severity: auto}
"""


def test_calibrate_records_and_run_reuses_with_step_lines(tmp_path):
    """`calibrate` prints the change, noise and split and writes the record; `run` reuses it
    and, its stderr not being a terminal, tells each step in a line; a tampered record is
    refused in one line, writing nothing."""
    scenario = tmp_path / "rec.yaml"
    scenario.write_text(RECORDED)
    args = ["--size", "tiny", "--luck-tries", "3", "--workers", "1"]
    made = runner.invoke(app, ["calibrate", str(scenario), *args])
    assert made.exit_code == 0, made.output
    for said in ("observed change", "noise", "split: ", "rank: severity", "luck try 1/3"):
        assert said in made.output, said
    assert "calibration trial" in made.output and "key branch 2/2" in made.output
    record = json.loads((tmp_path / "rec.calibration.json").read_text())
    (entry,) = record["entries"]
    assert (entry["size"], entry["seed"], entry["within_target"]) == ("tiny", 3, True)
    assert set(entry["split"]) == {"rank", "noise"} and "rank" in entry["severities"]

    reused = runner.invoke(app, ["run", str(scenario), "--out", str(tmp_path / "a"), *args])
    assert reused.exit_code == 0, reused.output
    assert "reusing its calibration record" in reused.output
    assert "luck try" not in reused.output and "calibration trial" not in reused.output
    assert "simulated day 15/15" in reused.output
    # one branch (the other, every fault on, is the run itself), two replicate worlds
    assert "key branch 3/3" in reused.output
    key = json.loads((tmp_path / "a" / "answer_key.json").read_text())
    assert key["realization"]["luck"] == entry["luck"]

    entry["severities"]["rank"] = 0.0  # the record no longer lands the change in its band
    (tmp_path / "rec.calibration.json").write_text(json.dumps(record))
    refuse = ["run", str(scenario), "--out", str(tmp_path / "b"), "--replicates", "0"]
    stale = runner.invoke(app, [*refuse, *args])  # replicate worlds: not part of the refusal
    assert stale.exit_code == 2, stale.output
    last = stale.output.strip().splitlines()[-1]
    assert "casesim calibrate" in last and "nothing was written" in last
    assert not (tmp_path / "b").exists()


def test_recalibrate_ignores_the_record(tmp_path, monkeypatch):
    scenario = tmp_path / "rec.yaml"
    scenario.write_text(RECORDED)
    (tmp_path / "rec.calibration.json").write_text("{damaged")
    broken = runner.invoke(app, ["run", str(scenario), "--out", str(tmp_path / "r")])
    assert broken.exit_code == 2 and "unreadable calibration record" in broken.output
    assert not (tmp_path / "r").exists()
    seen = {}

    def capture(*args, **kwargs):
        seen.update(kwargs)
        raise _Simulating

    monkeypatch.setattr("sim.case.make_case", capture)
    runner.invoke(app, ["run", str(scenario), "--out", str(tmp_path / "r"), "--recalibrate"])
    assert seen["calibration"] is None
    runner.invoke(app, ["run", str(scenario), "--out", str(tmp_path / "r")])
    assert seen["calibration"] == tmp_path / "rec.calibration.json"
