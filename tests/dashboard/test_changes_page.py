"""The Changes page and the Facility page's "What changed" section, run with AppTest over
a warehouse where one hospital's second file changed known prices."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.dashboard.test_pages import run, texts
from tests.warehouse.file_versions import Versions, two_versions
from warehouse.db import Warehouse, reader


@pytest.fixture(scope="module")
def changed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Warehouse, Versions]]:
    root = tmp_path_factory.mktemp("changes")
    wh = Warehouse.at(root / "wh" / "hpt.duckdb")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HPT_WORK_DIR", str(root / "work"))
        mp.setenv("HPT_LANDING", str(root / "landing"))
        versions = two_versions(root, wh)
    yield wh, versions


def expected_top(wh: Warehouse, facility_id: str) -> list[tuple[str, str]]:
    with reader(wh) as con:
        return con.execute(
            "SELECT printf('$%,.2f', old_median), printf('$%,.2f', new_median) "
            "FROM price_changes WHERE facility_id = ? AND least(old_median, new_median) >= 1 "
            "AND abs(change) >= 0.01 ORDER BY abs(change_pct) DESC, code, payer, plan_type",
            [facility_id],
        ).fetchall()


def test_changes_page_for_a_facility(
    changed: tuple[Warehouse, Versions], monkeypatch: pytest.MonkeyPatch
) -> None:
    wh, versions = changed
    at = run("changes", wh, monkeypatch, facility=versions.facility_id)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Services added"] == "1" and metrics["Services removed"] == "2"
    assert int(metrics["Prices up"]) > 0 and int(metrics["Prices down"]) > 0
    top = at.table[0].value
    assert (
        list(zip(top["Before"], top["Now"], strict=True))
        == expected_top(wh, versions.facility_id)[:10]
    )
    assert {c.split()[-1] for c in top["Code"]} <= set(versions.scale)
    assert "None" not in [*top["Payer"], *top["Plan type"]]  # a missing value is blank
    codes = at.dataframe[2].value  # up, down, then added and removed
    assert sorted(codes["code"]) == sorted([*versions.add, *versions.remove])
    assert any("last updated its file on 2026-02-15" in t for t in texts(at, "markdown"))
    assert at.query_params["facility"] == versions.facility_id


def test_changes_page_national_list_and_filters(
    changed: tuple[Warehouse, Versions], monkeypatch: pytest.MonkeyPatch
) -> None:
    wh, versions = changed
    at = run("changes", wh, monkeypatch)
    national = at.dataframe[0].value
    assert set(national["code"]) == set(versions.scale)
    assert national["change_pct"].abs().is_monotonic_decreasing
    code = next(iter(versions.scale))
    at = run("changes", wh, monkeypatch, code=code, state="CA")
    assert set(at.dataframe[0].value["code"]) == {code}
    at = run("changes", wh, monkeypatch, min="100000")
    assert any("No hospital's new file moved a price" in t for t in texts(at, "info"))
    at = run("changes", wh, monkeypatch, facility="nowhere")
    assert any("No facility" in t for t in texts(at, "warning"))


def test_facility_page_what_changed(
    changed: tuple[Warehouse, Versions], monkeypatch: pytest.MonkeyPatch
) -> None:
    wh, versions = changed
    at = run("facility", wh, monkeypatch, facility=versions.facility_id)
    assert "What changed since the previous file" in [s.value for s in at.subheader]
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Services added"], metrics["Services removed"]) == ("1", "2")
    top = at.table[0].value
    assert (
        list(zip(top["Before"], top["Now"], strict=True))
        == expected_top(wh, versions.facility_id)[:5]
    )
    captions = texts(at, "caption")
    assert any(f"Services added: CPT {next(iter(versions.add))}." in c for c in captions)
    links = [m.value for m in at.markdown if "changes?facility=" in m.value]
    assert links and versions.facility_id in links[0]
    with reader(wh) as con:
        other = con.execute(
            "SELECT facility_id FROM current_files WHERE facility_id <> ?", [versions.facility_id]
        ).fetchall()[0][0]
    at = run("facility", wh, monkeypatch, facility=other)
    assert any("first file of this hospital" in t for t in texts(at, "info"))
