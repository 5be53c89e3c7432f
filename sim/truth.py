"""The truth: counterfactual runs, exact Shapley shares, calibration, and the answer key.

For k faults (causes and decoys) the metric's change is measured with every subset of them
switched on. Runs share everything before the earliest onset: the engine is simulated once
up to it, that state is shipped once to each worker, and each subset runs from there as a
task (sim/tasks.py: in this process, local processes or Ray), so 2^k branches cost far less
than 2^k runs and run side by side. Every branch draws the same random numbers (common
random numbers), so a difference between branches is the faults' doing, not luck.

A case's factual run is itself two of these runs: up to the earliest onset it is the root
(no fault is in the engine yet), and from there the branch with every fault on (the same
schedule, sim/runner.py `switch_on`). So a case's key forks the root off the factual run
(`FactualTap`) and takes the all-faults branch's sums from it: only the other 2^k - 1
branches are simulated again.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np

from sim.engine import Engine, EngineState, HourResult, NullSink, Period
from sim.faults.base import FaultBase
from sim.rng import Streams
from sim.runner import (
    Tap,
    case_engine,
    first_onset,
    onset_hour,
    onset_order,
    plan,
    switch_on,
    warm_world,
)
from sim.scenario import Scenario
from sim.tasks import SERIAL, Tasks
from sim.world import Size


class MetricSink(NullSink):
    """Daily totals of the case period only: sessions, tracked and ledger conversions, and
    sessions as logged (with any no-feed foregrounds a pipeline change counts, and any
    session a client logged twice)."""

    def __init__(self) -> None:
        self.daily: dict[int, np.ndarray] = {}

    def hour(self, result: HourResult, state: object) -> None:
        if result.period.label != "current":
            return
        day = result.hour // 24
        totals = self.daily.setdefault(day, np.zeros(4, np.int64))
        n = len(result.batch.key)
        totals[:3] += (n, result.tracked_order.sum(), result.ledger_order.sum())
        totals[3] += n + len(result.foregrounds) + len(result.resent)


@dataclass(frozen=True)
class Windows:
    """Day indices of the before and after windows within the case period."""

    before: tuple[int, int]  # [start, end)
    after: tuple[int, int]

    @classmethod
    def of(cls, scenario: Scenario) -> Windows:
        days, w = scenario.days, scenario.windows
        return cls(
            (days - w.after_days - w.before_days, days - w.after_days), (days - w.after_days, days)
        )

    def dates(self, start: date) -> dict[str, list[str]]:
        def span(a: int, b: int) -> list[str]:
            return [
                (start + timedelta(days=a)).isoformat(),
                (start + timedelta(days=b - 1)).isoformat(),
            ]

        return {"before": span(*self.before), "after": span(*self.after)}


@dataclass(frozen=True)
class Change:
    """A window comparison of the metric, observed (tracked) and business (ledger)."""

    before_observed: float
    after_observed: float
    before_business: float
    after_business: float

    @property
    def observed(self) -> float:
        return self.after_observed / self.before_observed - 1

    @property
    def business(self) -> float:
        return self.after_business / self.before_business - 1


def measure(daily: dict[int, np.ndarray], windows: Windows) -> Change:
    def rates(a: int, b: int) -> tuple[float, float]:
        total = sum((daily[d] for d in range(a, b)), np.zeros(4, np.int64))
        return total[1] / total[3], total[2] / total[0]  # observed over logged sessions

    bo, bb = rates(*windows.before)
    ao, ab = rates(*windows.after)
    return Change(bo, ao, bb, ab)


def resolved_faults(scenario: Scenario) -> dict[str, FaultBase]:
    return dict(zip(scenario.fault_ids(), scenario.faults, strict=True))


@dataclass
class Counterfactuals:
    """The metric's change for every subset of faults switched on."""

    changes: dict[frozenset[str], Change]
    simulated_hours: int
    single_run_hours: int

    @property
    def cost_ratio(self) -> float:
        """Hours simulated for all branches, relative to one straight run of the period."""
        return self.simulated_hours / self.single_run_hours


def _branch_streams(streams: Streams, crn: bool, label: frozenset[str]) -> Streams:
    if crn:
        return streams
    salt = sum(hash_id(x) for x in sorted(label)) + 1
    return Streams(streams.seed * 7_919 + salt)


def hash_id(text: str) -> int:
    from sim.rng import stable_hash

    return stable_hash(text) % 1_000_003


@dataclass
class Fork:
    """An engine paused at an hour, as data: what a task needs to go on from there."""

    state: EngineState
    streams: Streams
    period: Period
    hour: int
    luck: tuple[int, Streams] | None
    daily: dict[int, np.ndarray]

    @classmethod
    def of(cls, engine: Engine) -> Fork:
        daily = engine.sink.daily  # type: ignore[attr-defined]
        return cls(
            engine.state, engine.streams, engine.period, round(engine.env.now), engine.luck, daily
        )

    def resume(self, faults: dict[str, FaultBase]) -> Engine:
        """A new engine from this point (a copy of the state: the fork stays reusable)."""
        sink = MetricSink()
        sink.daily = copy.deepcopy(self.daily)
        return Engine(
            copy.deepcopy(self.state),
            self.streams,
            self.period,
            sink,
            faults,
            start_hour=self.hour,
            luck=self.luck,
        )


@dataclass(frozen=True)
class Branch:
    """One subset of faults to switch on, each at its onset (in onset order)."""

    order: tuple[str, ...]
    faults: dict[str, FaultBase]
    on: frozenset[str]
    crn: bool
    windows: Windows


def run_branch(root: Fork, branch: Branch) -> tuple[Change, int]:
    """Task: one counterfactual branch from the root to the period's end; its change and
    the hours it simulated. At each onset the engine is re-made with the faults so far
    (`switch_on`, the factual run's schedule), so the subset's draws do not depend on how
    branches are run."""
    engine = switch_on(
        root.resume({}),
        branch.faults,
        branch.on,
        lambda streams, label: _branch_streams(streams, branch.crn, label),
    )
    change = measure(engine.sink.daily, branch.windows)  # type: ignore[attr-defined]
    return change, root.period.days * 24 - root.hour


class FactualTap(Tap):
    """What a case's factual run hands its key: the root (a copy of the engine at the
    earliest onset, before any fault is in it) and the all-faults branch's metric sums (the
    run's own, to its end)."""

    def __init__(self) -> None:
        self.metrics = MetricSink()
        self.root: Fork | None = None
        super().__init__(self.metrics, self._fork)

    def _fork(self, engine: Engine) -> None:
        self.root = Fork(
            copy.deepcopy(engine.state),
            engine.streams,
            engine.period,
            round(engine.env.now),
            engine.luck,
            copy.deepcopy(self.metrics.daily),
        )

    def full(self) -> dict[int, np.ndarray]:
        """The all-faults branch's daily sums (once the run is over)."""
        return self.metrics.daily


def counterfactual_branches(
    scenario: Scenario,
    size: Size,
    seed: int,
    faults: dict[str, FaultBase] | None = None,
    crn: bool = True,
    progress: Callable[[int], None] | None = None,
) -> tuple[Fork, list[Branch]]:
    """Simulate the shared part (up to the earliest onset) here; the branches to run from it,
    every subset of faults in a fixed order."""
    faults = resolved_faults(scenario) if faults is None else faults
    streams, state = warm_world(scenario, size, seed)
    root = case_engine(scenario, streams, state, MetricSink(), progress=progress)
    root.run(first_onset(faults, plan(scenario).current))
    return Fork.of(root), branches_of(scenario, faults, crn)


def branches_of(scenario: Scenario, faults: dict[str, FaultBase], crn: bool) -> list[Branch]:
    """Every subset of faults, in a fixed order (the empty one first, all of them last)."""
    order = onset_order(faults)
    windows = Windows.of(scenario)
    subsets = [
        frozenset(c) for r in range(len(order) + 1) for c in itertools.combinations(order, r)
    ]
    return [Branch(order, faults, s, crn, windows) for s in subsets]


def _hours_done(progress: Callable[[int], None] | None) -> Callable[[Any], None] | None:
    """Progress as tasks finish: a task's result ends with the hours it simulated."""
    return None if progress is None else (lambda result: progress(result[-1]))


def run_counterfactuals(
    scenario: Scenario,
    size: Size,
    seed: int,
    faults: dict[str, FaultBase] | None = None,
    crn: bool = True,
    progress: Callable[[int], None] | None = None,
    tasks: Tasks = SERIAL,
) -> Counterfactuals:
    """Simulate every subset of faults from the earliest onset on (no tables written)."""
    root, branches = counterfactual_branches(scenario, size, seed, faults, crn, progress)
    shared = tasks.share(root)
    pending = [tasks.submit(run_branch, b, shared) for b in branches]
    return _merge(root, branches, tasks.gather(pending, _hours_done(progress)))


def _merge(
    root: Fork, branches: list[Branch], results: list[tuple[Change, int]]
) -> Counterfactuals:
    changes = {b.on: change for b, (change, _) in zip(branches, results, strict=True)}
    hours = root.hour + sum(h for _, h in results)
    return Counterfactuals(changes, hours, root.period.days * 24)


def shapley(values: dict[frozenset[str], float], players: list[str]) -> dict[str, float]:
    """Exact Shapley values of a set function given on every subset."""
    k = len(players)
    out = {}
    for p in players:
        others = [q for q in players if q != p]
        total = 0.0
        for r in range(k):
            weight = math.factorial(r) * math.factorial(k - r - 1) / math.factorial(k)
            for subset in itertools.combinations(others, r):
                s = frozenset(subset)
                total += weight * (values[s | {p}] - values[s])
        out[p] = total
    return out


def run_trial(root: Fork, arg: tuple[dict[str, FaultBase], Windows]) -> tuple[float, int]:
    """Task: one calibration trial, the faults at trial severities from the root on."""
    faults, windows = arg
    engine = root.resume(faults)
    engine.run()
    change = measure(engine.sink.daily, windows).observed  # type: ignore[attr-defined]
    return change, root.period.days * 24 - root.hour


@dataclass
class CalibrationReport:
    severities: dict[str, float]
    change: float
    evaluations: list[tuple[float, float]] = field(default_factory=list)  # (scale, change)


class CalibrationError(ValueError):
    pass


def _solve(
    fn: Callable[[list[float]], list[float]],
    target: float,
    lo: float,
    hi: float,
    tol: float,
    max_evaluations: int,
) -> tuple[float, float, list[tuple[float, float]]]:
    """x in [lo, hi] with f(x) within tol of target (regula falsi guarded by bisection; f is
    smooth and monotone on the stable-truth simulator). `fn` evaluates f at several points
    at once (the bracket's two ends run side by side). Returns x, f(x) and every trial.
    Raises CalibrationError when the target is out of reach or no trial lands."""
    trials: list[tuple[float, float]] = []

    def at(*xs: float) -> list[float]:
        values = fn(list(xs))
        trials.extend(zip(xs, values, strict=True))
        return values

    f_lo, f_hi = at(lo, hi)
    if not min(f_lo, f_hi) - tol <= target <= max(f_lo, f_hi) + tol:
        raise CalibrationError(
            f"target {target:+.2%} is out of reach: {f_lo:+.2%} at the low end and "
            f"{f_hi:+.2%} at the high end"
        )
    best = min(((lo, f_lo), (hi, f_hi)), key=lambda e: abs(e[1] - target))
    span = hi - lo
    for _ in range(max_evaluations):
        if abs(best[1] - target) <= tol / 3 or hi - lo < 1e-3 * span:
            break
        mid = lo + (target - f_lo) * (hi - lo) / (f_hi - f_lo) if f_hi != f_lo else (lo + hi) / 2
        if not lo + 0.05 * (hi - lo) < mid < hi - 0.05 * (hi - lo):
            mid = (lo + hi) / 2
        (f_mid,) = at(mid)
        if abs(f_mid - target) < abs(best[1] - target):
            best = (mid, f_mid)
        if (f_mid - target) * (f_lo - target) > 0:
            lo, f_lo = mid, f_mid
        else:
            hi, f_hi = mid, f_mid
    if abs(best[1] - target) > tol:
        shown = ", ".join(f"{x:.3f}->{v:+.2%}" for x, v in trials)
        raise CalibrationError(
            f"could not land on {target:+.2%}: best was {best[1]:+.2%} (trials: {shown})"
        )
    return best[0], best[1], trials


def calibrate(
    scenario: Scenario,
    size: Size,
    seed: int,
    progress: Callable[[int], None] | None = None,
    max_evaluations: int = 20,
    tasks: Tasks = SERIAL,
) -> tuple[Scenario, CalibrationReport]:
    """Find the severities of `severity: auto` faults that land the observed change on the
    scenario's target.

    Without declared shares, auto faults get severity = scale × strength and one scale is
    searched. When they declare `share:` (all of them must), the severities are solved
    jointly for the split and the target: each fault alone is first set to explain its share
    of the target, then one common scale lands the total. The pre-onset world is simulated
    once; each trial forks it and runs the rest as a task (a bracket's two ends together).
    """
    auto = [i for i, f in enumerate(scenario.faults) if f.is_auto]
    if not auto:
        return scenario, CalibrationReport({}, float("nan"))
    if scenario.target is None:
        raise CalibrationError("severity auto needs a target (the scenario declares none)")
    target, tol = scenario.target.change, scenario.target.tolerance
    ids = scenario.fault_ids()
    declared = [i for i in auto if scenario.faults[i].share is not None]
    if declared and len(declared) != len(auto):
        missing = ", ".join(ids[i] for i in auto if i not in declared)
        raise CalibrationError(f"declare share on every auto fault or on none (missing: {missing})")
    period = plan(scenario).current
    streams, state = warm_world(scenario, size, seed)
    first = min(onset_hour(f, period) for f in scenario.faults)
    root = case_engine(scenario, streams, state, MetricSink(), progress=progress)
    root.run(first)
    windows = Windows.of(scenario)
    report = CalibrationReport({}, float("nan"))
    shared = tasks.share(Fork.of(root))

    def resolve(severities: dict[int, float]) -> Scenario:
        faults = list(scenario.faults)
        for i in auto:
            faults[i] = faults[i].with_severity(severities.get(i, 0.0))
        return scenario.model_copy(update={"faults": faults})

    known: dict[tuple[float, ...], float] = {}  # a trial's change by its auto severities

    def changes_with(trials: list[dict[int, float]]) -> list[float]:
        """The changes of these severities; a trial already run (the all-zero one starts the
        baseline and each share's search) is not run again: the same severities give the
        same change, draw for draw."""
        keys = [tuple(sev.get(i, 0.0) for i in auto) for sev in trials]
        todo = {key: sev for key, sev in zip(keys, trials, strict=True) if key not in known}
        args = [(resolved_faults(resolve(sev)), windows) for sev in todo.values()]
        results = tasks.map(run_trial, args, shared, _hours_done(progress))
        known.update(zip(todo, (change for change, _ in results), strict=True))
        return [known[key] for key in keys]

    def change_with(severities: dict[int, float]) -> float:
        return changes_with([severities])[0]

    if declared:
        baseline = change_with({})
        base = {}
        for i in auto:
            fault = scenario.faults[i]
            want = baseline + fault.share * (target - baseline)  # type: ignore[operator]
            sev, _, trials = _solve(
                lambda xs, i=i: changes_with([{i: x} for x in xs]),
                want,
                0.0,
                1.0,
                tol / 2,
                max_evaluations,
            )
            report.evaluations += trials
            base[i] = sev
    else:
        top = 1.0 / max(scenario.faults[i].strength for i in auto)
        base = {i: top * scenario.faults[i].strength for i in auto}
    ceiling = 1.0 / max(base.values()) if max(base.values()) > 0 else 1.0
    scale, value, trials = _solve(
        lambda xs: changes_with([{i: x * base[i] for i in auto} for x in xs]),
        target,
        0.0,
        ceiling,
        tol,
        max_evaluations,
    )
    report.evaluations += trials
    resolved = resolve({i: scale * base[i] for i in auto})
    report.severities = {
        ids[i]: float(resolved.faults[i].severity)  # type: ignore[arg-type]
        for i in auto
    }
    report.change = value
    return resolved, report


REPLICATE_STRIDE = 1_000_003
T_95 = (6.314, 2.920, 2.353, 2.132, 2.015, 1.943, 1.895, 1.860, 1.833, 1.812)  # t(0.95, df)


def replicate_seeds(seed: int, replicates: int) -> list[int]:
    """Other worlds of the same scenario: seeds derived from the case's own."""
    return [(seed + i * REPLICATE_STRIDE) % 2**32 for i in range(1, replicates + 1)]


def effects(scenario: Scenario, cf: Counterfactuals) -> dict[str, float]:
    """Each fault's Shapley effect on the observed change, the noise entry's, and the total."""
    players = sorted(resolved_faults(scenario))
    out = shapley({s: c.observed for s, c in cf.changes.items()}, players)
    out["noise"] = cf.changes[frozenset()].observed
    out["total"] = cf.changes[frozenset(players)].observed
    return out


def replicate_world(_: None, arg: tuple[Scenario, Size, int]) -> tuple[dict[str, float], int]:
    """Task: the effects in one other world (its own warm world and branches, in the
    worker); and the hours it simulated."""
    scenario, size, seed = arg
    cf = run_counterfactuals(scenario, size, seed)
    return effects(scenario, cf), cf.simulated_hours


def replicate_effects(
    scenario: Scenario,
    size: Size,
    seed: int,
    replicates: int,
    progress: Callable[[int], None] | None = None,
    tasks: Tasks = SERIAL,
) -> list[dict[str, float]]:
    """The effects in `replicates` other worlds (other seeds, the seed's own luck), with the
    scenario's severities: what each cause does in expectation, not in this realization."""
    plain = scenario.model_copy(update={"luck": 0})
    args = [(plain, size, s) for s in replicate_seeds(seed, replicates)]
    return [e for e, _ in tasks.map(replicate_world, args, None, _hours_done(progress))]


def key_runs(
    scenario: Scenario,
    size: Size,
    seed: int,
    replicates: int = 0,
    progress: Callable[[int], None] | None = None,
    tasks: Tasks = SERIAL,
    factual: FactualTap | None = None,
) -> tuple[Counterfactuals, list[dict[str, float]]]:
    """Everything the answer key needs: this world's branches and the replicate worlds.

    The replicate worlds are submitted first, so the workers build them while this process
    simulates the branches' shared part; then the branches join them. Results are merged in
    a fixed order, so the key does not depend on the backend or the number of workers.

    With `factual` (the tap of this case's run, over), the root and the all-faults branch
    are the run's own: neither is simulated again. Their hours still count in the key's
    `counterfactual_cost`, which is the method's cost in simulated hours, not this call's."""
    plain = scenario.model_copy(update={"luck": 0})
    others = [
        tasks.submit(replicate_world, (plain, size, s)) for s in replicate_seeds(seed, replicates)
    ]
    reused: list[tuple[Change, int]] = []
    if factual is None:
        root, branches = counterfactual_branches(scenario, size, seed, progress=progress)
        simulated = branches
    else:
        root, branches = factual.root, branches_of(scenario, resolved_faults(scenario), True)
        if root is None or root.hour != first_onset(branches[-1].faults, root.period):
            raise ValueError("the factual run did not stop at this scenario's earliest onset")
        # The last branch, every fault on, is the factual run: its sums to the period's end.
        simulated = branches[:-1]
        change = measure(factual.full(), branches[-1].windows)
        reused = [(change, root.period.days * 24 - root.hour)]
    shared = tasks.share(root)
    mine = [tasks.submit(run_branch, b, shared) for b in simulated]
    results = tasks.gather(others + mine, _hours_done(progress))
    cf = _merge(root, branches, results[len(others) :] + reused)
    return cf, [e for e, _ in results[: len(others)]]


def expectation(values: list[float], total: float) -> dict[str, Any]:
    """Mean effect over worlds with a 90% t-interval, and as a share of the mean change."""
    n = len(values)
    mean = sum(values) / n
    half = 0.0
    if n > 1:
        sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
        half = T_95[min(n - 2, len(T_95) - 1)] * sd / math.sqrt(n)
    scale = 1.0 / total if total else 0.0
    return {
        "worlds": n,
        "effect": mean,
        "interval": [mean - half, mean + half],
        "share": mean * scale,
        "share_interval": sorted([(mean - half) * scale, (mean + half) * scale]),
    }


def answer_key(
    scenario: Scenario,
    size: Size,
    seed: int,
    cf: Counterfactuals,
    replicates: list[dict[str, float]] | None = None,
) -> dict[str, Any]:
    """The answer key: each fault's share of the change (and the noise entry's), and, with
    replicate worlds, each one's expected effect and share with a 90% interval."""
    faults = resolved_faults(scenario)
    players = sorted(faults)
    full = cf.changes[frozenset(players)]
    none = cf.changes[frozenset()]
    obs = shapley({s: c.observed for s, c in cf.changes.items()}, players)
    bus = shapley({s: c.business for s, c in cf.changes.items()}, players)
    control = scenario.target is None
    windows = Windows.of(scenario)

    def share(effect: float, total: float) -> float:
        return 0.0 if control or total == 0 else effect / total

    causes = []
    for fid in players:
        fault = faults[fid]
        causes.append(
            {
                "id": fid,
                "type": fault.type,
                "decoy": fault.decoy,
                "share": share(obs[fid], full.observed),
                "business_share": share(bus[fid], full.business),
                "effect": obs[fid],
                "business_effect": bus[fid],
                "hit_set": fault.hits(),
                "onset": fault.at.isoformat(),
                "scope": fault.scope.describe(),
                "severity": fault.severity,
                "evidence": fault.evidence,
                "changelog": fault.changelog,
            }
        )
    causes.append(
        {
            "id": "noise",
            "type": "noise",
            "decoy": False,
            "share": 1.0 if control else share(none.observed, full.observed),
            "business_share": 1.0 if control else share(none.business, full.business),
            "effect": none.observed,
            "business_effect": none.business,
            "hit_set": ["NOISE"],
            # NOISE is a claim about the whole change: it is a slice to find only in a control
            # case; in a real drop its remainder counts as "unexplained" in the diagnosis.
            "ordered": control,
            "onset": None,
            "scope": {},
            "severity": None,
            "evidence": (
                "With every change switched off the metric still moves this much: ordinary "
                "week-to-week variance."
            ),
            "changelog": None,
        }
    )
    if replicates:
        worlds = [effects(scenario, cf), *replicates]
        mean_total = sum(w["total"] for w in worlds) / len(worlds)
        for cause in causes:
            values = [w[cause["id"]] for w in worlds]
            cause["expected"] = expectation(values, 0.0 if control else mean_total)
    causes.sort(key=lambda c: -c["share"])
    target = scenario.target
    return {
        "scenario": scenario.id,
        "seed": seed,
        "size": size.name,
        "metric": scenario.metric,
        "windows": windows.dates(scenario.start),
        "observed_change": full.observed,
        "business_change": full.business,
        "before": {"observed": full.before_observed, "business": full.before_business},
        "after": {"observed": full.after_observed, "business": full.after_business},
        "control": control,
        "target": target.model_dump() if target else None,
        "within_target": bool(abs(full.observed - target.change) <= target.tolerance)
        if target
        else None,
        "causes": causes,
        "method": (
            f"exact Shapley values over all {len(cf.changes)} subsets of {len(players)} "
            "changes, with common random numbers"
        ),
        "counterfactual_cost": round(cf.cost_ratio, 2),
        "teaching": scenario.teaching,
    }
