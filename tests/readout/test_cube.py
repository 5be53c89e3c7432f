"""The cube agrees with the raw tables, and is written atomically once per run."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

from readout import cube
from readout.tables import scan, session_outcomes
from runfolder import brief
from tests.readout.cube_reference import whole_table_cube, whole_table_feed

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def cube_run(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cube") / "run"
    shutil.copytree(tiny_run, out)
    cube.ensure_cube(out)
    return out


@pytest.fixture(scope="module")
def reference(cube_run: Path) -> dict[str, pl.DataFrame]:
    """The cube of cube_run by the plain polars definitions: computed once for the tests
    that compare with it (they only read it)."""
    return whole_table_cube(cube_run)


def table(run: Path, name: str) -> pl.DataFrame:
    return cube.load_cube(run, name).collect()


def test_session_totals_match_the_tables(cube_run):
    hourly = table(cube_run, "sessions_hourly")
    total = hourly.filter(pl.col("dim") == "all").select(pl.col(cube.SESSION_MEASURES).sum())
    raw = session_outcomes(cube_run).collect()
    assert total["sessions"][0] == raw.height
    assert total["converted"][0] == (raw["tracked_orders"] > 0).sum()
    assert total["converted_ledger"][0] == (raw["ledger_orders"] > 0).sum()
    assert total["impressions"][0] == scan(cube_run, "impressions").select(pl.len()).collect()[0, 0]
    assert total["pages"][0] == scan(cube_run, "requests").select(pl.len()).collect()[0, 0]
    assert total["gmv"][0] == pytest.approx(raw["gmv"].sum(), rel=1e-6)  # float32 amounts


@pytest.mark.parametrize("dim", cube.SESSION_DIMS)
def test_every_dimension_adds_up_to_the_total(cube_run, dim):
    hourly = table(cube_run, "sessions_hourly")
    keys = ["period", "date", "hour"]
    total = hourly.filter(pl.col("dim") == "all").select(*keys, "sessions", "converted")
    by_dim = (
        hourly.filter(pl.col("dim") == dim)
        .group_by(keys)
        .agg(pl.col("sessions", "converted").sum())
    )
    joined = total.join(by_dim, on=keys, suffix="_dim")
    assert joined.height == total.height
    assert (joined["sessions"] == joined["sessions_dim"]).all()
    assert (joined["converted"] == joined["converted_dim"]).all()


def test_daily_cube_matches_the_hourly_one(cube_run):
    daily = table(cube_run, "sessions_daily")
    hourly = table(cube_run, "sessions_hourly").filter(pl.col("dim") == "platform")
    a = daily.group_by("date", "platform").agg(pl.col("sessions", "carts").sum()).sort(pl.all())
    b = (
        hourly.group_by("date", platform="value")
        .agg(pl.col("sessions", "carts").sum())
        .sort(pl.all())
    )
    assert a.equals(b.select(a.columns))
    assert set(daily["city_tier"].unique()) <= {f"tier {t}" for t in range(1, 6)}


def test_item_cube_matches_the_tables(cube_run):
    items = table(cube_run, "items_hourly")
    events = scan(cube_run, "events").collect()
    assert (
        items["impressions"].sum() == scan(cube_run, "impressions").select(pl.len()).collect()[0, 0]
    )
    assert items["clicks"].sum() == (events["event"] == "click").sum()
    assert items["ledger_orders"].sum() == scan(cube_run, "orders").select(pl.len()).collect()[0, 0]
    assert set(items["shop_type"].unique()) <= {"flagship", "small_shop"}


def test_latency_histograms_count_every_request(cube_run):
    requests = scan(cube_run, "requests").select(pl.len()).collect()[0, 0]
    daily = table(cube_run, "latency_daily")
    hourly = table(cube_run, "latency_hourly")
    for kind in cube.LATENCY_KINDS:
        assert (
            daily.filter(pl.col("kind") == kind, pl.col("dim") == "all")["requests"].sum()
            == requests
        )
        assert hourly.filter(pl.col("kind") == kind)["requests"].sum() == requests
        by_version = daily.filter(pl.col("kind") == kind, pl.col("dim") == "service_version")
        assert by_version["requests"].sum() == requests


def test_feed_histograms_and_summaries(cube_run):
    feed = scan(cube_run, "feed_snapshots").collect()
    hist = table(cube_run, "feed_hist")
    for attr in (*cube.FEED_ATTRIBUTES, "in_stock"):
        assert hist.filter(pl.col("attribute") == attr)["items"].sum() == feed.height
    assert hist["bin"].max() < cube.FEED_BINS
    summary = table(cube_run, "feed_summary")
    assert summary["items"].sum() == feed.height
    assert summary.filter(pl.col("snapshot") == feed["snapshot"].min())["moved_in"].sum() == 0


def test_experiment_moments(cube_run):
    exp = table(cube_run, "experiments")
    daily = table(cube_run, "experiments_daily")
    if exp.is_empty():
        pytest.skip("no experiment in this run")
    running = exp.filter(pl.col("window") == "running")
    assert running["sessions"].sum() == daily["sessions"].sum()
    assert (running["ss"] >= running["sessions"]).all()  # Σs² ≥ Σs for counts
    assert (running["users"] <= running["sessions"]).all()


def test_ensure_cube_is_idempotent_and_atomic(cube_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(cube_run, run, ignore=shutil.ignore_patterns("cube"))
    assert not cube.is_current(run)
    path = cube.ensure_cube(run)
    meta = json.loads((path / cube.CUBE_META).read_text())
    assert meta["version"] == cube.CUBE_VERSION and set(meta["rows"]) == set(cube.TABLES)
    stamp = (path / "sessions_hourly.parquet").stat().st_mtime_ns
    assert cube.ensure_cube(run) == path
    assert (path / "sessions_hourly.parquet").stat().st_mtime_ns == stamp
    assert [p.name for p in run.iterdir() if p.name.startswith(".")] == []


def test_stale_cube_is_rebuilt(cube_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(cube_run, run)
    meta = run / "cube" / cube.CUBE_META
    meta.write_text(json.dumps({"version": -1}))
    cube.ensure_cube(run)
    assert cube.is_current(run)


def test_load_cube_names_the_valid_tables(cube_run):
    with pytest.raises(ValueError, match="valid tables: sessions_hourly"):
        cube.load_cube(cube_run, "nope")


def test_windows_come_from_the_brief(cube_run):
    w = brief.read_windows(cube_run)
    after_days = brief.read_case(cube_run)["windows"]["after_days"]
    assert (w.after[1] - w.after[0]).days + 1 == after_days
    assert (w.after[0] - w.before[1]).days == 1 and w.end == w.after[1]


# --------------------------------------------------------------------------------------------
# Built a few days at a time, the cube equals the one computed from whole tables by the plain
# polars definitions (tests/readout/cube_reference.py)
# --------------------------------------------------------------------------------------------


def test_a_day_at_a_time_equals_whole_tables_exactly(cube_run, reference):
    spans = cube.session_spans(cube_run, least=1)
    assert len(spans) > 10  # one span per day: many merges to get wrong
    by_day = cube.build_cube(cube_run, span_sessions=1)
    for built in (by_day, cube.build_cube(cube_run)):
        assert set(built) == set(cube.TABLES)
        for name in cube.TABLES:
            assert_frame_equal(built[name], reference[name], check_exact=True)
    assert by_day["experiments"].height > 0


def test_spans_out_of_day_order_are_sorted_when_joined(cube_run, reference, monkeypatch):
    """The streamed tables join their parts in span order; spans whose days came out of
    order are sorted instead, to the same cube."""
    spans = cube.session_spans(cube_run, least=1)
    monkeypatch.setattr(cube, "session_spans", lambda *_: spans[::-1])
    unsorted = []
    write = cube.SpanParts.write

    def noted(self, name, target):
        unsorted.append(not self.ordered[name])
        return write(self, name, target)

    monkeypatch.setattr(cube.SpanParts, "write", noted)
    built = cube.build_cube(cube_run, span_sessions=1)
    assert unsorted == [True] * len(cube.STREAMED)
    for name in cube.TABLES:
        assert_frame_equal(built[name], reference[name], check_exact=True)


def test_the_written_cube_is_the_whole_table_one(cube_run, reference):
    for name in cube.TABLES:
        assert_frame_equal(table(cube_run, name), reference[name], check_exact=True)


def test_sessions_logged_twice_count_twice_as_in_a_join(cube_run, tmp_path):
    """A client that resends a session (sdk_session_resend) leaves its row twice in the
    sessions table: every measure of that session counts on both rows, as the join of the
    logs to the sessions table counts it, in one span or in many."""
    run = tmp_path / "run"
    shutil.copytree(cube_run, run, ignore=shutil.ignore_patterns("cube"))
    path = run / "tables" / "sessions.parquet"
    sessions = pl.read_parquet(path)
    twice = sessions.filter(pl.col("session_id") % 7 == 3)
    pl.concat([sessions, twice]).sort("session_id", maintain_order=True).write_parquet(path)
    reference = whole_table_cube(run)
    assert reference["sessions_daily"]["sessions"].sum() == sessions.height + twice.height
    for built in (cube.build_cube(run, span_sessions=1), cube.build_cube(run)):
        for name in cube.TABLES:
            assert_frame_equal(built[name], reference[name], check_exact=True)


def test_spans_merge_overlaps_and_small_neighbours():
    assert cube.merge_spans([(5, 9), (0, 3), (3, 4)]) == [(0, 4), (5, 9)]
    assert cube.merge_spans([(0, 3), (4, 9), (10, 12)], [2, 2, 2], least=4) == [(0, 9), (10, 12)]
    assert cube.merge_spans([(0, 3), (2, 9)], [9, 9], least=1) == [(0, 9)]
    assert cube.merge_spans([]) == []
    # joined until `least`, but never past `most` rows (overlaps are joined regardless)
    sizes = [3, 3, 3, 3]
    spans = [(0, 1), (2, 3), (4, 5), (6, 7)]
    assert cube.merge_spans(spans, sizes, least=6, most=6) == [(0, 3), (4, 7)]
    assert cube.merge_spans(spans, sizes, least=7, most=8) == [(0, 3), (4, 7)]
    assert cube.merge_spans(spans, sizes, least=7, most=9) == [(0, 5), (6, 7)]
    assert cube.merge_spans([(0, 3), (2, 9)], [9, 9], least=1, most=1) == [(0, 9)]


def test_spans_cover_every_session_once(cube_run):
    sessions = scan(cube_run, "sessions").select("session_id").collect()["session_id"]
    for least, most in ((1, None), (10**9, None), (10**9, 5000)):
        spans = cube.session_spans(cube_run, least, most)
        counts = [sessions.is_between(lo, hi).sum() for lo, hi in spans]
        assert sum(counts) == sessions.len() and all(counts)
        assert all(a[1] < b[0] for a, b in itertools.pairwise(spans))


def test_feed_moves_are_counted_across_row_groups(tmp_path):
    """Items recategorised, dropped and back, with snapshots in several row groups: each
    snapshot's `moved_in` compares an item with its previous appearance, wherever it is."""
    rows = []
    cats = {0: "a", 1: "a", 2: "b"}
    for snap in range(6):
        for item in range(3):
            if item == 1 and snap in (2, 3):
                continue  # dropped for two snapshots, back in another row group
            category = cats[item]
            if item == 0 and snap >= 2:
                category = "b"  # moves at snapshot 2, within the second row group
            if item == 1 and snap >= 4:
                category = "b"  # back in a new category after its gap
            if item == 2 and snap == 3:
                category = None  # an unknown category is not a move, nor is leaving it
            if item == 2 and snap == 5:
                category = "c"  # moves within the last row group
            rows.append((snap, item, category, float(snap + item)))
    frame = pl.DataFrame(
        rows, schema=["snapshot", "item_id", "category", "price"], orient="row"
    ).with_columns(
        pl.col("snapshot", "item_id").cast(pl.Int32),
        pl.col("price").cast(pl.Float32),
        taken_at=pl.from_epoch(pl.col("snapshot").cast(pl.Int64) * 3600, "s"),
        in_stock=pl.lit(True),
        seller_rating=pl.lit(4.5, pl.Float32),
        image_score=pl.col("price") / 10,
        title_score=pl.lit(0.5, pl.Float32),
    )
    tables = tmp_path / "tables"
    tables.mkdir()
    path = tables / "feed_snapshots.parquet"
    table = frame.to_arrow()
    with pq.ParquetWriter(path, table.schema) as writer:  # two snapshots per row group
        for first in (0, 2, 4):
            writer.write_table(frame.filter(pl.col("snapshot") // 2 == first // 2).to_arrow())
    assert cube.row_group_spans(path, "snapshot") == [(0, 1), (2, 3), (4, 5)]
    hist, summary = cube.feed_tables(tmp_path)
    ref_hist, ref_summary = whole_table_feed(tmp_path)
    assert_frame_equal(hist, ref_hist, check_exact=True)
    assert_frame_equal(summary, ref_summary, check_exact=True)
    moved = summary.group_by("snapshot").agg(pl.col("moved_in").sum()).sort("snapshot")
    assert moved["moved_in"].to_list() == [0, 0, 1, 0, 1, 1]


def test_a_run_without_sessions_has_an_empty_cube_of_the_same_schema(cube_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(cube_run, run, ignore=shutil.ignore_patterns("cube"))
    for name in ("sessions", "requests", "impressions", "events", "orders"):
        path = run / "tables" / f"{name}.parquet"
        empty = pq.read_table(path).schema.empty_table()
        pq.write_table(empty, path)
    built = cube.build_cube(run)
    for name in cube.SPAN_TABLES:
        assert built[name].is_empty()
        assert built[name].schema == table(cube_run, name).schema
    assert built["experiments"].is_empty()
    assert built["feed_summary"].height == table(cube_run, "feed_summary").height


# The cube inside the run: built after the simulation's memory is given back, atomically
# --------------------------------------------------------------------------------------------


def short_baseline():
    """The baseline made cheap (15 days, no reference weeks) with 1,000 users: what the two
    tests below check (engine state released, partial folders removed) holds at any size."""
    from sim.scenario import parse_scenario
    from sim.world import Size

    text = (ROOT / "scenarios" / "baseline.yaml").read_text()
    short = text.replace("start: 2026-08-03\ndays: 28\nreference_days: 14",
                         "start: 2026-08-16\ndays: 15\nreference_days: 0")  # fmt: skip
    assert "days: 15" in short
    return parse_scenario(short), Size("mini", 1_000)


def test_the_cube_runs_without_the_simulations_state(tmp_path, monkeypatch):
    """When the cube is built, no engine state (world, ranker, history) is alive: its
    memory does not add to the cube's."""
    import gc

    from casesim import compose
    from sim.engine import EngineState

    alive: list[int] = []
    build = compose.ensure_cube

    def counting(folder):
        alive.append(sum(isinstance(o, EngineState) for o in gc.get_objects()))
        return build(folder)

    monkeypatch.setattr(compose, "ensure_cube", counting)
    out = tmp_path / "run"
    compose.make_case(*short_baseline(), out, with_key=False, luck_tries=0, replicates=0)
    assert alive == [0]
    assert cube.is_current(out)


def test_a_failing_cube_leaves_no_run_folder(tmp_path, monkeypatch):
    """The cube fails after writing some of its tables: neither the run nor any partial
    folder (the run's or the cube's) is left behind."""
    from casesim import compose

    def failing(run_dir):
        raise RuntimeError("feed tables failed")

    monkeypatch.setattr(cube, "feed_tables", failing)
    out = tmp_path / "run"
    with pytest.raises(RuntimeError, match="feed tables failed"):
        compose.make_case(*short_baseline(), out, with_key=False, luck_tries=0, replicates=0)
    assert list(tmp_path.iterdir()) == []


def test_feed_bins_compare_as_polars_compares():
    """A value's bin counts the edges it exceeds in the column's float type: 0.1 as float32
    does not exceed the edge 0.1; a null exceeds none, NaN every number (also as an edge);
    repeated edges count twice."""
    values = pl.Series(
        "price", [0.1, 0.25, None, float("nan"), float("inf"), -1.0, 0.3], dtype=pl.Float32
    )
    for edges in ([0.1, 0.2, 0.2, 0.3], [], [0.05], [0.3, float("nan"), 0.1]):
        expected = pl.DataFrame({"price": values}).with_columns(
            bin=pl.sum_horizontal([(pl.col("price") > e) for e in edges] or [pl.lit(0)])
        )
        assert cube._feed_bins(values, edges).to_list() == expected["bin"].to_list()
