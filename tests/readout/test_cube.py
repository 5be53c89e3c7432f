"""The cube agrees with the raw tables, and is written atomically once per run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest

from readout import cube
from readout.tables import scan, session_outcomes
from runfolder import brief


@pytest.fixture(scope="session")
def cube_run(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cube") / "run"
    shutil.copytree(tiny_run, out)
    cube.ensure_cube(out)
    return out


def table(run: Path, name: str) -> pl.DataFrame:
    return cube.load_cube(run, name).collect()


def test_session_totals_match_the_tables(cube_run):
    hourly = table(cube_run, "sessions_hourly")
    total = hourly.filter(pl.col("dim") == "all").select(pl.col(cube.SESSION_MEASURES).sum())
    raw = session_outcomes(cube_run).collect()
    assert total["sessions"][0] == raw.height
    assert total["converted"][0] == (raw["tracked_orders"] > 0).sum()
    assert total["converted_ledger"][0] == (raw["ledger_orders"] > 0).sum()
    assert total["impressions"][0] == scan(cube_run, "impressions").select(pl.len()).collect()[0, 0]
    assert total["pages"][0] == scan(cube_run, "requests").select(pl.len()).collect()[0, 0]
    assert total["gmv"][0] == pytest.approx(raw["gmv"].sum(), rel=1e-6)  # float32 amounts


@pytest.mark.parametrize("dim", cube.SESSION_DIMS)
def test_every_dimension_adds_up_to_the_total(cube_run, dim):
    hourly = table(cube_run, "sessions_hourly")
    keys = ["period", "date", "hour"]
    total = hourly.filter(pl.col("dim") == "all").select(*keys, "sessions", "converted")
    by_dim = (
        hourly.filter(pl.col("dim") == dim)
        .group_by(keys)
        .agg(pl.col("sessions", "converted").sum())
    )
    joined = total.join(by_dim, on=keys, suffix="_dim")
    assert joined.height == total.height
    assert (joined["sessions"] == joined["sessions_dim"]).all()
    assert (joined["converted"] == joined["converted_dim"]).all()


def test_daily_cube_matches_the_hourly_one(cube_run):
    daily = table(cube_run, "sessions_daily")
    hourly = table(cube_run, "sessions_hourly").filter(pl.col("dim") == "platform")
    a = daily.group_by("date", "platform").agg(pl.col("sessions", "carts").sum()).sort(pl.all())
    b = (
        hourly.group_by("date", platform="value")
        .agg(pl.col("sessions", "carts").sum())
        .sort(pl.all())
    )
    assert a.equals(b.select(a.columns))
    assert set(daily["city_tier"].unique()) <= {f"tier {t}" for t in range(1, 6)}


def test_item_cube_matches_the_tables(cube_run):
    items = table(cube_run, "items_hourly")
    events = scan(cube_run, "events").collect()
    assert (
        items["impressions"].sum() == scan(cube_run, "impressions").select(pl.len()).collect()[0, 0]
    )
    assert items["clicks"].sum() == (events["event"] == "click").sum()
    assert items["ledger_orders"].sum() == scan(cube_run, "orders").select(pl.len()).collect()[0, 0]
    assert set(items["shop_type"].unique()) <= {"flagship", "small_shop"}


def test_latency_histograms_count_every_request(cube_run):
    requests = scan(cube_run, "requests").select(pl.len()).collect()[0, 0]
    daily = table(cube_run, "latency_daily")
    hourly = table(cube_run, "latency_hourly")
    for kind in cube.LATENCY_KINDS:
        assert (
            daily.filter(pl.col("kind") == kind, pl.col("dim") == "all")["requests"].sum()
            == requests
        )
        assert hourly.filter(pl.col("kind") == kind)["requests"].sum() == requests
        by_version = daily.filter(pl.col("kind") == kind, pl.col("dim") == "service_version")
        assert by_version["requests"].sum() == requests


def test_feed_histograms_and_summaries(cube_run):
    feed = scan(cube_run, "feed_snapshots").collect()
    hist = table(cube_run, "feed_hist")
    for attr in (*cube.FEED_ATTRIBUTES, "in_stock"):
        assert hist.filter(pl.col("attribute") == attr)["items"].sum() == feed.height
    assert hist["bin"].max() < cube.FEED_BINS
    summary = table(cube_run, "feed_summary")
    assert summary["items"].sum() == feed.height
    assert summary.filter(pl.col("snapshot") == feed["snapshot"].min())["moved_in"].sum() == 0


def test_experiment_moments(cube_run):
    exp = table(cube_run, "experiments")
    daily = table(cube_run, "experiments_daily")
    if exp.is_empty():
        pytest.skip("no experiment in this run")
    running = exp.filter(pl.col("window") == "running")
    assert running["sessions"].sum() == daily["sessions"].sum()
    assert (running["ss"] >= running["sessions"]).all()  # Σs² ≥ Σs for counts
    assert (running["users"] <= running["sessions"]).all()


def test_ensure_cube_is_idempotent_and_atomic(cube_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(cube_run, run, ignore=shutil.ignore_patterns("cube"))
    assert not cube.is_current(run)
    path = cube.ensure_cube(run)
    meta = json.loads((path / cube.CUBE_META).read_text())
    assert meta["version"] == cube.CUBE_VERSION and set(meta["rows"]) == set(cube.TABLES)
    stamp = (path / "sessions_hourly.parquet").stat().st_mtime_ns
    assert cube.ensure_cube(run) == path
    assert (path / "sessions_hourly.parquet").stat().st_mtime_ns == stamp
    assert [p.name for p in run.iterdir() if p.name.startswith(".")] == []


def test_stale_cube_is_rebuilt(cube_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(cube_run, run)
    meta = run / "cube" / cube.CUBE_META
    meta.write_text(json.dumps({"version": -1}))
    cube.ensure_cube(run)
    assert cube.is_current(run)


def test_load_cube_names_the_valid_tables(cube_run):
    with pytest.raises(ValueError, match="valid tables: sessions_hourly"):
        cube.load_cube(cube_run, "nope")


def test_windows_come_from_the_brief(cube_run):
    w = brief.read_windows(cube_run)
    after_days = brief.read_case(cube_run)["windows"]["after_days"]
    assert (w.after[1] - w.after[0]).days + 1 == after_days
    assert (w.after[0] - w.before[1]).days == 1 and w.end == w.after[1]
