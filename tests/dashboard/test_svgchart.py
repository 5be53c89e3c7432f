"""The brief's static headline chart: round ticks, one point per day, windows, no markup leaks."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date, timedelta
from itertools import pairwise

import pytest

from dashboard.svgchart import daily_line, nice_ticks, tick_label
from runfolder.brief import Windows

SVG = "{http://www.w3.org/2000/svg}"
DAYS = [date(2026, 8, 1) + timedelta(days=i) for i in range(30)]
WINDOWS = Windows(
    start=DAYS[0], days=len(DAYS), before=(DAYS[16], DAYS[22]), after=(DAYS[23], DAYS[29])
)


@pytest.mark.parametrize(
    ("low", "high"), [(0.0241, 0.0358), (0.3, 0.31), (120.0, 4810.0), (5.0, 5.0), (-2.0, 3.0)]
)
def test_ticks_are_round_and_cover_the_range(low, high):
    ticks = nice_ticks(low, high)
    assert ticks[0] <= low and ticks[-1] >= high
    assert 2 <= len(ticks) <= 7
    steps = {round(b - a, 12) for a, b in pairwise(ticks)}
    assert len(steps) == 1
    mantissa = f"{steps.pop():e}".split("e")[0]
    assert mantissa in {"1.000000", "2.000000", "2.500000", "5.000000"}


def test_tick_labels_are_short():
    assert tick_label(0.025, "rate") == "2.5%"
    assert tick_label(0.03, "rate") == "3%"
    assert tick_label(0.0325, "rate") == "3.25%"
    assert tick_label(1500, "count") == "1,500"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg.replace('width="100%"', 'width="100"'))


def test_one_point_per_day_inside_the_plot():
    values = [0.03 + 0.001 * (i % 5) for i in range(len(DAYS))]
    root = parse(daily_line(DAYS, values, "rate", WINDOWS, "Conversion <by day>"))
    points = root.findall(f"{SVG}circle")
    assert len(points) == len(DAYS)
    xs = [float(p.get("cx")) for p in points]
    assert xs == sorted(xs) and len(set(xs)) == len(xs)
    width, height = (float(v) for v in root.get("viewBox").split()[2:])
    assert all(0 < float(p.get("cy")) < height for p in points) and 0 < xs[0] < xs[-1] < width
    highest = max(range(len(values)), key=values.__getitem__)
    assert float(points[highest].get("cy")) == min(float(p.get("cy")) for p in points)
    assert points[0].find(f"{SVG}title").text == "Sat 01 Aug 2026: 3.00%"
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "Conversion <by day>" in texts  # escaped in the markup, intact once parsed
    assert {"before window", "after window"} <= set(texts)
    assert "Aug 30" in texts


def test_windows_are_shaded_where_they_are():
    root = parse(daily_line(DAYS, [0.03] * len(DAYS), "rate", WINDOWS, "t"))
    before, after = root.findall(f"{SVG}rect")
    points = root.findall(f"{SVG}circle")
    x = [float(p.get("cx")) for p in points]
    b0, b1 = float(before.get("x")), float(before.get("x")) + float(before.get("width"))
    a0 = float(after.get("x"))
    assert b0 < x[16] < x[22] < b1 <= a0 + 0.2 and a0 < x[23]  # the bands meet (to rounding)


def test_missing_days_are_skipped_and_no_data_says_so():
    values = [None if i % 3 == 0 else 0.03 for i in range(len(DAYS))]
    root = parse(daily_line(DAYS, values, "rate", WINDOWS, "t"))
    assert len(root.findall(f"{SVG}circle")) == len(DAYS) - 10
    assert "no data" in daily_line(DAYS, [None] * len(DAYS), "rate", WINDOWS, "t")


def test_band_spans_the_typical_weekly_change_over_the_after_window():
    from readout.noise import Band

    values = [0.03 + 0.001 * (i % 5) for i in range(len(DAYS))]
    band = Band(before=0.032, after=0.029, width=0.05, weeks=8)
    root = parse(daily_line(DAYS, values, "rate", WINDOWS, "t", band=band))
    rect = next(r for r in root.findall(f"{SVG}rect") if r.get("class") == "noise-band")
    after_line = next(x for x in root.findall(f"{SVG}line") if x.get("class") == "after-level")
    points = root.findall(f"{SVG}circle")
    xs = {float(p.get("cx")): p for p in points}
    x_after = sorted(xs)[23:]
    assert float(rect.get("x")) < x_after[0] and x_after[-1] < float(rect.get("x")) + float(
        rect.get("width")
    )

    def value_at(y: float) -> float:  # invert the y scale from two points of known value
        (ya, va), (yb, vb) = [
            (float(points[i].get("cy")), values[i]) for i in (0, 2)
        ]  # 0.030 and 0.032
        return va + (y - ya) * (vb - va) / (yb - ya)

    top, height = float(rect.get("y")), float(rect.get("height"))
    assert value_at(top) == pytest.approx(band.high, rel=1e-3)
    assert value_at(top + height) == pytest.approx(band.low, rel=1e-3)
    assert value_at(float(after_line.get("y1"))) == pytest.approx(band.after, rel=1e-3)
    assert "typical week-over-week change ±5.0%" in [t.text for t in root.iter(f"{SVG}text")]
