"""Running a scenario end to end: world, last year's reference weeks, the case period, tables.

This is the one place that knows the order of a run; the CLI, the answer key and the
benchmarks all call `simulate`.
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import gc
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from runfolder.layout import CASE_FILE
from sim import calendar
from sim.changelog import logged_at, stream_key
from sim.engine import (
    Engine,
    EngineState,
    HourResult,
    NullSink,
    Period,
    Sink,
    initial_state,
)
from sim.experiments import Experiment, assignments_table, experiments_table
from sim.faults.base import FaultBase
from sim.output import (
    ParquetSink,
    app_version_codes,
    app_version_names,
    atomic_folder,
    write_manifest,
)
from sim.rng import Streams
from sim.scenario import Scenario
from sim.world import CATEGORIES, DEVICES, NETWORKS, PLATFORMS, SHOP_TYPES, Size, World, make_world

Progress = Callable[[int], None]
WARMUP_DAYS = 14  # the ranker, item history and stock settle in about two weeks
YEAR_DAYS = 364  # a year back on the same weekday


@dataclass(frozen=True)
class RunPlan:
    """The periods and experiments of a run, derived from the scenario."""

    current: Period
    reference: Period | None
    experiments: list[Experiment]

    @property
    def total_hours(self) -> int:
        ref = self.reference.days * 24 if self.reference else 0
        return self.current.days * 24 + ref


def plan(scenario: Scenario) -> RunPlan:
    current = Period("current", 0, scenario.start, scenario.days)
    reference = None
    if scenario.reference_days:
        ref_start = calendar.reference_start(scenario.start, scenario.days, scenario.reference_days)
        reference = Period("reference", 1, ref_start, scenario.reference_days)
    neutral = Experiment(
        experiment_id="exp_feed_card_v2",
        name="Feed card layout v2 (rounded corners, larger price)",
        owner="feed-growth",
        start=scenario.start_time + timedelta(days=5, hours=10),
        end=None,
        traffic=0.2,
    )
    # A fault's A/B test (harmful_experiment) runs beside it, bucketed the same way.
    added = [f.experiment() for f in scenario.faults if hasattr(f, "experiment")]
    return RunPlan(current, reference, [neutral, *added])


def fault_map(scenario: Scenario) -> dict[str, FaultBase]:
    return dict(zip(scenario.fault_ids(), scenario.faults, strict=True))


def onset_hour(fault: FaultBase, period: Period) -> int:
    """The first engine hour in which the fault can act (levels are set at each hour's start)."""
    return max(0, math.ceil(period.hour_of(fault.at) - 1e-9))


def onset_order(faults: dict[str, FaultBase]) -> tuple[str, ...]:
    """Fault ids in the order they switch on (onset, then id)."""
    return tuple(sorted(faults, key=lambda fid: (faults[fid].at, fid)))


def first_onset(faults: dict[str, FaultBase], period: Period) -> int:
    """The hour up to which a case period runs the same with or without its faults: the
    earliest onset (the period's end without faults)."""
    end = period.days * 24
    return min((onset_hour(f, period) for f in faults.values()), default=end)


def switch_on(
    engine: Engine,
    faults: dict[str, FaultBase],
    on: frozenset[str] | None = None,
    restream: Callable[[Streams, frozenset[str]], Streams] | None = None,
) -> Engine:
    """Run the engine to the period's end, switching the faults in `on` (all by default) on
    at their onsets: at each onset the engine is re-made with the faults switched on so far,
    so a fault is not in the engine before its onset. The factual run and every
    counterfactual branch (sim/truth.py) follow this one schedule, so the branch with every
    fault on is the factual run, draw for draw. Returns the engine at the end."""
    period = engine.period
    end = period.days * 24
    label: frozenset[str] = frozenset()
    order = onset_order(faults)
    for fid in order:
        engine.run(min(onset_hour(faults[fid], period), end))
        if on is None or fid in on:
            label = label | {fid}
        active = {f: faults[f] for f in order if f in label}
        engine = engine.fork(engine.sink, active, share_state=True)
        if restream is not None:
            engine.streams = restream(engine.streams, label)
    engine.run()
    return engine


class TeeSink:
    """Hands every hour, row and day to several sinks (the tables' and the key's metric
    sums), in order. Sinks only read what they are given."""

    def __init__(self, *sinks: Sink) -> None:
        self.sinks = sinks

    def hour(self, result: HourResult, state: EngineState) -> None:
        for sink in self.sinks:
            sink.hour(result, state)

    def rows(self, table: str, columns: dict[str, object]) -> None:
        for sink in self.sinks:
            sink.rows(table, columns)

    def day_end(self, period: Period, day: date) -> None:
        for sink in self.sinks:
            sink.day_end(period, day)


@dataclass
class Tap:
    """What a factual run also feeds, for its answer key: a sink beside the tables' (the
    metric sums) and a call with the case engine paused at the first onset, before any
    fault is in it (the key's counterfactual branches go on from a copy of it)."""

    sink: Sink
    at_first_onset: Callable[[Engine], None]


def reference_faults(scenario: Scenario) -> dict[str, FaultBase]:
    """Calendar effects recur: last year, on the same weekdays (364 days earlier)."""
    return {
        fid: fault.shifted(-YEAR_DAYS)
        for fid, fault in fault_map(scenario).items()
        if fault.recurs_yearly
    }


def build_world(scenario: Scenario, size: Size, seed: int) -> tuple[Streams, World]:
    streams = Streams(seed)
    return streams, make_world(streams, size, scenario.start, scenario.days)


def warm_state(world: World, streams: Streams, current: Period) -> EngineState:
    """Days of unrecorded marketplace life before the case, so the world starts stationary.

    Without it the first weeks would show the cold-start model learning (conversion rose
    by 5-10% from week 1 to week 2 with six days of warm-up), a trend no real marketplace
    has, and last year's reference weeks would inherit it.
    """
    start = current.start - timedelta(days=WARMUP_DAYS)
    warmup = Engine(
        initial_state(world), streams, Period("warmup", 2, start, WARMUP_DAYS), NullSink()
    )
    warmup.run()
    state = warmup.state
    state.announced.clear()
    return state


def case_luck(scenario: Scenario, streams: Streams) -> tuple[int, Streams] | None:
    """From the before window on, the case period draws with the scenario's luck: the world
    and its history up to the windows stay the same whatever luck a case picks."""
    if not scenario.luck:
        return None
    before_start = scenario.days - scenario.windows.after_days - scenario.windows.before_days
    return before_start * 24, streams.lucky(scenario.luck)


def case_engine(
    scenario: Scenario,
    streams: Streams,
    state: EngineState,
    sink: Sink,
    faults: dict[str, FaultBase] | None = None,
    progress: Progress | None = None,
) -> Engine:
    """The engine of a case period, with the case's luck from the before window on."""
    return Engine(
        state,
        streams,
        plan(scenario).current,
        sink,
        faults,
        on_hour=progress,
        luck=case_luck(scenario, streams),
    )


_WARM: dict[tuple[object, ...], EngineState] = {}


def warm_world(scenario: Scenario, size: Size, seed: int) -> tuple[Streams, EngineState]:
    """The world and its warmed-up state at the case's start: built once per case in a
    process (calibration, the run and the counterfactual branches fork copies of it)."""
    key = (seed, size, scenario.start, scenario.days)
    if key not in _WARM:
        streams, world = build_world(scenario, size, seed)
        _WARM.clear()  # one case at a time: a warm state is tens of MB
        _WARM[key] = warm_state(world, streams, plan(scenario).current)
    return Streams(seed), copy.deepcopy(_WARM[key])


def run_periods(
    scenario: Scenario,
    streams: Streams,
    state: EngineState,
    sink: Sink,
    run_plan: RunPlan,
    progress: Progress | None = None,
    tap: Tap | None = None,
) -> Engine:
    """Simulate the reference weeks (on a copy of the warm state) and the case period, its
    faults switched on at their onsets (`switch_on`); `tap` also gets the case period."""
    if run_plan.reference is not None:
        ref = Engine(
            copy.deepcopy(state),
            streams,
            run_plan.reference,
            sink,
            reference_faults(scenario),
            on_hour=progress,
        )
        ref.run()
    if tap is not None:
        sink = TeeSink(tap.sink, sink)  # the metric sums first: they only read
    engine = case_engine(scenario, streams, state, sink, None, progress)
    for exp in run_plan.experiments:
        # Logged shortly before the split starts, like every other entry (sim/changelog.py).
        rng = streams.generator("changelog.experiment", stream_key(str(exp.experiment_id)))
        engine.sink.rows(
            "changelog",
            {
                "ts": [np.datetime64(logged_at(exp.start, rng), "s")],
                "kind": ["experiment"],
                "service": [exp.owner],
                "title": [
                    f"Experiment {exp.experiment_id} started: {exp.name}, "
                    f"{exp.traffic:.0%} of users"
                ],
                "author": ["experiment-platform"],
            },
        )
    faults = fault_map(scenario)
    if tap is not None:
        engine.run(first_onset(faults, run_plan.current))
        tap.at_first_onset(engine)
    return switch_on(engine, faults)


def world_tables(world: World) -> dict[str, pa.Table]:
    """Users, sellers and items as an analyst sees them: no latent truth."""
    users, sellers, items = world.users, world.sellers, world.items
    epoch = np.datetime64("2000-01-01", "D")
    names = app_version_names()
    return {
        "users": pa.table(
            {
                "user_id": np.arange(users.n, dtype=np.int32),
                "city_tier": users.city_tier,
                "platform": pa.array([PLATFORMS[p] for p in users.platform]).dictionary_encode(),
                "device": pa.array([DEVICES[d] for d in users.device]).dictionary_encode(),
                "network": pa.array([NETWORKS[d] for d in users.network]).dictionary_encode(),
                "app_version": pa.array(
                    [names[c] for c in app_version_codes(users.platform, users.app_minor)]
                ).dictionary_encode(),
                "signup_date": epoch + users.signup.astype("timedelta64[D]"),
            }
        ),
        "sellers": pa.table(
            {
                "seller_id": np.arange(sellers.n, dtype=np.int32),
                "shop_type": pa.array([SHOP_TYPES[t] for t in sellers.shop_type]),
                "category": pa.array([CATEGORIES[c] for c in sellers.category]),
                "rating": np.round(sellers.rating, 2),
            }
        ),
        "items": pa.table(
            {
                "item_id": np.arange(items.n, dtype=np.int32),
                "seller_id": items.seller,
                "category": pa.array([CATEGORIES[c] for c in items.category]),
                "price": items.price,
                "listed_date": epoch + items.listed.astype("timedelta64[D]"),
            }
        ),
    }


def calendar_table(run_plan: RunPlan, scenario: Scenario) -> pa.Table:
    """Days of both periods with their named events (festivals, paydays, seasonal events)."""
    cols: dict[str, list[object]] = {}
    recurring = [f for f in scenario.faults if f.recurs_yearly]
    periods = [p for p in (run_plan.reference, run_plan.current) if p is not None]
    for period in periods:
        rows = calendar.calendar_rows(period.dates(), period.label)
        shift = -YEAR_DAYS if period.label == "reference" else 0
        for i, day in enumerate(period.dates()):
            start = datetime.combine(day, datetime.min.time())
            for fault in recurring:
                moved = fault.shifted(shift)
                if moved.at < start + timedelta(days=1) and (
                    moved.end is None or moved.end > start
                ):
                    name = getattr(fault, "name", fault.type)
                    rows["events"][i] = ", ".join(filter(None, [rows["events"][i], name]))
        for key, values in rows.items():
            cols.setdefault(key, []).extend(values)
    return pa.table(cols)


def write_tables(
    scenario: Scenario,
    size: Size,
    seed: int,
    folder: Path,
    run_plan: RunPlan,
    progress: Progress | None = None,
    tap: Tap | None = None,
) -> None:
    """Simulate the run and write its tables into `folder` (and feed `tap`, if given).

    Its own function so that the engine's state, the world and the sink's buffers are
    garbage once it returns: `finish` (the answer key, the cube) runs without them.
    """
    streams, state = warm_world(scenario, size, seed)
    world = state.world
    sink = ParquetSink(folder)
    try:
        run_periods(scenario, streams, state, sink, run_plan, progress, tap)
    except BaseException:
        sink.abort()
        raise
    for name, table in world_tables(world).items():
        sink.write_table(name, table)
    sink.write_table("calendar", calendar_table(run_plan, scenario))
    sink.write_table("experiments", experiments_table(run_plan.experiments))
    sink.write_table("assignments", assignments_table(streams, run_plan.experiments, world.users.n))
    sink.close()


def release_memory() -> None:
    """Give the simulation's memory back before other work in this process (the cube).

    Drops the cached warm world (`warm_world` builds it again if asked), collects cycles,
    and asks glibc to return its freed heap pages: a day's columns are allocated and freed
    on the heap, and the freed pages would otherwise stay in the process's resident set.
    """
    _WARM.clear()
    gc.collect()
    with contextlib.suppress(AttributeError, OSError):  # not glibc: nothing to trim
        ctypes.CDLL(None).malloc_trim(0)


def simulate(
    scenario: Scenario,
    size: Size,
    out: Path,
    seed: int | None = None,
    force: bool = False,
    progress: Progress | None = None,
    finish: Callable[[Path], None] | None = None,
    tap: Tap | None = None,
) -> dict:
    """Run a scenario into a complete run folder at `out`; returns the manifest.

    `finish` may add files (the answer key) to the folder before it is declared complete;
    `tap` is fed by the run before it (the key reuses the run: sim/case.py).
    """
    seed = scenario.seed if seed is None else seed
    run_plan = plan(scenario)
    with atomic_folder(out, force=force) as tmp:
        write_tables(scenario, size, seed, tmp, run_plan, progress, tap)
        (tmp / CASE_FILE).write_text(case_yaml(scenario))
        if finish is not None:
            finish(tmp)
        manifest = write_manifest(
            tmp,
            {
                "scenario": scenario.id,
                "scenario_sha256": scenario.digest(),
                "title": scenario.title,
                "seed": seed,
                "size": size.name,
                "users": size.users,
                "start": scenario.start.isoformat(),
                "days": scenario.days,
                "reference_start": run_plan.reference.start.isoformat()
                if run_plan.reference
                else None,
                "reference_days": scenario.reference_days,
                "metric": scenario.metric,
                "windows": scenario.windows.model_dump(),
            },
        )
    return manifest


def case_yaml(scenario: Scenario) -> str:
    """The candidate-facing part of a scenario (brief, windows): never the faults."""
    import yaml

    public = {
        "id": scenario.id,
        "title": scenario.title,
        "brief": scenario.brief,
        "start": scenario.start.isoformat(),
        "days": scenario.days,
        "metric": scenario.metric,
        "windows": scenario.windows.model_dump(),
    }
    return yaml.safe_dump(public, sort_keys=False, allow_unicode=True)
