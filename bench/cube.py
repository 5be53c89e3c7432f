"""CPU-seconds of building a run's cube: this checkout against another, in alternating pairs.

Each build runs in a child process (`readout.cube.write_cube` into a fresh folder) that
reports the CPU-seconds of the build alone (`time.process_time()`: every thread of the
process, polars' included), its peak RSS and the load average. Builds of this checkout
(`new`) and of the other (`old`, e.g. a `git worktree add /tmp/old HEAD~3`) alternate, so
a shared machine's drift falls on both; medians and per-pair ratios are printed.

    python bench/cube.py RUN_DIR --old /tmp/old --pairs 5
    python bench/cube.py RUN_DIR --pairs 3          # this checkout only
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.checkouts import run_in  # noqa: E402

BUILD = """
import json, resource, sys, time
from pathlib import Path
from readout.cube import write_cube
out = Path(sys.argv[2])
out.mkdir()
started = time.process_time()
write_cube(Path(sys.argv[1]), out)
cpu = time.process_time() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"cpu_s": cpu, "peak_mib": peak}))
"""


def build(code: Path, run_dir: Path) -> dict[str, float]:
    """One cube build by the code at `code`, in a child process."""
    with tempfile.TemporaryDirectory(prefix="cube-bench-") as tmp:
        return run_in(code, BUILD, str(run_dir), str(Path(tmp) / "cube"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--old", type=Path, help="another checkout to compare against")
    parser.add_argument("--pairs", type=int, default=5)
    args = parser.parse_args()
    new_cpu, old_cpu, ratios = [], [], []
    for i in range(args.pairs):
        old = build(args.old, args.run_dir) if args.old else None
        new = build(ROOT, args.run_dir)
        new_cpu.append(new["cpu_s"])
        line = f"pair {i + 1}: new {new['cpu_s']:.2f} s ({new['peak_mib']:.0f} MiB)"
        if old:
            old_cpu.append(old["cpu_s"])
            ratios.append(old["cpu_s"] / new["cpu_s"])
            line = (
                f"pair {i + 1}: old {old['cpu_s']:.2f} s ({old['peak_mib']:.0f} MiB), "
                f"new {new['cpu_s']:.2f} s ({new['peak_mib']:.0f} MiB), "
                f"ratio {ratios[-1]:.2f}"
            )
        print(f"{line}, load {old['load'] if old else new['load']:.2f}/{new['load']:.2f}")
    summary = f"median CPU-s: new {statistics.median(new_cpu):.2f}"
    if old_cpu:
        summary += (
            f", old {statistics.median(old_cpu):.2f}, "
            f"median ratio {statistics.median(ratios):.2f} "
            f"(pairs: {', '.join(f'{r:.2f}' for r in ratios)})"
        )
    print(summary)
    print(f"load average now: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
