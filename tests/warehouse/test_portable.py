"""A warehouse folder can be moved or copied whole: the catalog and its snapshots hold paths
relative to it, and every reader resolves them there."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest

from core.outcomes import CheckOutcome
from core.warehouse_files import open_snapshot
from dashboard.snapshot import snapshot
from devtools.synthetic.model import make_hospital
from devtools.synthetic.tall import tall_file
from hpt.pipeline.steps import check_warehouse, ingest_file, prune
from tests.warehouse.charges import known_warehouse
from warehouse.db import Warehouse, migrate, reader, writer
from warehouse.publish import publish
from warehouse.queries import compare
from warehouse.sandbox import run_query, sandboxed

#: What readers see, in a fixed order.
VIEWS = {
    "standard_charges": "SELECT * FROM standard_charges ORDER BY file_id, row_no",
    "charge_history": "SELECT * FROM charge_history ORDER BY file_id, row_no",
    "price_compare": "SELECT * FROM price_compare ORDER BY ALL",
    "facility_code_prices": "SELECT * FROM facility_code_prices ORDER BY ALL",
}


def seen(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[Any, ...]]]:
    return {name: con.sql(sql).fetchall() for name, sql in VIEWS.items()}


def view_sql(snapshot: Path) -> dict[str, str]:
    con = open_snapshot(snapshot)
    try:
        return dict(
            con.sql("SELECT view_name, sql FROM duckdb_views() WHERE NOT internal").fetchall()
        )
    finally:
        con.close()


def folder(wh: Warehouse, file_id: str) -> Path:
    """An ingested file's charges folder (its id is `<facility_id>-<sha256 prefix>`)."""
    return wh.charges_path(file_id.rsplit("-", 1)[0], file_id)


def ingest(tmp_path: Path, wh: Warehouse, seed: int) -> str:
    path = tmp_path / f"v{seed}.csv"
    tall_file(path, n_items=30 + seed, seed=seed, hospital=make_hospital(41))
    result = ingest_file(path, wh)
    assert result.outcome == "loaded", result.message
    return str(result.file_id)


def test_a_moved_warehouse_reads_loads_publishes_and_prunes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HPT_RETENTION_HISTORY_FILES", "1")
    monkeypatch.setenv("HPT_RETENTION_SNAPSHOTS", "1")
    old = Warehouse.at(tmp_path / "old" / "hpt.duckdb")
    first, second = ingest(tmp_path, old, 1), ingest(tmp_path, old, 2)
    with reader(old) as con:
        before = seen(con)
    assert all(before.values()), "every view has rows"

    shutil.move(old.root, tmp_path / "new")
    wh = Warehouse.at(tmp_path / "new" / "hpt.duckdb")
    assert not old.root.exists()

    with reader(wh) as con:  # the published snapshot, as it was
        assert seen(con) == before
    # GX reads all charge data (first: its connections can't share a file with others).
    assert check_warehouse(wh).outcome == CheckOutcome.PASSED
    with sandboxed(wh) as con:  # `hpt sql`: the views' relative paths are allowed
        count = run_query(con, "SELECT count(*) AS n FROM charge_history", timeout=30, max_rows=1)
        assert count.frame["n"][0] == len(before["charge_history"])
    monkeypatch.setenv("HPT_DB", str(wh.db_path))
    cursor = snapshot().cursor()  # the dashboard's reader
    assert cursor.sql(VIEWS["standard_charges"]).fetchall() == before["standard_charges"]
    code_type, code = before["price_compare"][0][:2]
    assert compare(cursor, f"{code_type}:{code}").height > 0

    third = ingest(tmp_path, wh, 3)  # loaded and published at the new place
    with reader(wh) as con:
        current = con.sql("SELECT DISTINCT file_id FROM standard_charges").fetchall()
        assert current == [(third,)]

    done = prune(wh)  # one previous file kept: the first goes, found at the new place
    assert [e.file_id for e in done.expired] == [first]
    gone = [Path(g.path) for g in done.deleted if g.kind == "file data"]
    assert gone == [folder(wh, first)] and not gone[0].exists()
    assert folder(wh, second).is_dir() and folder(wh, third).is_dir()
    with reader(wh) as con:
        files = {r[0] for r in con.sql("SELECT DISTINCT file_id FROM charge_history").fetchall()}
    assert files == {second, third}


def test_no_view_in_a_snapshot_holds_the_warehouse_folder(wh: Warehouse) -> None:
    known_warehouse(wh)
    views = view_sql(wh.published_path)
    assert {"standard_charges", "charge_history", "price_compare"} <= set(views)
    assert "hpt-charges/" in views["standard_charges"] and "hpt-marts/" in views["price_compare"]
    holding = [name for name, sql in views.items() if str(wh.root) in sql]
    assert holding == []


def test_plain_duckdb_reads_a_snapshot_from_the_warehouse_folder(
    wh: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What docs/warehouse.md tells analysts: started in the folder, or with the setting."""
    known_warehouse(wh)
    with reader(wh) as con:
        expected = seen(con)
    monkeypatch.chdir(wh.root)
    with duckdb.connect("hpt-published/current.duckdb", read_only=True) as con:
        assert seen(con) == expected
    monkeypatch.chdir(tmp_path)
    with duckdb.connect(str(wh.published_path), read_only=True) as con:
        with pytest.raises(duckdb.IOException):
            con.sql(VIEWS["standard_charges"]).fetchall()
        con.execute("SET file_search_path = ?", [str(wh.root)])
        assert seen(con) == expected


def test_a_snapshot_opened_twice_in_one_process_answers_on_both(wh: Warehouse) -> None:
    """The dashboard holds the current snapshot open; a reader opening it again in the same
    process (its settings already set there) gets a connection that answers queries."""
    known_warehouse(wh)
    with reader(wh) as first, reader(wh) as second:
        assert seen(second) == seen(first)


def test_the_migration_makes_absolute_paths_under_the_folder_relative(wh: Warehouse) -> None:
    """A catalog written before paths were relative: its paths under the folder become
    relative, others stay; running it again changes nothing."""
    known_warehouse(wh)
    paths = {
        "files": "data_path",
        "mart_files": "price_compare_path || '|' || facility_prices_path",
    }
    with writer(wh) as con:
        stored = {
            t: con.sql(f"SELECT {c} FROM {t} ORDER BY ALL").fetchall() for t, c in paths.items()
        }
        root = f"{wh.root}/"
        con.execute("UPDATE files SET data_path = ? || data_path", [root])
        con.execute(
            "UPDATE mart_files SET price_compare_path = ? || price_compare_path, "
            "facility_prices_path = ? || facility_prices_path",
            [root, root],
        )
        con.execute(
            "INSERT INTO retention_pending VALUES (?, 'x', 'f', 'history', now()), "
            "('/elsewhere/hpt-charges/f/y', 'y', 'f', 'history', now())",
            [f"{root}hpt-charges/f/x"],
        )
        for _ in range(2):
            con.execute("DELETE FROM schema_migrations WHERE version = 19")
            assert migrate(con) == ["019_relative_paths.sql"]
            assert {
                t: con.sql(f"SELECT {c} FROM {t} ORDER BY ALL").fetchall() for t, c in paths.items()
            } == stored
            pending = con.sql("SELECT data_path FROM retention_pending ORDER BY ALL").fetchall()
            assert pending == [("/elsewhere/hpt-charges/f/y",), ("hpt-charges/f/x",)]
    publish(wh)  # the views follow the catalog again
    assert not any(str(wh.root) in sql for sql in view_sql(wh.published_path).values())
