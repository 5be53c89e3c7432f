"""The cube's integer-coded grouping: keys in the cube's sort order, exact packed sums; each
fast path (tables by value, renumbering, joint counts) against the plain computation."""

from __future__ import annotations

import itertools

import numpy as np
import polars as pl
import pytest

from readout.cube_keys import (
    DENSITY,
    TABLE_SLOTS,
    IdIndex,
    combined,
    dense_codes,
    group_key,
    joint_groups,
    labelled,
    pack_counts,
    summed_out,
)


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


def _plain_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dense codes by sorting: each value's rank among the distinct ones, and their values."""
    distinct, codes = np.unique(values, return_inverse=True)
    return codes.reshape(-1), distinct


@pytest.mark.parametrize(
    "values",
    [
        np.array([5, 5, 10**9, 10**9, 10**9, 2 * 10**9, 3 * 10**9]),  # sparse, sorted: no sort
        np.array([10**9, 5, 2 * 10**9, 5, 10**9]),  # sparse, unsorted: np.unique
        np.array([7, -3, 7, 2, -3, 40]),  # dense: a table by value
        np.array([-(10**12), -(10**12), 0, 10**12]),  # sparse, sorted, negative
    ],
)
def test_dense_codes_are_the_ranks_of_the_distinct_values(values):
    codes, rows = dense_codes(values)
    expected, distinct = _plain_codes(values)
    assert codes.tolist() == expected.tolist()
    assert values[rows].tolist() == distinct.tolist()  # a row holding each code
    assert codes[rows].tolist() == list(range(len(distinct)))


def test_combined_keys_renumbered_as_they_grow_keep_their_order():
    """Keys of 30, 30, 30, 30 and 3 values over 2,000 rows: their joint codes run far past
    a table, so they are renumbered on the way (twice), with rows still alike on the keys
    before; every distinct row once, in the keys' order."""
    rng = np.random.default_rng(5)
    sizes = (30, 30, 30, 30, 3)
    frame = pl.DataFrame({f"k{i}": rng.integers(0, size, 2_000) for i, size in enumerate(sizes)})
    keys = [group_key(frame.select(column)) for column in frame.columns]
    assert np.prod([key.size for key in keys]) > max(DENSITY * frame.height, TABLE_SLOTS)
    key = combined(*keys)
    joint = np.stack([k.codes for k in keys], axis=1)
    _, expected = np.unique(joint, axis=0, return_inverse=True)
    assert key.codes.tolist() == expected.reshape(-1).tolist()
    assert key.values.equals(frame.unique().sort(frame.columns))
    assert key.values[key.codes].equals(frame)


@pytest.mark.parametrize(
    "ids",
    [np.array([3, 4, 6, 9, 10]), np.array([-5, 7, 10**6, 10**12])],
    ids=["table", "binary search"],
)
def test_id_index_finds_each_id_and_no_other(ids):
    index = IdIndex(ids)
    assert (index.table is not None) == (ids[-1] - ids[0] <= DENSITY * len(ids))
    queries = np.array([*ids, ids[0] - 1, ids[-1] + 1, ids[-1] + 10**13, 5, 8, 0, -(10**13)])
    position = {int(v): i for i, v in enumerate(ids)}
    expected = [position.get(int(q), -1) for q in queries]
    assert index.positions(queries.copy()).tolist() == expected
    assert IdIndex(ids[:0]).positions(queries).tolist() == [-1] * len(queries)


@pytest.mark.parametrize("most", [1, 12, 100, 10**6])
def test_joint_counts_summed_out_are_each_keys_own_counts(most):
    """Keys packed by `joint_groups`, counted jointly and summed out: each key's counts
    and the total are what one bincount per key gives."""
    rng = np.random.default_rng(11)
    sizes = {"a": 2, "b": 7, "c": 3, "d": 1, "e": 12}
    lead = rng.integers(0, 4, 1_000)
    codes = {name: rng.integers(0, size, 1_000) for name, size in sizes.items()}
    groups = joint_groups(sizes, most)
    assert sorted(itertools.chain(*groups)) == sorted(sizes)
    for group in groups:
        assert len(group) == 1 or np.prod([sizes[n] for n in group]) <= most
    found = {}
    for n, group in enumerate(groups):
        joint = lead
        for name in group:
            joint = joint * sizes[name] + codes[name]
        shape = (4, *(sizes[name] for name in group))
        counts = np.bincount(joint, minlength=int(np.prod(shape))).reshape(shape)
        found.update(summed_out(counts, group, total=n == 0))
    assert sorted(found) == sorted([*sizes, "all"])
    assert found["all"].tolist() == np.bincount(lead, minlength=4)[:, None].tolist()
    for name, size in sizes.items():
        plain = np.bincount(lead * size + codes[name], minlength=4 * size).reshape(4, size)
        assert found[name].tolist() == plain.tolist(), name
