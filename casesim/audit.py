"""A case's validity over seeds: does it teach the same thing whatever the realization?

`casesim audit` generates the case at N requested seeds (each with its quiet-realization
search, calibration, key and cube), then reports per cause the spread of its share, the
noise share, how often the change lands in band, whether the causes keep their order, how a
fixed no-analysis order and the ideal order score, and the reference solver's score. A
coach reads it before shipping a case; the stable-truth work is judged by it.
"""

from __future__ import annotations

import json
import statistics
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from casesim.compose import make_case
from grading.scoring import MENU, score
from grading.solver import solve
from sim.intent import IntentError
from sim.scenario import Scenario
from sim.tasks import SERIAL, Tasks
from sim.truth import CalibrationError
from sim.world import Size

# A habit, not a diagnosis: the order someone lists without looking at the data.
FIXED_ORDER = (
    "NOISE", "DEPLOY", "DATA", "SEASON", "MIX", "PERF", "FEED", "RANK", "PRICE", "SUPPLY",
    "PLATFORM", "BOT", "DEF", "COMP",
)  # fmt: skip


def ideal_submission(key: dict[str, Any]) -> dict[str, Any]:
    """What a perfect diagnostician submits: the best order and the true shares."""
    from grading.scoring import best_loss, true_shares_by_id

    causes = key["causes"]
    _, order = best_loss(causes)
    truth = true_shares_by_id({}, causes)
    shares = {("unexplained" if h == "NOISE" else h): v for h, v in truth.items() if v > 0}
    return {"order": list(order), "shares": shares or {"unexplained": 1.0}}


@dataclass
class SeedResult:
    requested: int
    seed: int | None = None
    change: float | None = None
    in_band: bool = False
    shares: dict[str, float] = field(default_factory=dict)
    fixed_score: float | None = None
    ideal_score: float | None = None
    solver_score: float | None = None
    problem: str | None = None


def audit_seed(scenario: Scenario, size: Size, seed: int, where: Path) -> SeedResult:
    result = SeedResult(seed)
    out = where / f"s{seed}"
    try:
        make_case(scenario, size, out, seed=seed)
    except (IntentError, CalibrationError) as exc:
        result.problem = str(exc)
        return result
    key = json.loads((out / "answer_key.json").read_text())
    result.seed = key["seed"]
    result.change = key["observed_change"]
    result.in_band = bool(key["within_target"]) if key["target"] else True
    result.shares = {c["id"]: c["share"] for c in key["causes"]}
    causes = key["causes"]
    fixed = {"order": list(FIXED_ORDER), "shares": {"unexplained": 1.0}}
    result.fixed_score = score(fixed, causes).case_score
    result.ideal_score = score(ideal_submission(key), causes).case_score
    result.solver_score = score(solve(out).submission, causes).case_score
    return result


def audit_task(_: None, arg: tuple[Scenario, Size, int]) -> SeedResult:
    """Task: one seed's case, generated and scored in a temporary folder of its own (on
    whichever machine runs it); only the numbers come back."""
    scenario, size, seed = arg
    with tempfile.TemporaryDirectory(prefix="casesim-audit-") as tmp:
        return audit_seed(scenario, size, seed, Path(tmp))


def audit(
    scenario: Scenario,
    size: Size,
    seeds: list[int],
    log: Callable[[str], None] | None = None,
    tasks: Tasks = SERIAL,
) -> list[SeedResult]:
    """Every seed as a task (each a whole case: luck search, calibration, key, solver);
    the results in the seeds' order, logged as each seed finishes."""

    def done(result: SeedResult) -> None:
        if log:
            log(f"seed {result.requested}: " + (result.problem or f"change {result.change:+.2%}"))

    return tasks.map(audit_task, [(scenario, size, seed) for seed in seeds], None, done)


def generate_task(_: None, arg: tuple[Scenario, Size, str, Path | None]) -> str | None:
    """Task: generate one case into its folder (written atomically by the process running
    the task: on a cluster, give it a shared folder), reusing its calibration record when
    one matches; a refused case (calibration, intent) comes back as its message instead of
    a folder."""
    scenario, size, folder, calibration = arg
    try:
        make_case(scenario, size, Path(folder), force=True, calibration=calibration)
    except (CalibrationError, IntentError) as exc:
        return str(exc)
    return None


def summary(results: list[SeedResult]) -> dict[str, Any]:
    """Per cause: share mean, sd, min, max; and the case-level rates and scores."""
    done = [r for r in results if r.problem is None]
    ids = sorted({cid for r in done for cid in r.shares})
    causes = {}
    for cid in ids:
        values = [r.shares.get(cid, 0.0) for r in done]
        causes[cid] = {
            "mean": statistics.fmean(values),
            "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values),
            "max": max(values),
        }
    orders = {tuple(sorted(r.shares, key=lambda c: -r.shares[c])) for r in done}

    def mean_of(attr: str) -> float | None:
        values = [getattr(r, attr) for r in done]
        return statistics.fmean(values) if values else None

    return {
        "seeds": len(results),
        "refused": [(r.requested, r.problem) for r in results if r.problem],
        "in_band_rate": sum(r.in_band for r in done) / len(done) if done else 0.0,
        "order_stable": len(orders) <= 1,
        "causes": causes,
        "fixed_order_score": mean_of("fixed_score"),
        "ideal_score_min": min((r.ideal_score for r in done), default=None),
        "solver_score": mean_of("solver_score"),
        "menu_size": len(MENU),
    }
