"""Experiments and their assignments: the A/B tests running during a case.

Assignment is a hash of (experiment, user), as real bucketing services do, so it is stable
across runs and independent of every random stream. The baseline always runs one neutral
test (its treatment changes nothing), the kind of experiment a candidate must learn to rule out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa

from sim.rng import Streams


@dataclass(frozen=True)
class Experiment:
    experiment_id: str
    name: str
    owner: str
    start: datetime
    end: datetime | None
    traffic: float  # share of users enrolled
    arms: tuple[str, ...] = ("control", "treatment")


def assign(streams: Streams, exp: Experiment, n_users: int) -> tuple[np.ndarray, np.ndarray]:
    """Enrolled user ids and their arm index (uniform split over arms)."""
    u = streams.uniform(f"experiment.{exp.experiment_id}", np.arange(n_users, dtype=np.uint64))
    enrolled = u < exp.traffic
    users = np.flatnonzero(enrolled).astype(np.int32)
    arm = np.minimum((u[enrolled] / exp.traffic * len(exp.arms)).astype(np.int8), len(exp.arms) - 1)
    return users, arm


def experiments_table(exps: list[Experiment]) -> pa.Table:
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
