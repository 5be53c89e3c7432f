"""Launching, settings and background case generation (with the simulator stubbed out)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from dashboard import launch
from dashboard.generation import Job, Jobs
from dashboard.settings import parse
from tests.dashboard.support import fake_generator

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def test_settings_from_arguments_then_environment(tmp_path):
    env = {"CASESIM_RUN": "/env/run", "CASESIM_DATA_DIR": str(tmp_path / "env")}
    s = parse(["--run", str(tmp_path / "r"), "--data-dir", str(tmp_path / "d")], env)
    assert s.run_dir == (tmp_path / "r").resolve() and s.data_dir == (tmp_path / "d").resolve()
    s = parse(["-n", "2", "--durations=5"], env)
    assert s.run_dir == Path("/env/run") and s.data_dir == (tmp_path / "env").resolve()
    s = parse([], {})
    assert s.run_dir is None and s.data_dir == Path("data").resolve()


def test_launch_command(tmp_path):
    cmd = launch.command(tmp_path / "run", 8765, tmp_path / "data", address="127.0.0.1")
    assert cmd[:4] == [sys.executable, "-m", "dashboard.server", "run"]
    assert cmd[4].endswith("dashboard/app.py")
    assert "--server.port=8765" in cmd and "--server.headless=true" in cmd
    assert "--browser.gatherUsageStats=false" in cmd and "--server.address=127.0.0.1" in cmd
    tail = cmd[cmd.index("--") + 1 :]
    assert tail == ["--data-dir", str((tmp_path / "data").resolve()), "--run",
                    str((tmp_path / "run").resolve())]  # fmt: skip
    assert "--run" not in launch.command(None, 1, tmp_path)


def test_serve_returns_the_server_exit_code(tmp_path, monkeypatch):
    seen = {}

    class FakeServer:
        def __init__(self, cmd, env, **_):
            seen["cmd"], seen["env"] = cmd, env

        def wait(self):
            return 3

    monkeypatch.setattr(launch.subprocess, "Popen", FakeServer)
    monkeypatch.setattr(launch, "stop_group", lambda proc: seen.setdefault("stopped", proc))
    assert launch.serve(None, 8501, tmp_path / "data", host_token="a-host-token") == 3
    assert (tmp_path / "data").is_dir() and "--run" not in seen["cmd"]
    assert "--server.address=localhost" in seen["cmd"]
    assert seen["env"]["CASESIM_HOST_TOKEN"] == "a-host-token"  # not on the command line
    assert not any("a-host-token" in part for part in seen["cmd"])
    assert isinstance(seen["stopped"], FakeServer)


def wait(job: Job, timeout: float = 10) -> Job:
    end = time.monotonic() + timeout
    while not job.done and time.monotonic() < end:
        time.sleep(0.02)
    assert job.done
    return job


def test_generation_job_reports_progress_and_finishes(tmp_path, monkeypatch):
    fake_generator(monkeypatch, hours=120, fail="calibration failed: target out of reach")
    job = wait(Jobs().start(SCENARIOS / "feed_remap.yaml", "tiny", tmp_path / "x", None), 60)
    assert job.hours == 120 and job.error and "target out of reach" in job.error
    assert job.fraction == 1.0


def test_generation_job_finishes_once_per_folder(tmp_path, monkeypatch, dash_run):
    fake_generator(monkeypatch, hours=24, copy_from=dash_run)  # `casesim run` adds the cube
    jobs = Jobs()
    job = jobs.start(SCENARIOS / "feed_remap.yaml", "tiny", tmp_path / "x", 3)
    assert jobs.start(SCENARIOS / "feed_remap.yaml", "tiny", tmp_path / "x", 3) is job
    wait(job, 60)
    assert job.error is None and job.phase == "ready"
    assert (tmp_path / "x" / "cube" / "cube.json").is_file()
    again = jobs.start(SCENARIOS / "feed_remap.yaml", "tiny", tmp_path / "x", 3)
    assert again is job and again.done


def test_generation_runs_the_cli_as_a_child_process(tmp_path):
    """The real command: `casesim run` through the interpreter, never an import of sim/."""
    from dashboard.generation import case_command

    argv = case_command(SCENARIOS / "feed_remap.yaml", "tiny", tmp_path / "x", 3)
    assert argv[1:4] == ["-m", "casesim.cli", "run"] and argv[-2:] == ["--seed", "3"]
    bad = wait(Jobs().start(tmp_path / "missing.yaml", "tiny", tmp_path / "y", None), 120)
    assert bad.error and "missing.yaml" in bad.error and not (tmp_path / "y").exists()


def test_existing_folder_is_ready_at_once(tmp_path, dash_run):
    job = Jobs().start(SCENARIOS / "feed_remap.yaml", "tiny", dash_run, None)
    assert job.done and job.error is None and job.phase == "ready"


@pytest.mark.parametrize("hours, expected", [(0, 0.0), (10**9, 0.95)])
def test_progress_estimate_is_bounded(hours, expected):
    job = Job(Path("x.yaml"), "tiny", Path("x"), hours=hours)
    assert job.fraction == pytest.approx(expected)
