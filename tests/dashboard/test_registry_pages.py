"""The registry's hospitals without a current file on the Data quality page and the map:
"no file yet" or "failing", with the last attempt."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.registry import SourceEntry
from tests.dashboard import demo_warehouse
from tests.dashboard.test_pages import run
from warehouse.db import Warehouse, writer
from warehouse.publish import publish
from warehouse.sources import record_acquisition, sync_registry


@pytest.fixture(scope="module")
def tracked_wh(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    """One loaded hospital, plus two registry hospitals: one never tried, one failing."""
    wh = demo_warehouse.build(tmp_path_factory.mktemp("registry"), [(1, "CA", "93721")],
                              troubles=False)  # fmt: skip
    with writer(wh) as con:
        loaded = con.execute("SELECT facility_id FROM current_files").fetchall()[0][0]
    sync_registry(wh, [
        SourceEntry("Loaded Hospital", loaded, "CA", "Fresno", "93721", website="https://a.org/"),
        SourceEntry("Lakeside Hospital", "240001", "MN", "Duluth", "55805",
                    website="https://lakeside.example/"),
        SourceEntry("Prairie Hospital", "240002", "MN", "Fargo", "", website="https://p.example/"),
        SourceEntry("Hilltop Hospital", "450002", "TX", "Austin", "78701",
                    website="https://hilltop.example/"),
    ])  # fmt: skip
    record_acquisition(wh, "450002", {"url": "https://hilltop.example/cms-hpt.txt",
                                      "status": 404, "outcome": "failed",
                                      "message": "cms-hpt.txt answered HTTP 404"})  # fmt: skip
    publish(wh)
    return wh


def test_quality_page_lists_hospitals_without_a_file(
    tracked_wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = run("quality", tracked_wh, monkeypatch)
    assert any("Tracked hospitals without a file: 3" in h.value for h in at.subheader)
    table = at.dataframe[-1].value
    status = dict(zip(table["hospital_name"], table["status"], strict=True))
    assert status == {"Hilltop Hospital": "failing", "Lakeside Hospital": "no file yet",
                      "Prairie Hospital": "no file yet"}  # fmt: skip
    why = dict(zip(table["hospital_name"], table["last_message"], strict=True))
    assert why["Hilltop Hospital"] == "cms-hpt.txt answered HTTP 404"
    assert table["last_attempt_at"].notna().sum() == 1


def test_map_shows_them_grey_with_their_status(
    tracked_wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = run("map", tracked_wh, monkeypatch)
    table = at.dataframe[0].value
    status = dict(zip(table["hospital_name"], table["status"], strict=True))
    assert status["Lakeside Hospital"] == "no file yet"
    assert status["Hilltop Hospital"].startswith("failing (last attempt ")
    assert table["status"].isna().sum() == 1  # the loaded one
    assert any("Prairie Hospital" in c.value for c in at.caption)  # no ZIP: not placed


def test_without_a_registry_nothing_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wh = demo_warehouse.build(tmp_path, [(2, "TX", "78701")], troubles=False)
    at = run("quality", wh, monkeypatch)
    assert not any("without a file" in h.value for h in at.subheader)
