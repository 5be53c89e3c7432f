"""Small pieces every page uses: the page context, headers, KPI tiles, pickers, markers toggle."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import streamlit as st

from dashboard import loaders, state
from dashboard.settings import Settings
from dashboard.store import Attempt
from readout.cube import ERROR_LABEL, FIRST_PAGE_LABELS
from readout.metrics import Metric

DIM_LABELS = {
    "platform": "Platform",
    "app_version": "App version",
    "city_tier": "City tier",
    "device": "Device class",
    "network": "Network",
    "tenure": "User tenure",
    "source": "Traffic source",
    "latency_bucket": "First-page latency",
    "category": "Item category",
    "shop_type": "Seller type",
    "service_version": "Feed service version",
    "all": "All traffic",
}
VALUE_ORDER = {"latency_bucket": [*FIRST_PAGE_LABELS, ERROR_LABEL]}


@dataclass(frozen=True)
class Context:
    """What a page needs to know: settings, the open run, its brief, this attempt."""

    cfg: Settings
    run: Path
    case: loaders.Case
    attempt: Attempt

    @property
    def run_key(self) -> str:
        return str(self.run)


def context() -> Context:
    """The page context; stops the page with a pointer to the picker if no case is open."""
    cfg = state.settings()
    run = state.current_run(cfg)
    if run is None:
        st.info("No case is open yet. Pick or generate one under **Case → Pick a case**.")
        st.stop()
    return Context(cfg, run, loaders.case(str(run)), state.current_attempt(run, cfg))


def dim_label(dim: str) -> str:
    return DIM_LABELS.get(dim, dim.replace("_", " ").capitalize())


def ordered_values(dim: str, values: Sequence[str]) -> list[str]:
    """The distinct `values` of a dimension in its natural order (each value once: an axis
    built from repeated values draws one cell per repeat and mislabels the grid)."""
    distinct = set(values)
    order = VALUE_ORDER.get(dim)
    if order is None:
        return sorted(distinct, key=str)
    return [v for v in order if v in distinct] + sorted(v for v in distinct if v not in order)


def windows_text(case: loaders.Case) -> str:
    w = case.windows
    return (
        f"**Before** {w.before[0]:%d %b} – {w.before[1]:%d %b %Y} · "
        f"**After** {w.after[0]:%d %b} – {w.after[1]:%d %b %Y}"
    )


def header(title: str, caption: str | None, ctx: Context | None = None) -> None:
    """Page title, a one-line purpose, and the case's windows."""
    st.title(title)
    parts = [caption] if caption else []
    if ctx is not None:
        parts.append(windows_text(ctx.case))
    if parts:
        st.caption("  \n".join(parts))


def kpi(
    container: st.delta_generator.DeltaGenerator,
    metric: Metric,
    before: float | None,
    after: float | None,
    label: str | None = None,
) -> None:
    """A KPI tile: the after-window value, its change against the before window."""
    delta = None if before is None or after is None else metric.delta(before, after)
    container.metric(
        label or metric.label,
        metric.format(after),
        delta,
        delta_color="normal" if metric.higher_is_better else "inverse",
        help=(metric.help + "  \n" if metric.help else "") + f"Before: {metric.format(before)}",
        border=True,
    )


def metric_picker(
    label: str, metrics: Mapping[str, Metric], key: str, default: str | None = None
) -> Metric:
    keys = list(metrics)
    index = keys.index(default) if default in keys else 0
    chosen = st.selectbox(
        label,
        keys,
        index=index,
        format_func=lambda k: metrics[k].label,
        key=key,
        persist_state="session",
    )
    return metrics[chosen or keys[0]]


def dim_picker(label: str, dims: Sequence[str], key: str, default: str | None = None) -> str:
    index = list(dims).index(default) if default in dims else 0
    chosen = st.selectbox(
        label, list(dims), index=index, format_func=dim_label, key=key, persist_state="session"
    )
    return str(chosen or dims[0])


def changelog_control(ctx: Context, key: str) -> pl.DataFrame | None:
    """A toggle for change-log markers on the page's trend charts, and which kinds to show."""
    log = loaders.small_table(ctx.run_key, "changelog")
    kinds = sorted(log["kind"].unique().to_list())
    cols = st.columns([2, 3], vertical_alignment="center")
    on = cols[0].toggle("Change-log markers", key=f"{key}_on", persist_state="session")
    if not on:
        return None
    chosen = cols[1].pills(
        "Kinds",
        kinds,
        selection_mode="multi",
        default=kinds,
        key=f"{key}_kinds",
        label_visibility="collapsed",
        persist_state="session",
    )
    w = ctx.case.windows
    return log.filter(
        pl.col("kind").is_in(list(chosen or [])),
        pl.col("ts").dt.date().is_between(w.start, w.end),
    )


CHART_CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": ["select2d", "lasso2d"]}


def chart(fig: object, key: str, where: st.delta_generator.DeltaGenerator | None = None) -> None:
    """A plotly chart in our own colours (Streamlit's theme would recolour diverging scales)."""
    (where or st).plotly_chart(fig, key=key, theme=None, config=CHART_CONFIG)
