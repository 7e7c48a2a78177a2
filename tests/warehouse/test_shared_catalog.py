"""The shared catalog in PostgreSQL (`HPT_CATALOG`, a real server): workers commit to its
journal and never open a catalog file; the warehouse host applies the journal and publishes
exactly what one machine with the catalog file alone publishes."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from core.outcomes import IngestOutcome
from devtools.synthetic.model import make_hospital
from devtools.synthetic.tall import tall_file
from hpt.pipeline.steps import ingest_file, render_docs
from warehouse import catalog
from warehouse.db import Warehouse, reader, writer
from warehouse.load import current_file, known_file, log_attempt
from warehouse.publish import publish
from warehouse.retention import Policy, expire
from warehouse.sources import record_acquisition

BIN = Path(sys.executable).parent

#: Catalog contents compared between the two set-ups (times and durations left out).
CONTENTS = {
    "facilities": "SELECT facility_id, hospital_name, license_number, license_state, "
    "locations, npis FROM facilities ORDER BY 1",
    "files": "SELECT file_id, facility_id, sha256, row_count, finding_count, status, "
    "status_reason, data_path FROM files ORDER BY loaded_at",
    "current": "SELECT facility_id, file_id FROM current_files ORDER BY 1",
    "findings": "SELECT * FROM findings ORDER BY ALL",
    "finding_counts": "SELECT * FROM finding_counts ORDER BY ALL",
    "ingest_log": "SELECT facility_id, sha256, outcome, message, file_id FROM ingest_log "
    "ORDER BY attempted_at",
    "quality": "SELECT suite, file_id, expectation, success FROM quality_results ORDER BY ALL",
    "charges": "SELECT facility_id, count(*), sum(gross_charge), sum(negotiated_dollar) "
    "FROM standard_charges GROUP BY 1 ORDER BY 1",
}


def contents(wh: Warehouse) -> dict[str, list[tuple[Any, ...]]]:
    con = reader(wh)
    try:
        return {name: con.sql(query).fetchall() for name, query in CONTENTS.items()}
    finally:
        con.close()


@pytest.fixture
def files(tmp_path: Path) -> list[Path]:
    """Two files of one hospital (an older and a newer) and one of another."""
    hospital = make_hospital(7)
    paths = [tmp_path / "files" / name for name in ("old.csv", "new.csv", "other.csv")]
    paths[0].parent.mkdir()
    tall_file(paths[0], n_items=40, seed=7, hospital=hospital)
    tall_file(paths[1], n_items=45, seed=8, hospital=hospital)
    tall_file(paths[2], n_items=30, seed=9)
    return paths


def test_workers_commit_to_the_journal_and_the_host_publishes_what_one_machine_does(
    tmp_path: Path, files: list[Path], catalog_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two workers and a host sharing only PostgreSQL and the data's storage.
    monkeypatch.setenv("HPT_STORAGE", str(tmp_path / "store"))
    workers = [Warehouse.at(tmp_path / name / "hpt.duckdb") for name in ("w1", "w2")]
    host = Warehouse.at(tmp_path / "host" / "hpt.duckdb")
    results = [ingest_file(path, workers[n % 2], publish_after=False)
               for n, path in enumerate(files)]  # fmt: skip
    again = ingest_file(files[2], workers[0], publish_after=False)
    assert [r.outcome for r in results] == [IngestOutcome.LOADED] * 3
    assert again.outcome == IngestOutcome.UNCHANGED and again.file_id == results[2].file_id
    assert not any(w.db_path.exists() or w.charges_dir.exists() for w in workers)
    # The gate's results went to the host's Data Docs through the storage: none stays.
    assert not [p for w in workers for p in w.root.rglob("*.json")]
    entries = catalog.rows(catalog_url, "SELECT op, count(*) FROM hpt.journal GROUP BY 1")
    assert dict(entries) == {"load": 3, "ingest_log": 4, "gate": 3}
    publish(host)
    docs = render_docs(host)
    assert len(list((docs / "results").rglob("*.json"))) == 3  # one validation per file
    assert list((tmp_path / "store").rglob("*.json")) == []  # the inbox is empty again
    shared = contents(host)

    # The same files on one machine, with the catalog file alone.
    monkeypatch.delenv("HPT_CATALOG")
    monkeypatch.setenv("HPT_STORAGE", str(tmp_path / "store-alone"))
    alone = Warehouse.at(tmp_path / "alone" / "hpt.duckdb")
    for path in [*files, files[2]]:
        ingest_file(path, alone, publish_after=False)
    publish(alone)
    assert shared == contents(alone)
    assert shared["current"] == sorted([(results[1].facility_id, results[1].file_id),
                                        (results[2].facility_id, results[2].file_id)])  # fmt: skip


def test_the_host_applies_each_entry_once_in_commit_order(tmp_path: Path, catalog_url: str) -> None:
    host = Warehouse.at(tmp_path / "host" / "hpt.duckdb")
    worker = Warehouse.at(tmp_path / "worker" / "hpt.duckdb")

    def attempt(n: int) -> None:
        log_attempt(worker, facility_id="fac1", source=f"s{n}", sha256=None,
                    outcome=IngestOutcome.FAILED, message=f"boom {n}", file_id=None,
                    seconds=0.1)  # fmt: skip

    for n in range(3):
        attempt(n)
    with writer(host) as con:
        assert con.execute("SELECT source FROM ingest_log ORDER BY attempted_at").fetchall() == [
            ("s0",), ("s1",), ("s2",)]  # fmt: skip
    attempt(3)
    with writer(host) as con, writer(host) as inner:  # applied once, by the outer open
        rows = inner.execute("SELECT source FROM ingest_log").fetchall()
        assert sorted(rows) == [("s0",), ("s1",), ("s2",), ("s3",)]
        assert con.execute("SELECT max(seq) FROM catalog_journal").fetchall() == [(4,)]


def test_an_entry_names_only_journaled_tables() -> None:
    with pytest.raises(ValueError, match="not a journaled table"):
        catalog.Entry("x").insert("schema_migrations", [[1]])
    with pytest.raises(ValueError, match="no key"):
        catalog.Entry("x").delete("ingest_log", "a")
    with pytest.raises(ValueError, match="no statement"):
        catalog.Entry("x").upsert("DROP TABLE files", [[1]])


def test_of_two_loads_of_one_facility_the_first_to_commit_stays_current(
    tmp_path: Path, files: list[Path], catalog_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The newer file is read while the older one commits: the older one (first to commit)
    stays current, the newer is history and says so — as with the catalog file's lock."""
    from hpt.pipeline import steps

    monkeypatch.setenv("HPT_STORAGE", str(tmp_path / "store"))
    worker = Warehouse.at(tmp_path / "worker" / "hpt.duckdb")
    host = Warehouse.at(tmp_path / "host" / "hpt.duckdb")
    real_current = steps.current_file
    seen: list[str | None] = []

    def current_then_other_load(wh: Warehouse, facility_id: str) -> str | None:
        found = real_current(wh, facility_id)
        seen.append(found)
        if len(seen) == 1:  # nothing yet; then the other worker loads the older file
            other = Warehouse.at(tmp_path / "w2" / "hpt.duckdb")
            ingest_file(files[0], other, publish_after=False)
        return found

    monkeypatch.setattr(steps, "current_file", current_then_other_load)
    late = ingest_file(files[1], worker, publish_after=False)
    monkeypatch.setattr(steps, "current_file", real_current)
    assert seen == [None, None]
    assert late.outcome == IngestOutcome.LOADED and late.superseded_by is not None
    assert current_file(worker, late.facility_id) == late.superseded_by
    publish(host)
    con = reader(host)
    assert con.sql("SELECT file_id FROM current_files").fetchall() == [(late.superseded_by,)]
    con.close()


def test_retention_and_repeats_read_the_shared_catalog(
    tmp_path: Path, files: list[Path], catalog_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HPT_STORAGE", str(tmp_path / "store"))
    worker = Warehouse.at(tmp_path / "worker" / "hpt.duckdb")
    host = Warehouse.at(tmp_path / "host" / "hpt.duckdb")
    old, new = (ingest_file(p, worker, publish_after=False) for p in files[:2])
    assert old.facility_id and old.file_id and new.file_id
    publish(host)
    old_sha = known_file(worker, old.facility_id, "nope"), old.source
    assert old_sha == (None, str(files[0]))
    sha = catalog.rows(catalog_url, "SELECT sha256 FROM hpt.files WHERE file_id = %s",
                       [old.file_id])[0][0]  # fmt: skip
    # Bytes not modified upstream: what they gave last time, logged again, from PostgreSQL.
    repeat = record_acquisition(worker, old.facility_id, {"outcome": "not_modified"},
                                repeat_of=(sha, str(files[0])))  # fmt: skip
    assert repeat == ("unchanged", "not modified upstream", old.file_id)
    # Retention on the host keeps no previous file: the old file expires for workers too.
    later = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(days=1)
    report = expire(host, Policy(history_files=0), now=later)
    assert [e.file_id for e in report.expired] == [old.file_id]
    assert known_file(worker, old.facility_id, sha) is None
    assert record_acquisition(worker, old.facility_id, {"outcome": "not_modified"},
                              repeat_of=(sha, str(files[0]))) is None  # fmt: skip
    with writer(host) as con:
        outcomes = con.execute("SELECT outcome FROM ingest_log WHERE sha256 = ? "
                               "ORDER BY attempted_at", [sha]).fetchall()  # fmt: skip
    assert outcomes == [("loaded",), ("unchanged",)]


def test_an_unreachable_catalog_fails_in_one_line_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HPT_CATALOG_WAIT", "0.5")
    monkeypatch.setenv("HPT_CATALOG", "postgresql://hpt:secret@127.0.0.1:9/hpt")
    worker = Warehouse.at(tmp_path / "worker" / "hpt.duckdb")
    with pytest.raises(catalog.CatalogError) as error:
        known_file(worker, "fac", "abc")
    message = str(error.value)
    assert "\n" not in message and "127.0.0.1:9/hpt unreachable" in message
    assert "secret" not in message
    # The command line says it in one line too, and exits 1.
    done = subprocess.run([str(BIN / "hpt"), "sql", "SELECT 1"], capture_output=True,
                          text=True, timeout=120, env=dict(os.environ))  # fmt: skip
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("error: catalog postgresql://hpt:***@127.0.0.1:9/hpt")
    assert len(done.stderr.strip().splitlines()) == 1
