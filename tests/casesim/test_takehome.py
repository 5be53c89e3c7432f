"""`casesim takehome create` and `grade` end to end, on one tiny cohort made once per session.

The cohort's scenario is the shipped feed_remap case made cheap (15 days, no reference weeks,
a fixed severity, no luck search, no replicates) in a world of 1,000 users (a size the CLI
knows for the cohort's making only): the folder's contract, its secrecy and the grading do
not depend on the case being in band, or on the world's size.
"""

from __future__ import annotations

import csv
import json
import shutil
import stat
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from casesim.cli import app
from dashboard.store import AttemptStore
from grading.scoring import score
from runfolder.layout import ANSWER_KEY, CASE_FILE, MANIFEST, SCENARIO_FILE, TRUTH_FILES
from runfolder.takehome import load_cohort
from sim.world import SIZES, Size

pytestmark = pytest.mark.xdist_group("takehome")  # one worker builds the cohort, once
ROOT = Path(__file__).resolve().parents[2]
NAMES = ["Ada Lovelace", "Barbara Liskov", "Claude Shannon", "Donald Knuth"]
SCENARIO_ID = "late_august_dip"


def invoke(args: list[str]):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="session")
def cheap_scenario(tmp_path_factory) -> Path:
    text = (ROOT / "scenarios" / "feed_remap.yaml").read_text()
    text = text.replace("start: 2026-08-03\ndays: 28", "start: 2026-08-16\ndays: 15\n"
                        "reference_days: 0").replace("severity: auto", "severity: 0.6")  # fmt: skip
    assert "days: 15" in text and "severity: 0.6" in text
    path = tmp_path_factory.mktemp("scenario") / "case.yaml"
    path.write_text(text)
    return path


@pytest.fixture(scope="session")
def cohort_dir(tmp_path_factory, cheap_scenario) -> Path:
    where = tmp_path_factory.mktemp("takehome")
    names = where / "candidates.csv"
    names.write_text("name,email\n" + "".join(f"{n},{i}@x.org\n" for i, n in enumerate(NAMES)))
    out = where / "cohort"
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(SIZES, "mini", Size("mini", 1_000))
        result = invoke(["takehome", "create", cheap_scenario, "--candidates", names,
                         "--out", out, "--size", "mini", "--luck-tries", "0", "--replicates",
                         "0", "--workers", "1", "--hours", "2"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith("tokens.csv")
    return out


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_create_writes_a_private_cohort_with_tokens_for_each_candidate(cohort_dir):
    cohort = load_cohort(cohort_dir)
    assert [s.name for s in cohort.seats] == NAMES and cohort.hours == 2
    assert mode(cohort_dir) == 0o700
    assert mode(cohort_dir / "cohort.json") == mode(cohort_dir / "tokens.csv") == 0o600
    rows = list(csv.DictReader((cohort_dir / "tokens.csv").open()))
    assert [r["name"] for r in rows] == NAMES
    for row in rows:
        seat = cohort.seat_for(row["token"])
        assert seat is not None and seat.variant == row["variant"] and seat.name == row["name"]
    assert 'token"' not in (cohort_dir / "cohort.json").read_text()
    assert not any(r["token"] in (cohort_dir / "cohort.json").read_text() for r in rows)


def test_each_variant_has_its_own_seed_and_dealt_scope_and_its_key_sealed(cohort_dir):
    cohort = load_cohort(cohort_dir)
    meta = cohort.meta["variants"]
    assert len({meta[s.variant]["seed"] for s in cohort.seats}) == len(NAMES)
    scopes = [json.dumps(meta[s.variant]["scope"], sort_keys=True) for s in cohort.seats]
    assert len(set(scopes[:3])) == 3  # three alternatives in the variant space, dealt in turn
    assert cohort.meta["audit"]["seeds_distinct"] is True
    for seat in cohort.seats:
        sealed = cohort.sealed_dir(seat.variant)
        assert mode(sealed) == 0o700 and mode(sealed.parent) == 0o700
        for name in TRUTH_FILES:
            assert mode(sealed / name) == 0o600
        key = json.loads((sealed / ANSWER_KEY).read_text())
        assert key["seed"] == meta[seat.variant]["seed"]
        fault = next(c for c in key["causes"] if c["id"] == "feed_category_mapping")
        assert fault["scope"] == meta[seat.variant]["scope"]["feed_category_mapping"]
        resolved = yaml.safe_load((sealed / SCENARIO_FILE).read_text())
        assert "variants" not in resolved
        audit = meta[seat.variant]["audit"]
        assert audit["change"] == pytest.approx(key["observed_change"])


def test_candidate_folders_name_neither_scenario_nor_seed_and_hold_no_truth(cohort_dir):
    cohort = load_cohort(cohort_dir)
    for seat in cohort.seats:
        run = cohort.variant_dir(seat.variant)
        assert not any((run / name).exists() for name in TRUTH_FILES)
        manifest = json.loads((run / MANIFEST).read_text())
        case = yaml.safe_load((run / CASE_FILE).read_text())
        assert manifest["scenario"] == case["id"] == seat.variant
        assert manifest["title"] == case["title"] == "Conversion review"
        assert "seed" not in manifest and "scenario_sha256" not in manifest
        seed = str(cohort.meta["variants"][seat.variant]["seed"])
        for path in run.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                assert SCENARIO_ID.encode() not in data, path
                assert b"late August" not in data, path
                if path.suffix in (".json", ".yaml"):
                    assert seed.encode() not in data, path
        check = invoke(["describe", run])
        assert check.exit_code == 0, check.output


def bad_create(tmp_path: Path, content: str | None, cheap: Path) -> tuple[int, str, Path]:
    names = tmp_path / "names.txt"
    if content is not None:
        names.write_text(content)
    out = tmp_path / "out"
    result = invoke(["takehome", "create", cheap, "--candidates", names, "--out", out,
                     "--size", "tiny", "--workers", "1"])  # fmt: skip
    return result.exit_code, result.output, out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "not a file"),
        ("\n  \n", "no candidates"),
        ("Ada\nBob\nada\n", "names.txt:3: 'ada' is already on line 1"),
        ("Ada\n" + "x" * 81 + "\n", "names.txt:2: name longer than 80"),
        ("name,email\nAda,a@x\n,b@x\n", "names.txt:3: empty name"),
        ("Ada\nB\x07ob\n", "names.txt:2: name holds control characters"),
    ],
)
def test_bad_candidate_files_are_refused_in_one_line_before_anything_is_written(
    tmp_path, cheap_scenario, content, message
):
    code, output, out = bad_create(tmp_path, content, cheap_scenario)
    assert code == 2 and message in output, output
    assert "Traceback" not in output and len(output.strip().splitlines()) == 1
    assert not out.exists()


def test_an_existing_folder_is_refused_and_an_interrupt_leaves_nothing(
    tmp_path, cheap_scenario, monkeypatch
):
    (tmp_path / "names.txt").write_text("Ada\nBob\n")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("x")
    code, output, _ = bad_create(tmp_path, "Ada\nBob\n", cheap_scenario)
    assert code == 2 and "exists" in output
    assert (tmp_path / "out" / "keep.txt").exists()

    import casesim.takehome_create as create

    calls = []

    def interrupted(*args, **kwargs):
        calls.append(args)
        raise KeyboardInterrupt

    monkeypatch.setattr(create, "make_case", interrupted)
    fresh = tmp_path / "fresh"
    result = invoke(["takehome", "create", cheap_scenario, "--candidates",
                     tmp_path / "names.txt", "--out", fresh, "--size", "tiny",
                     "--workers", "1"])  # fmt: skip
    assert result.exit_code == 130 and "nothing was written" in result.output
    assert calls and not fresh.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_grade_scores_store_and_file_submissions_and_reports_the_missing_and_malformed(
    cohort_dir, tmp_path
):
    folder = tmp_path / "cohort"
    shutil.copytree(cohort_dir, folder)
    cohort = load_cohort(folder)
    by_store, by_file, missing, malformed = cohort.seats
    store = AttemptStore(folder)
    attempt, _ = store.seat_attempt(
        by_store.variant, cohort.variant_dir(by_store.variant).resolve(), by_store.variant,
        by_store.name, cohort.hours,
    )  # fmt: skip
    store.log(attempt.id, attempt.token, "page", {"page": "Segments"})
    store.log(attempt.id, attempt.token, "order", {"ids": ["FEED", "NOISE"]})
    good = {"order": ["FEED", "NOISE", "DATA"], "shares": {"FEED": 0.9, "unexplained": 0.1}}
    store.submit(attempt.id, good, token=attempt.token)
    store.seat_attempt(  # opened, never submitted: missing too
        missing.variant, cohort.variant_dir(missing.variant).resolve(), missing.variant,
        missing.name, cohort.hours,
    )  # fmt: skip
    other = {"order": ["NOISE", "FEED"], "shares": {"FEED": 0.5, "unexplained": 0.5}}
    (folder / "submissions").mkdir()
    cohort.submission_file(by_file.variant).write_text(json.dumps(other))
    cohort.submission_file(malformed.variant).write_text("{not json")

    report, table = tmp_path / "out" / "report.html", tmp_path / "out" / "scores.csv"
    result = invoke(["takehome", "grade", folder, "--html", report, "--csv", table])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(missing.name in ln and "never submitted" in ln for ln in lines), result.output
    assert any(malformed.name in ln and "malformed" in ln for ln in lines), result.output
    assert "graded 2 of 4" in result.output

    rows = {r["name"]: r for r in csv.DictReader(table.open())}
    for seat, sub, source in ((by_store, good, "store"), (by_file, other, "file")):
        key = json.loads((cohort.sealed_dir(seat.variant) / ANSWER_KEY).read_text())
        expected = score(sub, key["causes"]).case_score
        assert float(rows[seat.name]["case_score"]) == pytest.approx(expected, abs=1e-4)
        assert rows[seat.name]["source"] == source
        assert rows[seat.name]["solver_case_score"] != ""
    assert rows[missing.name]["case_score"] == "" and rows[missing.name]["problem"]
    assert int(rows[by_store.name]["events"]) >= 4  # open, page, order, submit
    page = report.read_text()
    assert all(f'id="fig-{f}"' in page for f in ("scores", "orders", "timeline", "solver"))
    assert mode(report) == 0o600
    tokens = [r["token"] for r in csv.DictReader((folder / "tokens.csv").open())]
    assert not any(t in page or t in table.read_text() for t in tokens)


def test_bundle_strips_the_scenario_id_and_seed(cohort_dir, tmp_path):
    run = tmp_path / "run"
    seat = load_cohort(cohort_dir).seats[0]
    shutil.copytree(load_cohort(cohort_dir).variant_dir(seat.variant), run)
    manifest = json.loads((run / MANIFEST).read_text())
    (run / MANIFEST).write_text(json.dumps({**manifest, "scenario": SCENARIO_ID, "seed": 7}))
    case = yaml.safe_load((run / CASE_FILE).read_text())
    (run / CASE_FILE).write_text(yaml.safe_dump({**case, "id": SCENARIO_ID}))
    result = invoke(["bundle", run, tmp_path / "bundle"])
    assert result.exit_code == 0, result.output
    bundled = json.loads((tmp_path / "bundle" / MANIFEST).read_text())
    assert bundled["scenario"].startswith("case-") and "seed" not in bundled
    assert SCENARIO_ID not in (tmp_path / "bundle" / CASE_FILE).read_text()
