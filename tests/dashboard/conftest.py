"""Fixtures for the dashboard tests: one case folder per session, a fresh data folder per test."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import built_once
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
    made once for all xdist workers, in a folder published whole (its cube is built after
    its manifest is copied, so it is built aside and renamed)."""

    def build(out: Path) -> None:
        aside = out.with_name(out.name + ".partial")
        shutil.rmtree(aside, ignore_errors=True)
        case_folder(tiny_run, aside).rename(out)

    return built_once(tmp_path_factory, "dashboard-case", build)


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
