"""The hospital price dashboard: `hpt dashboard` (or `streamlit run dashboard/app.py`).

It reads the published snapshot of the warehouse named by `HPT_DB` (`--db` of
`hpt dashboard`, or `streamlit run dashboard/app.py -- --db PATH`), never the writer's file.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import duckdb
import streamlit as st

# `streamlit run dashboard/app.py -- --db PATH`: the script's own arguments.
if "--db" in sys.argv[1:-1]:
    os.environ["HPT_DB"] = sys.argv[sys.argv.index("--db") + 1]

from dashboard import reads, ui
from dashboard.snapshot import NoSnapshot, snapshot

HERE = Path(__file__).parent

st.set_page_config(page_title="Hospital prices", layout="wide")

pages = {
    "Patients": [
        st.Page(HERE / "views" / "find_price.py", title="Find a price", default=True),
        st.Page(HERE / "views" / "map.py", title="Map", url_path="map"),
    ],
    "Analysts": [
        st.Page(HERE / "views" / "compare.py", title="Compare", url_path="compare"),
        st.Page(HERE / "views" / "facility.py", title="Facility", url_path="facility"),
        st.Page(HERE / "views" / "changes.py", title="Changes", url_path="changes"),
        st.Page(HERE / "views" / "quality.py", title="Data quality", url_path="quality"),
        st.Page(HERE / "views" / "source.py", title="Source", url_path="source"),
    ],
}
current = st.navigation(pages)

with st.sidebar:
    try:
        snap = snapshot()
        info = snap.lookup(reads.overview)
        built = info["built_at"]
        st.caption(
            f"{info['facilities']:,} hospitals · {info['codes']:,} services"
            + (f" · prices as of {built:%Y-%m-%d %H:%M} UTC" if built else "")
        )
    except NoSnapshot:
        st.caption("No published warehouse yet.")
    except duckdb.Error as error:  # a snapshot without marts yet: say so, keep serving
        st.caption(f"Warehouse summary unavailable: {ui.plain(str(error).splitlines()[0])}")

current.run()
