"""Screenshot the dashboard page where a candidate finds a fault's evidence.

    python scripts/capture_evidence.py RUN OUT.png PAGE [--pick LABEL=OPTION ...] [--tab NAME]
        [--sql QUERY]

Starts the dashboard over RUN (loopback, headless, Debian's Chromium), opens the page by its
link name in the sidebar (e.g. "Segments", "Feed & ranker health"), chooses the given
select-box options, and saves a full-page screenshot once its charts have drawn. With
--sql (on the "SQL" page) it runs the query first, so the picks can set its quick chart's
x, y and colour: evidence found by SQL is reproducible too. Coaches use
it to document where a case's evidence shows; issue 13's notes link the results.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dashboard.launch import command, wait_healthy  # noqa: E402
from tests.dashboard.support import free_port  # noqa: E402
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.e2e.test_walkthrough import settle  # noqa: E402

TIMEOUT = 120_000


def capture(
    run: Path, out: Path, page_name: str, picks: list[str], tab: str | None, sql: str | None = None
) -> None:
    from playwright.sync_api import expect, sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        log = Path(tmp) / "server.log"
        with log.open("w") as sink:
            proc = subprocess.Popen(
                command(run, port, Path(tmp) / "data", headless=True, address="127.0.0.1"),
                stdout=sink,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(url, proc, log=log)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1440, "height": 2000})
                page.goto(url)
                page.locator('[data-testid="stApp"]').wait_for(timeout=TIMEOUT)
                page.get_by_role("link", name=page_name, exact=True).click()
                heading = page.get_by_role("heading", name=page_name, exact=True)
                expect(heading).to_be_visible(timeout=TIMEOUT)
                settle(page)
                if tab:
                    page.get_by_role("tab", name=tab).click()
                if sql:
                    box = page.get_by_label("Query", exact=True)
                    box.fill(sql)
                    box.press("Control+Enter")  # commit the text area's value
                    settle(page)
                    page.get_by_role("button", name="Run query").click()
                    settle(page)
                for pick in picks:
                    label, option = pick.split("=", 1)
                    page.get_by_label(label, exact=True).first.click()
                    page.get_by_role("option", name=option, exact=True).click()
                    settle(page)
                page.locator(".main-svg:visible").first.wait_for(timeout=TIMEOUT)
                settle(page)
                out.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(out), full_page=True)
                browser.close()
        finally:
            proc.terminate()
            proc.wait(timeout=15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("page")
    parser.add_argument("--pick", action="append", default=[], help="LABEL=OPTION")
    parser.add_argument("--tab")
    parser.add_argument("--sql", help="a query to run first (on the SQL page)")
    args = parser.parse_args()
    capture(args.run, args.out, args.page, args.pick, args.tab, args.sql)
    print(args.out)


if __name__ == "__main__":
    main()
