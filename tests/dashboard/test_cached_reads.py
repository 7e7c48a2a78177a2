"""Reads cached per published snapshot: the same snapshot and arguments answer from memory,
another argument or a new publish reads again, and a page never sees a stale snapshot."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.snapshot import Snapshot
from devtools.synthetic.model import make_hospital
from devtools.synthetic.tall import tall_file
from hpt.pipeline.steps import ingest_file
from tests.dashboard import demo_warehouse

PAGES = Path(__file__).resolve().parents[2] / "dashboard" / "views"
CALLS: Counter[tuple[str, str]] = Counter()


def counted(con: duckdb.DuckDBPyConnection, name: str, state: str | None = None) -> list[str]:
    CALLS[(name, state or "")] += 1
    return [str(con.execute("SELECT $n", {"n": name}).fetchone()[0]), state or ""]  # type: ignore[index]


def test_a_result_is_kept_per_snapshot_and_arguments(tmp_path: Path) -> None:
    con = duckdb.connect()
    first = Snapshot(tmp_path / "hpt-1.duckdb", con)
    again = Snapshot(tmp_path / "hpt-1.duckdb", con)  # the same file, another page run
    newer = Snapshot(tmp_path / "hpt-2.duckdb", con)
    assert first.lookup(counted, "a") == ["a", ""]
    assert again.lookup(counted, "a") == ["a", ""]
    assert CALLS[("a", "")] == 1
    assert first.lookup(counted, "a", state="CA") == ["a", "CA"]
    assert first.read(counted, "b") == ["b", ""]
    assert CALLS[("a", "CA")] == 1 and CALLS[("b", "")] == 1
    assert newer.lookup(counted, "a") == ["a", ""]
    assert CALLS[("a", "")] == 2, "a new snapshot file is read again"
    # Each hit is a copy: what one page run changes, the next does not see.
    again.lookup(counted, "a").append("changed")
    assert first.lookup(counted, "a") == ["a", ""]


@pytest.mark.slow
def test_a_new_publish_shows_on_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wh = demo_warehouse.build(tmp_path, demo_warehouse.HOSPITALS[:2], troubles=False)
    monkeypatch.setenv("HPT_DB", str(wh.db_path))
    monkeypatch.setenv("HPT_WORK_DIR", str(tmp_path / "work"))
    monkeypatch.setenv("HPT_LANDING", str(tmp_path / "landing"))
    at = AppTest.from_file(str(PAGES / "map.py"), default_timeout=120)
    at.query_params["code"] = "CPT:73721"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.dataframe[0].value) == 2
    at.run()  # answered from the cache
    assert len(at.dataframe[0].value) == 2
    path = tmp_path / "files" / "late.csv"
    tall_file(path, n_items=demo_warehouse.ITEMS, seed=3,
              hospital=make_hospital(3, state="TX", zip_code="78701"))  # fmt: skip
    assert ingest_file(path, wh, publish_after=True).outcome == "loaded"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    table = at.dataframe[0].value
    assert len(table) == 3 and table["price"].notna().all()
