"""`streamlit run`, with the dashboard's heavy imports warmed in the background (see
`dashboard.preload`), and its child processes (the SQL workers) stopped when it exits:
Streamlit turns SIGTERM and Ctrl-C into a clean exit, and this makes that exit take the
workers along, however it was asked for."""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
from pathlib import Path

from dashboard import preload


def children(pid: int | None = None) -> list[int]:
    """The ids of the direct children of `pid` (this process by default; Linux /proc only)."""
    parent = os.getpid() if pid is None else pid
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == parent:
            found.append(int(stat.parent.name))
    return found


def stop_children() -> None:
    """SIGTERM every child still running (called at exit)."""
    for pid in children():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)


def main(argv: list[str]) -> None:
    """Run the Streamlit CLI with `argv` (e.g. ["run", "app.py", "--server.port=8501"])."""
    atexit.register(stop_children)
    from streamlit.web.cli import main as streamlit_main

    preload.start()  # after Streamlit's import: two threads importing it at once can fail

    sys.argv = ["streamlit", *argv]
    try:
        streamlit_main()
    finally:
        stop_children()  # click ends with sys.exit; atexit is the second line


if __name__ == "__main__":
    main(sys.argv[1:])
