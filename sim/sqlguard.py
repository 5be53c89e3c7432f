"""Read-only SQL over one run's tables, with polars SQL.

Candidates query the run's tables (and its cube) freely, but nothing else: polars SQL can
read any file through table functions (`read_parquet('/etc/…')`) and can create or drop
tables, so every query is checked first. The check is lexical and conservative: a single
SELECT or WITH statement, no write or DDL keyword, no file-reading table function, no string
literal that looks like a path or URL. The query then runs in a fresh `SQLContext` holding
lazy scans of the run's own tables only, and at most `max_rows` rows come back.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from sim.cube import CUBE_DIR, TABLES_DIR

MAX_ROWS = 10_000
CUBE_PREFIX = "cube_"

# Statements that write, change the schema, or reach outside the query.
WRITE_WORDS = frozenset(
    (
        "insert", "update", "delete", "merge", "upsert", "replace", "create", "drop", "alter",
        "truncate", "copy", "attach", "detach", "grant", "revoke", "into", "pragma", "call",
        "execute", "exec", "install", "load", "vacuum", "set", "reset", "export", "import",
        "unload",
    )
)  # fmt: skip
# Table functions that read files (polars SQL: read_csv, read_parquet, read_ipc, read_json).
FILE_FUNCTION = re.compile(r"^(read|scan|sink|write)_\w+$", re.IGNORECASE)
PATHLIKE = re.compile(
    r"""(^[a-z][a-z0-9+.\-]*://)          # a URL
      | (^(/|~|\./|\.\./|\\\\|[a-z]:[\\/]))  # an absolute or relative path
      | (\.(parquet|csv|tsv|json|ndjson|jsonl|ipc|arrow|feather|avro|xlsx?|db|sqlite|yaml
            |yml|txt|gz|zst)$)""",
    re.IGNORECASE | re.VERBOSE,
)


class QueryError(ValueError):
    """A query that produced no result; the message is for the person who wrote it."""


class QueryRefused(QueryError):
    """A query the guard will not run: not a single read-only query over the run's tables."""


class QueryFailed(QueryError):
    """A permitted query that polars could not run (unknown column, syntax, types...)."""


@dataclass(frozen=True)
class Token:
    kind: str  # word, string, quoted, symbol, number
    text: str


_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<line_comment>--[^\n]*)
  | (?P<block_comment>/\*.*?\*/)
  | (?P<string>'(?:[^']|'')*')
  | (?P<quoted>"(?:[^"]|"")*"|`[^`]*`)
  | (?P<number>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+)
  | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
  | (?P<symbol>.)
    """,
    re.VERBOSE | re.DOTALL,
)


def tokenize(sql: str) -> list[Token]:
    """SQL tokens without whitespace and comments; unterminated strings or comments refuse."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(sql):
        m = _TOKEN.match(sql, pos)
        assert m is not None  # the symbol branch matches any character
        kind = m.lastgroup or "symbol"
        text = m.group()
        if kind == "symbol" and text == "'":
            raise QueryRefused("unterminated string literal (a ' without its closing ')")
        if kind == "symbol" and text == '"':
            raise QueryRefused('unterminated quoted identifier (a " without its closing ")')
        if kind == "symbol" and sql.startswith("/*", pos):
            raise QueryRefused("unterminated comment (a /* without its closing */)")
        if kind not in ("space", "line_comment", "block_comment"):
            tokens.append(Token(kind, text))
        pos = m.end()
    return tokens


def _statements(tokens: list[Token]) -> list[list[Token]]:
    statements: list[list[Token]] = [[]]
    for tok in tokens:
        if tok.kind == "symbol" and tok.text == ";":
            statements.append([])
        else:
            statements[-1].append(tok)
    return [s for s in statements if s]


def check_query(sql: str) -> str:
    """The query, stripped of a trailing semicolon, if it is safe to run; else QueryRefused."""
    tokens = tokenize(sql)
    statements = _statements(tokens)
    if not statements:
        raise QueryRefused("the query is empty; write a SELECT … FROM … query")
    if len(statements) > 1:
        raise QueryRefused(
            f"found {len(statements)} statements; run one query at a time (no ';' between)"
        )
    (stmt,) = statements
    first = next((t for t in stmt if not (t.kind == "symbol" and t.text == "(")), stmt[0])
    if first.kind != "word" or first.text.lower() not in ("select", "with"):
        raise QueryRefused(
            f"only read-only SELECT or WITH queries are allowed; "
            f"{first.text.upper()!s} statements are refused"
        )
    for i, tok in enumerate(stmt):
        nxt = stmt[i + 1] if i + 1 < len(stmt) else None
        calls = nxt is not None and nxt.kind == "symbol" and nxt.text == "("
        if tok.kind == "word":
            word = tok.text.lower()
            if FILE_FUNCTION.match(word) and calls:
                raise QueryRefused(
                    f"{tok.text}() reads files; only the run's own tables can be queried"
                )
            if word in WRITE_WORDS and not (word == "replace" and calls):
                raise QueryRefused(
                    f"{tok.text.upper()} is not allowed: the SQL console is read-only "
                    "(SELECT and WITH only)"
                )
        elif tok.kind in ("string", "quoted"):
            value = tok.text[1:-1]
            if tok.kind == "quoted" and calls and FILE_FUNCTION.match(value):
                raise QueryRefused(
                    f"{value}() reads files; only the run's own tables can be queried"
                )
            if PATHLIKE.search(value.strip()):
                raise QueryRefused(
                    f"{tok.text} looks like a file path or URL; only the run's own tables "
                    "can be queried"
                )
    return sql.strip().rstrip(";").strip()


def run_tables(run_dir: Path | str) -> dict[str, Path]:
    """The tables a query may reach: the run's tables, and its cube tables as `cube_*`."""
    run_dir = Path(run_dir)
    tables = {p.stem: p for p in sorted((run_dir / TABLES_DIR).glob("*.parquet"))}
    for p in sorted((run_dir / CUBE_DIR).glob("*.parquet")):
        tables[f"{CUBE_PREFIX}{p.stem}"] = p
    return tables


def _scan(path: Path) -> pl.LazyFrame:
    """A lazy scan with categorical columns as plain text, so SQL string functions apply."""
    return pl.scan_parquet(path).with_columns(pl.col(pl.Categorical).cast(pl.String))


@dataclass(frozen=True)
class QueryResult:
    """Rows (at most the cap), whether more existed, and how long the query ran."""

    frame: pl.DataFrame
    truncated: bool
    max_rows: int
    seconds: float = 0.0


def run_query(run_dir: Path | str, sql: str, max_rows: int = MAX_ROWS) -> QueryResult:
    """Check and run one read-only query over the run's tables.

    Raises QueryRefused before running anything unsafe, QueryFailed when polars cannot run it.
    """
    query = check_query(sql)
    started = time.perf_counter()
    ctx = pl.SQLContext(
        {name: _scan(path) for name, path in run_tables(run_dir).items()}, register_globals=False
    )
    try:
        lazy = ctx.execute(query, eager=False)
        frame = lazy.head(max_rows + 1).collect()
    except (pl.exceptions.PolarsError, ValueError, TypeError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise QueryFailed(first_line) from None
    truncated = frame.height > max_rows
    return QueryResult(frame.head(max_rows), truncated, max_rows, time.perf_counter() - started)
