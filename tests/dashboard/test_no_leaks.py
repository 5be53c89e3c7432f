"""Nothing reveals the answer before submission: no page opens the answer key or the scenario,
and no page shows a cause's name or a fault type."""

from __future__ import annotations

from dashboard.store import AttemptStore
from sim.faults.registry import fault_type_names
from tests.dashboard.support import PAGES, SECRETS, FileAudit, fill_and_submit, go, ok, page_text


def walk(at) -> str:
    """Every page, with a few interactions on the richer ones; returns all the text shown."""
    texts = []
    for page in PAGES:
        at = go(at, page)
        texts.append(page_text(at))
        if page == "segments":
            for dim in ("category", "shop_type", "latency_bucket", "source"):
                at.selectbox(key="segments_dim").set_value(dim).run()
                ok(at)
                texts.append(page_text(at))
        if page == "feed":
            at.segmented_control(key="feed_mode").set_value("previous").run()
            texts.append(page_text(at))
        if page == "sql":
            for table in ("changelog", "experiments", "calendar", "ranker_runs", "items"):
                at.text_area(key="sql_query").input(f"SELECT * FROM {table} LIMIT 200").run()
                at.button(key="sql_run").click().run()
                texts.append(page_text(at))
    return "\n".join(texts)


def test_no_truth_is_read_or_shown_before_submission(app):
    audit = FileAudit.get()
    audit.opened.clear()
    audit.recording = True
    try:
        at = app()
        text = walk(at)
    finally:
        audit.recording = False
    assert audit.opened, "the audit hook saw no file at all: it is not working"
    assert audit.truth_files() == []
    # Type names with an underscore are unmistakable; "deploy" is also a change-log kind.
    names = set(SECRETS) | {n for n in fault_type_names() if "_" in n}
    shown = sorted(n for n in names if n in text)
    assert shown == [], f"pages show fault names or types before submission: {shown}"

    at = fill_and_submit(at)  # after submitting, the debrief does show the causes
    assert "secret_feed_remap" in page_text(at)


def test_the_audit_sees_python_file_reads(tmp_path):
    secret = tmp_path / "answer_key.json"
    secret.write_text("{}")
    audit = FileAudit.get()
    audit.opened.clear()
    audit.recording = True
    try:
        secret.read_text()
    finally:
        audit.recording = False
    assert audit.truth_files() == [str(secret)]


def test_every_page_works_without_the_truth_files(app, dash_run, tmp_path):
    """A hiring bundle ships no key and no scenario: every page before the debrief still
    works, so none of them needs the truth (polars reads escape the audit hook above)."""
    import shutil

    bundle = tmp_path / "bundle"
    shutil.copytree(dash_run, bundle)
    (bundle / "answer_key.json").unlink()
    (bundle / "scenario.yaml").unlink()
    walk(app(run=bundle))
    at = fill_and_submit(app(run=bundle, data_dir=tmp_path / "data"))
    assert any("graded by the team that set it" in i.value for i in at.info)
    download = at.get("download_button")[0].proto
    assert download.label == "Download submission.json"
    # two sessions, two attempts (each its own): the second one submitted
    (attempt,) = [a for a in AttemptStore(tmp_path / "data").history() if a.submitted]
    assert attempt.score is None
