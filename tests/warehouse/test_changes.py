"""The price-changes mart: a facility's new file against its previous one, derived when the
publish folds the new file in, from the two files' own aggregates."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from devtools.synthetic.model import make_hospital
from devtools.synthetic.tall import tall_file
from hpt.pipeline.steps import ingest_file
from tests.warehouse.file_versions import codes_with_dollars, service_codes, two_versions
from warehouse.db import Warehouse, reader
from warehouse.marts.changes import MIN_CHANGE, MIN_DOLLAR
from warehouse.publish import publish

CENT = 0.0101


def test_changes_equal_what_the_new_file_changed(wh: Warehouse, tmp_path: Path) -> None:
    versions = two_versions(tmp_path, wh)
    v1, v2 = set(service_codes(versions.v1)), set(service_codes(versions.v2))
    with reader(wh) as con:
        rows = con.execute(
            "SELECT code, old_median, new_median, change, change_pct, old_file_id, new_file_id "
            "FROM price_changes WHERE facility_id = ?",
            [versions.facility_id],
        ).fetchall()
        code_changes = con.execute(
            "SELECT change, code FROM code_changes WHERE facility_id = ?", [versions.facility_id]
        ).fetchall()
        others = con.execute(
            "SELECT count(*) FROM price_changes WHERE facility_id <> ?", [versions.facility_id]
        ).fetchall()[0][0]
        files = con.execute(
            "SELECT file_id FROM file_timeline WHERE facility_id = ? ORDER BY loaded_at",
            [versions.facility_id],
        ).fetchall()
        counts = con.execute(
            "SELECT prices_up, prices_down, codes_added, codes_removed FROM mart_change_files "
            "JOIN mart_files ON file_id = new_file_id"
        ).fetchall()
        top = con.execute(
            "SELECT count(*), min(least(old_median, new_median)), min(abs(change)) "
            "FROM top_price_changes"
        ).fetchall()[0]
    assert others == 0  # the other hospital's first and only file: no changes
    assert {r[5] for r in rows} == {files[0][0]} and {r[6] for r in rows} == {files[1][0]}
    # Every code both files price with dollars has its rows; no other code has any.
    compared = {r[0] for r in rows}
    assert codes_with_dollars(versions.v1) & codes_with_dollars(versions.v2) <= compared
    assert compared <= v1 & v2
    for code, old, new, change, pct, _, _ in rows:
        # Each price scaled and written to the cent: a median of two moves by a cent at most.
        factor = versions.scale.get(code, 1.0)
        assert new == pytest.approx(old * factor, abs=CENT), code
        assert change == pytest.approx(new - old, abs=1e-9)
        assert pct == pytest.approx(factor - 1, abs=CENT / old), code
        assert (change == 0) == (code not in versions.scale)
    assert sorted(code_changes) == sorted(
        [("added", c) for c in v2 - v1] + [("removed", c) for c in v1 - v2]
    )
    assert {c for c, _ in code_changes if c == "added"} and set(versions.add) == v2 - v1
    up = sum(1 for r in rows if r[3] >= MIN_CHANGE and min(r[1], r[2]) >= MIN_DOLLAR)
    down = sum(1 for r in rows if r[3] <= -MIN_CHANGE and min(r[1], r[2]) >= MIN_DOLLAR)
    assert counts == [(up, down, 1, 2)] and up > 0 and down > 0
    assert top[0] == up + down and top[1] >= MIN_DOLLAR and top[2] >= MIN_CHANGE


def test_a_held_file_changes_nothing_and_a_later_file_replaces_the_changes(
    wh: Warehouse, tmp_path: Path
) -> None:
    versions = two_versions(tmp_path, wh)
    with reader(wh) as con:
        before = con.execute("SELECT * FROM price_changes ORDER BY ALL").fetchall()
    short = tmp_path / "files" / "hospital-1-short.csv"
    tall_file(short, n_items=5, seed=1, hospital=make_hospital(1, state="CA"))
    held = ingest_file(short, wh)
    assert (held.outcome, held.facility_id) == ("held", versions.facility_id)
    with reader(wh) as con:
        assert con.execute("SELECT * FROM price_changes ORDER BY ALL").fetchall() == before
        statuses = con.execute(
            "SELECT status, is_current FROM file_timeline WHERE facility_id = ? ORDER BY loaded_at",
            [versions.facility_id],
        ).fetchall()
    assert statuses == [("loaded", False), ("loaded", True), ("held", False)]
    # v1 again as the newest file: compared with v2, every move reversed.
    again = tmp_path / "files" / "hospital-1-v3.csv"
    again.write_bytes(versions.v1.read_bytes().replace(b"2026-01-02", b"2026-03-01", 1))
    assert ingest_file(again, wh).outcome == "loaded"
    with reader(wh) as con:
        rows = con.execute("SELECT code, change_pct FROM price_changes").fetchall()
        added = con.execute("SELECT code FROM code_changes WHERE change = 'added'").fetchall()
        pairs = con.execute("SELECT count(*) FROM mart_change_files").fetchall()[0][0]
    for code, pct in rows:
        assert pct == pytest.approx(1 / versions.scale.get(code, 1.0) - 1, abs=0.001), code
    assert sorted(c for (c,) in added) == sorted(versions.remove)
    assert pairs == 2  # the history of each file pair is kept; the views show the current


def test_publish_reads_only_the_changed_facilitys_files(wh: Warehouse, tmp_path: Path) -> None:
    """The other facilities' folders are neither read for the changes nor written: their
    derived data can even be gone."""
    files = tmp_path / "files"
    files.mkdir()
    for seed in (1, 2, 3):
        path = files / f"hospital-{seed}.csv"
        tall_file(path, n_items=50, seed=seed, hospital=make_hospital(seed, state="CA"))
        assert ingest_file(path, wh, publish_after=False).outcome == "loaded"
    publish(wh)
    with reader(wh) as con:
        folders = dict(con.execute(
            "SELECT facility_id, data_path FROM current_files"
        ).fetchall())  # fmt: skip
    v2 = files / "hospital-1-v2.csv"
    v2.write_bytes((files / "hospital-1.csv").read_bytes().replace(b",93.71,", b",103.71,"))
    result = ingest_file(v2, wh, publish_after=False)
    assert result.outcome == "loaded"
    untouched = {f: p for f, p in folders.items() if f != result.facility_id}
    for path in untouched.values():  # no per-file derived data left to read
        shutil.rmtree(wh.resolve(path) / "marts")
    state = {
        f: sorted((str(p), p.stat().st_mtime_ns) for p in wh.resolve(path).rglob("*"))
        for f, path in untouched.items()
    }
    publish(wh)
    after = {
        f: sorted((str(p), p.stat().st_mtime_ns) for p in wh.resolve(path).rglob("*"))
        for f, path in untouched.items()
    }
    assert after == state
    with reader(wh) as con:
        moved = con.execute(
            "SELECT facility_id, old_median, new_median FROM price_changes WHERE abs(change) > 0"
        ).fetchall()
    assert moved and {r[0] for r in moved} == {result.facility_id}
