"""Folders named after the process that writes them: a folder whose process is gone is a
leftover (a run killed mid-write, a dashboard server killed with its SQL workers' scratch)."""

from __future__ import annotations

import os


def pid_alive(pid: int) -> bool:
    """True while process `pid` exists (also when it is someone else's)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return pid > 0  # someone else's process, or a pid no system has
    return True
