"""Same scenario + seed + size gives identical tables; another seed does not."""

from __future__ import annotations

import json
from pathlib import Path

from sim.runner import simulate
from sim.world import SIZES


def test_same_seed_identical_tables(tmp_path, tiny_run, baseline_scenario):
    again = simulate(baseline_scenario, SIZES["tiny"], tmp_path / "again")
    first = json.loads((tiny_run / "manifest.json").read_text())
    assert {k: v["sha256"] for k, v in first["tables"].items()} == {
        k: v["sha256"] for k, v in again["tables"].items()
    }


def test_other_seed_differs(tmp_path, tiny_run, baseline_scenario):
    other = simulate(baseline_scenario, SIZES["tiny"], tmp_path / "other", seed=99)
    first = json.loads((tiny_run / "manifest.json").read_text())
    assert first["tables"]["sessions"]["sha256"] != other["tables"]["sessions"]["sha256"]


def test_manifest_describes_tables(tiny_run):
    manifest = json.loads((tiny_run / "manifest.json").read_text())
    expected = {
        "users", "sellers", "items", "sessions", "requests", "impressions", "events", "orders",
        "changelog", "experiments", "assignments", "calendar", "feed_snapshots", "ranker_runs",
    }  # fmt: skip
    assert expected <= set(manifest["tables"])
    assert manifest["seed"] == 7 and manifest["size"] == "tiny"
    assert manifest["scenario_sha256"]
    assert "numpy" in manifest["packages"]
    assert all(t["rows"] > 0 for t in manifest["tables"].values())


GOLDEN = Path(__file__).parent / "data" / "golden_tiny_baseline.json"


def test_tables_match_the_digests_committed_in_the_repository(tiny_run):
    """Same scenario, seed and size give the same tables on any machine: the digests of the
    tiny baseline are committed, so CI on another CPU catches a drift. After a deliberate
    change to the simulator, update the file with the digests this test prints."""
    manifest = json.loads((tiny_run / "manifest.json").read_text())
    digests = {name: t["sha256"] for name, t in sorted(manifest["tables"].items())}
    expected = json.loads(GOLDEN.read_text())
    assert digests == expected, (
        "tables differ from the committed digests; if the simulator changed on purpose, write "
        f"this to tests/sim/data/{GOLDEN.name}:\n" + json.dumps(digests, indent=2)
    )
