"""SQL queries in a child process, so no query can stall, crash or bloat the server.

Every session of a Streamlit server shares one process. The worker holds DuckDB connections
locked to one run's tables (see `sqlsandbox`), runs each query under a watchdog that calls
`interrupt()` at its time limit, and runs with an address-space limit and an empty temporary
folder as its working directory. If a query does not stop within a grace period after the
interrupt, or the worker dies (a crash, its memory limit), the server kills and replaces it
and reports a plain error. The worker is a plain `python -m dashboard.sqlworker` talking over
a socket pair, not a multiprocessing child: those re-import the parent's `__main__`, which
inside Streamlit is the app script.
"""

from __future__ import annotations

import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections import OrderedDict
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from dashboard.sqlresult import QueryFailed, QueryRefused, QueryResult
from runfolder.owners import pid_alive

TIMEOUT_SECONDS = 30.0
GRACE_SECONDS = 5.0  # after the interrupt, before the worker is killed
STARTUP_SECONDS = 60.0  # importing DuckDB on a busy machine; not part of a query's time
MEMORY_BYTES = 6 << 30
OPEN_RUNS = 4  # locked connections a worker keeps (one per run)


def _serve(conn: Connection, memory_bytes: int, memory_limit: str, threads: int) -> None:
    """The worker's loop: one (run_dir, sql, max_rows, timeout) request in, one reply out."""
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    from dashboard import sqlsandbox

    conn.send(("ready", None))
    scratch = Path.cwd()  # an empty folder of its own: relative paths lead nowhere
    connections: OrderedDict[str, Any] = OrderedDict()
    while True:
        try:
            run_dir, sql, max_rows, timeout = conn.recv()
        except EOFError:
            return
        try:
            con = connections.pop(run_dir, None)
            if con is None:
                con = sqlsandbox.open_locked(run_dir, scratch, memory_limit, threads)
            connections[run_dir] = con
            while len(connections) > OPEN_RUNS:
                connections.popitem(last=False)[1].close()
            try:
                conn.send(("ok", sqlsandbox.execute(con, sql, max_rows, timeout)))
            finally:
                if not sqlsandbox.usable(con):
                    connections.pop(run_dir, None)
        except QueryRefused as exc:
            conn.send(("refused", str(exc)))
        except QueryFailed as exc:
            conn.send(("failed", str(exc)))
        except MemoryError:
            conn.send(("failed", f"the query needs more than {memory_bytes >> 30} GiB of memory"))
        except Exception as exc:  # e.g. the run's tables could not be opened: keep serving
            first = (str(exc).strip().splitlines() or [""])[0][:200]
            conn.send(
                (
                    "failed",
                    f"the SQL worker could not run the query ({type(exc).__name__}: {first})",
                )
            )


SCRATCH_PREFIX = "casesim-sql-"


def sweep_scratch(tmp: Path | None = None) -> list[Path]:
    """Remove the scratch folders of servers that died without closing their workers (a
    SIGKILL, a crash): each folder is named after its server's pid. Returns what it removed."""
    removed = []
    for folder in Path(tmp or tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*-*"):
        owner = folder.name.removeprefix(SCRATCH_PREFIX).partition("-")[0]
        if owner.isdigit() and not pid_alive(int(owner)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _worker_env() -> dict[str, str]:
    """The few variables Python needs: the server's own (tokens among them) stay behind."""
    keep = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "PYTHONPATH", "VIRTUAL_ENV", "TMPDIR")
    return {k: v for k, v in os.environ.items() if k in keep}


class QueryWorker:
    """One worker process, started on creation (so it has imported DuckDB by the first query)
    and replaced after a query it could not stop or that killed it. One query at a time."""

    def __init__(
        self,
        timeout: float = TIMEOUT_SECONDS,
        memory_bytes: int = MEMORY_BYTES,
        memory_limit: str = "2GB",
        threads: int = 1,
        grace: float = GRACE_SECONDS,
    ) -> None:
        self.timeout = timeout
        self.grace = grace
        self.memory_bytes = memory_bytes
        self.memory_limit = memory_limit
        self.threads = threads
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._scratch: str | None = None
        self._ready = False
        self._start()

    def _start(self) -> None:
        self._scratch = tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-")
        ours, theirs = socket.socketpair()
        with theirs:
            fd = theirs.fileno()
            args = [str(fd), str(self.memory_bytes), self.memory_limit, str(self.threads)]
            self._process = subprocess.Popen(
                [sys.executable, "-m", __name__, *args],
                pass_fds=(fd,),
                stdin=subprocess.DEVNULL,
                cwd=self._scratch,
                env=_worker_env(),
            )
        self._conn = Connection(ours.detach())
        self._ready = False

    def _wait_ready(self) -> None:
        """Wait for the worker's imports, so that they never count against a query's time."""
        assert self._conn is not None
        try:
            ready = self._conn.poll(STARTUP_SECONDS) and self._conn.recv()[0] == "ready"
        except (EOFError, OSError):
            ready = False
        if not ready:
            self.close()
            raise QueryFailed("the SQL worker did not start; try again in a moment")
        self._ready = True

    def _restart(self) -> None:
        self.close()
        self._start()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def close(self) -> None:
        if self.alive():
            assert self._process is not None
            self._process.kill()
            self._process.wait(5)
        if self._conn is not None:
            self._conn.close()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
        self._process = self._conn = self._scratch = None

    def run(self, run_dir: Path | str, sql: str, max_rows: int) -> QueryResult:
        """The query's result; QueryRefused or QueryFailed (with a message for the user)."""
        with self._lock:
            if not self.alive():
                self._restart()
            if not self._ready:
                self._wait_ready()
            assert self._conn is not None
            try:
                self._conn.send((str(run_dir), sql, max_rows, self.timeout))
                ready = self._conn.poll(self.timeout + self.grace)
                reply = self._conn.recv() if ready else None
            except (EOFError, OSError):
                self._restart()
                raise QueryFailed(
                    "the query stopped the SQL worker (it crashed, or needed more than the "
                    f"{self.memory_bytes >> 30} GiB a query may use); a fresh worker is ready: "
                    "aggregate or filter before joining large tables"
                ) from None
            if reply is None:
                self._restart()
                raise QueryFailed(
                    f"stopped after {self.timeout:g} s (the worker was replaced); aggregate "
                    "or filter before joining large tables"
                )
        status, payload = reply
        if status == "refused":
            raise QueryRefused(payload)
        if status == "failed":
            raise QueryFailed(payload)
        return payload


if __name__ == "__main__":
    _serve(Connection(int(sys.argv[1])), int(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
