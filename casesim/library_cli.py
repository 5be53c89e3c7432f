"""`casesim library`: generate every shipped case and write the library's table.

`shipped_cases` and `generate_missing` are shared with `casesim solve --all`: both read the
shipped cases from data/<run name> and generate the missing ones side by side, one task each.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from casesim.cliutil import RayAddress, SizeName, Workers, err, fail, out
from casesim.cliutil import load_scenario_or_fail as _load
from casesim.cliutil import size_for as _size
from casesim.cliutil import tasks_for as _tasks
from casesim.cliutil import terminate_as_interrupt as _terminate_as_interrupt
from runfolder.layout import ANSWER_KEY, run_name

SCENARIOS = Path("scenarios")
DATA = Path("data")


def shipped_cases(size: Any) -> list[tuple[Path, Any, Path]]:
    """(scenario file, scenario, its run folder at `size`) for every shipped case."""
    cases = []
    for path in sorted(SCENARIOS.glob("*.yaml")):
        spec = _load(path)
        if spec.id != "baseline":
            cases.append((path, spec, DATA / run_name(spec.id, size.name, spec.seed)))
    return cases


def generate_missing(
    cases: list[tuple[Path, Any, Path]],
    size: Any,
    workers: int | None,
    ray: str | None,
    quiet: bool = False,
) -> None:
    """Generate the cases whose folder has no key yet, one task each; a refused case is
    reported by its file and skipped."""
    from casesim.audit import generate_task
    from sim.calibration_record import record_path

    missing = [c for c in cases if not (c[2] / ANSWER_KEY).is_file()]
    if not missing:
        return
    if not quiet:
        err.print(f"generating {len(missing)} cases: {', '.join(c[1].id for c in missing)}")
    _terminate_as_interrupt()
    try:
        with _tasks(workers, ray) as tasks:
            args = [(spec, size, str(folder), record_path(path)) for path, spec, folder in missing]
            problems = tasks.map(generate_task, args)
    except KeyboardInterrupt:
        raise fail("interrupted", 130) from None
    for (path, _, _), problem in zip(missing, problems, strict=True):
        if problem is not None:
            typer.echo(f"{path}: refused: {problem}", err=True)


def library(
    size: SizeName = "small",
    write: Annotated[
        Path | None, typer.Option("--write", help="Write the table here (e.g. docs/cases.md)")
    ] = None,
    workers: Workers = None,
    ray: RayAddress = None,
) -> None:
    """Every shipped case with its causes, shares, solver and random-order scores and
    difficulty tier (coaches: it reads the answer keys)."""
    from rich.table import Table

    from casesim.library import case_row, markdown

    chosen = _size(size)
    cases = shipped_cases(chosen)
    generate_missing(cases, chosen, workers, ray)
    rows = [case_row(path, folder) for path, _, folder in cases if (folder / ANSWER_KEY).is_file()]
    if len(rows) < len(cases):
        raise fail(f"{len(cases) - len(rows)} shipped cases could not be generated (see above)")
    if write is not None:
        write.write_text(markdown(rows, chosen.name))
        err.print(f"wrote {write}")
    table = Table(title=f"The case library ({chosen.name})")
    for col in ("case", "fault types", "change", "solver", "random", "best", "tier"):
        table.add_column(col, justify="left" if col in ("case", "fault types", "tier") else "right")
    for r in rows:
        table.add_row(
            r.case,
            ", ".join(r.fault_types) or "control",
            f"{r.observed_change:+.2%}",
            f"{r.solver_score:.3f}",
            f"{r.random_score:.3f}",
            f"{r.best_score:.3f}",
            r.tier,
        )
    out.print(table)


def register(app: typer.Typer) -> None:
    app.command()(library)
