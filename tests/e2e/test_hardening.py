"""In a real browser and a real server: the menu's costs fit a 1280 px screen, bad addresses
show no traceback, and SIGTERM stops the server with its workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets import Subprotocol
from websockets.sync.client import connect

from dashboard.launch import wait_healthy
from dashboard.server import children
from dashboard.settings import parse
from tests.dashboard.support import case_folder, free_port
from tests.e2e.conftest import ONE_SERVER
from tests.e2e.test_walkthrough import TIMEOUT, settle, visit

pytestmark = [pytest.mark.e2e, ONE_SERVER]


def test_menu_costs_fit_1280(page: Page, server, shots):
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(server.url)
    settle(page)
    visit(page, "Hypotheses")
    settle(page)
    menu = page.locator('[data-testid="stTable"]').first
    expect(menu).to_be_visible(timeout=TIMEOUT)
    menu.scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "12-menu-1280.png"))
    header = menu.locator("th", has_text="cost").first
    costs = menu.locator("tbody tr td:nth-of-type(2)")
    assert costs.count() >= 10
    frame = menu.bounding_box()
    assert frame is not None and frame["x"] + frame["width"] <= 1280
    for cell in (header, costs.first, costs.last):
        box = cell.bounding_box()
        assert box is not None and box["width"] > 20
        assert frame["x"] <= box["x"] and box["x"] + box["width"] <= frame["x"] + frame["width"]
    assert float(costs.first.inner_text()) > 0


def test_a_long_case_parameter_shows_no_traceback(page: Page, server):
    page.goto(f"{server.url}/?case={'c' * 300}&attempt={'a' * 300}")
    settle(page)
    expect(page.get_by_text("Case brief")).to_be_visible(timeout=TIMEOUT)
    assert page.locator('[data-testid="stException"]').count() == 0
    body = page.locator("body").inner_text()
    assert "Traceback" not in body and str(server.data_dir) not in body


def group(pgid: int) -> list[int]:
    """Processes still in the process group `pgid`."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(stat.parent.name))
    return alive


@pytest.mark.parametrize("target", ["launcher", "server"])
def test_sigterm_stops_the_server_and_its_workers(tiny_run, tmp_path, target):
    """SIGTERM to `casesim dashboard` (or straight to the Streamlit server) ends the server
    and every child it started, like Ctrl-C. The SQL workers are started by the server's own
    warm-up after its first page run, which a bare websocket session asks for: no browser."""
    run = case_folder(tiny_run, tmp_path / "case")
    port = free_port()
    log = tmp_path / "server.log"
    env = {**os.environ, "CASESIM_DASHBOARD_ADDRESS": "127.0.0.1"}
    script = (
        "import sys; from dashboard.launch import serve; "
        f"sys.exit(serve({str(run)!r}, {port}, {str(tmp_path / 'data')!r}))"
    )
    with log.open("w") as out:
        launcher = subprocess.Popen(
            [sys.executable, "-c", script], stdout=out, stderr=subprocess.STDOUT, env=env
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, launcher, log=log)
        first_run(url)  # its warm-up then starts the SQL workers (dashboard.preload)
        (server,) = children(launcher.pid)
        pool = parse([], env).sql_workers  # every worker started: none is mid-start at SIGTERM
        deadline = time.monotonic() + 120  # the warm-up waits for its imports, then 8 s
        while len(children(server)) < pool and time.monotonic() < deadline:
            time.sleep(0.05)
        workers = children(server)
        assert len(workers) >= pool, "the server did not start its SQL workers"
        os.kill(launcher.pid if target == "launcher" else server, signal.SIGTERM)
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and (group(server) or any(_alive(w) for w in workers)):
            time.sleep(0.05)
        assert not group(server), f"still running: {group(server)}"
        assert not any(_alive(w) for w in workers)
        assert launcher.wait(timeout=30) in (0, 143, -15, 128 + 15)
    finally:
        if launcher.poll() is None:
            launcher.kill()


def first_run(url: str) -> None:
    """Open a session on the server as the browser's front end does (a websocket asking for a
    run of the first page) and wait until that run has finished."""
    stream = url.replace("http", "ws", 1) + "/_stcore/stream"
    deadline = time.monotonic() + TIMEOUT / 1000
    with connect(stream, subprotocols=[Subprotocol("streamlit")]) as ws:
        ask = BackMsg()
        ask.rerun_script.query_string = ""
        ws.send(ask.SerializeToString())
        while True:
            msg = ForwardMsg.FromString(ws.recv(timeout=max(0.0, deadline - time.monotonic())))
            if msg.WhichOneof("type") == "script_finished":
                assert msg.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY
                return


def _alive(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"
