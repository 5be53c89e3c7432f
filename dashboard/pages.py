"""The dashboard's pages: url path (= views/<name>.py), title and icon. The app registers
these and no others; the hypothesis registry (grading.hypotheses) points at them by name."""

from __future__ import annotations

PAGES: dict[str, tuple[str, str]] = {
    "picker": ("Pick a case", ":material/folder_open:"),
    "history": ("History", ":material/history:"),
    "brief": ("Brief", ":material/description:"),
    "overview": ("Overview", ":material/monitoring:"),
    "segments": ("Segments", ":material/donut_small:"),
    "changes": ("Changes & experiments", ":material/science:"),
    "latency": ("Latency", ":material/speed:"),
    "feed": ("Feed & ranker health", ":material/rss_feed:"),
    "seasonality": ("Seasonality", ":material/calendar_month:"),
    "sql": ("SQL", ":material/terminal:"),
    "hypotheses": ("Hypotheses", ":material/checklist:"),
    "debrief": ("Debrief", ":material/emoji_events:"),
}
INVESTIGATE = ("overview", "segments", "changes", "latency", "feed", "seasonality", "sql")


def view_path(name: str) -> str:
    """The page's script, relative to dashboard/app.py."""
    return f"views/{name}.py"
