"""`casesim takehome create | serve | grade`: take-homes for hiring teams.

The folder these commands share is described in `runfolder.takehome`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

takehome_app = typer.Typer(
    no_args_is_help=True,
    help="Take-homes: one variant per candidate, a hosted session, grading and a cohort report.",
)


@takehome_app.command("serve")
def serve(
    folder: Annotated[Path, typer.Argument(help="The take-home folder (`takehome create`)")],
    port: Annotated[int, typer.Option(help="Port to serve on")] = 8501,
) -> None:
    """Serve the take-home: one dashboard for the cohort; each candidate's link
    (`/?token=...`, from tokens.csv) opens their own variant, once, in the time box."""
    from casesim.cliutil import fail
    from dashboard.launch import serve as serve_dashboard
    from runfolder.layout import ANSWER_KEY, MANIFEST
    from runfolder.takehome import CohortError, load_cohort

    try:
        cohort = load_cohort(folder)
    except CohortError as exc:
        raise fail(f"casesim takehome serve: {exc}") from None
    problems, variants = [], []
    for seat in cohort.seats:
        run = cohort.variant_dir(seat.variant)
        if seat.variant in {v.name for v in variants}:
            problems.append(f"{folder}: variant {seat.variant} is given to two candidates")
        elif not (run / MANIFEST).is_file() or not (run / "case.yaml").is_file():
            problems.append(f"{run}: not a finished run folder")
        elif any((run / name).exists() for name in (ANSWER_KEY, "scenario.yaml")):
            sealed = cohort.sealed_dir(run.name)
            problems.append(f"{run}: holds truth files (they belong in {sealed})")
        variants.append(run)
    if not cohort.seats:
        problems.append(f"{folder}: the cohort has no candidates")
    if cohort.hours <= 0:
        problems.append(f"{folder}: hours must be positive, not {cohort.hours:g}")
    if problems:
        raise fail("\n".join(problems))
    raise typer.Exit(serve_dashboard(None, port, folder.resolve(), None, takehome=variants))
