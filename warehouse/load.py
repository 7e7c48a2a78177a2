"""Loading one ingested file into the catalog: atomic, idempotent, history kept."""

from __future__ import annotations

import datetime as dt

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


def load_staged(wh: Warehouse, staged: StagedFile) -> None:
    """Make a staged file visible: one transaction, so a failure leaves nothing of it."""
    counts = staged.finding_counts
    errors = sum(n for sev, n in counts.values() if sev == "error")
    alerts = sum(n for sev, n in counts.values() if sev == "alert")
    with writer(wh) as con:
        con.execute("BEGIN")
        try:
            _upsert_facility(con, staged.facility_id, staged.meta)
            # Re-loading the same file_id replaces its catalog rows (idempotent).
            for table in ("files", "findings", "finding_counts"):
                con.execute(f"DELETE FROM {table} WHERE file_id = ?", [staged.file_id])
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
                    dt.datetime.now(dt.UTC).replace(tzinfo=None),
                    staged.row_count,
                    staged.item_count,
                    sum(n for _, n in counts.values()),
                    errors,
                    alerts,
                    staged.seconds,
                    staged.status,
                    staged.status_reason,
                    staged.data_path,
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
