"""The SQL sandbox on a real run: a benchmark and an audit, not a test.

Measures, with the dashboard's own pool (real worker processes, production limits):
- a runaway query (a cross join of impressions) in one session: when it stops, against its
  time limit;
- meanwhile a second session's `SELECT 1`, `--probes` times: each answer's latency (target
  1 s), and the workers' memory;
and runs the hostile-query corpus of tests/dashboard/test_sql_sandbox.py against the run,
counting results or messages that hold any of the run's secrets (its causes' ids, its
scenario's fault ids, /etc/passwd, the server's environment), and the harmless queries
refused.

    .venv/bin/python bench/sql_pool.py --run RUN_DIR [--timeout S] [--probes N] [--workers N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dashboard.sqlpool import WorkerPool  # noqa: E402
from dashboard.sqlresult import QueryError  # noqa: E402
from dashboard.sqlworker import TIMEOUT_SECONDS, QueryWorker  # noqa: E402
from tests.dashboard.test_sql_sandbox import HARMLESS, HOSTILE  # noqa: E402

RUNAWAY = (
    "SELECT COUNT(*) AS n FROM impressions a CROSS JOIN impressions b CROSS JOIN impressions c"
)
TOKEN = "bench-host-token-must-stay-behind"


def rss_mib(pid: int | None) -> float:
    """Resident memory of a process, from /proc."""
    if pid is None:
        return 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def secrets(run: Path) -> list[str]:
    """Strings that only the run's truth files (or the machine) hold."""
    key = json.loads((run / "answer_key.json").read_text())
    found = [c["id"] for c in key["causes"] if c["id"] != "noise"]
    found += [key["method"], "root:x:0:0", TOKEN]
    scenario = (run / "scenario.yaml").read_text()
    for line in scenario.splitlines():  # the faults' ids and types (indented list items)
        key_, _, value = line.strip().lstrip("- ").partition(":")
        if line.startswith(("-", " ")) and key_ in ("id", "type") and value.strip():
            found.append(value.strip())
    return sorted(set(found))


def runaway_and_probes(pool: WorkerPool, run: Path, probes: int) -> None:
    for _ in range(pool.size):  # every worker has the run open, as in a running server
        pool.run(run, "SELECT 1", 1)
    stopped: list[float] = []

    def runaway() -> None:
        started = time.monotonic()
        try:
            pool.run(run, RUNAWAY, 10)
        except QueryError as exc:
            print(f"  runaway: {exc}")
        stopped.append(time.monotonic() - started)

    thread = threading.Thread(target=runaway)
    thread.start()
    time.sleep(1.0)
    latencies = []
    for _ in range(probes):
        started = time.monotonic()
        assert pool.run(run, "SELECT 1 AS one", 1).frame.item() == 1
        latencies.append(time.monotonic() - started)
        time.sleep(0.5)
    busy = [rss_mib(w.pid) for w in pool.workers]
    thread.join()
    print(
        f"  SELECT 1 beside the runaway ({probes} probes): median "
        f"{statistics.median(latencies) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms "
        f"(target 1000 ms)"
    )
    print(f"  runaway stopped after {stopped[0]:.2f} s (time limit {pool_timeout(pool):g} s)")
    print(f"  worker RSS during the runaway: {', '.join(f'{m:.0f} MiB' for m in busy)}")


def pool_timeout(pool: WorkerPool) -> float:
    return pool.workers[0].timeout


def corpus(run: Path, timeout: float) -> None:
    marks = secrets(run)
    worker = QueryWorker(timeout=timeout)
    leaked, outcomes, refused = [], {}, []
    try:
        for query, _expected in HOSTILE:
            sql = query.replace("{run}", str(run))
            try:
                text = str(worker.run(run, sql, 100).frame.rows())
                kind = "ran"
            except QueryError as exc:
                text, kind = str(exc), type(exc).__name__
            outcomes[kind] = outcomes.get(kind, 0) + 1
            if any(m in text for m in marks):
                leaked.append(sql[:80])
        for sql in HARMLESS:
            try:
                worker.run(run, sql, 10_000)
            except QueryError as exc:
                refused.append(f"{sql[:60]}: {exc}")
    finally:
        worker.close()
    print(f"  secrets looked for: {len(marks)} strings from answer_key.json, scenario.yaml, ...")
    print(f"  hostile: {len(leaked)} of {len(HOSTILE)} read anything outside the tables {outcomes}")
    for q in leaked:
        print(f"    LEAK {q}")
    print(f"  harmless: {len(refused)} of {len(HARMLESS)} refused")
    for r in refused:
        print(f"    REFUSED {r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--timeout", type=float, default=TIMEOUT_SECONDS)
    parser.add_argument("--probes", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    run = args.run.resolve()
    os.environ["CASESIM_HOST_TOKEN"] = TOKEN  # a server secret the workers must not inherit
    print(f"run: {run}  workers: {args.workers}  time limit: {args.timeout:g} s")
    pool = WorkerPool(args.workers, lambda: QueryWorker(timeout=args.timeout))
    try:
        runaway_and_probes(pool, run, args.probes)
    finally:
        pool.close()
    corpus(run, min(args.timeout, 5.0))


if __name__ == "__main__":
    main()
