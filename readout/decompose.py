"""Mix versus rate: how much of a ratio metric's change comes from segments' shares moving,
and how much from the metric moving inside segments.

With segment weights w_i (share of the denominator) and rates r_i, the metric is
R = Σ w_i r_i, and its change splits exactly (symmetric, midpoint form) into

- mix_i  = (w1_i − w0_i) · (r̄_i − R̄): a segment gaining share moves R only as far as
  its rate differs from the average (R̄ is the mean of the two windows' totals);
- rate_i = w̄_i · (r1_i − r0_i): the metric moving within the segment, at its mean weight;

and Σ (mix_i + rate_i) = R1 − R0. A drop that is all "rate" in one segment is local; a drop
that is all "mix" is a traffic-composition change, not a product change.
"""

from __future__ import annotations

import polars as pl


def mix_rate(compared: pl.DataFrame, key: str) -> pl.DataFrame:
    """Per segment: weights, rates, and the mix and rate parts of the change.

    `compared` is `metrics.compare(...)` by one key (num_/den_ before/after columns). A
    segment missing from one window takes the other window's rate, so it moves R by mix alone.
    """
    f = compared.select(key, "num_before", "num_after", "den_before", "den_after")
    d0, d1 = f["den_before"].sum(), f["den_after"].sum()
    if d0 <= 0 or d1 <= 0:
        return f.with_columns(
            w_before=pl.lit(0.0),
            w_after=pl.lit(0.0),
            r_before=pl.lit(None, pl.Float64),
            r_after=pl.lit(None, pl.Float64),
            mix=pl.lit(0.0),
            rate=pl.lit(0.0),
            total=pl.lit(0.0),
        )
    r_total0 = f["num_before"].sum() / d0
    r_total1 = f["num_after"].sum() / d1
    r_bar_total = (r_total0 + r_total1) / 2
    r0 = pl.when(pl.col("den_before") > 0).then(pl.col("num_before") / pl.col("den_before"))
    r1 = pl.when(pl.col("den_after") > 0).then(pl.col("num_after") / pl.col("den_after"))
    out = (
        f.with_columns(
            w_before=pl.col("den_before") / d0,
            w_after=pl.col("den_after") / d1,
            r_before=r0.otherwise(r1),
            r_after=r1.otherwise(r0),
        )
        .with_columns(pl.col("r_before", "r_after").fill_null(0.0))
        .with_columns(
            mix=(pl.col("w_after") - pl.col("w_before"))
            * ((pl.col("r_before") + pl.col("r_after")) / 2 - r_bar_total),
            rate=(pl.col("w_before") + pl.col("w_after"))
            / 2
            * (pl.col("r_after") - pl.col("r_before")),
        )
        .with_columns(total=pl.col("mix") + pl.col("rate"))
    )
    return out.sort("total")


def summary(parts: pl.DataFrame) -> dict[str, float]:
    """Total mix, total rate and the change they add up to."""
    mix, rate = float(parts["mix"].sum()), float(parts["rate"].sum())
    return {"mix": mix, "rate": rate, "change": mix + rate}
