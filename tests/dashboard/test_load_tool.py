"""The dashboard load tool (bench/bench_dashboard_load.py), run briefly against the real
server: simulated users load every page and change a widget with no error, and a page
that does not render what it must is counted as an error."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from pathlib import Path

import pytest

from bench.bench_dashboard_load import SCENARIOS, Results, load, serving, visit
from warehouse.db import Warehouse

pytestmark = pytest.mark.slow


def test_five_users_load_every_page_without_error(demo_wh: Warehouse) -> None:
    with serving(demo_wh.db_path) as base:
        results = asyncio.run(load(base, users=5, seconds=5, think=(0.2, 0.5)))
        missing = Results()
        wrong = dataclasses.replace(SCENARIOS[0], expect="a text no page shows")
        ws_url = base.replace("http", "ws", 1) + "/_stcore/stream"
        asyncio.run(visit(ws_url, wrong, missing, 60.0, lambda: 0.0))
    summary = results.summary()
    assert summary["errors"] == 0, summary["error_samples"]
    # Each user starts on its own page: every page was loaded, checked and changed.
    assert set(summary["by_scenario"]) == {s.name for s in SCENARIOS}
    assert summary["page_loads"] >= 5 and summary["interactions"] >= 5
    assert dict(missing.errors) == {"content missing": 1}
    assert not missing.page_load


def test_no_python_udf_runs_inside_polars_in_the_dashboard() -> None:
    """Under concurrent sessions a Polars UDF deadlocks the whole server: Polars runs it on
    its thread pool, where it waits for the GIL, held by another session's thread waiting
    for that pool (`DataFrame.to_pandas`). Pages map values with `ui.mapped` instead."""
    root = Path(__file__).resolve().parents[2] / "dashboard"
    calls = re.compile(r"\.(map_elements|map_batches|map_rows|map_groups)\(")
    found = [
        f"{path.relative_to(root)}:{number}"
        for path in sorted(root.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if calls.search(line)
    ]
    assert not found, f"Polars UDFs in the dashboard: {found}"
