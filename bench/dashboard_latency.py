"""Dashboard latency on the default-size case: a benchmark, not a test.

Measures
- the cube build (once per run; new runs ship with it),
- the time from starting the server to the first page being ready in a browser (Debian's
  Chromium through Playwright: the app shell, the brief and its chart rendered), target 5 s,
  against the same for a one-chart Streamlit page (the framework's floor on this machine),
  each the median of `--starts` server starts, alternating the two,
- the server time of each interaction (a Streamlit script run, timed with AppTest): every page
  opened and the main controls changed, cold (first time, caches empty) and warm, target 0.5 s,
and prints each figure as a ratio of its target (below 1 is within target).

    .venv/bin/python bench/dashboard_latency.py [--run RUN_DIR] [--rebuild-cube] [--repeat N]
        [--starts N]

Without --run it uses data/demo (`make demo`'s case), generating it first if missing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dashboard.launch import command  # noqa: E402
from readout.cube import cube_meta, ensure_cube, is_current  # noqa: E402

FIRST_PAGE_TARGET = 5.0
INTERACTION_TARGET = 0.5
CHROMIUM = "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def default_run() -> Path:
    run = ROOT / "data" / "demo"
    if not (run / "manifest.json").is_file():
        from casesim.compose import make_case
        from sim.scenario import load_scenario
        from sim.world import SIZES

        print(f"generating the default case into {run} (a few minutes)…", flush=True)
        make_case(load_scenario(ROOT / "scenarios" / "feed_remap.yaml"), SIZES["default"], run)
    return run


# The reference: the smallest Streamlit page with one plotly chart, served the same way. The
# framework's own start-up and plotly.js set the floor the dashboard's first page stands on.
REFERENCE_APP = """
import plotly.graph_objects as go
import streamlit as st

st.title("reference")
st.plotly_chart(go.Figure(go.Scatter(x=[1, 2, 3], y=[1, 3, 2])))
"""


def reference_command(app: Path, port: int) -> list[str]:
    return [sys.executable, "-m", "streamlit", "run", str(app), f"--server.port={port}",
            "--server.headless=true", "--server.address=127.0.0.1",
            "--browser.gatherUsageStats=false", "--server.fileWatcherType=none"]  # fmt: skip


def first_page_seconds(
    cmd: Callable[[int], list[str]], then_open: str | None = None
) -> tuple[float, float, float]:
    """(server healthy, first page ready in the browser) in seconds after starting the server
    that `cmd(port)` starts, and the seconds a reader who then waits 5 s and opens the page
    linked as `then_open` waits for its first plotly chart (NaN without `then_open`)."""
    from playwright.sync_api import sync_playwright

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile("w+") as log, sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking"],
        )  # fmt: skip
        page = browser.new_page(viewport={"width": 1440, "height": 1200})
        started = time.perf_counter()
        proc = subprocess.Popen(
            cmd(port),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1):
                        break
                except OSError:
                    if proc.poll() is not None:
                        log.seek(0)
                        raise RuntimeError(f"server exited:\n{log.read()}") from None
                    time.sleep(0.05)
            healthy = time.perf_counter() - started
            page.goto(url)
            page.wait_for_selector('[data-testid="stApp"]', timeout=60_000)
            # a plotly chart, or the brief's static SVG headline
            page.wait_for_selector(".main-svg, svg.casesim-headline", timeout=60_000)
            page.wait_for_function(
                "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
                timeout=60_000,
            )
            ready = time.perf_counter() - started
            chart_page = float("nan")
            if then_open:
                page.wait_for_timeout(5000)
                clicked = time.perf_counter()
                page.get_by_role("link", name=then_open, exact=True).click()
                page.wait_for_selector(".main-svg", timeout=60_000)
                chart_page = time.perf_counter() - clicked
        finally:
            browser.close()
            proc.terminate()
            proc.wait(timeout=30)
    return healthy, ready, chart_page


def interactions(run: Path, data_dir: Path, repeat: int) -> dict[str, list[float]]:
    """Server seconds per interaction: index 0 is cold (first time), the rest warm."""
    os.environ["CASESIM_RUN"] = str(run)
    os.environ["CASESIM_DATA_DIR"] = str(data_dir)
    from streamlit.testing.v1 import AppTest

    from dashboard.preload import warm

    warm(worker_delay=0)  # as a server has done by the time anyone opens the SQL page
    time.sleep(3)  # the SQL worker's start-up, off the clock as in a running server
    at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=120)
    times: dict[str, list[float]] = {}

    def timed(name: str, act: Callable[[], object]) -> None:
        started = time.perf_counter()
        act()
        times.setdefault(name, []).append(time.perf_counter() - started)
        if at.exception:
            raise RuntimeError(f"{name}: {at.exception[0].value}")

    def page(name: str) -> Callable[[], object]:
        return lambda: at.switch_page(f"views/{name}.py").run()

    def select(key: str, value: object) -> Callable[[], object]:
        return lambda: at.selectbox(key=key).set_value(value).run()

    def choose(key: str, value: object) -> Callable[[], object]:
        return lambda: at.segmented_control(key=key).set_value(value).run()

    def pick(key: str, values: list[str]) -> Callable[[], object]:
        return lambda: at.multiselect(key=key).set_value(values).run()

    def query() -> None:
        sql = "SELECT platform, COUNT(*) AS n FROM sessions GROUP BY platform"
        at.text_area(key="sql_query").input(sql).run()
        at.button(key="sql_run").click().run()

    timed("open the app (brief)", at.run)
    script: list[tuple[str, Callable[[], object]]] = [
        ("page: brief", page("brief")),
        ("page: overview", page("overview")),
        ("overview: metric → CTR", select("overview_metric", "ctr")),
        ("overview: change-log markers on",
         lambda: at.toggle(key="overview_markers_on").set_value(True).run()),
        ("page: segments", page("segments")),
        ("segments: dimension → city tier", select("segments_dim", "city_tier")),
        ("segments: filter platform = ios", pick("segments_filter_platform", ["ios"])),
        ("segments: heatmap against network", select("segments_dim_y", "network")),
        ("segments: dimension → category", select("segments_dim", "category")),
        ("page: changes & experiments", page("changes")),
        ("changes: experiment after window", choose("changes_exp_window", "after")),
        ("page: latency", page("latency")),
        ("latency: by app version", select("latency_dim", "app_version")),
        ("page: feed & ranker", page("feed")),
        ("feed: against previous snapshot", choose("feed_mode", "previous")),
        ("page: seasonality", page("seasonality")),
        ("page: sql", page("sql")),
        ("sql: run a query", query),
        ("page: hypotheses", page("hypotheses")),
        ("hypotheses: pick three", pick("hyp_order", ["FEED", "RANK", "PERF"])),
        ("page: history", page("history")),
    ]  # fmt: skip
    for _ in range(1 + repeat):
        for name, act in script:
            if name.startswith("segments: dimension → city"):  # reset what the last lap set
                select("segments_dim", "platform")()
                pick("segments_filter_platform", [])()
            if name.startswith("feed: against"):
                choose("feed_mode", "baseline")()
            timed(name, act)
    return times


def ratio(value: float, target: float) -> str:
    return f"{value / target:5.2f}×"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=None, help="run folder (default: data/demo)")
    parser.add_argument("--rebuild-cube", action="store_true", help="time a fresh cube build")
    parser.add_argument("--repeat", type=int, default=2, help="warm repetitions of each step")
    parser.add_argument("--starts", type=int, default=3, help="server starts for the first page")
    args = parser.parse_args()
    run = (args.run or default_run()).resolve()

    if args.rebuild_cube and (run / "cube").exists():
        shutil.rmtree(run / "cube")
    if not is_current(run):
        started = time.perf_counter()
        ensure_cube(run)
        build = time.perf_counter() - started
        source = "built now"
    else:
        build, source = float(cube_meta(run)["build_seconds"]), "recorded at generation"
    print(f"case: {run}  (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    print(f"cube build: {build:.2f} s ({source})\n")

    with tempfile.TemporaryDirectory() as data:
        app = Path(data) / "reference.py"
        app.write_text(REFERENCE_APP)
        ours: list[tuple[float, float, float]] = []
        reference: list[tuple[float, float, float]] = []
        for _ in range(args.starts):  # alternated, so both see the same machine
            reference.append(first_page_seconds(lambda port: reference_command(app, port)))
            ours.append(
                first_page_seconds(
                    lambda port: command(run, port, Path(data), headless=True, address="127.0.0.1"),
                    then_open="Overview",
                )
            )
        ref_healthy, ref_ready, _ = (statistics.median(c) for c in zip(*reference, strict=True))
        healthy, ready, chart_page = (statistics.median(c) for c in zip(*ours, strict=True))
        spread = f"{min(r for _, r, _ in ours):.2f}–{max(r for _, r, _ in ours):.2f} s"
        print(f"first page: median of {args.starts} server starts (ours ranged {spread})")
        print(f"{'figure':44} {'measured':>10} {'target':>8} {'ratio':>7} {'vs ref':>7}")
        print(f"{'server healthy after start':44} {healthy:9.2f}s {'':>8} {'':>7} "
              f"{ratio(healthy, ref_healthy)}")  # fmt: skip
        print(f"{'first page ready after start':44} {ready:9.2f}s {FIRST_PAGE_TARGET:7.1f}s "
              f"{ratio(ready, FIRST_PAGE_TARGET)} {ratio(ready, ref_ready)}")  # fmt: skip
        print(f"{'  reference: one-chart Streamlit page':44} {ref_ready:9.2f}s")
        print(f"{'then the overview, 5 s later (browser)':44} {chart_page:9.2f}s "
              "  (the first plotly chart loads plotly.js)")  # fmt: skip
        times = interactions(run, Path(data) / "apptest", args.repeat)

    print(f"\n{'interaction (server time)':44} {'cold':>8} {'warm':>8} {'ratio':>7}")
    worst_cold = worst_warm = 0.0
    for name, values in times.items():
        cold = values[0]
        warm = statistics.median(values[1:]) if len(values) > 1 else cold
        worst_cold, worst_warm = max(worst_cold, cold), max(worst_warm, warm)
        print(f"{name:44} {cold:7.3f}s {warm:7.3f}s {ratio(max(cold, warm), INTERACTION_TARGET)}")
    print(f"\n{'slowest interaction, cold':44} {worst_cold:7.3f}s {'':>8} "
          f"{ratio(worst_cold, INTERACTION_TARGET)}")  # fmt: skip
    print(f"{'slowest interaction, warm':44} {'':>8} {worst_warm:7.3f}s "
          f"{ratio(worst_warm, INTERACTION_TARGET)}")  # fmt: skip


if __name__ == "__main__":
    main()
