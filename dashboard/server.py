"""`streamlit run`, with the dashboard's heavy imports warmed while the browser loads the page.

A Streamlit server imports nothing of the app until the first browser session runs the
script; that first run would then pay for polars, plotly, pandas and pydantic (about two
seconds) while the user waits. Importing them on a background thread overlaps that cost with
the browser fetching and starting Streamlit's front end. The thread waits until the server
is up, because imports hold the GIL and would otherwise delay the server's own start. Only
modules without Streamlit caching decorators are preloaded (those must be imported once the
runtime exists).
"""

from __future__ import annotations

import importlib
import sys
import threading
import time

PRELOAD = (
    "numpy",
    "polars",
    "pyarrow.parquet",
    "yaml",
    "plotly.graph_objects",
    "plotly.io",
    "pandas",
    "sim.cube",
    "sim.scoring",
    "sim.store",
    "sim.sqlguard",
    "dashboard.analysis.metrics",
    "dashboard.analysis.decompose",
    "dashboard.analysis.latency",
    "dashboard.analysis.drift",
    "dashboard.analysis.stats",
)


def server_started(timeout: float = 30.0) -> bool:
    """Wait until the Streamlit runtime serves (or `timeout` seconds pass)."""
    from streamlit.runtime import Runtime, RuntimeState

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if Runtime.exists() and Runtime.instance().state != RuntimeState.INITIAL:
            return True
        time.sleep(0.05)
    return False


def preload(wait: bool = True) -> None:
    if wait:
        server_started()
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # a warm-up only: the app reports real import errors itself
            return


def main(argv: list[str]) -> None:
    """Run the Streamlit CLI with `argv` (e.g. ["run", "app.py", "--server.port=8501"])."""
    threading.Thread(target=preload, name="casesim-preload", daemon=True).start()
    from streamlit.web.cli import main as streamlit_main

    sys.argv = ["streamlit", *argv]
    streamlit_main()


if __name__ == "__main__":
    main(sys.argv[1:])
