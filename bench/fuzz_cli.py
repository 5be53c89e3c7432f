"""Hostile inputs against the real `casesim` processes: how many tracebacks, how many hangs.

    .venv/bin/python bench/fuzz_cli.py [--n 450] [--seed 1] [--workers 2] [--run RUN_DIR]

A fixed catalogue (the inputs that used to crash or hang: huge integers, deep nesting,
FIFOs, /dev/zero, 100k keys, out-of-range seeds, unwritable outputs, damaged run folders)
plus random ones: mutated shipped scenarios, random YAML and JSON documents and text,
submissions, argument lists, and run folders damaged one way each. Each input runs
`casesim` in its own process with a generous timeout. A traceback is any output containing
"Traceback" or an exit code other than 0 or 2; a hang is a timeout. No input starts a
simulation: `run` and `calibrate` always get at least one invalid argument.
Without --run, a tiny keyed run is generated first (about 30 s).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASESIM = Path(sys.executable).parent / "casesim"
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
TIMEOUT_S = 120.0
HOSTILE = [
    "9" * 5000, "-" + "9" * 5000, "[" * 3000 + "]" * 3000, "{a: " * 600 + "1" + "}" * 600,
    "1e999", ".nan", "!!timestamp 2026-02-30", "!!float x", "!!python/object:os.system x",
    "&a [*a]", "2026-02-30", "~", "''", "x" * 20000, "*undefined", "[1, 2", "{", "- - -",
]  # fmt: skip
SUBMISSION = {"order": ["FEED", "DATA"], "shares": {"FEED": 0.8, "unexplained": 0.2}}


def keyed_run(where: Path) -> Path:
    """A tiny keyed run of the feed case (fixed severity, so no calibration)."""
    sys.path.insert(0, str(ROOT))
    from casesim.compose import make_case
    from sim.scenario import parse_scenario
    from sim.world import SIZES

    text = (ROOT / "scenarios" / "feed_remap.yaml").read_text()
    scenario = parse_scenario(text.replace("severity: auto", "severity: 0.5"))
    make_case(scenario, SIZES["tiny"], where / "run", luck_tries=0)
    return where / "run"


def random_doc(rng: random.Random, depth: int = 0) -> object:
    pick = rng.random()
    if depth > 3 or pick < 0.4:
        return rng.choice([None, True, 0, -1, 2**70, 1.5, "", "x", "FEED", "2026-08-03", "é"])
    if pick < 0.7:
        return [random_doc(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    keys = ["id", "title", "start", "faults", "order", "shares", "notes", "type", "at", "k"]
    return {rng.choice(keys): random_doc(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def random_text(rng: random.Random, n: int = 200) -> str:
    alphabet = "abc:-[]{}#&*!|>'\"\n \t0123456789.,é\x00\\"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, n)))


def mutate(rng: random.Random, text: str) -> str:
    pos = rng.randint(0, max(len(text) - 1, 0))
    kind = rng.choice(["insert", "delete", "value", "truncate"])
    if kind == "insert":
        return text[:pos] + random_text(rng, 20) + text[pos:]
    if kind == "delete":
        return text[:pos] + text[pos + rng.randint(1, 40) :]
    if kind == "truncate":
        return text[:pos]
    lines = text.splitlines(keepends=True)
    i = rng.randrange(len(lines))
    head = lines[i].split(":", 1)[0] if ":" in lines[i] else lines[i].rstrip()
    lines[i] = f"{head}: {rng.choice(HOSTILE)}\n"
    return "".join(lines)


def damage(rng: random.Random, run: Path, dest: Path) -> tuple[str, Path]:
    """A copy of `run` (symlinks, the damaged file copied) with one kind of damage."""
    shutil.copytree(run, dest, copy_function=os.symlink)

    def own(rel: str) -> Path:
        (dest / rel).unlink()
        shutil.copyfile(run / rel, dest / rel)
        return dest / rel

    kind = rng.choice(
        ["no_manifest", "truncate_manifest", "manifest_value", "truncate_table", "corrupt_table",
         "no_table", "no_truth", "key_value", "key_text", "key_fifo", "bad_scenario", "empty"]
    )  # fmt: skip
    table = rng.choice(sorted(p.name for p in (run / "tables").iterdir()))
    if kind == "no_manifest":
        (dest / "manifest.json").unlink()
    elif kind == "truncate_manifest":
        path = own("manifest.json")
        path.write_bytes(path.read_bytes()[: rng.randint(0, 400)])
    elif kind == "manifest_value":
        manifest = json.loads((run / "manifest.json").read_text())
        manifest[rng.choice(sorted(manifest))] = random_doc(rng)
        (dest / "manifest.json").unlink()
        (dest / "manifest.json").write_text(json.dumps(manifest))
    elif kind in ("truncate_table", "corrupt_table"):
        path = own(f"tables/{table}")
        raw = bytearray(path.read_bytes())
        at = rng.randrange(len(raw))
        if kind == "truncate_table":
            raw = raw[:at]
        else:
            raw[at : at + 64] = b"\x00" * len(raw[at : at + 64])
        path.write_bytes(bytes(raw))
    elif kind == "no_table":
        (dest / "tables" / table).unlink()
    elif kind == "no_truth":
        (dest / "answer_key.json").unlink()
        (dest / "scenario.yaml").unlink()
    elif kind == "key_value":
        key = json.loads((run / "answer_key.json").read_text())
        cause = rng.choice(key["causes"])
        cause[rng.choice(sorted(cause))] = random_doc(rng)
        (dest / "answer_key.json").unlink()
        (dest / "answer_key.json").write_text(json.dumps(key))
    elif kind == "key_text":
        (dest / "answer_key.json").unlink()
        (dest / "answer_key.json").write_text(random_text(rng, 100))
    elif kind == "key_fifo":
        (dest / "answer_key.json").unlink()
        os.mkfifo(dest / "answer_key.json")
    elif kind == "bad_scenario":
        (dest / "answer_key.json").unlink()
        (dest / "scenario.yaml").unlink()
        (dest / "scenario.yaml").write_text(mutate(rng, "id: [\n"))
    else:
        shutil.rmtree(dest)
        dest.mkdir()
    return kind, dest


def catalogue(tmp: Path, run: Path) -> list[tuple[str, list[str]]]:
    """The inputs reported as crashing or hanging, each once."""
    scenario = str(SCENARIOS[0])
    files = {
        "bigint.yaml": "id: x\ntitle: T\nstart: 2026-08-03\nseed: " + "9" * 5000 + "\n",
        "deep.yaml": "id: x\ntitle: T\nstart: 2026-08-03\nbrief: " + "[" * 5000 + "]" * 5000,
        "keys.yaml": "id: x\ntitle: T\nstart: 2026-08-03\n"
        + "".join(f"k{i}: 1\n" for i in range(100_000)),
        "keys-1.1MB.yaml": "".join(f"key_{i:06d}: 1\n" for i in range(100_000)),
        "bigint.json": '{"order": [' + "9" * 5000 + "]}",
        "deep.json": "[" * 100_000 + "]" * 100_000,
        "dup.json": '{"order": ["FEED"], "order": ["DATA"], "shares": {"FEED": 1}}',
        "ok.json": json.dumps(SUBMISSION),
        "file": "not a folder",
    }
    for name, text in files.items():
        (tmp / name).write_text(text)
    os.mkfifo(tmp / "fifo")
    bundle = tmp / "take-home"
    subprocess.run([str(CASESIM), "bundle", str(run), str(bundle)], capture_output=True)
    cases = [
        ["validate", str(tmp / "bigint.yaml")],
        ["validate", str(tmp / "deep.yaml")],
        ["validate", str(tmp / "keys.yaml")],
        ["validate", str(tmp / "keys-1.1MB.yaml")],
        ["validate", str(tmp / "fifo")],
        ["validate", "/dev/zero"],
        ["validate", str(tmp)],
        ["score", str(run), str(tmp / "bigint.json")],
        ["score", str(run), str(tmp / "deep.json")],
        ["score", str(run), str(tmp / "dup.json")],
        ["score", str(run), str(tmp / "fifo")],
        ["score", str(run), "/dev/zero"],
        ["score", str(run), str(tmp)],
        ["score", str(bundle), str(tmp / "ok.json")],
        ["key", str(bundle)],
        ["key", str(tmp)],
        ["solve", str(tmp)],
        ["describe", str(tmp / "file")],
        ["run", scenario, "--seed", "-1"],
        ["run", scenario, "--seed", str(2**64)],
        ["run", scenario, "--seed", "9" * 5000],
        ["calibrate", scenario, "--seed", "-1"],
        ["run", scenario, "--out", str(tmp / "file" / "run")],
        ["run", scenario, "--out", "/proc/casesim-run"],
        ["run", scenario, "--out", str(tmp / ("x" * 300))],
        ["run", scenario, "--out", "/"],
        ["run", scenario, "--out", str(tmp), "--force"],
        ["run", str(tmp / "fifo")],
        ["bundle", str(run), str(run), "--force"],
        ["bundle", str(run), str(run / "tables"), "--force"],
        ["bundle", str(run), str(tmp), "--force"],
    ]
    return [(f"catalogue {i}", c) for i, c in enumerate(cases)]


def corpus(n: int, rng: random.Random, tmp: Path, run: Path) -> list[tuple[str, list[str]]]:
    items = catalogue(tmp, run)
    (tmp / "ok.json").write_text(json.dumps(SUBMISSION))
    vocab = ["validate", "key", "score", "solve", "describe", "bundle", "schema", "--json",
             "--force", "--quiet", "--size", "tiny", "-1", "0", "", "/", ".", "/dev/zero",
             "x" * 300, str(run), str(tmp / "ok.json"), str(tmp / "fifo"),
             str(SCENARIOS[0])]  # fmt: skip
    invalid = [["--seed", "-1"], ["--seed", str(2**40)], ["--size", "huge"],
               ["--out", str(tmp / "file" / "x")], ["--out", str(tmp), "--force"]]  # fmt: skip
    i = 0
    while len(items) < n:
        i += 1
        kind = ("scenario", "scenario", "submission", "args", "damaged")[i % 5]
        if kind == "scenario":
            path = tmp / f"s{i}.yaml"
            how = rng.random()
            if how < 0.6:
                text = mutate(rng, rng.choice(SCENARIOS).read_text())
            elif how < 0.8:
                text = json.dumps(random_doc(rng))
            else:
                text = random_text(rng)
            path.write_text(text, errors="surrogatepass")
            items.append((f"scenario {i}", ["validate", str(path)]))
        elif kind == "submission":
            path = tmp / f"s{i}.json"
            how = rng.random()
            if how < 0.5:
                text = mutate(rng, json.dumps(SUBMISSION, indent=1))
            elif how < 0.8:
                text = json.dumps(random_doc(rng))
            else:
                text = random_text(rng)
            path.write_text(text, errors="surrogatepass")
            items.append((f"submission {i}", ["score", str(run), str(path), "--json"]))
        elif kind == "args":
            words = [rng.choice(vocab) for _ in range(rng.randint(1, 5))]
            if rng.random() < 0.3:  # run/calibrate, always with something invalid
                command = rng.choice(["run", "calibrate"])
                extra = [w for w in words[1:] if w != "tiny"]  # never undo the invalid part
                words = [command, str(SCENARIOS[0]), *rng.choice(invalid), *extra]
            items.append((f"args {i}", words))
        else:
            what, folder = damage(rng, run, tmp / f"d{i}")
            command = rng.choice(["key", "score", "describe", "solve", "bundle"])
            args = [command, str(folder)]
            if command == "score":
                args.append(str(tmp / "ok.json"))
            if command == "bundle":
                args.append(str(tmp / f"b{i}"))
            items.append((f"damaged {i} {what}", args))
    return items


def attempt(args: list[str], cwd: Path) -> tuple[str, float, str]:
    """('ok' | 'traceback' | 'hang', seconds, output tail)."""
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            [str(CASESIM), *args],
            capture_output=True,
            timeout=TIMEOUT_S,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return "hang", time.perf_counter() - started, ""
    seconds = time.perf_counter() - started
    output = (proc.stdout + proc.stderr).decode(errors="replace")
    bad = "Traceback" in output or proc.returncode not in (0, 2)
    return ("traceback" if bad else "ok"), seconds, f"rc={proc.returncode} {output[-300:]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=450)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--run", type=Path, help="a keyed run folder (else a tiny one is made)")
    opts = parser.parse_args()
    rng = random.Random(opts.seed)
    with tempfile.TemporaryDirectory(prefix="casesim-fuzz-") as name:
        tmp = Path(name)
        run = opts.run.resolve() if opts.run else keyed_run(tmp)
        inputs = tmp / "inputs"
        inputs.mkdir()
        items = corpus(opts.n, rng, inputs, run)
        work = tmp / "cwd"  # `run` without --out writes under ./data: keep that here
        work.mkdir()
        started = time.perf_counter()
        with ThreadPoolExecutor(opts.workers) as pool:
            results = list(pool.map(lambda item: attempt(item[1], work), items))
        wall = time.perf_counter() - started
    tally = {"ok": 0, "traceback": 0, "hang": 0}
    for (label, args), (outcome, _, tail) in zip(items, results, strict=True):
        tally[outcome] += 1
        if outcome != "ok":
            print(f"{outcome}: {label}: {' '.join(a[:60] for a in args)}\n  {tail}")
    slow_at = max(range(len(results)), key=lambda i: results[i][1])
    print(
        f"inputs tried {len(items)}; tracebacks {tally['traceback']}; hangs {tally['hang']} "
        f"(timeout {TIMEOUT_S:.0f} s); slowest call {results[slow_at][1]:.1f} s "
        f"({items[slow_at][0]}: {' '.join(a[:40] for a in items[slow_at][1])}); "
        f"{wall:.0f} s in all with {opts.workers} workers"
    )


if __name__ == "__main__":
    main()
