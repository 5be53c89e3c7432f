"""`casesim preview`: everything a coach checks before shipping a case, on one screen.

It strings together what the other commands do one at a time: the scenario's spoiler check,
one case at a small size (quiet-realization search, calibration, key: casesim.compose's
make_case), the intent checks on that key (shown, not just refused, so a coach sees every
problem at once), the reference solver's score on it, and an audit over a few other seeds
(casesim.audit). It shows the answer key: a coach's command, never a candidate's.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from sim.scenario import Scenario
from sim.tasks import Tasks
from sim.world import Size


@dataclass
class SolverScore:
    order: list[str]
    shares: dict[str, float]
    case_score: float
    order_score: float
    diag_score: float


@dataclass
class PreviewReport:
    """What the preview found; `ok` when the case would ship as written."""

    path: Path
    scenario: Scenario
    size: str
    warnings: list[str] = field(default_factory=list)
    luck: int | None = None
    lucks_tried: list[tuple[int, float]] = field(default_factory=list)
    refused: str | None = None
    severities: dict[str, float] = field(default_factory=dict)
    key: dict[str, Any] | None = None
    intent: list[str] = field(default_factory=list)
    solver: SolverScore | None = None
    audit: dict[str, Any] | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return (
            self.refused is None
            and not self.intent
            and (self.audit is None or not self.audit["refused"])
        )


def make_preview(
    path: Path,
    scenario: Scenario,
    size: Size,
    seeds: int,
    replicates: int,
    tasks: Tasks,
    keep: Path | None = None,
    log: Callable[[str], None] | None = None,
) -> PreviewReport:
    """Run the case once (kept in `keep`, else in a temporary folder), check it, score the
    solver on it, and audit it over `seeds` other seeds."""
    from casesim.coach import calendar_events, payday_imbalance
    from sim.spoilers import spoiler_warnings

    started = time.perf_counter()
    report = PreviewReport(path, scenario, size.name, warnings=spoiler_warnings(scenario, path))
    report.warnings += [
        f"calendar: the case windows hold {event}; the metric moves by itself there"
        for event in calendar_events(scenario)
    ]
    report.warnings += [
        f"calendar: paydays tilt the comparison, {tilt}" for tilt in payday_imbalance(scenario)
    ]
    with tempfile.TemporaryDirectory(prefix="casesim-preview-") as tmp:
        folder = keep or Path(tmp) / "run"
        _one_case(report, scenario, size, replicates, tasks, folder, log)
    if seeds and report.refused is None:
        from casesim.audit import audit, summary

        first = scenario.seed + 1
        results = audit(scenario, size, list(range(first, first + seeds)), log=log, tasks=tasks)
        report.audit = summary(results)
    report.seconds = time.perf_counter() - started
    return report


def _one_case(
    report: PreviewReport,
    scenario: Scenario,
    size: Size,
    replicates: int,
    tasks: Tasks,
    folder: Path,
    log: Callable[[str], None] | None,
) -> None:
    """The case at the scenario's seed: make_case after the quiet search, so that a key which
    breaks the intent is still written and every problem can be listed."""
    from casesim.compose import make_case
    from grading.scoring import score
    from grading.solver import solve
    from sim.intent import IntentError, intent_problems, quiet_luck
    from sim.truth import CalibrationError

    try:
        search = quiet_luck(scenario, size, scenario.seed, log=log, tasks=tasks)
    except IntentError as exc:
        report.refused = str(exc)
        return
    report.luck, report.lucks_tried = search.luck, search.tried
    lucky = scenario.model_copy(update={"luck": search.luck})
    try:
        _, calibration = make_case(
            lucky, size, folder, luck_tries=0, replicates=replicates, log=log, tasks=tasks
        )
    except CalibrationError as exc:
        report.refused = f"calibration failed: {exc}" + (
            " (at full severity the faults fall short: widen the scope or raise the fault's "
            "own strength parameter; docs/faults.md lists them)"
            if "out of reach" in str(exc)
            else ""
        )
        return
    if calibration is not None:
        report.severities = dict(calibration.severities)
    key = json.loads((folder / "answer_key.json").read_text())
    report.key = key
    report.intent = intent_problems(key, lucky)
    submission = solve(folder).submission
    result = score(submission, key["causes"])
    report.solver = SolverScore(
        submission["order"][:5],
        submission["shares"],
        result.case_score,
        result.order_score,
        result.diag_score,
    )


def render(report: PreviewReport, console: Console) -> None:
    """The preview as panels: case, key, intent, solver, audit."""
    spec = report.scenario
    head = (
        f"[bold]{spec.id}[/bold]: {escape(spec.title)}  (size {report.size}, seed {spec.seed}"
        + (f", luck {report.luck}" if report.luck is not None else "")
        + f"; {report.seconds:.0f} s)"
    )
    parts: list[Any] = [head]
    parts += [f"[yellow]{escape(w)}[/yellow]" for w in report.warnings] or ["validation: ok"]
    if report.refused:
        parts.append(f"[red]refused:[/red] {escape(report.refused)}")
    console.print(Panel(Group(*parts), title="casesim preview (shows the answer key)"))
    if report.key is not None:
        console.print(_key_table(report))
        console.print(_intent_panel(report))
    if report.solver is not None:
        s = report.solver
        shares = ", ".join(f"{k} {v:.2f}" for k, v in s.shares.items())
        console.print(
            Panel(
                f"order {' > '.join(s.order)} ...; shares {shares}\n"
                f"score: case {s.case_score:.3f} (order {s.order_score:.3f}, "
                f"diagnosis {s.diag_score:.3f})",
                title="Reference solver",
            )
        )
    if report.audit is not None:
        console.print(_audit_table(report.audit))
    verdict = "[green]ships as written[/green]" if report.ok else "[red]would be refused[/red]"
    console.print(f"verdict: {verdict}")


def _key_table(report: PreviewReport) -> Table:
    key = report.key
    assert key is not None
    target = key.get("target")
    band = (
        f"target {target['change']:+.1%} ± {target['tolerance'] * 100:.1f} pp, "
        f"{'in band' if key['within_target'] is True else 'OUT of band'}"
        if target
        else "control case (no target)"
    )
    title = (
        f"Answer key: observed {key['observed_change']:+.2%} "
        f"(business {key['business_change']:+.2%}); {band}"
    )
    table = Table(title=title, title_justify="left")
    cols = ("cause", "type", "share", "effect", "expected share (90%)", "severity", "hit set")
    for col in cols:
        table.add_column(col, justify="left" if col in ("cause", "type", "hit set") else "right")
    for c in key["causes"]:
        expected = c.get("expected") or {}
        interval = expected.get("share_interval")
        table.add_row(
            f"{c['id']} (decoy)" if c["decoy"] else c["id"],
            c["type"],
            f"{c['share']:+.1%}",
            f"{c['effect']:+.2%}",
            f"{interval[0]:+.0%}..{interval[1]:+.0%}" if interval else "-",
            "-" if c.get("severity") is None else f"{c['severity']:.3f}",
            ", ".join(c["hit_set"]),
        )
    return table


def _intent_panel(report: PreviewReport) -> Panel:
    if report.intent:
        body = "\n".join(f"[red]✗[/red] {escape(p)}" for p in report.intent)
    else:
        body = (
            "[green]✓[/green] decoys explain at most 15%; causes with a share land within 15 "
            "points of it; the noise stays within the bound"
        )
    tried = ", ".join(f"{luck}: {change:+.2%}" for luck, change in report.lucks_tried)
    return Panel(f"{body}\nquiet search (luck: change with every fault off): {tried}",
                 title="Intent checks")  # fmt: skip


def _audit_table(audit: dict[str, Any]) -> Group:
    table = Table(title=f"Audit over {audit['seeds']} other seeds", title_justify="left")
    for col in ("entry", "share mean", "sd", "min", "max"):
        table.add_column(col, justify="left" if col == "entry" else "right")
    for cid, st in audit["causes"].items():
        table.add_row(cid, *(f"{st[k]:+.3f}" for k in ("mean", "sd", "min", "max")))

    def show(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    lines = [
        f"in band {audit['in_band_rate']:.0%}; order stable: "
        f"{'yes' if audit['order_stable'] else 'no'}; "
        f"fixed order {show(audit['fixed_order_score'])}; "
        f"ideal at least {show(audit['ideal_score_min'])}; "
        f"solver {show(audit['solver_score'])}"
    ]
    lines += [
        f"[red]seed {seed} refused:[/red] {escape(problem)}" for seed, problem in audit["refused"]
    ]
    return Group(table, *lines)
