"""Experiments and their assignments: the A/B tests running during a case.

Assignment is a hash of (experiment, user), as real bucketing services do, so it is stable
across runs and independent of every random stream. The baseline always runs one neutral
test (its treatment changes nothing), the kind of experiment a candidate must learn to rule out.
A fault may add a test whose treatment does change behaviour (sim/faults/harmful_experiment.py):
its `Treatment` lowers the purchase logit of the treatment arm's users while it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np

from sim.rng import Streams, stable_hash

if TYPE_CHECKING:  # the tables are built in a run only: `validate` loads the faults, not Arrow
    import pyarrow as pa


@dataclass(frozen=True)
class Experiment:
    experiment_id: str
    name: str
    owner: str
    start: datetime
    end: datetime | None
    traffic: float  # share of users enrolled
    arms: tuple[str, ...] = ("control", "treatment")
    # Bucketing salt: None hashes with the run's streams (the baseline's test); a fault's test
    # hashes with its own id, so the fault and the assignments table agree without the seed.
    salted: bool = False


@dataclass(frozen=True)
class Treatment:
    """What a test's treatment does to its users' sessions while it runs."""

    users: np.ndarray  # bool per user: enrolled in the treatment arm
    intent: float  # added to the purchase logit of their clicked items (<= 0 hurts)


def treatment_offset(treatments: tuple[Treatment, ...], user: np.ndarray) -> np.ndarray | float:
    """The purchase-logit change per session's user; 0.0 with no treatment (no draws)."""
    out: np.ndarray | float = 0.0
    for t in treatments:
        out = out + t.intent * t.users[user]
    return out


def assign(streams: Streams, exp: Experiment, n_users: int) -> tuple[np.ndarray, np.ndarray]:
    """Enrolled user ids and their arm index (uniform split over arms)."""
    if exp.salted:
        streams = Streams(stable_hash(f"experiment.{exp.experiment_id}"))
    u = streams.uniform(f"experiment.{exp.experiment_id}", np.arange(n_users, dtype=np.uint64))
    enrolled = u < exp.traffic
    users = np.flatnonzero(enrolled).astype(np.int32)
    arm = np.minimum((u[enrolled] / exp.traffic * len(exp.arms)).astype(np.int8), len(exp.arms) - 1)
    return users, arm


def experiments_table(exps: list[Experiment]) -> pa.Table:
    import pyarrow as pa

    return pa.table(
        {
            "experiment_id": [e.experiment_id for e in exps],
            "name": [e.name for e in exps],
            "owner": [e.owner for e in exps],
            "start": pa.array([e.start for e in exps], pa.timestamp("s")),
            "end": pa.array([e.end for e in exps], pa.timestamp("s")),
            "traffic": [e.traffic for e in exps],
            "arms": [",".join(e.arms) for e in exps],
        }
    )


def assignments_table(streams: Streams, exps: list[Experiment], n_users: int) -> pa.Table:
    import pyarrow as pa

    parts = []
    for exp in exps:
        users, arm = assign(streams, exp, n_users)
        parts.append(
            pa.table(
                {
                    "experiment_id": pa.array([exp.experiment_id] * len(users)),
                    "user_id": users,
                    "arm": pa.array([exp.arms[a] for a in arm]),
                }
            )
        )
    return pa.concat_tables(parts) if parts else pa.table({})


def treated_users(exp: Experiment, n_users: int) -> np.ndarray:
    """A mask of the users in a salted test's last arm (the treatment)."""
    users, arm = assign(Streams(0), exp, n_users)  # salted: the seed plays no part
    mask = np.zeros(n_users, bool)
    mask[users[arm == len(exp.arms) - 1]] = True
    return mask
