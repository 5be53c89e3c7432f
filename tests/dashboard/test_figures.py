"""Every figure's labels say the numbers it is built from.

The builders are checked on frames with known values (shuffled, with repeats where a page
could pass them); the pages' heatmap, tiles and step table against polars computations
straight from the run's tables, not from the cube the dashboard reads.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from dashboard import figures
from readout.metrics import SESSION_METRICS
from readout.noise import Band
from runfolder.brief import Windows, case_windows, read_case
from tests.dashboard.support import charts, go

DAYS = [date(2026, 8, 3) + timedelta(days=i) for i in range(28)]
WINDOWS = Windows(DAYS[0], 28, (DAYS[14], DAYS[20]), (DAYS[21], DAYS[27]))
CONVERSION = SESSION_METRICS["conversion"]


# --- the run's tables, read directly ---------------------------------------------------------


def session_outcomes(run: Path) -> pl.DataFrame:
    """One row per session of the case period: its dimensions and tracked funnel flags."""
    events = (
        pl.scan_parquet(run / "tables" / "events.parquet")
        .with_columns(pl.col("event").cast(pl.String))
        .group_by("session_id")
        .agg(
            clicked=(pl.col("event") == "click").any(),
            carted=(pl.col("event") == "add_to_cart").any(),
            converted=(pl.col("event") == "order").any(),
        )
    )
    windows = case_windows(read_case(run))
    return (
        pl.scan_parquet(run / "tables" / "sessions.parquet")
        .filter(pl.col("period").cast(pl.String) == "current")
        .join(events, on="session_id", how="left")
        .with_columns(
            pl.col("clicked", "carted", "converted").fill_null(False),
            platform=pl.col("platform").cast(pl.String),
            city_tier=pl.format("tier {}", pl.col("city_tier")),
            side=pl.when(pl.col("date").is_between(*windows.before))
            .then(pl.lit("before"))
            .when(pl.col("date").is_between(*windows.after))
            .then(pl.lit("after")),
        )
        .filter(pl.col("side").is_not_null())
        .collect()
    )


# --- builders on known frames ---------------------------------------------------------------


def test_heatmap_axes_are_distinct_and_every_cell_says_its_value():
    xs, ys = ["android", "ios", "miniprogram"], [f"tier {i}" for i in range(1, 6)]
    frame = pl.DataFrame(
        [
            {"x": x, "y": y, "v": (i - 1) / 100 + j / 1000}
            for i, x in enumerate(xs)
            for j, y in enumerate(ys)
        ]
    ).sample(fraction=1.0, shuffle=True, seed=3)
    # The page once passed each value once per row of the frame: 15 per axis, not 3 and 5.
    fig = figures.heatmap(
        frame, "x", "y", "v", x_order=frame["x"].to_list(), y_order=frame["y"].to_list()
    )
    trace = fig.data[0]
    assert list(trace.x) == list(dict.fromkeys(frame["x"])) and sorted(trace.x) == xs
    assert list(trace.y) == list(dict.fromkeys(frame["y"])) and sorted(trace.y) == ys
    assert len(trace.z) == len(ys) and all(len(row) == len(xs) for row in trace.z)
    truth = {(r["x"], r["y"]): r["v"] for r in frame.iter_rows(named=True)}
    for yi, y in enumerate(trace.y):
        for xi, x in enumerate(trace.x):
            assert trace.z[yi][xi] == truth[(x, y)]
            assert trace.text[yi][xi] == f"{truth[(x, y)]:+.1%}"


def test_heatmap_refuses_two_rows_for_one_cell():
    frame = pl.DataFrame({"x": ["a", "a"], "y": ["b", "b"], "v": [0.1, 0.2]})
    with pytest.raises(ValueError, match="more than one row"):
        figures.heatmap(frame, "x", "y", "v")


def test_before_after_bars_label_each_segment_with_its_own_change_and_band():
    frame = pl.DataFrame(
        {
            "seg": ["c", "a", "b"],
            "before": [0.05, 0.04, 0.02],
            "after": [0.045, 0.044, 0.02],
            "band": [0.03, 0.2, None],
        }
    ).with_columns(rel_change=pl.col("after") / pl.col("before") - 1)
    fig = figures.before_after_bars(frame, "seg", CONVERSION, order=["a", "b", "c"])
    before, after, labels = fig.data
    assert list(before.x) == list(after.x) == list(labels.x) == ["a", "b", "c"]
    truth = {r["seg"]: r for r in frame.iter_rows(named=True)}
    for i, seg in enumerate(before.x):
        assert before.y[i] == truth[seg]["before"] and after.y[i] == truth[seg]["after"]
        assert labels.text[i].startswith(f"{truth[seg]['rel_change']:+.1%}")
        band = truth[seg]["band"]
        if band is None:
            assert "±" not in labels.text[i] and after.error_y.array[i] is None
        else:
            assert f"±{band:.1%}" in labels.text[i]
            assert after.error_y.array[i] == pytest.approx(truth[seg]["after"] * band)
    # Labels sit on the tallest of bar and whisker, and the axis leaves room above them.
    assert labels.y[0] == pytest.approx(0.044 * 1.2)
    assert fig.layout.yaxis.range[1] > max(labels.y) * 1.1
    assert labels.cliponaxis is False


def test_mix_rate_bars_keep_each_segments_parts():
    parts = pl.DataFrame({"seg": ["x", "y", "z"], "mix": [0.1, -0.2, 0.0], "rate": [-1.0, 0.5, 2]})
    fig = figures.mix_rate_bars(parts, "seg", CONVERSION)
    rate, mix = fig.data
    for i, seg in enumerate(rate.y):
        row = parts.row(by_predicate=pl.col("seg") == seg, named=True)
        assert rate.x[i] == row["rate"] and mix.x[i] == row["mix"] and mix.y[i] == seg


def test_trend_lines_and_band_say_their_values():
    frame = pl.DataFrame(
        [{"date": d, "g": g, "value": k / 100 + i / 1e4} for k, g in enumerate("ba") for i, d in
         enumerate(DAYS)]
    )  # fmt: skip
    fig = figures.trend(frame, "date", CONVERSION, color="g", order=["a", "b"])
    for trace in fig.data:
        part = frame.filter(pl.col("g") == trace.name).sort("date")
        assert list(trace.y) == part["value"].to_list()
    band = Band(before=0.05, after=0.045, width=0.04, weeks=8)
    fig = figures.trend(frame.filter(pl.col("g") == "a"), "date", CONVERSION, windows=WINDOWS,
                        band=band)  # fmt: skip
    rect = next(s for s in fig.layout.shapes if s.type == "rect" and s.yref == "y")
    assert (rect.y0, rect.y1) == pytest.approx((0.048, 0.052))
    assert any(s.type == "line" and s.y0 == s.y1 == 0.045 for s in fig.layout.shapes)
    assert any("±4.0%" in a.text for a in fig.layout.annotations)


def test_drift_heatmap_and_intervals_place_each_value():
    frame = pl.select(
        category=pl.Series(["b", "a", "b", "a"]),
        taken_at=pl.Series([2, 1, 1, 2]).cast(pl.Int64),
        psi=pl.Series([0.4, 0.01, 0.2, 0.03]),
    )
    fig = figures.drift_heatmap(frame)
    trace = fig.data[0]
    for ci, cat in enumerate(trace.y):
        for ti, t in enumerate(trace.x):
            want = frame.filter(pl.col("category") == cat, pl.col("taken_at") == t)["psi"][0]
            assert trace.z[ci][ti] == want
    fig = figures.interval_chart(["control", "treatment"], [0.05, 0.06], [0.04, 0.055],
                                 [0.07, 0.061])  # fmt: skip
    err = fig.data[0].error_x
    assert err.array == pytest.approx((0.02, 0.001))
    assert err.arrayminus == pytest.approx((0.01, 0.005))


# --- pages against the tables ---------------------------------------------------------------


def test_segments_heatmap_cells_match_the_tables(app, dash_run):
    """The default heatmap (platform × city tier): each cell's label is that cell's relative
    change of tracked conversion, computed from sessions and events; cells under the page's
    size threshold (500 sessions) are blank."""
    at = go(app(), "segments")
    heat = charts(at)["Relative change of feed session conversion (tracked)"]["data"][0]
    outcomes = session_outcomes(dash_run)
    cells = (
        outcomes.group_by("platform", "city_tier", "side")
        .agg(n=pl.len(), rate=pl.col("converted").mean())
        .pivot(on="side", index=["platform", "city_tier"], values=["n", "rate"])
    )
    assert len(heat["x"]) == len(set(heat["x"])) == cells["platform"].n_unique()
    assert len(heat["y"]) == len(set(heat["y"])) == cells["city_tier"].n_unique()
    shown = 0
    for yi, tier in enumerate(heat["y"]):
        for xi, platform in enumerate(heat["x"]):
            row = cells.row(
                by_predicate=(pl.col("platform") == platform) & (pl.col("city_tier") == tier),
                named=True,
            )
            label = heat["text"][yi][xi]
            if min(row["n_before"], row["n_after"]) < 500:
                assert label == ""
                continue
            change = row["rate_after"] / row["rate_before"] - 1
            assert label == f"{change:+.1%}", (platform, tier)
            assert heat["z"][yi][xi] == pytest.approx(change)
            shown += 1
    assert shown >= 3


def test_overview_tiles_and_steps_match_the_tables(app, dash_run):
    at = go(app(), "overview")
    outcomes = session_outcomes(dash_run)
    after = outcomes.filter(pl.col("side") == "after")
    tiles = {m.label: m.value for m in at.metric}
    assert tiles["Conversion (tracked)"] == f"{after['converted'].mean():.2%}"
    # Funnel steps are ratios of session counts (a session whose click tracking lost the
    # click still counts as carted), as the metric's help says.
    click_to_cart = after["carted"].sum() / after["clicked"].sum()
    assert tiles["Click → add-to-cart"] == f"{click_to_cart:.2%}"
    steps = at.dataframe[0].value.set_index("step")
    assert steps.loc["Click → add-to-cart", "after"] == pytest.approx(click_to_cart)
    assert steps.loc["Session → click", "after"] == pytest.approx(after["clicked"].mean())
    cart_to_order = after["converted"].sum() / after["carted"].sum()
    assert steps.loc["Add-to-cart → order (tracked)", "after"] == pytest.approx(cart_to_order)
    funnel = charts(at)["Sessions reaching each step"]["data"]
    labels = dict(zip(funnel[2]["x"], funnel[2]["text"], strict=True))
    before = outcomes.filter(pl.col("side") == "before")
    rel = after["clicked"].mean() / before["clicked"].mean() - 1
    assert labels["clicked"] == f"{rel:+.1%}"


def test_overview_names_are_registry_names_with_one_value(app):
    """Every metric name the Overview shows (tiles, step table) is a registry name, and a
    name shown in two places shows one value (the tile said 15.63%, the table 21.25%)."""
    from readout.metrics import METRICS
    from tests.readout.test_analysis import name_words

    registry = {name_words(n): m for m in METRICS for n in (m.label, m.tile_label)}
    at = go(app(), "overview")
    shown: dict[frozenset[str], list[str]] = {}
    for tile in at.metric:
        name = tile.label.removesuffix(" / day")
        assert name_words(name) in registry, name
        shown.setdefault(name_words(name), []).append(tile.value)
    for step, value in at.dataframe[0].value.set_index("step")["after"].items():
        assert name_words(step) in registry, step
        shown.setdefault(name_words(step), []).append(registry[name_words(step)].format(value))
    both = {k: v for k, v in shown.items() if len(v) > 1}
    assert both, "the tiles and the step table share a metric"
    for values in both.values():
        assert len(set(values)) == 1, values
