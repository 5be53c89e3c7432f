"""CPU-seconds of the reference solver on cases: this checkout against another, in pairs.

Each solve runs in a child process (`grading.solver.solve` on a case folder) that reports
the CPU-seconds of the solve alone (`time.process_time()`: every thread of the process,
polars' included) and its wall time. Solves of the other checkout (`old`, e.g. a
`git worktree add /tmp/old HEAD~3`) and of this one (`new`) alternate, case by case, so a
shared machine's drift falls on both; per-case ratios (old/new CPU-s) and their medians are
printed, with the load average beside each pair.

    python bench/solver.py /tmp/cases/feed_remap /tmp/cases/stock_gap --old /tmp/old
    python bench/solver.py /tmp/cases/* --old /tmp/old --pairs 3
    python bench/solver.py /tmp/cases/feed_remap          # this checkout only
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.checkouts import run_in  # noqa: E402

SOLVE = """
import json, sys, time
from pathlib import Path
from grading.solver import solve
cpu, wall = time.process_time(), time.perf_counter()
solve(Path(sys.argv[1]))
print(json.dumps({"cpu_s": time.process_time() - cpu, "wall_s": time.perf_counter() - wall}))
"""


def solve_once(code: Path, case: Path) -> dict[str, float]:
    """One solve by the code at `code`, in a child process."""
    return run_in(code, SOLVE, str(case))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", type=Path, nargs="+", help="case folders (with tables/)")
    parser.add_argument("--old", type=Path, help="another checkout to compare against")
    parser.add_argument("--pairs", type=int, default=1, help="pairs per case")
    args = parser.parse_args()
    cases = [c for c in args.cases if (c / "tables").is_dir()]
    new_cpu, old_cpu, ratios = [], [], []
    for case in cases:
        case_ratios = []
        for _ in range(args.pairs):
            old = solve_once(args.old, case) if args.old else None
            new = solve_once(ROOT, case)
            new_cpu.append(new["cpu_s"])
            line = f"{case.name:32s} new {new['cpu_s']:.2f} CPU-s ({new['wall_s']:.2f} s wall)"
            if old:
                old_cpu.append(old["cpu_s"])
                case_ratios.append(old["cpu_s"] / new["cpu_s"])
                line = (
                    f"{case.name:32s} old {old['cpu_s']:.2f} CPU-s ({old['wall_s']:.2f} s wall), "
                    f"new {new['cpu_s']:.2f} CPU-s ({new['wall_s']:.2f} s wall), "
                    f"ratio {case_ratios[-1]:.2f}"
                )
            load = f"{old['load']:.2f}/{new['load']:.2f}" if old else f"{new['load']:.2f}"
            print(f"{line}, load {load}", flush=True)
        ratios += case_ratios
    summary = f"{len(cases)} cases, median new {statistics.median(new_cpu):.2f} CPU-s"
    if old_cpu:
        summary += (
            f", median old {statistics.median(old_cpu):.2f} CPU-s; old/new: median ratio "
            f"{statistics.median(ratios):.2f} (min {min(ratios):.2f}, max {max(ratios):.2f}), "
            f"total {sum(old_cpu):.1f} / {sum(new_cpu):.1f} CPU-s = "
            f"{sum(old_cpu) / sum(new_cpu):.2f}"
        )
    print(summary)
    print(f"load average now: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
