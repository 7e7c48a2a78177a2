"""`python -m dashboard.serve run dashboard/app.py [flags]`: exactly `streamlit run`, with the
dashboard's heavy libraries imported beside the starting server, so the first visitor does not
wait for them (altair and pandas alone take seconds to import on a busy machine)."""

from __future__ import annotations

import importlib
import sys
import threading

PRELOAD = (
    "polars", "duckdb", "pandas", "altair", "pydeck",
    "dashboard.reads", "dashboard.ui", "warehouse.queries", "dashboard.geo",
)  # fmt: skip


def _preload() -> None:
    for name in PRELOAD:
        importlib.import_module(name)  # imports are thread-safe: a page waits for the lock


def main() -> None:
    threading.Thread(target=_preload, name="preload", daemon=True).start()
    from streamlit.web.cli import main as streamlit

    sys.argv[0] = "streamlit"
    streamlit()


if __name__ == "__main__":
    main()
