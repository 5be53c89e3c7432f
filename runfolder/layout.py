"""Names of a run folder's files and tables, and of the folder itself.

RUN/
  manifest.json      written last by the simulator: a run without it is unfinished
  case.yaml          the brief as a candidate receives it (metric, dates, windows)
  tables/*.parquet   the raw tables (TABLES)
  cube/*.parquet     precomputed aggregates for the dashboard, cube.json written last
  answer_key.json    the truth (private: never shown to a candidate)
  scenario.yaml      the full resolved scenario (private, like the key)
"""

from __future__ import annotations

from pathlib import Path

MANIFEST = "manifest.json"
CASE_FILE = "case.yaml"
TABLES_DIR = "tables"
CUBE_DIR = "cube"
CUBE_META = "cube.json"
ANSWER_KEY = "answer_key.json"
SCENARIO_FILE = "scenario.yaml"
TRUTH_FILES = (ANSWER_KEY, SCENARIO_FILE)  # what a candidate's copy of a run leaves out

# The simulator's tables: the hourly logs (written day by day) and the rest.
LOG_TABLES = ("sessions", "requests", "impressions", "events", "orders", "feed_snapshots")
OTHER_TABLES = (
    "ranker_runs",
    "changelog",
    "users",
    "sellers",
    "items",
    "calendar",
    "experiments",
    "assignments",
)
TABLES = (*LOG_TABLES, *OTHER_TABLES)


def table_path(run_dir: Path | str, table: str) -> Path:
    """Where a raw table lives in a run folder."""
    return Path(run_dir) / TABLES_DIR / f"{table}.parquet"


def run_name(case_id: str, size: str, seed: int | str) -> str:
    """The default folder name of a generated run: `<case>-<size>-s<seed>`."""
    return f"{case_id}-{size}-s{seed}"
