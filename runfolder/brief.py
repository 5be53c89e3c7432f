"""The brief (`case.yaml`) and its comparison windows: the one Windows type.

The brief states the case's start, its length in days and the windows: the last
`after_days` days against the `before_days` before them. Readers label dates with
`window_label`; the simulator measures the same windows by day index (`day_ranges`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from runfolder.layout import CASE_FILE

SIDES = ("before", "after")


@dataclass(frozen=True)
class Windows:
    """The case's comparison windows (inclusive dates), as the brief states them."""

    start: date
    days: int
    before: tuple[date, date]
    after: tuple[date, date]

    @classmethod
    def of(cls, start: date, days: int, before_days: int, after_days: int) -> Windows:
        """The last `after_days` days of the case against the `before_days` before them."""
        after_start = start + timedelta(days=days - after_days)
        before_start = after_start - timedelta(days=before_days)
        return cls(
            start,
            days,
            (before_start, after_start - timedelta(days=1)),
            (after_start, start + timedelta(days=days - 1)),
        )

    @property
    def end(self) -> date:
        return self.start + timedelta(days=self.days - 1)

    def day_ranges(self) -> dict[str, tuple[int, int]]:
        """Each window as day indices [first, last + 1) within the case period."""
        return {
            side: ((a - self.start).days, (b - self.start).days + 1)
            for side, (a, b) in (("before", self.before), ("after", self.after))
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "days": self.days,
            "before": [d.isoformat() for d in self.before],
            "after": [d.isoformat() for d in self.after],
        }


def read_case(run_dir: Path | str) -> dict[str, Any]:
    """The candidate-facing brief (`case.yaml`)."""
    return yaml.safe_load((Path(run_dir) / CASE_FILE).read_text(encoding="utf-8"))


def case_windows(case: dict[str, Any]) -> Windows:
    """The windows a brief states."""
    w = case["windows"]
    return Windows.of(
        date.fromisoformat(str(case["start"])),
        int(case["days"]),
        int(w["before_days"]),
        int(w["after_days"]),
    )


def read_windows(run_dir: Path | str) -> Windows:
    return case_windows(read_case(run_dir))


def window_label(windows: Windows, col: str = "date") -> pl.Expr:
    """'before', 'after' or null for a date column (current period dates only)."""
    (b0, b1), (a0, a1) = windows.before, windows.after
    return (
        pl.when(pl.col(col).is_between(b0, b1))
        .then(pl.lit("before"))
        .when(pl.col(col).is_between(a0, a1))
        .then(pl.lit("after"))
        .otherwise(pl.lit(None, pl.String))
    )
