"""The cube's integer-coded grouping: keys in the cube's sort order, exact packed sums."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from readout.cube_keys import group_key, labelled, pack_counts


def test_group_keys_are_coded_in_the_cube_sort_order():
    """Codes follow the labels' order (text, `tier 10` before `tier 2`, nulls first), so a
    grid of keys comes out sorted; every row's code points at its own values."""
    frame = pl.DataFrame(
        {
            "platform": pl.Series(["ios", None, "android", "ios", "web"], dtype=pl.Categorical),
            "city_tier": pl.Series([2, 10, None, 2, 1], dtype=pl.Int8),
            "date": pl.Series([3, 1, 2, 3, 1], dtype=pl.Int32).cast(pl.Date),
        }
    )
    for columns in (["platform"], ["city_tier"], ["date"], frame.columns):
        key = group_key(frame.select(columns))
        labels = labelled(key.values)
        assert labels.equals(labels.sort(columns))
        assert key.values.height == frame.select(columns).n_unique()
        assert key.values[key.codes].equals(frame.select(columns))


def test_packed_sums_are_the_integer_sums():
    rng = np.random.default_rng(3)
    groups = rng.integers(0, 50, 10_000)
    measures = {
        "flags": rng.integers(0, 2, 10_000),
        "counts": rng.integers(0, 300, 10_000),
        "big": rng.integers(0, 2**38, 10_000),  # too wide to share a weight with the others
        "zeros": np.zeros(10_000, dtype=np.int64),
    }
    sums = pack_counts(measures).sums(lambda w: np.bincount(groups, weights=w, minlength=50))
    for name, values in measures.items():
        expected = np.zeros(50, dtype=np.int64)
        np.add.at(expected, groups, values)
        assert (sums[name] == expected).all(), name
    with pytest.raises(ValueError, match="not a count"):
        pack_counts({"negative": np.array([-1, 2])})
