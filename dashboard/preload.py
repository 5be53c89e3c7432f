"""Warm the dashboard's heavy imports while the browser loads the page, without racing them.

A Streamlit server imports nothing of the app until the first browser session runs the
script, which would then pay for the imports while the user waits. `start` imports them on a
background thread once the server is up, overlapping the browser fetching Streamlit's front
end, in two steps:
- the data modules (polars, pyarrow, sim.*) every page needs;
- pandas and plotly, which the brief does without (its chart is static SVG). This step waits
  until the first page is drawn, or a page asks for charts: imports hold the GIL and would
  halve the speed of that first script run.
The app script waits for the step its page needs: a module half imported on another thread
looks present to code that checks `sys.modules` (plotly does, for pandas) and breaks it.
Only modules without Streamlit caching decorators are preloaded (those must be imported once
the runtime exists). The SQL worker pool is started from here too, a few seconds later.
"""

from __future__ import annotations

import importlib
import threading
import time

DATA_MODULES = (
    "numpy",
    "polars",
    "pyarrow.parquet",
    "yaml",
    "readout.cube",
    "grading.scoring",
    "dashboard.store",
    "dashboard.sqlresult",
    "readout.metrics",
    "readout.decompose",
    "readout.latency",
    "readout.drift",
    "readout.stats",
)
CHART_MODULES = ("pandas", "plotly.graph_objects", "plotly.io")
WORKER_DELAY_SECONDS = 8.0
CHARTS_AT_THE_LATEST_SECONDS = 15.0  # after the data modules, even if nobody has connected
_data_ready = threading.Event()
_all_ready = threading.Event()
_charts_wanted = threading.Event()
_started = False


def server_started(timeout: float = 30.0) -> bool:
    """Wait until the Streamlit runtime serves (or `timeout` seconds pass)."""
    from streamlit.runtime import Runtime, RuntimeState

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if Runtime.exists() and Runtime.instance().state != RuntimeState.INITIAL:
            return True
        time.sleep(0.05)
    return False


def warm(worker_delay: float = WORKER_DELAY_SECONDS, charts_after: float = 0.0) -> None:
    """Import the data modules; then, once charts are wanted (or `charts_after` seconds have
    passed), the chart modules, building one figure of each kind (plotly loads a trace type's
    validators on first use); and start the SQL worker pool `worker_delay` seconds later
    (its imports would otherwise compete with the first page)."""
    try:
        for name in DATA_MODULES:
            importlib.import_module(name)
        _data_ready.set()
        _charts_wanted.wait(charts_after)
        for name in CHART_MODULES:
            importlib.import_module(name)
        import plotly.graph_objects as go

        go.Figure([go.Scatter(x=[0], y=[0]), go.Bar(x=[0], y=[0]), go.Heatmap(z=[[0]])]).to_json()
        from dashboard.sqlpool import shared

        timer = threading.Timer(worker_delay, shared)
        timer.daemon = True
        timer.start()
    except Exception:  # a warm-up only: the app reports real errors itself
        return
    finally:
        _data_ready.set()
        _all_ready.set()


def start() -> None:
    """Preload on a background thread once the server is up (a server calls this once)."""
    global _started

    def run() -> None:
        server_started()
        warm(charts_after=CHARTS_AT_THE_LATEST_SECONDS)

    _started = True
    threading.Thread(target=run, name="casesim-preload", daemon=True).start()


def wait(charts: bool = True) -> None:
    """Block until the data modules (and, with `charts`, pandas and plotly) are imported; at
    once if no preload was started."""
    if not _started:
        return
    if charts:
        _charts_wanted.set()
        _all_ready.wait()
    else:
        _data_ready.wait()


def first_page_drawn() -> None:
    """Let the chart modules load: the first page is out, so they no longer slow it."""
    _charts_wanted.set()
