"""The coach's commands: `casesim new`, `casesim preview` and `casesim reference`.

`register(app)` adds them to the main app (casesim/cli.py). This module imports only typer
and the CLI helpers at load time; the engine, the solver and the models are imported inside
the commands, so `casesim --help` stays quick.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from casesim.cliutil import (
    SEED_MAX,
    RayAddress,
    SizeName,
    Workers,
    err,
    fail,
    out,
)
from casesim.cliutil import load_scenario_or_fail as _load
from casesim.cliutil import size_for as _size
from casesim.cliutil import tasks_for as _tasks
from casesim.cliutil import terminate_as_interrupt as _terminate_as_interrupt


def new(
    fault: Annotated[
        str | None, typer.Option(help="The fault type (prompted on a terminal; see docs/faults.md)")
    ] = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="The scenario file to write")
    ] = None,
    case_id: Annotated[
        str | None, typer.Option("--id", help="Scenario id (default: the file's name)")
    ] = None,
    title: Annotated[
        str | None, typer.Option(help="Title (default: a neutral one from the windows)")
    ] = None,
    start: Annotated[
        str | None, typer.Option(help="First day, YYYY-MM-DD (default 2026-08-03)")
    ] = None,
    seed: Annotated[int, typer.Option(min=0, max=SEED_MAX, help="The world's seed")] = 7,
    force: Annotated[bool, typer.Option(help="Overwrite an existing file")] = False,
) -> None:
    """Write a commented scenario scaffold for one fault type (validates as written)."""
    from casesim.coach import default_id, scaffold
    from sim.faults import fault_type_names

    asking = sys.stdin.isatty()
    names = fault_type_names()
    if fault is None and asking:
        fault = typer.prompt(f"Fault type ({', '.join(names)})", default=names[0])
    if fault is None:
        raise fail(f"give --fault, one of: {', '.join(names)}")
    if fault not in names:
        raise fail(f"unknown fault type {fault!r}; valid types: {', '.join(names)}")
    if out_file is None and asking:
        out_file = Path(typer.prompt("Scenario file to write", default="scenarios/new_case.yaml"))
    if out_file is None:
        raise fail("give --out, the scenario file to write")
    if case_id is None and asking:
        case_id = typer.prompt("Scenario id (neutral: never name the cause)", default_id(out_file))
    if title is None and asking:
        title = typer.prompt("Title (neutral; empty for one from the windows)", default="") or None
    try:
        first = date.fromisoformat(start) if start else date(2026, 8, 3)
    except ValueError:
        raise fail(f"--start {start!r}: not a date like 2026-08-03") from None
    if out_file.exists() and not force:
        raise fail(f"{out_file}: exists; --force overwrites it")
    text = scaffold(fault, out_file, case_id or default_id(out_file), title, first, seed)
    from sim.scenario import ScenarioError, parse_scenario

    try:
        spec = parse_scenario(text, str(out_file))
    except ScenarioError as exc:  # a bad --id or --title: say so before writing anything
        raise fail(str(exc)) from None
    from casesim.coach import calendar_events, payday_imbalance

    for event in calendar_events(spec):
        typer.echo(f"warning: the case windows hold {event}: the metric moves by itself "
                   "there; pick another --start unless that is the case", err=True)  # fmt: skip
    for tilt in payday_imbalance(spec):
        typer.echo(f"warning: paydays (the 10th and 15th) tilt the comparison, {tilt}; "
                   "shift --start by a few days", err=True)  # fmt: skip
    try:
        out_file.parent.mkdir(parents=True, exist_ok=True)
        out_file.write_text(text)
    except OSError as exc:
        raise fail(f"{out_file}: cannot write ({exc.strerror or exc})") from None
    typer.echo(
        f"wrote {out_file}: edit the brief and scope, then `casesim preview {out_file}`", err=True
    )
    typer.echo(str(out_file))


def preview(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file")],
    size: SizeName = "small",
    seeds: Annotated[int, typer.Option(min=0, max=20, help="Other seeds to audit (0: none)")] = 3,
    replicates: Annotated[
        int, typer.Option(min=0, max=20, help="Other worlds for each cause's expected share")
    ] = 0,
    keep: Annotated[
        Path | None, typer.Option(help="Keep the previewed run folder here (default: discarded)")
    ] = None,
    workers: Workers = None,
    ray: RayAddress = None,
) -> None:
    """A case on one screen (coaches only): its key, intent checks, an audit, the solver."""
    from casesim.coach_preview import make_preview, render

    spec = _load(scenario)
    chosen = _size(size)
    if keep is not None:
        from casesim.cliutil import check_out

        check_out(keep, force=False)
    _terminate_as_interrupt()
    try:
        with _tasks(workers, ray) as tasks:
            report = make_preview(
                scenario, spec, chosen, seeds, replicates, tasks, keep, log=err.print
            )
    except KeyboardInterrupt:
        raise fail("interrupted", 130) from None
    render(report, out)
    if not report.ok:  # the case would be refused as written: bad input, like `run`'s refusal
        raise typer.Exit(2)


def reference() -> None:
    """Print the fault and hypothesis reference (the text of docs/faults.md)."""
    from casesim.coach_reference import reference_markdown

    sys.stdout.write(reference_markdown())


def register(app: typer.Typer) -> None:
    """Add the coach's commands to the `casesim` app."""
    app.command()(new)
    app.command()(preview)
    app.command()(reference)
