"""The cube's fast paths against the plain computation, on small hand-made inputs: the feed's
latest categories handing over to the sort-and-join way mid-run, impressions counted hour by
hour or row by row."""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow.parquet as pq
from polars.testing import assert_frame_equal

from readout import cube
from readout.cube_keys import Grid
from tests.readout.cube_reference import whole_table_feed


def _write_feed(tmp_path, rows, groups):
    frame = pl.DataFrame(
        rows, schema=["snapshot", "item_id", "category", "price"], orient="row"
    ).with_columns(
        pl.col("snapshot", "item_id").cast(pl.Int32),
        pl.col("category").cast(pl.Categorical),
        pl.col("price").cast(pl.Float32),
        taken_at=pl.from_epoch(pl.col("snapshot").cast(pl.Int64) * 3600, "s"),
        in_stock=pl.col("item_id") % 2 == 0,
        seller_rating=pl.lit(4.5, pl.Float32),
        image_score=pl.col("price") / 10,
        title_score=pl.lit(0.5, pl.Float32),
    )
    (tmp_path / "tables").mkdir()
    path = tmp_path / "tables" / "feed_snapshots.parquet"
    table = frame.to_arrow()
    with pq.ParquetWriter(path, table.schema) as writer:
        for snapshots in groups:
            writer.write_table(frame.filter(pl.col("snapshot").is_in(snapshots)).to_arrow())


def test_feed_hands_latest_categories_to_the_sort_and_join_way(tmp_path, monkeypatch):
    """Span 1 in snapshot and item order takes the table by item id; span 2 repeats an item
    in a snapshot, so it sorts and joins with the table as a frame (`LatestCategory.frame`),
    and so does span 3 after it: moves against span 1's categories, a null category (no
    move) and the repeat count as in the whole-table computation."""
    cats = {
        (0, 0): "a", (0, 1): "a", (0, 2): "b", (0, 3): None, (0, 4): "c",
        (1, 0): "b", (1, 1): "a", (1, 2): "b", (1, 3): None, (1, 4): "c",
        (2, 0): "b", (2, 1): "c", (2, 2): "a", (2, 3): "a", (2, 4): "c",
        (3, 0): "a", (3, 1): "c", (3, 2): "a", (3, 3): "a",
        (4, 0): "a", (4, 1): "a", (4, 2): "b", (4, 3): "a", (4, 4): "c",
    }  # fmt: skip
    rows = [(s, i, c, float(s + i)) for (s, i), c in cats.items()]
    rows.insert(rows.index((2, 2, "a", 4.0)), (2, 2, "a", 9.0))  # item 2 twice in snapshot 2
    _write_feed(tmp_path, rows, [(0, 1), (2, 3), (4,)])  # span 3 in order again
    frames = []
    frame = cube.LatestCategory.frame

    def recorded(self, dtype):
        frames.append(frame(self, dtype))
        return frames[-1]

    monkeypatch.setattr(cube.LatestCategory, "frame", recorded)
    hist, summary = cube.feed_tables(tmp_path)
    ref_hist, ref_summary = whole_table_feed(tmp_path)
    assert_frame_equal(hist, ref_hist, check_exact=True)
    assert_frame_equal(summary, ref_summary, check_exact=True)
    assert len(frames) == 1  # handed over once, at span 2
    latest = frames[0].with_columns(pl.col("last").cast(pl.String)).sort("item_id")
    assert latest.rows() == [(i, cats[1, i], True) for i in range(5)]
    moved = summary.group_by("snapshot").agg(pl.col("moved_in").sum()).sort("snapshot")
    assert moved["moved_in"].to_list() == [0, 1, 2, 1, 2]


def _plain_shown(hour, lengths, item, size, grid):
    """Impressions per (hour, item) code, row by row."""
    rows = np.repeat(hour, lengths)
    known = (rows >= 0) & (item >= 0)
    return np.bincount(rows[known] * size + item[known], minlength=grid.size)


def test_impressions_are_counted_hour_by_hour_or_row_by_row_alike():
    """In hour order with every item known, each hour's rows are one slice; otherwise (hours
    out of order, an unknown item) row by row: both are the plain per-row counts."""
    rng = np.random.default_rng(2)
    size, hours = 4, 5
    grid = Grid(pl.DataFrame({"hour": range(hours)}), pl.DataFrame({"item": range(size)}))
    ordered = np.sort(rng.integers(-1, hours, 40))  # -1: a run of no known session
    lengths = rng.integers(0, 6, 40)
    item = rng.integers(0, size, int(lengths.sum()))
    unknown = item.copy()
    unknown[::7] = -1
    shuffled = rng.permutation(ordered)
    for hour, items in ((ordered, item), (ordered, unknown), (shuffled, item)):
        found = cube._shown(hour, lengths, items, size, grid)
        assert found.tolist() == _plain_shown(hour, lengths, items, size, grid).tolist()
        assert found.sum() == ((np.repeat(hour, lengths) >= 0) & (items >= 0)).sum() > 0


def test_bucket_keys_code_each_column_by_its_values():
    """Codes of several columns under one key, by the range of codes (no null) or by
    `group_key` (a null): each row's code points at its own value, values in order."""
    a = pl.Series([3, 7, 5], dtype=pl.Int16)
    b = pl.Series([9, 3], dtype=pl.Int16)
    for columns in ([a, b], [a, pl.Series([None, 4], dtype=pl.Int16)], [a[:0], b[:0]]):
        values, codes, low = cube.bucket_key(columns, "bucket")
        assert values.columns == ["bucket"] and values["bucket"].dtype == pl.Int16
        for column, code in zip(columns, codes, strict=True):
            assert values["bucket"][code - low].to_list() == column.to_list()
        present = values["bucket"].drop_nulls().to_list()
        assert present == sorted(present) and values["bucket"].null_count() <= 1
    values, _, _ = cube.bucket_key([a, b], "bucket")
    assert values["bucket"].to_list() == list(range(3, 10))  # every code between, for a grid
