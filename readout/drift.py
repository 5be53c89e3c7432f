"""Population stability index (PSI) of feed attributes between snapshots.

PSI = Σ_b (p_b − q_b) · ln(p_b / q_b) over the bins of an attribute, p the compared
snapshot's shares and q the baseline's. Rules of thumb: below 0.1 stable, 0.1–0.25 a
moderate shift, above 0.25 a major one. Bins come from the cube (deciles of the first
snapshot); empty bins are floored at a small share so one empty bin cannot dominate.
"""

from __future__ import annotations

import math

import polars as pl

EPSILON = 1e-4
MODERATE = 0.1
MAJOR = 0.25


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
    per_group = ["snapshot", *keys]
    shares = (
        snaps.join(cells, how="cross")
        .join(counts, on=["snapshot", *keys, "bin"], how="left")
        .join(base, on=join_on, how="left")
        .with_columns(pl.col("p", "q").fill_null(0).cast(pl.Float64))
        .with_columns(
            ps=(pl.col("p") / pl.col("p").sum().over(per_group)).clip(EPSILON, None),
            qs=(pl.col("q") / pl.col("q").sum().over(per_group)).clip(EPSILON, None),
        )
    )
    return (
        shares.group_by(["snapshot", "taken_at", *keys])
        .agg(
            psi=((pl.col("ps") - pl.col("qs")) * (pl.col("ps") / pl.col("qs")).log()).sum(),
            items=pl.col("p").sum(),
            baseline_items=pl.col("q").sum(),
        )
        .with_columns(
            psi=pl.when((pl.col("items") > 0) & (pl.col("baseline_items") > 0)).then("psi")
        )
        .sort(["snapshot", *keys])
    )
