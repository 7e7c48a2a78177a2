"""`python -m dashboard.serve run dashboard/app.py [flags]`: exactly `streamlit run`, with the
dashboard's heavy libraries imported beside the starting server, so the first visitor does not
wait for them (pandas and pydeck alone take seconds to import on a busy machine).

Two settings make a page run cheaper when many sessions share the process:

* no full garbage collection after every script run (`runner.postScriptGC`, on by default in
  Streamlit): with the libraries and the ZIP table loaded, the heap holds ~300,000 objects and
  each collection took ~0.25 s of CPU, holding the GIL — most of a page run. Frames and
  charts are freed by reference counting as soon as a run ends; Python's own generational
  collector still runs. `STREAMLIT_RUNNER_POST_SCRIPT_GC=true` turns it back on.
* the objects loaded once per process (modules, the ZIP table) are moved out of the
  collector's sight (`gc.freeze`) after the preload, so the collections that do happen only
  walk what the page runs allocate.
"""

from __future__ import annotations

import gc
import importlib
import os
import sys
import threading

PRELOAD = (
    "polars", "duckdb", "pandas", "pyarrow", "pydeck",
    "dashboard.reads", "dashboard.ui", "warehouse.queries", "dashboard.geo",
)  # fmt: skip


def _preload() -> None:
    for name in PRELOAD:
        importlib.import_module(name)  # imports are thread-safe: a page waits for the lock
    from dashboard import geo

    geo.zip_point(None)  # reads the ZIP table once (~1 s), before a map or distance needs it
    gc.freeze()


def main() -> None:
    os.environ.setdefault("STREAMLIT_RUNNER_POST_SCRIPT_GC", "false")
    threading.Thread(target=_preload, name="preload", daemon=True).start()
    from streamlit.web.cli import main as streamlit

    sys.argv[0] = "streamlit"
    streamlit()


if __name__ == "__main__":
    main()
