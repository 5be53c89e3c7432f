"""The `casesim` command line."""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from sim.output import MANIFEST, RunFolderExists
from sim.scenario import ScenarioError, load_scenario, scenario_json_schema
from sim.world import SIZES

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
out = Console()
err = Console(stderr=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print a plain, unwrapped error line (tools and people grep these) and exit."""
    typer.echo(message, err=True)
    return typer.Exit(code)


SizeName = Annotated[str, typer.Option(help="small (tests), default (the case), large (1M users)")]


def _size(name: str):
    if name not in SIZES:
        raise fail(f"unknown size {name!r}; valid sizes: {', '.join(SIZES)}")
    return SIZES[name]


def _terminate_as_interrupt() -> None:
    """Turn SIGTERM into KeyboardInterrupt so partial run folders are cleaned up."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


@app.command()
def run(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file")],
    seed: Annotated[int | None, typer.Option(help="Override the scenario's seed")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Run folder to write")] = None,
    size: SizeName = "default",
    force: Annotated[bool, typer.Option(help="Replace an existing run folder")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bar")] = False,
) -> None:
    """Simulate a scenario and write a run folder (tables/*.parquet + manifest.json)."""
    from sim.runner import plan, simulate

    try:
        spec = load_scenario(scenario)
    except ScenarioError as exc:
        raise fail(str(exc)) from None
    chosen = _size(size)
    seed_used = spec.seed if seed is None else seed
    target = out_dir or Path("data") / f"{spec.id}-{chosen.name}-s{seed_used}"
    if target.exists() and not force:
        raise fail(f"{target} exists; pass --force to replace it")
    _terminate_as_interrupt()
    started = time.perf_counter()
    try:
        if quiet:
            manifest = simulate(spec, chosen, target, seed=seed, force=force)
        else:
            columns = (
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total} h"),
                TimeRemainingColumn(),
            )
            with Progress(*columns, console=err, transient=True) as bar:
                task = bar.add_task(f"simulating {spec.id}", total=plan(spec).total_hours)
                manifest = simulate(
                    spec,
                    chosen,
                    target,
                    seed=seed,
                    force=force,
                    progress=lambda n: bar.advance(task, n),
                )
    except RunFolderExists as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        raise fail("interrupted: nothing was written", 130) from None
    elapsed = time.perf_counter() - started
    imps = manifest["tables"]["impressions"]["rows"]
    if not quiet:
        err.print(f"{imps:,} impressions in {elapsed:.1f} s")
    typer.echo(str(target))


@app.command()
def validate(files: Annotated[list[Path], typer.Argument(help="Scenario files")]) -> None:
    """Check scenario files; exit 0 when all are valid, 2 otherwise."""
    bad = 0
    for path in files:
        try:
            load_scenario(path)
        except ScenarioError as exc:
            bad += 1
            for problem in exc.problems:
                typer.echo(str(problem), err=True)
        else:
            typer.echo(f"{path}: ok")
    if bad:
        raise typer.Exit(2)


@app.command()
def schema() -> None:
    """Print the scenario JSON Schema (for editors: yaml-language-server)."""
    sys.stdout.write(json.dumps(scenario_json_schema(), indent=2) + "\n")


@app.command()
def describe(run_dir: Annotated[Path, typer.Argument(help="A run folder")]) -> None:
    """A readable summary of a run: totals, by day, and by a few segments."""
    import polars as pl

    from sim.metrics import funnel_summary, session_outcomes

    manifest_path = run_dir / MANIFEST
    if not manifest_path.is_file():
        raise fail(f"{run_dir} is not a finished run folder (no {MANIFEST})")
    manifest = json.loads(manifest_path.read_text())
    sessions = session_outcomes(run_dir).filter(pl.col("period") == "current")
    total = funnel_summary(sessions.with_columns(all=pl.lit("all")), ["all"]).collect()
    daily = funnel_summary(sessions, ["date"]).collect()
    out.print(
        f"[bold]{manifest['title']}[/bold]  ({manifest['scenario']}, seed {manifest['seed']}, "
        f"size {manifest['size']}, {manifest['days']} days from {manifest['start']})"
    )
    _print_frame("Totals", total.drop("all"))
    _print_frame("By day", daily)
    for dim in ("platform", "city_tier", "source", "tenure"):
        _print_frame(f"By {dim}", funnel_summary(sessions, [dim]).collect())


def _print_frame(title: str, frame) -> None:
    table = Table(title=title, title_justify="left")
    cols = [
        c
        for c in frame.columns
        if c not in ("converted", "converted_ledger", "clicks", "conversion_ledger")
    ]
    for col in cols:
        table.add_column(col, justify="right")
    for row in frame.select(cols).iter_rows():
        table.add_row(*(_fmt(c, v) for c, v in zip(cols, row, strict=True)))
    out.print(table)


def _fmt(col: str, value: object) -> str:
    if isinstance(value, float):
        if col in ("ctr", "conversion", "conversion_ledger"):
            return f"{value:.2%}"
        return f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


if __name__ == "__main__":
    app()
