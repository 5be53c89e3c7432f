"""SQL queries in a child process, so a runaway query is stopped without stopping the server.

Every session of a Streamlit server shares one process. A candidate's cross join of the
impressions table would otherwise hold a CPU (and memory) of the whole server for as long
as it runs, and polars offers no way to cancel a running query. The worker is a spawned
process with an address-space limit; a query that outlives its time limit gets the worker
killed and replaced, and one that exhausts its memory kills only the worker. The worker is a
plain `python -m dashboard.sqlworker` talking over a socket pair, not a multiprocessing
child: those re-import the parent's `__main__`, which inside Streamlit is the app script.
"""

from __future__ import annotations

import resource
import socket
import subprocess
import sys
import threading
from multiprocessing.connection import Connection
from pathlib import Path

from sim.sqlguard import QueryFailed, QueryRefused, QueryResult, check_query, run_query

TIMEOUT_SECONDS = 30.0
MEMORY_BYTES = 6 << 30


def _serve(conn: Connection, memory_bytes: int) -> None:
    """The worker's loop: one (run_dir, sql, max_rows) request in, one reply out."""
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    while True:
        try:
            run_dir, sql, max_rows = conn.recv()
        except EOFError:
            return
        try:
            conn.send(("ok", run_query(run_dir, sql, max_rows)))
        except QueryRefused as exc:
            conn.send(("refused", str(exc)))
        except QueryFailed as exc:
            conn.send(("failed", str(exc)))
        except MemoryError:
            conn.send(("failed", f"the query needs more than {memory_bytes >> 30} GiB of memory"))


class QueryWorker:
    """One worker process, started on creation (so it has imported polars by the first query)
    and restarted after a query it had to stop. Queries run one at a time."""

    def __init__(self, timeout: float = TIMEOUT_SECONDS, memory_bytes: int = MEMORY_BYTES) -> None:
        self.timeout = timeout
        self.memory_bytes = memory_bytes
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._start()

    def _start(self) -> None:
        ours, theirs = socket.socketpair()
        with theirs:
            fd = theirs.fileno()
            self._process = subprocess.Popen(
                [sys.executable, "-m", __name__, str(fd), str(self.memory_bytes)],
                pass_fds=(fd,),
                stdin=subprocess.DEVNULL,
            )
        self._conn = Connection(ours.detach())

    def _restart(self) -> None:
        self.close()
        self._start()

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def close(self) -> None:
        if self.alive():
            assert self._process is not None
            self._process.kill()
            self._process.wait(5)
        if self._conn is not None:
            self._conn.close()
        self._process = self._conn = None

    def run(self, run_dir: Path | str, sql: str, max_rows: int) -> QueryResult:
        """The query's result; QueryRefused or QueryFailed (with a message for the user)."""
        check_query(sql)  # refuse at once, without a round trip
        with self._lock:
            if not self.alive():
                self._restart()
            assert self._conn is not None
            self._conn.send((str(run_dir), sql, max_rows))
            try:
                ready = self._conn.poll(self.timeout)
                reply = self._conn.recv() if ready else None
            except (EOFError, OSError):
                self._restart()
                raise QueryFailed(
                    "the query stopped the query worker (most likely it needed more memory "
                    f"than the {self.memory_bytes >> 30} GiB a query may use); aggregate or "
                    "filter before joining large tables"
                ) from None
            if reply is None:
                self._restart()
                raise QueryFailed(
                    f"stopped after {self.timeout:.0f} s; aggregate or filter before joining "
                    "large tables (a join without a key multiplies their rows)"
                )
        status, payload = reply
        if status == "refused":
            raise QueryRefused(payload)
        if status == "failed":
            raise QueryFailed(payload)
        return payload


_shared: QueryWorker | None = None
_shared_lock = threading.Lock()


def shared() -> QueryWorker:
    """The server's one worker (all sessions share it), started on first use."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = QueryWorker()
        return _shared


if __name__ == "__main__":
    _serve(Connection(int(sys.argv[1])), int(sys.argv[2]))
