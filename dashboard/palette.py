"""The dashboard's colours, in a module of their own so the brief's static chart can share
them without importing plotly (dashboard.figures)."""

from __future__ import annotations

BEFORE = "#8C96A8"
AFTER = "#FF5000"
REFERENCE = "#A9B4C6"
MIX = "#3B5BDB"
RATE = "#FF922B"
GOOD = "#2B8A3E"
BAD = "#E03131"
GRID = "#EEF0F3"
INK = "#1F2430"
PALETTE = (
    "#FF5000",
    "#1C7ED6",
    "#2B8A3E",
    "#AE3EC9",
    "#F59F00",
    "#0CA678",
    "#E64980",
    "#495057",
    "#74C0FC",
    "#8CE99A",
    "#FFA8A8",
    "#B197FC",
)
AXIS = "#CED4DA"
TEXT = "#495057"
NOISE = "#868E96"  # the typical week-over-week band: grey, as it is no finding
