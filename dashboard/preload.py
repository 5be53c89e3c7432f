"""Warm the dashboard's heavy imports while the browser loads the page, without racing them.

A Streamlit server imports nothing of the app until the first browser session runs the
script; that first run would then pay for polars, plotly, pandas and pydantic (about two
seconds) while the user waits. `start` imports them on a background thread once the server
is up (imports hold the GIL and would otherwise delay the server's own start), overlapping
the browser fetching Streamlit's front end. The app script calls `wait` first: a module
that is half imported on another thread looks present to code that checks `sys.modules`
(plotly does, for pandas) and breaks it. Only modules without Streamlit caching decorators
are preloaded (those must be imported once the runtime exists).
"""

from __future__ import annotations

import importlib
import threading
import time

MODULES = (
    "numpy",
    "polars",
    "pyarrow.parquet",
    "yaml",
    "pandas",
    "plotly.graph_objects",
    "plotly.io",
    "sim.cube",
    "sim.scoring",
    "sim.store",
    "sim.sqlguard",
    "dashboard.analysis.metrics",
    "sim.decompose",
    "dashboard.analysis.latency",
    "dashboard.analysis.drift",
    "dashboard.analysis.stats",
)
_thread: threading.Thread | None = None


def server_started(timeout: float = 30.0) -> bool:
    """Wait until the Streamlit runtime serves (or `timeout` seconds pass)."""
    from streamlit.runtime import Runtime, RuntimeState

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if Runtime.exists() and Runtime.instance().state != RuntimeState.INITIAL:
            return True
        time.sleep(0.05)
    return False


def import_all() -> None:
    for name in MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # a warm-up only: the app reports real import errors itself
            return


def start() -> None:
    """Preload on a background thread once the server is up (a server calls this once)."""
    global _thread

    def run() -> None:
        server_started()
        import_all()

    _thread = threading.Thread(target=run, name="casesim-preload", daemon=True)
    _thread.start()


def wait() -> None:
    """Block until the preload has finished (at once if none was started)."""
    if _thread is not None:
        _thread.join()
