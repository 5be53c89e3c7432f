"""The cohort report: one static HTML file (plotly inlined once, no network when viewed) and a
CSV with one row per candidate.

The team reads it after a take-home: how the scores spread, each candidate's order against
the truth of their own variant, the shares they claimed against the true ones, how long they
took to put the top cause first, what they did when (the logged events), and the reference
solver's score on each variant as a marker of that variant's difficulty. Tokens never reach
this module.
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

from grading.cohort import SeatGrade, csv_rows

KIND_COLOURS = {
    "open": "#444444", "page": "#1f77b4", "choice": "#17becf", "sql": "#9467bd",
    "order": "#ff7f0e", "submit": "#2ca02c", "late": "#d62728",
}  # fmt: skip
FIGURE_IDS = ("scores", "orders", "shares", "first-correct", "timeline", "solver")


def _layout(fig: go.Figure, title: str, height: int) -> go.Figure:
    fig.update_layout(
        title=title, height=height, margin={"l": 160, "r": 30, "t": 60, "b": 50},
        template="plotly_white",
        legend={"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 1, "xanchor": "right"},
    )  # fmt: skip
    return fig


def _rows_height(n: int) -> int:
    return max(320, 120 + 34 * n)


def score_figure(grades: Sequence[SeatGrade]) -> go.Figure:
    """Case, order and diagnosis scores: every candidate a point, over a box."""
    done = [g for g in grades if g.report]
    fig = go.Figure()
    for label, attr in (
        ("case", "case_score"),
        ("order", "order_score"),
        ("diagnosis", "diag_score"),
    ):
        fig.add_trace(
            go.Box(
                y=[getattr(g.report, attr) for g in done],
                name=label,
                boxpoints="all",
                jitter=0.4,
                pointpos=0,
                text=[g.name for g in done],
                hovertemplate="%{text}: %{y:.3f}<extra>" + label + "</extra>",
            )
        )
    fig.update_yaxes(title="score (1 = best order / true shares)")
    return _layout(fig, "Score distribution", 420)


def order_figure(grades: Sequence[SeatGrade]) -> go.Figure:
    """Each candidate's order, step by step, coloured by the relevance of the cause that step
    first confirms in their own variant (0: a step that confirms nothing new)."""
    done = [g for g in grades if g.report]
    width = max((len(g.order) for g in done), default=1)
    z, text, hover = [], [], []
    for g in done:
        assert g.report is not None
        firsts = {(c.found_by, c.position): c for c in g.report.causes if c.found_by}
        row, labels, tips = [], [], []
        for pos in range(1, width + 1):
            hid = g.order[pos - 1] if pos <= len(g.order) else ""
            cause = firsts.get((hid, pos))
            row.append(cause.relevance if cause else (None if not hid else 0.0))
            labels.append(hid)
            what = f"finds {cause.id} ({cause.relevance:.0%})" if cause else "finds nothing new"
            tips.append(
                f"{g.name} #{pos}: {hid or '-'}: {what}<br>best order: "
                + " > ".join(g.best_order[:6])
            )
        z.append(row)
        text.append(labels)
        hover.append(tips)
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[f"#{i}" for i in range(1, width + 1)],
            y=[g.name for g in done],
            text=text,
            texttemplate="%{text}",
            customdata=hover,
            hovertemplate="%{customdata}<extra></extra>",
            colorscale="Greens",
            zmin=0,
            zmax=1,
            colorbar={"title": "relevance"},
        )
    )
    fig.update_yaxes(autorange="reversed")
    title = "Each candidate's order against the truth of their variant"
    return _layout(fig, title, _rows_height(len(done)))


def shares_figure(grades: Sequence[SeatGrade]) -> go.Figure:
    """Claimed against true share, per candidate and hypothesis (on the diagonal: exact)."""
    fig = go.Figure()
    for g in grades:
        if not g.report:
            continue
        ids = sorted(set(g.claimed) | set(g.truth))
        fig.add_trace(
            go.Scatter(
                x=[g.truth.get(h, 0.0) for h in ids],
                y=[g.claimed.get(h, 0.0) for h in ids],
                mode="markers+text",
                text=ids,
                textposition="top center",
                name=g.name,
                marker={"size": 11},
                hovertemplate=g.name + " %{text}: true %{x:.0%}, claimed %{y:.0%}<extra></extra>",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=[0, 1], y=[0, 1], mode="lines", name="exact",
            line={"dash": "dot", "color": "#999999"}, hoverinfo="skip",
        )
    )  # fmt: skip
    fig.update_xaxes(title="true share", tickformat=".0%", range=[-0.05, 1.05])
    fig.update_yaxes(title="claimed share", tickformat=".0%", range=[-0.05, 1.12])
    return _layout(fig, "Shares claimed against the truth", 460)


def first_correct_figure(grades: Sequence[SeatGrade]) -> go.Figure:
    """Minutes to the first order putting the top cause first, beside the time taken."""
    names = [g.name for g in grades]
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            y=names,
            x=[g.first_correct if g.first_correct is not None else 0 for g in grades],
            orientation="h",
            name="first correct hypothesis",
            marker_color="#2ca02c",
            text=[
                f"{g.first_correct:.1f} min" if g.first_correct is not None else "never"
                for g in grades
            ],
            textposition="outside",
            customdata=[f"{g.top_cause} ({', '.join(g.top_hit_set)})" for g in grades],
            hovertemplate="%{y}: %{text}; top cause %{customdata}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            y=names,
            x=[g.minutes for g in grades],
            mode="markers",
            name="submitted",
            marker={"symbol": "line-ns-open", "size": 18, "color": "#333333"},
            hovertemplate="%{y}: submitted after %{x:.1f} min<extra></extra>",
        )
    )
    fig.update_xaxes(title="minutes since the first open", rangemode="tozero")
    fig.update_yaxes(autorange="reversed", ticksuffix="  ")
    title = "Time to the first correct hypothesis (the top cause put first)"
    return _layout(fig, title, _rows_height(len(grades)))


def timeline_figure(grades: Sequence[SeatGrade]) -> go.Figure:
    """Every logged event of every candidate, by minute since their first open."""
    fig = go.Figure()
    kinds = [k for k in KIND_COLOURS if any(m.kind == k for g in grades for m in g.timeline)]
    for kind in kinds:
        pts = [(g.name, m) for g in grades for m in g.timeline if m.kind == kind]
        fig.add_trace(
            go.Scatter(
                x=[m.minutes for _, m in pts],
                y=[name for name, _ in pts],
                mode="markers",
                name=kind,
                marker={"color": KIND_COLOURS[kind], "size": 10, "symbol": "line-ns-open"
                        if kind in ("page", "choice") else "circle"},
                customdata=[m.label for _, m in pts],
                hovertemplate="%{y} at %{x:.1f} min: " + kind + " %{customdata}<extra></extra>",
            )
        )  # fmt: skip
    fig.update_xaxes(title="minutes since the first open", rangemode="tozero")
    fig.update_yaxes(categoryorder="array", categoryarray=[g.name for g in grades][::-1])
    return _layout(fig, "Timeline of each investigation", _rows_height(len(grades)))


def solver_figure(grades: Sequence[SeatGrade]) -> go.Figure:
    """The reference solver's case score on each variant, beside the candidate's."""
    labels = [f"{g.variant} ({g.name})" for g in grades]
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            x=labels, y=[g.solver_score for g in grades], name="reference solver",
            marker_color="#7f7f7f",
        )
    )  # fmt: skip
    fig.add_trace(
        go.Bar(
            x=labels, y=[g.report.case_score if g.report else None for g in grades],
            name="candidate", marker_color="#1f77b4",
        )
    )  # fmt: skip
    fig.update_layout(barmode="group")
    fig.update_yaxes(title="case score")
    return _layout(fig, "The reference solver's score per variant (difficulty)", 420)


def figures(grades: Sequence[SeatGrade]) -> dict[str, go.Figure]:
    return dict(
        zip(
            FIGURE_IDS,
            (
                score_figure(grades),
                order_figure(grades),
                shares_figure(grades),
                first_correct_figure(grades),
                timeline_figure(grades),
                solver_figure(grades),
            ),
            strict=True,
        )
    )


def to_csv(grades: Sequence[SeatGrade]) -> str:
    rows = csv_rows(grades)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else ["name"])
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;
max-width:1200px;color:#222;padding:0 16px}
table{border-collapse:collapse;font-size:14px;margin:8px 0 24px}
th,td{border-bottom:1px solid #ddd;padding:4px 10px;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.problem{color:#b00020}
section{margin:28px 0}
"""


def _table(grades: Sequence[SeatGrade]) -> str:
    cols = ("name", "variant", "source", "case_score", "order_score", "diag_score",
            "solver_case_score", "minutes_taken", "first_correct_minutes", "events")  # fmt: skip
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = []
    for row in csv_rows(grades):
        cells = []
        for c in cols:
            value = row[c]
            cls = ' class="num"' if isinstance(value, int | float) else ""
            cells.append(f"<td{cls}>{html.escape(str(value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render_html(grades: Sequence[SeatGrade], title: str, meta: dict[str, Any]) -> str:
    """The whole report as one HTML document (plotly.js inlined once)."""
    problems = [g for g in grades if g.problem]
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<p>" + " · ".join(f"{html.escape(k)}: {html.escape(str(v))}" for k, v in meta.items())
        + f" · graded: {sum(1 for g in grades if g.report)} of {len(grades)}</p>",
    ]  # fmt: skip
    if problems:
        items = "".join(
            f"<li class='problem'>{html.escape(g.name)} ({html.escape(g.variant)}): "
            f"{html.escape(g.problem or '')}</li>"
            for g in problems
        )
        parts.append(f"<section id='problems'><h2>Not graded</h2><ul>{items}</ul></section>")
    parts.append(f"<section id='results'><h2>Results</h2>{_table(grades)}</section>")
    first = True
    for fid, fig in figures(grades).items():
        div = fig.to_html(
            full_html=False, include_plotlyjs=first, div_id=f"fig-{fid}",
            config={"displaylogo": False, "responsive": True},
        )  # fmt: skip
        first = False
        parts.append(f"<section id='section-{fid}'>{div}</section>")
    parts.append("</body></html>")
    return "\n".join(parts)
