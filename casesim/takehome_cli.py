"""`casesim takehome create | serve | grade`: take-homes for hiring teams.

The folder these commands share is described in `runfolder.takehome`.
"""

from __future__ import annotations

import typer

takehome_app = typer.Typer(
    no_args_is_help=True,
    help="Take-homes: one variant per candidate, a hosted session, grading and a cohort report.",
)
