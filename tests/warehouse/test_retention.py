"""Retention on a real warehouse: history beyond the kept files, quarantined data past its
days, snapshots beyond the kept count; dry runs; open readers stay whole."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from devtools.synthetic.model import make_hospital
from devtools.synthetic.tall import tall_file
from hpt.pipeline.steps import ingest_file, prune
from tests.quality.batches import drop_prices, negate_prices, rewrite_csv
from tests.warehouse.charges import load_facility, rate
from warehouse.db import Warehouse, reader, writer
from warehouse.publish import publish

DAY = dt.timedelta(days=1)
PER_FILE = "SELECT file_id, count(*) FROM charge_history GROUP BY 1"


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def catalog(wh: Warehouse) -> dict[str, Any]:
    """What the catalog says of each file, and its per-file rows."""
    with writer(wh) as con:

        def per_file(sql: str) -> dict[str, Any]:
            return dict(con.execute(sql).fetchall())

        return {
            "status": per_file("SELECT file_id, status FROM files"),
            "findings": per_file("SELECT file_id, count(*) FROM findings GROUP BY 1"),
            "finding_counts": per_file("SELECT file_id, count(*) FROM finding_counts GROUP BY 1"),
            "results": per_file(
                "SELECT file_id, count(*) FROM quality_results WHERE file_id IS NOT NULL GROUP BY 1"
            ),
            "quarantine": per_file("SELECT file_id, data_path FROM quarantine"),
            "pending": per_file("SELECT data_path, reason FROM retention_pending"),
        }


def on_disk(wh: Warehouse) -> dict[str, list[str]]:
    return {
        "folders": sorted(p.name for p in wh.charges_dir.glob("*/*") if p.is_dir()),
        "snapshots": sorted(p.name for p in wh.published_dir.glob("hpt-*.duckdb")),
    }


def seen_by_readers(wh: Warehouse) -> tuple[dict[str, int], list[tuple[Any, ...]]]:
    """charge_history rows per file, and every standard_charges row, in the published
    snapshot."""
    con = reader(wh)
    try:
        history = dict(con.sql(PER_FILE).fetchall())
        current = con.sql("SELECT * FROM standard_charges ORDER BY file_id, row_no").fetchall()
    finally:
        con.close()
    return history, current


def listed(report: Any) -> tuple[set[Any], set[Any]]:
    """A report's expired files and deleted items, comparable between runs."""
    return {(e.file_id, e.reason) for e in report.expired}, {
        (g.kind, g.path, g.bytes) for g in report.deleted
    }


def test_history_beyond_the_kept_files_expires_and_a_dry_run_only_lists_it(
    tmp_path: Path, wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HPT_RETENTION_HISTORY_FILES", "2")
    monkeypatch.setenv("HPT_RETENTION_SNAPSHOTS", "1")
    hospital = make_hospital(31)
    ids = []
    for i in range(5):
        path = tmp_path / f"v{i}.csv"
        tall_file(path, n_items=40 + 5 * i, seed=31 + i, hospital=hospital,
                  pathologies=["dollar_signs"])  # fmt: skip
        result = ingest_file(path, wh, publish_after=i == 4)
        assert result.outcome == "loaded", result.message
        ids.append(str(result.file_id))
    old, kept = ids[:2], ids[2:]
    before = catalog(wh), on_disk(wh), seen_by_readers(wh)
    assert all(before[0]["findings"].get(f) for f in ids)  # every file has findings
    assert set(before[1]["folders"]) == set(ids)

    dry = prune(wh, dry_run=True)
    assert (catalog(wh), on_disk(wh), seen_by_readers(wh)) == before  # nothing changed

    done = prune(wh)
    assert listed(done) == listed(dry)  # the dry run listed what the prune did
    assert {(e.file_id, e.reason) for e in done.expired} == {(f, "history") for f in old}
    deleted = {Path(g.path).name for g in done.deleted if g.kind == "file data"}
    assert deleted == set(old) and done.bytes > 0 and done.waiting == []
    assert done.published

    after = catalog(wh)
    assert after["status"] == {**{f: "expired" for f in old}, **{f: "loaded" for f in kept}}
    for table in ("findings", "finding_counts", "results"):
        assert set(after[table]) == set(kept), table
    assert after["pending"] == {}
    assert on_disk(wh)["folders"] == sorted(kept)
    history, current = seen_by_readers(wh)
    assert set(history) == set(kept)
    assert current == before[2][1]  # standard_charges unchanged
    with writer(wh) as con:
        reason = con.execute("SELECT status_reason FROM files WHERE file_id = ?", [old[0]])
        assert "beyond the 2 previous file(s) kept" in reason.fetchall()[0][0]

    again = prune(wh)  # converged: nothing more to do
    assert (again.expired, again.deleted, again.waiting) == ([], [], [])


def test_quarantined_data_goes_after_its_days_and_held_files_stay(
    tmp_path: Path, wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HPT_RETENTION_QUARANTINE_DAYS", "30")
    hospital = make_hospital(41)
    good, newer = tmp_path / "good.csv", tmp_path / "newer.csv"
    tall_file(good, n_items=150, seed=41, hospital=hospital)
    tall_file(newer, n_items=160, seed=42, hospital=hospital)
    first = ingest_file(good, wh)
    bad = [
        ingest_file(rewrite_csv(newer, tmp_path / f"{change.__name__}.csv", change), wh)
        for change in (negate_prices, drop_prices)
    ]
    half = tmp_path / "half.csv"
    tall_file(half, n_items=60, seed=43, hospital=hospital)
    held = ingest_file(half, wh)
    outcomes = [r.outcome for r in (first, *bad, held)]
    assert outcomes == ["loaded", "quarantined", "quarantined", "held"]
    old_q, new_q = (str(r.file_id) for r in bad)
    with writer(wh) as con:
        con.execute(
            "UPDATE quarantine SET quarantined_at = quarantined_at - INTERVAL 40 DAY "
            "WHERE file_id = ?",
            [old_q],
        )
    before = catalog(wh)
    assert set(before["results"]) == {first.file_id, old_q, new_q, held.file_id}

    done = prune(wh)
    assert {(e.file_id, e.reason) for e in done.expired} == {(old_q, "quarantine")}
    after = catalog(wh)
    assert set(after["quarantine"]) == {new_q}
    assert old_q not in after["results"] and new_q in after["results"]
    assert set(on_disk(wh)["folders"]) == {str(first.file_id), new_q, str(held.file_id)}
    assert after["status"] == before["status"]  # the held file stays held

    # Far later: the newer quarantined data goes too; the held file still awaits `hpt accept`.
    later = utc_now() + 1000 * DAY
    prune(wh, now=later)
    assert catalog(wh)["quarantine"] == {}
    assert set(on_disk(wh)["folders"]) == {str(first.file_id), str(held.file_id)}
    assert catalog(wh)["status"][str(held.file_id)] == "held"
    assert not list((wh.root / "hpt-quality" / "results").glob("*/*/*"))  # GX results aged out
    with writer(wh) as con:  # logs aged out too, but for each facility's newest attempt
        logged = con.execute("SELECT facility_id, outcome FROM ingest_log").fetchall()
    assert logged == [(first.facility_id, "held")]

    # Once a newer file replaces it, the held file no longer awaits anything: it goes after
    # the same days as quarantined data.
    newest = tmp_path / "newest.csv"
    tall_file(newest, n_items=170, seed=44, hospital=hospital)
    assert ingest_file(newest, wh).outcome == "loaded"
    assert prune(wh).expired == []
    gone = prune(wh, now=utc_now() + 31 * DAY)
    assert [(e.file_id, e.reason) for e in gone.expired] == [(held.file_id, "held")]
    assert catalog(wh)["status"][str(held.file_id)] == "expired"
    assert str(held.file_id) not in on_disk(wh)["folders"]


def test_snapshots_beyond_the_kept_count_go_and_an_open_older_one_stays_whole(
    tmp_path: Path, wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HPT_QUALITY_GATE", "off")  # retention is under test, not the gate
    monkeypatch.setenv("HPT_RETENTION_HISTORY_FILES", "0")
    monkeypatch.setenv("HPT_RETENTION_SNAPSHOTS", "2")
    hospital = make_hospital(51)
    paths = [tmp_path / f"{n}.csv" for n in ("a", "b")]
    for i, path in enumerate(paths):
        tall_file(path, n_items=30 + 5 * i, seed=51 + i, hospital=hospital)
    first = ingest_file(paths[0], wh)
    second = ingest_file(paths[1], wh)  # publishes a snapshot listing both files
    assert len(on_disk(wh)["snapshots"]) == 2
    older = reader(wh)  # a reader on the snapshot that becomes the older kept one
    both = dict(older.sql(PER_FILE).fetchall())
    assert set(both) == {first.file_id, second.file_id}

    done = prune(wh)  # expires the first file, publishes a third snapshot
    assert [e.file_id for e in done.expired] == [first.file_id]
    # The oldest snapshot, and the mart run (its two files) only it listed: the first file's.
    assert sorted(g.kind for g in done.deleted) == ["mart run", "mart run", "snapshot"]
    assert len(on_disk(wh)["snapshots"]) == 2
    assert done.waiting == [str(wh.charges_path(str(first.facility_id), str(first.file_id)))]
    assert first.file_id in on_disk(wh)["folders"]
    # The reader's snapshot is kept, and whole: the expired file's data is still there.
    assert dict(older.sql(PER_FILE).fetchall()) == both
    older.close()
    assert set(seen_by_readers(wh)[0]) == {second.file_id}  # new readers: expired is gone

    publish(wh)  # the older snapshot rotates out: no kept snapshot lists the data any more
    dry = prune(wh, dry_run=True)
    done = prune(wh)
    assert listed(done) == listed(dry)
    assert [g.kind for g in done.deleted] == ["file data"] and done.waiting == []
    assert on_disk(wh)["folders"] == [second.file_id]
    assert catalog(wh)["pending"] == {}


def test_an_expired_file_that_comes_back_is_loaded_again(
    tmp_path: Path, wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HPT_QUALITY_GATE", "off")
    monkeypatch.setenv("HPT_RETENTION_HISTORY_FILES", "0")
    monkeypatch.setenv("HPT_RETENTION_SNAPSHOTS", "2")
    hospital = make_hospital(61)
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    tall_file(a, n_items=30, seed=61, hospital=hospital)
    tall_file(b, n_items=35, seed=62, hospital=hospital)
    first, second = ingest_file(a, wh), ingest_file(b, wh)
    assert [e.file_id for e in prune(wh).expired] == [first.file_id]
    folder = wh.charges_path(str(first.facility_id), str(first.file_id))
    assert catalog(wh)["pending"] == {wh.relative(folder): "history"}  # a kept snapshot lists it

    # The hospital goes back to its old file: read and loaded again, current again; the
    # folder written anew is the live file's, not expired data any more.
    back = ingest_file(a, wh)
    assert (back.outcome, back.file_id) == ("loaded", first.file_id)
    publish(wh)
    done = prune(wh)
    assert [e.file_id for e in done.expired] == [second.file_id]
    assert wh.relative(folder) not in catalog(wh)["pending"] and folder.is_dir()
    assert catalog(wh)["status"] == {first.file_id: "loaded", second.file_id: "expired"}
    history, current = seen_by_readers(wh)
    assert set(history) == {first.file_id} and len(current) == back.rows


def test_fewer_snapshots_than_the_kept_count_all_stay(wh: Warehouse) -> None:
    load_facility(wh, "tx-s", [rate("99213", "Aetna", "PPO", 10.0)])
    publish(wh)
    publish(wh)
    done = prune(wh)  # keeps 3 by default: nothing to do
    assert (done.expired, done.deleted, done.published) == ([], [], False)
    assert len(on_disk(wh)["snapshots"]) == 2
    assert prune(wh, dry_run=True).deleted == []
