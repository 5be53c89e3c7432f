"""The plain-words debrief and the score command's contract."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from casesim.cli import app
from grading.debrief import debrief_text
from grading.scoring import parse_submission, score

KEY = {
    "observed_change": -0.05,
    "business_change": -0.049,
    "causes": [
        {"id": "feed", "type": "feed_change", "decoy": False, "share": 0.8, "effect": -0.04,
         "hit_set": ["FEED"], "evidence": "PSI in beauty"},
        {"id": "dep", "type": "deploy", "decoy": True, "share": 0.0, "effect": 0.001,
         "hit_set": ["DEPLOY", "PERF"], "evidence": "no change"},
        {"id": "noise", "type": "noise", "decoy": False, "share": 0.2, "effect": -0.01,
         "hit_set": ["NOISE"], "evidence": "variance"},
    ],
}  # fmt: skip


def test_debrief_names_causes_decoys_and_best_order():
    sub = parse_submission({"order": ["DEPLOY", "FEED"], "shares": {"FEED": 1.0}})
    text = debrief_text(sub, score(sub, KEY["causes"]), KEY)
    assert "feed (feed_change): 80%" in text
    assert "PSI in beauty" in text
    assert "dep (deploy)" in text and "you investigated DEPLOY" in text
    assert "Best order:  NOISE > FEED" in text or "Best order:  FEED > NOISE" in text


def test_score_command_rejects_bad_submissions(tiny_run, tmp_path):
    runner = CliRunner()
    bad = tmp_path / "bad.json"
    for payload, words in (
        ({"order": ["FEED", "FEED"], "shares": {"FEED": 1}}, "duplicate"),
        ({"order": ["TELEPATHY"], "shares": {"unexplained": 1}}, "NOISE"),
        ({"order": [], "shares": {"unexplained": 1}}, "order"),
        ({"order": ["FEED"], "shares": {"FEED": 0.5}}, "1"),
    ):
        bad.write_text(json.dumps(payload))
        result = runner.invoke(app, ["score", str(tiny_run), str(bad)])
        assert result.exit_code == 2, payload
        assert words in result.output
    bad.write_text("{not json")
    assert runner.invoke(app, ["score", str(tiny_run), str(bad)]).exit_code == 2
