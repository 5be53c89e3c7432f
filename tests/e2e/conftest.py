"""Browser-test fixtures: Debian's Chromium for Playwright, and a live dashboard server."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from dashboard.launch import command, wait_healthy
from tests.dashboard.support import case_folder, free_port
from tests.e2e.reruns import watch

CHROMIUM = "/usr/bin/chromium"
# --process-per-site: the dashboard's pages share one renderer process (each new page would
# otherwise start one, and compile Streamlit's front end in it again: ~1 CPU-s a page).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--process-per-site"]  # fmt: skip
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    """Debian's Chromium, never a downloaded browser."""
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": CHROMIUM_ARGS,
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict) -> dict:
    """A tall window: Streamlit scrolls inside its own container, so a full-page screenshot
    shows only what fits the viewport."""
    return {**browser_context_args, "viewport": {"width": 1440, "height": 2200}}


@dataclass(frozen=True)
class Server:
    url: str
    data_dir: Path
    log: Path


# The modules that use `server` share one: on one xdist worker, which starts it once.
ONE_SERVER = pytest.mark.xdist_group("e2e-dashboard-server")


@pytest.fixture(scope="session")
def server(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A dashboard server on a free port, over a case with a known answer key, shared by the
    tests that only read or make attempts of their own (each counts only the ones it made).
    Their modules are marked ONE_SERVER."""
    tmp_path = tmp_path_factory.mktemp("server")
    run = case_folder(tiny_run, tmp_path / "case")
    data = tmp_path / "data"
    log = tmp_path / "server.log"
    port = free_port()
    with log.open("w") as out:
        proc = subprocess.Popen(
            command(run, port, data, headless=True, address="127.0.0.1"),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, log=log)
        yield Server(url, data, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def shared_context(browser: Browser, browser_context_args: dict) -> Iterator[BrowserContext]:
    """One browser context for every page of this worker's tests: a new context starts with
    an empty cache, and each would fetch and compile Streamlit's front end again. A person's
    state lives in the server session and the URL (no cookie; the browser's storage holds
    only Streamlit's display settings): to the dashboard, pages of one context are as
    separate as pages of two."""
    context = browser.new_context(**browser_context_args)
    yield context
    context.close()


@pytest.fixture
def page(shared_context: BrowserContext) -> Iterator[Page]:
    """A new page of the shared context, its script runs counted (see reruns.py)."""
    page = watch(shared_context.new_page())
    yield page
    page.close()


@pytest.fixture
def shots() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
