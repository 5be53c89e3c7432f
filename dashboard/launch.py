"""Start the dashboard server: `casesim dashboard [RUN_DIR] [--port N]` lands here.

The server runs as a child in its own process group; Ctrl-C, SIGTERM and SIGHUP stop that
whole group (the Streamlit server and its SQL workers), and the child dies with this process
if it is killed outright. The host token (everyone's history) is handed over in the
environment, never on a command line another user could list.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from dashboard.serverlock import FolderInUse, server_lock

APP = Path(__file__).resolve().parent / "app.py"
THEME = {
    "theme.base": "light",
    "theme.primaryColor": "#FF5000",
    "theme.backgroundColor": "#FFFFFF",
    "theme.secondaryBackgroundColor": "#F5F6F8",
    "theme.textColor": "#1F2430",
}


def wait_healthy(
    url: str, proc: subprocess.Popen, timeout: float = 90, log: Path | None = None
) -> None:
    """Wait until the server at `url` answers its health check; fail at once if it exits.
    `log` (the server's output) is quoted in the error, to show why it did not come up."""

    def output() -> str:
        return f":\n{log.read_text()}" if log is not None else ""

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited ({proc.returncode}){output()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.25)
    raise TimeoutError(f"no healthy server at {url} after {timeout} s{output()}")


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
    takehome: Path | None = None,
) -> list[str]:
    """The `streamlit run` command line (through `dashboard.server`, which warms imports), with
    the run and data folder (or the take-home folder) as script arguments."""
    options = {
        "server.port": str(port),
        "server.headless": "true" if headless else "false",
        "server.runOnSave": "false",
        "server.fileWatcherType": "none",
        "runner.magicEnabled": "false",
        "browser.gatherUsageStats": "false",
        "client.toolbarMode": "minimal",
        "client.showErrorDetails": "none",  # tracebacks go to the log, never the browser
        **THEME,
    }
    if address:
        options["server.address"] = address
    cmd = [sys.executable, "-m", "dashboard.server", "run", str(APP)]
    cmd += [f"--{key}={value}" for key, value in options.items()]
    cmd += ["--", "--data-dir", str(Path(data_dir).resolve())]
    if run_dir is not None:
        cmd += ["--run", str(Path(run_dir).resolve())]
    if takehome is not None:
        cmd += ["--takehome", str(Path(takehome).resolve())]
    return cmd


class _Stopped(Exception):
    """SIGTERM or SIGHUP reached the launcher."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_stopped(signum: int, _frame: FrameType | None) -> None:
    raise _Stopped(signum)


def _die_with_parent() -> None:
    """In the child before exec: a SIGTERM when the launcher dies (Linux), so a killed
    launcher never leaves a server behind."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def stop_group(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """Stop the server's process group: SIGTERM, then SIGKILL after `grace` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)  # the server is gone; its workers follow
        return


def host_url(address: str, port: int, token: str) -> str:
    return f"http://{address}:{port}/history?host={token}"


def serve(
    run_dir: Path | None,
    port: int,
    data_dir: Path,
    host_token: str | None = None,
    takehome: Sequence[Path] | None = None,
) -> int:
    """Run the dashboard until interrupted (Ctrl-C, SIGTERM, SIGHUP); returns its exit code.

    `host_token` opens everyone's history; without one a random token is made and printed.
    `takehome` (the variant folders of a cohort whose folder is `data_dir`) serves the
    take-home instead: seat tokens open the variants, no run is given."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        with server_lock(data_dir, port):
            return _serve(run_dir, port, data_dir, host_token, takehome)
    except FolderInUse as exc:
        print(f"casesim dashboard: {exc}", file=sys.stderr)
        return 2


def _serve(
    run_dir: Path | None,
    port: int,
    data_dir: Path,
    host_token: str | None,
    takehome: Sequence[Path] | None = None,
) -> int:
    from readout.cube import ensure_cube, is_current

    for folder in [run_dir] if run_dir is not None else list(takehome or ()):
        if not is_current(folder):
            print(f"preparing the metric cube of {folder.name} (once per run)…", file=sys.stderr)
            ensure_cube(folder)
    if host_token is not None and len(host_token.strip()) < 8:
        print("casesim dashboard: --host-token needs at least 8 characters", file=sys.stderr)
        return 2
    token = (host_token or "").strip() or secrets.token_urlsafe(18)
    headless = not has_display()
    # Local only by default (and no lookup of an external address); set
    # CASESIM_DASHBOARD_ADDRESS=0.0.0.0 to serve a container's port.
    address = os.environ.get("CASESIM_DASHBOARD_ADDRESS", "localhost")
    if takehome is not None:
        print(
            f"casesim takehome: http://{address}:{port}/?token=<a candidate's token>",
            file=sys.stderr,
        )
    else:
        print(f"casesim dashboard: http://{address}:{port}", file=sys.stderr)
    if host_token is None and takehome is None:
        print(f"host view (everyone's attempts): {host_url(address, port, token)}", file=sys.stderr)
    env = {**os.environ, "CASESIM_HOST_TOKEN": token}
    previous = {s: signal.signal(s, _raise_stopped) for s in (signal.SIGTERM, signal.SIGHUP)}
    proc = None
    try:
        proc = subprocess.Popen(
            command(
                run_dir,
                port,
                data_dir,
                headless,
                address,
                takehome=data_dir if takehome is not None else None,
            ),
            env=env,
            start_new_session=True,  # one group to stop; Ctrl-C is forwarded below
            preexec_fn=_die_with_parent,
        )
        return proc.wait()
    except KeyboardInterrupt:
        return 130
    except _Stopped as stopped:
        return 128 + stopped.signum
    finally:
        if proc is not None:
            stop_group(proc)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
