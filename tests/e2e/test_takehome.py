"""The hosted take-home in a real browser (loopback only): five candidates at once through
`casesim takehome serve`, each submitting a different order; every submission is stored on
its own seat's variant; one candidate tries another's variant by URL and the sealed key and
the team's files by SQL, and is refused; on a second cohort with a tiny time box the server
refuses a late submit."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, Page, async_playwright

from dashboard.launch import wait_healthy
from dashboard.store import AttemptStore
from tests.dashboard.support import SECRETS, case_folder, free_port
from tests.dashboard.test_takehome import make_cohort
from tests.e2e import reruns
from tests.e2e.conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.e2e
TIMEOUT = int(
    os.environ.get("ENGB_TIMEOUT", 120_000)
)  # ms per step: a guard against hangs on a loaded machine, not a target
ORDERS = {
    "v1": ["FEED"],
    "v2": ["RANK"],
    "v3": ["FEED", "RANK"],
    "v4": ["RANK", "FEED"],
    "v5": ["DEPLOY", "FEED"],
}
REFUSED = "does not open a take-home"


@contextmanager
def takehome_servers(roots: list[Path], logs: Path) -> Iterator[list[str]]:
    """`casesim takehome serve ROOT` for each root, on free loopback ports, started together;
    each stopped (its process group, by the launcher) at the end."""
    env = {**os.environ, "CASESIM_DASHBOARD_ADDRESS": "127.0.0.1", "CASESIM_SQL_WORKERS": "1"}
    procs: list[tuple[subprocess.Popen, str, Path]] = []
    try:
        for i, root in enumerate(roots):
            port, log = free_port(), logs / f"server-{i}.log"
            cli = [sys.executable, "-m", "casesim.cli", "takehome", "serve", str(root)]
            with log.open("w") as out:
                proc = subprocess.Popen(
                    [*cli, "--port", str(port)],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=env,
                )
            procs.append((proc, f"http://127.0.0.1:{port}", log))
        for proc, url, log in procs:
            wait_healthy(url, proc, timeout=180, log=log)
        yield [url for _, url, _ in procs]
    finally:
        for proc, _, _ in procs:
            proc.send_signal(signal.SIGTERM)  # the launcher stops the server's process group
        for proc, _, _ in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def settle(page: Page) -> None:
    """Wait until the run the last action asked for has finished and no element is stale."""
    await reruns.asettle(page, TIMEOUT)


async def visit(page: Page, name: str) -> None:
    await page.get_by_role("link", name=name, exact=True).click()
    await page.get_by_role("heading", name=name, exact=True).wait_for(timeout=TIMEOUT)
    await settle(page)


async def open_seat(page: Page, url: str) -> None:
    await page.goto(url, timeout=TIMEOUT)
    await page.get_by_text("Case brief").wait_for(timeout=TIMEOUT)
    await settle(page)


async def submit(page: Page, order: list[str], outcome: str, shot: Path | None = None) -> None:
    """Fill the hypotheses form with `order` and submit; wait for the text `outcome`. On a
    failure the page's screenshot goes with the other artifacts (the `shots` folder)."""
    try:
        await _submit(page, order, shot)
        await page.get_by_text(outcome).wait_for(timeout=TIMEOUT)
        await settle(page)
    except Exception:
        failed = ARTIFACTS / f"takehome-failed-{'-'.join(order)}.png"
        await page.screenshot(path=str(failed), full_page=True)
        raise


async def _submit(page: Page, order: list[str], shot: Path | None) -> None:
    await visit(page, "Hypotheses")
    shares = page.get_by_label("Share of the change (%)")
    for n, hid in enumerate(order, start=1):
        await page.get_by_role(
            "combobox", name="Pick hypotheses in the order you would check them"
        ).click()
        await page.keyboard.type(hid)
        await page.get_by_role("option", name=re.compile(rf"^{hid} ·")).click()
        await page.keyboard.press("Escape")
        await settle(page)
        await shares.nth(n - 1).wait_for(timeout=TIMEOUT)
    await shares.nth(0).fill("50")
    await shares.nth(0).press("Enter")
    await settle(page)
    await page.get_by_text("I understand that submitting is final").click()
    await settle(page)
    if shot is not None:
        await page.screenshot(path=str(shot), full_page=True)
    await page.get_by_role("button", name="Submit diagnosis").click()
    await settle(page)


async def sql(page: Page, query: str, marker: str) -> str:
    """Run a query on the SQL page and wait for the alert that answers it (it names `marker`,
    the file the query tried); the alert's text. A query that succeeded shows no alert and
    fails the test."""
    box = page.get_by_label("Query")
    await box.fill(query)
    await box.press("Control+Enter")  # commit the text area's value
    await settle(page)
    await page.get_by_role("button", name="Run query").click()
    alert = page.locator('[data-testid="stAlert"]', has_text=marker)
    await alert.wait_for(timeout=TIMEOUT)
    return await alert.inner_text()


async def candidate(
    context: BrowserContext, url: str, variant: str, token: str, shot: Path | None = None
) -> dict:
    page = await reruns.awatch(await context.new_page())
    page.set_default_timeout(TIMEOUT)
    try:
        await open_seat(page, f"{url}/?token={token}")
        sidebar = await page.locator('[data-testid="stSidebar"]').inner_text()
        await submit(page, ORDERS[variant], "hiring team has your submission", shot)
        text = await page.locator('[data-testid="stMain"]').inner_text()
        return {"sidebar": sidebar, "after_submit": text}
    finally:
        await page.close()


async def intruder(
    context: BrowserContext, url: str, root: Path, tokens: dict[str, str], shots: Path
):
    """v1's candidate tries v2's variant by URL and the truth and the team's files by SQL."""
    page = await reruns.awatch(await context.new_page())
    page.set_default_timeout(TIMEOUT)
    seen: dict[str, str] = {}
    try:
        await page.goto(f"{url}/?case=v2", timeout=TIMEOUT)  # no token
        await page.get_by_text(REFUSED).wait_for(timeout=TIMEOUT)
        await settle(page)
        seen["no token"] = await page.locator("body").inner_text()
        await page.goto(f"{url}/debrief?case=v2&attempt={'A' * 24}&token=x{tokens['v1']}")
        await page.get_by_text(REFUSED).wait_for(timeout=TIMEOUT)
        await settle(page)
        seen["bad token"] = await page.locator("body").inner_text()
        await open_seat(page, f"{url}/?token={tokens['v1']}&case=v2")
        await visit(page, "SQL")
        seen["sql page"] = await page.locator('[data-testid="stMain"]').inner_text()
        for name, target in {
            "key": root / "sealed" / "v2" / "answer_key.json",
            "tokens": root / "tokens.csv",
            "cohort": root / "cohort.json",
        }.items():
            query = f"SELECT * FROM read_text('{target}')"
            seen[f"sql {name}"] = await sql(page, query, target.name)
        seen["sql other variant"] = await sql(
            page,
            f"SELECT COUNT(*) FROM read_parquet('{root}/variants/v2/tables/*.parquet')",
            "tables/*.parquet",
        )
        await visit(page, "Hypotheses")
        await page.screenshot(path=str(shots / "takehome-candidate.png"), full_page=True)
        seen["nav"] = await page.locator('[data-testid="stSidebarNav"]').inner_text()
        seen["sidebar"] = await page.locator('[data-testid="stSidebar"]').inner_text()
        return seen
    finally:
        await page.close()


async def late(context: BrowserContext, url: str, token: str) -> str:
    page = await reruns.awatch(await context.new_page())
    page.set_default_timeout(TIMEOUT)
    try:
        await open_seat(page, f"{url}/?token={token}")
        await page.wait_for_timeout(1500)  # the one-second time box is over
        await submit(page, ["FEED"], "Not submitted")
        return await page.locator('[data-testid="stMain"]').inner_text()
    finally:
        await page.close()


async def cohort_run(urls: dict[str, str], root: Path, tokens: dict, late_token: str, shots):
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            # One context, a page per person: their state lives in the server session and the
            # URL (see conftest.shared_context), and the cache fetches Streamlit's front end once.
            context = await browser.new_context(viewport={"width": 1440, "height": 1800})
            shot = shots / "takehome-form.png"
            jobs = [
                candidate(context, urls["main"], v, t, shot if v == "v3" else None)
                for v, t in tokens.items()
            ]
            results = await asyncio.gather(
                *jobs,
                intruder(context, urls["main"], root, tokens, shots),
                late(context, urls["late"], late_token),
            )
        finally:
            await browser.close()
    return results[: len(tokens)], results[-2], results[-1]


def test_five_candidates_hosted(tiny_run, tmp_path, shots):
    case = case_folder(tiny_run, tmp_path / "case")  # with a (stand-in) answer key to seal
    root, late_root = tmp_path / "cohort", tmp_path / "late-cohort"
    tokens = make_cohort(case, root, seats=5, hours=2.0)
    late_tokens = make_cohort(case, late_root, seats=1, hours=1 / 3600)
    with (
        takehome_servers([root, late_root], tmp_path) as (main_url, late_url),
        ThreadPoolExecutor(1) as pool,  # its own thread: the async API wants its own loop
    ):
        urls = {"main": main_url, "late": late_url}
        job = pool.submit(asyncio.run, cohort_run(urls, root, tokens, late_tokens["v1"], shots))
        people, seen, late_text = job.result(timeout=900)

    # All five stored, each on its own variant, with the order that candidate sent.
    store = AttemptStore(root)
    attempts = {a.seat: a for a in store.history()}
    assert sorted(attempts) == sorted(tokens)
    for variant, attempt in attempts.items():
        assert attempt.run_dir == str((root / "variants" / variant).resolve())
        assert attempt.submitted and attempt.submission is not None
        assert attempt.submission["order"] == ORDERS[variant], variant
        kinds = [e.kind for e in store.events(attempt.id)]
        assert kinds[0] == "open" and kinds.count("submit") == 1
        assert {"page", "order"} <= set(kinds)
        assert {"page": "hypotheses"} in [e.detail for e in store.events(attempt.id)]
    for person in people:
        assert "hiring team has your submission" in person["after_submit"]
        assert "Time box" in person["sidebar"] and "seed" not in person["sidebar"]

    # The intruder: refused by URL, and nothing of the truth or the team's files by SQL.
    assert all(v not in seen["no token"] for v in ("v1", "v2", str(root)))
    assert "v2" not in seen["bad token"]
    for name in ("sql key", "sql tokens", "sql cohort", "sql other variant"):
        assert "Refused" in seen[name] or "The query failed" in seen[name], seen[name][-400:]
    everything = "\n".join(seen.values())
    assert not any(s in everything for s in SECRETS)
    assert not any(t in everything for v, t in tokens.items() if v != "v1")
    assert "Debrief" not in seen["nav"] and "History" not in seen["nav"]
    sql_events = [e.detail for e in store.events(attempts["v1"].id) if e.kind == "sql"]
    assert len(sql_events) == 4 and all("error" in d for d in sql_events)
    assert attempts["v2"].submission["order"] == ORDERS["v2"]  # untouched by v1's tries

    # The time box: the late candidate's submit is refused by the server and logged.
    assert "time box is over" in late_text
    (late_attempt,) = AttemptStore(late_root).history()
    assert not late_attempt.submitted
    assert [e.kind for e in AttemptStore(late_root).events(late_attempt.id)][-1] == "late"
    for name in ("takehome-candidate.png", "takehome-form.png"):
        assert (shots / name).stat().st_size > 10_000
