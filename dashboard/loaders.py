"""Cached access to a run's data: the brief, the cube, the small tables, the attempt store.

All of the dashboard's caching lives here. Frames are cached as resources (one shared copy,
never mutated, never pickled per rerun) keyed by plain strings; session state holds only
paths and ids. Nothing here reads the answer key or the scenario: see `debrief_data`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import streamlit as st
import yaml

from dashboard.store import AttemptStore
from readout.cube import ensure_cube, load_cube
from runfolder.brief import Windows, case_windows, read_case
from runfolder.layout import MANIFEST, TABLES_DIR

SMALL_TABLES = ("changelog", "experiments", "ranker_runs", "calendar")


@dataclass(frozen=True)
class Case:
    """What the candidate is told: the brief and its windows, and the run's public facts."""

    run_dir: str
    id: str
    title: str
    brief: str
    metric: str
    windows: Windows
    size: str
    seed: int | None
    users: int | None
    reference_start: date | None
    reference_days: int | None


_seen_manifests: dict[str, int] = {}


def forget_if_regenerated(run: str) -> None:
    """Drop every cached answer when the run folder was regenerated since it was cached
    (`casesim run --force` into the same folder while the server runs)."""
    try:
        stamp = (Path(run) / MANIFEST).stat().st_mtime_ns
    except OSError:
        return
    if _seen_manifests.setdefault(run, stamp) != stamp:
        st.cache_data.clear()
        for cached in (_ensured, cube, small_table):
            cached.clear()
        _seen_manifests[run] = stamp


@st.cache_data(show_spinner=False)
def case(run: str) -> Case:
    brief = read_case(run)
    manifest = json.loads((Path(run) / MANIFEST).read_text())
    ref = manifest.get("reference_start")
    return Case(
        run_dir=run,
        id=str(brief["id"]),
        title=str(brief.get("title") or brief["id"]),
        brief=str(brief.get("brief") or "").strip(),
        metric=str(brief.get("metric") or "feed_session_conversion"),
        windows=case_windows(brief),
        size=str(manifest.get("size", "?")),
        seed=manifest.get("seed"),
        users=manifest.get("users"),
        reference_start=date.fromisoformat(ref) if ref else None,
        reference_days=manifest.get("reference_days"),
    )


@st.cache_resource(show_spinner="Preparing this run's metric cube (once per run)…")
def _ensured(run: str) -> str:
    ensure_cube(run)
    return run


@st.cache_resource(show_spinner=False, max_entries=64)
def cube(run: str, name: str) -> pl.DataFrame:
    """One cube table in memory (they are small: at most a few hundred thousand rows)."""
    return load_cube(_ensured(run), name).collect()


@st.cache_resource(show_spinner=False, max_entries=32)
def small_table(run: str, name: str) -> pl.DataFrame:
    """One of the run's small tables (change log, experiments, ranker runs, calendar)."""
    if name not in SMALL_TABLES:
        raise ValueError(f"{name!r} is not a small table; valid: {', '.join(SMALL_TABLES)}")
    return pl.read_parquet(Path(run) / TABLES_DIR / f"{name}.parquet")


@st.cache_resource(show_spinner=False)
def store(data_dir: str) -> AttemptStore:
    return AttemptStore(data_dir)


def describe_run(folder: Path) -> dict[str, Any] | None:
    """What the picker shows of a run folder (from its manifest); None if not a finished run."""
    manifest = folder / MANIFEST
    try:
        info = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return None
    return {
        "path": str(folder),
        "name": folder.name,
        "title": info.get("title") or info.get("scenario"),
        "size": info.get("size"),
        "seed": info.get("seed"),
        "start": info.get("start"),
        "modified": manifest.stat().st_mtime,
    }


@st.cache_data(show_spinner=False, ttl=5)
def runs_in(data_dir: str) -> list[dict[str, Any]]:
    """Finished run folders in the data folder (those with a manifest), newest first."""
    root = Path(data_dir)
    if not root.is_dir():
        return []
    found = (describe_run(m.parent) for m in root.glob(f"*/{MANIFEST}"))
    runs = [r for r in found if r is not None and not r["name"].startswith(".")]
    return sorted(runs, key=lambda r: -r["modified"])


@st.cache_data(show_spinner=False)
def shipped_scenarios(folder: str) -> list[dict[str, str]]:
    """The shipped cases, described only by what a candidate may know: id, title, brief."""
    out = []
    for path in sorted(Path(folder).glob("*.yaml")):
        try:
            spec = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            continue
        if not isinstance(spec, dict) or "id" not in spec:
            continue
        out.append(
            {
                "path": str(path),
                "id": str(spec["id"]),
                "title": str(spec.get("title") or spec["id"]),
                "brief": str(spec.get("brief") or "").strip(),
                "seed": str(spec.get("seed", "")),
            }
        )
    return out


@st.cache_data(show_spinner=False)
def table_schemas(run: str) -> dict[str, list[tuple[str, str]]]:
    """Column names and types of every table a SQL query may reach."""
    from dashboard.sqlresult import run_tables

    out = {}
    for name, path in run_tables(run).items():
        schema = pl.scan_parquet(path).collect_schema()
        out[name] = [
            (col, "text" if dtype == pl.Categorical else str(dtype))
            for col, dtype in schema.items()
        ]
    return out
