"""Hostile input never gets a traceback or a hang from the CLI: exit 0 or 2, one clear line.

Hypothesis drives `casesim` (in-process, through typer's CliRunner) with random and mutated
scenarios, submissions, argument lists and damaged run folders. Nothing here may start a
simulation: the entry points that would (`make_case`, calibration, computing a key) are
replaced by a stub that raises `WouldSimulate`, which counts as having passed every check.
A SIGALRM guard turns a hang (a FIFO read, a super-linear error report) into a failure.
`bench/fuzz_cli.py` runs a larger corpus through real processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from casesim.cli import app

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
HANG_S = 60  # generous: only a hang trips it
FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
runner = CliRunner()


class WouldSimulate(Exception):
    """Raised by the stubs: the command passed its checks and would now simulate."""


@pytest.fixture(scope="module")
def keyed_run(tmp_path_factory) -> Path:
    """A keyed run of the feed case (fixed severity: no calibration), built once. Small and
    short (1,000 users, 15 days, no reference weeks): the fuzzed commands check a folder's
    shape and files, which do not depend on its size, so a tiny world is all they need."""
    from casesim.compose import make_case
    from sim.scenario import parse_scenario
    from sim.world import Size

    text = (ROOT / "scenarios" / "feed_remap.yaml").read_text()
    short = text.replace("start: 2026-08-03\ndays: 28", "start: 2026-08-16\ndays: 15\n"
                         "reference_days: 0")  # fmt: skip
    short = short.replace("severity: auto", "severity: 0.5")
    assert "days: 15" in short and "severity: 0.5" in short
    out = tmp_path_factory.mktemp("fuzz") / "run"
    make_case(parse_scenario(short), Size("mini", 1_000), out, luck_tries=0, replicates=0)
    return out


@pytest.fixture
def no_simulation(monkeypatch):
    def stub(*args, **kwargs):
        raise WouldSimulate

    monkeypatch.setattr("sim.case.make_case", stub)
    monkeypatch.setattr("sim.case.key_for_run", stub)
    monkeypatch.setattr("sim.truth.calibrate", stub)
    monkeypatch.setattr("dashboard.launch.serve", stub)


@contextlib.contextmanager
def hang_guard(seconds: int = HANG_S):
    def alarm(signum, frame):
        raise TimeoutError(f"hung for {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def invoke(args: list[str]) -> str:
    """Run the CLI; fail on a traceback, a hang or an exit code other than 0 or 2."""
    with hang_guard():
        result = runner.invoke(app, args)
    exc = result.exception
    if isinstance(exc, WouldSimulate):
        return result.output
    assert exc is None or isinstance(exc, SystemExit), (args, repr(exc))
    assert result.exit_code in (0, 2), (args, result.exit_code, result.output[-500:])
    assert "Traceback" not in result.output, (args, result.output[-500:])
    if result.exit_code == 2:
        assert result.output.strip(), ("exit 2 without a word", args)
    return result.output


# ---------------------------------------------------------------- hostile values and texts

HOSTILE_VALUES = st.sampled_from(
    [
        "9" * 5000,  # over Python's 4300-digit limit
        "-" + "9" * 5000,
        "[" * 3000 + "]" * 3000,  # deep nesting
        "{a: " * 600 + "1" + "}" * 600,
        "1e999",
        ".nan",
        "!!timestamp 2026-02-30",
        "!!timestamp x",
        "!!bool x",
        "!!float x",
        "!!python/object:os.system x",
        "&a [*a]",
        "2026-02-30",
        "~",
        "''",
        "\x00",
        "x" * 20000,
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=30),
)
DOCS = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)


def mutate(text: str, data: st.DataObject) -> str:
    """Insert, delete or replace a slice of a valid file, or put a hostile value in a line."""
    lines = text.splitlines(keepends=True)
    kind = data.draw(st.sampled_from(["insert", "delete", "value", "truncate"]))
    pos = data.draw(st.integers(0, max(len(text) - 1, 0)))
    if kind == "insert":
        return text[:pos] + data.draw(st.text(max_size=20)) + text[pos:]
    if kind == "delete":
        return text[:pos] + text[pos + data.draw(st.integers(1, 40)) :]
    if kind == "truncate":
        return text[:pos]
    i = data.draw(st.integers(0, max(len(lines) - 1, 0)))
    head = lines[i].split(":", 1)[0] if ":" in lines[i] else lines[i].rstrip()
    lines[i] = f"{head}: {data.draw(HOSTILE_VALUES)}\n"
    return "".join(lines)


# ---------------------------------------------------------------- scenarios


@FUZZ
@given(data=st.data())
def test_fuzz_scenarios(tmp_path, data):
    source = data.draw(st.sampled_from(SCENARIOS)).read_text()
    how = data.draw(st.sampled_from(["mutated", "document", "text"]))
    if how == "mutated":
        text = mutate(source, data)
    elif how == "document":
        text = yaml.safe_dump(data.draw(DOCS))
    else:
        text = data.draw(st.text(max_size=300))
    path = tmp_path / "case.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    output = invoke(["validate", str(path)])
    assert str(path) in output


def test_many_keys_are_reported_briefly(tmp_path):
    """Linear-time error reporting: the first problems listed, the rest counted (the 100k-key
    file itself is over the size cap; tests/sim/test_scenario.py parses one)."""
    path = tmp_path / "keys.yaml"
    keys = "".join(f"k{i}: 1\n" for i in range(20_000))
    path.write_text("id: x\ntitle: T\nstart: 2026-08-03\n" + keys)
    output = invoke(["validate", str(path)])
    assert "k0: unknown key" in output
    assert "more problems" in output
    assert len(output.splitlines()) <= 25


@pytest.mark.parametrize("kind", ["fifo", "device", "directory", "too_big"])
def test_only_regular_files_of_bounded_size_are_read(tmp_path, kind, keyed_run):
    path = tmp_path / "input"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        path = Path("/dev/zero")
    elif kind == "directory":
        path.mkdir()
    else:
        path.write_bytes(b"#" * (2 << 20))
    for args in (["validate", str(path)], ["score", str(keyed_run), str(path)]):
        output = invoke(args)
        assert f"{path}:" in output


# ---------------------------------------------------------------- submissions

VALID_SUBMISSION = {"order": ["FEED", "DATA"], "shares": {"FEED": 0.8, "unexplained": 0.2}}


@FUZZ
@given(data=st.data())
def test_fuzz_submissions(tmp_path, data, keyed_run):
    how = data.draw(st.sampled_from(["mutated", "document", "text"]))
    if how == "mutated":
        text = mutate(json.dumps(VALID_SUBMISSION, indent=1), data)
    elif how == "document":
        text = json.dumps(data.draw(DOCS))
    else:
        text = data.draw(st.text(max_size=200))
    path = tmp_path / "submission.json"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    invoke(["score", str(keyed_run), str(path), "--json"])


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('{"order": ["FEED"], "order": ["DATA"], "shares": {"FEED": 1}}', "duplicate key"),
        ('{"order": [' + "9" * 5000 + "]}", "digits"),
        ("[" * 100_000 + "]" * 100_000, "nests"),
        ('{"order": ["FEED"], "shares": {"FEED": NaN}}', "NaN"),
    ],
)
def test_hostile_submissions_are_refused_clearly(tmp_path, keyed_run, text, says):
    path = tmp_path / "s.json"
    path.write_text(text)
    output = invoke(["score", str(keyed_run), str(path)])
    assert f"{path}: " in output and says in output


# ---------------------------------------------------------------- command lines

WORDS = st.sampled_from(
    ["run", "validate", "calibrate", "key", "score", "solve", "describe", "bundle", "schema",
     "--seed", "--out", "--size", "--force", "--json", "--quiet", "--verbose", "--all",
     "-1", "0", str(2**32), str(2**64), "9" * 5000, "tiny", "huge", "", "/", ".", "/dev/zero",
     "/proc/self/mem", "x" * 300, "RUN", "SCENARIO", "BAD", "TMP/out", "TMP/f/x"]
)  # fmt: skip


@FUZZ
@given(words=st.lists(WORDS, min_size=1, max_size=6))
def test_fuzz_command_lines(tmp_path_factory, words, keyed_run, no_simulation):
    tmp = tmp_path_factory.mktemp("args")
    (tmp / "f").write_text("a file, not a folder")
    (tmp / "bad.yaml").write_text("id: [\n")
    subs = {"RUN": str(keyed_run), "SCENARIO": str(SCENARIOS[0]), "BAD": str(tmp / "bad.yaml")}
    args = [subs.get(w, w.replace("TMP", str(tmp))) for w in words]
    if args[0] == "solve" and "--all" in args:
        return  # generates every shipped case: not a fuzz target
    invoke(args)


@pytest.mark.parametrize("seed", ["-1", str(2**32), str(2**64)])
def test_seeds_outside_the_range_are_refused(seed, no_simulation):
    output = invoke(["run", str(SCENARIOS[0]), "--seed", seed])
    assert "--seed" in output


def test_unwritable_out_is_refused_before_simulating(tmp_path, no_simulation):
    (tmp_path / "f").write_text("x")
    for out in (tmp_path / "f" / "run", Path("/proc/casesim-run"), tmp_path / ("x" * 300)):
        output = invoke(["run", str(SCENARIOS[0]), "--out", str(out)])
        assert str(out)[:40] in output


def test_force_replaces_only_run_folders_and_never_the_source(tmp_path, keyed_run, no_simulation):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("keep me")
    output = invoke(["run", str(SCENARIOS[0]), "--out", str(mine), "--force"])
    assert "not a run folder" in output
    assert (mine / "thesis.tex").read_text() == "keep me"
    for target in (keyed_run, keyed_run / "tables"):
        output = invoke(["bundle", str(keyed_run), str(target), "--force"])
        assert "source" in output
    assert (keyed_run / "answer_key.json").is_file()


# ---------------------------------------------------------------- damaged run folders

DAMAGE = st.sampled_from(
    ["no_manifest", "truncate_manifest", "manifest_value", "truncate_table", "corrupt_table",
     "no_table", "no_key", "no_truth", "key_value", "key_text", "key_fifo", "bad_scenario"]
)  # fmt: skip


def damaged_copy(run: Path, dest: Path, damage: str, data: st.DataObject) -> Path:
    """A copy of `run` (files symlinked, the damaged one copied) with one kind of damage."""
    shutil.copytree(run, dest, copy_function=os.symlink)

    def own(rel: str) -> Path:
        path = dest / rel
        path.unlink()
        shutil.copyfile(run / rel, path)
        return path

    table = data.draw(st.sampled_from(sorted(p.name for p in (run / "tables").iterdir())))
    if damage == "no_manifest":
        (dest / "manifest.json").unlink()
    elif damage == "truncate_manifest":
        path = own("manifest.json")
        path.write_bytes(path.read_bytes()[: data.draw(st.integers(0, 400))])
    elif damage == "manifest_value":
        manifest = json.loads((run / "manifest.json").read_text())
        field = data.draw(st.sampled_from(sorted(manifest)))
        manifest[field] = data.draw(DOCS)
        (dest / "manifest.json").unlink()
        (dest / "manifest.json").write_text(json.dumps(manifest))
    elif damage in ("truncate_table", "corrupt_table"):
        path = own(f"tables/{table}")
        raw = bytearray(path.read_bytes())
        at = data.draw(st.integers(0, len(raw) - 1))
        if damage == "truncate_table":
            raw = raw[:at]
        else:
            raw[at : at + 64] = b"\x00" * len(raw[at : at + 64])
        path.write_bytes(bytes(raw))
    elif damage == "no_table":
        (dest / "tables" / table).unlink()
    elif damage == "no_key":
        (dest / "answer_key.json").unlink()
    elif damage == "no_truth":
        (dest / "answer_key.json").unlink()
        (dest / "scenario.yaml").unlink()
    elif damage == "key_value":
        key = json.loads((run / "answer_key.json").read_text())
        cause = data.draw(st.integers(0, len(key["causes"]) - 1))
        field = data.draw(st.sampled_from(sorted(key["causes"][cause])))
        key["causes"][cause][field] = data.draw(DOCS)
        (dest / "answer_key.json").unlink()
        (dest / "answer_key.json").write_text(json.dumps(key))
    elif damage == "key_text":
        (dest / "answer_key.json").unlink()
        (dest / "answer_key.json").write_text(data.draw(st.text(max_size=100)))
    elif damage == "key_fifo":
        (dest / "answer_key.json").unlink()
        os.mkfifo(dest / "answer_key.json")
    elif damage == "bad_scenario":
        (dest / "answer_key.json").unlink()
        (dest / "scenario.yaml").unlink()
        (dest / "scenario.yaml").write_text("id: [\n")
    return dest


@FUZZ
@given(data=st.data(), damage=DAMAGE)
def test_fuzz_damaged_run_folders(tmp_path_factory, data, damage, keyed_run, no_simulation):
    tmp = tmp_path_factory.mktemp("damaged")
    run = damaged_copy(keyed_run, tmp / "run", damage, data)
    sub = tmp / "s.json"
    sub.write_text(json.dumps(VALID_SUBMISSION))
    command = data.draw(
        st.sampled_from(
            [["key", "--json"], ["score", str(sub)], ["describe"], ["solve", "--json"], ["bundle"]]
        )
    )
    args = [command[0], str(run), *command[1:]]
    if command[0] == "bundle":
        args.append(str(tmp / "take-home"))
    output = invoke(args)
    if damage in ("no_manifest", "no_table", "no_truth") and command[0] in ("key", "score"):
        assert "Traceback" not in output and output.strip()


def test_truthless_folder_is_refused_fast(tmp_path, keyed_run, no_simulation):
    """A take-home bundle has no key and no scenario: `key` refuses instead of simulating."""
    bundle = tmp_path / "take-home"
    invoke(["bundle", str(keyed_run), str(bundle)])
    sub = tmp_path / "s.json"
    sub.write_text(json.dumps(VALID_SUBMISSION))
    for args in (["key", str(bundle)], ["score", str(bundle), str(sub)]):
        output = invoke(args)
        assert "cannot be computed" in output
