"""Peak memory of a run at a size: the simulation alone against the run with its cube.

Each step runs in a child process whose own resource usage (peak RSS, CPU-seconds) is read
when it exits (`os.wait4`), so no step's memory counts towards another's:

- `simulation`: the simulator alone writing a run folder (the reference);
- `cube`: the cube built alone on that folder;
- `run`: `casesim run` as a user types it (simulation, then the cube inside the same
  atomic folder; no key, no luck search, no replicates).

Peaks are printed beside wall time, CPU-seconds and the load average around each step (the
machine is shared: a loaded machine stretches wall time, not memory), and as ratios to the
simulation's peak measured in the same invocation.

    python bench/memory.py --size default
    python bench/memory.py --size large --steps run    # the whole command only
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
GIB = 1024**3
STEPS = ("simulation", "cube", "run")

SIMULATE = """
import sys
from pathlib import Path
from sim.runner import simulate
from sim.scenario import load_scenario
from sim.world import SIZES
simulate(load_scenario(sys.argv[1]), SIZES[sys.argv[2]], Path(sys.argv[4]), seed=int(sys.argv[3]))
"""
CUBE = "import sys; from readout.cube import ensure_cube; ensure_cube(sys.argv[1])"
CLI = "import sys; from casesim.cli import app; sys.argv[0] = 'casesim'; app()"


def measured(argv: list[str]) -> dict[str, float]:
    """Run `argv` as a child; its wall and CPU seconds, peak RSS and the load around it."""
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    child = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{argv[:3]}... failed with exit code {child.returncode}")
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_gib": usage.ru_maxrss * 1024 / GIB,  # ru_maxrss is in KiB on Linux
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
    }


def commands(scenario: Path, size: str, seed: int, work: Path) -> dict[str, list[str]]:
    sim_dir, run_dir = work / "simulation", work / "run"
    script = Path(PYTHON).with_name("casesim")  # the environment's own entry point
    casesim = [str(script)] if script.exists() else [PYTHON, "-c", CLI]
    return {
        "simulation": [PYTHON, "-c", SIMULATE, str(scenario), size, str(seed), str(sim_dir)],
        "cube": [PYTHON, "-c", CUBE, str(sim_dir)],
        "run": [
            *casesim, "run", str(scenario), "--size", size, "--seed", str(seed),
            "--luck-tries", "0", "--replicates", "0", "--no-key", "--quiet",
            "--out", str(run_dir),
        ],
    }  # fmt: skip


def impressions(folder: Path) -> int | None:
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    return manifest["tables"]["impressions"]["rows"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="default")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scenario", type=Path, default=ROOT / "scenarios" / "baseline.yaml")
    parser.add_argument(
        "--steps", default=",".join(STEPS), help=f"comma-separated, of {', '.join(STEPS)}"
    )
    parser.add_argument("--keep", type=Path, help="write the run folders here and keep them")
    args = parser.parse_args()
    steps = [s for s in args.steps.split(",") if s]
    if unknown := set(steps) - set(STEPS):
        parser.error(f"unknown steps: {', '.join(sorted(unknown))}")
    if "cube" in steps and "simulation" not in steps:
        parser.error("the cube step builds on the simulation step's folder")

    work = args.keep or Path(tempfile.mkdtemp(prefix="casesim-memory-"))
    work.mkdir(parents=True, exist_ok=True)
    argv = commands(args.scenario.resolve(), args.size, args.seed, work)
    results: dict[str, dict[str, float]] = {}
    try:
        for step in steps:
            results[step] = measured(argv[step])
        shown = impressions(work / "run") or impressions(work / "simulation")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)

    print(f"size {args.size}, seed {args.seed}, {os.cpu_count()} CPUs", end="")
    print(f", {shown:,} impressions" if shown else "")
    print(f"{'step':<11}{'peak GiB':>9}{'× sim':>7}{'wall s':>8}{'CPU s':>8}{'load':>12}")
    reference = results.get("simulation", {}).get("peak_gib")
    for step, r in results.items():
        ratio = f"{r['peak_gib'] / reference:.2f}" if reference else "–"
        load = f"{r['load_before']:.1f}→{r['load_after']:.1f}"
        print(
            f"{step:<11}{r['peak_gib']:>9.2f}{ratio:>7}{r['wall_s']:>8.1f}{r['cpu_s']:>8.1f}"
            f"{load:>12}"
        )


if __name__ == "__main__":
    main()
