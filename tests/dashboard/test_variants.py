"""Practice gets variants: a retry after the debrief opens a fresh variant of the case (same
scenario and size, another seed) as a new attempt by the same person, and History compares a
person's attempts across the variants of one case, never anyone else's, never the cause."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Status

from dashboard import state
from dashboard.generation import Jobs, fresh_variant
from dashboard.store import AttemptStore
from tests.dashboard.support import APP, SECRETS, fill_and_submit, go, ok, page_text, pages_of

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"

# A stand-in for `casesim run` (the engine is not under test here): waits for a gate file,
# then copies the finished tiny run and writes the requested seed into its manifest, as
# `casesim run --seed` would; or fails with a message that names a fault.
FAKE_VARIANT = r"""
import json, shutil, sys, time
from pathlib import Path
source, gate, fail, target, seed = sys.argv[1:6]
print("@hours 24", file=sys.stderr, flush=True)
end = time.monotonic() + 60
while gate and not Path(gate).exists() and time.monotonic() < end:
    time.sleep(0.02)
if fail:
    print("calibration failed for secret_feed_remap", file=sys.stderr)
    sys.exit(2)
shutil.copytree(source, target)
manifest = Path(target, "manifest.json")
data = json.loads(manifest.read_text())
data["seed"] = int(seed)
manifest.write_text(json.dumps(data))
"""


def fake_variants(monkeypatch, source: Path, gate: Path | None = None, fail: bool = False):
    calls: list[list[str]] = []

    def command(scenario: Path, size: str, target: Path, seed: int | None) -> list[str]:
        calls.append([scenario.name, size, target.name, str(seed)])
        args = [str(source), str(gate or ""), "1" if fail else "", str(target), str(seed)]
        return [sys.executable, "-c", FAKE_VARIANT, *args]

    monkeypatch.setattr("dashboard.generation.case_command", command)
    return calls


@pytest.fixture
def session(
    dash_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[[], AppTest]:
    """A new browser session on the tiny baseline case; all share one data folder."""
    monkeypatch.setenv("CASESIM_RUN", str(dash_run))
    monkeypatch.setenv("CASESIM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CASESIM_SCENARIOS_DIR", str(SCENARIOS))
    monkeypatch.setenv("CASESIM_DASHBOARD_RAISE", "1")

    def open_session() -> AppTest:
        at = AppTest.from_file(str(APP), default_timeout=60).run()
        ok(at)
        return at

    return open_session


def rerun_until(at: AppTest, done: Callable[[AppTest], bool], timeout: float = 60) -> AppTest:
    end = time.monotonic() + timeout
    while not done(at) and time.monotonic() < end:
        time.sleep(0.1)
        at.run()
        ok(at)
    assert done(at)
    return at


def statuses(at: AppTest) -> list[Status]:
    """The page's st.status boxes (AppTest lists them as blocks, not elements)."""
    found, stack = [], [at._tree]
    while stack:
        node = stack.pop()
        if isinstance(node, Status):
            found.append(node)
        stack.extend(getattr(node, "children", {}).values())
    return found


def test_retry_opens_a_fresh_variant_and_history_compares_them(
    session, dash_run, tmp_path, monkeypatch
):
    gate = tmp_path / "gate"
    calls = fake_variants(monkeypatch, dash_run, gate=gate)
    store = AttemptStore(tmp_path / "data")
    ada = go(fill_and_submit(session(), name="Ada"), "debrief")
    first = store.get(ada.session_state[state.ATTEMPT_KEY])
    assert (first.scenario_id, first.size, first.seed) == ("baseline", "tiny", 7)

    ada.button(key="debrief_variant").click().run()
    ok(ada)
    ada = rerun_until(
        ada, lambda at: any("24 simulated hours" in p.proto.text for p in at.get("progress"))
    )
    assert calls == [["baseline.yaml", "tiny", "baseline-tiny-s8", "8"]]  # the next seed
    (box,) = statuses(ada)
    assert "baseline-tiny-s8" in box.label and box.state == "running"
    assert ada.session_state[state.ATTEMPT_KEY] == first.id  # not opened before it is ready
    gate.touch()
    ada = rerun_until(ada, lambda at: at.session_state[state.ATTEMPT_KEY] != first.id)

    second = store.get(ada.session_state[state.ATTEMPT_KEY])
    variant = tmp_path / "data" / "baseline-tiny-s8"
    assert second.run_dir == str(variant) and second.run_dir != first.run_dir
    assert (second.scenario_id, second.size, second.seed) == ("baseline", "tiny", 8)
    assert second.owner == first.owner and second.token != first.token
    assert not second.submitted and "debrief" not in pages_of(ada)
    assert ada.query_params.get("case") == "baseline-tiny-s8"
    assert not any(s in page_text(ada) for s in SECRETS)  # the variant's brief and sidebar
    assert not any(s in str([e.value for e in ada.sidebar.caption]) for s in SECRETS)
    ada = go(ada, "hypotheses")
    assert ada.multiselect(key="hyp_order").value == []  # the new attempt starts empty
    ada = fill_and_submit(ada, name="Ada")

    bob = fill_and_submit(session(), name="Bob")  # another person, same case
    bob_id = bob.session_state[state.ATTEMPT_KEY]

    ada = go(ada, "history")
    assert len(ada.dataframe) == 1, "one case, one table"
    table = ada.dataframe[0].value.set_index("attempt")
    assert sorted(table.index) == [first.id, second.id] and bob_id not in table.index
    assert table["variant"].to_dict() == {first.id: dash_run.name, second.id: variant.name}
    assert table["seed"].to_dict() == {first.id: 7, second.id: 8}
    assert table["first try"].to_dict() == {first.id: True, second.id: True}  # fresh data
    assert table["case score"].notna().all() and table["minutes"].notna().all()
    text = page_text(ada)
    assert "Bob" not in text and str(tmp_path) not in text
    assert not any(s in text for s in SECRETS)
    (chart,) = ada.get("plotly_chart")
    points = json.loads(chart.proto.spec)["data"][0]
    assert points["x"] == [f"#{first.id}", f"#{second.id}"] and points["text"] == ["s7", "s8"]


def test_a_failed_variant_shows_no_cause_and_the_next_retry_takes_the_next_seed(
    session, dash_run, tmp_path, monkeypatch
):
    calls = fake_variants(monkeypatch, dash_run, fail=True)
    ada = go(fill_and_submit(session(), name="Ada"), "debrief")
    ada.button(key="debrief_variant").click().run()
    ada = rerun_until(ada, lambda at: [b.state for b in statuses(at)] == ["error"])
    (box,) = statuses(ada)  # the debrief above it names the causes: this box must not
    shown = [box.label, *(str(e.proto) for e in box.children.values())]
    assert box.state == "error" and any("could not be generated" in t for t in shown)
    assert not any(s in t for s in SECRETS for t in shown)  # the child's message is logged only
    ada.button(key="debrief_variant").click().run()
    ok(ada)
    end = time.monotonic() + 60  # the generation thread starts the child when it gets to it
    while len(calls) < 2 and time.monotonic() < end:
        time.sleep(0.1)
    assert [c[3] for c in calls] == ["8", "9"]


def write_run(folder: Path, scenario: str, size: str, seed: int) -> Path:
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(
        json.dumps({"scenario": scenario, "size": size, "seed": seed})
    )
    return folder


def test_fresh_variant_is_the_next_seed_this_person_has_not_tried(tmp_path):
    data = tmp_path / "data"
    run = write_run(tmp_path / "run", "baseline", "tiny", 7)
    shipped = {"baseline": SCENARIOS / "baseline.yaml"}
    plan = fresh_variant(run, data, shipped, [(str(run), "baseline", "tiny", 7)])
    assert plan is not None and plan.seed == 8 and plan.target == data / "baseline-tiny-s8"
    assert fresh_variant(run, data, shipped, []) == plan  # deterministic
    tried = [
        (str(run), "baseline", "tiny", 7),
        (str(data / "baseline-tiny-s8"), "baseline", "tiny", 8),
    ]
    assert fresh_variant(run, data, shipped, tried).seed == 9
    # seed 8 tried at another size does not count; a foreign or partial folder is skipped
    assert fresh_variant(run, data, shipped, [("/x", "baseline", "small", 8)]).seed == 8
    write_run(data / "baseline-tiny-s8", "baseline", "tiny", 99)
    (data / "baseline-tiny-s9").mkdir()
    ready = write_run(data / "baseline-tiny-s10", "baseline", "tiny", 10)
    plan = fresh_variant(run, data, shipped, [], Jobs())
    assert plan.seed == 10 and plan.target == ready  # generated before, not tried: reused
    assert fresh_variant(run, data, {}, []) is None  # no shipped scenario: same data only
