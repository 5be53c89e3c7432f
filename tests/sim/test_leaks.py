"""No candidate-facing table carries latent truth or names a fault."""

from __future__ import annotations

import polars as pl

LATENT = ("appeal", "propensity", "intent", "price_sens", "patience", "affinity", "quality",
          "activity", "clickbait", "incentive", "depth", "fault", "severity")  # fmt: skip


def test_no_latent_columns(tiny_run):
    for path in (tiny_run / "tables").glob("*.parquet"):
        columns = pl.read_parquet_schema(path)
        for col in columns:
            assert not any(word in col for word in LATENT), f"{path.name}.{col}"


def test_run_folder_has_no_scenario_faults(tiny_run):
    case = (tiny_run / "case.yaml").read_text()
    assert "faults" not in case and "config_change" not in case
    assert "brief" in case


def test_changelog_has_ordinary_entries(tiny_run):
    log = pl.read_parquet(tiny_run / "tables" / "changelog.parquet")
    assert log.height > 20
    assert {"deploy", "config", "campaign", "experiment"} <= set(log["kind"])
    assert log["ts"].is_sorted()


def test_timestamps_fall_on_their_dates(tiny_run):
    for table in ("sessions", "events", "orders", "requests"):
        frame = pl.read_parquet(tiny_run / "tables" / f"{table}.parquet", columns=["ts"])
        years = frame["ts"].dt.year().unique().to_list()
        assert set(years) <= {2025, 2026}, (table, years)
    sessions = pl.read_parquet(tiny_run / "tables" / "sessions.parquet", columns=["ts", "date"])
    assert (sessions["ts"].dt.date() == sessions["date"]).all()
