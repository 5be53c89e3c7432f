"""The cohort report rendered in Chromium: every figure drawn, nothing fetched from outside.

It uses the e2e `page` fixture (Debian's Chromium, see conftest.py): a browser of its own
would start a second Playwright in the same worker, which refuses to run inside the first's
event loop.
"""

from __future__ import annotations

from pathlib import Path

from grading.cohort import grade_cohort
from grading.report import FIGURE_IDS, render_html
from tests.e2e.conftest import ARTIFACTS
from tests.grading.test_cohort import seats


def test_report_renders_in_chromium(page, tmp_path: Path):
    report = tmp_path / "report.html"
    report.write_text(render_html(grade_cohort(seats()), "Take-home cohort report", {"case": "x"}))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(report.as_uri())
    page.wait_for_function(
        "document.querySelectorAll('.js-plotly-plot .main-svg').length >= 6", timeout=60_000
    )
    drawn = page.evaluate("[...document.querySelectorAll('.js-plotly-plot')].map(d => d.id)")
    page.screenshot(path=str(ARTIFACTS / "takehome-cohort-report.png"), full_page=True)
    assert sorted(drawn) == sorted(f"fig-{f}" for f in FIGURE_IDS)
    assert all(url.startswith("file://") for url in requests), requests
