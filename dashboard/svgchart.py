"""The brief's headline chart as static SVG, drawn on the server.

The brief is the first page anyone sees. A plotly chart there makes it wait for plotly and
pandas on the server and, in the browser, for plotly.js (about two seconds to fetch and start
on a small machine). This chart is a few kilobytes of markup that appears with the page; the
investigation pages keep plotly. Points carry a native tooltip with their date and value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, timedelta
from html import escape

from dashboard.palette import AFTER, AXIS, BEFORE, GRID, INK, NOISE, TEXT
from readout.metrics import format_value
from readout.noise import Band
from runfolder.brief import Windows

WIDTH = 1000  # viewBox units: the SVG scales to the width of its column
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 44, 34
FONT = "Source Sans Pro, Inter, system-ui, sans-serif"


def nice_ticks(low: float, high: float, count: int = 4) -> list[float]:
    """About `count` round values (steps of 1, 2, 2.5 or 5 × 10^k) covering [low, high]."""
    if not high > low:
        high = low + (abs(low) or 1.0) * 0.1
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.floor(low / step) * step
    return [first + i * step for i in range(math.ceil((high - first) / step - 1e-9) + 1)]


def tick_label(value: float, kind: str) -> str:
    """Axis labels, shorter than the values: 2.5% rather than 2.50%."""
    if kind == "rate":
        return f"{value * 100:.2f}".rstrip("0").rstrip(".") + "%"
    return format_value(value, kind)


def text(
    px: float,
    py: float,
    body: str,
    anchor: str = "start",
    size: int = 12,
    color: str = TEXT,
    weight: int = 400,
) -> str:
    return (
        f'<text x="{px:.1f}" y="{py:.1f}" text-anchor="{anchor}" font-size="{size}" '
        f'font-weight="{weight}" fill="{color}">{escape(body)}</text>'
    )


def daily_line(
    days: Sequence[date],
    values: Sequence[float | None],
    kind: str,
    windows: Windows,
    title: str,
    height: int = 320,
    band: Band | None = None,
) -> str:
    """One metric by day, the before and after windows shaded and labelled, as an SVG.

    With a `band`, the after window also shows the before level ± the typical week-over-week
    change (grey) and the after window's level (a line), to show what noise looks like.
    """
    points = [(d, v) for d, v in zip(days, values, strict=True) if v is not None and v == v]
    if not points:
        return f'<p style="color:{TEXT}">{escape(title)}: no data.</p>'
    start, end = points[0][0] - timedelta(days=1), points[-1][0] + timedelta(days=1)
    ys = [v for _, v in points]
    if band is not None:
        ys += [band.low, band.high, band.after]
    ticks = nice_ticks(min(ys), max(ys))
    low, high = ticks[0], ticks[-1]
    inner_w, inner_h = WIDTH - LEFT - RIGHT, height - TOP - BOTTOM
    span = (end - start).days

    def x(day: date, shift_days: float = 0.0) -> float:
        return LEFT + ((day - start).days + shift_days) / span * inner_w

    def y(value: float) -> float:
        return TOP + (1 - (value - low) / (high - low)) * inner_h

    parts = [text(4, 20, title, size=15, color=INK, weight=600)]
    for side, (a, b), color in (
        ("before", windows.before, BEFORE),
        ("after", windows.after, AFTER),
    ):
        x0, x1 = max(LEFT, x(a, -0.5)), min(WIDTH - RIGHT, x(b, 0.5))
        parts.append(
            f'<rect x="{x0:.1f}" y="{TOP}" width="{max(0.0, x1 - x0):.1f}" height="{inner_h}" '
            f'fill="{color}" fill-opacity="0.08"/>'
        )
        parts.append(text(x0 + 4, TOP + 13, f"{side} window", size=11, color=color))
    if band is not None:
        (a, b), b_start = windows.after, windows.before[0]
        x0, x1 = max(LEFT, x(a, -0.5)), min(WIDTH - RIGHT, x(b, 0.5))
        top, bottom = y(band.high), y(band.low)
        parts.append(
            f'<rect class="noise-band" x="{x0:.1f}" y="{min(top, bottom):.1f}" '
            f'width="{max(0.0, x1 - x0):.1f}" height="{abs(bottom - top):.1f}" '
            f'fill="{NOISE}" fill-opacity="0.18"><title>'
            + escape(f"Typical week-over-week change: {band.text()} around the before level")
            + "</title></rect>"
        )
        parts.append(
            f'<line x1="{max(LEFT, x(b_start, -0.5)):.1f}" x2="{x1:.1f}" '
            f'y1="{y(band.before):.1f}" y2="{y(band.before):.1f}" stroke="{BEFORE}" '
            f'stroke-width="1.5" stroke-dasharray="4 3"/>'
        )
        parts.append(
            f'<line class="after-level" x1="{x0:.1f}" x2="{x1:.1f}" y1="{y(band.after):.1f}" '
            f'y2="{y(band.after):.1f}" stroke="{AFTER}" stroke-width="2"/>'
        )
        parts.append(
            text(x1 - 4, min(top, bottom) - 5,
                 f"typical week-over-week change {band.text()}", anchor="end", size=11)
        )  # fmt: skip
    for tick in ticks:
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
            f'stroke="{GRID}"/>'
        )
        parts.append(text(LEFT - 8, y(tick) + 4, tick_label(tick, kind), anchor="end"))
    base = TOP + inner_h
    parts.append(
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{base}" y2="{base}" stroke="{AXIS}"/>'
    )
    last = points[-1][0]
    for day in (last - timedelta(days=7 * k) for k in range(span // 7 + 1)):
        if day > start:
            parts.append(
                f'<line x1="{x(day):.1f}" x2="{x(day):.1f}" y1="{base}" y2="{base + 5}" '
                f'stroke="{AXIS}"/>'
            )
            parts.append(text(x(day), base + 20, f"{day:%b} {day.day}", anchor="middle"))
    path = " ".join(
        f"{'M' if i == 0 else 'L'}{x(d):.1f},{y(v):.1f}" for i, (d, v) in enumerate(points)
    )
    parts.append(f'<path d="{path}" fill="none" stroke="{AFTER}" stroke-width="2"/>')
    for d, v in points:
        tip = f"{d:%a %d %b %Y}: {format_value(v, kind)}"
        parts.append(
            f'<circle cx="{x(d):.1f}" cy="{y(v):.1f}" r="3.5" fill="{AFTER}">'
            f"<title>{escape(tip)}</title></circle>"
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="casesim-headline" role="img" '
        f'aria-label="{escape(title)}" '
        f'viewBox="0 0 {WIDTH} {height}" width="100%" style="font-family:{FONT};display:block">'
        + "".join(parts)
        + "</svg>"
    )
