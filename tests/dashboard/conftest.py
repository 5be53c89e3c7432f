"""Fixtures for the dashboard tests: one case folder per worker, a fresh data folder per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.dashboard.support import APP, case_folder


@pytest.fixture(scope="session", autouse=True)
def _apptest_setup_once() -> Iterator[None]:
    """What AppTest redoes for every run, done once per test session, as a server does once
    per process: the scan of every installed package for Streamlit components (~0.13 s of
    CPU for each AppTest), and the compiling of the app's and pages' scripts (a fresh
    ScriptCache per run). The scripts do not change during the tests, and the pages still run
    in full each time: only their bytecode is reused, as `streamlit run` reuses it."""
    from streamlit.components.v2 import manifest_scanner
    from streamlit.runtime.scriptrunner.script_cache import ScriptCache
    from streamlit.testing.v1 import app_test, local_script_runner

    scripts = ScriptCache()
    manifests = manifest_scanner.scan_component_manifests()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(manifest_scanner, "scan_component_manifests", lambda *_, **__: list(manifests))
        mp.setattr(app_test, "ScriptCache", lambda: scripts)
        mp.setattr(local_script_runner, "ScriptCache", lambda: scripts)
        yield


@pytest.fixture(scope="session")
def dash_run(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny baseline run with a known answer key and its cube (never modified by tests):
    a copy of the folder `case_folder` makes once for all workers."""
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
