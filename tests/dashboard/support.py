"""Helpers for the dashboard tests: a case folder with a known answer key, page text, file audit."""

from __future__ import annotations

import fcntl
import json
import shutil
import socket
import sys
import threading
from pathlib import Path
from typing import Any

from readout.cube import ensure_cube

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"

# A hand-written answer key in the simulator's format: the dashboard is under test, not truth.
KEY: dict[str, Any] = {
    "scenario": "baseline",
    "seed": 7,
    "size": "tiny",
    "metric": "feed_session_conversion",
    "windows": {"before": ["2026-08-17", "2026-08-23"], "after": ["2026-08-24", "2026-08-30"]},
    "observed_change": -0.05,
    "business_change": -0.049,
    "before": {"observed": 0.05, "business": 0.05},
    "after": {"observed": 0.0475, "business": 0.0476},
    "control": False,
    "target": {"change": -0.05, "tolerance": 0.005},
    "within_target": True,
    "causes": [
        {"id": "secret_feed_remap", "type": "feed_change", "decoy": False, "share": 0.7,
         "business_share": 0.7, "effect": -0.035, "business_effect": -0.035,
         "hit_set": ["FEED"], "onset": "2026-08-22T02:00:00",
         "scope": {"category": ["phones_digital"]}, "severity": 1.0,
         "evidence": "PSI jumps in the remapped categories.", "changelog": None,
         "expected": {"worlds": 3, "effect": -0.034, "interval": [-0.04, -0.028],
                      "share": 0.68, "share_interval": [0.56, 0.8]}},
        {"id": "secret_reward_shift", "type": "reward_shift", "decoy": False, "share": 0.3,
         "business_share": 0.3, "effect": -0.015, "business_effect": -0.015,
         "hit_set": ["RANK"], "onset": "2026-08-24T15:00:00", "scope": {}, "severity": 0.2,
         "evidence": "Reward weights move toward clicks.", "changelog": "Config ranker.objective"},
        {"id": "noise", "type": "noise", "decoy": False, "share": 0.0, "business_share": 0.0,
         "effect": 0.0, "business_effect": 0.0, "hit_set": ["NOISE"], "onset": None,
         "scope": {}, "severity": None, "evidence": "Ordinary variance.", "changelog": None},
    ],
    "method": "exact Shapley values over all 4 subsets of 2 changes, with common random numbers",
    "counterfactual_cost": 1.0,
}  # fmt: skip
SECRETS = ("secret_feed_remap", "secret_reward_shift", "feed_change", "reward_shift")


def case_folder(source: Path, target: Path) -> Path:
    """A copy of a simulated run with the answer key above, a scenario stand-in, and its cube.

    The first call for a run makes that folder beside the run (under a lock: xdist workers
    share the run); every call copies it, so the cube of one run is built once, not once per
    caller (the dashboard's case, the e2e servers)."""
    made = source.parent / f"{source.name}.case"
    with open(source.parent / f"{source.name}.case.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not made.is_dir():
            aside = source.parent / f"{source.name}.case.partial"
            shutil.rmtree(aside, ignore_errors=True)
            shutil.copytree(source, aside, ignore=shutil.ignore_patterns("cube", ".*"))
            (aside / "answer_key.json").write_text(json.dumps(KEY, indent=2))
            (aside / "scenario.yaml").write_text(
                "# truth: never read by the dashboard\n"
                "faults: [{id: secret_feed_remap, type: feed_change, severity: 0.4}]\n"
            )
            ensure_cube(aside)
            aside.rename(made)
    shutil.copytree(made, target)
    return target


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FileAudit:
    """Records the paths Python opens while `recording` (an audit hook cannot be removed, so
    one per process is installed and switched on and off)."""

    _instance: FileAudit | None = None

    def __init__(self) -> None:
        self.opened: list[str] = []
        self.recording = False
        self._lock = threading.Lock()

    @classmethod
    def get(cls) -> FileAudit:
        if cls._instance is None:
            cls._instance = cls()
            sys.addaudithook(cls._instance._hook)
        return cls._instance

    def _hook(self, event: str, args: tuple[Any, ...]) -> None:
        if self.recording and event == "open" and args and isinstance(args[0], str | Path):
            with self._lock:
                self.opened.append(str(args[0]))

    def truth_files(self) -> list[str]:
        return [p for p in self.opened if p.endswith(("answer_key.json", "scenario.yaml"))]


def charts(at: Any) -> dict[str, dict[str, Any]]:
    """The page's plotly figures (as plotly JSON), by their title text."""
    out = {}
    for element in at.get("plotly_chart"):
        spec = json.loads(element.proto.spec)
        title = spec.get("layout", {}).get("title", {}).get("text", "")
        out[title] = spec
    return out


def page_text(at: Any) -> str:
    """Everything a page shows as text: titles, markdown, captions, metrics, alerts, tables."""
    parts: list[str] = []
    for kind in (
        "title",
        "header",
        "subheader",
        "markdown",
        "caption",
        "text",
        "code",
        "info",
        "warning",
        "success",
        "error",
    ):
        parts += [str(e.value) for e in getattr(at, kind)]
    for m in at.metric:
        parts += [str(m.label), str(m.value), str(m.delta or "")]
    for df in at.dataframe:
        parts.append(df.value.to_string())
    for widget in (*at.selectbox, *at.multiselect):
        parts += [str(o) for o in widget.options]
    return "\n".join(parts)


PAGES = (
    "brief",
    "overview",
    "segments",
    "changes",
    "latency",
    "feed",
    "seasonality",
    "sql",
    "hypotheses",
    "history",
    "picker",
)


def ok(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


def go(at, page: str):
    at.switch_page(f"views/{page}.py").run()
    ok(at)
    return at


def pages_of(at) -> set[str]:
    return {
        Path(info["script_path"]).stem
        for info in at._registered_pages.values()
        if info.get("script_path")
    }


def fill_and_submit(at, name: str = "Ada"):
    at = go(at, "hypotheses")
    at.multiselect(key="hyp_order").set_value(["FEED", "RANK", "DEPLOY"]).run()
    ok(at)
    at.number_input(key="hyp_share_FEED").set_value(60.0).run()
    at.number_input(key="hyp_share_RANK").set_value(30.0).run()
    at.text_input(key="hyp_note_FEED").input("PSI jumps in phones").run()
    at.button(key="hyp_down_FEED").click().run()  # FEED below RANK ...
    at.button(key="hyp_up_FEED").click().run()  # ... and back on top
    assert at.multiselect(key="hyp_order").value == ["FEED", "RANK", "DEPLOY"]
    submit = at.button(key="hyp_submit")
    assert submit.disabled, "submitting needs the confirmation"
    at.text_input(key="hyp_name").input(name).run()
    at.checkbox(key="hyp_confirm").check().run()
    ok(at)
    at.button(key="hyp_submit").click().run()
    ok(at)
    return at


# A stand-in for `casesim run` in a child process: reports `hours` of progress, appends
# "start NAME"/"end NAME" to a log, waits for a gate file, copies a finished run or fails.
FAKE_CHILD = r"""
import shutil, sys, time
from pathlib import Path
hours, copy_from, gate, fail, log, target = sys.argv[1:7]
name = Path(target).name
def note(text):
    if log:
        with open(log, "a") as fh:
            fh.write(text + "\n")
note("start " + name)
for _ in range(int(hours) // 24):
    print("@hours 24", file=sys.stderr, flush=True)
if gate:
    end = time.monotonic() + 60
    while not (Path(gate, name).exists() or Path(gate, "all").exists()) and time.monotonic() < end:
        time.sleep(0.02)
note("end " + name)
if fail:
    print("error: " + fail, file=sys.stderr)
    sys.exit(2)
if copy_from:
    shutil.copytree(copy_from, target)
"""


def fake_generator(
    monkeypatch: Any,
    *,
    hours: int = 0,
    copy_from: Path | None = None,
    gate: Path | None = None,
    fail: str = "",
    log: Path | None = None,
) -> None:
    """Make the dashboard's generation jobs run FAKE_CHILD instead of `casesim run`."""

    def command(scenario: Path, size: str, target: Path, seed: int | None) -> list[str]:
        args = [str(hours), str(copy_from or ""), str(gate or ""), fail, str(log or "")]
        return [sys.executable, "-c", FAKE_CHILD, *args, str(target)]

    monkeypatch.setattr("dashboard.generation.case_command", command)
