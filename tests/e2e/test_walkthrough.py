"""A candidate's walk in a real browser: brief → segments → hypotheses → submit → debrief."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from dashboard.store import AttemptStore
from tests.e2e import reruns
from tests.e2e.conftest import ONE_SERVER

pytestmark = [pytest.mark.e2e, ONE_SERVER]
TIMEOUT = 60_000


def settle(page: Page) -> None:
    """Wait until the run the last action asked for has finished and no element is stale."""
    reruns.settle(page, TIMEOUT)


HEADLINE = "svg.casesim-headline"  # the brief's chart: static SVG, not plotly


def chart(page: Page, selector: str = ".main-svg") -> None:
    page.wait_for_selector(selector, timeout=TIMEOUT)
    settle(page)


def visit(page: Page, name: str) -> None:
    page.get_by_role("link", name=name, exact=True).click()
    expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible(timeout=TIMEOUT)


def pick(page: Page, picker, hid: str) -> None:
    """Choose one hypothesis in the order multiselect, typing to filter: its list is
    virtualised, so options further down are not in the page until scrolled to."""
    picker.click()
    page.keyboard.type(hid)
    page.get_by_role("option", name=re.compile(rf"^{hid} ·")).click()
    page.keyboard.press("Escape")
    settle(page)


def test_brief_to_debrief(page: Page, server, shots):
    before = {a.id for a in AttemptStore(server.data_dir).history()}  # the server is shared
    page.goto(server.url)
    chart(page, HEADLINE)
    expect(page.get_by_text("Case brief")).to_be_visible()
    assert page.locator(f"{HEADLINE} circle").count() >= 28  # survived sanitising
    assert page.locator(f"{HEADLINE} circle title").count() >= 28  # tooltips
    page.screenshot(path=str(shots / "01-brief.png"), full_page=True)
    name = page.get_by_label("Your name")  # the attempt is this person's; the name goes with it
    name.fill("Ada")
    name.press("Enter")
    settle(page)

    visit(page, "Segments")
    chart(page)
    expect(page.get_by_text("Mix or rate?")).to_be_visible()
    page.screenshot(path=str(shots / "02-segments.png"), full_page=True)

    visit(page, "Hypotheses")
    settle(page)
    picker = page.get_by_role("combobox", name="Pick hypotheses in the order you would check them")
    shares = page.get_by_label("Share of the change (%)")
    for n, hid in enumerate(("FEED", "RANK", "DEPLOY"), start=1):
        pick(page, picker, hid)
        expect(shares).to_have_count(n, timeout=TIMEOUT)
    for i, value in enumerate(("60", "30")):
        shares.nth(i).fill(value)
        shares.nth(i).press("Enter")
        settle(page)
    expect(page.get_by_text("10%", exact=True)).to_be_visible(timeout=TIMEOUT)
    expect(page.get_by_label("Your name (it goes with your submission)")).to_have_value("Ada")
    page.get_by_text("I understand that submitting is final").click()
    settle(page)
    page.screenshot(path=str(shots / "03-hypotheses.png"), full_page=True)
    page.get_by_role("button", name="Submit diagnosis").click()

    expect(page.get_by_role("heading", name="Debrief", exact=True)).to_be_visible(timeout=TIMEOUT)
    chart(page)
    expect(page.get_by_text("Where the evidence was: secret_feed_remap")).to_be_visible()
    page.screenshot(path=str(shots / "04-debrief.png"), full_page=True)

    (attempt,) = [a for a in AttemptStore(server.data_dir).history() if a.id not in before]
    assert attempt.submitted and attempt.submission["order"] == ["FEED", "RANK", "DEPLOY"]
    assert attempt.user == "Ada"
    assert attempt.score is not None


INVESTIGATE = (
    ("Overview", "05-overview"),
    ("Changes & experiments", "06-changes"),
    ("Latency", "07-latency"),
    ("Feed & ranker health", "08-feed"),
    ("Seasonality", "09-seasonality"),
    ("SQL", "10-sql"),
    ("History", "11-history"),
)


def test_every_page_renders_in_the_browser(page: Page, server, shots):
    """Each investigation page draws without an error box, and its charts render."""
    page.goto(server.url)
    chart(page, HEADLINE)
    for name, shot in INVESTIGATE:
        visit(page, name)
        settle(page)
        if name not in ("SQL", "History"):
            chart(page)
        expect(page.locator('[data-testid="stException"]')).to_have_count(0)
        page.screenshot(path=str(shots / f"{shot}.png"), full_page=True)
