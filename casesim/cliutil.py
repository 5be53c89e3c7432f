"""Helpers shared by the `casesim` commands and the `casesim takehome` sub-app.

They live here, not in casesim/cli.py, so that casesim/takehome_cli.py (which cli.py imports)
can use them without an import cycle.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from sim.inputs import InputError

SEED_MAX = 2**32 - 1


class _LazyConsole:
    """A rich Console made on first use: importing rich.console costs a tenth of a second
    that `--help`, `validate` and `schema` never need."""

    def __init__(self, stderr: bool) -> None:
        self._stderr = stderr
        self._console: Any = None

    def real(self) -> Any:
        """The Console itself (for rich objects that take a `console=`)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self._stderr)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real(), name)


out: Any = _LazyConsole(stderr=False)
err: Any = _LazyConsole(stderr=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print a plain, unwrapped error line (tools and people grep these) and exit."""
    typer.echo(message, err=True)
    return typer.Exit(code)


SizeName = Annotated[str, typer.Option(help="small (tests), default (the case), large (1M users)")]
Seed = Annotated[
    int | None,
    typer.Option(min=0, max=SEED_MAX, help="Override the scenario's seed (0..2**32-1)"),
]
Workers = Annotated[
    int | None,
    typer.Option(
        min=1, max=1024, help="Worker processes for the independent runs (default: every core)"
    ),
]
RayAddress = Annotated[
    str | None,
    typer.Option(
        "--ray",
        help="Run the independent runs on Ray: alone (or `local`) starts a local Ray, an "
        "ADDRESS (host:port, auto) joins a cluster; needs the `ray` extra",
    ),
]


@contextlib.contextmanager
def tasks_for(workers: int | None, ray: str | None) -> Iterator[Any]:
    """The task backend of a command (sim/tasks.py), stopped when the command ends."""
    from sim.tasks import make_tasks

    try:
        tasks = make_tasks(workers, None if ray is None else ("" if ray == "local" else ray))
    except RuntimeError as exc:
        raise fail(str(exc)) from None
    with tasks:
        yield tasks


def size_for(name: str):
    """The world size called `name`, or exit 2 naming the valid ones."""
    from sim.world import SIZES

    if name not in SIZES:
        raise fail(f"unknown size {name!r}; valid sizes: {', '.join(SIZES)}")
    return SIZES[name]


def check_out(target: Path, force: bool, keep: tuple[Path, ...] = ()) -> None:
    """Refuse an unusable output folder before minutes of calibration and simulation."""
    from sim.output import OutputTargetError, RunFolderExists, check_target

    try:
        check_target(target, force, keep)
    except (RunFolderExists, OutputTargetError) as exc:
        raise fail(str(exc)) from None


def terminate_as_interrupt() -> None:
    """Turn SIGTERM into KeyboardInterrupt so partial run folders are cleaned up."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


@contextlib.contextmanager
def making_cases(scenario: Path) -> Iterator[None]:
    """Making cases from `scenario`: each way it can be refused as one line (exit 2), an
    interrupt as 130; in every case the target was written atomically, so nothing was."""
    from sim.calibration_record import RecordError
    from sim.intent import IntentError
    from sim.output import OutputTargetError, RunFolderExists
    from sim.truth import CalibrationError

    try:
        yield
    except (RunFolderExists, OutputTargetError, RecordError) as exc:
        raise fail(str(exc)) from None
    except IntentError as exc:
        raise fail(f"{scenario}: refused, nothing was written: {exc}") from None
    except CalibrationError as exc:
        raise fail(f"{scenario}: calibration failed, nothing was written: {exc}") from None
    except KeyboardInterrupt:
        raise fail("interrupted: nothing was written", 130) from None


@contextlib.contextmanager
def progress(quiet: bool, label: str) -> Iterator[Callable[[int], None] | None]:
    """A progress bar over simulated hours (they are counted, not known in advance); off a
    terminal there is no bar (`step_lines` tells the steps instead)."""
    if quiet:
        yield None
        return
    if os.environ.get("CASESIM_PROGRESS") == "lines":  # for a parent process (the dashboard)
        yield lambda n: print(f"@hours {n}", file=sys.stderr, flush=True)
        return
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), SpinnerColumn(), TextColumn("{task.completed} h"))
    with Progress(*columns, TimeElapsedColumn(), console=err.real(), transient=True) as bar:
        task = bar.add_task(label, total=None)
        yield lambda n: bar.advance(task, n)


def step_lines(quiet: bool) -> Callable[[str], None] | None:
    """A line per step on stderr when it is not a terminal (a log file, CI, a pipe), where a
    bar cannot show and a silent wait of minutes looks like a hang. None on a terminal (the
    bar shows), when quiet, and for the dashboard's reader (CASESIM_PROGRESS=lines)."""
    if quiet or os.environ.get("CASESIM_PROGRESS") == "lines" or sys.stderr.isatty():
        return None
    started = time.monotonic()

    def say(line: str) -> None:
        print(f"[{time.monotonic() - started:7.1f} s] {line}", file=sys.stderr, flush=True)

    return say


def load_scenario_or_fail(path: Path):
    """The scenario at `path`, or exit 2 with its `file:line: problem` lines."""
    from sim.scenario import ScenarioError, load_scenario

    try:
        return load_scenario(path)
    except ScenarioError as exc:
        raise fail(str(exc)) from None


def finished(run_dir: Path) -> dict[str, Any]:
    """The manifest of a sound, finished run folder; anything else exits 2 in one line."""
    from sim.inputs import check_run_folder

    try:
        return check_run_folder(run_dir)
    except InputError as exc:
        raise fail(str(exc)) from None
