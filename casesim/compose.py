"""Wiring the write side to the read side: a case is generated with its cube inside the
same atomic folder (sim/ cannot build it itself: it never imports readout/)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from readout.cube import ensure_cube
from sim import case
from sim.runner import release_memory


def make_case(*args: Any, **kwargs: Any) -> tuple[dict[str, Any], Any]:
    """`sim.case.make_case` with the cube built before the folder is published."""
    return case.make_case(*args, finish=_cube, **kwargs)


def _cube(folder: Path) -> None:
    # The simulation (and the key, computed just before) are done with the warm world:
    # the cube's peak then adds to what the run still needs, not to the engine's.
    release_memory()
    ensure_cube(folder)
