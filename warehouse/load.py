"""Loading one ingested file into the catalog: atomic, idempotent, history kept."""

from __future__ import annotations

import datetime as dt
from enum import Enum

import duckdb
import polars as pl

from core.files import FileMeta, StagedFile
from core.outcomes import IngestOutcome
from warehouse.db import Warehouse, writer
from warehouse.views import refresh_after_load


def known_file(wh: Warehouse, facility_id: str, sha256: str) -> str | None:
    """The file_id of an already loaded file of this facility with the same content."""
    if not wh.db_path.exists():
        return None
    with writer(wh) as con:
        rows = con.execute(
            "SELECT file_id FROM files WHERE facility_id = ? AND sha256 = ? "
            "AND status = 'loaded' LIMIT 1",
            [facility_id, sha256],
        ).fetchall()
    return rows[0][0] if rows else None


def current_file(wh: Warehouse, facility_id: str) -> str | None:
    """The file_id of the facility's current file (None: it has none yet)."""
    if not wh.db_path.exists():
        return None
    with writer(wh) as con:
        row = con.execute(
            "SELECT file_id FROM current_files WHERE facility_id = ?", [facility_id]
        ).fetchone()
    return None if row is None else str(row[0])


def previous_rows(wh: Warehouse, facility_id: str, file_id: str) -> int | None:
    """Row count of the facility's current file, if another one (None for a first file)."""
    if not wh.db_path.exists():
        return None
    with writer(wh) as con:
        row = con.execute(
            "SELECT row_count FROM current_files WHERE facility_id = ? AND file_id <> ?",
            [facility_id, file_id],
        ).fetchone()
    return None if row is None else int(row[0])


def _upsert_facility(con: duckdb.DuckDBPyConnection, facility_id: str, meta: FileMeta) -> None:
    con.execute(
        """
        INSERT INTO facilities (facility_id, hospital_name, license_number, license_state,
                                locations, addresses, npis, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, current_timestamp)
        ON CONFLICT (facility_id) DO UPDATE SET
            hospital_name = excluded.hospital_name, license_number = excluded.license_number,
            license_state = excluded.license_state, locations = excluded.locations,
            addresses = excluded.addresses, npis = excluded.npis, updated_at = excluded.updated_at
        """,
        [
            facility_id,
            meta.hospital_name,
            meta.license_number,
            meta.license_state,
            meta.locations,
            meta.addresses,
            meta.npis,
        ],
    )


class _Unseen(Enum):
    UNSEEN = "unseen"


#: `load_staged(current_at_start=UNSEEN)`: the caller did not look; no check.
UNSEEN = _Unseen.UNSEEN


def _superseding(
    con: duckdb.DuckDBPyConnection, staged: StagedFile, current_at_start: str | None
) -> tuple[str, dt.datetime] | None:
    """Another file of the facility that became current since `current_at_start` was read
    (another process loaded it meanwhile), with its `loaded_at`; None if there is none."""
    row = con.execute(
        "SELECT file_id, loaded_at FROM current_files WHERE facility_id = ? AND file_id <> ?",
        [staged.facility_id, staged.file_id],
    ).fetchone()
    if row is None or row[0] == current_at_start:
        return None
    return str(row[0]), row[1]


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
    counts = staged.finding_counts
    errors = sum(n for sev, n in counts.values() if sev == "error")
    alerts = sum(n for sev, n in counts.values() if sev == "alert")
    loaded_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    superseded_by: str | None = None
    with writer(wh) as con:
        con.execute("BEGIN")
        try:
            _upsert_facility(con, staged.facility_id, staged.meta)
            # Re-loading the same file_id replaces its catalog rows (idempotent).
            for table in ("files", "findings", "finding_counts"):
                con.execute(f"DELETE FROM {table} WHERE file_id = ?", [staged.file_id])
            if current_at_start is not UNSEEN and staged.status == IngestOutcome.LOADED:
                other = _superseding(con, staged, current_at_start)
                if other is not None:
                    superseded_by, other_loaded_at = other
                    loaded_at = min(loaded_at, other_loaded_at - dt.timedelta(microseconds=1))
                    staged.status_reason = (
                        f"superseded by {superseded_by}, loaded meanwhile by another process"
                    )
            con.execute(
                """
                INSERT INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
                                          ?, ?, ?, ?, ?)
                """,
                [
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
                    errors,
                    alerts,
                    staged.seconds,
                    staged.status,
                    staged.status_reason,
                    wh.relative(staged.data_path),
                ],
            )
            findings = staged.findings.with_columns(pl.lit(staged.file_id).alias("file_id"))
            con.register("staged_findings", findings)
            con.execute(
                'INSERT INTO findings SELECT file_id, rule, severity, row_no, "column", value, '
                "message FROM staged_findings"
            )
            con.unregister("staged_findings")
            if counts:
                con.executemany(
                    "INSERT INTO finding_counts VALUES (?, ?, ?, ?)",
                    [[staged.file_id, rule, sev, n] for rule, (sev, n) in counts.items()],
                )
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
    with writer(wh) as con:
        con.execute(
            "INSERT INTO ingest_log VALUES (current_timestamp, ?, ?, ?, ?, ?, ?, ?)",
            [facility_id, source, sha256, outcome, message, file_id, seconds],
        )
