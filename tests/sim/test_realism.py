"""Stylized facts of real marketplace logs, asserted on a small baseline run."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from readout.tables import scan, session_outcomes

# One worker builds the small baseline run (about 10 s) and runs every test on it.
pytestmark = pytest.mark.xdist_group("small_run")


@pytest.fixture(scope="module")
def sessions(small_run) -> pl.DataFrame:
    return session_outcomes(small_run).filter(pl.col("period") == "current").collect()


def test_evening_traffic_peak(sessions):
    by_hour = sessions.group_by("hour").len().sort("hour")["len"].to_numpy()
    assert by_hour.argmax() in (19, 20, 21, 22)
    assert by_hour[20:23].mean() > 4 * by_hour[2:6].mean()


def test_weekly_pattern(sessions):
    by_dow = (
        sessions.with_columns(dow=pl.col("date").dt.weekday())
        .group_by("dow")
        .len()
        .sort("dow")["len"]
        .to_numpy()
    )
    weekend, weekday = by_dow[4:6].mean(), by_dow[0:4].mean()  # Fri/Sat vs Mon-Thu
    assert weekend > 1.04 * weekday


def test_item_popularity_is_heavy_tailed(small_run):
    counts = scan(small_run, "impressions").group_by("item_id").len().collect()["len"].to_numpy()
    counts = np.sort(counts)[::-1]
    top_share = counts[: max(1, len(counts) // 100)].sum() / counts.sum()
    assert top_share > 0.08  # the top 1% of items take far more than 1% of impressions
    assert counts.max() > 20 * np.median(counts)


def test_ctr_and_conversion_in_plausible_bands(sessions):
    ctr = sessions["clicks"].sum() / sessions["impressions"].sum()
    conversion = (sessions["tracked_orders"] > 0).mean()
    assert 0.02 < ctr < 0.08
    assert 0.03 < conversion < 0.12


def test_position_bias(small_run):
    clicks = (
        scan(small_run, "events")
        .filter(pl.col("event") == "click")
        .group_by("position")
        .len()
        .rename({"len": "clicks"})
    )
    imps = scan(small_run, "impressions").group_by("position").len().rename({"len": "imps"})
    ctr = (
        imps.join(clicks, on="position", how="left")
        .with_columns(ctr=pl.col("clicks") / pl.col("imps"))
        .sort("position")
        .collect()["ctr"]
        .to_numpy()
    )
    assert ctr[0] > 1.5 * ctr[20:30].mean()
    assert np.corrcoef(np.arange(24), ctr[:24])[0, 1] < -0.8


def test_new_users_convert_less(sessions):
    rate = sessions.group_by("tenure").agg((pl.col("tracked_orders") > 0).mean().alias("cr"))
    rates = dict(zip(rate["tenure"], rate["cr"], strict=True))
    assert rates["new"] < rates["returning"]


def test_latency_higher_in_low_tiers_and_low_end_devices(small_run):
    req = (
        scan(small_run, "requests")
        .join(scan(small_run, "sessions"), on="session_id")
        .with_columns(total=pl.col("server_ms") + pl.col("client_ms"))
    )
    tier = req.group_by("city_tier").agg(pl.col("total").median()).sort("city_tier").collect()
    assert tier["total"][4] > 1.15 * tier["total"][0]
    device = req.group_by("device").agg(pl.col("total").median()).collect()
    med = dict(zip(device["device"], device["total"], strict=True))
    assert med["low"] > med["mid"] > med["high"]


def test_conversion_falls_with_latency(small_run, sessions):
    first = (
        scan(small_run, "requests")
        .filter(pl.col("page") == 0)
        .select("session_id", total=pl.col("server_ms") + pl.col("client_ms"))
        .collect()
    )
    joined = sessions.join(first, on="session_id").with_columns(
        quartile=(pl.col("total").rank("ordinal") * 4 / (pl.len() + 1)).floor().cast(pl.Int8)
    )
    cr = joined.group_by("quartile").agg((pl.col("tracked_orders") > 0).mean().alias("cr"))
    rates = dict(zip(cr["quartile"], cr["cr"], strict=True))
    assert rates[0] > rates[3] * 1.1


def test_reference_weeks_exist(small_run):
    periods = scan(small_run, "sessions").group_by("period").len().collect()
    assert set(periods["period"]) == {"current", "reference"}
