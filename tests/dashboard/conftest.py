"""Fixtures for the dashboard tests: one case folder per worker, a fresh data folder per test."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.dashboard.support import APP, case_folder


@pytest.fixture(scope="session")
def dash_run(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny baseline run with a known answer key and its cube (never modified by tests)."""
    return case_folder(tiny_run, tmp_path_factory.mktemp("dashboard") / "case")


@pytest.fixture
def app(dash_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., AppTest]:
    """Start the app on the case, with its own attempt store; `app(run=None)` opens the picker."""

    def start(run: Path | None = dash_run, data_dir: Path | None = None) -> AppTest:
        if run is None:
            monkeypatch.delenv("CASESIM_RUN", raising=False)
        else:
            monkeypatch.setenv("CASESIM_RUN", str(run))
        monkeypatch.setenv("CASESIM_DATA_DIR", str(data_dir or tmp_path / "data"))
        monkeypatch.setenv("CASESIM_DASHBOARD_RAISE", "1")  # errors as exceptions, not a page
        at = AppTest.from_file(str(APP), default_timeout=60)
        return at.run()

    return start
