"""Warehouse loads: idempotent, atomic, history kept, readers never blocked."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from devtools.synthetic.model import make_hospital
from devtools.synthetic.tall import tall_file
from hpt.pipeline.steps import ingest_file
from warehouse.db import Warehouse, migrate, migrations, reader, writer
from warehouse.publish import publish


def counts(wh: Warehouse) -> dict[str, int]:
    con = reader(wh)
    rows = con.sql("SELECT facility_id, count(*) FROM standard_charges GROUP BY 1").fetchall()
    con.close()
    return dict(rows)


def test_migrations_are_idempotent(wh: Warehouse) -> None:
    with writer(wh) as con:
        assert migrate(con) == []  # writer() already applied them all
        versions = [r[0] for r in con.execute("SELECT version FROM schema_migrations").fetchall()]
    assert versions == [v for v, _, _ in migrations()]


def test_same_file_twice_loads_once(tmp_path: Path, wh: Warehouse) -> None:
    path = tmp_path / "a.csv"
    rows = tall_file(path, n_items=50, seed=1)
    first = ingest_file(path, wh)
    second = ingest_file(path, wh)
    assert (first.outcome, second.outcome) == ("loaded", "unchanged")
    assert second.file_id == first.file_id
    assert counts(wh) == {first.facility_id: rows}
    con = reader(wh)
    assert con.sql("SELECT count(*) FROM files").fetchall() == [(1,)]
    assert con.sql("SELECT outcome FROM ingest_log ORDER BY attempted_at").fetchall() == [
        ("loaded",), ("unchanged",)]  # fmt: skip


def test_newer_file_replaces_current_and_keeps_history(tmp_path: Path, wh: Warehouse) -> None:
    hospital = make_hospital(4)
    old, new = tmp_path / "old.csv", tmp_path / "new.csv"
    old_rows = tall_file(old, n_items=40, seed=4, hospital=hospital)
    new_rows = tall_file(new, n_items=45, seed=4, hospital=hospital)
    first = ingest_file(old, wh)
    second = ingest_file(new, wh)
    assert first.facility_id == second.facility_id and first.file_id != second.file_id
    assert counts(wh) == {second.facility_id: new_rows}
    con = reader(wh)
    history = con.sql("SELECT file_id, count(*) FROM charge_history GROUP BY 1").fetchall()
    assert dict(history) == {first.file_id: old_rows, second.file_id: new_rows}
    current = con.sql("SELECT file_id FROM current_files").fetchall()
    assert current == [(second.file_id,)]


def test_failed_load_leaves_previous_version_and_nothing_new(tmp_path: Path, wh: Warehouse) -> None:
    hospital = make_hospital(5)
    good, cut = tmp_path / "good.csv", tmp_path / "cut.csv"
    rows = tall_file(good, n_items=40, seed=5, hospital=hospital)
    tall_file(cut, n_items=60, seed=5, hospital=hospital)
    data = cut.read_bytes()
    cut.write_bytes(data[: len(data) - 40])  # cut off mid-row
    loaded = ingest_file(good, wh)
    failed = ingest_file(cut, wh, facility_id=loaded.facility_id)
    assert failed.outcome == "failed" and "truncated" in failed.message
    assert counts(wh) == {loaded.facility_id: rows}
    leftovers = sorted(p.name for p in (wh.charges_dir / loaded.facility_id).iterdir())
    assert leftovers == [loaded.file_id]
    con = reader(wh)
    assert con.sql("SELECT count(*) FROM files").fetchall() == [(1,)]


def test_load_killed_midway_leaves_previous_version(tmp_path: Path, wh: Warehouse) -> None:
    """A load process killed (SIGKILL) while it writes charge parts to `<file_id>.part/`
    leaves the facility exactly as it was."""
    hospital = make_hospital(6)
    small, big = tmp_path / "small.csv", tmp_path / "big.csv"
    rows = tall_file(small, n_items=30, seed=6, hospital=hospital)
    tall_file(big, target_bytes=40_000_000, seed=6, hospital=hospital)
    first = ingest_file(small, wh)
    script = (
        "import sys; from pathlib import Path; from hpt.pipeline.steps import ingest_file; "
        "from warehouse.db import Warehouse; "
        "ingest_file(Path(sys.argv[1]), Warehouse.at(sys.argv[2]))"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, str(big), str(wh.db_path)])
    charge_dir = wh.charges_dir / first.facility_id
    deadline = time.monotonic() + 60
    writing = False
    while not writing and proc.poll() is None and time.monotonic() < deadline:
        writing = any(charge_dir.glob("*.part/part-*"))
        time.sleep(0.02)
    proc.kill()
    code = proc.wait()
    assert writing, f"no charge part seen in a .part folder before the kill (exit {code})"
    assert code == -signal.SIGKILL, f"the load was not killed mid-write: exit {code}"
    assert [p.name for p in charge_dir.glob("*.part")], "the .part folder was renamed: load done"
    assert counts(wh) == {first.facility_id: rows}
    with writer(wh) as con:  # the catalog opens cleanly and still has one current file
        assert con.execute("SELECT count(*) FROM current_files").fetchall() == [(1,)]
    again = ingest_file(big, wh)  # and the same file loads fine afterwards
    assert again.outcome == "loaded"


def test_readers_never_block_a_load(tmp_path: Path, wh: Warehouse) -> None:
    """A reader holding the published snapshot open does not stop loads or publishes."""
    first, second = tmp_path / "1.csv", tmp_path / "2.csv"
    tall_file(first, n_items=20, seed=11)
    tall_file(second, n_items=20, seed=12)
    ingest_file(first, wh)
    held = reader(wh)
    before = held.sql("SELECT count(DISTINCT facility_id) FROM standard_charges").fetchall()
    assert ingest_file(second, wh).outcome == "loaded"
    # The open reader keeps its consistent snapshot; a new reader sees the new facility.
    assert held.sql("SELECT count(DISTINCT facility_id) FROM standard_charges").fetchall() == before
    assert len(counts(wh)) == 2
    held.close()


def test_published_snapshot_is_read_only_and_standalone(tmp_path: Path, wh: Warehouse) -> None:
    path = tmp_path / "a.csv"
    tall_file(path, n_items=10, seed=2)
    ingest_file(path, wh)
    publish(wh)
    con = reader(wh)
    assert con.sql("SELECT count(*) FROM files").fetchall() == [(1,)]
    opened = con.sql("SELECT path FROM duckdb_databases() WHERE database_name = current_database()")
    assert Path(opened.fetchall()[0][0]).parent == wh.published_dir.resolve()  # not the catalog
    with pytest.raises(duckdb.Error, match="read-only"):
        con.execute("DELETE FROM files")
    con.close()
    snapshots = list(wh.published_dir.glob("hpt-*.duckdb"))
    assert 1 <= len(snapshots) <= 3


def test_code_view_compares_across_facilities(samples: Path, wh: Warehouse) -> None:
    ingest_file(samples / "cms/v3.0.0_tall.csv", wh)
    ingest_file(samples / "real/marthas-vineyard-hospital_v3_tall.csv", wh)
    con = reader(wh)
    rows = con.sql(
        "SELECT facility_id, min(negotiated_dollar), max(negotiated_dollar) "
        "FROM standard_charge_codes WHERE code_type = 'CPT' AND code = '70551' "
        "GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert [r[0] for r in rows] == ["ca-50056", "ma-2042"]
    assert rows[0][1:] == (250.0, 400.0)
