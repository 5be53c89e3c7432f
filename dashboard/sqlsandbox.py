"""One run's tables in a DuckDB connection that can read nothing else (runs in a SQL worker).

The boundary is the engine's, not a check on the query text. The connection is in memory;
each of the run's Parquet files (and its cube's, as `cube_*`) becomes a view while the
connection may still open files. Then `allowed_paths` is set to exactly those files,
`enable_external_access` is switched off (no other file, glob, URL, ATTACH, COPY, INSTALL
or LOAD), extensions may not auto-install or auto-load, memory and threads are bounded, and
`lock_configuration` refuses any later SET. Each query runs in a transaction that is rolled
back, so even a table function that runs SQL cannot leave anything behind for the next one.
What is still checked by hand is only what the engine cannot know: one statement, a SELECT.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa

from dashboard.sqlresult import MAX_BYTES, QueryFailed, QueryRefused, QueryResult, run_tables

MEMORY_LIMIT = "2GB"
THREADS = 1
BATCH_ROWS = 2_048


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def open_locked(
    run_dir: Path | str, scratch: Path, memory_limit: str = MEMORY_LIMIT, threads: int = THREADS
) -> duckdb.DuckDBPyConnection:
    """An in-memory connection with the run's tables as views, locked against everything else.

    `scratch` is the worker's empty working folder, where DuckDB may spill (bounded)."""
    tables = run_tables(run_dir)
    con = duckdb.connect(":memory:")
    for name, path in tables.items():
        con.execute(
            f"CREATE VIEW {_ident(name)} AS SELECT * FROM read_parquet({_quote(str(path))})"
        )
    paths = ", ".join(_quote(str(p)) for p in tables.values())
    for setting in (
        f"SET allowed_paths = [{paths}]",
        f"SET temp_directory = {_quote(str(scratch / 'spill'))}",
        "SET max_temp_directory_size = '1GB'",
        "SET enable_external_access = false",
        "SET autoinstall_known_extensions = false",
        "SET autoload_known_extensions = false",
        "SET allow_community_extensions = false",
        "SET python_enable_replacements = false",  # no Python variable is a table
        f"SET memory_limit = {_quote(memory_limit)}",
        f"SET threads = {int(threads)}",
        "SET lock_configuration = true",
    ):
        con.execute(setting)
    return con


def check(con: duckdb.DuckDBPyConnection, sql: str) -> str:
    """The one SELECT statement in `sql` (DuckDB's own parser decides); else QueryRefused."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryFailed(_message(exc)) from None
    if not statements:
        raise QueryRefused("the query is empty; write a SELECT … FROM … query")
    if len(statements) > 1:
        raise QueryRefused(
            f"found {len(statements)} statements; run one query at a time (no ';' between)"
        )
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        word = kind.name.replace("_", " ")
        hint = " (write PIVOT inside a SELECT … GROUP BY instead)" if word == "MULTI" else ""
        raise QueryRefused(
            f"{word} statements are not allowed: the SQL console is read-only "
            f"(SELECT, WITH, FROM, DESCRIBE, SUMMARIZE){hint}"
        )
    return sql


def usable(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the connection still answers outside a transaction (else open a new one)."""
    try:
        con.execute("SELECT 1").fetchall()
    except duckdb.Error:
        return False
    return True


def _message(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _explain(exc: BaseException, timeout: float) -> QueryFailed | QueryRefused:
    """The error for the person who wrote the query. DuckDB's own exceptions, or the same
    errors surfacing through the Arrow stream (as Arrow errors carrying DuckDB's message)."""
    text = _message(exc)
    if isinstance(exc, duckdb.InterruptException) or "INTERRUPT" in text.upper():
        return QueryFailed(
            f"stopped after {timeout:g} s; aggregate or filter before joining large tables "
            "(a join without a key multiplies their rows)"
        )
    if isinstance(exc, duckdb.PermissionException) or "Permission Error" in text:
        return QueryRefused(
            "only the run's tables can be read; files, other folders and the network are out "
            f"of reach ({text})"
        )
    if isinstance(exc, duckdb.OutOfMemoryException | MemoryError) or "Out of Memory" in text:
        return QueryFailed(
            "the query needs more memory than a query may use; aggregate or filter first"
        )
    return QueryFailed(text)


def _frame(table: pa.Table) -> pl.DataFrame:
    """Polars, with DuckDB's HUGEINT sums (Arrow decimals) as plain numbers for the charts."""
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    decimals = [c for c, t in frame.schema.items() if isinstance(t, pl.Decimal)]
    return frame.with_columns(
        pl.col(c).cast(pl.Int64 if frame.schema[c].scale == 0 else pl.Float64, strict=False)
        for c in decimals
    )


def execute(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    max_rows: int,
    timeout: float,
    max_bytes: int = MAX_BYTES,
) -> QueryResult:
    """Run one checked query, stopped by `interrupt()` after `timeout` seconds, reading at
    most `max_rows` rows and refusing a result over `max_bytes`."""
    check(con, sql)
    started = time.perf_counter()
    timer = threading.Timer(timeout, con.interrupt)
    timer.daemon = True
    batches: list[pa.RecordBatch] = []
    size = rows = 0
    reader: pa.RecordBatchReader | None = None
    con.begin()
    timer.start()
    try:
        reader = con.sql(sql).limit(max_rows + 1).to_arrow_reader(BATCH_ROWS)
        for batch in reader:
            size += batch.nbytes
            rows += batch.num_rows
            if size > max_bytes:
                raise QueryRefused(
                    f"the result is larger than {max_bytes >> 20} MB "
                    f"(after {rows:,} rows); select fewer columns or rows, or aggregate"
                )
            batches.append(batch)
            if rows > max_rows:
                break
        table = pa.Table.from_batches(batches, schema=reader.schema)
    except (duckdb.Error, pa.ArrowException, OSError) as exc:  # mid-stream: a bare OSError
        raise _explain(exc, timeout) from None
    finally:
        timer.cancel()
        if reader is not None:
            reader.close()  # a result still streaming would keep the transaction open
        try:
            con.rollback()
        except duckdb.Error:
            con.close()  # the worker opens a fresh one (see `usable`)
    try:
        frame = _frame(table.slice(0, max_rows))
    except Exception as exc:  # a type polars cannot hold (e.g. INTERVAL): say which
        raise QueryFailed(
            f"the result cannot be shown ({_message(exc)}); CAST the column to VARCHAR"
        ) from None
    return QueryResult(frame, rows > max_rows, max_rows, time.perf_counter() - started)
