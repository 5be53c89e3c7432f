"""Where the dashboard finds its run and its data folder.

`casesim dashboard` passes them as script arguments (`-- --run RUN --data-dir DATA`); tests
and other launchers may set `CASESIM_RUN` / `CASESIM_DATA_DIR` instead. Arguments win.
The host token (which opens everyone's history) comes only from `CASESIM_HOST_TOKEN`, so it
never shows in the process list. A take-home (`casesim takehome serve DIR`) is given as
`--takehome DIR` or `CASESIM_TAKEHOME`: its folder is then also the data folder (the store is
DIR/casesim.sqlite) and no run is given (each seat's token opens its own variant).
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCENARIOS_DIR = REPO / "scenarios"
SQL_WORKERS = 2  # SQL worker processes (CASESIM_SQL_WORKERS): one runaway query blocks no one


@dataclass(frozen=True)
class Settings:
    """The run given at launch (None: the case picker opens first) and the data folder."""

    run_dir: Path | None
    data_dir: Path
    scenarios_dir: Path = SCENARIOS_DIR
    sql_workers: int = SQL_WORKERS
    host_token: str | None = None
    takehome: Path | None = None


def parse(argv: list[str] | None = None, env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ) if env is None else env
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--run", default=None)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--takehome", default=None)
    args, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    takehome = args.takehome or env.get("CASESIM_TAKEHOME") or None
    run = None if takehome else args.run or env.get("CASESIM_RUN") or None
    data = takehome or args.data_dir or env.get("CASESIM_DATA_DIR") or "data"
    scenarios = env.get("CASESIM_SCENARIOS_DIR")
    return Settings(
        run_dir=Path(run).resolve() if run else None,
        data_dir=Path(data).resolve(),
        takehome=Path(takehome).resolve() if takehome else None,
        scenarios_dir=Path(scenarios).resolve() if scenarios else SCENARIOS_DIR,
        sql_workers=max(1, int(env.get("CASESIM_SQL_WORKERS") or SQL_WORKERS)),
        host_token=env.get("CASESIM_HOST_TOKEN") or None,
    )
