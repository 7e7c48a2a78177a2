"""Loading one ingested file into the catalog: atomic, idempotent, history kept."""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Any

import polars as pl

from core.files import FileMeta, StagedFile
from core.outcomes import IngestOutcome
from warehouse import catalog
from warehouse.catalog import UPSERTS
from warehouse.db import Warehouse, writer
from warehouse.views import refresh_after_load

#: The facility's current file: its newest loaded one (the catalog's `current_files`).
_SHARED_CURRENT = (
    "SELECT file_id, loaded_at, row_count FROM hpt.files WHERE facility_id = %s "
    "AND status = 'loaded' ORDER BY loaded_at DESC, file_id DESC LIMIT 1"
)


def known_file(wh: Warehouse, facility_id: str, sha256: str) -> str | None:
    """The file_id of an already loaded file of this facility with the same content."""
    if wh.catalog:
        found = catalog.rows(
            wh.catalog,
            "SELECT file_id FROM hpt.files WHERE facility_id = %s AND sha256 = %s "
            "AND status = 'loaded' LIMIT 1",
            [facility_id, sha256],
        )
        return str(found[0][0]) if found else None
    if not wh.db_path.exists():
        return None
    with writer(wh) as con:
        rows = con.execute(
            "SELECT file_id FROM files WHERE facility_id = ? AND sha256 = ? "
            "AND status = 'loaded' LIMIT 1",
            [facility_id, sha256],
        ).fetchall()
    return rows[0][0] if rows else None


def _current(wh: Warehouse, facility_id: str) -> tuple[str, int] | None:
    """The facility's current file and its row count."""
    if wh.catalog:
        found = catalog.rows(wh.catalog, _SHARED_CURRENT, [facility_id])
        return (str(found[0][0]), int(found[0][2])) if found else None
    if not wh.db_path.exists():
        return None
    with writer(wh) as con:
        row = con.execute(
            "SELECT file_id, row_count FROM current_files WHERE facility_id = ?", [facility_id]
        ).fetchone()
    return None if row is None else (str(row[0]), int(row[1]))


def current_file(wh: Warehouse, facility_id: str) -> str | None:
    """The file_id of the facility's current file (None: it has none yet)."""
    found = _current(wh, facility_id)
    return None if found is None else found[0]


def previous_rows(wh: Warehouse, facility_id: str, file_id: str) -> int | None:
    """Row count of the facility's current file, if another one (None for a first file)."""
    found = _current(wh, facility_id)
    return None if found is None or found[0] == file_id else found[1]


def _facility_row(facility_id: str, meta: FileMeta) -> list[Any]:
    """A `catalog.UPSERTS["facility_meta"]` row: what a file says about its hospital."""
    return [
        facility_id,
        meta.hospital_name,
        meta.license_number,
        meta.license_state,
        meta.locations,
        meta.addresses,
        meta.npis,
        dt.datetime.now(),  # as DuckDB's current_timestamp stores it: local time
    ]


class _Unseen(Enum):
    UNSEEN = "unseen"


#: `load_staged(current_at_start=UNSEEN)`: the caller did not look; no check.
UNSEEN = _Unseen.UNSEEN


def _superseding(
    staged: StagedFile,
    current_at_start: str | None,
    current: tuple[Any, ...] | None,
    loaded_at: dt.datetime,
) -> tuple[str | None, dt.datetime]:
    """Whether another file of the facility became current since `current_at_start` was
    read (another process loaded it meanwhile): `current` is the facility's current file
    now (file_id, loaded_at), other than the staged one. Returns that file's id (None if
    there is none) and the staged file's `loaded_at`: just before it, if so."""
    if current is None or current[0] == current_at_start:
        return None, loaded_at
    superseded_by = str(current[0])
    staged.status_reason = f"superseded by {superseded_by}, loaded meanwhile by another process"
    return superseded_by, min(loaded_at, current[1] - dt.timedelta(microseconds=1))


def _files_row(wh: Warehouse, staged: StagedFile, loaded_at: dt.datetime) -> list[Any]:
    """The staged file's `files` row, in the table's column order."""
    counts = staged.finding_counts
    return [
        staged.file_id,
        staged.facility_id,
        staged.source,
        staged.sha256,
        staged.bytes,
        staged.layout,
        staged.meta.version,
        staged.encoding,
        staged.meta.hospital_name,
        staged.meta.last_updated_on,
        staged.meta.attestation,
        staged.meta.attester_name,
        loaded_at,
        staged.row_count,
        staged.item_count,
        sum(n for _, n in counts.values()),
        sum(n for sev, n in counts.values() if sev == "error"),
        sum(n for sev, n in counts.values() if sev == "alert"),
        staged.seconds,
        staged.status,
        staged.status_reason,
        wh.relative(staged.data_path),
    ]


def _findings(staged: StagedFile) -> pl.DataFrame:
    """The staged file's `findings` rows, in the table's column order."""
    return staged.findings.with_columns(pl.lit(staged.file_id).alias("file_id")).select(
        "file_id", "rule", "severity", "row_no", "column", "value", "message"
    )


def _finding_counts(staged: StagedFile) -> list[list[Any]]:
    return [[staged.file_id, rule, sev, n] for rule, (sev, n) in staged.finding_counts.items()]


def _load_shared(
    wh: Warehouse, url: str, staged: StagedFile, current_at_start: str | _Unseen | None
) -> str | None:
    """`load_staged` with a shared catalog: one journal entry and the file's `hpt.files`
    row, in one PostgreSQL transaction that holds the journal's lock, so that of two loads
    of one facility racing the first to commit stays current, as under the file's lock."""
    loaded_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    superseded_by: str | None = None
    entry = catalog.Entry("load", staged.facility_id, staged.file_id)
    with catalog.connection(url) as pg:
        catalog.lock_journal(pg)
        if current_at_start is not UNSEEN and staged.status == IngestOutcome.LOADED:
            row = pg.execute(_SHARED_CURRENT, [staged.facility_id]).fetchone()
            other = None if row is None or row[0] == staged.file_id else row
            superseded_by, loaded_at = _superseding(staged, current_at_start, other, loaded_at)
        entry.upsert("facility_meta", [_facility_row(staged.facility_id, staged.meta)])
        for table in ("files", "findings", "finding_counts"):
            entry.delete(table, staged.file_id)
        entry.insert("files", [_files_row(wh, staged, loaded_at)])
        entry.insert("findings", _findings(staged))
        entry.insert("finding_counts", _finding_counts(staged))
        pg.execute(
            "INSERT INTO hpt.files VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (file_id) DO "
            "UPDATE SET status = excluded.status, loaded_at = excluded.loaded_at, "
            "sha256 = excluded.sha256, row_count = excluded.row_count",
            [staged.file_id, staged.facility_id, staged.sha256, staged.status, loaded_at,
             staged.row_count],
        )  # fmt: skip
        entry.append(pg)
    return superseded_by


def load_staged(
    wh: Warehouse, staged: StagedFile, *, current_at_start: str | _Unseen | None = UNSEEN
) -> str | None:
    """Make a staged file visible: one transaction, so a failure leaves nothing of it.

    `current_at_start` is the facility's current file when the ingest began. If another
    file of the facility became current since (another process loaded it while this one
    was read), that file stays current: this one is loaded as history, recorded as loaded
    just before it (`current_files` takes the newest `loaded_at`). Returns that file's id,
    else None. Decided in the load's transaction, under the writer's lock, so of two loads
    of one facility racing, the first to commit stays current and the second says so."""
    if wh.catalog:
        return _load_shared(wh, wh.catalog, staged, current_at_start)
    loaded_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    superseded_by: str | None = None
    with writer(wh) as con:
        con.execute("BEGIN")
        try:
            con.execute(UPSERTS["facility_meta"], _facility_row(staged.facility_id, staged.meta))
            # Re-loading the same file_id replaces its catalog rows (idempotent).
            for table in ("files", "findings", "finding_counts"):
                con.execute(f"DELETE FROM {table} WHERE file_id = ?", [staged.file_id])
            if current_at_start is not UNSEEN and staged.status == IngestOutcome.LOADED:
                row = con.execute(
                    "SELECT file_id, loaded_at FROM current_files "
                    "WHERE facility_id = ? AND file_id <> ?",
                    [staged.facility_id, staged.file_id],
                ).fetchone()
                superseded_by, loaded_at = _superseding(staged, current_at_start, row, loaded_at)
            con.execute(
                f"INSERT INTO files VALUES ({', '.join(['?'] * 22)})",
                _files_row(wh, staged, loaded_at),
            )
            con.register("staged_findings", _findings(staged))
            con.execute("INSERT INTO findings SELECT * FROM staged_findings")
            con.unregister("staged_findings")
            if staged.finding_counts:
                con.executemany("INSERT INTO finding_counts VALUES (?, ?, ?, ?)",
                                _finding_counts(staged))  # fmt: skip
            refresh_after_load(con, wh)
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
    return superseded_by


def log_attempt(
    wh: Warehouse,
    *,
    facility_id: str | None,
    source: str,
    sha256: str | None,
    outcome: IngestOutcome,
    message: str | None,
    file_id: str | None,
    seconds: float,
) -> None:
    """Record one ingest attempt (any `IngestOutcome`) for operators."""
    if wh.catalog:
        row = [dt.datetime.now(), facility_id, source, sha256, outcome, message, file_id]
        with catalog.connection(wh.catalog) as pg:
            entry = catalog.Entry("ingest_log", facility_id, file_id)
            entry.insert("ingest_log", [[*row, seconds]])
            catalog.log_ingest(pg, row)
            entry.append(pg)
        return
    with writer(wh) as con:
        con.execute(
            "INSERT INTO ingest_log VALUES (current_timestamp, ?, ?, ?, ?, ?, ?, ?)",
            [facility_id, source, sha256, outcome, message, file_id, seconds],
        )
