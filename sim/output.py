"""Run folders: table schemas, Parquet written day by day, an atomic rename, the manifest.

A run folder is written under a hidden temporary name and renamed when complete, with the
manifest written last: a killed run leaves no folder that looks finished. Tables are written
one row group per simulated day, so memory stays bounded however many days a case has.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import queue
import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from runfolder.layout import LOG_TABLES, MANIFEST, TABLES_DIR
from runfolder.owners import pid_alive
from sim.behavior import SOURCES
from sim.engine import EngineState, HourResult, Period
from sim.tracking import EVENT_TYPES, with_foregrounds, with_resent
from sim.world import CATEGORIES, DEVICES, NETWORKS, PLATFORMS, TENURES

STRING = pa.dictionary(pa.int8(), pa.string())
TS = pa.timestamp("s")

SCHEMAS: dict[str, pa.Schema] = {
    "sessions": pa.schema(
        [("session_id", pa.int64()), ("user_id", pa.int32()), ("ts", TS), ("date", pa.date32()),
         ("hour", pa.int8()), ("period", STRING), ("source", STRING), ("platform", STRING),
         ("app_version", STRING), ("city_tier", pa.int8()), ("device", STRING),
         ("network", STRING), ("tenure", STRING), ("pages", pa.int8())]
    ),
    "requests": pa.schema(
        [("request_id", pa.int64()), ("session_id", pa.int64()), ("ts", TS), ("page", pa.int8()),
         ("service_version", STRING), ("server_ms", pa.float32()), ("client_ms", pa.float32()),
         ("status", pa.int16()), ("rendered", pa.bool_())]
    ),
    "impressions": pa.schema(
        [("session_id", pa.int64()), ("position", pa.int16()), ("item_id", pa.int32())]
    ),
    "events": pa.schema(
        [("session_id", pa.int64()), ("user_id", pa.int32()), ("ts", TS), ("event", STRING),
         ("item_id", pa.int32()), ("position", pa.int16()), ("platform", STRING),
         ("app_version", STRING)]
    ),
    "orders": pa.schema(
        [("order_id", pa.int64()), ("session_id", pa.int64()), ("user_id", pa.int32()),
         ("item_id", pa.int32()), ("seller_id", pa.int32()), ("ts", TS),
         ("amount", pa.float32()), ("status", STRING)]
    ),
    "feed_snapshots": pa.schema(
        [("snapshot", pa.int32()), ("taken_at", TS), ("item_id", pa.int32()),
         ("price", pa.float32()), ("category", STRING), ("in_stock", pa.bool_()),
         ("seller_rating", pa.float32()), ("image_score", pa.float32()),
         ("title_score", pa.float32())]
    ),
    "ranker_runs": pa.schema(
        [("period", pa.string()), ("trained_at", TS), ("model_version", pa.int32()),
         ("rows", pa.int32()), ("train_auc", pa.float64()), ("deployed", pa.bool_()),
         ("reward_click", pa.float64()), ("reward_conversion", pa.float64()),
         ("reward_price", pa.float64())]
    ),
    "changelog": pa.schema(
        [("ts", TS), ("kind", pa.string()), ("service", pa.string()), ("title", pa.string()),
         ("author", pa.string())]
    ),
}  # fmt: skip
DAILY_TABLES = LOG_TABLES
# The daily tables' columns are filled from numpy arrays, which hold no nulls: declared
# required, their pages carry no definition levels (less writer CPU, same values).
SCHEMAS.update(
    {name: pa.schema([f.with_nullable(False) for f in SCHEMAS[name]]) for name in DAILY_TABLES}
)
# Ids and times that grow through a table: stored as deltas, they cost the writer and its
# compression less and take less space than plain values.
DELTA_COLUMNS = frozenset({"session_id", "request_id", "order_id", "ts", "snapshot", "taken_at"})
# The columns of the daily tables whose row groups keep min/max statistics: those readers
# prune on (readout/cube.py reads by session-id span and feed snapshot; the time columns and
# the sessions' date and period serve the SQL sandbox's range filters). Statistics on every
# other column cost the writer CPU (24 M impression rows at default) and prune nothing.
STATISTICS: dict[str, list[str]] = {
    "sessions": ["session_id", "ts", "date", "period"],
    "requests": ["session_id", "ts"],
    "impressions": ["session_id"],
    "events": ["session_id", "ts"],
    "orders": ["session_id", "ts"],
    "feed_snapshots": ["snapshot", "taken_at"],
}


def app_version_names() -> list[str]:
    """Dictionary of app versions: code 0 is the mini-program, 1.. are app minors 0..."""
    return ["miniprogram"] + [f"10.{m}" for m in range(40)]


def app_version_codes(platform: np.ndarray, minor: np.ndarray) -> np.ndarray:
    return np.where(platform == PLATFORMS.index("miniprogram"), 0, minor.astype(np.int16) + 1)


# The names behind each dictionary-coded column (service_version is the sink's own list).
DICTIONARIES: dict[str, list[str]] = {
    "period": ["current", "reference"],
    "source": list(SOURCES),
    "platform": list(PLATFORMS),
    "app_version": app_version_names(),
    "device": list(DEVICES),
    "network": list(NETWORKS),
    "tenure": list(TENURES),
    "event": list(EVENT_TYPES),
    "status": ["paid", "unpaid"],
    "category": list(CATEGORIES),
}

Columns = dict[str, np.ndarray]
FLOAT_DECIMALS = 4  # every float written to a table is rounded to this many decimals


def hour_columns(r: HourResult, state: EngineState, version_code: int) -> dict[str, Columns]:
    """The rows an hour leaves in each daily table, as numpy columns (dictionary codes)."""
    users, items = state.world.users, state.world.items
    b, f = r.batch, r.funnel
    sid = b.key.astype(np.int64)
    uid = b.user
    platform = users.platform[uid]
    sessions = {
        "session_id": sid,
        "user_id": uid.astype(np.int32),
        "ts": b.start_s,
        "date": (b.start_s // 86400).astype(np.int32),  # days since 1970 (date32)
        "hour": np.full(len(sid), r.hour % 24, np.int8),
        "period": np.full(len(sid), r.period.code, np.int8),
        "source": b.source,
        "platform": platform,
        "app_version": app_version_codes(platform, users.app_minor[uid]),
        "city_tier": users.city_tier[uid],
        "device": users.device[uid],
        "network": users.network[uid],
        "tenure": (~b.new_user).astype(np.int8),
        "pages": np.bincount(f.req_session, minlength=len(sid)).astype(np.int8),
    }
    if len(r.resent):  # session starts a client logged twice (the same rows again)
        sessions = with_resent(sessions, r.resent)
    if len(r.foregrounds):  # no-feed foregrounds that a pipeline change logs as sessions
        sessions = with_foregrounds(sessions, r.foregrounds)
    req_sid = sid[f.req_session]
    requests = {
        "request_id": req_sid * 8 + f.req_page,
        "session_id": req_sid,
        "ts": b.start_s[f.req_session] + f.req_page.astype(np.int64) * 25,
        "page": f.req_page,
        "service_version": np.full(len(req_sid), version_code, np.int8),
        "server_ms": np.round(f.req_server_ms, 1),
        "client_ms": np.round(f.req_client_ms, 1),
        "status": np.where(f.req_error, 503, 200).astype(np.int16),
        "rendered": f.req_rendered,
    }
    impressions = {
        "session_id": sid[f.imp_session],
        "position": f.imp_position,
        "item_id": f.imp_item,
    }
    ev_sess = f.imp_session[r.event_imp]
    ev_user = uid[ev_sess]
    ev_platform = users.platform[ev_user]
    events = {
        "session_id": sid[ev_sess],
        "user_id": ev_user.astype(np.int32),
        "ts": r.event_ts,
        "event": r.event_type,
        "item_id": f.imp_item[r.event_imp],
        "position": f.imp_position[r.event_imp],
        "platform": ev_platform,
        "app_version": app_version_codes(ev_platform, users.app_minor[ev_user]),
    }
    oi = np.flatnonzero(f.ordered)
    o_sess = f.imp_session[oi]
    o_item = f.imp_item[oi]
    orders = {
        "order_id": sid[o_sess] * 64 + f.imp_position[oi],
        "session_id": sid[o_sess],
        "user_id": uid[o_sess].astype(np.int32),
        "item_id": o_item,
        "seller_id": items.seller[o_item],
        "ts": b.start_s[o_sess] + f.imp_page[oi].astype(np.int64) * 25 + 95,
        "amount": items.price[o_item],
        "status": (~f.paid[oi]).astype(np.int8),
    }
    return {
        "sessions": sessions,
        "requests": requests,
        "impressions": impressions,
        "events": events,
        "orders": orders,
    }


def to_arrow(name: str, columns: Columns, dictionaries: dict[str, list[str]]) -> pa.Table:
    """Numpy columns to an Arrow table of the table's schema (codes become dictionaries)."""
    arrays = []
    for field in SCHEMAS[name]:
        values = columns[field.name]
        if pa.types.is_dictionary(field.type):
            arrays.append(
                pa.DictionaryArray.from_arrays(
                    pa.array(values.astype(np.int8, copy=False), pa.int8()),
                    pa.array(dictionaries[field.name], pa.string()),
                )
            )
        elif pa.types.is_date32(field.type):
            arrays.append(
                pa.array(values.astype(np.int32, copy=False), pa.int32()).cast(pa.date32())
            )
        elif pa.types.is_floating(field.type):
            # A fixed precision, so a last-bit difference between CPUs' floating-point
            # kernels cannot change a table's bytes.
            rounded = np.round(np.asarray(values, np.float64), FLOAT_DECIMALS)
            arrays.append(pa.array(rounded).cast(field.type))
        else:
            arrays.append(pa.array(values).cast(field.type))
    return pa.Table.from_arrays(arrays, schema=SCHEMAS[name])


class ParquetSink:
    """Writes a run's tables into `folder/tables`, one row group per day.

    Compression runs on a writer thread (pyarrow releases the GIL), overlapping the next
    day's simulation; the queue is short, so memory stays bounded at about two days.
    """

    def __init__(self, folder: Path, compression_level: int = 1) -> None:
        self.tables_dir = folder / TABLES_DIR
        self.tables_dir.mkdir(parents=True, exist_ok=True)
        self.level = compression_level
        self._writers: dict[str, pq.ParquetWriter] = {}
        self._pending: dict[str, list[Columns]] = {}
        self._versions: list[str] = []
        self._small: dict[str, list[dict[str, Any]]] = {}
        self._queue: queue.Queue[tuple[str, pa.Table] | None] = queue.Queue(maxsize=12)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._drain, name="parquet-writer", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while (job := self._queue.get()) is not None:
            if self._error is not None:
                continue
            try:
                self._writer(job[0]).write_table(job[1])
            except BaseException as exc:  # surfaced on the main thread at close()
                self._error = exc

    def _submit(self, name: str, table: pa.Table) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put((name, table))

    def hour(self, result: HourResult, state: EngineState) -> None:
        if result.feed_api_version not in self._versions:
            self._versions.append(result.feed_api_version)
        code = self._versions.index(result.feed_api_version)
        for name, columns in hour_columns(result, state, code).items():
            self._pending.setdefault(name, []).append(columns)

    def rows(self, table: str, columns: dict[str, Any]) -> None:
        name, _, period = table.partition(":")
        if period == "reference":
            return  # last year's feed snapshots are not part of the case
        if name == "feed_snapshots":
            self._pending.setdefault(name, []).append(columns)
        else:
            self._small.setdefault(name, []).append(columns)

    def day_end(self, period: Period, day: object) -> None:
        for name in DAILY_TABLES:
            parts = self._pending.pop(name, [])
            if not parts:
                continue
            columns = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
            dictionaries = {**DICTIONARIES, "service_version": list(self._versions)}
            self._submit(name, to_arrow(name, columns, dictionaries))

    def _writer(self, name: str) -> pq.ParquetWriter:
        if name not in self._writers:
            schema = SCHEMAS[name]
            self._writers[name] = pq.ParquetWriter(
                self.tables_dir / f"{name}.parquet",
                schema,
                compression="zstd",
                compression_level=self.level,
                use_dictionary=[f.name for f in schema if pa.types.is_dictionary(f.type)],
                column_encoding={
                    f.name: "DELTA_BINARY_PACKED" for f in schema if f.name in DELTA_COLUMNS
                },
                write_statistics=STATISTICS.get(name, True),
            )
        return self._writers[name]

    def write_table(self, name: str, table: pa.Table) -> None:
        """A whole table at once (world tables, calendar, experiments)."""
        pq.write_table(table, self.tables_dir / f"{name}.parquet", compression="zstd")

    def abort(self) -> None:
        """Stop the writer thread without finishing (the run folder is being discarded)."""
        self._error = self._error or RuntimeError("aborted")
        self._queue.put(None)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error
        for name, parts in self._small.items():
            cols: dict[str, list[Any]] = {}
            for part in parts:
                for key, values in part.items():
                    cols.setdefault(key, []).extend(list(values))
            table = pa.table(cols, schema=SCHEMAS[name])
            if name == "changelog":
                table = table.sort_by([("ts", "ascending"), ("service", "ascending")])
            self.write_table(name, table)
        for name in DAILY_TABLES:
            if name not in self._writers:
                pq.write_table(SCHEMAS[name].empty_table(), self.tables_dir / f"{name}.parquet")
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def package_versions() -> dict[str, str]:
    names = ("casesim", "numpy", "polars", "pyarrow", "simpy", "threadpoolctl", "pydantic")
    out = {}
    for name in names:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            out[name] = importlib.metadata.version(name)
    return out


def write_manifest(folder: Path, info: dict[str, Any]) -> dict[str, Any]:
    """Describe every table (rows, sha256) and write manifest.json last."""
    tables = {}
    for path in sorted((folder / TABLES_DIR).glob("*.parquet")):
        meta = pq.read_metadata(path)
        tables[path.stem] = {
            "rows": meta.num_rows,
            "bytes": path.stat().st_size,
            "sha256": sha256_file(path),
        }
    manifest = {**info, "packages": package_versions(), "tables": tables}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    return manifest


class RunFolderExists(FileExistsError):
    pass


class OutputTargetError(ValueError):
    """An output folder that cannot be written (bad name, read-only, inside the source)."""


_PARTIAL = re.compile(r"^\.(?P<name>.+)\.(?:partial|old)-(?P<pid>\d+)$")
STALE_AFTER_S = 7 * 86400  # a partial folder of a live pid this old is a reused pid's


def clean_stale_partials(parent: Path, now: float | None = None) -> list[Path]:
    """Remove the hidden `.NAME.partial-PID` / `.NAME.old-PID` folders of dead processes.

    A killed run (SIGKILL, power loss) cannot clean up after itself; the next run in the same
    parent folder does. A folder whose pid is alive is kept (it may be a concurrent run)
    unless it is older than `STALE_AFTER_S`, which means the pid was reused.
    """
    removed: list[Path] = []
    now = time.time() if now is None else now
    try:
        entries = list(Path(parent).iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = _PARTIAL.match(entry.name)
        if match is None or int(match["pid"]) == os.getpid():
            continue
        try:
            if not entry.is_dir() or entry.is_symlink():
                continue
            old = now - entry.stat().st_mtime > STALE_AFTER_S
        except OSError:
            continue
        if old or not pid_alive(int(match["pid"])):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def _within(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def check_target(target: Path, force: bool = False, keep: tuple[Path, ...] = ()) -> None:
    """Fail fast (before any simulation) if `target` cannot become a run folder.

    `--force` replaces only a run folder (one with a manifest) or an empty folder, and never
    a folder in `keep` (the source of a bundle), one inside it or one holding it. The parent
    is created and probed by making the very temporary folder the run would write.
    Raises RunFolderExists or OutputTargetError; removes stale partial folders on the way.
    """
    target = Path(target)
    try:
        resolved = target.resolve()
    except (OSError, RuntimeError, ValueError) as exc:
        raise OutputTargetError(f"{target}: not a usable path ({exc})") from None
    if target.name in ("", ".", "..") or resolved.parent == resolved:
        raise OutputTargetError(f"{target}: give a new folder's path, not {str(target)!r}")
    for kept in keep:
        source = Path(kept).resolve()
        if _within(resolved, source) or _within(source, resolved):
            raise OutputTargetError(f"{target}: is (or holds, or is inside) the source {kept}")
    try:
        _check_replaceable(target, force)
    except OSError as exc:
        if isinstance(exc, RunFolderExists):
            raise
        raise OutputTargetError(f"{target}: {exc.strerror or exc}") from None
    parent = target.parent
    probe = parent / f".{target.name}.partial-{os.getpid()}"
    try:
        if parent.exists() and not parent.is_dir():
            raise NotADirectoryError(20, "its parent is not a folder")
        parent.mkdir(parents=True, exist_ok=True)
        clean_stale_partials(parent)
        if not probe.exists():  # else: our own, from an earlier call; atomic_folder replaces it
            probe.mkdir()
            probe.rmdir()
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise OutputTargetError(f"{target}: cannot write here ({reason})") from None


def _check_replaceable(target: Path, force: bool) -> None:
    if not (target.exists() or target.is_symlink()):
        return
    if not target.is_dir():
        raise RunFolderExists(f"{target} exists and is not a folder")
    if not force:
        raise RunFolderExists(f"{target} exists; pass --force to replace it")
    if not (target / MANIFEST).is_file() and any(target.iterdir()):
        raise RunFolderExists(
            f"{target} is not a run folder (no {MANIFEST}) and not empty; "
            "--force replaces only run folders"
        )


@contextlib.contextmanager
def atomic_folder(target: Path, force: bool = False) -> Iterator[Path]:
    """Yield a temporary folder that becomes `target` only if the block completes."""
    target = Path(target)
    check_target(target, force)
    tmp = target.parent / f".{target.name}.partial-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = target.parent / f".{target.name}.old-{os.getpid()}"
    if target.exists():
        target.rename(old)
    tmp.rename(target)
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)
