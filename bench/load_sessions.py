"""Many candidates on one dashboard at once: concurrent browser sessions on one run, each
investigating and submitting, against a server on loopback.

Each session is one person, on a page of its own: it opens the case, gives a name on the
brief, visits the investigation pages, ranks hypotheses, submits, reads its debrief, starts a
new attempt and goes round again until the time is up. It notes the attempt number the
sidebar shows on every page, the pages' load times, and any error element. The pages share
one browser context, so Streamlit's front end is fetched and compiled once: a person's state
lives in the server session and the URL (no cookie; the browser's storage holds only
Streamlit's display settings), so to the dashboard the pages are as separate as browsers.

At the end the attempt store is read back. Printed figures:
  lost submissions       submissions whose debrief the session saw but the store lacks (or
                         holds with another order or name)
  foreign views          pages on which a session saw an attempt number that is not its own,
                         or a debrief before submitting
  errors                 stException elements, and the dashboard's friendly error message
  server RSS             the server and its children, at the end (MiB)
  page time              median and p95 of page switches (click to settled), seconds

    .venv/bin/python bench/load_sessions.py RUN_DIR [--sessions 10] [--seconds 180]

Bounded: a fixed number of sessions and a deadline; the server listens on 127.0.0.1 only
and is stopped at the end. Needs Debian's chromium (/usr/bin/chromium).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from playwright.async_api import BrowserContext, Page, async_playwright

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dashboard.launch import command, wait_healthy  # noqa: E402
from dashboard.server import children  # noqa: E402
from dashboard.store import AttemptStore  # noqa: E402
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.e2e.reruns import asettle, awatch  # noqa: E402

TIMEOUT = 180_000  # ms: one step under full load; a guard against hangs, not a target
PAGES = ("Overview", "Segments", "Changes & experiments", "Latency", "Feed & ranker health")
ERROR_TEXT = "Something went wrong while drawing this page"
ATTEMPT = re.compile(r"Attempt #(\d+)")


@dataclass
class Person:
    """What one session did and saw."""

    index: int
    name: str
    attempts: list[int] = field(default_factory=list)  # its own, in order
    submitted: dict[int, list[str]] = field(default_factory=dict)  # attempt -> order it sent
    page_times: list[float] = field(default_factory=list)
    visited: list[str] = field(default_factory=list)  # pages it switched to, in order
    foreign: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass
class Report:
    sessions: int
    seconds: float
    submissions: int
    lost: int
    foreign: int
    errors: int
    rss_mib: float
    page_median_s: float
    page_p95_s: float
    pages: int
    people: list[Person]

    def summary(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "people"} | {
            "problems": [p for person in self.people for p in person.foreign + person.errors][:20]
        }


async def settle(page: Page) -> None:
    await asettle(page, TIMEOUT)  # the run the last action asked for: see tests/e2e/reruns.py


async def check(page: Page, person: Person, where: str, debrief_ok: bool) -> int | None:
    """The attempt number on screen; records errors and anything that is not this person's."""
    if await page.locator('[data-testid="stException"]').count():
        person.errors.append(f"{person.name}: stException on {where}")
    if await page.get_by_text(ERROR_TEXT).count():
        person.errors.append(f"{person.name}: error message on {where}")
    sidebar = await page.locator('[data-testid="stSidebar"]').inner_text(timeout=TIMEOUT)
    match = ATTEMPT.search(sidebar)
    shown = int(match.group(1)) if match else None
    if shown is not None and person.attempts and shown != person.attempts[-1]:
        person.foreign.append(f"{person.name}: saw attempt #{shown} on {where}")
    nav = await page.locator('[data-testid="stSidebarNav"]').inner_text(timeout=TIMEOUT)
    if "Debrief" in nav and not debrief_ok:
        person.foreign.append(f"{person.name}: a debrief before submitting, on {where}")
    return shown


async def visit(page: Page, person: Person, name: str, debrief_ok: bool = False) -> None:
    start = time.monotonic()
    await page.get_by_role("link", name=name, exact=True).click()
    await page.get_by_role("heading", name=name, exact=True).wait_for(timeout=TIMEOUT)
    await settle(page)
    person.page_times.append(time.monotonic() - start)
    person.visited.append(name)
    await check(page, person, name, debrief_ok)


async def pick(page: Page, hid: str) -> None:
    box = page.get_by_role("combobox", name="Pick hypotheses in the order you would check them")
    await box.click()
    await page.keyboard.type(hid)
    await page.get_by_role("option", name=re.compile(rf"^{hid} ·")).click()
    await page.keyboard.press("Escape")
    await settle(page)


def investigate(person: Person, round_: int, spread: bool) -> tuple[str, ...]:
    """The round's half of the pages (rounds alternate halves); with `spread`, only one of
    them, a different one for each of the half's first sessions, so that together they still
    visit the whole half."""
    half = PAGES[round_ % 2 :: 2]
    return (half[person.index % len(half)],) if spread else half


async def one_attempt(page: Page, person: Person, round_: int, spread: bool = False) -> None:
    """Investigate, rank, submit and read the debrief, on the attempt the sidebar shows."""
    sidebar = await page.locator('[data-testid="stSidebar"]').inner_text(timeout=TIMEOUT)
    match = ATTEMPT.search(sidebar)
    if match is None:
        person.errors.append(f"{person.name}: no attempt number on the brief")
        return
    shown = int(match.group(1))
    if shown in person.attempts:
        person.foreign.append(f"{person.name}: a new attempt reused #{shown}")
    person.attempts.append(shown)  # a new attempt; `shared` checks nobody else holds it
    await check(page, person, "brief", debrief_ok=False)
    for name in investigate(person, round_, spread):
        await visit(page, person, name)
    await visit(page, person, "Hypotheses")
    order = ["FEED", "RANK"] if (person.index + round_) % 2 else ["DEPLOY", "FEED", "PERF"]
    shares = page.get_by_label("Share of the change (%)")
    for n, hid in enumerate(order, start=1):
        await pick(page, hid)
        await shares.nth(n - 1).wait_for(timeout=TIMEOUT)
    await shares.nth(0).fill("50")
    await shares.nth(0).press("Enter")
    await settle(page)
    await page.get_by_text("I understand that submitting is final").click()
    await settle(page)
    start = time.monotonic()
    await page.get_by_role("button", name="Submit diagnosis").click()
    await page.get_by_role("heading", name="Debrief", exact=True).wait_for(timeout=TIMEOUT)
    await settle(page)
    person.page_times.append(time.monotonic() - start)
    person.submitted[shown] = order
    await check(page, person, "debrief", debrief_ok=True)
    caption = await page.get_by_text(re.compile(r"^Attempt #\d+, submitted")).inner_text()
    if ATTEMPT.search(caption) and int(ATTEMPT.search(caption).group(1)) != shown:
        person.foreign.append(f"{person.name}: the debrief of another attempt ({caption})")
    await page.get_by_role("button", name="Retry on the same data").click()
    await page.get_by_text("Case brief").wait_for(timeout=TIMEOUT)
    await settle(page)


async def candidate(
    context: BrowserContext,
    url: str,
    person: Person,
    deadline: float,
    rounds: int,
    spread: bool = False,
) -> None:
    page = await awatch(await context.new_page())
    page.set_default_timeout(TIMEOUT)
    try:
        await page.goto(url, timeout=TIMEOUT)
        await page.get_by_text("Case brief").wait_for(timeout=TIMEOUT)
        await settle(page)
        field_ = page.get_by_label("Your name")
        await field_.fill(person.name)
        await field_.press("Enter")
        await settle(page)
        round_ = 0
        while time.monotonic() < deadline or round_ < rounds:  # at least `rounds` attempts each
            await one_attempt(page, person, round_, spread)
            round_ += 1
    except Exception as exc:  # recorded, and the run goes on for the others
        person.errors.append(f"{person.name}: {type(exc).__name__}: {str(exc)[:300]}")
    finally:
        await page.close()


async def drive(
    url: str, sessions: int, seconds: float, rounds: int = 1, spread: bool = False
) -> list[Person]:
    people = [Person(i, f"load-{i:02d}") for i in range(sessions)]
    deadline = time.monotonic() + seconds
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 900})
            await asyncio.gather(
                *(candidate(context, url, p, deadline, rounds, spread) for p in people)
            )
        finally:
            await browser.close()
    return people


def rss_mib(pid: int) -> float:
    """Resident memory of `pid` and its children, MiB."""
    total = 0
    for p in [pid, *children(pid)]:
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        total += int(match.group(1)) if match else 0
    return total / 1024


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def shared(people: list[Person]) -> int:
    """Attempt numbers that more than one session showed as its own."""
    seen: dict[int, str] = {}
    clashes = 0
    for person in people:
        for attempt_id in person.attempts:
            if attempt_id in seen and seen[attempt_id] != person.name:
                clashes += 1
                person.foreign.append(f"{person.name}: #{attempt_id} is {seen[attempt_id]}'s")
            seen.setdefault(attempt_id, person.name)
    return clashes


def audit(data_dir: Path, people: list[Person]) -> int:
    """Submissions the sessions saw accepted that the store does not hold as sent."""
    store = AttemptStore(data_dir)
    lost = 0
    for person in people:
        for attempt_id, order in person.submitted.items():
            stored = store.get(attempt_id)
            sent_ok = stored.submitted and (stored.submission or {}).get("order") == order
            if not sent_ok or stored.user != person.name:
                lost += 1
                person.errors.append(f"{person.name}: attempt #{attempt_id} not stored as sent")
    return lost


def run_load(
    run_dir: Path,
    sessions: int,
    seconds: float,
    workdir: Path,
    log: Path,
    rounds: int = 1,
    spread: bool = False,
) -> Report:
    """Serve `run_dir` on loopback, drive the sessions (each makes attempts for `seconds`, and
    at least `rounds` of them: two rounds visit every page; with `spread`, each attempt visits
    one page of its half, see `investigate`), stop the server, and report."""
    data = workdir / "data"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "CASESIM_HOST_TOKEN": "load-test-host-token"}
    env.pop("CASESIM_DASHBOARD_RAISE", None)
    with log.open("w") as out:
        proc = subprocess.Popen(
            command(run_dir, port, data, headless=True, address="127.0.0.1"),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    try:
        wait_healthy(url, proc, timeout=120)
        start = time.monotonic()
        people = asyncio.run(drive(url, sessions, seconds, rounds, spread))
        elapsed = time.monotonic() - start
        rss = rss_mib(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    lost = audit(data, people)
    shared(people)
    times = sorted(t for p in people for t in p.page_times)
    p95 = times[min(len(times) - 1, int(0.95 * len(times)))] if times else float("nan")
    return Report(
        sessions=sessions,
        seconds=round(elapsed, 1),
        submissions=sum(len(p.submitted) for p in people),
        lost=lost,
        foreign=sum(len(p.foreign) for p in people),
        errors=sum(len(p.errors) for p in people),
        rss_mib=round(rss, 1),
        page_median_s=round(statistics.median(times), 2) if times else float("nan"),
        page_p95_s=round(p95, 2),
        pages=len(times),
        people=people,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=180)
    parser.add_argument("--keep", action="store_true", help="keep the data folder and log")
    args = parser.parse_args()
    if not 1 <= args.sessions <= 32 or not 0 < args.seconds <= 1800:
        parser.error("1-32 sessions, at most 1800 seconds")
    workdir = Path(tempfile.mkdtemp(prefix="casesim-load-"))
    try:
        report = run_load(args.run_dir.resolve(), args.sessions, args.seconds, workdir,
                          workdir / "server.log")  # fmt: skip
        print(json.dumps(report.summary(), indent=2))
        ok = report.lost == 0 and report.foreign == 0 and report.errors == 0
        ok = ok and report.rss_mib <= 2048 and report.submissions >= report.sessions
        return 0 if ok else 1
    finally:
        if args.keep:
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
