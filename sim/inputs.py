"""Bounded, checked reading of files a user hands to the command line.

Anything a user names (a scenario, a submission, a run folder's JSON) may be a FIFO, a
device, a directory, a huge file or hostile JSON. These helpers read only regular files up to
a size cap, never block on a FIFO, and turn every problem into an `InputError` with one
clear line, so the CLI can exit 2 instead of hanging, exhausting memory or printing a
traceback. Imports stay light (standard library only): `casesim validate` should start fast.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

MAX_TEXT_BYTES = 1 << 20  # submissions are a few kB; 1 MiB is generous
MAX_SCENARIO_BYTES = 256 << 10  # scenarios are 1-2 kB; YAML parses at ~1 MB per few seconds
MAX_KEY_BYTES = 16 << 20  # a run's answer key or manifest
MAX_DEPTH = 64  # JSON nesting; real inputs nest 4 deep
MAX_INT_DIGITS = 64  # Python refuses > 4300 digits with a ValueError; nothing needs > 20


class InputError(ValueError):
    """A file that cannot be used, with `source: problem` as its one-line message."""

    def __init__(self, source: str, problem: str) -> None:
        self.source = source
        self.problem = problem
        super().__init__(f"{source}: {problem}")


def read_bytes(path: str | Path, cap: int = MAX_TEXT_BYTES) -> bytes:
    """The bytes of a regular file of at most `cap` bytes.

    The file is opened non-blocking (a FIFO never stalls the open) and checked with fstat
    on the open descriptor, so what is read is what was checked; reads stop at `cap` + 1
    bytes even if the file grows meanwhile.
    """
    source = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise InputError(source, "file not found") from None
    except IsADirectoryError:
        raise InputError(source, "is a directory, not a file") from None
    except (OSError, ValueError) as exc:
        raise InputError(source, f"cannot open: {_reason(exc)}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise InputError(source, "is a directory, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise InputError(source, "is not a regular file (a pipe, socket or device?)")
        if info.st_size > cap:
            raise InputError(source, f"is {info.st_size:,} bytes; the limit is {cap:,}")
        os.set_blocking(fd, True)
        chunks = []
        left = cap + 1
        while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
    except OSError as exc:
        raise InputError(source, f"cannot read: {_reason(exc)}") from None
    finally:
        os.close(fd)
    if len(data) > cap:
        raise InputError(source, f"is larger than the limit of {cap:,} bytes")
    return data


def read_text(path: str | Path, cap: int = MAX_TEXT_BYTES) -> str:
    """A regular file's UTF-8 text (see `read_bytes`)."""
    data = read_bytes(path, cap)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(str(path), f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _reason(exc: BaseException) -> str:
    return (exc.strerror if isinstance(exc, OSError) else None) or str(exc)


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(key)


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _LongInt(len(text))
    return int(text)


class _LongInt(ValueError):
    pass


def json_depth_exceeds(text: str, limit: int = MAX_DEPTH) -> bool:
    """Whether brackets nest deeper than `limit` (outside strings), in one linear pass."""
    if text.count("[") + text.count("{") <= limit:
        return False  # cannot nest deeper than the brackets it has
    depth = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return True
        elif ch in "]}":
            depth -= 1
    return False


def parse_json(text: str, source: str) -> Any:
    """Strict JSON: no duplicate keys, no NaN/Infinity, bounded nesting and integer size."""
    if json_depth_exceeds(text):
        raise InputError(source, f"JSON nests deeper than {MAX_DEPTH} levels")
    try:
        return json.loads(
            text,
            object_pairs_hook=_unique_pairs,
            parse_int=_bounded_int,
            parse_constant=_no_constant,
        )
    except json.JSONDecodeError as exc:
        raise InputError(
            source, f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except _DuplicateKey as exc:
        raise InputError(source, f"duplicate key {exc.key!r} in a JSON object") from None
    except _LongInt:
        raise InputError(source, f"an integer has more than {MAX_INT_DIGITS} digits") from None
    except _Constant as exc:
        raise InputError(source, f"{exc} is not valid JSON (use a number)") from None
    except RecursionError:
        raise InputError(source, "JSON nests too deeply") from None


class _Constant(ValueError):
    pass


def _no_constant(name: str) -> Any:
    raise _Constant(name)


def load_json(path: str | Path, cap: int = MAX_TEXT_BYTES) -> Any:
    """Read and parse a JSON file with `read_text` and `parse_json`."""
    return parse_json(read_text(path, cap), str(path))


# --------------------------------------------------------------------------------------------
# Run folders handed to score / key / solve / describe / bundle / dashboard
# --------------------------------------------------------------------------------------------

_MANIFEST_FIELDS: dict[str, type | tuple[type, ...]] = {
    "scenario": str,
    "title": str,
    "size": str,
    "start": str,
    "days": int,
    "tables": dict,
}
SEED_MAX = 2**32 - 1


def check_run_folder(run_dir: Path) -> dict[str, Any]:
    """A finished run's manifest, after checking it and that its tables are all there.

    Checks are cheap (no table is read or hashed): the manifest's fields and types, and each
    listed table file present with the size the manifest records. A truncated table or a
    hand-edited manifest is refused here with one line, before any command reads tables.
    """
    from runfolder.layout import MANIFEST, TABLES_DIR

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError(str(run_dir), "not a folder (give a run folder)")
    path = run_dir / MANIFEST
    if not path.is_file():
        raise InputError(str(run_dir), f"not a finished run folder (no {MANIFEST})")
    manifest = load_json(path, MAX_KEY_BYTES)
    where = str(path)
    if not isinstance(manifest, dict):
        raise InputError(where, "not a JSON object")
    for name, kind in _MANIFEST_FIELDS.items():
        value = manifest.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise InputError(where, f"{name}: missing or not a {_kind(kind)}")
    seed = manifest.get("seed")  # absent from a take-home variant or bundle (sim/variants.py)
    if seed is not None and (
        not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= SEED_MAX
    ):
        raise InputError(where, f"seed: {seed!r} is not an integer in 0..{SEED_MAX}")
    if not 1 <= manifest["days"] <= 1000:
        raise InputError(where, f"days: {manifest['days']} is not a plausible number of days")
    if not manifest["tables"]:
        raise InputError(where, "tables: empty")
    for name, meta in manifest["tables"].items():
        table = run_dir / TABLES_DIR / f"{name}.parquet"
        if "/" in name or "\\" in name or name.startswith("."):
            raise InputError(where, f"tables: {name!r} is not a table name")
        if not isinstance(meta, dict) or not isinstance(meta.get("bytes"), int):
            raise InputError(where, f"tables.{name}: missing its size in bytes")
        try:
            info = table.stat()
        except OSError:
            raise InputError(str(table), "missing (the run folder is incomplete)") from None
        if not stat.S_ISREG(info.st_mode) or info.st_size != meta["bytes"]:
            raise InputError(
                str(table), f"{info.st_size:,} bytes where the manifest says {meta['bytes']:,}"
            )
    return manifest


def _kind(kind: type | tuple[type, ...]) -> str:
    names = {str: "text", int: "integer", dict: "JSON object", list: "list"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def load_answer_key(run_dir: Path) -> dict[str, Any] | None:
    """The run's answer key if it has one (checked for the fields scoring reads), else None."""
    from runfolder.layout import ANSWER_KEY

    path = Path(run_dir) / ANSWER_KEY
    if not path.exists() and not path.is_symlink():
        return None
    key = load_json(path, MAX_KEY_BYTES)
    where = str(path)
    if not isinstance(key, dict) or not isinstance(key.get("causes"), list):
        raise InputError(where, "causes: missing or not a list (a damaged answer key)")
    for i, cause in enumerate(key["causes"]):
        ok = (
            isinstance(cause, dict)
            and isinstance(cause.get("id"), str)
            and isinstance(cause.get("share"), int | float)
            and not isinstance(cause.get("share"), bool)
            and isinstance(cause.get("hit_set"), list)
            and all(isinstance(h, str) for h in cause["hit_set"])
        )
        if not ok:
            raise InputError(where, f"causes[{i}]: needs id, share and hit_set")
    return key
