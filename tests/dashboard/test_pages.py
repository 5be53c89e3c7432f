"""Every page of the dashboard, through Streamlit's AppTest: navigate, filter, query, submit."""

from __future__ import annotations

import pytest

from dashboard.store import AttemptStore
from tests.dashboard.support import (
    PAGES,
    charts,
    fake_generator,
    fill_and_submit,
    go,
    ok,
    page_text,
    pages_of,
)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders(app, page):
    at = go(app(), page)
    assert at.title, f"{page} has no title"


def test_brief_is_the_first_page(app):
    at = app()
    ok(at)
    assert at.title[0].value == "Weekly review: feed conversion"
    text = page_text(at)
    assert "Feed session conversion" in text
    assert "Before window" in text and "After window" in text
    # the headline is SVG drawn on the server, so the first page needs no plotly.js
    (headline,) = [m.value for m in at.markdown if "casesim-headline" in m.value]
    assert "Feed session conversion by day" in headline
    assert headline.count("<circle") >= 28  # a point per day of the case
    assert "before window" in headline and "after window" in headline
    assert not at.get("plotly_chart")


def test_a_regenerated_run_is_read_afresh(app, dash_run, tmp_path):
    import os
    import shutil

    run = shutil.copytree(dash_run, tmp_path / "run")
    at = app(run=run)
    assert at.title[0].value == "Weekly review: feed conversion"
    brief = (run / "case.yaml").read_text().replace("Weekly review", "Regenerated review")
    (run / "case.yaml").write_text(brief)
    stat = (run / "manifest.json").stat()
    os.utime(run / "manifest.json", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    at.run()
    ok(at)
    assert at.title[0].value == "Regenerated review: feed conversion"


def test_brief_timer(app):
    at = app()
    at.toggle(key="brief_timer").set_value(True).run()
    ok(at)
    assert any(m.label == "Elapsed" for m in at.metric)


def test_without_a_run_the_picker_opens(app):
    at = app(run=None)
    ok(at)
    assert at.title[0].value == "Pick a case"
    assert "late_august_dip" in page_text(at)


def progress_text(at) -> str:
    """The picker's progress bar text, or "" before the page draws one (a loaded machine can
    rerun the page before the child process has reported)."""
    bars = at.get("progress")
    return bars[0].proto.text if bars else ""


def test_picker_generates_a_case_with_progress(app, dash_run, tmp_path, monkeypatch):
    """Generate runs in the background; the page shows its progress, then offers the case."""
    import time

    gates = tmp_path / "gates"
    gates.mkdir()
    fake_generator(monkeypatch, hours=24, copy_from=dash_run, gate=gates)
    at = app(run=None, data_dir=tmp_path / "data")
    at.selectbox(key="picker_size").set_value("small").run()
    at.button(key="picker_generate").click().run()
    ok(at)
    for _ in range(600):  # the child reports its hours once it has started
        if "24 simulated hours" in progress_text(at):
            break
        time.sleep(0.1)
        at.run()
    assert "24 simulated hours" in progress_text(at)
    (gates / "all").touch()
    for _ in range(600):
        time.sleep(0.1)
        at.run()
        if any(b.key == "picker_open_new" for b in at.button):
            break
    at.button(key="picker_open_new").click().run()
    ok(at)
    assert "Case brief" in page_text(at)


def test_picker_opens_a_generated_run(app, dash_run, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "my-case").symlink_to(dash_run, target_is_directory=True)
    at = app(run=None, data_dir=data)
    ok(at)
    at.button(key="picker_open").click().run()
    ok(at)
    assert at.query_params.get("case") == "my-case"
    assert "Case brief" in page_text(at)


def test_overview_metric_and_markers(app):
    at = go(app(), "overview")
    assert len(at.metric) == 8
    at.selectbox(key="overview_metric").set_value("ctr").run()
    at.toggle(key="overview_markers_on").set_value(True).run()
    ok(at)


def test_segments_filter_and_dimensions(app):
    at = go(app(), "segments")
    at.selectbox(key="segments_dim").set_value("city_tier").run()
    ok(at)
    at.multiselect(key="segments_filter_platform").set_value(["ios"]).run()
    ok(at)
    assert "Filtered to" in page_text(at)
    at.selectbox(key="segments_dim_y").set_value("network").run()
    ok(at)
    at.selectbox(key="segments_dim").set_value("category").run()
    ok(at)
    assert "Tracked orders per 1k impressions" in page_text(at)


def test_segments_count_metric_has_no_decomposition(app):
    at = go(app(), "segments")
    at.selectbox(key="segments_metric_sessions").set_value("sessions").run()
    ok(at)
    assert any("ratio metrics" in i.value for i in at.info)
    # A total has no denominator: its heatmap is not hidden as "too small" ...
    heat = charts(at)["Relative change of sessions"]["data"][0]
    assert any(v is not None for row in heat["z"] for v in row)
    # ... and its segments' shares are shares of the total, not 1/n each.
    shares = at.dataframe[0].value["share_before"]
    assert shares.sum() == pytest.approx(1.0) and shares.nunique() > 1


def test_segments_mix_rate_chart_in_the_metric_unit(app):
    """Mean latency's mix/rate parts are milliseconds, not percentage points."""
    at = go(app(), "segments")
    at.selectbox(key="segments_metric_sessions").set_value("mean_latency").run()
    ok(at)
    fig = charts(at)["Contribution to the change by segment"]
    assert fig["layout"]["xaxis"].get("ticksuffix") == " ms"
    rate = fig["data"][0]["x"]  # traces: rate, then mix
    tile = next(m for m in at.metric if m.label == "Rate").value
    assert sum(rate) == pytest.approx(float(tile.split()[0]), abs=0.01)
    assert at.metric[2].label == "Largest rise (weighted)"


def test_segments_heatmap_axes_in_natural_order(app):
    at = go(app(), "segments")
    at.selectbox(key="segments_dim_y").set_value("latency_bucket").run()
    ok(at)
    heat = next(f for t, f in charts(at).items() if t.startswith("Relative change"))
    ys = heat["data"][0]["y"]
    assert ys.index("<250 ms") < ys.index("250–400 ms")


def test_changes_filters_and_experiment_window(app):
    at = go(app(), "changes")
    at.text_input(key="changes_search").input("deploy").run()
    ok(at)
    at.segmented_control(key="changes_exp_window").set_value("after").run()
    ok(at)
    assert "p-value" in page_text(at)


def test_latency_by_segment(app):
    at = go(app(), "latency")
    at.selectbox(key="latency_dim").set_value("city_tier").run()
    ok(at)
    at.segmented_control(key="latency_kind").set_value("server").run()
    ok(at)
    assert "tier 1" in page_text(at)


def test_feed_modes(app):
    at = go(app(), "feed")
    at.segmented_control(key="feed_mode").set_value("previous").run()
    ok(at)
    at.segmented_control(key="feed_attr").set_value("in_stock").run()
    ok(at)
    at.toggle(key="feed_ranker_ref").set_value(True).run()
    ok(at)


def test_seasonality_metric(app):
    at = go(app(), "seasonality")
    at.selectbox(key="season_metric").set_value("conversion_ledger").run()
    ok(at)
    assert "Last year" in page_text(at)


def test_sql_query_runs(app):
    at = go(app(), "sql")
    at.text_area(key="sql_query").input(
        "SELECT platform, COUNT(*) AS sessions FROM sessions GROUP BY platform ORDER BY platform"
    ).run()
    at.button(key="sql_run").click().run()
    ok(at)
    assert not at.error
    assert list(at.dataframe[0].value.columns) == ["platform", "sessions"]
    assert "android" in at.dataframe[0].value["platform"].tolist()
    at.button(key="sql_example_Change log").click().run()
    assert "changelog" in at.text_area(key="sql_query").value


@pytest.mark.parametrize(
    "query, reason",
    [
        ("DROP TABLE sessions", "DROP"),
        ("SELECT * FROM read_parquet('answer_key.json')", "out of reach"),
        ("SELECT 1; SELECT 2", "one query at a time"),
    ],
)
def test_sql_refuses(app, query, reason):
    at = go(app(), "sql")
    at.text_area(key="sql_query").input(query).run()
    at.button(key="sql_run").click().run()
    ok(at)
    assert at.error and "Refused" in at.error[0].value and reason in at.error[0].value
    assert not any(list(df.value.columns) == ["platform"] for df in at.dataframe)


def test_sql_failure_is_explained(app):
    at = go(app(), "sql")
    at.text_area(key="sql_query").input("SELECT nosuch FROM sessions").run()
    at.button(key="sql_run").click().run()
    ok(at)
    assert at.error and "failed" in at.error[0].value


def test_debrief_only_after_submission(app, tmp_path):
    at = app()
    assert "debrief" not in pages_of(at)
    with pytest.raises(ValueError):
        at.switch_page("views/debrief.py")
    at = fill_and_submit(at)
    assert "debrief" in pages_of(at)
    assert at.title[0].value == "Debrief"
    text = page_text(at)
    assert "Case score" in text and "secret_feed_remap" in text
    shares = at.dataframe[0].value.set_index("cause")["in expectation"]
    assert shares["secret_feed_remap"] == "68% (56% to 80%)"  # over other worlds, beside 70%
    attempts = AttemptStore(tmp_path / "data").history()
    assert len(attempts) == 1 and attempts[0].submitted and attempts[0].user == "Ada"
    assert attempts[0].submission["order"] == ["FEED", "RANK", "DEPLOY"]
    assert attempts[0].submission["shares"]["unexplained"] == pytest.approx(0.1)
    assert attempts[0].score is not None and attempts[0].score["case_score"] > 0.5


def test_submitting_is_final(app):
    at = fill_and_submit(app())
    at = go(at, "hypotheses")
    assert not any(b.key == "hyp_submit" for b in at.button)
    assert "Submitting is final" in page_text(at)


def test_history_after_submission(app):
    at = fill_and_submit(app())
    at = go(at, "history")
    text = page_text(at)
    assert "Mean case score" in text and "baseline" in text


def test_new_attempt_after_debrief(app, tmp_path):
    at = go(fill_and_submit(app()), "debrief")  # AppTest follows st.switch_page only for display
    at.button(key="debrief_new").click().run()
    ok(at)
    assert "debrief" not in pages_of(at)
    assert len(AttemptStore(tmp_path / "data").history()) == 2
    at = go(at, "hypotheses")
    assert at.multiselect(key="hyp_order").value == []  # the new attempt starts empty
    assert at.text_input(key="hyp_name").value == "Ada"
    at = go(at, "history")
    first_try = at.dataframe[0].value.set_index("attempt")["first try"]
    assert first_try.to_dict() == {1: True, 2: False}  # the second began after the key


def test_invalid_shares_block_submission(app):
    at = go(app(), "hypotheses")
    at.multiselect(key="hyp_order").set_value(["PERF", "FEED"]).run()
    at.number_input(key="hyp_share_PERF").set_value(80.0).run()
    at.number_input(key="hyp_share_FEED").set_value(50.0).run()
    at.checkbox(key="hyp_confirm").check().run()
    ok(at)
    assert any("cannot exceed 100%" in w.value for w in at.warning)
    assert at.button(key="hyp_submit").disabled
