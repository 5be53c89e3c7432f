"""The dashboard's pure analysis helpers: decomposition, statistics, drift, percentiles."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import polars as pl
import pytest

from readout import stats
from readout.cube import latency_bucket
from readout.decompose import mix_rate, summary
from readout.drift import psi, psi_table
from readout.latency import label, percentile, percentiles
from readout.metrics import SESSION_METRICS, compare, format_value
from runfolder.brief import case_windows

WINDOWS = case_windows(
    {"start": "2026-08-03", "days": 28, "windows": {"before_days": 7, "after_days": 7}}
)


def cube_rows() -> pl.DataFrame:
    """Two segments: `a` keeps its rate and loses share, `b` keeps its share of... nothing."""
    rows = []
    for d, side in ((date(2026, 8, 20), "before"), (date(2026, 8, 27), "after")):
        a_sessions, b_sessions = (600, 400) if side == "before" else (400, 600)
        b_conv = 20 if side == "before" else 24
        rows += [
            {
                "period": "current",
                "date": d,
                "seg": "a",
                "sessions": a_sessions,
                "converted": a_sessions // 10,
            },
            {
                "period": "current",
                "date": d,
                "seg": "b",
                "sessions": b_sessions,
                "converted": b_conv,
            },
        ]
    rows.append(
        {
            "period": "reference",
            "date": date(2025, 8, 20),
            "seg": "a",
            "sessions": 999,
            "converted": 999,
        }
    )
    return pl.DataFrame(rows)


def test_compare_sums_before_dividing():
    cmp = compare(cube_rows(), WINDOWS, SESSION_METRICS["conversion"])
    row = cmp.row(0, named=True)
    assert row["before"] == pytest.approx((60 + 20) / 1000)
    assert row["after"] == pytest.approx((40 + 24) / 1000)
    assert row["rel_change"] == pytest.approx(0.064 / 0.08 - 1)


def test_mix_rate_adds_up_exactly():
    cmp = compare(cube_rows(), WINDOWS, SESSION_METRICS["conversion"], ("seg",))
    parts = mix_rate(cmp, "seg")
    s = summary(parts)
    total = compare(cube_rows(), WINDOWS, SESSION_METRICS["conversion"]).row(0, named=True)
    assert s["change"] == pytest.approx(total["after"] - total["before"])
    a = parts.filter(pl.col("seg") == "a").row(0, named=True)
    assert a["rate"] == pytest.approx(0.0)  # a's rate did not move: only its share did
    b = parts.filter(pl.col("seg") == "b").row(0, named=True)
    assert b["rate"] < 0  # b's rate fell from 5% to 4%
    assert s["mix"] < 0  # share moved from the better segment a to the worse b


def test_mix_rate_segment_in_one_window_only():
    cmp = pl.DataFrame(
        {
            "seg": ["a", "new"],
            "num_before": [10.0, 0.0],
            "num_after": [10.0, 5.0],
            "den_before": [100.0, 0.0],
            "den_after": [100.0, 50.0],
        }
    )
    parts = mix_rate(cmp, "seg")
    new = parts.filter(pl.col("seg") == "new").row(0, named=True)
    assert new["rate"] == 0.0 and new["r_before"] == new["r_after"] == 0.1
    assert summary(parts)["change"] == pytest.approx(15 / 150 - 0.1)


def test_ratio_estimate_matches_binomial_when_users_have_one_session():
    n, conv = 10_000, 500
    est = stats.ratio_estimate(n, n, conv, n, conv, conv)
    p = conv / n
    assert est.value == pytest.approx(p)
    assert est.se == pytest.approx(math.sqrt(p * (1 - p) / (n - 1)), rel=1e-3)


def test_clustered_sessions_widen_the_interval():
    # 1000 users with 10 sessions each, converting all-or-nothing: 100 users convert.
    n, s, c = 1000, 10_000, 1000
    clustered = stats.ratio_estimate(n, s, c, ss=n * 100, cc=100 * 100, sc=100 * 100)
    independent = stats.ratio_estimate(s, s, c, s, c, c)
    assert clustered.value == independent.value == 0.1
    assert clustered.se > 2.5 * independent.se


def test_power_and_detectable_effect_agree():
    se = 0.002
    mde = stats.minimum_detectable_effect(se)
    assert stats.power(mde, se) == pytest.approx(0.8, abs=0.002)
    assert stats.power(0.0, se) == pytest.approx(0.05, abs=1e-9)
    assert stats.power(2 * mde, se) > 0.99


def test_compare_arms_p_value():
    a = stats.RatioEstimate(0.05, 0.001, 1000, 1000)
    b = stats.RatioEstimate(0.05 + 1.96 * math.sqrt(2) * 0.001, 0.001, 1000, 1000)
    cmp = stats.compare_arms(a, b)
    assert cmp.p_value == pytest.approx(0.05, abs=1e-3)
    lo, hi = cmp.interval()
    assert lo == pytest.approx(0.0, abs=1e-6) and hi > 0


def test_psi():
    assert psi([10, 20, 30], [10, 20, 30]) == 0.0
    assert psi([1, 1, 1, 97], [25, 25, 25, 25]) > 0.25
    assert math.isnan(psi([0, 0], [1, 1]))


def test_psi_table_against_baseline_and_previous():
    rows = []
    for snap, shares in ((1, [25, 25, 25, 25]), (2, [25, 25, 25, 25]), (3, [70, 10, 10, 10])):
        for b, n in enumerate(shares):
            rows.append(
                {
                    "snapshot": snap,
                    "taken_at": date(2026, 8, snap),
                    "category": "x",
                    "attribute": "price",
                    "bin": b,
                    "items": n,
                }
            )
    hist = pl.DataFrame(rows)
    base = psi_table(hist, 1).sort("snapshot")["psi"].to_list()
    assert base[0] == pytest.approx(0.0) and base[1] == pytest.approx(0.0) and base[2] > 0.25
    prev = psi_table(hist, None).sort("snapshot")
    assert prev["snapshot"].to_list() == [2, 3]
    assert prev["psi"].to_list()[0] == pytest.approx(0.0) and prev["psi"].to_list()[1] > 0.25


def test_latency_percentiles_from_buckets_are_close():
    rng = np.random.default_rng(1)
    ms = rng.lognormal(mean=6.0, sigma=0.5, size=50_000)
    frame = pl.DataFrame({"ms": ms}).with_columns(bucket=latency_bucket(pl.col("ms")))
    hist = frame.group_by("bucket").agg(requests=pl.len())
    for q in (0.5, 0.9, 0.99):
        est = percentile(hist["bucket"].to_numpy(), hist["requests"].to_numpy(), q)
        assert est == pytest.approx(np.quantile(ms, q), rel=0.03)
    table = percentiles(hist.with_columns(g=pl.lit("all")), ["g"], (0.5, 0.9))
    assert table.columns == ["g", "requests", "p50", "p90"] and table["requests"][0] == 50_000


def test_labels_and_formats():
    assert label(0.5) == "p50" and label(0.999) == "p99.9"
    assert format_value(0.0579, "rate") == "5.79%"
    assert format_value(533_100.0, "money") == "¥533.1k"
    assert format_value(None, "count") == "–"


# --- one name, one definition ----------------------------------------------------------------


def name_words(label: str) -> frozenset[str]:
    """A displayed name as the words it is made of: order, case, punctuation, arrows and
    joining words ignored, so "Add-to-cart / click" and "click → add-to-cart" are one name."""
    import re

    words = re.split(r"[^a-z0-9]+", label.lower())
    return frozenset(w for w in words if w and w not in {"per", "a", "an", "the", "of", "by"})


def test_names_that_read_alike_are_one_name():
    assert name_words("Add-to-cart / click") == name_words("click → add-to-cart")
    assert name_words("Add-to-cart events per click event") != name_words("Click → add-to-cart")


def test_every_metric_name_has_one_definition():
    """Labels and tile names of the registry: a name read alike never means two things."""
    from readout.metrics import METRICS

    seen: dict[frozenset[str], tuple] = {}
    for m in METRICS:
        definition = (m.num, m.den, m.scale, m.source)
        for name in {m.label, m.tile_label}:
            key = name_words(name)
            assert seen.setdefault(key, definition) == definition, (name, definition, seen[key])
    keys = [m.key for m in METRICS]
    assert len(keys) == len(set(keys))
    assert all(m.source in {"tracked", "ledger", "server"} for m in METRICS)


# --- the typical week-over-week band --------------------------------------------------------


def daily_cube(rates: dict[date, float], period: str = "current") -> pl.DataFrame:
    return pl.DataFrame(
        [
            {"period": period, "date": d, "sessions": 10_000, "converted": round(r * 10_000)}
            for d, r in rates.items()
        ]
    )


def test_band_measures_earlier_weeks_and_never_the_after_window():
    from datetime import timedelta

    from readout.noise import band_widths, weekly_changes

    days = [WINDOWS.start + timedelta(days=i) for i in range(WINDOWS.days)]
    # Weeks alternate 5% and 5.5% before the after window; the after window drops by half.
    rates = {d: (0.05 if (i // 7) % 2 == 0 else 0.055) for i, d in enumerate(days)}
    rates.update({d: 0.025 for d in days if d >= WINDOWS.after[0]})
    frame = daily_cube(rates)
    metric = SESSION_METRICS["conversion"]
    changes = weekly_changes(frame, WINDOWS, metric)
    assert changes["date"].max() == WINDOWS.before[1]  # no week reaching into the after window
    assert changes["date"].min() == days[13]  # the first day with two full weeks behind it
    # Moving one day at a time, a 7-day window against the one before: the changes are
    # known exactly, and the band is their root mean square.
    expected = changes["change"].pow(2).mean() ** 0.5
    band = band_widths(frame, WINDOWS, metric)
    assert band["band"][0] == pytest.approx(expected) and band["weeks"][0] == changes.height
    assert 0.0 < band["band"][0] < 0.11  # the halving in the after window is not in it
    flat = band_widths(daily_cube(dict.fromkeys(days, 0.05)), WINDOWS, metric)
    assert flat["band"][0] == pytest.approx(0.0)


def test_band_per_segment_and_reference_weeks():
    from datetime import timedelta

    from readout.noise import band_widths

    days = [WINDOWS.start + timedelta(days=i) for i in range(WINDOWS.days)]
    quiet = daily_cube(dict.fromkeys(days, 0.05)).with_columns(seg=pl.lit("quiet"))
    loud = daily_cube(
        {d: 0.05 if (i // 7) % 2 == 0 else 0.06 for i, d in enumerate(days)}
    ).with_columns(seg=pl.lit("loud"))
    ref_days = [d - timedelta(days=364) for d in days]
    ref = daily_cube(
        {d: 0.05 if (i // 7) % 2 == 0 else 0.06 for i, d in enumerate(ref_days)}, "reference"
    ).with_columns(seg=pl.lit("quiet"))
    bands = band_widths(pl.concat([quiet, loud, ref]), WINDOWS, SESSION_METRICS["conversion"],
                        ["seg"])  # fmt: skip
    got = dict(zip(bands["seg"], bands["band"], strict=True))
    weeks = dict(zip(bands["seg"], bands["weeks"], strict=True))
    assert got["loud"] > 0.05 and 0 < got["quiet"] < got["loud"]  # last year's moves count
    assert weeks["quiet"] == 2 * weeks["loud"]  # this year's and last year's weeks
