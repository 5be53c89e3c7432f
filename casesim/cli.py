"""The `casesim` command line.

Exit codes: 0 success, 2 bad input (one `file:line: field: problem` line per problem, never a
traceback), 130 interrupted, 1 an internal error (a bug: one line, and the traceback only
with CASESIM_DEBUG=1). Seeds are integers in 0..2**32-1, like a scenario's `seed:`.
Heavy modules (the engine, polars, scikit-learn) are imported inside the commands that need
them, so `--help` and `validate` start quickly.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from casesim.cliutil import (
    SEED_MAX,
    RayAddress,
    Seed,
    SizeName,
    Workers,
    err,
    fail,
    making_cases,
    out,
)
from casesim.cliutil import check_out as _check_out
from casesim.cliutil import finished as _finished
from casesim.cliutil import load_scenario_or_fail as _load
from casesim.cliutil import progress as _progress
from casesim.cliutil import size_for as _size
from casesim.cliutil import step_lines as _step_lines
from casesim.cliutil import tasks_for as _tasks
from casesim.cliutil import terminate_as_interrupt as _terminate_as_interrupt
from casesim.coach_cli import register as register_coach_commands
from casesim.library_cli import register as register_library_command
from casesim.takehome_cli import takehome_app
from runfolder.layout import ANSWER_KEY, run_name
from sim.inputs import InputError, load_json

SCORE_NUMBERS = ("case_score", "order_score", "diag_score", "ndcg5", "ac1", "ac3", "avg5", "mrr")


class _App(typer.Typer):
    """Typer, with a last line of defence: an unexpected exception is one line, not a trace."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not args and "args" not in kwargs:
            sys.argv[1:] = _bare_ray(sys.argv[1:])
        try:
            return super().__call__(*args, **kwargs)
        except Exception as exc:
            if os.environ.get("CASESIM_DEBUG"):
                raise
            first = (str(exc).splitlines() or [""])[0][:300]
            typer.echo(
                f"casesim: internal error: {type(exc).__name__}: {first} "
                "(please report it; CASESIM_DEBUG=1 shows the traceback)",
                err=True,
            )
            sys.exit(1)


def _bare_ray(argv: list[str]) -> list[str]:
    """`--ray` alone means a local Ray: give it the value `local` unless an address follows
    (host:port, ray://..., or auto), so `casesim key --ray RUN_DIR` reads as meant."""
    out = []
    for i, arg in enumerate(argv):
        out.append(arg)
        following = argv[i + 1] if i + 1 < len(argv) else None
        if arg == "--ray" and not (
            following is not None and (":" in following or following in ("auto", "local"))
        ):
            out.append("local")
    return out


app = _App(add_completion=False, no_args_is_help=True, help=__doc__.split("\n")[0])


@app.command()
def run(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file")],
    seed: Seed = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Run folder to write")] = None,
    size: SizeName = "default",
    force: Annotated[
        bool, typer.Option(help="Replace an existing run folder (or an empty folder)")
    ] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bar")] = False,
    key: Annotated[bool, typer.Option(help="Compute the answer key (counterfactual runs)")] = True,
    verbose: Annotated[
        bool, typer.Option(help="Also print calibrated severities (names the causes: coaches only)")
    ] = False,
    luck_tries: Annotated[
        int,
        typer.Option(
            min=0,
            max=64,
            help="Draws of chance to try for quiet case windows (0: the scenario's own, unchecked)",
        ),
    ] = 12,
    replicates: Annotated[
        int,
        typer.Option(
            min=0, max=20, help="Other worlds for each cause's expected effect and its interval"
        ),
    ] = 2,
    recalibrate: Annotated[
        bool,
        typer.Option(
            help="Search the luck and calibrate even when the scenario's calibration record "
            "(<stem>.calibration.json, from `casesim calibrate`) matches"
        ),
    ] = False,
    workers: Workers = None,
    ray: RayAddress = None,
) -> None:
    """Simulate a scenario and write a run folder (tables, manifest, answer key).

    A calibration record beside the scenario for this size and seed (written by `casesim
    calibrate`) replaces the luck search and the calibration; a key that then misses its
    band or noise bound is refused, asking for a new `casesim calibrate`."""
    spec = _load(scenario)
    chosen = _size(size)
    seed_used = spec.seed if seed is None else seed
    target = out_dir or Path("data") / run_name(spec.id, chosen.name, seed_used)
    _check_out(target, force)

    from casesim.compose import make_case
    from sim.calibration_record import record_path

    _terminate_as_interrupt()
    started = time.perf_counter()
    with (
        making_cases(scenario),
        _tasks(workers, ray) as tasks,
        _progress(quiet, f"simulating {spec.id}") as tick,
    ):
        manifest, report = make_case(
            spec,
            chosen,
            target,
            seed=seed,
            force=force,
            with_key=key,
            progress=tick,
            luck_tries=luck_tries,
            replicates=replicates,
            log=None if quiet else err.print,
            tasks=tasks,
            calibration=None if recalibrate else record_path(scenario),
            steps=_step_lines(quiet),
        )
    if not quiet:
        imps = manifest["tables"]["impressions"]["rows"]
        err.print(f"{imps:,} impressions; {time.perf_counter() - started:.1f} s in all")
    if verbose and report is not None:
        found = ", ".join(f"{k}={v:.3f}" for k, v in report.severities.items())
        err.print(f"calibrated severity: {found} (change {report.change:+.2%})")
    typer.echo(str(target))


@app.command()
def calibrate(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file")],
    size: SizeName = "small",
    seed: Seed = None,
    quiet: Annotated[bool, typer.Option(help="No progress bar")] = False,
    luck_tries: Annotated[
        int, typer.Option(min=1, max=64, help="Draws of chance to try for quiet case windows")
    ] = 12,
    workers: Workers = None,
    ray: RayAddress = None,
) -> None:
    """Find the case's quiet luck and its `severity: auto` values, show the change, the noise
    and the key's split, and record them beside the scenario for `casesim run` (coaches)."""
    from sim import calibration_record as records
    from sim.case import case_key, realize
    from sim.intent import intent_problems

    spec = _load(scenario)
    chosen = _size(size)
    seed_used = spec.seed if seed is None else seed
    path = records.record_path(scenario)
    _terminate_as_interrupt()
    with (
        making_cases(scenario),
        _tasks(workers, ray) as tasks,
        _progress(quiet, f"calibrating {spec.id}") as tick,
    ):
        steps = _step_lines(quiet)
        log = None if quiet else err.print
        realized = realize(spec, chosen, seed_used, luck_tries, tick, log, steps, tasks)
        key = case_key(realized, chosen, seed_used, 0, tick, steps, tasks, check=False)
    report, tried = realized.report, realized.tried or []
    typer.echo(f"luck {realized.scenario.luck} (quiet after {len(tried)} of {luck_tries} tries)")
    if report is None:
        typer.echo("no fault has severity auto; nothing to calibrate")
    else:
        for fid, value in report.severities.items():
            typer.echo(f"{fid}: severity {value:.4f} ({len(report.evaluations)} trial runs)")
    _print_calibration(key, spec, seed_used, chosen.name)
    problems = intent_problems(key, realized.scenario)
    if problems:
        raise fail(f"{scenario}: not recorded: the case breaks its intent: {'; '.join(problems)}")
    entry = records.from_key(
        realized.scenario,
        spec,
        chosen.name,
        seed_used,
        tried,
        report.severities if report else {},
        key,
    )
    records.store(path, scenario.name, entry)
    typer.echo(
        f"recorded in {path} (size {chosen.name}, seed {seed_used}): `casesim run` reuses it"
    )


def _print_calibration(key: dict[str, Any], spec: Any, seed: int, size: str) -> None:
    """The observed change against its band, the noise against its bound, the key's split."""
    target = spec.target
    band = (
        f"target {target.change:+.1%} ± {target.tolerance * 100:.1f} pp"
        if target
        else "a control: no target"
    )
    typer.echo(
        f"observed change {key['observed_change']:+.2%} ({band}) at seed {seed}, size {size}"
    )
    noise = next(c for c in key["causes"] if c["id"] == "noise")
    typer.echo(
        f"noise {noise['effect']:+.2%} with every change off (bound ±{spec.noise_bound:.1%})"
    )
    split = ", ".join(f"{c['id']} {c['share']:.1%}" for c in key["causes"])
    typer.echo(f"split: {split}")


@app.command()
def key(
    run_dir: Annotated[Path, typer.Argument(help="A run folder")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the key as JSON")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bar")] = False,
    workers: Workers = None,
    ray: RayAddress = None,
) -> None:
    """Print a run's answer key, computing it (counterfactual runs) if it is missing."""
    _finished(run_dir)
    try:
        answer = _answer(run_dir, quiet, workers, ray)
    except KeyboardInterrupt:
        raise fail("interrupted: nothing was written", 130) from None
    if as_json:
        typer.echo(json.dumps(answer, indent=2))
        return
    with _reading(run_dir / "answer_key.json"):
        _print_key(answer)


def _print_key(answer: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title=f"Answer key: {answer['scenario']}", title_justify="left")
    for col in ("cause", "type", "share", "business share", "hit set", "onset"):
        table.add_column(col, justify="right" if "share" in col else "left")
    for c in answer["causes"]:
        name = f"{c['id']} (decoy)" if c["decoy"] else c["id"]
        table.add_row(
            name,
            c["type"],
            f"{c['share']:.1%}",
            f"{c['business_share']:.1%}",
            ", ".join(c["hit_set"]),
            (c["onset"] or "")[:16],
        )
    out.print(table)
    typer.echo(
        f"{answer['metric']}: observed {answer['observed_change']:+.2%}, "
        f"business {answer['business_change']:+.2%} "
        f"({answer['windows']['after'][0]}..{answer['windows']['after'][1]} vs "
        f"{answer['windows']['before'][0]}..{answer['windows']['before'][1]})"
    )


@app.command()
def score(
    run_dir: Annotated[Path, typer.Argument(help="A run folder")],
    submission: Annotated[Path, typer.Argument(help="Submission JSON")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the numbers as JSON")] = False,
) -> None:
    """Score a submission against the run's answer key, with a debrief."""
    from grading.debrief import debrief_text
    from grading.scoring import SubmissionError, parse_submission
    from grading.scoring import score as score_submission

    _finished(run_dir)
    try:
        sub = parse_submission(load_json(submission), str(submission))
    except InputError as exc:
        raise fail(str(exc)) from None
    except SubmissionError as exc:
        raise fail(str(exc)) from None
    answer = _answer(run_dir, quiet=True)
    with _reading(run_dir / "answer_key.json"):
        report = score_submission(sub, answer["causes"])
        if as_json:
            numbers = {k: round(report.to_dict()[k], 4) for k in SCORE_NUMBERS}
            typer.echo(json.dumps(numbers, indent=2))
            return
        text = debrief_text(sub, report, answer)
    typer.echo(text)


def _answer(
    run_dir: Path, quiet: bool, workers: int | None = 1, ray: str | None = None
) -> dict[str, Any]:
    """The run's key: read and checked, or computed when the run still has its scenario.

    A folder with neither (a take-home bundle) is refused at once, as is a damaged key or
    scenario: only a sound run starts the counterfactual simulations.
    """
    from runfolder.layout import SCENARIO_FILE
    from sim.inputs import load_answer_key

    try:
        answer = load_answer_key(run_dir)
    except InputError as exc:
        raise fail(str(exc)) from None
    if answer is not None:
        return answer
    if not (run_dir / SCENARIO_FILE).is_file():
        raise fail(
            f"{run_dir}: no answer_key.json and no {SCENARIO_FILE}, so its key cannot be "
            "computed (a take-home bundle? score it on the full run)"
        )
    _load(run_dir / SCENARIO_FILE)
    from sim.case import key_for_run

    with _tasks(workers, ray) as tasks, _progress(quiet, "counterfactual runs") as tick:
        return key_for_run(run_dir, tick, tasks)


@contextlib.contextmanager
def _reading(what: Path) -> Iterator[None]:
    """Reading a run's files: a damaged file (a corrupt table, a key with odd values) is bad
    input, reported in one line with exit 2, whatever the reader raises."""
    try:
        yield
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise fail(f"{what}: cannot read (damaged?): {type(exc).__name__}: {first}") from None


@app.command()
def solve(
    run_dir: Annotated[Path | None, typer.Argument(help="A run folder")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the submission as JSON")] = False,
    all_cases: Annotated[bool, typer.Option("--all", help="Solve every shipped case")] = False,
    size: SizeName = "small",
    workers: Workers = None,
    ray: RayAddress = None,
) -> None:
    """Run the reference solver: its submission, its reasoning, and its score if keyed."""
    from grading.scoring import score as score_submission
    from grading.solver import solve as run_solver
    from sim.inputs import load_answer_key

    if all_cases:
        _solve_all(_size(size), as_json, workers, ray)
        return
    if run_dir is None:
        raise fail("give a RUN_DIR, or --all")
    _finished(run_dir)
    with _reading(run_dir):
        result = run_solver(run_dir)
    if as_json:
        typer.echo(json.dumps(result.submission, indent=2))
        return
    for line in result.reasoning:
        typer.echo(f"- {line}")
    typer.echo(json.dumps(result.submission))
    try:
        answer = load_answer_key(run_dir)
    except InputError as exc:
        raise fail(str(exc)) from None
    if answer is not None:
        with _reading(run_dir / "answer_key.json"):
            report = score_submission(result.submission, answer["causes"])
        typer.echo(f"score: case {report.case_score:.3f} (order {report.order_score:.3f}, "
                   f"diagnosis {report.diag_score:.3f})")  # fmt: skip


def _solve_all(chosen, as_json: bool, workers: int | None, ray: str | None) -> None:
    """Generate (or reuse) every shipped case at a size and tabulate the solver's scores.
    The missing cases are generated side by side, one task each."""
    from casesim.library_cli import generate_missing, shipped_cases
    from grading.scoring import score as score_submission
    from grading.solver import solve as run_solver

    cases = shipped_cases(chosen)
    generate_missing(cases, chosen, workers, ray, quiet=as_json)
    rows = []
    for _, spec, folder in cases:
        if not (folder / ANSWER_KEY).is_file():
            continue
        answer = json.loads((folder / ANSWER_KEY).read_text())
        report = score_submission(run_solver(folder).submission, answer["causes"])
        rows.append({"case": spec.id, **{k: round(v, 3) for k, v in report.to_dict().items()
                                         if k in ("case_score", "order_score", "diag_score",
                                                  "ndcg5", "ac1", "mrr")}})  # fmt: skip
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    table = Table(title=f"Reference solver on the shipped cases ({chosen.name})")
    for col in rows[0]:
        table.add_column(col, justify="left" if col == "case" else "right")
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    out.print(table)


@app.command()
def audit(
    scenario: Annotated[Path, typer.Argument(help="A scenario file")],
    seeds: Annotated[int, typer.Option(min=1, max=50, help="How many seeds to run")] = 5,
    first_seed: Annotated[int, typer.Option(min=0, max=SEED_MAX, help="The first seed")] = 1,
    size: SizeName = "small",
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON")] = False,
    workers: Workers = None,
    ray: RayAddress = None,
) -> None:
    """Run a case over several seeds and report how stable its answer key is (coaches)."""
    from casesim.audit import audit as run_audit
    from casesim.audit import summary

    spec = _load(scenario)
    chosen = _size(size)
    _terminate_as_interrupt()
    try:
        with _tasks(workers, ray) as tasks:
            results = run_audit(
                spec,
                chosen,
                list(range(first_seed, first_seed + seeds)),
                log=None if as_json and sys.stderr.isatty() else _audit_log(seeds, tasks),
                tasks=tasks,
            )
    except KeyboardInterrupt:
        raise fail("interrupted", 130) from None
    report = summary(results)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    from rich.table import Table

    table = Table(title=f"{spec.id}: answer key over {report['seeds']} seeds ({size})")
    for col in ("entry", "share mean", "sd", "min", "max"):
        table.add_column(col, justify="left" if col == "entry" else "right")
    for cid, st in report["causes"].items():
        table.add_row(cid, *(f"{st[k]:+.3f}" for k in ("mean", "sd", "min", "max")))
    out.print(table)

    def show(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    out.print(
        f"in band: {report['in_band_rate']:.0%}; causes keep their order: "
        f"{'yes' if report['order_stable'] else 'no'}; fixed no-analysis order scores "
        f"{show(report['fixed_order_score'])}; ideal order at least "
        f"{show(report['ideal_score_min'])}; reference solver {show(report['solver_score'])}"
    )
    for seed, problem in report["refused"]:
        out.print(f"seed {seed} refused: {problem}")


def _audit_log(seeds: int, tasks: Any):
    """A line as the audit starts and as each seed's case finishes (seed 3/5: ...)."""
    err.print(f"auditing {seeds} seeds, {tasks.workers} at a time: a line as each one finishes")
    done = [0]

    def log(line: str) -> None:
        done[0] += 1
        err.print(f"{done[0]}/{seeds} {line}")

    return log


@app.command()
def dashboard(
    run_dir: Annotated[Path | None, typer.Argument(help="A run folder (optional)")] = None,
    port: Annotated[int, typer.Option(help="Port to serve on")] = 8501,
    data_dir: Annotated[Path, typer.Option(help="Runs and attempt history")] = Path("data"),
    host_token: Annotated[
        str | None,
        typer.Option(help="Token that opens everyone's history (default: a random one, printed)"),
    ] = None,
) -> None:
    """Open the investigation dashboard (on a run, or on a case picker)."""
    from dashboard.launch import serve

    if run_dir is not None:
        _finished(run_dir)
    raise typer.Exit(serve(run_dir, port, data_dir, host_token))


@app.command()
def bundle(
    run_dir: Annotated[Path, typer.Argument(help="A finished run folder")],
    target: Annotated[Path, typer.Argument(help="The candidate's copy (a new folder)")],
    force: Annotated[bool, typer.Option(help="Replace TARGET if it exists")] = False,
) -> None:
    """Copy a run for a take-home: tables, cube and brief, never the key or the scenario."""
    _finished(run_dir)
    _check_out(target, force, keep=(run_dir,))
    from sim.case import make_bundle
    from sim.output import OutputTargetError, RunFolderExists
    from sim.variants import neutral_id, neutralise

    case_id = neutral_id()
    try:
        entries = make_bundle(
            run_dir, target, force=force, finish=lambda f: neutralise(f, case_id, title=None)
        )
    except (RunFolderExists, OutputTargetError) as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"{target}: cannot write the copy ({exc.strerror or exc})") from None
    out.print(f"{target}: {', '.join(entries)} (no answer key, no scenario; case id {case_id})")


@app.command()
def validate(files: Annotated[list[Path], typer.Argument(help="Scenario files")]) -> None:
    """Check scenario files; exit 0 when all are valid, 2 otherwise."""
    from sim.scenario import ScenarioError, load_scenario

    bad = 0
    for path in files:
        try:
            scenario = load_scenario(path)
        except ScenarioError as exc:
            bad += 1
            for problem in exc.problems:
                typer.echo(str(problem), err=True)
        else:
            from sim.spoilers import spoiler_warnings

            for warning in spoiler_warnings(scenario, path):
                typer.echo(warning, err=True)
            typer.echo(f"{path}: ok")
    if bad:
        raise typer.Exit(2)


@app.command()
def schema() -> None:
    """Print the scenario JSON Schema (for editors: yaml-language-server)."""
    from sim.scenario import scenario_json_schema

    sys.stdout.write(json.dumps(scenario_json_schema(), indent=2) + "\n")


@app.command()
def describe(run_dir: Annotated[Path, typer.Argument(help="A run folder")]) -> None:
    """A readable summary of a run: totals, by day, and by a few segments."""
    import polars as pl

    from readout.tables import funnel_summary, session_outcomes

    manifest = _finished(run_dir)
    with _reading(run_dir):
        sessions = session_outcomes(run_dir).filter(pl.col("period") == "current")
        total = funnel_summary(sessions.with_columns(all=pl.lit("all")), ["all"]).collect()
        daily = funnel_summary(sessions, ["date"]).collect()
        by_dim = {
            dim: funnel_summary(sessions, [dim]).collect()
            for dim in ("platform", "city_tier", "source", "tenure")
        }
    seed = manifest.get("seed", "-")  # a take-home variant has none
    out.print(
        f"[bold]{manifest['title']}[/bold]  ({manifest['scenario']}, seed {seed}, "
        f"size {manifest['size']}, {manifest['days']} days from {manifest['start']})"
    )
    _print_frame("Totals", total.drop("all"))
    _print_frame("By day", daily)
    for dim, frame in by_dim.items():
        _print_frame(f"By {dim}", frame)


def _print_frame(title: str, frame) -> None:
    from rich.table import Table

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


app.add_typer(takehome_app, name="takehome")
register_coach_commands(app)  # new, preview, reference (casesim/coach_cli.py)
register_library_command(app)  # library (casesim/library_cli.py)

if __name__ == "__main__":
    app()
