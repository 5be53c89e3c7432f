"""A small pool of SQL workers shared by every session, served first come, first served.

With one worker, one session's runaway join made everyone else's `SELECT 1` wait for its
time limit. With a pool, a query waits only when every worker is busy, and then it knows its
place: the page shows how many queries are ahead of it.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path

from dashboard.sqlresult import QueryResult
from dashboard.sqlworker import QueryWorker, sweep_scratch

POLL_SECONDS = 0.25  # how often a waiting query reports its place (and can be abandoned)


class WorkerPool:
    """`size` worker processes; `run` borrows a free one or waits its turn in a queue."""

    def __init__(self, size: int, make: Callable[[], QueryWorker] = QueryWorker) -> None:
        if size < 1:
            raise ValueError(f"a pool needs at least one worker, not {size}")
        self.size = size
        self.workers = tuple(make() for _ in range(size))
        self._idle = list(self.workers)
        self._queue: deque[object] = deque()
        self._cond = threading.Condition()

    def waiting(self) -> int:
        """Queries waiting for a worker now."""
        with self._cond:
            return len(self._queue)

    def _take(self, ticket: object) -> QueryWorker | int:
        """A free worker if it is this ticket's turn, else how many queries are ahead of it."""
        with self._cond:
            if self._idle and self._queue[0] is ticket:
                self._queue.popleft()
                self._cond.notify_all()
                return self._idle.pop()
            return self._queue.index(ticket)

    def run(
        self,
        run_dir: Path | str,
        sql: str,
        max_rows: int,
        on_wait: Callable[[int], None] | None = None,
    ) -> QueryResult:
        """Run a query on the next free worker. While it waits, `on_wait(ahead)` is called
        every POLL_SECONDS with the number of queries ahead of it (0: next in line)."""
        ticket = object()
        with self._cond:
            self._queue.append(ticket)
        try:
            while isinstance(got := self._take(ticket), int):
                if on_wait is not None:
                    on_wait(got)  # may raise (Streamlit stops a script here): leave the queue
                with self._cond:
                    self._cond.wait(POLL_SECONDS)
            worker = got
        except BaseException:
            with self._cond:
                if ticket in self._queue:
                    self._queue.remove(ticket)
                self._cond.notify_all()
            raise
        try:
            return worker.run(run_dir, sql, max_rows)
        finally:
            with self._cond:
                self._idle.append(worker)
                self._cond.notify_all()

    def close(self) -> None:
        """Stop every worker (a query still running on one fails)."""
        for worker in self.workers:
            worker.close()


_shared: WorkerPool | None = None
_shared_lock = threading.Lock()


def shared() -> WorkerPool:
    """The server's pool (all sessions share it), started on first use; its size comes from
    the settings (`CASESIM_SQL_WORKERS`, default 2)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            from dashboard.settings import parse

            sweep_scratch()  # what servers killed before this one left behind
            _shared = WorkerPool(parse().sql_workers)
        return _shared
