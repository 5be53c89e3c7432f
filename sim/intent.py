"""Quiet realizations and the author's intent: what makes a case mean what it was written for.

A realization whose world moves by itself (the null branch, every fault off) as much as the
causes do makes a key that measures luck. The generator therefore tries a bounded number of
draws of chance for the case windows (the scenario's `luck`), on the same world, and keeps
the first whose null branch stays within the scenario's `noise_bound`. Once the key exists,
it is checked against what the author declared: decoys explain (almost) nothing, causes
with a `share` land near it, and the noise stays within its bound. A case that breaks its
intent is refused, naming the cause, instead of shipping a case that teaches otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sim.engine import Engine
from sim.runner import plan, warm_world
from sim.scenario import Scenario
from sim.tasks import SERIAL, Tasks
from sim.truth import Fork, MetricSink, Windows, measure
from sim.world import Size

LUCK_TRIES = 12
DECOY_LIMIT = 0.15  # a decoy's |share| above this explains too much
SHARE_SLACK = 0.15  # a cause's share may miss its intended share by this much


class IntentError(ValueError):
    """The case does not say what its author intended; the message names the cause."""


@dataclass
class QuietSearch:
    """Which luck was kept, and what every tried luck's null branch did."""

    requested: int
    luck: int
    tried: list[tuple[int, float]] = field(default_factory=list)  # (luck, null change)


def try_luck(root: Fork, arg: tuple[int, Windows]) -> tuple[float, int]:
    """Task: the null branch's change with one luck for the case windows; and its hours."""
    luck, windows = arg
    engine = root.resume({})
    engine.streams = root.streams.lucky(luck)
    engine.run()
    change = measure(engine.sink.daily, windows).observed  # type: ignore[attr-defined]
    return change, root.period.days * 24 - root.hour


def quiet_luck(
    scenario: Scenario,
    size: Size,
    seed: int,
    tries: int = LUCK_TRIES,
    progress: Callable[[int], None] | None = None,
    log: Callable[[str], None] | None = None,
    tasks: Tasks = SERIAL,
) -> QuietSearch:
    """The first luck, from the scenario's own on, whose null branch (every fault off) moves
    the metric by at most the scenario's noise bound.

    The world and its history up to the before window are simulated once; each luck only
    re-runs the two windows, so a try costs about a third of a run. Tries run as tasks, as
    many at once as there are workers; the first quiet one in order is kept and the tries
    after it are forgotten, so the choice does not depend on the number of workers."""
    streams, state = warm_world(scenario, size, seed)
    windows = Windows.of(scenario)
    root = Engine(state, streams, plan(scenario).current, MetricSink(), on_hour=progress)
    root.run(windows.before[0] * 24)
    shared = tasks.share(Fork.of(root))
    search = QuietSearch(scenario.luck, scenario.luck)
    lucks = [(scenario.luck + i) % 2**32 for i in range(tries)]
    for at in range(0, tries, tasks.workers):
        batch = lucks[at : at + tasks.workers]
        results = tasks.map(try_luck, [(luck, windows) for luck in batch], shared)
        for luck, (change, hours) in zip(batch, results, strict=True):
            if progress:
                progress(hours)
            search.tried.append((luck, change))
            if log:
                log(f"luck {luck}: the metric moves {change:+.2%} with every change off")
            if abs(change) <= scenario.noise_bound:
                search.luck = luck
                return search
    report = ", ".join(f"{luck}: {c:+.2%}" for luck, c in search.tried)
    raise IntentError(
        f"no quiet realization in {tries} tries at seed {seed}: the metric moves by more than "
        f"±{scenario.noise_bound:.1%} with every change off (luck: change {report}); raise "
        "noise_bound, or try another seed or more tries"
    )


def intent_problems(key: dict[str, Any], scenario: Scenario) -> list[str]:
    """How the key breaks the author's intent (empty when it does not)."""
    problems = []
    by_id = dict(zip(scenario.fault_ids(), scenario.faults, strict=True))
    control = key.get("control")
    for cause in key["causes"]:
        share = cause["share"]
        if cause["id"] == "noise":
            noise = abs(cause["effect"])
            if noise > scenario.noise_bound:
                problems.append(
                    f"noise: the metric moves {cause['effect']:+.2%} with every change off "
                    f"(bound ±{scenario.noise_bound:.1%})"
                )
            continue
        fault = by_id[cause["id"]]
        if control:
            continue
        if fault.decoy and abs(share) > DECOY_LIMIT:
            problems.append(
                f"{cause['id']}: a decoy explains {share:.0%} of the change "
                f"(at most {DECOY_LIMIT:.0%})"
            )
        if fault.share is not None and abs(share - fault.share) > SHARE_SLACK:
            problems.append(
                f"{cause['id']}: explains {share:.0%} of the change, intended {fault.share:.0%} "
                f"(± {SHARE_SLACK:.0%})"
            )
    return problems


def check_intent(key: dict[str, Any], scenario: Scenario) -> None:
    problems = intent_problems(key, scenario)
    if problems:
        raise IntentError("the case breaks its intent: " + "; ".join(problems))
