"""One dashboard server per data folder.

The attempt store is safe under concurrent writers (SQLite in WAL mode, every write its own
immediate transaction), but two servers on one folder would each print a host token, hand out
attempts and time boxes without knowing of the other, and a second `casesim dashboard` is
almost always a mistake. The server holds an exclusive lock on a file in the folder for its
lifetime; the operating system releases it when the process ends, however it ends.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_FILE = ".dashboard.lock"


class FolderInUse(RuntimeError):
    """Another dashboard server holds this data folder."""


@contextmanager
def server_lock(data_dir: Path, port: int) -> Iterator[Path]:
    """Hold the folder's server lock, or raise FolderInUse naming the holder."""
    path = Path(data_dir) / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown"
            raise FolderInUse(
                f"another dashboard is already serving {Path(data_dir).resolve()} ({holder}); "
                "stop it first, or pass another --data-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, port {port}".encode(), 0)
        yield path
    finally:
        os.close(fd)  # releases the lock
