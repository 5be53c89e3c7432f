"""Population stability index (PSI) of feed attributes between snapshots.

PSI = Σ_b (p_b − q_b) · ln(p_b / q_b) over the bins of an attribute, p the compared
snapshot's shares and q the baseline's. Rules of thumb: below 0.1 stable, 0.1–0.25 a
moderate shift, above 0.25 a major one. One binning rule everywhere (`decile_edges`,
`bin_counts`): the baseline's deciles, a value falling in bin b when it exceeds b edges; the
cube bins feed snapshots this way and the solver bins raw samples this way. Empty bins are
floored at a small share so one empty bin cannot dominate. `psi` is the one definition; the
table and sample forms only count bins and call it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import polars as pl

EPSILON = 1e-4
MODERATE = 0.1
MAJOR = 0.25
BINS = 10


def decile_edges(values: np.ndarray, bins: int = BINS) -> list[float]:
    """The inner edges of the baseline's quantile bins (deciles), duplicates dropped."""
    values = np.asarray(values, dtype=np.float64)
    if not len(values):
        return []
    return sorted({float(q) for q in np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1])})


def bin_index(values: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    """Each value's bin: how many edges it exceeds (0 .. len(edges))."""
    values = np.asarray(values, dtype=np.float64)
    return (values[:, None] > np.asarray(edges, dtype=np.float64)[None, :]).sum(axis=1)


def bin_counts(values: np.ndarray, edges: Sequence[float]) -> list[float]:
    return np.bincount(bin_index(values, edges), minlength=len(edges) + 1).astype(float).tolist()


def psi_samples(before: pl.Series, after: pl.Series, min_size: int = 20) -> float:
    """PSI of a numeric attribute between two samples, binned on the `before` sample's
    deciles (0 when either sample is too small or the attribute barely varies)."""
    b = before.drop_nulls().cast(pl.Float64).to_numpy()
    a = after.drop_nulls().cast(pl.Float64).to_numpy()
    if len(b) < min_size or len(a) < min_size:
        return 0.0
    edges = decile_edges(b)
    if len(edges) < 2:
        return 0.0
    return psi(bin_counts(a, edges), bin_counts(b, edges))


def psi(p: list[float] | tuple[float, ...], q: list[float] | tuple[float, ...]) -> float:
    """PSI between two share vectors over the same bins (normalised here)."""
    sp, sq = sum(p), sum(q)
    if sp <= 0 or sq <= 0:
        return float("nan")
    total = 0.0
    for a, b in zip(p, q, strict=True):
        pa, qb = max(a / sp, EPSILON), max(b / sq, EPSILON)
        total += (pa - qb) * math.log(pa / qb)
    return total


def psi_table(
    hist: pl.DataFrame, baseline: int | None, by: tuple[str, ...] = ("category",)
) -> pl.DataFrame:
    """PSI of every snapshot against a baseline, per group and attribute.

    `baseline` is a snapshot number, or None to compare each snapshot with the one before it
    (the first snapshot then has no PSI). `hist` has columns snapshot, taken_at, attribute,
    bin, items and the `by` columns. A group with no items on either side gets a null PSI.
    """
    keys = [*by, "attribute"]
    cells = hist.select([*keys, "bin"]).unique()
    snaps = hist.select("snapshot", "taken_at").unique().sort("snapshot")
    counts = hist.group_by(["snapshot", *keys, "bin"]).agg(p=pl.col("items").sum())
    if baseline is None:
        following = snaps.select("snapshot", next=pl.col("snapshot").shift(-1)).drop_nulls()
        base = (
            counts.join(following, on="snapshot")
            .drop("snapshot")
            .rename({"next": "snapshot", "p": "q"})
        )
        join_on = ["snapshot", *keys, "bin"]
        snaps = snaps.slice(1)
    else:
        base = counts.filter(pl.col("snapshot") == baseline).drop("snapshot").rename({"p": "q"})
        join_on = [*keys, "bin"]
    per_group = ["snapshot", "taken_at", *keys]
    shares = (
        snaps.join(cells, how="cross")
        .join(counts, on=["snapshot", *keys, "bin"], how="left")
        .join(base, on=join_on, how="left")
        .with_columns(pl.col("p", "q").fill_null(0).cast(pl.Float64))
        .sort([*per_group, "bin"])
    )
    grouped = shares.group_by(per_group, maintain_order=True).agg(
        pl.col("p"), pl.col("q"), items=pl.col("p").sum(), baseline_items=pl.col("q").sum()
    )
    values = [
        psi(p, q) if items > 0 and base_items > 0 else None
        for p, q, items, base_items in grouped.select(
            "p", "q", "items", "baseline_items"
        ).iter_rows()
    ]
    return (
        grouped.drop("p", "q")
        .with_columns(psi=pl.Series(values, dtype=pl.Float64))
        .select(*per_group, "psi", "items", "baseline_items")
        .sort(["snapshot", *keys])
    )
