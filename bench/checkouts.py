"""Running a snippet with another checkout's code, for the benchmarks that compare two
checkouts in alternating pairs (bench/cube.py, bench/solver.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def run_in(code: Path, snippet: str, *args: str) -> dict[str, float]:
    """The JSON the snippet prints last, run in a child process on `code`'s packages (its
    own imports, not this process's), with the load average when it ended."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    argv = [sys.executable, "-c", snippet, *args]
    out = subprocess.run(argv, env=env, cwd=code, check=True, capture_output=True, text=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["load"] = os.getloadavg()[0]
    return result
