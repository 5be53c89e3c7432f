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


@takehome_app.command("create")
def create(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file (a shipped case)")],
    candidates: Annotated[
        Path, typer.Option(help="Candidates: a CSV with a `name` column, or one name per line")
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="The take-home folder to write (new)")],
    size: Annotated[str, typer.Option(help="small, default (the case), large")] = "default",
    hours: Annotated[
        float, typer.Option(min=0.25, max=72, help="The time box, from a candidate's first open")
    ] = 3.0,
    allow_debrief: Annotated[
        bool, typer.Option(help="Let candidates see the debrief after submitting")
    ] = False,
    force: Annotated[bool, typer.Option(help="Replace --out if it is an empty folder")] = False,
    verbose: Annotated[
        bool, typer.Option(help="Also print each variant's causes' shares (coaches only)")
    ] = False,
    luck_tries: Annotated[
        int, typer.Option(min=0, max=64, help="Draws of chance tried for quiet case windows")
    ] = 12,
    replicates: Annotated[
        int, typer.Option(min=0, max=20, help="Other worlds for each cause's expected effect")
    ] = 2,
    workers: Annotated[
        int | None, typer.Option(min=1, max=1024, help="Worker processes (default: every core)")
    ] = None,
    ray: Annotated[
        str | None, typer.Option("--ray", help="Run the independent runs on Ray (see `run`)")
    ] = None,
) -> None:
    """Make one audited variant of a case per candidate, with sealed keys and tokens."""
    import time

    from casesim.cliutil import (
        check_out,
        err,
        fail,
        load_scenario_or_fail,
        making_cases,
        size_for,
        tasks_for,
        terminate_as_interrupt,
    )
    from casesim.takehome_create import CandidatesError, create_cohort, read_candidates
    from runfolder.takehome import COHORT_FILE, TOKENS_FILE

    spec = load_scenario_or_fail(scenario)
    chosen = size_for(size)
    try:
        names = read_candidates(candidates)
    except CandidatesError as exc:
        raise fail(str(exc)) from None
    check_out(out_dir, force)

    def say(message: str) -> None:
        err.print(message, highlight=False, soft_wrap=True)

    def report(made) -> None:
        a = made.audit
        band = "in band" if a.in_band else "OUT OF BAND"
        quiet = "ok" if a.noise_ok else "TOO NOISY"
        say(
            f"{made.variant} ({made.name}): {made.seconds:.0f} s, change {a.change:+.2%} "
            f"({band}), noise {a.noise_effect:+.2%} of ±{a.noise_bound:.1%} ({quiet}), "
            f"noise share {a.noise_share:+.0%}"
        )
        if verbose:
            shares = ", ".join(f"{k} {v:+.0%}" for k, v in a.shares.items())
            say(f"  scope {made.scope or '-'}; shares: {shares}")

    terminate_as_interrupt()
    started = time.perf_counter()
    say(f"{len(names)} variants of {scenario} at size {chosen.name}")
    with making_cases(scenario), tasks_for(workers, ray) as tasks:
        made = create_cohort(
            spec,
            scenario,
            chosen,
            names,
            out_dir,
            hours,
            allow_debrief=allow_debrief,
            force=force,
            luck_tries=luck_tries,
            replicates=replicates,
            tasks=tasks,
            log=say,
            on_variant=report,
        )
    bad = [m.variant for m in made if not (m.audit.in_band and m.audit.noise_ok)]
    say(
        f"{len(made)} variants in {time.perf_counter() - started:.0f} s; seeds distinct: "
        f"{len({m.seed for m in made}) == len(made)}; "
        + (f"outside the audits: {', '.join(bad)}" if bad else "all in band and quiet")
    )
    say(f"the team's file: {out_dir / COHORT_FILE}")
    typer.echo(str(out_dir / TOKENS_FILE))


@takehome_app.command("grade")
def grade(
    folder: Annotated[Path, typer.Argument(help="The take-home folder (`takehome create`)")],
    html: Annotated[
        Path | None, typer.Option("--html", help="Write the cohort report (one HTML file)")
    ] = None,
    csv_file: Annotated[
        Path | None, typer.Option("--csv", help="Write one row per candidate (CSV)")
    ] = None,
) -> None:
    """Score every submission against its own variant's sealed key; report the cohort."""
    from casesim.cliutil import fail
    from casesim.takehome_grade import gather_seats
    from grading.cohort import grade_cohort
    from grading.report import render_html, to_csv
    from runfolder.takehome import CohortError, load_cohort

    try:
        cohort = load_cohort(folder)
    except CohortError as exc:
        raise fail(f"casesim takehome grade: {exc}") from None
    try:
        seats = gather_seats(cohort)
    except KeyboardInterrupt:
        raise fail("interrupted", 130) from None
    grades = grade_cohort(seats)
    for g in grades:
        if g.report is None:
            typer.echo(f"{g.name} ({g.variant}): not graded: {g.problem}", err=True)
        else:
            solver = "-" if g.solver_score is None else f"{g.solver_score:.3f}"
            typer.echo(
                f"{g.name} ({g.variant}, {g.source}): case {g.report.case_score:.3f} "
                f"(order {g.report.order_score:.3f}, diagnosis {g.report.diag_score:.3f}); "
                f"solver {solver}"
            )
    done = sum(1 for g in grades if g.report)
    typer.echo(f"graded {done} of {len(grades)}")
    scenario = cohort.meta.get("scenario") or {}
    meta = {
        "case": scenario.get("id", "?"),
        "size": cohort.meta.get("size", "?"),
        "hours": f"{cohort.hours:g}",
        "candidates": len(grades),
    }
    if csv_file is not None:
        _write_report(csv_file, to_csv(grades))
    if html is not None:
        _write_report(html, render_html(grades, "Take-home cohort report", meta))


def _write_report(target: Path, text: str) -> None:
    """Write a report file whole (a temporary sibling, renamed), readable by its owner only
    (it names each variant's causes), then print its path."""
    import os

    from casesim.cliutil import fail

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.unlink(missing_ok=True)
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as fh:
            fh.write(text)
        tmp.replace(target)
    except OSError as exc:
        raise fail(f"{target}: cannot write ({exc.strerror or exc})") from None
    typer.echo(str(target))


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
