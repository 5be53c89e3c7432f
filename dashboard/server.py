"""`streamlit run`, with the dashboard's heavy imports warmed in the background (see
`dashboard.preload`)."""

from __future__ import annotations

import sys

from dashboard import preload


def main(argv: list[str]) -> None:
    """Run the Streamlit CLI with `argv` (e.g. ["run", "app.py", "--server.port=8501"])."""
    preload.start()
    from streamlit.web.cli import main as streamlit_main

    sys.argv = ["streamlit", *argv]
    streamlit_main()


if __name__ == "__main__":
    main(sys.argv[1:])
