"""Waiting for Streamlit in a browser on what happened, not on fixed pauses.

After an action that reruns the script (a click on a link or a button, a widget's new value)
a test waits until the run it asked for has finished and the page shows its result (no run
going on, no stale element). The page's websocket says both: the browser's request for a
run (a `rerun_script` message), then the server's start of a run (`new_session`) and its end
(`script_finished`). The page's `data-test-script-state` alone cannot: right after a click
it still reads `notRunning`, until the server starts the run. Fragment runs (the brief's
clock, every second) are neither waited for nor taken for the run a test asked for.

Playwright reports a sent frame a little after the page sent it, so the page counts what its
websocket sent (SENT) and a wait first lets the reports catch up with that count.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from typing import Any

from google.protobuf.message import DecodeError
from playwright.async_api import Page as AsyncPage
from playwright.sync_api import Page
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

SETTLED = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    return app && app.getAttribute('data-test-script-state') === 'notRunning'
        && !document.querySelector('[data-stale="true"]');
}"""
SENT = """(() => {
    const send = WebSocket.prototype.send;
    WebSocket.prototype.send = function (data) {
        this.casesimSent = (this.casesimSent || 0) + 1;
        window.casesimSent = this.casesimSent;
        return send.call(this, data);
    };
})()"""
COUNT = "() => window.casesimSent || 0"
POLL_MS = 20
_LARGE = 64 << 10  # bytes: run starts and ends are small; a chart's spec is not read


class Runs:
    """Whether the last run the page asked for has yet to finish."""

    def __init__(self) -> None:
        self.waiting = False  # a run was asked for and has not finished
        self.started = False  # ... and the server has started a run since it was asked
        self.sent_frames = 0  # on the current websocket, as Playwright reported them

    def connected(self, ws: Any) -> None:
        self.waiting, self.started, self.sent_frames = True, False, 0  # a connection runs it
        ws.on("framesent", self.sent)
        ws.on("framereceived", self.received)

    def sent(self, payload: str | bytes) -> None:
        self.sent_frames += 1
        if not isinstance(payload, bytes):
            return
        try:
            msg = BackMsg.FromString(payload)
        except DecodeError:
            return
        if msg.WhichOneof("type") == "rerun_script" and not msg.rerun_script.fragment_id:
            self.waiting, self.started = True, False

    def received(self, payload: str | bytes) -> None:
        if not isinstance(payload, bytes) or len(payload) > _LARGE or not self.waiting:
            return
        try:
            msg = ForwardMsg.FromString(payload)
        except DecodeError:
            return
        kind = msg.WhichOneof("type")
        if kind == "new_session":
            self.started = True
        elif kind == "script_finished" and self.started:
            self.waiting = msg.script_finished != ForwardMsg.FINISHED_SUCCESSFULLY

    def pending(self, sent_by_page: int) -> bool:
        """A run asked for has not finished, or a frame the page sent is not reported yet."""
        return self.waiting or self.sent_frames < sent_by_page


_RUNS: weakref.WeakKeyDictionary[Any, Runs] = weakref.WeakKeyDictionary()


def watch(page: Page) -> Page:
    """Follow the page's script runs; call before its first `goto`."""
    page.add_init_script(SENT)
    page.on("websocket", _RUNS.setdefault(page, Runs()).connected)
    return page


async def awatch(page: AsyncPage) -> AsyncPage:
    """`watch` for Playwright's async API."""
    await page.add_init_script(SENT)
    page.on("websocket", _RUNS.setdefault(page, Runs()).connected)
    return page


def _runs(page: Page | AsyncPage) -> Runs:
    runs = _RUNS.get(page)
    if runs is None:
        raise RuntimeError("watch(page) before its first goto: its runs are not counted")
    return runs


def settle(page: Page, timeout_ms: float) -> None:
    """Wait until the last run the page asked for has finished and the page shows it (at
    once if it has)."""
    runs = _runs(page)
    deadline = time.monotonic() + timeout_ms / 1000
    sent = page.evaluate(COUNT)
    # Done when the page's own count, read afresh, agrees. While a run is known to be going
    # on, the wait reads only this side's flags (frames are reported while Playwright
    # waits): a page round trip every poll costs far more CPU than the wait itself.
    while runs.pending(sent) or runs.pending(sent := page.evaluate(COUNT)):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no script run finished within {timeout_ms / 1000:g} s")
        page.wait_for_timeout(POLL_MS)
    page.wait_for_function(SETTLED, timeout=timeout_ms, polling=POLL_MS)


async def asettle(page: AsyncPage, timeout_ms: float) -> None:
    """`settle` for Playwright's async API."""
    runs = _runs(page)
    deadline = time.monotonic() + timeout_ms / 1000
    sent = await page.evaluate(COUNT)
    while runs.pending(sent) or runs.pending(sent := await page.evaluate(COUNT)):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no script run finished within {timeout_ms / 1000:g} s")
        await asyncio.sleep(POLL_MS / 1000)
    await page.wait_for_function(SETTLED, timeout=timeout_ms, polling=POLL_MS)
