"""The start-up warm-up: the brief may run once the data modules are in, other pages only
once pandas and plotly are too (a half-imported module breaks code that peeks at sys.modules)."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from dashboard import preload, sqlpool


@pytest.fixture
def gated(monkeypatch):
    """A fresh preload whose chart imports block until the returned event is set."""
    release = threading.Event()
    imported: list[str] = []

    def import_module(name: str) -> None:
        if name in preload.CHART_MODULES:
            assert release.wait(10)
        imported.append(name)

    monkeypatch.setattr(preload, "importlib", SimpleNamespace(import_module=import_module))
    monkeypatch.setattr(preload, "_data_ready", threading.Event())
    monkeypatch.setattr(preload, "_all_ready", threading.Event())
    monkeypatch.setattr(preload, "_charts_wanted", threading.Event())
    monkeypatch.setattr(preload, "_started", True)
    monkeypatch.setattr(sqlpool, "shared", lambda: None)
    return release, imported


def test_data_modules_first_then_charts(gated):
    release, imported = gated
    warm = threading.Thread(target=preload.warm, kwargs={"worker_delay": 0})
    warm.start()
    preload.wait(charts=False)
    assert imported == list(preload.DATA_MODULES)
    assert not preload._all_ready.is_set()
    waiter = threading.Thread(target=preload.wait)
    waiter.start()
    waiter.join(0.2)
    assert waiter.is_alive()  # a plotly page waits for the chart modules
    release.set()
    waiter.join(10)
    warm.join(10)
    assert not waiter.is_alive()
    assert imported == [*preload.DATA_MODULES, *preload.CHART_MODULES]


def test_charts_wait_for_the_first_page(gated):
    """pandas and plotly hold the GIL while they import: not while the first page is drawn."""
    release, imported = gated
    release.set()
    warm = threading.Thread(target=preload.warm, kwargs={"worker_delay": 0, "charts_after": 10})
    warm.start()
    preload.wait(charts=False)
    warm.join(0.2)
    assert warm.is_alive() and imported == list(preload.DATA_MODULES)
    preload.first_page_drawn()
    warm.join(10)
    assert imported[-len(preload.CHART_MODULES) :] == list(preload.CHART_MODULES)


def test_a_chart_page_first_does_not_wait_for_the_brief(gated):
    release, imported = gated
    release.set()
    # The charts would otherwise load an hour after the warm-up: a page that asks for them
    # (a bookmarked /overview) must get them without that wait.
    threading.Thread(
        target=preload.warm, kwargs={"worker_delay": 0, "charts_after": 3600}, daemon=True
    ).start()
    waiter = threading.Thread(target=preload.wait, kwargs={"charts": True}, daemon=True)
    waiter.start()
    waiter.join(120)  # a hang guard, not a speed limit
    assert not waiter.is_alive()
    assert imported[-len(preload.CHART_MODULES) :] == list(preload.CHART_MODULES)


def test_a_failed_warm_up_never_blocks_the_app(gated, monkeypatch):
    def broken(name: str) -> None:
        raise ImportError(name)

    monkeypatch.setattr(preload, "importlib", SimpleNamespace(import_module=broken))
    preload.warm(worker_delay=0)
    preload.wait()  # returns: the page then reports the import error itself


def test_without_a_preload_nothing_waits(monkeypatch):
    monkeypatch.setattr(preload, "_started", False)
    monkeypatch.setattr(preload, "_all_ready", threading.Event())
    preload.wait()
