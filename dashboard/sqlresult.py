"""What a SQL query over a run gives back, and the tables it may reach.

Shared by the Streamlit server and the SQL worker processes, so it imports no database
engine: the server never loads DuckDB, the workers never load Streamlit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from runfolder.layout import CUBE_DIR, TABLES_DIR

MAX_ROWS = 10_000
MAX_BYTES = 4 << 20  # a result larger than this is refused, not shipped to the browser
CUBE_PREFIX = "cube_"


class QueryError(ValueError):
    """A query that produced no result; the message is for the person who wrote it."""


class QueryRefused(QueryError):
    """A query that is not one read-only statement, or whose result is too large to show."""


class QueryFailed(QueryError):
    """A query the engine could not run (unknown column, syntax, a file it may not read,
    a time or memory limit)."""


@dataclass(frozen=True)
class QueryResult:
    """Rows (at most the cap), whether more existed, and how long the query ran."""

    frame: pl.DataFrame
    truncated: bool
    max_rows: int
    seconds: float = 0.0


def run_tables(run_dir: Path | str) -> dict[str, Path]:
    """The tables a query may reach: the run's tables, and its cube tables as `cube_*`."""
    run_dir = Path(run_dir)
    tables = {p.stem: p for p in sorted((run_dir / TABLES_DIR).glob("*.parquet"))}
    for p in sorted((run_dir / CUBE_DIR).glob("*.parquet")):
        tables[f"{CUBE_PREFIX}{p.stem}"] = p
    return tables
