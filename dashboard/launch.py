"""Start the dashboard server: `casesim dashboard [RUN_DIR] [--port N]` lands here."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

APP = Path(__file__).resolve().parent / "app.py"
THEME = {
    "theme.base": "light",
    "theme.primaryColor": "#FF5000",
    "theme.backgroundColor": "#FFFFFF",
    "theme.secondaryBackgroundColor": "#F5F6F8",
    "theme.textColor": "#1F2430",
}


def has_display() -> bool:
    """Whether a browser can be opened for the user (else run headless and print the URL)."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def command(
    run_dir: Path | None,
    port: int,
    data_dir: Path,
    headless: bool = True,
    address: str | None = None,
) -> list[str]:
    """The `streamlit run` command line (through `dashboard.server`, which warms imports), with
    the run and data folder as script arguments."""
    options = {
        "server.port": str(port),
        "server.headless": "true" if headless else "false",
        "server.runOnSave": "false",
        "server.fileWatcherType": "none",
        "runner.magicEnabled": "false",
        "browser.gatherUsageStats": "false",
        "client.toolbarMode": "minimal",
        **THEME,
    }
    if address:
        options["server.address"] = address
    cmd = [sys.executable, "-m", "dashboard.server", "run", str(APP)]
    cmd += [f"--{key}={value}" for key, value in options.items()]
    cmd += ["--", "--data-dir", str(Path(data_dir).resolve())]
    if run_dir is not None:
        cmd += ["--run", str(Path(run_dir).resolve())]
    return cmd


def serve(run_dir: Path | None, port: int, data_dir: Path) -> int:
    """Run the dashboard until interrupted; returns the server's exit code."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    if run_dir is not None:
        from sim.cube import ensure_cube, is_current

        if not is_current(run_dir):
            print(f"preparing the metric cube of {run_dir} (once per run)…", file=sys.stderr)
            ensure_cube(run_dir)
    headless = not has_display()
    # Local only by default (and no lookup of an external address); set
    # CASESIM_DASHBOARD_ADDRESS=0.0.0.0 to serve a container's port.
    address = os.environ.get("CASESIM_DASHBOARD_ADDRESS", "localhost")
    print(f"casesim dashboard: http://{address}:{port}", file=sys.stderr)
    try:
        return subprocess.call(command(run_dir, port, data_dir, headless, address))
    except KeyboardInterrupt:
        return 130
