"""Plotly figures with one look: colours, number formats, window shading, change-log markers.

Every page builds its charts here so that "before" is always slate, "after" always orange,
rates are always percentages, and the same change-log marker means the same thing everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

import plotly.graph_objects as go
import polars as pl

from dashboard.palette import (  # noqa: F401 (pages use them as figures.*)
    AFTER,
    AXIS,
    BAD,
    BEFORE,
    GOOD,
    GRID,
    INK,
    MIX,
    NOISE,
    PALETTE,
    RATE,
    REFERENCE,
    TEXT,
)
from readout.metrics import Metric
from readout.noise import Band
from runfolder.brief import Windows

KIND_COLORS = {
    "deploy": "#1C7ED6",
    "config": "#AE3EC9",
    "campaign": "#2B8A3E",
    "experiment": "#F59F00",
}
SIDE_COLORS = {"before": BEFORE, "after": AFTER}


def figure(*traces: dict[str, Any]) -> go.Figure:
    """An empty figure that skips plotly's property validation: ten times faster to build,
    which keeps every interaction well inside its budget. Traces here are plain dicts."""
    return go.Figure(data=list(traces), _validate=False)


def scatter(**props: Any) -> dict[str, Any]:
    return {"type": "scatter", **props}


def bar(**props: Any) -> dict[str, Any]:
    return {"type": "bar", **props}


# Red for drops, blue for rises, grey at zero (spelled out: plotly.js's named "RdBu" runs the
# other way round from plotly.py's).
DIVERGING = [
    [0.0, "#B2182B"],
    [0.25, "#EF8A62"],
    [0.5, "#E9ECEF"],
    [0.75, "#67A9CF"],
    [1.0, "#2166AC"],
]
REVERSED_DIVERGING = [[1 - at, color] for at, color in reversed(DIVERGING)]


def heatmap_trace(**props: Any) -> dict[str, Any]:
    return {"type": "heatmap", **props}


def axis_format(kind: str) -> dict[str, str]:
    """Plotly tick format for a metric kind."""
    if kind == "rate":
        return {"tickformat": ".2~%"}
    if kind == "money":
        return {"tickprefix": "¥", "tickformat": ",.0f"}
    if kind == "ms":
        return {"ticksuffix": " ms", "tickformat": ",.0f"}
    if kind == "count":
        return {"tickformat": ",.0f"}
    return {"tickformat": ",.2f"}


def hover_format(kind: str) -> str:
    return {"rate": ":.2%", "money": ":,.2f", "ms": ":,.0f", "count": ":,.0f"}.get(kind, ":,.3f")


TITLE_PX = 34  # the title's band at the top of a figure


def styled(fig: go.Figure, height: int = 340, title: str | None = None) -> go.Figure:
    """The shared layout: white, compact, legend on top, unified hover.

    Figures carry no plotly template (building one costs more than the rest of a chart), so
    what a template would give is set here: margins that grow to fit tick labels above all.
    The legend hangs from the container just under the title and pushes the plot down as it
    wraps, so on a narrow column its rows never cover the title (a legend anchored to the plot
    grows upward into it).
    """
    top = TITLE_PX if title else 4
    fig.update_layout(
        paper_bgcolor="white",
        plot_bgcolor="white",
        height=height,
        margin={"l": 8, "r": 8, "t": top + 28, "b": 8},
        title={
            "text": title,
            "font": {"size": 15, "color": INK, "weight": 600},
            "x": 0,
            "xanchor": "left",
            "xref": "container",
            "pad": {"l": 4},
            "y": 1 - 8 / height,
            "yanchor": "top",
            "yref": "container",
        }
        if title
        else None,
        legend={
            "orientation": "h",
            "yref": "container",
            "yanchor": "top",
            "y": 1 - top / height,
            "x": 1,
            "xanchor": "right",
            "title": None,
            "bgcolor": "rgba(255,255,255,0)",
        },
        hovermode="x unified",
        hoverlabel={"bgcolor": "white", "font": {"color": INK}},
        font={"family": "Source Sans Pro, Inter, system-ui, sans-serif", "size": 12,
              "color": TEXT},
        colorway=list(PALETTE),
    )  # fmt: skip
    fig.update_xaxes(
        automargin=True, showgrid=False, linecolor=AXIS, ticks="outside", tickcolor=AXIS
    )
    fig.update_yaxes(automargin=True, gridcolor=GRID, zeroline=False)
    return fig


def legend_right(fig: go.Figure) -> go.Figure:
    """A vertical legend on the right, for charts with many series."""
    fig.update_layout(
        legend={"orientation": "v", "x": 1.01, "xanchor": "left", "y": 1, "yanchor": "top"}
    )
    return fig


def _day_start(d: date) -> datetime:
    return datetime.combine(d, time())


def extend_layout(
    fig: go.Figure, shapes: list[dict[str, Any]], annotations: list[dict[str, Any]] = ()
) -> go.Figure:
    """Add many shapes and annotations in one layout update (one by one is quadratic)."""
    fig.update_layout(
        shapes=[*fig.layout.shapes, *shapes], annotations=[*fig.layout.annotations, *annotations]
    )
    return fig


def shade_windows(fig: go.Figure, windows: Windows, hourly: bool = True) -> go.Figure:
    """Light bands behind the before and after windows, labelled at the top."""
    shapes, notes = [], []
    for side, (a, b), color in (
        ("before", windows.before, BEFORE),
        ("after", windows.after, AFTER),
    ):
        x0 = _day_start(a) if hourly else _day_start(a) - timedelta(hours=12)
        x1 = _day_start(b) + timedelta(days=1) if hourly else _day_start(b) + timedelta(hours=12)
        shapes.append(
            {"type": "rect", "xref": "x", "yref": "paper", "x0": x0, "x1": x1, "y0": 0, "y1": 1,
             "fillcolor": color, "opacity": 0.08, "line": {"width": 0}, "layer": "below"}
        )  # fmt: skip
        notes.append(  # short, on a light box: legible over lines, apart on narrow charts
            {"xref": "x", "yref": "paper", "x": x0, "y": 1, "xanchor": "left", "yanchor": "top",
             "text": side, "showarrow": False, "bgcolor": "rgba(255,255,255,0.75)",
             "font": {"size": 11, "color": color}}
        )  # fmt: skip
    return extend_layout(fig, shapes, notes)


def changelog_markers(fig: go.Figure, changes: pl.DataFrame) -> go.Figure:
    """Dotted lines at each change-log entry, with a hoverable marker per entry on top.

    The markers sit on a hidden overlay axis (0..1), one trace per kind, so the legend can
    hide a kind and hovering a marker names the change.
    """
    if changes.is_empty():
        return fig
    extend_layout(
        fig,
        [
            {"type": "line", "xref": "x", "yref": "paper", "x0": ts, "x1": ts, "y0": 0, "y1": 1,
             "line": {"color": KIND_COLORS.get(kind, "#868E96"), "width": 1, "dash": "dot"},
             "layer": "below"}
            for ts, kind in zip(changes["ts"], changes["kind"], strict=True)
        ],
    )  # fmt: skip
    for kind, group in changes.group_by("kind", maintain_order=True):
        kind_name = str(kind[0])
        fig.add_trace(
            scatter(
                x=group["ts"].to_list(),
                y=[0.97] * group.height,
                yaxis="y9",
                mode="markers",
                marker={
                    "symbol": "triangle-down",
                    "size": 9,
                    "color": KIND_COLORS.get(kind_name, "#868E96"),
                },
                name=f"{kind_name} (change log)",
                text=[f"{s}: {t}" for s, t in zip(group["service"], group["title"], strict=True)],
                hovertemplate="%{text}<extra>" + kind_name + "</extra>",
            )
        )
    fig.update_layout(
        yaxis9={"overlaying": "y", "range": [0, 1], "visible": False, "fixedrange": True}
    )
    return fig


def trend(
    frame: pl.DataFrame,
    x: str,
    metric: Metric,
    color: str | None = None,
    title: str | None = None,
    windows: Windows | None = None,
    changes: pl.DataFrame | None = None,
    height: int = 340,
    hourly: bool = False,
    order: Sequence[str] | None = None,
    y: str = "value",
    band: Band | None = None,
) -> go.Figure:
    """The metric over time (column `y`), one line per `color` group; with a `band`, the
    after window's level against the before level ± the typical week-over-week change."""
    fig = figure()
    groups: list[tuple[str, pl.DataFrame]]
    if color is None:
        groups = [(metric.label, frame)]
    else:
        present = frame[color].unique().to_list()
        names = [g for g in (order or sorted(present, key=str)) if g in present]
        groups = [(str(g), frame.filter(pl.col(color) == g)) for g in names]
    for i, (name, part) in enumerate(groups):
        fig.add_trace(
            scatter(
                x=part[x].to_list(),
                y=part[y].to_list(),
                name=name,
                mode="lines" if hourly else "lines+markers",
                line={"color": PALETTE[i % len(PALETTE)] if color else AFTER, "width": 2},
                marker={"size": 5},
                hovertemplate=f"%{{y{hover_format(metric.kind)}}}",
            )
        )
    fig.update_yaxes(**axis_format(metric.kind), title=None)
    if windows is not None:
        shade_windows(fig, windows, hourly=hourly)
        if band is not None:
            noise_band(fig, windows, band, metric.kind, hourly=hourly)
    if changes is not None:
        changelog_markers(fig, changes)
    return styled(fig, height, title)


def noise_band(
    fig: go.Figure, windows: Windows, band: Band, kind: str, hourly: bool = False
) -> go.Figure:
    """Over the after window: the before level ± the typical week-over-week change (grey), the
    before level (dotted) and the after window's level (solid), so a candidate sees at a
    glance whether the move is larger than an ordinary week's."""
    (a, b), (before_start, _) = windows.after, windows.before
    half = timedelta(0) if hourly else timedelta(hours=12)
    x0, x1 = _day_start(a) - half, _day_start(b) + timedelta(days=1) - half
    b0 = _day_start(before_start) - half
    fig.add_trace(  # invisible: makes the y axis range cover the band
        scatter(x=[x0, x1], y=[band.low, band.high], mode="markers", opacity=0,
                showlegend=False, hoverinfo="skip")
    )  # fmt: skip
    level = {"type": "line", "xref": "x", "yref": "y", "layer": "above"}
    return extend_layout(
        fig,
        [
            {"type": "rect", "xref": "x", "yref": "y", "x0": x0, "x1": x1, "y0": band.low,
             "y1": band.high, "fillcolor": NOISE, "opacity": 0.18, "line": {"width": 0},
             "layer": "below"},
            {**level, "x0": b0, "x1": x1, "y0": band.before, "y1": band.before,
             "line": {"color": BEFORE, "width": 1.5, "dash": "dot"}},
            {**level, "x0": x0, "x1": x1, "y0": band.after, "y1": band.after,
             "line": {"color": AFTER, "width": 2}},
        ],
        [
            {"xref": "x", "yref": "y", "x": x1, "y": band.high, "xanchor": "right",
             "yanchor": "bottom", "showarrow": False, "font": {"size": 11, "color": TEXT},
             "text": f"typical week-over-week change {band.text()}"},
        ],
    )  # fmt: skip


def before_after_bars(
    compared: pl.DataFrame,
    key: str,
    metric: Metric,
    title: str | None = None,
    height: int = 340,
    order: Sequence[str] | None = None,
) -> go.Figure:
    """The metric per segment, before against after, with the relative change on top.

    With a `band` column (the segment's typical relative week-over-week change), the after
    bar carries whiskers of ± that change and the label says it: a segment's move means
    something only against how much that segment moves in an ordinary week.
    """
    frame = compared
    if order is not None:
        rank = {v: i for i, v in enumerate(order)}
        frame = frame.with_columns(_r=pl.col(key).cast(pl.String).replace_strict(
            rank, default=len(rank))).sort("_r")  # fmt: skip
    cats = [str(v) for v in frame[key].to_list()]
    bands = frame["band"].to_list() if "band" in frame.columns else [None] * frame.height
    fig = figure()
    for side in ("before", "after"):
        values = frame[side].to_list()
        trace = bar(
            x=cats,
            y=values,
            name=f"{side} window",
            marker_color=SIDE_COLORS[side],
            hovertemplate=f"{side}: %{{y{hover_format(metric.kind)}}}<extra></extra>",
        )
        if side == "after" and any(b is not None for b in bands):
            trace["error_y"] = {
                "type": "data",
                "array": [None if v is None or b is None else v * b for v, b in
                          zip(values, bands, strict=True)],
                "color": NOISE, "thickness": 1.5, "width": 4,
            }  # fmt: skip
        fig.add_trace(trace)
    changes = frame["rel_change"].to_list()
    labels = [change_label(r, b) for r, b in zip(changes, bands, strict=True)]
    tops = [
        max(a or 0, (b or 0) * (1 + (w or 0)))
        for a, b, w in zip(frame["before"], frame["after"], bands, strict=True)
    ]
    fig.add_trace(
        scatter(
            x=cats,
            y=tops,
            mode="text",
            text=labels,
            textposition="top center",
            showlegend=False,
            hoverinfo="skip",
            cliponaxis=False,
            textfont={"color": [GOOD if (r or 0) >= 0 else BAD for r in changes], "size": 11},
        )
    )
    # Room above the tallest bar for its label (autorange ignores text), from zero up.
    lines = 2 if any(b is not None for b in bands) else 1
    peak = max([t for t in tops if t is not None] or [1.0])
    fig.update_layout(barmode="group", bargap=0.25)
    fig.update_yaxes(**axis_format(metric.kind), title=None,
                     range=[0, peak * (1 + 0.09 * lines)])  # fmt: skip
    fig.update_xaxes(type="category")
    return styled(fig, height, title)


def change_label(rel: float | None, band: float | None = None) -> str:
    """A bar's label: the relative change, and under it the segment's typical weekly move."""
    if rel is None:
        return ""
    text = f"{rel:+.1%}"
    if band is None:
        return text
    return f"{text}<br><span style='font-size:10px;color:{NOISE}'>week ±{band:.1%}</span>"


def mix_rate_bars(
    parts: pl.DataFrame, key: str, metric: Metric, title: str | None = None, height: int = 340
) -> go.Figure:
    """Each segment's contribution to the change, split into mix and rate, in the metric's
    display unit (percentage points for rates: `parts` are already scaled to it)."""
    cats = [str(v) for v in parts[key].to_list()]
    ticks = {"ticksuffix": " pp"} if metric.is_rate else axis_format(metric.kind)
    hover = "%{x:+.3f} pp" if metric.is_rate else "%{x:+,.3f}"
    fig = figure()
    for col, color, name in (("rate", RATE, "rate (within segment)"), ("mix", MIX, "mix (share)")):
        fig.add_trace(
            bar(
                y=cats,
                x=parts[col].to_list(),
                name=name,
                orientation="h",
                marker_color=color,
                hovertemplate=hover + "<extra>" + col + "</extra>",
            )
        )
    fig.update_layout(barmode="relative", hovermode="y unified")
    fig.update_xaxes(**ticks, zeroline=True, zerolinecolor="#495057", showgrid=True, gridcolor=GRID)
    fig.update_yaxes(type="category", gridcolor="rgba(0,0,0,0)")
    return styled(fig, max(height, 60 + 28 * len(cats)), title)


def axis_values(column: pl.Series, order: Sequence[str] | None = None) -> list[str]:
    """A category axis: each value of `column` once, in `order` first (values it does not
    list follow, sorted). Repeats would make plotly draw a cell per repeat, and the labels
    of one cell would land on others."""
    present = set(map(str, column.to_list()))
    head = [v for v in dict.fromkeys(map(str, order or ())) if v in present]
    return head + sorted(present - set(head))


def heatmap(
    frame: pl.DataFrame,
    x: str,
    y: str,
    z: str,
    title: str | None = None,
    height: int = 380,
    zfmt: str = "+.1%",
    zmid: float = 0.0,
    hover: str | None = None,
    higher_is_better: bool = True,
    x_order: Sequence[str] | None = None,
    y_order: Sequence[str] | None = None,
) -> go.Figure:
    """A diverging heatmap of `z` over the `x` × `y` grid: red where the change is bad (down,
    or up for a metric where lower is better), blue where it is good."""
    xs = axis_values(frame[x], x_order)
    ys = axis_values(frame[y], y_order)
    lookup = {(str(r[x]), str(r[y])): r for r in frame.iter_rows(named=True)}
    if len(lookup) != frame.height:
        raise ValueError(f"heatmap: more than one row per ({x}, {y}) cell")
    zs, texts, hovers = [], [], []
    for yv in ys:
        row_z, row_t, row_h = [], [], []
        for xv in xs:
            rec = lookup.get((xv, yv))
            value = None if rec is None else rec[z]
            row_z.append(value)
            row_t.append("" if value is None else format(value, zfmt))
            row_h.append("" if rec is None or hover is None else str(rec[hover]))
        zs.append(row_z)
        texts.append(row_t)
        hovers.append(row_h)
    values = [abs(v) for row in zs for v in row if v is not None]
    span = max(values) if values else 1.0
    fig = figure(
        heatmap_trace(
            z=zs,
            x=xs,
            y=ys,
            text=texts,
            texttemplate="%{text}",
            colorscale=DIVERGING if higher_is_better else REVERSED_DIVERGING,
            zmid=zmid,
            zmin=zmid - span,
            zmax=zmid + span,
            customdata=hovers,
            xgap=2,
            ygap=2,
            hovertemplate=f"{x}=%{{x}}<br>{y}=%{{y}}<br>%{{text}}<br>%{{customdata}}"
            "<extra></extra>",
            colorbar={"tickformat": zfmt.lstrip("+"), "thickness": 12},
        )
    )
    fig.update_xaxes(type="category", side="bottom")
    fig.update_yaxes(type="category", autorange="reversed")
    fig.update_layout(hovermode="closest")
    return styled(fig, max(height, 80 + 34 * len(ys)), title)


def interval_chart(
    labels: Sequence[str],
    values: Sequence[float],
    lows: Sequence[float],
    highs: Sequence[float],
    kind: str = "rate",
    title: str | None = None,
    height: int = 260,
) -> go.Figure:
    """Point estimates with confidence intervals, one row per label."""
    fig = figure(
        scatter(
            x=list(values),
            y=list(labels),
            mode="markers",
            marker={"size": 11, "color": [PALETTE[i % len(PALETTE)] for i in range(len(labels))]},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": [h - v for h, v in zip(highs, values, strict=True)],
                "arrayminus": [v - lo for v, lo in zip(values, lows, strict=True)],
                "thickness": 2,
                "width": 6,
            },
            hovertemplate=f"%{{y}}: %{{x{hover_format(kind)}}}<extra></extra>",
        )
    )
    fig.update_xaxes(**axis_format(kind), showgrid=True, gridcolor=GRID)
    fig.update_yaxes(type="category")
    fig.update_layout(hovermode="closest")
    return styled(fig, height, title)


def drift_heatmap(
    frame: pl.DataFrame, title: str | None = None, cap: float = 0.5, height: int = 380
) -> go.Figure:
    """PSI by category (rows) over snapshot time (columns); colours saturate at `cap`."""
    cats = sorted(frame["category"].unique().to_list())
    times = sorted(frame["taken_at"].unique().to_list())
    lookup = {(r["category"], r["taken_at"]): r["psi"] for r in frame.iter_rows(named=True)}
    z = [[lookup.get((c, t)) for t in times] for c in cats]
    fig = figure(
        heatmap_trace(
            z=z,
            x=times,
            y=cats,
            zmin=0,
            zmax=cap,
            xgap=1,
            ygap=2,
            colorscale=[[0, "#F8F9FA"], [0.2, "#FFE8CC"], [0.5, "#FFA94D"], [1, "#C92A2A"]],
            colorbar={"title": {"text": "PSI"}, "thickness": 12},
            hovertemplate="%{y}<br>%{x|%a %d %b %H:%M}<br>PSI %{z:.3f}<extra></extra>",
        )
    )
    fig.update_layout(hovermode="closest")
    fig.update_yaxes(autorange="reversed")
    return styled(fig, max(height, 60 + 26 * len(cats)), title)
