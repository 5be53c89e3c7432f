"""`streamlit run`, with the dashboard's heavy imports warmed while the server boots.

A Streamlit server imports nothing of the app until the first browser session runs the
script; that first run would then pay for polars, plotly and pydantic (about two seconds)
while the user waits. Importing them on a background thread at start-up overlaps that cost
with the server's boot and the browser loading the page. Only modules without Streamlit
caching decorators are preloaded (those must be imported once the runtime exists).
"""

from __future__ import annotations

import importlib
import sys
import threading

PRELOAD = (
    "numpy",
    "polars",
    "pyarrow.parquet",
    "yaml",
    "plotly.graph_objects",
    "plotly.io",
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


def preload() -> None:
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
