"""Latency percentiles read from the cube's log-bucket histograms.

The cube stores request counts per log-spaced latency bucket (20 per decade, so a bucket
is about 12% wide); a percentile is found by walking the cumulative counts and
interpolating geometrically inside the bucket, accurate to a few percent.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from readout.cube import bucket_bounds


def percentile(buckets: np.ndarray, counts: np.ndarray, q: float) -> float:
    """The q-quantile (0 < q < 1) of a histogram over bucket codes."""
    b, where = np.unique(np.asarray(buckets), return_inverse=True)
    c = np.bincount(where.ravel(), weights=np.asarray(counts, dtype=np.float64), minlength=len(b))
    total = c.sum()
    if total <= 0:
        return float("nan")
    cum = np.cumsum(c)
    i = int(np.searchsorted(cum, q * total, side="left"))
    i = min(i, len(b) - 1)
    lo, hi = bucket_bounds(b[i : i + 1])
    before = cum[i] - c[i]
    frac = (q * total - before) / c[i] if c[i] else 0.5
    return float(lo[0] * (hi[0] / lo[0]) ** frac)


def percentiles(
    hist: pl.DataFrame, by: Sequence[str], qs: Sequence[float], count: str = "requests"
) -> pl.DataFrame:
    """Percentiles per group of a histogram frame (columns: by..., bucket, count).

    Returns one row per group with a column `p50`, `p90`... per q and the request total.
    """
    rows = []
    grouped = (
        hist.group_by(list(by), maintain_order=True).agg(pl.col("bucket"), pl.col(count))
        if by
        else hist.select(pl.col("bucket").implode(), pl.col(count).implode())
    )
    for rec in grouped.iter_rows(named=True):
        b = np.asarray(rec["bucket"])
        c = np.asarray(rec[count], dtype=np.float64)
        row = {k: rec[k] for k in by}
        row["requests"] = float(c.sum())
        for q in qs:
            row[label(q)] = percentile(b, c, q)
        rows.append(row)
    schema = {
        **{k: hist.schema[k] for k in by},
        "requests": pl.Float64,
        **{label(q): pl.Float64 for q in qs},
    }
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)


def label(q: float) -> str:
    """0.5 -> 'p50', 0.99 -> 'p99', 0.999 -> 'p99.9'."""
    text = f"{q * 100:.1f}".rstrip("0").rstrip(".")
    return f"p{text}"
